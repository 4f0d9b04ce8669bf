"""Decoding of uploaded text files (transcripts, tables, dictionaries).

Accepted: UTF-8 with or without a BOM, UTF-16 with a BOM (what Praat writes for non-ASCII
TextGrids) and BOM-less UTF-16 recognised by its NUL bytes. Anything else is refused rather than
guessed, since a wrong guess silently corrupts the words to align.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from autophon_upload.processing.errors import BadInputError

# Larger "transcripts" are almost certainly something else (and would be read into memory).
MAX_TEXT_BYTES = 50 * 1024 * 1024


def decode_text(data: bytes, name: str) -> str:
    """The text of an uploaded file, with newlines normalised to ``\\n``."""
    if data.startswith(codecs.BOM_UTF8):
        text = _decode(data[len(codecs.BOM_UTF8) :], "utf-8", name)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _decode(data, "utf-16", name)
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            guess = _bomless_utf16(data)
            if guess is None:
                raise _encoding_error(name) from None
            text = _decode(data, guess, name)
    if "\x00" in text:
        raise BadInputError(f"{name} contains NUL characters; it does not look like a text file.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise BadInputError(
            f"{path.name} is {size // (1024 * 1024)} MB, too large for a transcript "
            f"(at most {MAX_TEXT_BYTES // (1024 * 1024)} MB)."
        )
    return decode_text(path.read_bytes(), path.name)


def _decode(data: bytes, encoding: str, name: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise _encoding_error(name) from None


def _bomless_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM, recognised by NUL bytes in every other position (ASCII-heavy)."""
    if len(data) < 4 or len(data) % 2:
        return None
    even, odd = data[0::2], data[1::2]
    if odd.count(0) > 0.3 * len(odd) and even.count(0) == 0:
        return "utf-16-le"
    if even.count(0) > 0.3 * len(even) and odd.count(0) == 0:
        return "utf-16-be"
    return None


def _encoding_error(name: str) -> BadInputError:
    return BadInputError(
        f"{name} is not UTF-8 or UTF-16 text: save it as UTF-8 (in Praat: Preferences > "
        "Text writing preferences > UTF-8) and upload it again."
    )
