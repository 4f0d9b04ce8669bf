"""The upload half of the pipeline end to end: the API stores, the worker prepares."""

from __future__ import annotations

import io
import shutil
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from autophon_core.lexicon import normalise_words
from autophon_core.runtime import Runtime
from autophon_upload.main import create_app
from autophon_upload.worker import make_upload_worker

FINAL = {"uploaded", "failed"}


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    stop = threading.Event()
    worker = threading.Thread(target=make_upload_worker(runtime).run, args=(stop,))
    worker.start()
    with TestClient(create_app(runtime)) as test_client:
        yield test_client
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()


def submit(client: TestClient, files: list[tuple[str, bytes]]) -> str:
    response = client.post("/api/v1/tasks", files=[("files", f) for f in files])
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def settled(client: TestClient, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get(f"/api/v1/tasks/{task_id}").json()
        if task["status"] in FINAL:
            return dict(task)
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not settle")


def sample(samples: Path, name: str, as_name: str | None = None) -> tuple[str, bytes]:
    return (as_name or name, (samples / name).read_bytes())


@pytest.mark.parametrize("recording", ["fox.wav", "fox.mp3", "fox.flac"])
def test_fox_in_every_format_becomes_uploaded(
    client: TestClient, samples: Path, recording: str
) -> None:
    task = settled(client, submit(client, [sample(samples, recording), sample(samples, "fox.txt")]))
    assert task["status"] == "uploaded", task["error"]
    assert task["duration_s"] == pytest.approx(3.4, abs=0.1)
    words = len(normalise_words((samples / "fox.txt").read_text()))
    assert task["words"] == words
    assert task["files"] == [
        {
            "name": recording,
            "duration_s": task["duration_s"],
            "words": words,
            "missing_words": 0,
            "tiers": ["text"],
        }
    ]


def test_dialogue_is_converted_to_16k_mono_with_its_speaker_tiers(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    task_id = submit(
        client,
        [
            sample(samples, "dialogue_44k_stereo.wav"),
            sample(samples, "dialogue_44k_stereo.TextGrid"),
        ],
    )
    task = settled(client, task_id)
    assert task["status"] == "uploaded", task["error"]
    assert task["files"][0]["tiers"] == ["Speaker A", "Speaker B"]
    assert task["duration_s"] == pytest.approx(6.3, abs=0.1)
    wav = runtime.storage.task(task_id).input_audio("dialogue_44k_stereo")
    import wave

    with wave.open(str(wav)) as handle:
        assert (handle.getframerate(), handle.getnchannels(), handle.getsampwidth()) == (
            16000,
            1,
            2,
        )


@pytest.mark.parametrize("bad", ["corrupt.wav", "empty.wav"])
def test_unreadable_audio_fails_with_a_sentence_naming_the_file(
    client: TestClient, samples: Path, bad: str
) -> None:
    stem = bad.removesuffix(".wav")
    task = settled(
        client, submit(client, [sample(samples, bad), sample(samples, "fox.txt", f"{stem}.txt")])
    )
    assert task["status"] == "failed"
    assert bad in task["error"]


def test_a_bad_task_does_not_affect_the_others(client: TestClient, samples: Path) -> None:
    bad = submit(
        client, [sample(samples, "corrupt.wav"), sample(samples, "fox.txt", "corrupt.txt")]
    )
    good = submit(client, [sample(samples, "fox.wav"), sample(samples, "fox.txt")])
    assert settled(client, bad)["status"] == "failed"
    assert settled(client, good)["status"] == "uploaded"


def test_unpaired_files_are_refused_at_upload_naming_the_file(
    client: TestClient, samples: Path
) -> None:
    response = client.post("/api/v1/tasks", files=[("files", sample(samples, "fox.wav"))])
    assert response.status_code == 400
    assert "fox.wav" in response.json()["detail"]
    response = client.post("/api/v1/tasks", files=[("files", ("notes.docx", b"x"))])
    assert response.status_code == 400 and "notes.docx" in response.json()["detail"]


def test_zip_slip_members_stay_inside_the_task(
    client: TestClient, runtime: Runtime, samples: Path, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../../evil.wav", (samples / "fox.wav").read_bytes())
        archive.writestr("../../../evil.txt", (samples / "fox.txt").read_bytes())
    task_id = submit(client, [("batch.zip", buffer.getvalue())])
    task = settled(client, task_id)
    assert task["status"] == "uploaded", task["error"]
    assert task["files"][0]["name"] == "evil.wav"
    root = runtime.storage.root
    assert not any(
        p.name.startswith("evil") for p in root.parent.rglob("*") if root not in p.parents
    )
    shutil.rmtree(runtime.storage.task(task_id).root)
