"""Tab-separated (or, for .csv, comma-separated) transcript tables.

A table per recording holds one interval per line: ``start end text`` (one speaker, treated
like plain text) or ``tier start end text`` (one tier per distinct tier name, in order of first
appearance). A master table for the whole batch holds ``file name, text`` per line, each line
a plain-text transcript for the recording it names. An optional header line is skipped when it
is recognisably one ("start", "end", "text", "filename"...). Times are seconds; a decimal comma
(``1,5``) is accepted in tab-separated tables, as spreadsheets in many locales write it.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from autophon_upload.processing.encoding import read_text
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.intervals import (
    PLAIN_TIER,
    Interval,
    Tier,
    Transcript,
    check_interval,
    check_transcript,
    clean_text,
)

TABLE_HEADER_WORDS = frozenset(
    {"start", "begin", "end", "stop", "xmin", "xmax", "tmin", "tmax", "onset", "offset"}
    | {"from", "to", "time", "starttime", "endtime", "tier", "speaker", "text", "label"}
    | {"transcript", "transcription", "utterance", "sentence"}
)
MASTER_HEADER_WORDS = frozenset(
    {"file", "filename", "name", "recording", "audio", "wav", "sound", "soundfile", "audiofile"}
)
_NUMBER_RE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DECIMAL_COMMA_RE = re.compile(r"[+-]?\d+,\d+")


@dataclass(frozen=True)
class Row:
    line: int
    fields: list[str]


@dataclass(frozen=True)
class MasterRow:
    line: int
    name: str  # the recording as written in the table ("fox.wav" or "fox")
    text: str


@dataclass(frozen=True)
class _Table:
    rows: list[Row]
    delimiter: str

    @property
    def separator(self) -> str:
        return "tabs" if self.delimiter == "\t" else "commas"


def read_table(path: Path) -> Transcript:
    return parse_table(read_text(path), path.name)


def read_master_table(path: Path) -> list[MasterRow]:
    return parse_master_table(read_text(path), path.name)


def table_kind(text: str, source: str) -> Literal["intervals", "master"]:
    """Whether a table not named after a recording is a master table or a misnamed table of
    intervals (its first line has times in columns 1-2 or 2-3, or a header like "start")."""
    table = _split(text, source)
    if not table.rows:
        return "master"
    fields = table.rows[0].fields
    if _is_table_header(fields) and not _is_header(fields, MASTER_HEADER_WORDS):
        return "intervals"
    decimal_comma = table.delimiter == "\t"
    for first in (0, 1):
        pair = fields[first : first + 2]
        if len(fields) >= 3 and all(_number(f, decimal_comma) is not None for f in pair):
            return "intervals"
    return "master"


def parse_table(text: str, source: str) -> Transcript:
    table = _split(text, source)
    rows = table.rows
    if rows and _is_table_header(rows[0].fields):
        rows = rows[1:]
    if not rows:
        raise BadInputError(f"{source} is empty: write one interval per line (start, end, text).")
    # The first line decides, unless its empty text dropped a column (1.0<TAB>2.0<TAB>).
    widest = rows[0] if len(rows[0].fields) in (3, 4) else max(rows, key=lambda r: len(r.fields))
    columns = len(widest.fields)
    decimal_comma = table.delimiter == "\t"
    if columns == 2 and all(_number(f, decimal_comma) is not None for f in widest.fields):
        columns = 3  # only times, every text empty: reported as "contains no text" below
    if columns not in (3, 4):
        hint = (
            "; a table of file names and texts for the whole batch must not be named after a "
            "recording"
            if columns == 2
            else ""
        )
        raise BadInputError(
            f"{source}, line {widest.line}: expected 3 columns (start, end, text) or 4 (tier, "
            f"start, end, text) separated by {table.separator}, found {columns}{hint}."
        )
    tiers: dict[str, Tier] = {}
    for row in rows:
        fields = [*row.fields, ""] if len(row.fields) == columns - 1 else row.fields
        where = f"{source}, line {row.line}"
        if len(fields) != columns:
            raise BadInputError(
                f"{where}: expected {columns} columns separated by {table.separator} like "
                f"line {widest.line}, found {len(row.fields)}."
            )
        tier_name = clean_text(fields[0]) if columns == 4 else PLAIN_TIER
        if not tier_name:
            raise BadInputError(f"{where}: the tier name (column 1) is empty.")
        first = columns - 3
        start = _number(fields[first], decimal_comma)
        end = _number(fields[first + 1], decimal_comma)
        if start is None or end is None:
            raise BadInputError(
                f"{where}: start and end (columns {first + 1} and {first + 2}) must be numbers "
                f"of seconds, got {_quote(fields[first])} and {_quote(fields[first + 1])}."
            )
        check_interval(where, start, end)
        tier = tiers.setdefault(tier_name, Tier(tier_name))
        text_value = clean_text(fields[-1])
        if text_value:
            tier.intervals.append(Interval(start, end, text_value, f"line {row.line}"))
    transcript = Transcript(source=source, tiers=list(tiers.values()), plain=columns == 3)
    return check_transcript(transcript)


def parse_master_table(text: str, source: str) -> list[MasterRow]:
    table = _split(text, source)
    rows = table.rows
    if rows and _is_header(rows[0].fields[:1], MASTER_HEADER_WORDS):
        rows = rows[1:]
    if not rows:
        raise BadInputError(
            f"{source} is empty: write one line per recording, its file name and its text."
        )
    result = []
    for row in rows:
        where = f"{source}, line {row.line}"
        name = row.fields[0].strip()
        text_value = clean_text(table.delimiter.join(row.fields[1:]))
        if not name:
            raise BadInputError(f"{where}: the file name (column 1) is empty.")
        if not text_value:
            raise BadInputError(
                f"{where}: the text for {_quote(name)} is empty; write the file name, a "
                f"{'tab' if table.delimiter == chr(9) else 'comma'} and the words spoken."
            )
        result.append(MasterRow(row.line, name, text_value))
    return result


def _split(text: str, source: str) -> _Table:
    """Non-blank rows with stripped fields (trailing empty fields dropped)."""
    delimiter = "\t" if "\t" in text or not source.lower().endswith(".csv") else ","
    rows: list[Row] = []
    if delimiter == "\t":
        records = [(number, line.split("\t")) for number, line in enumerate(text.split("\n"), 1)]
    else:
        records = _csv_records(text, source)
    for number, raw in records:
        fields = [field.strip() for field in raw]
        while fields and not fields[-1]:
            fields.pop()
        if fields:
            rows.append(Row(number, fields))
    return _Table(rows, delimiter)


def _csv_records(text: str, source: str) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    records = []
    try:
        for fields in reader:
            records.append((reader.line_num, fields))
    except csv.Error as exc:
        raise BadInputError(
            f"{source}, line {reader.line_num}: not a valid comma-separated line ({exc})."
        ) from None
    return records


def _is_table_header(fields: list[str]) -> bool:
    """A header names the columns and holds no number (a data line always has two)."""
    numbers = [f for f in fields if _number(f, decimal_comma=True) is not None]
    return not numbers and _is_header(fields, TABLE_HEADER_WORDS)


def _is_header(fields: list[str], words: frozenset[str]) -> bool:
    return any(re.sub(r"[\s_-]+", "", field.casefold()) in words for field in fields)


def _number(raw: str, decimal_comma: bool) -> float | None:
    value = raw.strip()
    if decimal_comma and _DECIMAL_COMMA_RE.fullmatch(value):
        value = value.replace(",", ".")
    if not _NUMBER_RE.fullmatch(value):
        return None
    return float(value)


def _quote(value: str) -> str:
    return repr(value if len(value) <= 30 else value[:27] + "...")
