"""Figure 4: end to end on one machine, from ``POST /api/v1/tasks`` to the task completed.

Runs ``autophon local`` (API, upload worker and controller with the local launcher, in one
process tree on SQLite, what ``make run`` starts) as a child process, uploads fox.wav +
fox.txt and a long recording made from it, and follows each task's event stream. The
orchestration overhead is the end-to-end time minus the engine's own time
(``engine_seconds`` in the task's ``result.json``): uploading, converting, queueing, starting
the Job's processes, writing the result and recording it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from datetime import datetime

import httpx

from autophon_core.storage import Storage
from autophon_core.taskfiles import RunResult
from bench.env import BenchEnv, bench_settings, write_config
from bench.http_client import Followed, follow, upload
from bench.processes import Service, autophon_argv, free_port
from bench.recordings import Recording, make_recording
from bench.report import Figure

TARGET_OVERHEAD_PCT = 5.0


def _stage_seconds(followed: Followed) -> dict[str, float]:
    """Seconds between the status changes, from the events' own timestamps."""
    at = {status: datetime.fromisoformat(stamp) for status, _, stamp in followed.events}
    spans = {
        "upload_stage_s": ("uploading", "uploaded"),
        "align_wait_s": ("uploaded", "processing"),
        "job_s": ("processing", "completed"),
    }
    return {
        name: (at[end] - at[start]).total_seconds()
        for name, (start, end) in spans.items()
        if start in at and end in at
    }


def _one(
    client: httpx.Client, base: str, storage: Storage, recording: Recording, stem: str
) -> dict[str, float]:
    started = time.monotonic()
    task_id = upload(client, base, recording.wav, recording.transcript, stem)
    posted = time.monotonic()
    followed = follow(client, base, task_id)
    finished = followed.events[-1][1]
    if followed.status != "completed":
        raise RuntimeError(f"task {task_id} ended {followed.status}: {followed.task}")
    result = RunResult.load(storage.task(task_id))
    runner = 0.0
    if result.started_at and result.finished_at:
        runner = (result.finished_at - result.started_at).total_seconds()
    total = finished - started
    return {
        "e2e_s": total,
        "engine_s": result.engine_seconds,
        "overhead_s": total - result.engine_seconds,
        "post_s": posted - started,
        "runner_s": runner,
        **_stage_seconds(followed),
    }


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median end-to-end time (its own breakdown kept whole)."""
    ordered = sorted(runs, key=lambda r: r["e2e_s"])
    return ordered[(len(ordered) - 1) // 2]


def run(env: BenchEnv) -> Iterator[Figure]:
    root = env.folder("e2e")
    port = free_port()
    settings = bench_settings(f"sqlite:///{root / 'autophon.db'}", root, api={"port": port})
    config = write_config(settings, root / "autophon.yaml")
    storage = Storage(settings.storage.root)
    fox = Recording(
        env.samples / "fox.wav",
        (env.samples / "fox.txt").read_text("utf-8").strip(),
        0.0,
    )
    long = make_recording(env.samples, env.folder("recordings"), env.pick(60.0, 7.0), "e2e-long")
    service = Service("local", autophon_argv(config, "local", "--port", str(port)), root / "log")
    base = f"http://127.0.0.1:{port}"
    try:
        service.wait_for_http(f"{base}/healthz")
        with httpx.Client() as client:
            cases = (
                ("fox", fox, env.pick(3, 1)),
                ("long", long, env.pick(3, 1)),
            )
            for label, recording, repeats in cases:
                runs = [_one(client, base, storage, recording, label) for _ in range(repeats)]
                chosen = _median_run(runs)
                share = chosen["overhead_s"] / chosen["e2e_s"] * 100
                context = {
                    "runs": repeats,
                    "db": "sqlite",
                    "launcher": "local",
                    "audio_s": recording.seconds or None,
                    "e2e_all_s": [round(r["e2e_s"], 3) for r in runs],
                    "e2e_spread_s": statistics.pstdev([r["e2e_s"] for r in runs]),
                    **chosen,
                }
                is_long = label == "long"
                yield Figure(
                    name=f"e2e_seconds_{label}", value=chosen["e2e_s"], unit="s", context=context
                )
                yield Figure(
                    name=f"e2e_overhead_pct_{label}",
                    value=share,
                    unit="%",
                    target=f"< {TARGET_OVERHEAD_PCT:g} %" if is_long else None,
                    target_met=share < TARGET_OVERHEAD_PCT if is_long else None,
                    context=context,
                )
    finally:
        service.stop()
