from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autophon_core.config import Settings
from autophon_core.models import Stage
from autophon_core.runtime import Runtime
from autophon_core.testing import make_settings
from autophon_upload.main import create_app


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def fox_files(samples: Path) -> list[tuple[str, tuple[str, bytes]]]:
    return [
        ("files", ("fox.wav", (samples / "fox.wav").read_bytes())),
        ("files", ("fox.txt", (samples / "fox.txt").read_bytes())),
    ]


def test_upload_creates_a_task_with_its_files_on_disk(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    response = client.post("/api/v1/tasks", files=fox_files(samples))
    assert response.status_code == 202, response.text
    task = response.json()
    assert task["status"] == "uploading" and task["language"] == "eng"
    assert task["engine"] == "pocketsphinx" and task["error"] is None
    assert len(task["id"]) == 32
    upload_dir = runtime.storage.task(task["id"]).upload_dir
    assert (upload_dir / "fox.wav").read_bytes() == (samples / "fox.wav").read_bytes()
    assert client.get(f"/api/v1/tasks/{task['id']}").json()["files"][0]["name"] == "fox.wav"
    claimed = runtime.queue.claim(Stage.UPLOAD, "w")
    assert claimed is not None and claimed.id == task["id"]


def test_names_are_sanitised(client: TestClient, runtime: Runtime) -> None:
    response = client.post(
        "/api/v1/tasks",
        files=[
            ("files", ("../../x.wav", b"RIFF")),
            ("files", ("..\\..\\x.txt", b"hello")),
        ],
    )
    assert response.status_code == 202, response.text
    task_dir = runtime.storage.task(response.json()["id"]).root
    assert sorted(p.name for p in (task_dir / "upload").iterdir()) == ["x.txt", "x.wav"]
    assert not (runtime.storage.root.parent / "x.wav").exists()


def test_duplicate_names_are_refused_and_nothing_is_kept(
    client: TestClient, runtime: Runtime
) -> None:
    response = client.post(
        "/api/v1/tasks", files=[("files", ("a.wav", b"1")), ("files", ("A.WAV", b"2"))]
    )
    assert response.status_code == 400
    assert "A.WAV was sent twice" in response.json()["detail"]
    assert list(runtime.storage.tasks_dir.iterdir()) == []
    assert runtime.queue.list_tasks() == []


def test_unknown_language_is_refused(client: TestClient, samples: Path) -> None:
    response = client.post("/api/v1/tasks", files=fox_files(samples), data={"language": "xx"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith(
        "Unknown language 'xx'; available: eng (English (US, built-in)), dan (Danish (built-in, "
        "cross-language)), nob (Norwegian Bokmål (built-in, cross-language)), swe (Swedish "
        "(built-in, cross-language)), deu (German (built-in, cross-language)), "
    )
    assert detail.endswith(", slk (Slovak (built-in, cross-language)).")


def test_oversize_upload_is_refused_while_streaming(
    db_url: str, tmp_path: Path, runtime: Runtime
) -> None:
    settings = make_settings(db_url, tmp_path, api={"max_upload_bytes": 1000})
    small = Runtime(settings, runtime.engine, runtime.notifier, runtime.queue, runtime.storage)
    with TestClient(create_app(small)) as client:
        declared = client.post("/api/v1/tasks", files=[("files", ("a.wav", b"x" * 5000))])
        assert declared.status_code == 413
        assert "exceeds the limit" in declared.json()["detail"]

        def chunks() -> Iterator[bytes]:
            yield b"--b\r\nContent-Disposition: form-data; name=files; filename=a.wav\r\n\r\n"
            for _ in range(100):
                yield b"x" * 100

        streamed = client.post(
            "/api/v1/tasks",
            content=chunks(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert streamed.status_code == 413
    assert list(runtime.storage.tasks_dir.iterdir()) == []


def test_list_pages_and_filters(client: TestClient, samples: Path) -> None:
    ids = [client.post("/api/v1/tasks", files=fox_files(samples)).json()["id"] for _ in range(3)]
    first = client.get("/api/v1/tasks", params={"limit": 2}).json()
    assert [t["id"] for t in first["tasks"]] == ids[::-1][:2]
    second = client.get("/api/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]})
    assert [t["id"] for t in second.json()["tasks"]] == ids[:1]
    assert second.json()["next_cursor"] is None
    assert client.get("/api/v1/tasks", params={"status": "completed"}).json()["tasks"] == []
    assert client.get("/api/v1/tasks", params={"cursor": "!!"}).status_code == 400


def test_result_is_409_until_completed_and_delete_cancels_then_deletes(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    task_id = client.post("/api/v1/tasks", files=fox_files(samples)).json()["id"]
    conflict = client.get(f"/api/v1/tasks/{task_id}/result")
    assert conflict.status_code == 409 and "uploading" in conflict.json()["detail"]
    cancelled = client.delete(f"/api/v1/tasks/{task_id}")
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    assert client.delete(f"/api/v1/tasks/{task_id}").status_code == 204
    assert client.get(f"/api/v1/tasks/{task_id}").status_code == 404
    assert not runtime.storage.task(task_id).root.exists()


def test_events_stream_status_changes_and_close_after_final(
    client: TestClient, samples: Path
) -> None:
    task_id = client.post("/api/v1/tasks", files=fox_files(samples)).json()["id"]
    client.delete(f"/api/v1/tasks/{task_id}")
    with client.stream("GET", f"/api/v1/tasks/{task_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    events = [
        json.loads(line.removeprefix("data: "))
        for line in body.splitlines()
        if line.startswith("data: ")
    ]
    assert [e["status"] for e in events] == ["uploading", "cancelled"]


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("dan", "dan"),
        ("da", "dan"),
        ("Danish", "dan"),
        ("nor", "nob"),
        ("no", "nob"),
        ("nb", "nob"),
        ("sv", "swe"),
        ("SWE", "swe"),
        ("de", "deu"),
        ("French", "fra"),
        ("español", "spa"),
        ("pt", "por"),
        ("suomi", "fin"),
    ],
)
def test_language_aliases_are_accepted(
    client: TestClient, samples: Path, given: str, code: str
) -> None:
    response = client.post("/api/v1/tasks", files=fox_files(samples), data={"language": given})
    assert response.status_code == 202, response.text
    assert response.json()["language"] == code


def test_unknown_task_is_404(client: TestClient) -> None:
    response = client.get("/api/v1/tasks/" + "0" * 32)
    assert response.status_code == 404
    assert client.get("/api/v1/tasks/../../etc/passwd").status_code == 404


def test_languages_health_and_metrics(client: TestClient) -> None:
    languages = {lang["code"]: lang for lang in client.get("/api/v1/languages").json()}
    assert list(languages) == [
        *("eng", "dan", "nob", "swe", "deu", "nld", "fra", "spa", "ita", "por", "pol", "fin"),
        *("isl", "ces", "rus", "cat", "hun", "tur", "ell", "ukr", "slk"),
    ]
    assert languages["eng"]["engines"] == ["pocketsphinx"]
    assert {"nor", "no", "nb", "norwegian"} <= set(languages["nob"]["aliases"])
    assert {"da", "danish"} <= set(languages["dan"]["aliases"])
    assert {"cs", "czech", "čeština"} <= set(languages["ces"]["aliases"])
    assert {"ru", "russian", "русский"} <= set(languages["rus"]["aliases"])
    assert {"el", "gre", "greek", "ελληνικά"} <= set(languages["ell"]["aliases"])
    assert {"hu", "magyar"} <= set(languages["hun"]["aliases"])
    assert "cross-language" in languages["swe"]["alignment"]
    assert "espeak-ng" in languages["swe"]["alignment"]
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json() == {"detail": "ready"}
    metrics = client.get("/metrics").text
    assert 'autophon_tasks{status="uploading"}' in metrics
    assert "text/html" in client.get("/").headers["content-type"]


def test_tokens_restrict_tasks_to_their_owner(
    runtime: Runtime, samples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOPHON_TEST_TOKENS", "alice-token,bob-token")
    data = runtime.settings.model_dump()
    data["api"]["tokens_env"] = "AUTOPHON_TEST_TOKENS"
    secured = Runtime(
        Settings.model_validate(data),
        runtime.engine,
        runtime.notifier,
        runtime.queue,
        runtime.storage,
    )
    with TestClient(create_app(secured)) as client:
        assert client.post("/api/v1/tasks", files=fox_files(samples)).status_code == 401
        alice = {"Authorization": "Bearer alice-token"}
        bob = {"Authorization": "Bearer bob-token"}
        task_id = client.post("/api/v1/tasks", files=fox_files(samples), headers=alice).json()["id"]
        assert client.get(f"/api/v1/tasks/{task_id}", headers=alice).status_code == 200
        assert client.get(f"/api/v1/tasks/{task_id}", headers=bob).status_code == 404
        assert client.get("/api/v1/tasks", headers=bob).json()["tasks"] == []
