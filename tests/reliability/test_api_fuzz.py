"""Fuzzing the HTTP API from its own OpenAPI document with schemathesis, in process (ASGI).

Every operation gets schema-valid and schema-violating requests (hypothesis-generated), with
and without tokens, with random ids and ids of real tasks (uploading, completed, failed).
Every response must be documented: no 5xx, a documented status code and content type, a
body that matches the documented schema, the documented headers. A second run does the same
with the database unreachable: every answer must still be a documented one (503 where the
database is needed).

schemathesis is used as a library, not through its pytest plugin (which is disabled in
pyproject.toml: it blanks hypothesis's failure reports in the other tests).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis import checks as sc
from sqlalchemy import text

from autophon_core.config import DatabaseConfig
from autophon_core.db import make_engine
from autophon_core.migrate import upgrade
from autophon_core.runtime import Runtime
from autophon_core.testing import make_settings
from autophon_upload.main import create_app

from . import support

pytestmark = pytest.mark.reliability

TOKEN, OTHER = "fuzz-token-a", "fuzz-token-b"
EXAMPLES = 300 if support.SOAK else 40
CHECKS = [
    sc.not_a_server_error,
    sc.status_code_conformance,
    sc.content_type_conformance,
    sc.response_schema_conformance,
    sc.response_headers_conformance,
]


def _task(runtime: Runtime, samples: Path, app: FastAPI, end: str | None) -> str:
    """A task of TOKEN's, left uploading, or taken to completed or failed."""
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        answer = client.post(
            "/api/v1/tasks",
            files=support.fox_files(samples),
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    task_id = str(answer.json()["id"])
    if end is not None:  # what the workers would have recorded
        with runtime.engine.begin() as connection:
            connection.execute(
                text("UPDATE tasks SET status = :status, error = :error WHERE id = :id"),
                {"status": end, "error": "The alignment failed." if end == "failed" else None,
                 "id": task_id},
            )  # fmt: skip
    if end == "completed":
        runtime.storage.task(task_id).result_zip.write_bytes(support.zip_bytes({"a": b"b"}))
    return task_id


@pytest.fixture
def api(
    tmp_path: Path, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Runtime, FastAPI, Callable[[], list[str]]]]:
    monkeypatch.setenv("FUZZ_TOKENS", f"{TOKEN},{OTHER}")
    # The database in a folder of its own, which the outage test takes away.
    url = f"sqlite:///{tmp_path / 'db' / 'autophon.db'}"
    engine = make_engine(DatabaseConfig(url=url))
    upgrade(engine)
    engine.dispose()
    settings = make_settings(url, tmp_path, api={"tokens_env": "FUZZ_TOKENS"})
    runtime = Runtime.create(settings)
    app = create_app(runtime)

    def make_ids() -> list[str]:
        # One at a time, the one left uploading last (claims take the oldest task).
        return [_task(runtime, samples, app, end) for end in ("completed", "failed", None)]

    yield runtime, app, make_ids
    runtime.close()


def fuzz(
    app: FastAPI,
    make_ids: Callable[[], list[str]],
    examples: int,
    checks: list[Any] = CHECKS,
) -> tuple[Counter[str], list[str]]:
    """Run every operation in both generation modes, on fresh tasks from ``make_ids`` (the
    DELETE runs delete them); (responses by operation and status, failures)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    seen: Counter[str] = Counter()
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an Err raises here
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            ids = make_ids()
            if operation.path.endswith("/events"):
                # The stream of an unfinished task stays open until the task ends: only
                # finished tasks there (and random ids).
                ids = ids[:2]
            with contextlib.suppress(Unsatisfiable):  # nothing to violate (GET /healthz...)
                _fuzz_operation(operation, mode, ids, examples, checks, seen, failures)
    return seen, failures


def _fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    ids: list[str],
    examples: int,
    checks: list[Any],
    seen: Counter[str],
    failures: list[str],
) -> None:
    # derandomize: the same cases every run, so that "reached a 202" cannot fail by chance
    # (a random run once generated no valid upload at all).
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        task_id=st.sampled_from([None, *ids]),
        token=st.sampled_from([TOKEN, TOKEN, TOKEN, OTHER, None, "not-a-token"]),
    )
    def run(case: Any, task_id: str | None, token: str | None) -> None:
        if task_id and "task_id" in (case.path_parameters or {}):
            case.path_parameters["task_id"] = task_id
        headers = {"Authorization": f"Bearer {token}"} if token else None
        try:
            response = case.call_and_validate(checks=checks, headers=headers)
        except (Exception, BaseExceptionGroup) as exc:  # a check failed: keep one of each
            message = f"{operation.label} ({mode.value}): {exc}"
            if not any(f.split("\n")[0] == message.split("\n")[0] for f in failures):
                failures.append(message[:2000])
            return
        seen[f"{operation.label} {response.status_code}"] += 1

    run()


def test_no_request_gets_an_undocumented_answer(
    api: tuple[Runtime, FastAPI, Callable[[], list[str]]], figures: dict[str, Any]
) -> None:
    _, app, make_ids = api
    seen, failures = fuzz(app, make_ids, EXAMPLES)
    assert not failures, "\n\n".join(failures)
    statuses: Counter[str] = Counter()
    for key, count in seen.items():
        statuses[key.rsplit(" ", 1)[1]] += count
    # The run reached the interesting answers, not only 401s and 404s.
    for status in ("200", "202", "204", "400", "401", "404", "409"):
        assert statuses[status] > 0, (status, statuses)
    figures.update(
        schemathesis=schemathesis.__version__,
        requests=sum(seen.values()),
        statuses=dict(sorted(statuses.items())),
    )


def test_with_the_database_unreachable_every_answer_is_documented(
    api: tuple[Runtime, FastAPI, Callable[[], list[str]]], tmp_path: Path
) -> None:
    runtime, app, make_ids = api
    ids = make_ids()
    # The database's folder disappears: every new connection fails (OperationalError).
    runtime.engine.dispose()
    folder = tmp_path / "db"
    folder.rename(tmp_path / "db-gone")
    try:
        # 503 is the expected answer now: documented, so only not_a_server_error is left out.
        checks = [check for check in CHECKS if check is not sc.not_a_server_error]
        seen, failures = fuzz(app, lambda: ids, max(10, EXAMPLES // 4), checks)
    finally:
        runtime.engine.dispose()
        (tmp_path / "db-gone").rename(folder)
    assert not failures, "\n\n".join(failures)
    assert any(key.endswith(" 503") for key in seen), seen


def test_resuming_the_events_of_a_finished_task_ends_at_once(
    sqlite_url: str, tmp_path: Path, samples: Path
) -> None:
    """EventSource reconnects after the stream closes, sending the last id it got: the stream
    of a finished task must then close at once (it used to poll until the client left).
    Found by the fuzzing above once Last-Event-ID was part of the schema."""
    runtime = Runtime.create(make_settings(sqlite_url, tmp_path))
    try:
        with support.serving(runtime) as base_url:
            task_id = httpx.post(
                f"{base_url}/api/v1/tasks", files=support.fox_files(samples), timeout=30
            ).json()["id"]
            assert httpx.delete(f"{base_url}/api/v1/tasks/{task_id}").status_code == 202
            events = f"{base_url}/api/v1/tasks/{task_id}/events"
            first = httpx.get(events, timeout=10)
            ids = [line.split()[1] for line in first.text.splitlines() if line.startswith("id:")]
            assert len(ids) == 2  # uploading, cancelled
            for last in (ids[-1], "999999", "9" * 5000, "\u00b2", "-1", "1e3"):
                header = last.encode("latin-1")  # what HTTP carries
                resumed = httpx.get(events, headers=[(b"Last-Event-ID", header)], timeout=10)
                assert resumed.status_code == 200, (last, resumed.text)
                sent = [line for line in resumed.text.splitlines() if line.startswith("id:")]
                expected = [] if last in (ids[-1], "999999") else [f"id: {i}" for i in ids]
                assert sent == expected, last
    finally:
        runtime.close()
