"""Task folders for the runner and engine tests, built the way the upload worker builds them:
16 kHz mono WAV (ffmpeg), a normalised input TextGrid (praatio) and a manifest."""

from __future__ import annotations

import secrets
import subprocess
import wave
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from praatio import textgrid

from autophon_core.config import (
    DEFAULT_LANGUAGES,
    AlignmentConfig,
    LanguageConfig,
    Settings,
    StorageConfig,
)
from autophon_core.lexicon import normalise_words
from autophon_core.storage import Storage, TaskPaths
from autophon_core.taskfiles import Manifest, ManifestFile
from autophon_core.testing import SAMPLES


@dataclass
class InputFile:
    """One recording and its transcript: a plain text, or tiers of (start, end, text)."""

    audio: Path
    name: str
    text: str | None = None
    tiers: dict[str, list[tuple[float, float, str]]] = field(default_factory=dict)
    transcript: str = ""


@dataclass
class Task:
    settings: Settings
    task_id: str
    paths: TaskPaths


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample {path} not found (set AUTOPHON_SAMPLES)")
    return path


def to_wav16k(source: Path, target: Path) -> float:
    """Convert any audio file to 16 kHz mono s16 WAV; returns its duration."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            *["ffmpeg", "-v", "error", "-y", "-i", str(source)],
            *["-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(target)],
        ],
        check=True,
    )
    with wave.open(str(target), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def speak(text: str, path: Path) -> Path:
    """A recording of ``text`` by espeak-ng (US English)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True)
    return path


def make_settings(root: Path, **alignment: float) -> Settings:
    return Settings(
        storage=StorageConfig(root=root, delete_audio_after_alignment=False),
        alignment=AlignmentConfig(**alignment),  # type: ignore[arg-type]
    )


def with_language(settings: Settings, language: LanguageConfig) -> Settings:
    return settings.model_copy(update={"languages": [language], "default_language": language.code})


def english(**assets: str) -> LanguageConfig:
    """The default English language with ``assets`` set (engine settings such as chunk sizes)."""
    language = next(lang for lang in DEFAULT_LANGUAGES if lang.code == "eng")
    return language.model_copy(update={"assets": {**language.assets, **assets}})


def make_task(
    root: Path,
    files: Sequence[InputFile],
    *,
    settings: Settings | None = None,
    engine: str = "pocketsphinx",
    user_dict: str | None = None,
) -> Task:
    settings = settings or make_settings(root)
    task_id = secrets.token_hex(16)
    storage = Storage(settings.storage.root)
    paths = storage.create_task_dir(task_id)
    paths.input_dir.mkdir(parents=True)
    manifest_files = []
    for index, file in enumerate(files):
        stem = f"{Path(file.name).stem}-{index}"
        duration = to_wav16k(file.audio, paths.input_audio(stem))
        plain = file.text is not None
        tiers = {"text": [(0.0, duration, file.text or "")]} if plain else file.tiers
        grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
        for name, intervals in tiers.items():
            entries = [(s, min(e, duration), t) for s, e, t in intervals]
            grid.addTier(textgrid.IntervalTier(name, entries, 0.0, duration))
        grid.save(str(paths.input_textgrid(stem)), format="long_textgrid", includeBlankSpaces=True)
        words = [
            w for intervals in tiers.values() for _, _, t in intervals for w in normalise_words(t)
        ]
        manifest_files.append(
            ManifestFile(
                stem=stem,
                name=file.name,
                transcript=file.transcript or f"{Path(file.name).stem}.txt",
                duration_s=duration,
                words=len(words),
                missing_words=0,
                tiers=list(tiers),
                plain=plain,
            )
        )
    if user_dict is not None:
        paths.user_dict.write_text(user_dict, encoding="utf-8")
    Manifest(
        task_id=task_id,
        language=settings.default_language,
        engine=engine,
        files=manifest_files,
        missing_words=[],
        has_user_dict=user_dict is not None,
    ).save(paths)
    return Task(settings, task_id, paths)


def result_textgrids(task: Task) -> dict[str, textgrid.Textgrid]:
    """The TextGrids inside result.zip, by member name."""
    grids = {}
    with zipfile.ZipFile(task.paths.result_zip) as archive:
        for name in archive.namelist():
            if name.endswith(".TextGrid"):
                target = task.paths.root / "unzipped" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(name))
                grids[name] = textgrid.openTextgrid(str(target), includeEmptyIntervals=True)
    return grids


def zip_text(task: Task, member: str) -> str:
    with zipfile.ZipFile(task.paths.result_zip) as archive:
        return archive.read(member).decode("utf-8")


def labelled(grid: textgrid.Textgrid, tier: str) -> list[tuple[float, float, str]]:
    return [(e.start, e.end, e.label) for e in grid.getTier(tier).entries if e.label]


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()
