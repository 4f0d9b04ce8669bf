"""Security properties, through the real app (create_app over a SQLite runtime):

- task ids are random (UUID4: 122 random bits) and are the only way to a task; with API
  tokens, a task is reachable only with its owner's token (others get the same 404 as for an
  id that does not exist);
- nothing from the API or a task record reaches files outside the task's folder: malformed or
  encoded ids, a task record with a malformed id, symbolic links planted in a task folder;
- the per-address upload rate limit (``api.uploads_per_minute``), and CORS off by default;
- alignment Job pods get no database credentials and no service-account token.

The chart's RBAC is asserted exactly in charts/autophon/tests/test_chart_contract.py
(test_controller_rbac_is_exactly_the_design, test_controller_account_is_the_one_bound,
test_job_contract_names_exist_and_agree); it is not repeated here.
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import text

from autophon_align.launchers.base import JobSpec
from autophon_align.manifests import RUNNER_ENV, build_job
from autophon_core.config import KubernetesJobConfig, Settings
from autophon_core.models import Stage, new_task_id
from autophon_core.queue import TaskFigures, token_owner
from autophon_core.runtime import Runtime
from autophon_core.testing import make_settings
from autophon_upload.main import create_app
from autophon_upload.ratelimit import UploadRateLimiter

from . import support

pytestmark = pytest.mark.reliability

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789"
CHART_DIR = support.REPO_ROOT / "charts" / "autophon"


def fox(samples: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return support.fox_files(samples)


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("RELIABILITY_TOKENS", f"{ALICE},{BOB}")
    settings = make_settings(sqlite_url, tmp_path, api={"tokens_env": "RELIABILITY_TOKENS"})
    runtime = Runtime.create(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def as_user(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def complete(runtime: Runtime, task_id: str, result: bytes) -> None:
    """Take a stored task to 'completed' with a result.zip, as the workers would."""
    queue = runtime.queue
    figures = TaskFigures(duration_s=3.4, words=9, missing_words=0, files=[])
    assert queue.claim(Stage.UPLOAD, "w") is not None
    assert queue.mark_uploaded(task_id, "w", figures)
    assert queue.claim(Stage.ALIGN, "c") is not None
    assert queue.complete(task_id, "c", figures)
    runtime.storage.task(task_id).result_zip.write_bytes(result)


def a_zip(content: str = "grid") -> bytes:
    """The same bytes at every call: a member named by a string would carry the time of the
    call, and two calls on either side of a two-second step would differ."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("fox.TextGrid", date_time=(2026, 1, 1, 0, 0, 0)), content)
    return buffer.getvalue()


# --- task ids ------------------------------------------------------------------------------


def test_task_ids_are_random_uuid4_with_122_random_bits(client: TestClient, samples: Path) -> None:
    ids = [new_task_id() for _ in range(4000)]
    from_api = [
        client.post("/api/v1/tasks", files=fox(samples), headers=as_user(ALICE)).json()["id"]
        for _ in range(3)
    ]
    for task_id in [*ids, *from_api]:
        parsed = uuid.UUID(hex=task_id)
        assert parsed.hex == task_id and parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)
    # Every one of the 122 random bits is set in about half of the ids (6 bits are fixed by
    # the UUID version and variant). At 4000 ids a fair bit stays within 40-60 % with
    # overwhelming probability (about 12 standard deviations).
    fixed = {48, 49, 50, 51, 64, 65}  # version nibble and variant bits, from the top
    values = [int(task_id, 16) for task_id in ids]
    for bit in set(range(128)) - fixed:
        ones = sum((value >> (127 - bit)) & 1 for value in values)
        assert 0.4 < ones / len(values) < 0.6, f"bit {bit} is set in {ones} of {len(values)}"


# --- ownership -----------------------------------------------------------------------------


def test_a_task_is_reachable_only_by_its_owners_token(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    task_id = client.post("/api/v1/tasks", files=fox(samples), headers=as_user(ALICE)).json()["id"]
    complete(runtime, task_id, a_zip())
    routes = [f"/api/v1/tasks/{task_id}", f"/api/v1/tasks/{task_id}/events"]
    result = f"/api/v1/tasks/{task_id}/result"
    # The owner.
    for route in routes:
        assert client.get(route, headers=as_user(ALICE)).status_code == 200
    downloaded = client.get(result, headers=as_user(ALICE))
    assert downloaded.status_code == 200 and downloaded.content == a_zip()
    assert downloaded.headers["content-type"] == "application/zip"
    # No token, or an unknown one: 401 on every route.
    for headers in ({}, as_user("guess"), {"Authorization": "Basic YWxpY2U6eA=="}):
        for route in [*routes, result, "/api/v1/tasks"]:
            answer = client.get(route, headers=headers)
            assert answer.status_code == 401, (route, headers)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
    # Another user: the same 404 as for an id that does not exist (no oracle).
    unknown = new_task_id()
    for route in [*routes, result]:
        theirs = client.get(route, headers=as_user(BOB))
        nobody = client.get(route.replace(task_id, unknown), headers=as_user(BOB))
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json()["detail"].replace(task_id, unknown) == nobody.json()["detail"]
    assert client.delete(f"/api/v1/tasks/{task_id}", headers=as_user(BOB)).status_code == 404
    assert client.get("/api/v1/tasks", headers=as_user(BOB)).json()["tasks"] == []
    # Still there for its owner.
    assert client.get(routes[0], headers=as_user(ALICE)).json()["status"] == "completed"
    assert [
        t["id"] for t in client.get("/api/v1/tasks", headers=as_user(ALICE)).json()["tasks"]
    ] == [task_id]


# --- paths ---------------------------------------------------------------------------------

NASTY_IDS = [
    "..",
    "../../../etc/passwd",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%2F..%2Fetc%2Fpasswd",
    "%252e%252e%252f",
    "." * 32,
    "./" * 16,
    "0123456789abcdef0123456789abcde/",
    "0123456789ABCDEF0123456789ABCDEF",
    "0123456789abcdef0123456789abcdef/../../x",
    "0123456789abcdef0123456789abcdef%00",
    "%00",
    "~root",
    "\\..\\..\\windows",
]


def test_malformed_and_encoded_ids_reach_no_file(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    headers = as_user(ALICE)
    for nasty in NASTY_IDS:
        for suffix in ("", "/events", "/result", "/files/0/view", "/files/0/audio"):
            answer = client.get(f"/api/v1/tasks/{nasty}{suffix}", headers=headers)
            if answer.status_code == 200:  # dot segments resolved by the client: the list
                assert set(answer.json()) == {"tasks", "next_cursor"}, (nasty, suffix)
            else:
                assert answer.status_code in (404, 405), (nasty, suffix, answer.status_code)
            assert b"secret" not in answer.content and b"root:" not in answer.content
        assert client.delete(f"/api/v1/tasks/{nasty}", headers=headers).status_code in (404, 405)
    assert secret.read_text() == "secret"


def test_a_task_record_with_a_malformed_id_reaches_no_file(
    client: TestClient, runtime: Runtime, tmp_path: Path
) -> None:
    """A row tampered with in the database: its id can never name a folder."""
    secret = tmp_path / "data" / "secret.zip"
    secret.write_bytes(a_zip("secret"))
    bad_id = "." * 30 + "se"  # 32 characters, not a task id
    with runtime.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tasks (id, status, language, engine, owner, size_bytes, attempts,"
                " available_at, created_at, updated_at) VALUES (:id, 'completed', 'eng',"
                " 'pocketsphinx', :owner, 0, 0, :now, :now, :now)"
            ),
            {"id": bad_id, "owner": token_owner(ALICE), "now": "2026-01-01 00:00:00"},
        )
    for suffix in ("", "/events", "/result", "/files/0/view", "/files/0/audio"):
        answer = client.get(f"/api/v1/tasks/{bad_id}{suffix}", headers=as_user(ALICE))
        assert answer.status_code == 404, (suffix, answer.text)
    assert client.delete(f"/api/v1/tasks/{bad_id}", headers=as_user(ALICE)).status_code == 404
    listed = client.get("/api/v1/tasks", headers=as_user(ALICE))
    assert listed.status_code == 200 and listed.json()["tasks"][0]["warnings"] == []
    assert secret.exists()


def test_symlinks_planted_in_a_task_folder_are_not_followed(
    client: TestClient, runtime: Runtime, samples: Path, tmp_path: Path
) -> None:
    """What a compromised Job could leave in the folder it writes: a result.zip that links to
    a file outside (another task's result, the API's own environment), a folder that links
    out. The API serves none of them and deleting the task deletes only its folder."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.zip").write_bytes(a_zip("secret"))
    (outside / "keep.txt").write_text("keep")
    headers = as_user(ALICE)
    for target in (outside / "secret.zip", Path("/proc/self/environ"), outside):
        task_id = client.post("/api/v1/tasks", files=fox(samples), headers=headers).json()["id"]
        complete(runtime, task_id, b"")
        paths = runtime.storage.task(task_id)
        paths.result_zip.unlink()
        paths.result_zip.symlink_to(target)
        answer = client.get(f"/api/v1/tasks/{task_id}/result", headers=headers)
        assert answer.status_code == 404, (target, answer.status_code)
        assert b"secret" not in answer.content and ALICE.encode() not in answer.content
    # A task folder that is itself a link to another folder.
    task_id = client.post("/api/v1/tasks", files=fox(samples), headers=headers).json()["id"]
    complete(runtime, task_id, a_zip())
    paths = runtime.storage.task(task_id)
    moved = tmp_path / "moved"
    paths.root.rename(moved)
    (moved / "result.zip").write_bytes(a_zip("secret"))
    paths.root.symlink_to(moved)
    assert client.get(f"/api/v1/tasks/{task_id}/result", headers=headers).status_code == 404
    # Deleting a task whose folder holds a link to the outside deletes the link only.
    task_id = client.post("/api/v1/tasks", files=fox(samples), headers=headers).json()["id"]
    complete(runtime, task_id, a_zip())
    (runtime.storage.task(task_id).root / "escape").symlink_to(outside)
    assert client.delete(f"/api/v1/tasks/{task_id}", headers=headers).status_code == 204
    assert not runtime.storage.task(task_id).root.exists()
    assert (outside / "keep.txt").read_text() == "keep"


# --- request limits ------------------------------------------------------------------------


def _app(sqlite_url: str, tmp_path: Path, **api: Any) -> tuple[Runtime, Any]:
    runtime = Runtime.create(make_settings(sqlite_url, tmp_path, api=api))
    return runtime, create_app(runtime)


def test_uploads_per_minute_are_limited_per_client_address(
    sqlite_url: str, tmp_path: Path, samples: Path
) -> None:
    runtime, app = _app(sqlite_url, tmp_path, uploads_per_minute=3)
    now = [1000.0]
    app.state.upload_limiter = UploadRateLimiter(3, clock=lambda: now[0])
    try:
        with (
            TestClient(app, client=("198.51.100.7", 40000)) as first,
            TestClient(app, client=("203.0.113.9", 40000)) as second,
        ):
            # Every attempt counts, accepted or not.
            codes = [first.post("/api/v1/tasks", files=fox(samples)).status_code for _ in range(2)]
            codes.append(first.post("/api/v1/tasks", files=[("files", ("x.wav", b""))]).status_code)
            assert codes == [202, 202, 400]
            folders = sorted(runtime.storage.tasks_dir.iterdir())
            limited = first.post("/api/v1/tasks", files=fox(samples))
            assert limited.status_code == 429
            assert limited.json()["detail"] == (
                "Too many uploads from your address: at most 3 per minute. "
                "Please try again in 60 s."
            )
            assert limited.headers["Retry-After"] == "60"
            assert sorted(runtime.storage.tasks_dir.iterdir()) == folders  # nothing stored
            # Another address is not affected; reading is not limited.
            assert second.post("/api/v1/tasks", files=fox(samples)).status_code == 202
            assert first.get("/api/v1/tasks").status_code == 200
            # The window slides: 45 s later, 15 s to wait; a minute after the first, allowed.
            now[0] += 45
            assert first.post("/api/v1/tasks", files=fox(samples)).headers["Retry-After"] == "15"
            now[0] += 15
            assert first.post("/api/v1/tasks", files=fox(samples)).status_code == 202
    finally:
        runtime.close()


def test_upload_rate_limit_is_off_by_default(
    sqlite_url: str, tmp_path: Path, samples: Path
) -> None:
    runtime, app = _app(sqlite_url, tmp_path)
    try:
        with TestClient(app) as client:
            codes = {
                client.post("/api/v1/tasks", files=fox(samples)).status_code for _ in range(25)
            }
        assert codes == {202}
    finally:
        runtime.close()


@pytest.mark.parametrize("configured", [[], ["https://phonetics.example.org"]])
def test_cors_is_off_unless_origins_are_configured(
    sqlite_url: str, tmp_path: Path, configured: list[str]
) -> None:
    runtime, app = _app(sqlite_url, tmp_path, cors_origins=configured)
    try:
        with TestClient(app) as client:
            for origin in ("https://phonetics.example.org", "https://evil.example.com"):
                simple = client.get("/api/v1/tasks", headers={"Origin": origin})
                preflight = client.options(
                    "/api/v1/tasks",
                    headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
                )
                allowed = origin in configured
                for answer in (simple, preflight):
                    header = answer.headers.get("access-control-allow-origin")
                    assert header == (origin if allowed else None), (origin, answer.headers)
    finally:
        runtime.close()


# --- alignment Job pods --------------------------------------------------------------------

DB_PASSWORD = "s3cret-db-password-for-the-test"


def _render_chart() -> list[dict[str, Any]]:
    chart = helm.Chart.load(CHART_DIR)
    try:
        values = {
            "database": {"password": DB_PASSWORD},
            "config": {"database": {"url": "postgresql://autophon@db.example:5432/autophon"}},
        }
        files = chart.render(values, name="autophon", namespace="autophon")
    finally:
        chart.close()
    return [d for path, body in files.items() if path.endswith(".yaml")
            for d in yaml.safe_load_all(body) if d]  # fmt: skip


def test_alignment_job_pods_get_no_database_credentials_and_no_token() -> None:
    manifests = _render_chart()
    config_map = next(
        m for m in manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "autophon-config"
    )  # fmt: skip
    config_text = config_map["data"]["autophon.yaml"]
    assert DB_PASSWORD not in config_text  # the file names the env var, never the secret
    settings = Settings.model_validate(yaml.safe_load(config_text))
    assert settings.database.password_env  # the long-running pods get it from a Secret ...
    controller = next(
        m for m in manifests
        if m["kind"] == "Deployment" and m["metadata"]["name"] == "autophon-controller"
    )  # fmt: skip
    (container,) = controller["spec"]["template"]["spec"]["containers"]
    assert settings.database.password_env in {e["name"] for e in container.get("env", [])}

    # ... but the Job the controller builds from this config gets nothing of it.
    for k8s in (settings.controller.kubernetes, KubernetesJobConfig()):
        job = build_job(JobSpec(new_task_id(), "pocketsphinx", 600), k8s, "autophon")
        pod = job["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["enableServiceLinks"] is False  # no DB service host/port variables
        (runner,) = pod["containers"]
        assert {e["name"]: e["value"] for e in runner["env"]} == RUNNER_ENV
        assert "envFrom" not in runner
        assert all("valueFrom" not in e for e in runner["env"])
        assert not any("secret" in volume for volume in pod["volumes"])
        assert not any("projected" in volume for volume in pod["volumes"])
        assert DB_PASSWORD not in yaml.safe_dump(job)
        assert settings.database.password_env not in yaml.safe_dump(job)
