"""TextGrids in and out of the runner: the normalised input (speaker tiers holding
utterances) and the result (word and phone tiers per speaker), both through praatio."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from praatio import textgrid as praatio_textgrid
from praatio.utilities.errors import PraatioException

from autophon_align.engines.base import AlignedWord, Interval, Utterance
from autophon_core.lexicon import normalise_words

# Times are written with this many decimals (0.1 ms), so no rounding noise in the files.
DECIMALS = 4


class TextGridError(ValueError):
    """A TextGrid that cannot be read or lacks a tier; the message names the tier."""


def read_tiers(path: Path) -> dict[str, list[Interval]]:
    """Every interval tier's labelled intervals, by tier name (in file order)."""
    try:
        grid = praatio_textgrid.openTextgrid(
            str(path), includeEmptyIntervals=False, duplicateNamesMode="rename"
        )
    except (OSError, ValueError, PraatioException) as exc:
        raise TextGridError(f"cannot read {path.name}: {exc}") from exc
    tiers: dict[str, list[Interval]] = {}
    for name in grid.tierNames:
        tier = grid.getTier(name)
        if isinstance(tier, praatio_textgrid.IntervalTier):
            tiers[name] = [Interval(e.start, e.end, e.label) for e in tier.entries]
    return tiers


def read_utterances(
    path: Path, tier_names: Sequence[str], duration: float, plain: bool
) -> list[Utterance]:
    """The utterances of the input tiers ``tier_names``, in tier order then time order, each
    clipped to the recording; intervals with no words are skipped. For a plain transcript,
    ``speaker`` is "" and the first tier is used whatever its name."""
    tiers = read_tiers(path)
    if plain:
        if not tiers:
            raise TextGridError(f"{path.name} has no interval tier")
        selected = [("", next(iter(tiers.values())))]
    else:
        missing = [name for name in tier_names if name not in tiers]
        if missing:
            raise TextGridError(f'{path.name} has no tier named "{missing[0]}"')
        selected = [(name, tiers[name]) for name in tier_names]
    utterances = []
    for speaker, intervals in selected:
        for interval in sorted(intervals, key=lambda i: i.start):
            words = normalise_words(interval.label)
            start, end = max(0.0, interval.start), min(duration, interval.end)
            if words and end > start:
                utterances.append(Utterance(start, end, " ".join(words), speaker))
    return utterances


def output_tier_names(tier: str, plain: bool) -> tuple[str, str]:
    """Per DESIGN.md: "words"/"phones" for a plain transcript, else "<tier> - words"/...."""
    return ("words", "phones") if plain else (f"{tier} - words", f"{tier} - phones")


def write_alignment(
    path: Path,
    words: Sequence[AlignedWord],
    speakers: Sequence[str],
    duration: float,
    plain: bool,
) -> None:
    """The result TextGrid: for each speaker in order a words tier and a phones tier, from 0
    to ``duration``, pauses as empty intervals. A plain transcript has the one speaker ""."""
    grid = praatio_textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for speaker in speakers:
        own = [w for w in words if w.speaker == speaker]
        word_tier, phone_tier = output_tier_names(speaker, plain)
        word_entries = _entries([(w.start, w.end, w.label) for w in own], duration)
        phone_entries = _entries(
            [(p.start, p.end, p.label) for w in own for p in w.phones], duration
        )
        grid.addTier(praatio_textgrid.IntervalTier(word_tier, word_entries, 0.0, duration))
        grid.addTier(praatio_textgrid.IntervalTier(phone_tier, phone_entries, 0.0, duration))
    grid.save(
        str(path),
        format="long_textgrid",
        includeBlankSpaces=True,
        minTimestamp=0.0,
        maxTimestamp=duration,
        minimumIntervalLength=None,
        reportingMode="error",
    )


def _entries(
    intervals: Sequence[tuple[float, float, str]], duration: float
) -> list[tuple[float, float, str]]:
    """Sorted, rounded, clipped to the recording, overlaps cut at the later start, and
    intervals that vanish dropped. Clipped after rounding: a recording's duration need not be
    a whole number of DECIMALS, and a time rounded up past it would not fit in the grid."""
    entries: list[tuple[float, float, str]] = []
    for start, end, label in sorted(intervals):
        start = min(max(round(start, DECIMALS), 0.0), duration)
        end = min(max(round(end, DECIMALS), 0.0), duration)
        if entries and start < entries[-1][1]:
            previous = entries.pop()
            if start > previous[0]:
                entries.append((previous[0], start, previous[2]))
        if end > start:
            entries.append((start, end, label))
    return entries
