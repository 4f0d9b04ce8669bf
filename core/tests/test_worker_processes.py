"""Several worker processes on one database; a worker killed with SIGKILL mid-task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from test_queue import add_task

from autophon_core.models import TaskStatus
from autophon_core.runtime import Runtime

HERE = Path(__file__).parent
REPO_ROOT = HERE.parents[1]


def start_worker(
    db_url: str, out: Path, seconds: float, concurrency: int = 2
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{HERE}"}
    return subprocess.Popen(
        [
            sys.executable,
            str(HERE / "queue_worker_process.py"),
            db_url,
            str(out),
            str(seconds),
            str(concurrency),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.slow
def test_worker_processes_process_every_task_exactly_once(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "done.txt"
    workers = [start_worker(db_url, out, 0.0) for _ in range(4)]
    try:
        ids = {add_task(runtime.queue) for _ in range(300)}
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= len(ids), 180)
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(timeout=30)
    done = Counter(line.split()[0] for line in out.read_text().splitlines())
    assert set(done) == ids
    assert max(done.values()) == 1
    # The work really was shared between processes.
    assert len({line.split()[1] for line in out.read_text().splitlines()}) > 1


@pytest.mark.slow
def test_killed_worker_task_is_reclaimed_after_the_lease_and_finishes_once(
    runtime: Runtime, db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "done.txt"
    task_id = add_task(runtime.queue)
    slow = start_worker(db_url, out, 600.0)
    try:
        wait_for(lambda: (t := runtime.queue.get(task_id)) is not None and t.lease_owner)
        os.kill(slow.pid, signal.SIGKILL)
        slow.wait(timeout=10)
    finally:
        if slow.poll() is None:
            slow.kill()
    task = runtime.queue.get(task_id)
    assert task is not None and task.status == TaskStatus.UPLOADING and task.lease_owner
    fast = start_worker(db_url, out, 0.0)
    try:
        wait_for(lambda: (t := runtime.queue.get(task_id)) is not None and t.status == "uploaded")
    finally:
        fast.terminate()
        fast.wait(timeout=30)
    task = runtime.queue.get(task_id)
    assert task is not None
    assert out.read_text().split()[0] == task_id and len(out.read_text().splitlines()) == 1
    events = [e.status for e in runtime.queue.events(task_id)]
    assert events == ["uploading", "uploaded"]


@pytest.mark.slow
def test_sigterm_hands_back_the_task_at_once(runtime: Runtime, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "done.txt"
    task_id = add_task(runtime.queue)
    # Grace period 5 s (make_settings) and a 600 s task: the worker must hand it back.
    worker = start_worker(db_url, out, 600.0)
    wait_for(lambda: (t := runtime.queue.get(task_id)) is not None and t.lease_owner)
    worker.terminate()
    assert worker.wait(timeout=30) == 0
    task = runtime.queue.get(task_id)
    assert task is not None and task.lease_owner is None and task.attempts == 0


def test_a_failing_periodic_action_does_not_stop_the_worker() -> None:
    from autophon_core.worker import Ticker

    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not a task id: 'x'")

    ticker = Ticker(0.0, broken)
    ticker.tick()
    ticker.tick()
    assert len(calls) == 2
