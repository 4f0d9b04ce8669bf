"""Cutting a long utterance into chunks at its pauses, so that the phone pass stays small.

The phone pass of pocketsphinx (``set_alignment``, state_align_search) keeps every HMM state
of every frame of what it aligns: its memory grows with the square of the length (about
2 GiB at 5 minutes of speech, and past ~14 minutes the count overflows a 32-bit int). The
word pass is smaller, and done window by window it is linear in time and memory. So a long
utterance is aligned in three steps: a word pass over all of it finds where the words and
pauses are; it is cut in the
middle of pauses into chunks of at most ``MAX_CHUNK_SECONDS``; each chunk is aligned on its
own (word and phone pass), with its own words. A cut lies inside a pause, so both words
beside it keep a stretch of pause around them, as they would without a cut.

The word pass can also put a pause where there is speech (espeak-ng's Scottish voice: the
vowel of "early" after "arrived", 0.16 s at full level, lay in a 0.5 s gap); a cut there
took the vowel from the word, which the phone pass could not give back. So a cut goes in a gap
whose middle is quiet (``quiet``, from the signal) where the window has one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# Utterances longer than this (s) are cut into chunks; chunks are at most this long. The phone
# pass's time grows faster than the length too: on 5 minutes of speech, chunks of at most
# 15 s took 15 s of phone passes, of 30 s 35 s, of 60 s 28 s and 230 MiB; the accuracy was
# the same.
MAX_CHUNK_SECONDS = 15.0
# A cut is looked for in the second half of the allowed length: chunks are 7.5-15 s.
# Utterances up to this long (s) are aligned whole (phone pass under ~150 MiB): each chunk has
# its own cepstral mean, estimated on less speech, and on a 28 s recording the whole one was
# 3 points better within 20 ms.
WHOLE_UP_TO_SECONDS = 60.0
# The word pass over a long utterance goes in windows of this length (s): one grammar over
# all of it costs time with the square of the length (pocketsphinx_worker._word_spans).
WORD_WINDOW_SECONDS = 60.0
MIN_CHUNK_FRACTION = 0.5


@dataclass(frozen=True)
class Gap:
    """The stretch between word ``words_before - 1`` and word ``words_before`` (s); zero
    long when the two words touch."""

    start: float
    end: float
    words_before: int

    @property
    def length(self) -> float:
        return self.end - self.start

    @property
    def middle(self) -> float:
        return (self.start + self.end) / 2


@dataclass(frozen=True)
class Chunk:
    """Seconds from the utterance's start, and the words ``first:last`` it holds."""

    start: float
    end: float
    first: int
    last: int


def gaps_between(words: Sequence[tuple[float, float]]) -> list[Gap]:
    """The gaps between consecutive words, given each word's (start, end)."""
    return [Gap(min(words[i - 1][1], words[i][0]), words[i][0], i) for i in range(1, len(words))]


def plan_chunks(
    duration: float,
    words: int,
    gaps: Sequence[Gap],
    max_seconds: float = MAX_CHUNK_SECONDS,
    quiet: Callable[[Gap], bool] = lambda gap: True,
) -> list[Chunk]:
    """Chunks covering [0, duration] and all ``words``, cut in the middle of the longest gap
    found between half of ``max_seconds`` and ``max_seconds`` after the previous cut (the
    latest of equally long ones), of the ``quiet`` ones there when there are any. Where there
    is no gap in that window (a very long word), the first gap after it is taken."""
    chunks: list[Chunk] = []
    start, first = 0.0, 0
    ordered = sorted(gaps, key=lambda g: g.words_before)
    while duration - start > max_seconds:
        later = [g for g in ordered if g.words_before > first and g.middle > start]
        window = [
            g
            for g in later
            if start + MIN_CHUNK_FRACTION * max_seconds <= g.middle <= start + max_seconds
        ]
        if window:
            quiet_ones = [g for g in window if quiet(g)]
            cut = max(quiet_ones or window, key=lambda g: (round(g.length, 3), g.middle))
        else:
            beyond = [g for g in later if g.middle > start + max_seconds]
            if not beyond:
                break
            cut = beyond[0]
        chunks.append(Chunk(start, cut.middle, first, cut.words_before))
        start, first = cut.middle, cut.words_before
    chunks.append(Chunk(start, duration, first, words))
    return chunks
