"""Figure 5: the built-in engine's real-time factor and the memory of an alignment Job.

Each recording is prepared by the upload worker's own processing (``prepare_task``), then
aligned by ``python -m autophon_cli --config FILE run-task ID`` as a child process, exactly
what a Job runs. RTF = the engine's seconds (``result.json``) / audio seconds. Peak memory is
``ru_maxrss`` from ``os.wait4`` (the largest of the runner and the engine process it waited
for), with the sampled peak of the whole process tree beside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autophon_core.models import new_task_id
from autophon_core.storage import Storage
from autophon_core.taskfiles import RunResult
from autophon_upload.processing import prepare_task
from bench.env import BenchEnv, bench_settings, write_config
from bench.processes import RssSampler, autophon_argv
from bench.recordings import Recording, make_recording
from bench.report import Figure

TARGET_RTF = 0.2


@dataclass(frozen=True)
class JobRun:
    seconds: float  # wall time of the run-task process
    maxrss_kib: int  # ru_maxrss from wait4
    tree_peak_kib: int  # sampled sum of the process tree
    result: RunResult
    result_zip: Path


def run_task(env: BenchEnv, recording: Recording, folder_name: str) -> JobRun:
    root = env.folder(folder_name)
    settings = bench_settings(
        f"sqlite:///{root / 'unused.db'}",  # run-task never opens the database
        root,
        storage={"delete_audio_after_alignment": False},
        logging={"level": "WARNING"},
    )
    config = write_config(settings, root / "autophon.yaml")
    storage = Storage(settings.storage.root)
    task_id = new_task_id()
    paths = storage.create_task_dir(task_id)
    shutil.copyfile(recording.wav, paths.upload_dir / "speech.wav")
    (paths.upload_dir / "speech.txt").write_text(recording.transcript + "\n", "utf-8")
    prepare_task(paths, task_id, settings.language("eng"), "pocketsphinx", settings)
    started = time.monotonic()
    process = subprocess.Popen(
        autophon_argv(config, "run-task", task_id),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with RssSampler({"job": process.pid}, tree=True) as sampler:
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    result = RunResult.load(paths)
    if process.returncode != 0 or result.status != "completed":
        raise RuntimeError(f"run-task failed ({process.returncode}): {result.error}")
    return JobRun(elapsed, usage.ru_maxrss, sampler.peak_kib["job"], result, paths.result_zip)


def job_context(job: JobRun, recording: Recording) -> dict[str, Any]:
    return {
        "audio_s": recording.seconds,
        "engine_s": job.result.engine_seconds,
        "job_wall_s": job.seconds,
        "engine": f"{job.result.engine} {job.result.engine_version}",
    }


def rtf_figure(name: str, job: JobRun, recording: Recording, context: dict[str, Any]) -> Figure:
    """The real-time factor: the engine's seconds (result.json) / the audio's seconds."""
    rtf = job.result.engine_seconds / recording.seconds
    return Figure(
        name=name,
        value=rtf,
        unit="x realtime",
        target=f"< {TARGET_RTF:g}",
        target_met=rtf < TARGET_RTF,
        context=context,
    )


def run(env: BenchEnv) -> Iterator[Figure]:
    folder = env.folder("recordings")
    for label, seconds in (("short", env.pick(10.0, 3.5)), ("long", env.pick(60.0, 7.0))):
        recording = make_recording(env.samples, folder, seconds, f"engine-{label}")
        job = run_task(env, recording, f"engine-{label}")
        context = job_context(job, recording)
        yield rtf_figure(f"engine_rtf_{label}", job, recording, context)
        yield Figure(
            name=f"job_peak_rss_{label}",
            value=job.maxrss_kib / 1024,
            unit="MiB",
            context={**context, "tree_peak_mib": job.tree_peak_kib / 1024},
        )
