# ruff: noqa: RUF001  (Cyrillic passages are meant)
"""Danish, Norwegian, Swedish, German and Russian (Cyrillic transcripts) through ``autophon
local``'s public API: connected speech synthesised by espeak-ng's voices, with word timings
from its synthesis events (bench/speech.py), aligned by the built-in engine across languages."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from praatio import textgrid as praatio_textgrid
from test_local_pipeline import follow

from autophon_core.lexicon import normalise_words
from bench.speech import Timed, boundary_errors, record

# "The North Wind and the Sun" (the IPA's reading passage): its opening and its end.
PASSAGES = {
    "dan": (
        "da",
        "Nordenvinden og solen skændtes engang om, hvem af dem der var den stærkeste. "
        "Da kom der en vandringsmand gående, svøbt i en varm kappe.",
        "Så skinnede solen varmt, og vandringsmanden tog straks kappen af. Derfor måtte "
        "nordenvinden indrømme, at solen var den stærkeste af de to.",
    ),
    "nob": (
        "nb",
        "Nordavinden og sola kranglet en gang om hvem av dem som var den sterkeste. "
        "Da kom en vandringsmann gående, innhyllet i en varm kappe.",
        "Så begynte sola å skinne, og straks tok vandringsmannen av seg kappen. Og så måtte "
        "nordavinden innrømme at sola var den sterkeste av de to.",
    ),
    "swe": (
        "sv",
        "Nordanvinden och solen tvistade en gång om vem av dem som var starkast. "
        "Just då kom en vandrare vägen fram, insvept i en varm kappa.",
        "Sedan lyste solen varmt, och genast tog vandraren av sig kappan. Och så var "
        "nordanvinden tvungen att erkänna att solen var den starkaste av de två.",
    ),
    "deu": (
        "de",
        "Einst stritten sich Nordwind und Sonne, wer von ihnen beiden wohl der Stärkere wäre, "
        "als ein Wanderer, der in einen warmen Mantel gehüllt war, des Weges daherkam.",
        "Jetzt ließ die Sonne ihre freundlichen Strahlen vom Himmel scheinen, und schon nach "
        "wenigen Augenblicken zog der Wanderer seinen Mantel aus. Da musste der Nordwind "
        "zugeben, dass die Sonne von ihnen beiden der Stärkere war.",
    ),
    "rus": (
        "ru",
        "Однажды Северный ветер и Солнце поспорили, кто из них сильнее. "
        "В это время они увидели путника, закутанного в тёплый плащ.",
        "Тогда Солнце начало пригревать, и путник сразу снял свой плащ. "
        "Северному ветру пришлось признать, что Солнце сильнее его.",
    ),
}
# How the test uploads each: a code or one of its aliases.
UPLOADED_AS = {"dan": "da", "nob": "nor", "swe": "swedish", "deu": "deutsch", "rus": "русский"}
WITHIN = 0.05  # s
SHARE = 0.8


@dataclass(frozen=True)
class Recording:
    code: str
    stem: str
    text: str
    audio: Path
    timings: list[Timed]


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> list[Recording]:
    """Two recordings per language, made once per test session (about a second each)."""
    folder = tmp_path_factory.mktemp("languages")
    made = []
    for code, (voice, *texts) in PASSAGES.items():
        for number, text in enumerate(texts, start=1):
            stem = f"{code}{number}"
            audio = folder / f"{stem}.wav"
            made.append(
                Recording(code, stem, text, audio, record(text, voice, audio, words_per_minute=160))
            )
    return made


def upload(url: str, recording: Recording, language: str) -> str:
    files = [
        ("files", (f"{recording.stem}.wav", recording.audio.read_bytes())),
        ("files", (f"{recording.stem}.txt", recording.text.encode("utf-8"))),
    ]
    created = httpx.post(
        f"{url}/api/v1/tasks", files=files, data={"language": language}, timeout=30
    )
    assert created.status_code == 202, created.text
    return str(created.json()["id"])


def tier(archive: zipfile.ZipFile, member: str, name: str, folder: Path) -> list[tuple]:
    path = folder / member
    path.write_bytes(archive.read(member))
    grid = praatio_textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return [(e.start, e.end, e.label) for e in grid.getTier(name).entries]


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_speech_in_other_languages_aligns_across_languages(
    server: str,
    recordings: list[Recording],
    tmp_path: Path,
) -> None:
    tasks = [(r, upload(server, r, UPLOADED_AS[r.code])) for r in recordings]
    errors: dict[str, list[float]] = {code: [] for code in PASSAGES}
    for recording, task_id in tasks:
        stem = recording.stem
        assert follow(server, task_id)[-1] == "completed", httpx.get(
            f"{server}/api/v1/tasks/{task_id}"
        ).json()
        task = httpx.get(f"{server}/api/v1/tasks/{task_id}").json()
        assert task["language"] == recording.code
        assert not any("look like" in w for w in task["warnings"]), task["warnings"]
        result = httpx.get(f"{server}/api/v1/tasks/{task_id}/result", timeout=30)
        archive = zipfile.ZipFile(io.BytesIO(result.content))
        names = set(archive.namelist())
        assert {f"{stem}.TextGrid", f"{stem}_IPA.TextGrid", "README.txt"} <= names
        words = tier(archive, f"{stem}.TextGrid", "words", tmp_path)
        assert [label for _, _, label in words] == normalise_words(recording.text)
        errors[recording.code] += boundary_errors(recording.timings, words)

        ipa_words = tier(archive, f"{stem}_IPA.TextGrid", "words", tmp_path)
        assert ipa_words == words
        phones = tier(archive, f"{stem}.TextGrid", "phones", tmp_path)
        ipa_phones = tier(archive, f"{stem}_IPA.TextGrid", "phones", tmp_path)
        assert [p[:2] for p in ipa_phones] == [p[:2] for p in phones]
        labels = {label for _, _, label in ipa_phones}
        assert labels and not labels & {"AA", "AH", "IY", "K", "N", "R", "S", "T"}  # IPA
        readme = archive.read("README.txt").decode("utf-8")
        assert "cross-language" in readme and "_IPA.TextGrid" in readme
    for code, found in errors.items():
        share = sum(error <= WITHIN for error in found) / len(found)
        assert share >= SHARE, f"{code}: {share:.0%} of word boundaries within 50 ms"


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_swedish_uploaded_as_english_is_named(
    server: str,
    recordings: list[Recording],
) -> None:
    swedish = next(r for r in recordings if r.code == "swe")
    task_id = upload(server, swedish, "eng")
    final = follow(server, task_id)[-1]
    task = httpx.get(f"{server}/api/v1/tasks/{task_id}").json()
    assert final in ("completed", "failed")
    named = [w for w in task["warnings"] if "Swedish" in w and "language swe" in w]
    assert named, task
    if final == "failed":
        assert "Swedish" in task["error"]
