"""The upload worker's processing of one task: upload/ in, input/ and the manifest out.

Cheap checks come first (zip, pairing, dictionary, every transcript), so a typo is reported
before minutes of audio conversion; then each recording is converted and its transcript fitted
to the measured duration and written as input/<stem>.TextGrid. input/ is rebuilt from scratch
on every run, so a retried task never sees a previous attempt's leftovers.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from autophon_core.config import LanguageConfig, Settings
from autophon_core.lexicon import (
    DictionaryError,
    Lexicon,
    language_lexicon,
    normalise_words,
    parse_dictionary,
)
from autophon_core.storage import TaskPaths, atomic_write_bytes
from autophon_core.taskfiles import Manifest, ManifestFile
from autophon_upload.processing.archive import extract_zip, format_bytes
from autophon_upload.processing.audio import (
    NARROW_BAND_DB,
    NARROW_BAND_HZ,
    convert_audio,
    power_above_db,
)
from autophon_upload.processing.encoding import read_text
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.filetypes import FileKind, classify
from autophon_upload.processing.intervals import Transcript, fit_to_duration
from autophon_upload.processing.pairing import Pair, pair_files
from autophon_upload.processing.transcripts import parse_plain, read_transcript, write_textgrid

logger = logging.getLogger(__name__)


def prepare_task(
    paths: TaskPaths,
    task_id: str,
    language: LanguageConfig,
    engine: str,
    settings: Settings,
    *,
    on_warning: Callable[[str], None] | None = None,
) -> Manifest:
    """Validate and convert the task's uploaded files; write input/ and input/manifest.json.

    Raises BadInputError (the user's to fix, never worth a retry); anything else is internal.
    Warnings (intervals cut or dropped, ignored point tiers...) go to ``on_warning``, by default
    to the log.
    """

    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        if on_warning is not None:
            on_warning(message)
        else:
            logger.warning("task %s: %s", task_id, message)

    limits = settings.api
    files = collect_uploads(paths, limits.max_files, limits.max_unzipped_bytes)
    pairing = pair_files(files)
    user_dict_text, user_lexicon = _read_user_dictionary(pairing.dictionary)
    transcripts = [(pair, _read_transcript(pair)) for pair in pairing.pairs]
    for _, transcript in transcripts:
        for message in transcript.warnings:
            warn(message)
    lexicon = _lexicon(language, user_lexicon)

    _reset_dir(paths.input_dir)
    worker = settings.upload_worker
    entries: list[ManifestFile] = []
    missing_all: set[str] = set()
    for pair, transcript in transcripts:
        duration = convert_audio(
            pair.recording,
            paths.input_audio(pair.stem),
            timeout=worker.ffmpeg_timeout_seconds,
            max_seconds=worker.max_audio_seconds,
        )
        if power_above_db(paths.input_audio(pair.stem), NARROW_BAND_HZ) < NARROW_BAND_DB:
            warn(
                f"{pair.recording.name}: nothing above 4 kHz was recorded (audio sampled at "
                "8 kHz, or a telephone line). Aligners trained on wideband speech, as the "
                "built-in engine is, place boundaries less accurately in such audio."
            )
        fitted = fit_to_duration(transcript, duration, pair.recording.name, warn)
        write_textgrid(fitted, duration, paths.input_textgrid(pair.stem))
        words = [word for interval in fitted.intervals for word in normalise_words(interval.text)]
        missing = lexicon.missing(words) if lexicon is not None else []
        missing_all.update(missing)
        entries.append(
            ManifestFile(
                stem=pair.stem,
                name=pair.recording.name,
                transcript=pair.transcript.name,
                duration_s=duration,
                words=len(words),
                missing_words=len(missing),
                tiers=[tier.name for tier in fitted.tiers],
                plain=fitted.plain,
            )
        )
    if user_dict_text is not None:
        atomic_write_bytes(paths.user_dict, user_dict_text.encode("utf-8"))
    manifest = Manifest(
        task_id=task_id,
        language=language.code,
        engine=engine,
        files=entries,
        missing_words=sorted(missing_all),
        has_user_dict=user_dict_text is not None,
        warnings=warnings,
    )
    manifest.save(paths)
    return manifest


def collect_uploads(paths: TaskPaths, max_files: int, max_bytes: int) -> list[Path]:
    """The uploaded files, with every zip among them extracted (see extract_zip)."""
    upload_dir = paths.upload_dir
    files: list[Path] = []
    unzipped = 0
    for entry in sorted(os.scandir(upload_dir), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            continue  # our own extraction folders, rebuilt below
        if not entry.is_file(follow_symlinks=False):
            raise BadInputError(f"{entry.name} is not a regular file; upload it again.")
        path = Path(entry.path)
        if classify(entry.name) is not FileKind.ZIP:
            files.append(path)
            continue
        dest = paths.unzipped_dir(entry.name)
        if dest.exists():
            shutil.rmtree(dest)
        extracted = extract_zip(path, dest, max_files, max_bytes)
        unzipped += sum(p.stat().st_size for p in extracted)
        files.extend(extracted)
    if len(files) > max_files:
        raise BadInputError(
            f"The upload holds {len(files)} files, more than the limit of {max_files}; split "
            "the batch into several uploads."
        )
    if unzipped > max_bytes:
        raise BadInputError(
            f"The zips unpack to more than {format_bytes(max_bytes)}; split the batch into "
            "several uploads."
        )
    return files


def _read_transcript(pair: Pair) -> Transcript:
    if pair.text is not None:
        return parse_plain(pair.text, pair.text_source or pair.transcript.name)
    return read_transcript(pair.transcript)


def _read_user_dictionary(path: Path | None) -> tuple[str | None, Lexicon | None]:
    if path is None:
        return None, None
    text = read_text(path)
    try:
        return text, parse_dictionary(text, source=path.name)
    except DictionaryError as exc:
        raise BadInputError(f"{exc}.") from None


def _lexicon(language: LanguageConfig, user: Lexicon | None) -> Lexicon | None:
    """The dictionary to count missing words against; None when the language has none on this
    machine (counting every word as missing would mislead)."""
    base = language_lexicon(language)
    if not base.entries:
        return None
    return base.merged(user) if user is not None else base


def _reset_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
