"""The controller's logic over an in-memory launcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fake_launcher import (
    FakeLauncher,
    controller_settings,
    failures,
    prepare_task,
    running,
    status_of,
    task,
    wait_until,
    write_result,
)
from sqlalchemy import update

from autophon_align.controller import Controller
from autophon_align.launchers.base import JobStatus
from autophon_align.reconcile import MANIFEST_ERROR
from autophon_core.config import Settings
from autophon_core.models import Stage, Task, TaskStatus, utcnow
from autophon_core.runtime import Runtime


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return controller_settings(db_url, tmp_path)


@pytest.fixture
def fake() -> FakeLauncher:
    return FakeLauncher()


@pytest.fixture
def controller(runtime: Runtime, fake: FakeLauncher) -> Controller:
    return Controller(runtime, fake)


@pytest.fixture
def other_runtime(settings: Settings) -> Iterator[Runtime]:
    """A second process's view of the same database (its own engine and notifier)."""
    rt = Runtime.create(settings)
    yield rt
    rt.close()


def test_happy_path_completes_with_the_runners_figures(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime, duration_s=2.5)
    with running(controller):
        wait_until(lambda: fake.status(task_id), what="Job launched")
        assert status_of(runtime, task_id) == TaskStatus.PROCESSING
        # timeout = base + per_audio_second * audio seconds
        assert fake.specs[task_id].timeout_seconds == 70
        assert fake.specs[task_id].engine == "pocketsphinx"
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
        wait_until(lambda: task_id in fake.deleted, what="finished Job deleted")
    done = task(runtime, task_id)
    assert done.error is None and done.lease_owner is None
    assert done.words == 9 and done.missing_words == 1 and done.duration_s == 2.5
    assert [(f.name, f.tiers) for f in done.files] == [("fox.wav", ["words"])]
    assert fake.creations() == {task_id: 1}
    assert controller.stats.succeeded == 1


def test_bad_input_fails_once_with_the_runners_error_and_the_log_tail(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    before = failures("bad_input")
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        fake.log_text[task_id] = "starting\nreading fox.wav\naligning\ntranscript is empty\n"
        write_result(
            runtime,
            task_id,
            status="failed",
            error="The transcript fox.txt is empty.",
            exit_code=65,
        )
        fake.fail(task_id, "BadInput", exit_code=65, message="exit 65")
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
        wait_until(lambda: task_id in fake.deleted)
    failed = task(runtime, task_id)
    assert failed.error == "The transcript fox.txt is empty."
    assert failed.error_log == "reading fox.wav\naligning\ntranscript is empty"
    assert failed.attempts == 1
    assert fake.creations() == {task_id: 1}
    assert failures("bad_input") == before + 1


def test_failed_job_without_result_gets_a_sentence_from_the_job_status(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        fake.fail(task_id, "DeadlineExceeded", message="stopped after its time limit of 70 s")
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    error = task(runtime, task_id).error or ""
    assert "time limit" in error and "70 s" in error
    assert fake.creations() == {task_id: 1}


def test_success_without_a_result_is_not_marked_completed(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        fake.succeed(task_id)  # exit 0, but no result.json
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    assert "no usable result" in (task(runtime, task_id).error or "")


def test_a_stale_result_of_an_earlier_attempt_is_not_taken_for_the_new_jobs(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    write_result(runtime, task_id)  # left over from an earlier, interrupted attempt
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)


def test_evicted_job_is_retried_then_completes(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        fake.fail(task_id, "Evicted", retryable=True, message="node under memory pressure")
        wait_until(lambda: fake.creations()[task_id] == 2, what="second Job")
        assert status_of(runtime, task_id) == TaskStatus.PROCESSING
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert task(runtime, task_id).attempts == 2
    messages = [e.message for e in runtime.queue.events(task_id)]
    assert any(m and m.startswith("retrying: Evicted") for m in messages)


def test_retries_stop_at_the_attempt_limit_with_a_clear_error(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        for attempt in (1, 2, 3):
            wait_until(lambda: task_id in fake.running(), what=f"Job of attempt {attempt}")
            assert fake.creations()[task_id] == attempt
            fake.fail(task_id, "Killed", retryable=True, message="killed by SIGKILL")
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    failed = task(runtime, task_id)
    assert failed.error is not None and "interrupted 3 times" in failed.error
    assert "Killed" in failed.error
    assert fake.creations()[task_id] == 3


def test_a_repeated_internal_error_ends_with_the_runners_own_sentence(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    error = "The aligner's model files are missing; the administrator has to reinstall them."
    with running(controller):
        for attempt in (1, 2, 3):
            wait_until(lambda: task_id in fake.running(), what=f"Job of attempt {attempt}")
            write_result(runtime, task_id, status="failed", error=error, exit_code=70)
            fake.fail(task_id, "Error", retryable=True, exit_code=70)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    assert task(runtime, task_id).error == error
    assert fake.creations()[task_id] == 3


def test_job_deleted_behind_the_controllers_back_is_launched_again(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        fake.vanish(task_id)
        wait_until(lambda: fake.creations()[task_id] == 2, what="Job launched again")
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert task(runtime, task_id).attempts == 1  # not a new attempt


def test_job_removed_after_finishing_is_recorded_from_its_result(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    """ttlSecondsAfterFinished may remove a Job before its outcome is recorded."""
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        write_result(runtime, task_id)
        fake.vanish(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert fake.creations() == {task_id: 1}


def test_task_without_a_manifest_fails_without_a_job(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    runtime.storage.task(task_id).manifest.unlink()
    with running(controller):
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    failed = task(runtime, task_id)
    assert failed.error == MANIFEST_ERROR
    assert failed.error_log is not None and "manifest.json" in failed.error_log
    assert fake.launch_calls == []


def test_cancelling_a_task_deletes_its_job(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        assert runtime.queue.cancel(task_id) == TaskStatus.PROCESSING
        wait_until(lambda: task_id in fake.deleted, what="Job deleted")
        assert fake.status(task_id) is None
        wait_until(lambda: task_id not in controller.held.ids())
    assert status_of(runtime, task_id) == TaskStatus.CANCELLED


def test_a_task_reclaimed_by_another_controller_keeps_its_job(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    """This controller stalled and lost the lease: the new holder adopts the Job."""
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
        with runtime.engine.begin() as connection:
            connection.execute(
                update(Task).where(Task.id == task_id).values(lease_owner="controller@elsewhere")
            )
        wait_until(lambda: task_id not in controller.held.ids(), what="lease loss noticed")
        assert fake.deleted == []
    assert fake.status(task_id) is not None


def test_launch_errors_are_retried(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    fake.fail_launches = 2
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id), what="launch succeeded in the end")
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert len(fake.launch_calls) >= 3 and fake.creations() == {task_id: 1}


def test_sync_errors_are_retried_with_back_off(
    runtime: Runtime, fake: FakeLauncher, controller: Controller, monkeypatch: pytest.MonkeyPatch
) -> None:
    task_id = prepare_task(runtime)
    real_status = fake.status
    errors = {"left": 3}

    def flaky_status(tid: str) -> JobStatus | None:
        job = real_status(tid)
        if job is not None and job.finished and errors["left"] > 0:
            errors["left"] -= 1
            raise ConnectionError("API server hiccup (injected)")
        return job

    monkeypatch.setattr(fake, "status", flaky_status)
    with running(controller):
        wait_until(lambda: real_status(task_id))
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert errors["left"] == 0


def test_a_task_whose_job_can_never_be_managed_fails_in_the_end(
    runtime: Runtime, fake: FakeLauncher
) -> None:
    controller = Controller(runtime, fake, sync_retry_limit=2)
    fake.fail_launches = 10_000
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED, timeout=30)
    failed = task(runtime, task_id)
    assert failed.error is not None and "interrupted 3 times" in failed.error
    assert "could not manage its Job" in failed.error


def test_graceful_shutdown_hands_tasks_back_and_keeps_their_jobs(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    ids = [prepare_task(runtime) for _ in range(2)]
    with running(controller):
        wait_until(lambda: all(fake.status(t) for t in ids))
    for task_id in ids:
        released = task(runtime, task_id)
        assert released.status == TaskStatus.PROCESSING
        assert released.lease_owner is None and released.attempts == 0
    assert fake.deleted == [] and sorted(fake.running()) == sorted(ids)


def test_a_restarted_controller_adopts_the_running_job(
    runtime: Runtime, other_runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: fake.status(task_id))
    assert task(runtime, task_id).lease_owner is None  # handed back, Job kept
    successor = Controller(other_runtime, fake)
    with running(successor):
        wait_until(lambda: task(runtime, task_id).lease_owner == successor.worker_id)
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert fake.creations() == {task_id: 1}
    assert fake.launch_calls == [task_id, task_id]  # the second one adopted


def test_a_crashed_controllers_job_is_adopted_when_its_lease_expires(
    runtime: Runtime, fake: FakeLauncher, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    # A controller claimed the task, launched its Job and died without handing it back.
    assert runtime.queue.claim(Stage.ALIGN, "controller@dead") is not None
    fake.add_job(task_id)
    with running(controller):
        wait_until(lambda: task(runtime, task_id).lease_owner == controller.worker_id)
        write_result(runtime, task_id)
        fake.succeed(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert fake.created == []  # adopted, never created again
    assert task(runtime, task_id).attempts == 2


def test_two_controllers_on_one_database_run_each_task_once(
    runtime: Runtime, other_runtime: Runtime, fake: FakeLauncher
) -> None:
    ids = [prepare_task(runtime) for _ in range(30)]

    def run_job(spec_task_id: str) -> None:
        write_result(runtime, spec_task_id)
        fake.succeed(spec_task_id)

    fake.on_create = lambda spec: threading.Timer(0.02, run_job, args=(spec.task_id,)).start()
    first, second = Controller(runtime, fake), Controller(other_runtime, fake)
    with running(first), running(second):
        wait_until(
            lambda: all(status_of(runtime, t) == TaskStatus.COMPLETED for t in ids),
            timeout=60,
            what="all tasks completed",
        )
    assert fake.creations() == dict.fromkeys(ids, 1)
    assert sorted(fake.launch_calls) == sorted(ids)  # no task was even launched twice
    assert all(task(runtime, t).attempts == 1 for t in ids)
    assert first.stats.succeeded + second.stats.succeeded == 30


def test_max_concurrent_jobs_counts_jobs_that_already_exist(
    db_url: str, tmp_path: Path, fake: FakeLauncher
) -> None:
    settings = controller_settings(
        db_url, tmp_path, controller={"max_concurrent_jobs": 2}, queue={"lease_seconds": 60}
    )
    runtime = Runtime.create(settings)
    try:
        # Another controller's task and Job, running all along.
        foreign = prepare_task(runtime)
        assert runtime.queue.claim(Stage.ALIGN, "controller@elsewhere") is not None
        fake.add_job(foreign)
        ids = [prepare_task(runtime) for _ in range(5)]
        controller = Controller(runtime, fake)
        with running(controller):
            for _ in ids:
                ours = wait_until(lambda: [t for t in fake.running() if t != foreign])
                assert len(ours) == 1
                write_result(runtime, ours[0])
                fake.succeed(ours[0])
            wait_until(lambda: all(status_of(runtime, t) == TaskStatus.COMPLETED for t in ids))
        assert fake.peak == 2
        assert status_of(runtime, foreign) == TaskStatus.PROCESSING
    finally:
        runtime.close()


def test_exhausted_tasks_are_reaped_and_their_jobs_deleted(
    db_url: str, tmp_path: Path, fake: FakeLauncher
) -> None:
    settings = controller_settings(
        db_url, tmp_path, queue={"max_attempts": 1, "reap_interval_seconds": 0.2}
    )
    runtime = Runtime.create(settings)
    try:
        task_id = prepare_task(runtime)
        assert runtime.queue.claim(Stage.ALIGN, "controller@dead") is not None
        fake.add_job(task_id)
        with runtime.engine.begin() as connection:
            connection.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            )
        with running(Controller(runtime, fake)):
            wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
            wait_until(lambda: task_id in fake.deleted)
        assert "stopped unexpectedly" in (task(runtime, task_id).error or "")
    finally:
        runtime.close()
