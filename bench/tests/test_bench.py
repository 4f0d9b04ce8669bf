"""``python -m bench --quick`` produces every figure, each with a numeric value and a unit.

Timing targets are not checked here (the machine running the tests may be busy); the sizes
are tiny, so this only proves that every benchmark still runs against the current code."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    *(
        f"pickup_{stat}_{system}"
        for stat in ("p50", "p99", "max")
        for system in ("upload_pg", "align_pg", "upload_sqlite", "original_poller_pg")
    ),
    "idle_qps_upload_worker",
    "idle_qps_controller",
    "idle_qps_original_poller",
    *(f"claim_throughput_{n}w" for n in (1, 2, 4, 8)),
    "e2e_seconds_fox",
    "e2e_overhead_pct_fox",
    "e2e_seconds_long",
    "e2e_overhead_pct_long",
    "engine_rtf_short",
    "engine_rtf_long",
    "job_peak_rss_short",
    "job_peak_rss_long",
    *(
        f"rss_{when}_{process}"
        for when in ("idle", "burst")
        for process in ("api", "upload_worker", "controller")
    ),
    "upload_peak_rss_delta",
    "upload_throughput",
    *(
        f"view_{what}_{length}"
        for what in ("write_seconds", "size")
        for length in ("minute", "hour")
    ),
    *(
        f"{kind}_within_20ms_clean_en_us_{system}"
        for kind in ("word", "phone")
        for system in ("autophon", "plain")
    ),
    "scale_rtf_5min",
    "scale_job_tree_peak_rss_5min",
    "scale_word_within_20ms_5min",
}


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_run_produces_every_figure() -> None:
    # The time limit only guards against a hang: the quick run takes 60-100 s on 2 cores, more
    # when the machine is busy.
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=REPO_ROOT,
        env={**os.environ, "BENCH_QUICK": "1"},
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    figures = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            figure = json.loads(line)
            figures[figure["name"]] = figure
    assert set(figures) == EXPECTED, done.stderr[-4000:]
    for name, figure in figures.items():
        value = figure["value"]
        assert isinstance(value, int | float) and math.isfinite(value), name
        assert isinstance(figure["unit"], str) and figure["unit"], name
        assert {"baseline", "ratio"} <= set(figure), name
        if figure["baseline"] is not None and figure["baseline"] != 0:
            assert figure["ratio"] == pytest.approx(value / figure["baseline"], rel=1e-3), name
    # The table for people follows the JSON lines.
    assert "figure" in done.stdout and "baseline" in done.stdout
