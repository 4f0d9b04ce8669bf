"""Figure 8: long recordings with one plain transcript (5, 15, 30 and 60 minutes).

Each recording is one espeak-ng voice reading connected sentences for the whole length
(bench/speech.py ``long_speech``), with one transcript of every word. It is prepared by the
upload processing and aligned by ``run-task`` as a child process, as a Job does
(bench/engine.py ``run_task``). Printed for each: the Job's wall time, RTF (engine seconds /
audio seconds) and the sampled peak RSS of the whole process tree (runner + engine, every
50 ms), which is what a Job's memory limit must cover; ``ru_maxrss`` is in the context, but
it counts the bench process too (see ``_make_reading``). One more row has the 30-minute
reading with white noise at 10 dB SNR, which the engine aligns on a denoised copy
(engines/denoise.py). And for each, the word edges' accuracy against espeak-ng's own times,
as bench/accuracy.py measures it: a long recording goes in chunks cut at pauses, and a seam
must not cost accuracy. The quick mode aligns one 70 s recording (chunked, as the long ones
are) under the 5 min label.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.accuracy import score_result
from bench.engine import job_context, rtf_figure, run_task
from bench.env import BenchEnv
from bench.recordings import Recording, wav_seconds
from bench.report import Figure
from bench.speech import Timed

REPO_ROOT = Path(__file__).resolve().parents[1]

TARGET_PEAK_MIB = 500  # for the 60 min recording (issue 12)
MINUTES = (5, 15, 30, 60)


NOISY = (30, 10.0)  # minutes, SNR (dB)


def run(env: BenchEnv) -> Iterator[Figure]:
    sizes: list[tuple[int, float, float | None]] = [(5, 70.0, None)]
    if not env.quick:
        sizes = [(m, m * 60.0, None) for m in MINUTES] + [(NOISY[0], NOISY[0] * 60.0, NOISY[1])]
    for minutes, seconds, snr_db in sizes:
        label = f"{minutes}min" + (f"_noise{snr_db:g}db" if snr_db is not None else "")
        folder = env.folder(f"scale-{label}")
        recording = _make_reading(folder, seconds, minutes, snr_db)
        job = run_task(env, recording, f"scale-{label}-run")
        context = {**job_context(job, recording), "words": len(recording.transcript.split())}
        yield rtf_figure(f"scale_rtf_{label}", job, recording, context)
        peak = job.tree_peak_kib / 1024
        yield Figure(
            name=f"scale_job_tree_peak_rss_{label}",
            value=peak,
            unit="MiB",
            target=f"< {TARGET_PEAK_MIB} MiB" if minutes == 60 else None,
            target_met=peak < TARGET_PEAK_MIB if minutes == 60 and not env.quick else None,
            context={**context, "maxrss_mib": job.maxrss_kib / 1024},
        )
        truth = [Timed.from_dict(word) for word in json.loads(_truth(folder).read_text("utf-8"))]
        summary = score_result(truth, job.result_zip).summary("word")
        yield Figure(
            name=f"scale_word_within_20ms_{label}",
            value=100 * summary["within_20ms"],
            unit="%",
            context={
                "boundaries": 2 * len(truth),
                **{k: round(100 * v, 1) if "within" in k else v for k, v in summary.items()},
            },
        )


def _make_reading(
    folder: Path, seconds: float, seed: int, snr_db: float | None = None
) -> Recording:
    """The recording and its transcript, made in a child process so that this one stays
    small: Linux starts a spawned child's ``ru_maxrss`` from its parent's RSS at exec, so the
    Job's ``maxrss_mib`` shows at least this process's size. The figure is therefore the
    sampled peak of the Job's process tree."""
    wav, text = folder / "reading.wav", folder / "reading.txt"
    code = (
        "import json; from dataclasses import asdict; from pathlib import Path\n"
        "from bench.speech import long_speech, with_noise, write_wav\n"
        f"s = long_speech({seconds!r}, seed={seed!r})\n"
        + (f"s = with_noise(s, {snr_db!r}, seed={seed!r})\n" if snr_db is not None else "")
        + f"write_wav(s, Path({str(wav)!r}))\n"
        f"Path({str(text)!r}).write_text(' '.join(w.label for w in s.words), 'utf-8')\n"
        f"Path({str(_truth(folder))!r}).write_text(json.dumps([asdict(w) for w in s.words]))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=1800)
    transcript = text.read_text("utf-8")
    return Recording(wav, transcript, wav_seconds(wav))


def _truth(folder: Path) -> Path:
    """The reading's words with espeak-ng's own times (JSON)."""
    return folder / "reading.truth.json"
