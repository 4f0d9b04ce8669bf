"""``autophon local`` end to end: a real server on a free port, the real upload worker,
controller, local Jobs and the built-in engine; on SQLite and on PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx
import pytest
from praatio import textgrid as praatio_textgrid

from autophon_core.lexicon import normalise_words


def follow(url: str, task_id: str) -> list[str]:
    """The statuses the task's event stream sends (progress events are left out)."""
    statuses = []
    with httpx.stream("GET", f"{url}/api/v1/tasks/{task_id}/events", timeout=120) as response:
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind == "status":
                statuses.append(json.loads(line.removeprefix("data: "))["status"])
    return statuses


@pytest.mark.slow
def test_fox_goes_from_upload_to_textgrid(server: str, samples: Path, tmp_path: Path) -> None:
    files = [
        ("files", ("fox.wav", (samples / "fox.wav").read_bytes())),
        ("files", ("fox.txt", (samples / "fox.txt").read_bytes())),
    ]
    created = httpx.post(f"{server}/api/v1/tasks", files=files, timeout=30)
    assert created.status_code == 202, created.text
    task_id = created.json()["id"]

    statuses = follow(server, task_id)
    assert statuses == ["uploading", "uploaded", "processing", "completed"]

    result = httpx.get(f"{server}/api/v1/tasks/{task_id}/result", timeout=30)
    assert result.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(result.content))
    assert {"fox.TextGrid", "missing_words.txt", "README.txt"} <= set(archive.namelist())
    path = tmp_path / "fox.TextGrid"
    path.write_bytes(archive.read("fox.TextGrid"))
    grid = praatio_textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert list(grid.tierNames) == ["words", "phones"]
    words = [entry.label for entry in grid.getTier("words").entries]
    assert words == normalise_words((samples / "fox.txt").read_text())
    assert grid.maxTimestamp == pytest.approx(3.4, abs=0.1)

    task = httpx.get(f"{server}/api/v1/tasks/{task_id}").json()
    assert task["status"] == "completed" and task["words"] == len(words)
