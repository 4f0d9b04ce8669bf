"""The local launcher with a stand-in runner: real child processes, no database."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fake_launcher import (
    alive,
    plan,
    runs_of,
    standin_command,
    standin_pid,
    started,
    wait_until,
)

from autophon_align.launchers import ChildProcessJobs, make_launcher
from autophon_align.launchers.base import JobPhase, JobSpec, JobStatus, Launcher
from autophon_align.launchers.local import LocalLauncher, tail
from autophon_core.config import Settings, load_settings
from autophon_core.models import new_task_id
from autophon_core.storage import Storage
from autophon_core.taskfiles import RunResult


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    from autophon_core.testing import make_settings

    # No database is touched: the launcher only needs the storage root.
    return make_settings(f"sqlite:///{tmp_path / 'unused.db'}", tmp_path)


@pytest.fixture
def storage(settings: Settings) -> Storage:
    return Storage(settings.storage.root)


@pytest.fixture
def launcher(settings: Settings, tmp_path: Path) -> Iterator[LocalLauncher]:
    launcher = LocalLauncher(settings, command=standin_command(tmp_path), kill_grace_seconds=2)
    yield launcher
    launcher.terminate_all()


def new_task(storage: Storage) -> str:
    task_id = new_task_id()
    storage.create_task_dir(task_id)
    return task_id


def spec(task_id: str, timeout: int = 120) -> JobSpec:
    return JobSpec(task_id=task_id, engine="pocketsphinx", timeout_seconds=timeout)


def finished(launcher: LocalLauncher, task_id: str) -> JobStatus:
    def done() -> JobStatus | None:
        status = launcher.status(task_id)
        return status if status is not None and status.finished else None

    result: JobStatus = wait_until(done, timeout=30, what=f"Job {task_id} finished")
    return result


def test_it_is_a_launcher_whose_jobs_die_with_the_controller(launcher: LocalLauncher) -> None:
    checked: Launcher = launcher
    assert isinstance(checked, ChildProcessJobs)


def test_make_launcher_chooses_the_local_launcher_by_default(settings: Settings) -> None:
    assert settings.controller.launcher == "local"
    assert isinstance(make_launcher(settings), LocalLauncher)


def test_a_successful_job_leaves_its_result_and_its_log(
    launcher: LocalLauncher, storage: Storage
) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"lines": ["one", "two", "three"]})
    launcher.launch(spec(task_id))
    assert launcher.list_jobs().keys() == {task_id}
    status = finished(launcher, task_id)
    assert status.phase is JobPhase.SUCCEEDED and status.exit_code == 0
    assert RunResult.load(storage.task(task_id)).status == "completed"
    assert launcher.logs(task_id, 2) == "three\nstand-in runner: done"
    assert "one" in storage.task(task_id).job_log.read_text()
    assert launcher.logs(task_id, 0) == ""


def test_children_read_the_given_config_file(
    settings: Settings, storage: Storage, tmp_path: Path
) -> None:
    config = tmp_path / "autophon.yaml"
    config.write_text(yaml.safe_dump({"storage": {"root": str(storage.root)}}))
    launcher = LocalLauncher(settings, str(config), command=standin_command(tmp_path))
    task_id = new_task(storage)
    launcher.launch(spec(task_id))
    assert finished(launcher, task_id).phase is JobPhase.SUCCEEDED


def test_without_a_config_file_the_settings_are_written_for_the_children(
    launcher: LocalLauncher, storage: Storage, settings: Settings
) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"sleep": 60})
    launcher.launch(spec(task_id))
    pid = wait_until(lambda: started(storage, task_id))
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    config = Path(argv[argv.index(b"--config") + 1].decode())
    assert load_settings(config) == settings.model_copy(
        update={"storage": settings.storage.model_copy(update={"root": storage.root})}
    )
    launcher.terminate_all()
    assert not config.exists()  # removed with the launcher's children


def test_a_second_launch_adopts_the_running_job(launcher: LocalLauncher, storage: Storage) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"sleep": 1})
    launcher.launch(spec(task_id))
    wait_until(lambda: started(storage, task_id))
    launcher.launch(spec(task_id))
    finished(launcher, task_id)
    launcher.launch(spec(task_id))  # a finished, undeleted Job is adopted too
    assert runs_of(storage, task_id) == 1


@pytest.mark.parametrize(
    ("code", "reason", "retryable"),
    [(65, "BadInput", False), (71, "Resource", False), (70, "Error", True), (3, "Error", True)],
)
def test_exit_codes_map_to_reasons(
    launcher: LocalLauncher, storage: Storage, code: int, reason: str, retryable: bool
) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"exit": code, "result": "failed", "error": "no"})
    launcher.launch(spec(task_id))
    status = finished(launcher, task_id)
    assert (status.phase, status.exit_code, status.reason, status.retryable) == (
        JobPhase.FAILED,
        code,
        reason,
        retryable,
    )


def test_a_child_killed_from_outside_is_retryable(
    launcher: LocalLauncher, storage: Storage
) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"sleep": 60})
    launcher.launch(spec(task_id))
    pid = wait_until(lambda: started(storage, task_id))
    os.killpg(pid, signal.SIGKILL)
    status = finished(launcher, task_id)
    assert (status.reason, status.retryable) == ("Killed", True)
    assert "SIGKILL" in status.message


def test_the_time_limit_stops_the_whole_group(launcher: LocalLauncher, storage: Storage) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"sleep": 60, "grandchild": True})
    launcher.launch(spec(task_id, timeout=1))
    status = finished(launcher, task_id)
    assert (status.phase, status.reason, status.retryable) == (
        JobPhase.FAILED,
        "DeadlineExceeded",
        False,
    )
    grandchild = standin_pid(storage, task_id, "grandchild.pid")
    assert grandchild is not None
    wait_until(lambda: not alive(grandchild), what="engine subprocess stopped")


def test_leftover_subprocesses_are_stopped_when_the_runner_exits(
    launcher: LocalLauncher, storage: Storage
) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"grandchild": True})
    launcher.launch(spec(task_id))
    assert finished(launcher, task_id).phase is JobPhase.SUCCEEDED
    grandchild = standin_pid(storage, task_id, "grandchild.pid")
    assert grandchild is not None
    wait_until(lambda: not alive(grandchild))


def test_delete_stops_the_group_and_forgets_the_job(
    launcher: LocalLauncher, storage: Storage
) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"sleep": 60, "grandchild": True})
    launcher.launch(spec(task_id))
    pid = wait_until(lambda: started(storage, task_id))
    grandchild = standin_pid(storage, task_id, "grandchild.pid")
    assert grandchild is not None
    launcher.delete(task_id)
    assert launcher.status(task_id) is None and launcher.list_jobs() == {}
    wait_until(lambda: not alive(pid) and not alive(grandchild))
    launcher.delete(task_id)  # already gone: no error
    assert "run 1" in launcher.logs(task_id, 10)  # the log outlives the Job


def test_watch_reports_exits_and_returns_when_stopped(
    launcher: LocalLauncher, storage: Storage
) -> None:
    changes: list[str] = []
    stop = threading.Event()
    watcher = threading.Thread(target=launcher.watch, args=(stop, changes.append))
    watcher.start()
    try:
        task_id = new_task(storage)
        launcher.launch(spec(task_id))
        wait_until(lambda: task_id in changes, what="exit reported")
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert not watcher.is_alive()


def test_a_lot_of_output_cannot_block_the_child(launcher: LocalLauncher, storage: Storage) -> None:
    task_id = new_task(storage)
    plan(storage, task_id, {"spam": 5_000_000})
    launcher.launch(spec(task_id))
    assert finished(launcher, task_id).phase is JobPhase.SUCCEEDED
    assert launcher.logs(task_id, 2) == "spam done\nstand-in runner: done"


def test_terminate_all_stops_every_child(launcher: LocalLauncher, storage: Storage) -> None:
    ids = [new_task(storage) for _ in range(3)]
    for task_id in ids:
        plan(storage, task_id, {"sleep": 60})
        launcher.launch(spec(task_id))
    pids = [wait_until(lambda t=t: started(storage, t)) for t in ids]  # type: ignore[misc]
    launcher.terminate_all()
    assert launcher.list_jobs() == {}
    wait_until(lambda: not any(alive(pid) for pid in pids))


def test_tail_reads_the_last_lines(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_text("".join(f"line {i}\n" for i in range(20_000)))
    assert tail(path, 3) == "line 19997\nline 19998\nline 19999"
    path.write_text("only\n")
    assert tail(path, 5) == "only"
    path.write_text("")
    assert tail(path, 5) == ""
