"""Figure 8: long recordings with one plain transcript (5, 15, 30 and 60 minutes).

Each recording is one espeak-ng voice reading connected sentences for the whole length
(bench/speech.py ``long_speech``), with one transcript of every word. It is prepared by the
upload processing and aligned by ``run-task`` as a child process, as a Job does
(bench/engine.py ``run_task``). Printed for each: the Job's wall time, RTF (engine seconds /
audio seconds) and the sampled peak RSS of the whole process tree (runner + engine, every
50 ms), which is what a Job's memory limit must cover; ``ru_maxrss`` is in the context, but
it counts the bench process too (see ``_make_reading``). The
quick mode aligns one 70 s recording (chunked, as the long ones are) under the 5 min label.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from bench.engine import job_context, rtf_figure, run_task
from bench.env import BenchEnv
from bench.recordings import Recording, wav_seconds
from bench.report import Figure

REPO_ROOT = Path(__file__).resolve().parents[1]

TARGET_PEAK_MIB = 500  # for the 60 min recording (issue 12)
MINUTES = (5, 15, 30, 60)


def run(env: BenchEnv) -> Iterator[Figure]:
    sizes = [(5, 70.0)] if env.quick else [(m, m * 60.0) for m in MINUTES]
    for minutes, seconds in sizes:
        recording = _make_reading(env.folder(f"scale-{minutes}min"), seconds, seed=minutes)
        job = run_task(env, recording, f"scale-{minutes}min-run")
        context = {**job_context(job, recording), "words": len(recording.transcript.split())}
        yield rtf_figure(f"scale_rtf_{minutes}min", job, recording, context)
        peak = job.tree_peak_kib / 1024
        yield Figure(
            name=f"scale_job_tree_peak_rss_{minutes}min",
            value=peak,
            unit="MiB",
            target=f"< {TARGET_PEAK_MIB} MiB" if minutes == 60 else None,
            target_met=peak < TARGET_PEAK_MIB if minutes == 60 and not env.quick else None,
            context={**context, "maxrss_mib": job.maxrss_kib / 1024},
        )


def _make_reading(folder: Path, seconds: float, seed: int) -> Recording:
    """The recording and its transcript, made in a child process so that this one stays
    small: Linux starts a spawned child's ``ru_maxrss`` from its parent's RSS at exec, so the
    Job's ``maxrss_mib`` shows at least this process's size. The figure is therefore the
    sampled peak of the Job's process tree."""
    wav, text = folder / "reading.wav", folder / "reading.txt"
    code = (
        "import sys; from pathlib import Path; from bench.speech import long_speech, write_wav\n"
        f"s = long_speech({seconds!r}, seed={seed!r})\n"
        f"write_wav(s, Path({str(wav)!r}))\n"
        f"Path({str(text)!r}).write_text(' '.join(w.label for w in s.words), 'utf-8')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=1800)
    transcript = text.read_text("utf-8")
    return Recording(wav, transcript, wav_seconds(wav))
