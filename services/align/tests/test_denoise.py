"""The denoised copy a noisy recording is aligned on (engines/denoise.py): when it is made,
what it does to noise and speech, and that it is the same whatever the blocks it is read in.
Its effect on alignment is measured in test_connected_accuracy.py."""

from __future__ import annotations

import math
import wave
from array import array
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autophon_align.engines import denoise, pocketsphinx_worker
from bench.accuracy import Material, align
from bench.speech import (
    RATE,
    SENTENCES,
    Speech,
    connected,
    with_babble,
    with_noise,
    write_wav,
)


@pytest.fixture(scope="module")
def clean() -> Speech:
    return connected(SENTENCES[:2], "en-us")


def read(path: Path) -> array[int]:
    with wave.open(str(path), "rb") as recording:
        assert recording.getframerate() == RATE and recording.getnchannels() == 1
        return array("h", recording.readframes(recording.getnframes()))


def level_db(samples: array[int], spans: list[tuple[float, float]]) -> float:
    parts = [samples[round(s * RATE) : round(e * RATE)] for s, e in spans]
    power = sum(x * x for part in parts for x in part) / sum(len(part) for part in parts)
    return 10 * math.log10(power)


def pauses(speech: Speech) -> list[tuple[float, float]]:
    """The stretches between words (and before the first and after the last) of 0.1 s or more."""
    edges = [0.0, *(t for w in speech.words for t in (w.start, w.end)), speech.seconds]
    spans = list(zip(edges[::2], edges[1::2], strict=True))
    return [(s + 0.02, e - 0.02) for s, e in spans if e - s >= 0.1]


def words(speech: Speech) -> list[tuple[float, float]]:
    return [(w.start, w.end) for w in speech.words]


@pytest.mark.parametrize(("snr_db", "low", "high"), [(10, 10.0, 20.0), (20, 20.0, 25.0)])
def test_noisy_recordings_are_told_from_clean_ones(
    clean: Speech, tmp_path: Path, snr_db: float, low: float, high: float
) -> None:
    noisy = denoise.measure(write_wav(with_noise(clean, snr_db), tmp_path / "noisy.wav"))
    assert low < noisy.level_db < high and noisy.worth_removing
    quiet = denoise.measure(write_wav(with_noise(clean, 30), tmp_path / "30db.wav"))
    assert quiet.level_db > denoise.MAX_LEVEL_DB and not quiet.worth_removing
    silent_pauses = denoise.measure(write_wav(clean, tmp_path / "clean.wav"))
    assert silent_pauses.level_db > 40 and not silent_pauses.worth_removing


def test_the_copy_has_less_noise_and_the_same_speech(clean: Speech, tmp_path: Path) -> None:
    noisy = with_noise(clean, 10)
    source = write_wav(noisy, tmp_path / "noisy.wav")
    target = tmp_path / "denoised.wav"
    denoise.denoise(source, target, denoise.measure(source))
    cleaned = read(target)
    assert len(cleaned) == len(noisy.samples)
    # The pauses lose most of their noise; the words keep their level (the noise added about
    # 0.4 dB to it) and their timing: the copy is closest to the clean speech unshifted.
    assert level_db(cleaned, pauses(clean)) < level_db(noisy.samples, pauses(clean)) - 10
    speech_level = level_db(clean.samples, words(clean))
    assert abs(level_db(cleaned, words(clean)) - speech_level) < 1.5
    # Residual power against the clean speech, the copy shifted by -1, 0 and 1 ms.
    clean_part = np.asarray(clean.samples[100:-100], dtype=float)
    residual = {
        shift: float(np.mean((np.asarray(cleaned[100 + shift : -100 + shift]) - clean_part) ** 2))
        for shift in (-16, 0, 16)
    }
    assert min(residual, key=lambda shift: residual[shift]) == 0, residual


@pytest.mark.parametrize("samples", [1, 511, 512, 129 * 1000 + 7])
def test_the_copy_is_as_long_as_the_recording_whatever_the_blocks(
    tmp_path: Path, samples: int
) -> None:
    speech = with_noise(Speech(array("h", [1000, -1000] * (samples // 2 + 1))[:samples], []), 0)
    source = write_wav(speech, tmp_path / "in.wav")
    noise = denoise.measure(source)
    copies = []
    for block_frames in (1, 3, 1024):
        target = tmp_path / f"out{block_frames}.wav"
        denoise.denoise(source, target, noise, block_frames=block_frames)
        copies.append(read(target))
    assert len(copies[0]) == samples
    for copy in copies[1:]:
        assert max(abs(a - b) for a, b in zip(copies[0], copy, strict=True)) <= 1  # rounding


def test_the_worker_aligns_a_denoised_copy_only_of_a_noisy_recording(
    clean: Speech, tmp_path: Path
) -> None:
    def heard(speech: Speech, **request: bool) -> tuple[Path, list[str]]:
        audio = write_wav(speech, tmp_path / "audio.wav")
        notes: list[str] = []
        scratch = tmp_path / "scratch"
        scratch.mkdir(exist_ok=True)
        return pocketsphinx_worker._audio_heard(
            {"audio": str(audio), **request}, scratch, notes
        ), notes

    path, notes = heard(with_noise(clean, 10))
    assert path.parent == tmp_path / "scratch" and len(read(path)) == len(clean.samples)
    assert len(notes) == 1 and notes[0].startswith("noisy recording (speech 1"), notes
    assert heard(with_noise(clean, 10), denoise=False) == (tmp_path / "audio.wav", [])
    assert heard(clean) == (tmp_path / "audio.wav", [])
    path, notes = heard(babble(clean, 10))
    assert path == tmp_path / "audio.wav" and len(notes) == 1, notes
    assert "but the noise is not steady" in notes[0] and "not denoised" in notes[0], notes


def test_other_voices_are_told_from_steady_noise(clean: Speech, tmp_path: Path) -> None:
    # The quietest frames of steady noise are all alike; those of other voices are not.
    steady = denoise.measure(write_wav(with_noise(clean, 10), tmp_path / "white.wav"))
    assert steady.spread_db < 3 and steady.steady and steady.worth_removing
    voices = denoise.measure(write_wav(babble(clean, 10), tmp_path / "babble.wav"))
    assert voices.noisy and voices.spread_db > 7 and not voices.steady
    assert not voices.worth_removing


def babble(speech: Speech, snr_db: float) -> Speech:
    """``speech`` with four copies of itself, ``snr_db`` below it: other voices (with seed 4
    the copies start 1.7-6.5 s into the two sentences, each a second or more from another)."""
    return with_babble(speech, snr_db, [speech] * 4, seed=4)


@pytest.mark.slow
def test_turns_in_white_noise_and_under_other_voices_are_aligned(tmp_path: Path) -> None:
    # Two speakers' turns in one noisy recording: A's in white noise, B's under other voices
    # 10 dB down. Over the whole recording the noise is not steady, so it is aligned as it is
    # (a denoised copy kept the voices and once had no path through B's turn: it failed there
    # and was aligned again in the recording itself).
    first = with_noise(connected(SENTENCES[:2], "en-us"), 10, seed=1)
    second = babble(connected(SENTENCES, "en-us"), 10)
    speech = Speech(array("h"), [])
    speech.extend(first)
    speech.extend(second)
    middle = first.seconds
    turns = {
        "A": [(0.0, middle, speech.words[: len(first.words)])],
        "B": [(middle, speech.seconds, speech.words[len(first.words) :])],
    }
    scores, result = align(Material("babble", speech, turns), tmp_path)
    assert result.status == "completed"
    assert len(scores.word_errors) == 2 * len(speech.words)
    assert sorted(scores.word_errors)[len(scores.word_errors) // 2] <= 0.02


def test_what_fails_on_the_denoised_copy_is_aligned_as_it_is(
    clean: Speech, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = write_wav(with_noise(clean, 10), tmp_path / "audio.wav")
    word = {"label": "x", "start": 0.0, "end": 0.1, "phones": []}
    heard: list[tuple[str, int]] = []

    def align_recording(path: Path, request: dict[str, Any], *_: Any) -> list[Any]:
        heard.append((path.name, len(request["utterances"])))
        if path.name == "denoised.wav":  # the second utterance fails on the copy
            return [
                pocketsphinx_worker._Outcome([word], None),
                pocketsphinx_worker._Outcome([], "no path"),
            ]
        return [pocketsphinx_worker._Outcome([word, word], None)]

    monkeypatch.setattr(pocketsphinx_worker, "_align_recording", align_recording)
    notes: list[str] = []
    request = {
        "audio": str(audio),
        "utterances": [{}, {}],
        "adapt": False,
        "hmm": "",
        "dict": "",
        "log": "",
    }
    aligned = pocketsphinx_worker.align_request(request, notes)
    assert heard == [("denoised.wav", 2), ("audio.wav", 1)]
    assert aligned == [{"words": [word], "error": None}, {"words": [word, word], "error": None}]
    assert notes[-1] == (
        "1 of 2 utterances failed on the denoised copy: aligning them in the recording as it is"
    )
