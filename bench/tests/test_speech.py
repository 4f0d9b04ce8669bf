"""Synthetic test speech: espeak-ng's word timings are complete, ordered and repeatable."""

from __future__ import annotations

import itertools
import wave
from pathlib import Path

import pytest

from autophon_core.lexicon import normalise_words
from bench.speech import boundary_errors, record

TEXT = "The North Wind and the Sun were disputing which was the stronger."


def test_word_timings_cover_the_text_in_order(tmp_path: Path) -> None:
    timings = record(TEXT, "en-us", tmp_path / "a.wav", words_per_minute=160)
    # espeak-ng speaks "was the" as one word: a group with its first start and last end.
    assert [w for t in timings for w in t.words] == normalise_words(TEXT)
    assert any(len(t.words) > 1 for t in timings)
    with wave.open(str(tmp_path / "a.wav"), "rb") as audio:
        duration = audio.getnframes() / audio.getframerate()
    assert all(0 <= t.start < t.end <= duration for t in timings)
    assert all(a.end <= b.start for a, b in itertools.pairwise(timings))
    # The same text makes the same recording (each synthesis runs in a fresh process).
    assert record(TEXT, "en-us", tmp_path / "b.wav", words_per_minute=160) == timings
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()


def test_boundary_errors_compare_known_boundaries_only(tmp_path: Path) -> None:
    timings = record("hello there, general", "en-us", tmp_path / "a.wav", words_per_minute=160)
    aligned = [(t.start, t.end, t.label) for t in timings]
    assert boundary_errors(timings, aligned) == [0.0] * 2 * len(timings)
    shifted = [(start + 0.03, end, word) for start, end, word in aligned]
    assert boundary_errors(timings, shifted)[0] == pytest.approx(0.03)
    with pytest.raises(ValueError, match="words expected"):
        boundary_errors(timings, aligned[:-1])
