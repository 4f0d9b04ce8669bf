"""Reading Praat TextGrids (long and short text formats) with praatio.

praatio 6's parser is used for the format itself, with three of its gaps closed here: the file
is decoded by us (praatio's own open guesses UTF-16 first and misreads BOM-less UTF-8), the long
format is normalised first (praatio drops the minus sign of negative times, cannot read
``1e-05`` and wants exactly one space around ``=``), and any parser failure becomes one
BadInputError instead of whatever praatio happened to raise.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from praatio.utilities import errors as praatio_errors
from praatio.utilities import textgrid_io

from autophon_upload.processing.encoding import read_text
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.intervals import (
    Interval,
    Tier,
    Transcript,
    check_transcript,
    clean_text,
)

_HEADER_RE = re.compile(
    r'\A\s*File\s+type\s*=\s*"ooTextFile(?:\s+short)?"\s*\n\s*Object\s+class\s*=\s*"([^"\n]*)"'
    r"[ \t]*\n(?:[ \t]*\n)*"
)
_NUMBER_FIELD_RE = re.compile(r"(?m)^([ \t]*)(xmin|xmax|number)[ \t]*=[ \t]*(\S+)[ \t]*$")
_STRING_FIELD_RE = re.compile(r'(?m)^([ \t]*)(class|name|text|mark)[ \t]*=[ \t]*"')
# What praatio raises on malformed text (it has no single parse error).
_PARSE_FAILURES = (
    praatio_errors.PraatioException,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    AttributeError,
)


def read_textgrid(path: Path) -> Transcript:
    return parse_textgrid(read_text(path), path.name)


def parse_textgrid(text: str, source: str) -> Transcript:
    """The interval tiers of a TextGrid as a checked Transcript; point tiers are ignored with
    a warning; intervals without text are dropped."""
    body, header_lines = _strip_header(text, source)
    long_format = "item [" in body or "item[" in body
    if long_format:
        body = _normalise_long_format(body, source, header_lines)
    data = 'File type = "ooTextFile"\nObject class = "TextGrid"\n\n' + body
    if not data.endswith("\n"):
        data += "\n"
    try:
        if long_format:
            parsed = textgrid_io.parseTextgridStr(data, includeEmptyIntervals=True)
        else:
            parsed = _parse_short_format(body)
        xmax = float(parsed["xmax"])
        raw_tiers = list(parsed["tiers"])
    except _PARSE_FAILURES:
        raise BadInputError(
            f"{source} could not be read as a Praat TextGrid; open it in Praat and save it "
            "again with Save as text file."
        ) from None
    return check_transcript(_to_transcript(raw_tiers, xmax, source))


_TOKEN_RE = re.compile(r'"((?:[^"]|"")*)"|(\S+)')


def _parse_short_format(body: str) -> dict[str, Any]:
    """The short text format read as Praat reads it, one value after the other (praatio's
    reader splits the file at every "IntervalTier" it finds, labels included, and silently
    drops tiers). Returns praatio's dict shape; raises ValueError or IndexError when the
    values do not fit the format."""
    tokens = [
        (match[1].replace('""', '"'), True) if match[1] is not None else (match[2], False)
        for match in _TOKEN_RE.finditer(body)
    ]
    position = 0

    def take(text: bool = False) -> str:
        nonlocal position
        value, quoted = tokens[position]
        position += 1
        if quoted != text:
            raise ValueError(f"expected {'a text' if text else 'a number'}, got {value[:20]!r}")
        return value

    parsed: dict[str, Any] = {"xmin": float(take()), "xmax": float(take()), "tiers": []}
    flag = take()
    if flag == "<absent>":
        count = 0
    elif flag == "<exists>":
        count = int(take())
    else:
        raise ValueError(f"expected <exists> or <absent>, got {flag[:20]!r}")
    for _ in range(count):
        kind, name = take(text=True), take(text=True)
        if kind not in ("IntervalTier", "TextTier"):
            raise ValueError(f"unknown tier class {kind[:20]!r}")
        xmin, xmax, size = float(take()), float(take()), int(take())
        entries: list[tuple[Any, ...]] = []
        for _ in range(size):
            if kind == "IntervalTier":
                entries.append((float(take()), float(take()), take(text=True)))
            else:
                entries.append((float(take()), take(text=True)))
        parsed["tiers"].append(
            {"class": kind, "name": name, "xmin": xmin, "xmax": xmax, "entries": entries}
        )
    if position != len(tokens):
        raise ValueError("unexpected values after the last tier")
    return parsed


def _strip_header(text: str, source: str) -> tuple[str, int]:
    """The text after the header, and the number of lines the header took."""
    match = _HEADER_RE.match(text)
    if match is None:
        if "ooBinaryFile" in text[:100]:
            raise BadInputError(
                f"{source} is a binary TextGrid; save it from Praat with Save as text file."
            )
        raise BadInputError(
            f'{source} is not a Praat TextGrid (it should begin with File type = "ooTextFile" '
            'and Object class = "TextGrid"); save it from Praat with Save as text file.'
        )
    if match.group(1) != "TextGrid":
        raise BadInputError(
            f"{source} holds a Praat {match.group(1)[:40]}, not a TextGrid; upload the "
            "TextGrid that goes with the recording."
        )
    return text[match.end() :], text.count("\n", 0, match.end())


def _normalise_long_format(body: str, source: str, header_lines: int) -> str:
    def number(match: re.Match[str]) -> str:
        indent, key, raw = match.groups()
        try:
            value = float(raw)
        except ValueError:
            return match.group(0)  # praatio will refuse it
        if value < 0:
            line = header_lines + body.count("\n", 0, match.start()) + 1
            raise BadInputError(
                f"{source}, line {line}: times must not be negative (found {key} = {raw[:20]}); "
                "times are seconds from the start of the recording."
            )
        if "e" in raw.lower():
            raw = f"{value:.10f}".rstrip("0").rstrip(".") or "0"
        return f"{indent}{key} = {raw}"

    body = _NUMBER_FIELD_RE.sub(number, body)
    return _STRING_FIELD_RE.sub(lambda m: f'{m.group(1)}{m.group(2)} = "', body)


def _to_transcript(raw_tiers: list[dict[str, Any]], xmax: float, source: str) -> Transcript:
    tiers: list[Tier] = []
    warnings: list[str] = []
    names: set[str] = set()
    for number, raw in enumerate(raw_tiers, start=1):
        name = clean_text(str(raw["name"]))
        if raw["class"] != "IntervalTier":
            warnings.append(
                f'{source}: point tier "{name}" ignored (only interval tiers are aligned).'
            )
            continue
        if not name:
            name = f"Tier {number}"
            warnings.append(f'{source}: tier {number} has no name; it was called "{name}".')
        if name in names:
            raise BadInputError(
                f'{source} has two tiers named "{name}"; give each speaker tier its own name.'
            )
        names.add(name)
        intervals = []
        for index, (start, end, label) in enumerate(raw["entries"], start=1):
            text = clean_text(str(label))
            if text:
                where = f"interval {index}"
                intervals.append(
                    Interval(
                        _time(start, source, name, where),
                        _time(end, source, name, where),
                        text,
                        where,
                    )
                )
        tiers.append(Tier(name, intervals))
    if not tiers:
        raise BadInputError(
            f"{source} has no interval tiers: put each speaker's utterances in an interval "
            "tier (point tiers cannot be aligned)."
        )
    return Transcript(source=source, tiers=tiers, plain=False, xmax=xmax, warnings=warnings)


def _time(value: object, source: str, tier: str, where: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadInputError(
            f'{source}, tier "{tier}", {where}: times must be numbers of seconds.'
        ) from None
