"""Pairing recordings with their transcripts by file stem.

Stems are compared case-insensitively (``Fox.WAV`` pairs with ``fox.txt``): most users' systems
(Windows, macOS) treat such names as the same file, so the result zip could not hold two
TextGrids whose names differ only in case anyway. For the same reason two recordings whose stems
differ only in case are duplicates. A table not named after any recording is the batch's master
table (``file name, text`` per line) unless it looks like a misnamed table of intervals.
All problems found are reported together, so a user can fix a batch in one go.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from autophon_core.storage import UnsafeNameError, safe_name
from autophon_upload.processing.encoding import read_text
from autophon_upload.processing.errors import BadInputError, combine
from autophon_upload.processing.filetypes import (
    AUDIO_EXTENSIONS,
    FileKind,
    classify,
    extension,
    unsupported_message,
)
from autophon_upload.processing.tables import MasterRow, parse_master_table, table_kind


@dataclass(frozen=True)
class Pair:
    # Safe stem of the recording: input/<stem>.wav and input/<stem>.TextGrid.
    stem: str
    recording: Path
    # The transcript file (for a master-table line: the table).
    transcript: Path
    # Set for a master-table line: its text and where it is ("batch.tsv, line 3").
    text: str | None = None
    text_source: str | None = None


@dataclass(frozen=True)
class Pairing:
    pairs: list[Pair]
    dictionary: Path | None


def stem_of(name: str) -> str:
    """The safe stem of a file name (what input/<stem>.wav is named after)."""
    return safe_name(PurePath(name).stem)


def pair_files(files: Sequence[Path]) -> Pairing:
    """Pair uploaded files (zips already extracted). Raises one BadInputError listing every
    problem: unsupported files, duplicate names, recordings without transcripts, transcripts
    without recordings, bad master-table lines, several dictionaries."""
    problems: list[str] = []
    recordings: dict[str, list[Path]] = {}
    transcripts: dict[str, list[Path]] = {}
    dictionaries: list[Path] = []
    for path in sorted(files, key=lambda p: p.name.casefold()):
        kind = classify(path.name)
        if kind is FileKind.ZIP:
            raise ValueError(f"extract {path.name} before pairing")
        if kind is FileKind.JUNK:
            continue
        if kind is FileKind.UNSUPPORTED:
            problems.append(unsupported_message(path.name) or path.name)
            continue
        if kind is FileKind.DICTIONARY:
            dictionaries.append(path)
            continue
        try:
            key = stem_of(path.name).casefold()
        except UnsafeNameError:
            problems.append(f"{path.name} has no name before its extension; rename it.")
            continue
        group = recordings if kind is FileKind.AUDIO else transcripts
        group.setdefault(key, []).append(path)

    for same in recordings.values():
        if len(same) > 1:
            problems.append(
                f"{_and(same)} are recordings with the same name{_case_note(same)}; "
                "give each recording its own name."
            )
    for key, same in transcripts.items():
        if len(same) > 1 and key in recordings:
            problems.append(
                f"{recordings[key][0].name} has more than one transcript ({_and(same)}); keep one."
            )

    masters: list[Path] = []
    for key, same in transcripts.items():
        if key in recordings:
            continue
        for path in same:
            if classify(path.name) is FileKind.TABLE:
                problem = _master_candidate(path)
                if problem is None:
                    masters.append(path)
                else:
                    problems.append(problem)
            else:
                stem = stem_of(path.name)
                problems.append(
                    f"{path.name} has no recording: upload {stem}.wav (or another audio file "
                    f"named {stem}) alongside it, or leave {path.name} out."
                )
    if len(masters) > 1:
        problems.append(
            f"Only one table of file names and texts is allowed per batch, got {_and(masters)}."
        )

    from_master: dict[str, tuple[Path, MasterRow]] = {}
    if len(masters) == 1:
        from_master = _master_lines(masters[0], recordings, transcripts, problems)

    pairs: list[Pair] = []
    for key, same in recordings.items():
        recording = same[0]
        stem = stem_of(recording.name)
        if key in transcripts:
            pairs.append(Pair(stem, recording, transcripts[key][0]))
        elif key in from_master:
            table, row = from_master[key]
            pairs.append(Pair(stem, recording, table, row.text, f"{table.name}, line {row.line}"))
        else:
            problems.append(
                f"{recording.name} has no transcript: upload {stem}.txt, {stem}.lab or "
                f"{stem}.TextGrid alongside it."
            )
    if len(dictionaries) > 1:
        problems.append(
            f"Only one pronunciation dictionary is allowed per task, got {_and(dictionaries)}."
        )
    if not recordings and not problems:
        problems.append(
            "No recordings were uploaded: upload audio files (wav, mp3, flac...) together with "
            "their transcripts."
        )
    if problems:
        raise combine(problems)
    return Pairing(pairs, dictionaries[0] if dictionaries else None)


def _master_candidate(path: Path) -> str | None:
    """None if the unmatched table is a master table, else the problem to report."""
    try:
        kind = table_kind(read_text(path), path.name)
    except BadInputError as exc:
        return exc.message
    if kind == "master":
        return None
    stem = stem_of(path.name)
    return (
        f"{path.name} has no recording: name a table of intervals after its recording (for "
        f"{stem}.wav, {stem}{extension(path.name)}), or upload {stem}.wav alongside it."
    )


def _master_lines(
    table: Path,
    recordings: dict[str, list[Path]],
    transcripts: dict[str, list[Path]],
    problems: list[str],
) -> dict[str, tuple[Path, MasterRow]]:
    try:
        rows = parse_master_table(read_text(table), table.name)
    except BadInputError as exc:
        problems.append(exc.message)
        return {}
    found: dict[str, tuple[Path, MasterRow]] = {}
    for row in rows:
        where = f"{table.name}, line {row.line}"
        try:
            key = _row_stem(row.name).casefold()
        except UnsafeNameError:
            problems.append(f"{where}: {row.name[:40]!r} is not a file name.")
            continue
        if key not in recordings:
            problems.append(
                f"{where}: there is no recording named {row.name[:60]}; upload it or remove "
                "the line."
            )
        elif key in transcripts:
            problems.append(
                f"{recordings[key][0].name} has two transcripts ({transcripts[key][0].name} "
                f"and line {row.line} of {table.name}); keep one."
            )
        elif key in found:
            problems.append(
                f"{table.name}, lines {found[key][1].line} and {row.line} both give the text "
                f"of {recordings[key][0].name}; keep one."
            )
        else:
            found[key] = (table, row)
    return found


def _row_stem(name: str) -> str:
    """A master-table line names its recording with or without the audio extension."""
    base = safe_name(name)
    return stem_of(base) if extension(base) in AUDIO_EXTENSIONS else base


def _and(paths: Sequence[Path]) -> str:
    names = [p.name for p in paths]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _case_note(paths: Sequence[Path]) -> str:
    stems = {PurePath(p.name).stem for p in paths}
    if len(stems) > 1:
        return " (names differing only in upper and lower case count as the same)"
    return ""
