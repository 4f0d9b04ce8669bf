"""Synthetic test speech: espeak-ng's word timings are complete, ordered and repeatable, and
an MBROLA voice's are the durations MBROLA was given."""

from __future__ import annotations

import itertools
import math
import wave
from array import array
from pathlib import Path

import pytest

from autophon_core.lexicon import normalise_words
from bench.speech import (
    BREATH_GAP_SECONDS,
    RATE,
    WORDS_PER_MINUTE,
    Speech,
    Timed,
    boundary_errors,
    mbrola_available,
    mbrola_durations,
    record,
    with_breaths,
)

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


def test_a_pause_phoneme_inside_a_word_does_not_end_it(tmp_path: Path) -> None:
    # espeak-ng's Polish voice breaks "Wiśniewski" after its "nie" with an 18 ms pause
    # phoneme, "_"; the word runs on to the next word's event, with all its phones.
    text = "Profesor Wiśniewski wygłosił"
    timings = record(text, "pl", tmp_path / "a.wav", words_per_minute=WORDS_PER_MINUTE)
    name, following = timings[1], timings[2]
    assert name.label == "Wiśniewski"
    assert name.end == following.start
    assert len(name.phones) >= 8 and name.phones[-1].end == name.end


def test_an_mbrola_voice_is_timed_by_the_durations_mbrola_was_given(tmp_path: Path) -> None:
    if missing := mbrola_available():
        pytest.skip(missing)
    text = "Hello there, this is a typical test of stress."
    timings = record(text, "mb-us1", tmp_path / "a.wav")
    assert [t.label for t in timings] == text.split()
    with wave.open(str(tmp_path / "a.wav"), "rb") as audio:
        assert audio.getframerate() == 16000  # MBROLA's rate, not espeak-ng's 22050
    # What espeak-ng hands MBROLA, from time 0 (the events alone are 3 ms off after the pause).
    durations = mbrola_durations(text, "mb-us1", WORDS_PER_MINUTE)
    boundaries = [t / 1000 for t in itertools.accumulate(durations)]
    edges = [edge for t in timings for p in t.phones for edge in (p.start, p.end)]
    assert all(min(abs(edge - b) for b in [0.0, *boundaries]) < 1e-3 for edge in edges), edges


@pytest.mark.parametrize("seed", range(4))
def test_a_breath_lies_in_a_long_pause_a_gap_from_the_word_beside_it(seed: int) -> None:
    """Two words (tones) with a 0.8 s pause between them and 0.2 s after: one breath, in the
    pause between them, BREATH_GAP_SECONDS from the word whose edge ``with_breaths`` names."""
    tone = [round(8000 * math.sin(i * 0.3)) for i in range(round(0.6 * RATE))]
    silence = [0] * round(0.8 * RATE)
    samples = array("h", tone + silence + tone + [0] * round(0.2 * RATE))
    words = [Timed("a", 0.0, 0.6), Timed("b", 1.4, 2.0)]
    breathed, beside = with_breaths(Speech(samples, words), 15, seed=seed)
    heard = [i / RATE for i, x in enumerate(breathed.samples) if x != samples[i]]
    assert beside in ([1], [2])
    gap = heard[0] - 0.6 if beside == [1] else 1.4 - heard[-1]
    assert min(BREATH_GAP_SECONDS) - 0.001 <= gap <= max(BREATH_GAP_SECONDS) + 0.001
    assert heard[0] > 0.6 and heard[-1] < 1.4
