"""Readiness means ready to serve: the database reachable and its schema at the revision the
code needs. The API's /readyz and the workers' probe port answer the same."""

from __future__ import annotations

import json
import logging
import socket
import urllib.error
import urllib.request

from autophon_core.config import DatabaseConfig
from autophon_core.db import make_engine
from autophon_core.logs import JsonFormatter
from autophon_core.metrics import serve_metrics
from autophon_core.migrate import downgrade, head_revision, readiness_problem, upgrade


def test_ready_only_at_the_expected_revision(db_url: str) -> None:
    engine = make_engine(DatabaseConfig(url=db_url))
    try:
        assert readiness_problem(engine) is None  # the fixture migrated to head
        downgrade(engine, "base")
        problem = readiness_problem(engine)
        assert problem is not None
        assert "revision none" in problem and head_revision() in problem
        assert "autophon migrate" in problem
        upgrade(engine)
        assert readiness_problem(engine) is None
    finally:
        engine.dispose()


def test_unreachable_database_is_not_ready() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = make_engine(DatabaseConfig(url=f"postgresql+psycopg2://nobody@127.0.0.1:{port}/none"))
    try:
        assert readiness_problem(engine) == "The database is not reachable."
    finally:
        engine.dispose()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_worker_port_serves_readiness_and_metrics() -> None:
    problems: list[str | None] = ["The database is not reachable."]
    port = _free_port()
    serve_metrics(port, host="127.0.0.1", ready=lambda: problems[-1])
    base = f"http://127.0.0.1:{port}"
    assert _get(f"{base}/readyz") == (503, "The database is not reachable.\n")
    problems.append(None)
    assert _get(f"{base}/readyz") == (200, "ready\n")
    status, text = _get(f"{base}/metrics")
    assert status == 200 and "autophon_jobs_active" in text


def test_json_logs_carry_no_ansi_colour_copy() -> None:
    """uvicorn passes ``color_message`` (the message with ANSI escapes) as an extra."""
    record = logging.LogRecord("uvicorn.error", logging.INFO, "", 0, "Started", (), None)
    record.color_message = "\x1b[32mStarted\x1b[0m"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["event"] == "Started"
    assert "color_message" not in entry
    assert "\x1b" not in json.dumps(entry)
