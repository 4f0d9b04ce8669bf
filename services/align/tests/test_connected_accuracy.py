"""Boundary accuracy on connected speech with exact times (bench/speech.py: espeak-ng's own
word and phone times), through the upload processing and the runner as a task goes.

Floors sit a few points under what the built-in engine measured (clean 87.5 %, 20 dB 82.9 %,
10 dB 74.3 %, two speakers 89.5 % of word edges within 20 ms; README, Performance; ``make
bench`` prints them beside plain pocketsphinx), so that a regression fails and a little
spread between machines does not (the material itself is deterministic). The refinement
must never make things worse than leaving the aligner's edges alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.accuracy import Material, Scores, align, materials


@pytest.fixture(scope="module")
def material() -> dict[str, Material]:
    wanted = ("clean_en_us", "noise_20db", "noise_10db", "two_speakers")
    return {m.name: m for m in materials() if m.name in wanted}


def within_20ms(scores: Scores) -> float:
    return Scores.within(scores.word_errors, 20)


@pytest.mark.slow
def test_clean_connected_speech(material: dict[str, Material], tmp_path: Path) -> None:
    scores, _ = align(material["clean_en_us"], tmp_path / "on")
    unrefined, _ = align(material["clean_en_us"], tmp_path / "off", {"refine_boundaries": "false"})
    assert within_20ms(scores) >= 0.84, scores.summary("word")
    assert Scores.within(scores.phone_errors, 20) >= 0.70, scores.summary("phone")
    assert within_20ms(scores) >= within_20ms(unrefined)


@pytest.mark.slow
@pytest.mark.parametrize(("condition", "floor"), [("noise_20db", 0.79), ("noise_10db", 0.70)])
def test_connected_speech_in_noise(
    material: dict[str, Material], tmp_path: Path, condition: str, floor: float
) -> None:
    scores, _ = align(material[condition], tmp_path / "on")
    unrefined, _ = align(material[condition], tmp_path / "off", {"refine_boundaries": "false"})
    assert within_20ms(scores) >= floor, scores.summary("word")
    assert max(scores.word_errors) <= 0.2, scores.summary("word")
    assert within_20ms(scores) >= within_20ms(unrefined)


@pytest.mark.slow
def test_two_speakers_in_textgrid_tiers(material: dict[str, Material], tmp_path: Path) -> None:
    scores, result = align(material["two_speakers"], tmp_path / "on")
    assert result.files[0].tiers == ["A", "B"]
    assert within_20ms(scores) >= 0.84, scores.summary("word")
    assert max(scores.word_errors) <= 0.2, scores.summary("word")
