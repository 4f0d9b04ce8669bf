"""Deterministic versions of two situations the SIGKILL tests reach by chance (the controller
with a stand-in launcher, on SQLite): a task whose earlier Job finished but was never
recorded, and a Job killed after it wrote its result. In both the alignment is done and the
recordings may already be deleted, so running it again could only fail."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autophon_align.controller import Controller
from autophon_align.launchers.base import JobPhase, JobSpec, JobStatus
from autophon_core.models import Stage, TaskStatus, new_task_id
from autophon_core.queue import FileFigures, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.taskfiles import Manifest, ManifestFile, ResultFile, RunResult
from autophon_core.testing import make_settings

from . import support

pytestmark = pytest.mark.reliability

RESULT = RunResult(
    status="completed",
    engine="pocketsphinx",
    files=[ResultFile(name="fox.wav", duration_s=3.4, words=9, missing_words=0, tiers=["text"])],
)


class StandInLauncher:
    """Jobs that end as ``finish(spec)`` says, at once; records every launch."""

    def __init__(self, finish: Callable[[JobSpec], JobStatus]) -> None:
        self.finish = finish
        self.launched: list[str] = []
        self.jobs: dict[str, JobStatus] = {}

    def launch(self, spec: JobSpec) -> None:
        if spec.task_id not in self.jobs:
            self.launched.append(spec.task_id)
            self.jobs[spec.task_id] = self.finish(spec)

    def status(self, task_id: str) -> JobStatus | None:
        return self.jobs.get(task_id)

    def list_jobs(self) -> dict[str, JobStatus]:
        return dict(self.jobs)

    def delete(self, task_id: str) -> None:
        self.jobs.pop(task_id, None)

    def logs(self, task_id: str, lines: int) -> str:
        return ""

    def watch(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        stop.wait()


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = make_settings(
        sqlite_url,
        tmp_path,
        queue={"lease_seconds": 3, "poll_interval_seconds": 0.1, "max_attempts": 3},
        controller={"retry_backoff_seconds": 0, "resync_seconds": 0.5},
    )
    runtime = Runtime.create(settings)
    yield runtime
    runtime.close()


def uploaded_task(runtime: Runtime) -> str:
    """A task as the upload worker leaves it: 'uploaded', with its manifest."""
    task_id = new_task_id()
    runtime.storage.create_task_dir(task_id)
    runtime.queue.create(
        task_id=task_id, language="eng", engine="pocketsphinx", file_names=[], size_bytes=0
    )
    assert runtime.queue.claim(Stage.UPLOAD, "w") is not None
    Manifest(
        task_id=task_id,
        language="eng",
        engine="pocketsphinx",
        files=[
            ManifestFile(stem="fox", name="fox.wav", transcript="fox.txt", duration_s=3.4,
                         words=9, missing_words=0, tiers=["text"], plain=True)
        ],
        missing_words=[],
    ).save(runtime.storage.task(task_id))  # fmt: skip
    figures = TaskFigures(
        duration_s=3.4, words=9, missing_words=0, files=[FileFigures(name="fox.wav")]
    )
    assert runtime.queue.mark_uploaded(task_id, "w", figures)
    return task_id


def write_result(runtime: Runtime, task_id: str) -> None:
    """What a runner leaves when it finished: result.zip, then result.json."""
    paths = runtime.storage.task(task_id)
    paths.result_zip.write_bytes(support.zip_bytes({"fox.TextGrid": b"grid"}))
    RESULT.save(paths)


def run_until_final(runtime: Runtime, launcher: StandInLauncher, task_id: str) -> str:
    controller = Controller(runtime, launcher)  # type: ignore[arg-type]
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,))
    thread.start()
    try:
        support.wait_for(
            lambda: (
                (task := runtime.queue.get(task_id)) is not None and TaskStatus(task.status).final
            ),
            30,
            "the task to finish",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
    task = runtime.queue.get(task_id)
    assert task is not None
    return str(task.status)


def test_an_unrecorded_finished_attempt_is_recorded_not_run_again(runtime: Runtime) -> None:
    task_id = uploaded_task(runtime)
    # Its Job finished (and deleted the recordings); the controller died before recording it.
    write_result(runtime, task_id)
    launcher = StandInLauncher(lambda spec: JobStatus(spec.task_id, JobPhase.FAILED))
    assert run_until_final(runtime, launcher, task_id) == TaskStatus.COMPLETED
    assert launcher.launched == []
    task = runtime.queue.get(task_id)
    assert task is not None and task.words == 9 and task.attempts == 1


def test_a_job_killed_after_writing_its_result_completes_the_task(runtime: Runtime) -> None:
    task_id = uploaded_task(runtime)

    def killed_at_the_end(spec: JobSpec) -> JobStatus:
        write_result(runtime, spec.task_id)
        return JobStatus(spec.task_id, JobPhase.FAILED, reason="Killed", retryable=True)

    launcher = StandInLauncher(killed_at_the_end)
    assert run_until_final(runtime, launcher, task_id) == TaskStatus.COMPLETED
    assert launcher.launched == [task_id]  # not run again
    events = [e.status for e in runtime.queue.events(task_id)]
    assert events == ["uploading", "uploaded", "processing", "completed"]


def test_a_result_json_without_result_zip_is_not_taken_for_a_finished_run(
    runtime: Runtime,
) -> None:
    """Only result.zip and then result.json make a finished run: a lone result.json (an
    earlier attempt cut short) is cleared and the task runs."""
    task_id = uploaded_task(runtime)
    RESULT.save(runtime.storage.task(task_id))

    def succeeds(spec: JobSpec) -> JobStatus:
        write_result(runtime, spec.task_id)
        return JobStatus(spec.task_id, JobPhase.SUCCEEDED, exit_code=0)

    launcher = StandInLauncher(succeeds)
    assert run_until_final(runtime, launcher, task_id) == TaskStatus.COMPLETED
    assert launcher.launched == [task_id]
