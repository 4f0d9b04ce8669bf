"""The transcript model shared by the readers, its checks, and fitting it to the audio."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from autophon_upload.processing.errors import BadInputError

# Boundaries are kept to 0.1 ms: finer is meaningless for utterances, and it keeps every time
# out of the scientific notation (1e-05) that praatio writes but cannot read back.
TIME_DECIMALS = 4
# Intervals may overrun the recording by this much without a warning (resampling, rounding).
OVERRUN_TOLERANCE_S = 0.1
# A TextGrid this much longer or shorter than its recording probably belongs to another one.
LENGTH_MISMATCH_S = 1.0
EPSILON = 1e-9

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Interval:
    start: float
    end: float  # math.inf for a plain-text transcript: until the end of the recording
    text: str
    # Where it came from, for messages: "line 3", "interval 2" (the tier is added when named).
    where: str


@dataclass
class Tier:
    name: str
    intervals: list[Interval] = field(default_factory=list)


@dataclass
class Transcript:
    source: str  # the transcript's file name
    tiers: list[Tier]
    # Plain text (or a table without tier names): output tiers are "words" and "phones".
    plain: bool
    # A TextGrid's own end time, to warn when it does not match its recording.
    xmax: float | None = None
    # Things the reader tolerated but the user should know (ignored point tiers...).
    warnings: list[str] = field(default_factory=list)

    @property
    def intervals(self) -> list[Interval]:
        return [interval for tier in self.tiers for interval in tier.intervals]


PLAIN_TIER = "text"


def clean_text(text: str) -> str:
    """One line of text: whitespace runs (newlines, tabs) become one space."""
    return re.sub(r"\s+", " ", text).strip()


def check_interval(where: str, start: float, end: float) -> None:
    """Times must be finite, non-negative and increasing; ``where`` prefixes the message."""
    if math.isnan(start) or math.isnan(end) or math.isinf(start) or end == -math.inf:
        raise BadInputError(f"{where}: times must be finite numbers of seconds.")
    if start < 0 or end < 0:
        bad = start if start < 0 else end
        raise BadInputError(
            f"{where}: times must not be negative (found {_num(bad)}); "
            "times are seconds from the start of the recording."
        )
    if end <= start:
        raise BadInputError(
            f"{where}: end ({_num(end)}) must be greater than start ({_num(start)})."
        )


def locate(transcript: Transcript, tier: Tier, interval: Interval, source: bool = True) -> str:
    """'fox.TextGrid, tier "A", interval 2' or 'fox.tsv, line 3'."""
    place = interval.where if transcript.plain else f'tier "{tier.name}", {interval.where}'
    return f"{transcript.source}, {place}" if source else place


def check_transcript(transcript: Transcript) -> Transcript:
    """Check every interval, sort each tier, and refuse overlaps within a tier and a
    transcript without any text. Returns the transcript with sorted tiers."""
    tiers = []
    for tier in transcript.tiers:
        for interval in tier.intervals:
            check_interval(locate(transcript, tier, interval), interval.start, interval.end)
        ordered = sorted(tier.intervals, key=lambda i: (i.start, i.end))
        for before, after in itertools.pairwise(ordered):
            if before.end > after.start + EPSILON:
                raise BadInputError(
                    f"{locate(transcript, tier, before)} ({_span(before)}) overlaps "
                    f"{after.where} ({_span(after)}); intervals of one speaker must not "
                    "overlap (put overlapping speech in separate tiers)."
                )
        tiers.append(Tier(tier.name, ordered))
    if not any(tier.intervals for tier in tiers):
        raise BadInputError(
            f"{transcript.source} contains no text: write the words spoken in the recording."
        )
    return replace(transcript, tiers=tiers)


def fit_to_duration(
    transcript: Transcript, duration: float, recording: str, warn: Warn
) -> Transcript:
    """Clip the (checked) transcript to the recording: intervals starting at or after its end
    are dropped, ends past it are cut, boundaries are rounded to TIME_DECIMALS."""
    source = transcript.source
    if transcript.xmax is not None and abs(transcript.xmax - duration) > LENGTH_MISMATCH_S:
        warn(
            f"{source} is {_num(transcript.xmax)} s long but {recording} is {_num(duration)} s; "
            "check that they belong together."
        )
    dropped: list[tuple[Tier, Interval]] = []
    cut: list[tuple[Tier, Interval]] = []
    tiers = []
    for tier in transcript.tiers:
        kept = []
        for interval in tier.intervals:
            start = round(interval.start, TIME_DECIMALS)
            end = min(round(interval.end, TIME_DECIMALS), duration)
            if start >= duration:
                dropped.append((tier, interval))
                continue
            if end - start <= EPSILON:
                continue  # shorter than 0.1 ms: nothing to align
            if math.isfinite(interval.end) and interval.end - duration > OVERRUN_TOLERANCE_S:
                cut.append((tier, interval))
            kept.append(replace(interval, start=start, end=end))
        tiers.append(Tier(tier.name, kept))
    if dropped:
        first_tier, first = dropped[0]
        warn(
            f"{source}: {_count(len(dropped), 'interval')} starting after the end of "
            f"{recording} ({_num(duration)} s) left out (the first: "
            f"{locate(transcript, first_tier, first, source=False)}, at {_num(first.start)} s)."
        )
    if cut:
        warn(
            f"{source}: {_count(len(cut), 'interval')} running past the end of {recording} "
            f"cut at {_num(duration)} s (the first: "
            f"{locate(transcript, cut[0][0], cut[0][1], source=False)})."
        )
    fitted = replace(transcript, tiers=tiers)
    if not fitted.intervals:
        raise BadInputError(
            f"{source} has no text within the {_num(duration)} s of {recording}; "
            "check that they belong together."
        )
    return fitted


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)


def _span(interval: Interval) -> str:
    return f"{_num(interval.start)}-{_num(interval.end)} s"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
