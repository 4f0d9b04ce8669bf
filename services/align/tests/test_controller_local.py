"""The controller with the real local launcher (child processes running a stand-in runner,
and once the real one), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_launcher import (
    alive,
    controller_settings,
    failures,
    plan,
    prepare_task,
    running,
    runs_of,
    standin_command,
    started,
    status_of,
    task,
    wait_until,
)
from praatio import textgrid
from test_runner_support import english, to_wav16k

from autophon_align.controller import Controller
from autophon_align.launchers.base import JobSpec
from autophon_align.launchers.local import LocalLauncher
from autophon_core.config import Settings
from autophon_core.models import Stage, TaskStatus
from autophon_core.runtime import Runtime
from autophon_core.taskfiles import ExitCode, RunResult


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return controller_settings(db_url, tmp_path, queue={"max_attempts": 2})


@pytest.fixture
def command(tmp_path: Path) -> list[str]:
    return standin_command(tmp_path)


@pytest.fixture
def launcher(settings: Settings, command: list[str]) -> Iterator[LocalLauncher]:
    launcher = LocalLauncher(settings, command=command, kill_grace_seconds=2)
    yield launcher
    launcher.terminate_all()


@pytest.fixture
def controller(runtime: Runtime, launcher: LocalLauncher) -> Controller:
    return Controller(runtime, launcher)


LONG = {"sleep": 120}


def test_an_uploaded_task_is_aligned_and_completed(
    runtime: Runtime, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED, timeout=30)
    done = task(runtime, task_id)
    assert done.words == 9 and [f.name for f in done.files] == ["fox.wav"]
    assert runs_of(runtime.storage, task_id) == 1


def test_bad_input_fails_with_its_error_and_log_and_is_not_retried(
    runtime: Runtime, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    error = "The transcript fox.txt is empty."
    plan(
        runtime.storage,
        task_id,
        {
            "lines": ["checking fox.txt", "it is empty"],
            "result": "failed",
            "error": error,
            "exit": 65,
        },
    )
    with running(controller):
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED, timeout=30)
    failed = task(runtime, task_id)
    assert failed.error == error
    assert failed.error_log is not None and "it is empty" in failed.error_log
    assert runs_of(runtime.storage, task_id) == 1


def test_a_recording_beyond_the_aligners_limits_fails_once_as_a_resource_failure(
    runtime: Runtime, settings: Settings, samples: Path
) -> None:
    """The real runner, given a language whose engine takes recordings of up to 1 s: it
    refuses the 2.5 s recording before aligning, exits 71, and the controller fails the task
    at its first attempt with the runner's sentence, counted as "resource"."""
    task_id = prepare_task(runtime)
    paths = runtime.storage.task(task_id)
    duration = to_wav16k(samples / "fox.wav", paths.input_audio("fox"))
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    text = (samples / "fox.txt").read_text()
    grid.addTier(textgrid.IntervalTier("words", [(0.0, duration, text)], 0.0, duration))
    grid.save(str(paths.input_textgrid("fox")), format="long_textgrid", includeBlankSpaces=True)
    tiny = english(max_audio_seconds="1")
    # The children read the launcher's settings; the runner is `python -m autophon_cli`.
    launcher = LocalLauncher(settings.model_copy(update={"languages": [tiny]}))
    before = failures("resource"), failures("bad_input")
    try:
        with running(Controller(runtime, launcher)):
            wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED, timeout=60)
    finally:
        launcher.terminate_all()
    failed = task(runtime, task_id)
    assert failed.attempts == 1
    assert failed.error is not None
    assert "takes recordings of up to 1 s" in failed.error
    assert "Split it into shorter files" in failed.error
    result = RunResult.load(paths)
    assert (result.status, result.exit_code) == ("failed", ExitCode.RESOURCE)
    assert (failures("resource"), failures("bad_input")) == (before[0] + 1, before[1])


def test_a_killed_child_is_retried_and_completes(runtime: Runtime, controller: Controller) -> None:
    task_id = prepare_task(runtime)
    plan(runtime.storage, task_id, LONG, {})
    with running(controller):
        pid = wait_until(lambda: started(runtime.storage, task_id), timeout=30)
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED, timeout=30)
    assert runs_of(runtime.storage, task_id) == 2
    assert task(runtime, task_id).attempts == 2


def test_a_child_killed_at_every_attempt_fails_clearly(
    runtime: Runtime, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    plan(runtime.storage, task_id, LONG)
    with running(controller):
        for run in (1, 2):  # max_attempts = 2
            pid = wait_until(lambda r=run: started(runtime.storage, task_id, r), timeout=30)  # type: ignore[misc]
            os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED, timeout=30)
    failed = task(runtime, task_id)
    assert failed.error is not None and "interrupted 2 times" in failed.error
    assert failed.lease_owner is None


def test_a_job_deleted_behind_the_controllers_back_runs_again(
    runtime: Runtime, launcher: LocalLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    plan(runtime.storage, task_id, LONG, {})
    with running(controller):
        pid = wait_until(lambda: started(runtime.storage, task_id), timeout=30)
        launcher.delete(task_id)
        wait_until(lambda: not alive(pid))
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED, timeout=30)
    assert runs_of(runtime.storage, task_id) == 2
    assert task(runtime, task_id).attempts == 1


def test_cancelling_stops_the_child(
    runtime: Runtime, launcher: LocalLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    plan(runtime.storage, task_id, LONG)
    with running(controller):
        pid = wait_until(lambda: started(runtime.storage, task_id), timeout=30)
        runtime.queue.cancel(task_id)
        wait_until(lambda: not alive(pid), what="child stopped")
        wait_until(lambda: launcher.status(task_id) is None)
    assert status_of(runtime, task_id) == TaskStatus.CANCELLED
    assert runs_of(runtime.storage, task_id) == 1


def test_shutdown_stops_local_jobs_and_hands_their_tasks_back(
    runtime: Runtime, settings: Settings, command: list[str], controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    plan(runtime.storage, task_id, LONG, {})
    with running(controller):
        pid = wait_until(lambda: started(runtime.storage, task_id), timeout=30)
    # run() returned within the grace period (checked by running()).
    assert not alive(pid)
    released = task(runtime, task_id)
    assert released.status == TaskStatus.PROCESSING
    assert released.lease_owner is None and released.attempts == 0
    # The next controller runs it again from the start.
    successor_launcher = LocalLauncher(settings, command=command)
    try:
        with running(Controller(runtime, successor_launcher)):
            wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED, timeout=30)
    finally:
        successor_launcher.terminate_all()
    assert runs_of(runtime.storage, task_id) == 2
    assert task(runtime, task_id).attempts == 1


def test_two_controllers_on_one_database_run_each_task_once(
    runtime: Runtime, settings: Settings, command: list[str]
) -> None:
    """Like two controller processes: separate runtimes and separate local launchers."""
    ids = [prepare_task(runtime) for _ in range(30)]
    other = Runtime.create(settings)
    launchers = [LocalLauncher(settings, command=command) for _ in range(2)]
    try:
        first, second = Controller(runtime, launchers[0]), Controller(other, launchers[1])
        with running(first), running(second):
            wait_until(
                lambda: all(status_of(runtime, t) == TaskStatus.COMPLETED for t in ids),
                timeout=120,
                what="all 30 tasks completed",
            )
    finally:
        for launcher in launchers:
            launcher.terminate_all()
        other.close()
    assert {t: runs_of(runtime.storage, t) for t in ids} == dict.fromkeys(ids, 1)
    assert all(task(runtime, t).attempts == 1 for t in ids)


class CountingLauncher(LocalLauncher):
    """Records how many children were running right after each launch (concurrency only
    grows at a launch, so the largest of these is the peak)."""

    peak = 0

    def launch(self, spec: JobSpec) -> None:
        super().launch(spec)
        running_now = sum(not job.finished for job in self.list_jobs().values())
        self.peak = max(self.peak, running_now)


def test_max_concurrent_jobs_is_respected_counting_existing_jobs(
    db_url: str, tmp_path: Path, command: list[str]
) -> None:
    settings = controller_settings(
        db_url, tmp_path, controller={"max_concurrent_jobs": 3}, queue={"lease_seconds": 60}
    )
    runtime = Runtime.create(settings)
    launcher = CountingLauncher(settings, command=command)
    try:
        # A Job that exists before the controller starts, for a task held by someone else.
        foreign = prepare_task(runtime)
        plan(runtime.storage, foreign, LONG)
        assert runtime.queue.claim(Stage.ALIGN, "controller@elsewhere") is not None
        launcher.launch(JobSpec(task_id=foreign, engine="pocketsphinx", timeout_seconds=300))
        ids = [prepare_task(runtime) for _ in range(8)]
        for task_id in ids:
            plan(runtime.storage, task_id, {"sleep": 0.3})
        with running(Controller(runtime, launcher)):
            wait_until(
                lambda: all(status_of(runtime, t) == TaskStatus.COMPLETED for t in ids),
                timeout=60,
            )
        assert launcher.peak == 3  # the foreign Job and at most two of ours
    finally:
        launcher.terminate_all()
        runtime.close()
