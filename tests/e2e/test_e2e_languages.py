"""Languages on the cluster: a cross-language upload (Danish: espeak-ng's pronunciations, the
English model), its IPA TextGrid and the viewer's summary, through the API's Service; and an
English reading long enough for the built-in engine's speaker adaptation."""

from __future__ import annotations

import base64
import io
import re
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from praatio import textgrid

from bench.speech import record

from .e2e_support import Kube, Timings
from .test_e2e_alignment import _log_lines, follow_events

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DANISH = "Hvad synes du om det nye hus? Jeg tror, at vi skal købe nogle flere møbler til stuen."


def test_danish_upload_gets_an_ipa_textgrid_and_a_view(
    api: httpx.Client, timings: Timings, tmp_path: Path
) -> None:
    record(DANISH, "da", tmp_path / "stue.wav")
    files = [
        ("files", ("stue.wav", (tmp_path / "stue.wav").read_bytes(), "audio/wav")),
        ("files", ("stue.txt", DANISH.encode(), "text/plain")),
    ]
    started = time.monotonic()
    response = api.post("/api/v1/tasks", files=files, data={"language": "dan"})
    assert response.status_code == 202, response.text
    task_id = response.json()["id"]
    statuses = follow_events(api, task_id)
    timings.record("Danish (4.8 s, espeak-ng voice): POST to completed", time.monotonic() - started)
    task = api.get(f"/api/v1/tasks/{task_id}").json()
    assert statuses[-1] == "completed", task
    assert task["language"] == "dan" and task["warnings"] == [], task

    archive = zipfile.ZipFile(io.BytesIO(api.get(f"/api/v1/tasks/{task_id}/result").content))
    assert {"stue.TextGrid", "stue_IPA.TextGrid"} <= set(archive.namelist())
    path = tmp_path / "stue_IPA.TextGrid"
    path.write_bytes(archive.read(path.name))
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    words = [e.label for e in grid.getTier("words").entries]
    assert words == re.findall(r"\w+", DANISH.lower())
    phones = {e.label for e in grid.getTier("phones").entries}
    # Danish IPA ("tror": t ʁ oˀ ɐ̯), not the English model's ARPAbet.
    assert "ʁ" in phones and not any(p.isupper() for p in phones), phones
    # missing_words.txt lists espeak-ng's pronunciations in IPA, as a Danish .dict takes them.
    assert "møbler\tm œˀ b l ʌˀ\tespeak-ng" in archive.read("missing_words.txt").decode()

    view = api.get(f"/api/v1/tasks/{task_id}/files/0/view")
    assert view.status_code == 200, view.text
    summary = view.json()
    assert summary["name"] == "stue.wav"
    assert [e[2] for e in summary["tiers"][0]["intervals"] if e[2]] == words
    assert summary["waveform"]["peaks"] and summary["waveform"]["columns_per_second"] > 0
    assert base64.b64decode(summary["spectrogram"]["png"]).startswith(b"\x89PNG")


# Four sentences (about 15 s) all in CMUdict: enough speech for the speaker adaptation.
READING = (
    "The committee reviewed several proposals before lunch and rejected most. "
    "My brother usually drives his old truck to the market on Saturdays. "
    "We walked along the river until the sun disappeared behind the distant hills. "
    "Each student must submit a written report describing the experiment in detail."
)


def test_a_longer_reading_is_aligned_with_an_adapted_model(
    api: httpx.Client, kube: Kube, timings: Timings, tmp_path: Path
) -> None:
    """The aligner image's SphinxTrain tools run in the Job: its log (``kubectl logs``)
    says the speaker was adapted."""
    record(READING, "en-us", tmp_path / "reading.wav")
    files = [
        ("files", ("reading.wav", (tmp_path / "reading.wav").read_bytes(), "audio/wav")),
        ("files", ("reading.txt", READING.encode(), "text/plain")),
    ]
    started = time.monotonic()
    response = api.post("/api/v1/tasks", files=files, data={"language": "eng"})
    assert response.status_code == 202, response.text
    task_id = response.json()["id"]
    statuses = follow_events(api, task_id)
    timings.record("English reading (15 s, adapted): POST to completed", time.monotonic() - started)
    assert statuses[-1] == "completed", api.get(f"/api/v1/tasks/{task_id}").json()
    lines = _log_lines(kube, f"autophon.io/task-id={task_id}", container="runner")
    details = [line.get("detail", "") for line in lines if line["event"] == "aligner note"]
    assert len(details) == 1 and details[0].startswith("the speaker: adapted (MLLR)"), lines
