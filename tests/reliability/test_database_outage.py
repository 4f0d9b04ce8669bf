"""The database going away: PostgreSQL stopped and started again under load (real processes),
and a database error in the middle of recording a task's outcome (in-process, deterministic).

The PostgreSQL test stops the server this machine's tests share; it is always started again
(``support.postgres_stopped`` starts it in a ``finally``), and only one such test runs in
``make test`` (three outages in the soak run). Anything else using the server meanwhile (a
second test run, benchmarks) sees the outage too: ``AUTOPHON_TEST_PG_RESTART=0`` skips it.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from autophon_core.models import Stage, TaskStatus
from autophon_core.queue import ClaimedTask, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.testing import make_settings
from autophon_core.worker import QueueWorker

from . import support
from .support import Pipeline

pytestmark = pytest.mark.reliability

UNAVAILABLE = "The database is unavailable at the moment; please retry shortly."
OUTAGES = 3 if support.SOAK else 1
TASKS_PER_OUTAGE = 20 if support.SOAK else 8


def _probe_while_down(pipeline: Pipeline, samples: Path, task_id: str) -> dict[str, int]:
    """What the API answers with the database down; returns the status codes seen."""
    base = pipeline.base_url
    tasks_before = sorted(p.name for p in (pipeline.root / "tasks").iterdir())
    seen: dict[str, int] = {}
    for name, response in (
        ("list", httpx.get(f"{base}/api/v1/tasks", timeout=30)),
        ("read", httpx.get(f"{base}/api/v1/tasks/{task_id}", timeout=30)),
        ("upload", httpx.post(f"{base}/api/v1/tasks", files=support.fox_files(samples))),
    ):
        seen[name] = response.status_code
        assert response.status_code == 503, (name, response.text)
        assert response.json() == {"detail": UNAVAILABLE}, name
        assert int(response.headers["Retry-After"]) > 0, name
    ready = httpx.get(f"{base}/readyz", timeout=30)
    assert ready.status_code == 503 and "database" in ready.json()["detail"]
    assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
    # The refused upload left nothing behind.
    assert sorted(p.name for p in (pipeline.root / "tasks").iterdir()) == tasks_before
    seen["readyz"] = ready.status_code
    return seen


def _count(service: support.Service, event: str | None = None) -> int:
    """Log lines of ``service`` with this event (any warning when None)."""
    return sum(
        r.get("event") == event if event else r.get("level") == "warning" for r in service.records()
    )


def _noticed(pipeline: Pipeline, claim_errors: int, controller_warnings: int) -> bool:
    return (
        _count(pipeline.upload, "claim failed; database unreachable?") > claim_errors
        and _count(pipeline.controller) > controller_warnings
    )


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.timeout(1800 if support.SOAK else 300)
def test_postgres_outage_under_load_loses_no_task_and_the_api_answers_503(
    pipeline_factory: Callable[..., Pipeline],
    pg_url: str,
    samples: Path,
    figures: dict[str, Any],
) -> None:
    if not support.pg_is_local(pg_url):
        pytest.skip("PostgreSQL is not on this machine: it cannot be stopped and started")
    if os.environ.get("AUTOPHON_TEST_PG_RESTART") == "0":
        pytest.skip("AUTOPHON_TEST_PG_RESTART=0: the PostgreSQL server is shared, not stopped")
    pipeline = pipeline_factory().start()
    files = support.fox_files(samples)
    submitted: list[str] = []
    down_seconds = 0.0
    for _ in range(OUTAGES):
        submitted += [support.submit(pipeline.base_url, files) for _ in range(TASKS_PER_OUTAGE)]
        # Under load: the controller is aligning and the upload worker has tasks queued.
        support.wait_for(
            lambda: pipeline.db.lease_owners("processing"), 60, "an alignment to start"
        )
        claim_errors = _count(pipeline.upload, "claim failed; database unreachable?")
        controller_warnings = _count(pipeline.controller)
        stopped_at = time.monotonic()
        with support.postgres_stopped(pg_url):
            _probe_while_down(pipeline, samples, submitted[-1])
            # Both workers notice (the upload worker's claims fail and back off; the controller,
            # busy with its Jobs, fails to renew leases and sync) and carry on.
            support.wait_for(
                functools.partial(_noticed, pipeline, claim_errors, controller_warnings),
                60,
                "the workers to notice the outage",
                0.1,
            )
            assert all(service.alive() for service in pipeline.services), pipeline.logs()
        down_seconds += time.monotonic() - stopped_at
        support.wait_for(pipeline.ready, 60, "/readyz to answer 200 again", 0.2)
    submitted += [support.submit(pipeline.base_url, files) for _ in range(TASKS_PER_OUTAGE)]
    try:
        support.wait_for(
            lambda: (
                pipeline.db.statuses()["completed"] + pipeline.db.statuses()["failed"]
                == len(submitted)
            ),
            120 + 3 * len(submitted),
            "every task to finish",
            0.2,
        )
    except AssertionError:
        raise AssertionError(f"{pipeline.db.statuses()}\n{pipeline.logs()}") from None
    histories = pipeline.db.histories()
    # No crash loop: every process is the one started at the beginning, still running.
    assert all(s.alive() and s.starts == 1 for s in pipeline.services), pipeline.logs()
    assert sorted(histories) == sorted(submitted)
    for task in histories.values():
        assert task.status == "completed", task
        assert task.events.count("completed") == 1 and "failed" not in task.events, task
    figures.update(
        outages=OUTAGES,
        seconds_down=round(down_seconds, 1),
        tasks=len(submitted),
        completed=sum(t.status == "completed" for t in histories.values()),
        lost=sum(t.status != "completed" for t in histories.values()),
        process_restarts=sum(s.starts - 1 for s in pipeline.services),
    )


def test_a_database_error_while_recording_an_outcome_does_not_fail_the_task(
    sqlite_url: str, tmp_path: Path
) -> None:
    """The handler finished its work but could not record it (the database went away): the
    task must not be failed (the failure could not be recorded either, or worse, it could once
    the database is back); it is claimed again when its lease runs out."""
    settings = make_settings(sqlite_url, tmp_path, queue={"lease_seconds": 0.5})
    runtime = Runtime.create(settings)
    calls: list[int] = []

    def handler(task: ClaimedTask, worker_id: str) -> str | None:
        calls.append(task.attempts)
        if len(calls) == 1:
            raise OperationalError("UPDATE tasks", {}, Exception("server closed the connection"))
        figures = TaskFigures(duration_s=1.0, words=1, missing_words=0, files=[])
        assert runtime.queue.mark_uploaded(task.id, worker_id, figures)
        return None

    worker = QueueWorker(
        queue=runtime.queue, stage=Stage.UPLOAD, handler=handler, concurrency=1, name="w"
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    task = runtime.queue.create(
        task_id="a" * 32, language="eng", engine="pocketsphinx", file_names=[], size_bytes=0
    )
    thread.start()
    try:
        support.wait_for(
            lambda: (
                (t := runtime.queue.get(task.id)) is not None and t.status != TaskStatus.UPLOADING
            ),
            30,
            "the task to leave 'uploading'",
        )
        done = runtime.queue.get(task.id)
    finally:
        stop.set()
        thread.join(timeout=30)
        runtime.close()
    assert done is not None and done.status == TaskStatus.UPLOADED, done and done.error
    assert calls == [1, 2]
