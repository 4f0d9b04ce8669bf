"""What the API reads from task folders: progress (field and events), warnings, the viewer's
files; and the pages. Tasks are moved through the real queue; the runner's files are written
as the runner writes them (autophon_core.taskfiles)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from praatio import textgrid as praatio_textgrid

from autophon_core.models import Stage
from autophon_core.queue import FileFigures, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.storage import TaskPaths, write_json
from autophon_core.taskfiles import Manifest, ManifestFile, Progress, RunResult
from autophon_upload.main import create_app
from autophon_upload.taskfolder import estimate

FIGURES = TaskFigures(duration_s=3.4, words=9, missing_words=0, files=[FileFigures(name="fox.wav")])
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


def processing_task(client: TestClient, runtime: Runtime, samples: Path) -> tuple[str, TaskPaths]:
    """A task of fox as the upload worker leaves it (manifest, converted recording), then
    claimed by the controller."""
    files = [
        ("files", ("fox.wav", (samples / "fox.wav").read_bytes())),
        ("files", ("fox.txt", (samples / "fox.txt").read_bytes())),
    ]
    task_id = client.post("/api/v1/tasks", files=files).json()["id"]
    paths = runtime.storage.task(task_id)
    paths.input_dir.mkdir()
    shutil.copy(samples / "fox.wav", paths.input_audio("fox"))
    Manifest(
        task_id=task_id,
        language="eng",
        engine="pocketsphinx",
        files=[
            ManifestFile(
                stem="fox",
                name="fox.wav",
                transcript="fox.txt",
                duration_s=3.4,
                words=9,
                missing_words=0,
                tiers=["text"],
                plain=True,
            )
        ],
        missing_words=[],
        warnings=["fox.txt: a point tier was skipped."],
    ).save(paths)
    assert runtime.queue.claim(Stage.UPLOAD, "upload") is not None
    assert runtime.queue.mark_uploaded(task_id, "upload", FIGURES)
    assert runtime.queue.claim(Stage.ALIGN, "controller") is not None
    return task_id, paths


def complete(runtime: Runtime, task_id: str, paths: TaskPaths, warnings: list[str]) -> None:
    RunResult(status="completed", warnings=warnings).save(paths)
    assert runtime.queue.complete(task_id, "controller", FIGURES)


def progress(done: int, seconds_done: float, spent: float) -> Progress:
    return Progress(
        files_done=done,
        files_total=3,
        audio_seconds_done=seconds_done,
        audio_seconds_total=30.0,
        started_at=NOW - timedelta(seconds=spent),
        updated_at=NOW,
    )


def test_the_estimate_follows_the_pace_so_far() -> None:
    # 10 s of audio in 5 s: the 20 s left take 10 s, 2 s of which have passed.
    report = estimate(progress(1, 10.0, spent=5.0), NOW + timedelta(seconds=2))
    assert report.seconds_left == pytest.approx(8.0)
    assert (report.files_done, report.files_total) == (1, 3)
    assert estimate(progress(0, 0.0, spent=5.0), NOW).seconds_left is None
    assert estimate(progress(1, 10.0, spent=5.0), NOW + timedelta(hours=1)).seconds_left == 0


def test_progress_while_processing_in_the_task_and_as_events(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    task_id, paths = processing_task(client, runtime, samples)
    assert client.get(f"/api/v1/tasks/{task_id}").json()["progress"] is None  # not yet written
    now = datetime.now(UTC)
    report = progress(1, 10.0, spent=5.0).model_copy(
        update={"started_at": now - timedelta(seconds=5), "updated_at": now}
    )
    report.save(paths)
    shown = client.get(f"/api/v1/tasks/{task_id}").json()["progress"]
    assert shown["files_done"] == 1 and shown["files_total"] == 3
    assert shown["audio_seconds_done"] == 10.0 and shown["audio_seconds_total"] == 30.0
    assert 0 < shown["seconds_left"] <= 10.0
    listed = client.get("/api/v1/tasks").json()["tasks"][0]
    assert listed["progress"]["files_done"] == 1

    received: list[tuple[str, dict]] = []
    later = now + timedelta(seconds=1)
    with client.stream("GET", f"/api/v1/tasks/{task_id}/events") as response:
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                received.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == "progress" and received[-1][1]["progress"]["files_done"] == 1:
                    # The runner reports its last file ...
                    last = {"files_done": 3, "audio_seconds_done": 30.0, "updated_at": later}
                    report.model_copy(update=last).save(paths)
                elif kind == "progress":
                    complete(runtime, task_id, paths, [])  # ... and the task completes.
    kinds = [
        (kind, data.get("status") or data["progress"]["files_done"]) for kind, data in received
    ]
    assert kinds == [
        ("status", "uploading"),
        ("status", "uploaded"),
        ("status", "processing"),
        ("progress", 1),
        ("progress", 3),
        ("status", "completed"),
    ]
    # Once completed there is no progress, though the runner's file stays.
    assert paths.progress_json.exists()
    assert client.get(f"/api/v1/tasks/{task_id}").json()["progress"] is None


def test_warnings_of_the_upload_and_the_alignment(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    task_id, paths = processing_task(client, runtime, samples)
    assert client.get(f"/api/v1/tasks/{task_id}").json()["warnings"] == [
        "fox.txt: a point tier was skipped."
    ]
    complete(runtime, task_id, paths, ["1 word(s) not in the dictionary were guessed."])
    task = client.get(f"/api/v1/tasks/{task_id}").json()
    assert task["warnings"] == [
        "fox.txt: a point tier was skipped.",
        "1 word(s) not in the dictionary were guessed.",
    ]
    # A failed alignment's warnings are shown too.
    failed_id, failed_paths = processing_task(client, runtime, samples)
    RunResult(status="failed", error="Nothing could be aligned.", warnings=["w"]).save(failed_paths)
    assert runtime.queue.fail(failed_id, "controller", Stage.ALIGN, "Nothing could be aligned.")
    assert client.get(f"/api/v1/tasks/{failed_id}").json()["warnings"][-1] == "w"
    # A damaged result.json shows no warnings of the alignment rather than failing.
    paths.result_json.write_text("{")
    assert client.get(f"/api/v1/tasks/{task_id}").json()["warnings"] == [
        "fox.txt: a point tier was skipped."
    ]


def test_the_viewer_files_of_a_completed_task(
    client: TestClient, runtime: Runtime, samples: Path
) -> None:
    task_id, paths = processing_task(client, runtime, samples)
    view = {"name": "fox.wav", "duration_s": 3.4, "tiers": []}
    write_json(paths.view_file("fox"), view)
    base = f"/api/v1/tasks/{task_id}/files"
    early = client.get(f"{base}/0/view")
    assert early.status_code == 409 and "processing" in early.json()["detail"]
    complete(runtime, task_id, paths, [])

    assert client.get(f"{base}/0/view").json() == view
    audio = client.get(f"{base}/0/audio")
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
    assert audio.content == (samples / "fox.wav").read_bytes()
    assert client.get(f"{base}/1/view").status_code == 404
    assert client.get(f"{base}/-1/view").status_code == 422

    # After the recordings are deleted the view stays, and the API says why there is no audio.
    runtime.storage.remove_audio(task_id)
    gone = client.get(f"{base}/0/audio")
    assert gone.status_code == 404 and "deleted" in gone.json()["detail"]
    assert client.get(f"{base}/0/view").status_code == 200

    # A task aligned before views were written: the tiers of its result, and nothing else.
    paths.view_file("fox").unlink()
    assert client.get(f"{base}/0/view").status_code == 404
    grid = praatio_textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=3.4)
    words = [(0.1, 0.4, "the"), (0.5, 0.9, "quick")]
    grid.addTier(praatio_textgrid.IntervalTier("words", words, 0.0, 3.4))
    grid.addTier(praatio_textgrid.PointTier("marks", [(1.0, "x")], 0.0, 3.4))
    paths.output_dir.mkdir()
    grid.save(str(paths.output_textgrid("fox")), format="long_textgrid", includeBlankSpaces=True)
    assert client.get(f"{base}/0/view").json() == {
        "name": "fox.wav",
        "duration_s": 3.4,
        "tiers": [{"name": "words", "intervals": [list(w) for w in words]}],
        "waveform": None,
        "spectrogram": None,
    }

    paths.output_textgrid("fox").write_text('File type = "ooTextFile"\nxmin = oops')
    assert client.get(f"{base}/0/view").status_code == 404  # damaged: no tiers, no error

    # A view planted as a link (by a compromised Job) is not followed.
    paths.output_textgrid("fox").unlink()
    os.symlink("/etc/passwd", paths.view_file("fox"))
    assert client.get(f"{base}/0/view").status_code == 404


def test_the_pages_and_their_static_files(client: TestClient) -> None:
    assert "AutoPhon" in client.get("/").text
    viewer = client.get("/viewer", params={"task": "0" * 32})
    assert viewer.status_code == 200 and "viewer.js" in viewer.text
    script = client.get("/static/viewer.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    assert client.get("/static/index.html").status_code == 404
    assert client.get("/static/..%2Fschemas.py").status_code == 404
