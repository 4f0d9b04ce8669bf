"""Which uploaded files are what, by extension (case-insensitive). The API reuses these to
refuse unsupported files before storing them."""

from __future__ import annotations

import enum
from pathlib import PurePath

# The original AutoPhon's list; anything ffmpeg reads is converted, whatever the extension.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".mp3", ".flac", ".ogg", ".m4a", ".alac", ".opus", ".wma", ".aif", ".aiff"}
    | {".aac", ".ac3", ".m4r"}
)
TEXTGRID_EXTENSIONS = frozenset({".textgrid"})
PLAIN_TEXT_EXTENSIONS = frozenset({".txt", ".lab"})
TABLE_EXTENSIONS = frozenset({".tsv", ".csv"})
TRANSCRIPT_EXTENSIONS = TEXTGRID_EXTENSIONS | PLAIN_TEXT_EXTENSIONS | TABLE_EXTENSIONS
DICTIONARY_EXTENSIONS = frozenset({".dict"})
ZIP_EXTENSIONS = frozenset({".zip"})
SUPPORTED_EXTENSIONS = (
    AUDIO_EXTENSIONS | TRANSCRIPT_EXTENSIONS | DICTIONARY_EXTENSIONS | ZIP_EXTENSIONS
)
# Archives we do not open, named so the message can say "use a zip".
OTHER_ARCHIVE_EXTENSIONS = frozenset({".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2", ".xz"})
WORD_PROCESSOR_EXTENSIONS = frozenset({".doc", ".docx", ".rtf", ".odt", ".pages"})
# Clutter some systems add when a folder is uploaded; ignored, not refused.
JUNK_NAMES = frozenset({".ds_store", "ds_store", "thumbs.db", "desktop.ini"})


class FileKind(enum.Enum):
    AUDIO = "audio"
    TEXTGRID = "textgrid"
    PLAIN_TEXT = "plain text"
    TABLE = "table"
    DICTIONARY = "dictionary"
    ZIP = "zip"
    JUNK = "junk"
    UNSUPPORTED = "unsupported"


_KINDS = (
    (AUDIO_EXTENSIONS, FileKind.AUDIO),
    (TEXTGRID_EXTENSIONS, FileKind.TEXTGRID),
    (PLAIN_TEXT_EXTENSIONS, FileKind.PLAIN_TEXT),
    (TABLE_EXTENSIONS, FileKind.TABLE),
    (DICTIONARY_EXTENSIONS, FileKind.DICTIONARY),
    (ZIP_EXTENSIONS, FileKind.ZIP),
)


def extension(name: str) -> str:
    return PurePath(name).suffix.lower()


def classify(name: str) -> FileKind:
    if name.casefold() in JUNK_NAMES:
        return FileKind.JUNK
    ext = extension(name)
    for extensions, kind in _KINDS:
        if ext in extensions:
            return kind
    return FileKind.UNSUPPORTED


def unsupported_message(name: str) -> str | None:
    """None for a supported (or ignorable) file, else a sentence telling the user what to do."""
    if classify(name) is not FileKind.UNSUPPORTED:
        return None
    ext = extension(name)
    if ext in OTHER_ARCHIVE_EXTENSIONS:
        return f"{name} is not a zip archive; put the files in a .zip instead."
    if ext in WORD_PROCESSOR_EXTENSIONS:
        return f"{name} is a word-processor document; save the transcript as plain text (.txt)."
    audio = ", ".join(sorted(e.lstrip(".") for e in AUDIO_EXTENSIONS))
    return (
        f"{name} is not a supported file type: upload recordings ({audio}), their "
        "transcripts (.TextGrid, .txt, .lab, .tsv or .csv) and optionally one pronunciation "
        "dictionary (.dict), or a .zip of these."
    )
