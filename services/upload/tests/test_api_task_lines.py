"""The API says what happens to tasks (one log line per upload, cancel and delete: what
``kubectl logs deploy/autophon-api`` shows), and is not ready without its schema."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autophon_core.migrate import downgrade, upgrade
from autophon_core.runtime import Runtime
from autophon_upload.main import create_app


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def _lines(caplog: pytest.LogCaptureFixture, event: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "autophon.api" and r.getMessage() == event]


def test_upload_cancel_and_delete_each_log_one_line(
    client: TestClient, samples: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="autophon.api")
    files = [
        ("files", ("fox.wav", (samples / "fox.wav").read_bytes())),
        ("files", ("fox.txt", (samples / "fox.txt").read_bytes())),
    ]
    task_id = client.post("/api/v1/tasks", files=files).json()["id"]
    (uploaded,) = _lines(caplog, "task uploaded")
    assert uploaded.task_id == task_id  # type: ignore[attr-defined]
    assert uploaded.files == 2 and uploaded.engine == "pocketsphinx"  # type: ignore[attr-defined]

    assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 202
    (cancelled,) = _lines(caplog, "task cancelled")
    assert cancelled.task_id == task_id  # type: ignore[attr-defined]
    assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 204
    (deleted,) = _lines(caplog, "task deleted")
    assert deleted.task_id == task_id  # type: ignore[attr-defined]

    assert client.post("/api/v1/tasks", files=files[:1]).status_code == 400
    (refused,) = _lines(caplog, "upload refused")
    assert refused.status == 400  # type: ignore[attr-defined]


def test_not_ready_without_the_schema(client: TestClient, runtime: Runtime) -> None:
    assert client.get("/readyz").status_code == 200
    downgrade(runtime.engine, "base")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "autophon migrate" in response.json()["detail"]
    finally:
        upgrade(runtime.engine)
    assert client.get("/readyz").status_code == 200
