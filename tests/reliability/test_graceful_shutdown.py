"""SIGTERM during work (real processes on PostgreSQL): each process stops within its grace
period, hands back what it holds (the lease released, the claim not counted as an attempt),
and the next process finishes the task.

The grace period is checked as a bounded wait: ``wait(timeout=grace + margin)`` fails if the
process is still running by then.
"""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from . import support
from .support import Pipeline

pytestmark = [pytest.mark.reliability, pytest.mark.postgres, pytest.mark.slow]

# Beyond the grace period: process start-up of the signal handling, interpreter exit.
MARGIN = 10


def _events(service: support.Service, event: str) -> list[dict[str, Any]]:
    return [r for r in service.records() if r.get("event") == event]


def _row(pipeline: Pipeline, task_id: str) -> dict[str, Any]:
    from sqlalchemy import text

    with pipeline.db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT status, lease_owner, attempts FROM tasks WHERE id = :id"),
            {"id": task_id},
        ).one()
    return dict(row._mapping)


@pytest.fixture
def slow_ffmpeg(tmp_path: Path) -> Iterator[Path]:
    """A directory with an ``ffmpeg`` that hangs (a conversion that outlasts the grace
    period); its processes are killed afterwards."""
    directory = tmp_path / "slow-bin"
    directory.mkdir()
    shim = directory / "ffmpeg"
    shim.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(120)\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    yield directory
    for pid in support.processes_using(shim):
        os.kill(pid, signal.SIGKILL)


def test_upload_worker_hands_back_its_task_on_sigterm(
    pipeline_factory: Callable[..., Pipeline], samples: Path, slow_ffmpeg: Path
) -> None:
    grace = 2
    pipeline = pipeline_factory(queue={"shutdown_grace_seconds": grace})
    pipeline.upload.env["PATH"] = f"{slow_ffmpeg}{os.pathsep}{os.environ['PATH']}"
    pipeline.start()
    task_id = support.submit(pipeline.base_url, support.fox_files(samples))
    support.wait_for(
        lambda: support.processes_using(slow_ffmpeg / "ffmpeg"), 30, "the conversion to start"
    )
    assert _row(pipeline, task_id)["lease_owner"] is not None
    pipeline.upload.signal(signal.SIGTERM)
    assert pipeline.upload.wait(timeout=grace + MARGIN) == 0
    row = _row(pipeline, task_id)
    assert row == {"status": "uploading", "lease_owner": None, "attempts": 0}
    assert [e["task_id"] for e in _events(pipeline.upload, "task handed back")] == [task_id]
    # The next worker (with a working ffmpeg) prepares it.
    pipeline.upload.env["PATH"] = os.environ["PATH"]
    pipeline.upload.start()
    support.wait_for(
        lambda: _row(pipeline, task_id)["status"] in ("completed", "failed"),
        120,
        "the task to be aligned",
        0.1,
    )
    assert _row(pipeline, task_id)["status"] == "completed"


def test_controller_stops_its_job_and_hands_back_the_task_on_sigterm(
    pipeline_factory: Callable[..., Pipeline], samples: Path
) -> None:
    from .test_process_kills import long_recording

    grace = 4
    pipeline = pipeline_factory(queue={"shutdown_grace_seconds": grace}).start()
    task_id = support.submit(pipeline.base_url, long_recording(samples, 30))
    support.wait_for(
        lambda: support.run_task_processes(pipeline.config), 60, "the alignment Job", 0.02
    )
    assert support.job_processes(task_id)
    pipeline.controller.signal(signal.SIGTERM)
    assert pipeline.controller.wait(timeout=grace + MARGIN) == 0
    # The Job (runner and engine) was stopped with it, and the task handed back.
    assert support.job_processes(task_id) == []
    row = _row(pipeline, task_id)
    assert row == {"status": "processing", "lease_owner": None, "attempts": 0}
    assert [e["task_id"] for e in _events(pipeline.controller, "task handed back")] == [task_id]
    pipeline.controller.start()
    support.wait_for(
        lambda: _row(pipeline, task_id)["status"] in ("completed", "failed"), 120, "the task", 0.1
    )
    assert _row(pipeline, task_id) == {"status": "completed", "lease_owner": None, "attempts": 1}


def test_api_finishes_the_upload_in_flight_and_stops_on_sigterm(
    pipeline_factory: Callable[..., Pipeline], samples: Path
) -> None:
    grace = 5
    pipeline = pipeline_factory(queue={"shutdown_grace_seconds": grace})
    pipeline.api.start()
    support.wait_for(pipeline.ready, 60, "the API")
    # A follower of a task that will not finish (no workers): an open event stream.
    waiting = support.submit(pipeline.base_url, support.fox_files(samples))
    follower = httpx.Client(timeout=60)
    events = follower.stream("GET", f"{pipeline.base_url}/api/v1/tasks/{waiting}/events")
    stream = events.__enter__()
    assert stream.status_code == 200
    # An upload whose body is still being sent when SIGTERM arrives.
    release = threading.Event()
    answers: list[httpx.Response] = []

    def body() -> Iterator[bytes]:
        boundary = "reliability"
        yield (
            f"--{boundary}\r\nContent-Disposition: form-data; name=files; filename=fox.wav\r\n\r\n"
        ).encode()
        yield (samples / "fox.wav").read_bytes()[:50000]
        release.wait(60)
        yield (samples / "fox.wav").read_bytes()[50000:]
        yield (
            f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=files; "
            f"filename=fox.txt\r\n\r\nthe quick brown fox\r\n--{boundary}--\r\n"
        ).encode()

    def upload() -> None:
        answers.append(
            httpx.post(
                f"{pipeline.base_url}/api/v1/tasks",
                content=body(),
                headers={"content-type": "multipart/form-data; boundary=reliability"},
                timeout=60,
            )
        )

    uploader = threading.Thread(target=upload)
    uploader.start()
    support.wait_for(
        lambda: len(list((pipeline.root / "tasks").iterdir())) == 2, 30, "the upload to start"
    )
    pipeline.api.signal(signal.SIGTERM)
    support.wait_for(lambda: _events(pipeline.api, "Shutting down"), 30, "the API to stop")
    release.set()
    uploader.join(timeout=60)
    code = pipeline.api.wait(timeout=grace + MARGIN)
    events.__exit__(None, None, None)
    follower.close()
    # The upload in flight was completed and stored.
    assert len(answers) == 1 and answers[0].status_code == 202, answers
    assert _row(pipeline, answers[0].json()["id"])["status"] == "uploading"
    # uvicorn re-raises the SIGTERM it handled once it is done: a clean stop either way.
    assert code in (0, -signal.SIGTERM)
    assert _events(pipeline.api, "Application shutdown complete.")
