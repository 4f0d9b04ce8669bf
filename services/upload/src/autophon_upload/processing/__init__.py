"""File processing of the upload worker: unzip, pair, convert audio, read transcripts, count.

The API reuses :func:`extract_zip`, :func:`pair_files` and the extension constants to refuse
bad uploads early; the worker calls :func:`prepare_task`.
"""

from __future__ import annotations

from autophon_upload.processing.archive import extract_zip
from autophon_upload.processing.audio import convert_audio
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.filetypes import (
    AUDIO_EXTENSIONS,
    DICTIONARY_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    TRANSCRIPT_EXTENSIONS,
    ZIP_EXTENSIONS,
    FileKind,
    classify,
    unsupported_message,
)
from autophon_upload.processing.pairing import Pair, Pairing, pair_files
from autophon_upload.processing.prepare import collect_uploads, prepare_task

__all__ = [
    "AUDIO_EXTENSIONS",
    "DICTIONARY_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "TRANSCRIPT_EXTENSIONS",
    "ZIP_EXTENSIONS",
    "BadInputError",
    "FileKind",
    "Pair",
    "Pairing",
    "classify",
    "collect_uploads",
    "convert_audio",
    "extract_zip",
    "pair_files",
    "prepare_task",
    "unsupported_message",
]
