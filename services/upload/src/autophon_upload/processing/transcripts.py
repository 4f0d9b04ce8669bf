"""Reading any supported transcript file, and writing the normalised input TextGrid."""

from __future__ import annotations

import math
import re
from pathlib import Path

from praatio import textgrid as praatio_textgrid

from autophon_core.storage import atomic_path
from autophon_upload.processing.encoding import read_text
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.filetypes import FileKind, classify
from autophon_upload.processing.intervals import (
    PLAIN_TIER,
    Interval,
    Tier,
    Transcript,
    clean_text,
)
from autophon_upload.processing.tables import read_table
from autophon_upload.processing.textgrids import read_textgrid


def parse_plain(text: str, source: str) -> Transcript:
    """One utterance spanning the whole recording."""
    words = clean_text(text)
    if not words:
        raise BadInputError(f"{source} is empty: write the words spoken in the recording.")
    interval = Interval(0.0, math.inf, words, "text")
    return Transcript(source=source, tiers=[Tier(PLAIN_TIER, [interval])], plain=True)


def read_transcript(path: Path) -> Transcript:
    """A recording's own transcript (.TextGrid, .txt/.lab or a table), checked."""
    kind = classify(path.name)
    if kind is FileKind.TEXTGRID:
        return read_textgrid(path)
    if kind is FileKind.PLAIN_TEXT:
        return parse_plain(read_text(path), path.name)
    if kind is FileKind.TABLE:
        return read_table(path)
    raise ValueError(f"not a transcript: {path.name}")


# praatio's reader splits a TextGrid at every "item [", "intervals [" and "points [", also
# inside a label: a transcript holding one could not be read back.
_SECTION_RE = re.compile(r"(item|intervals|points)( ?)\[")


def _readable(text: str) -> str:
    """``text`` with the "[" of any "item [" (and the like) made "(": the words are the same."""
    return _SECTION_RE.sub(r"\1\2(", text)


def write_textgrid(transcript: Transcript, duration: float, path: Path) -> None:
    """The normalised input TextGrid: one interval tier per speaker in input order, holding the
    (fitted) intervals with text, blanks filled in, from 0 to the recording's duration."""
    grid = praatio_textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for tier in transcript.tiers:
        entries = [(i.start, min(i.end, duration), _readable(i.text)) for i in tier.intervals]
        grid.addTier(praatio_textgrid.IntervalTier(tier.name, entries, 0.0, duration))
    with atomic_path(path) as tmp:
        grid.save(
            str(tmp),
            format="long_textgrid",
            includeBlankSpaces=True,
            minimumIntervalLength=None,
            reportingMode="error",
        )
