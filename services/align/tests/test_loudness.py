"""The levelled copy a quiet recording, or one whose samples are off zero, is aligned on
(engines/loudness.py): when it is made and what it holds. Its effect on alignment is measured
in test_connected_accuracy.py."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from autophon_align.engines import loudness, pocketsphinx_worker
from bench.speech import SENTENCES, Speech, connected, with_level, with_noise, write_wav


@pytest.fixture(scope="module")
def clean() -> Speech:
    return connected(SENTENCES[:2], "en-us")


def read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as recording:
        return np.frombuffer(recording.readframes(recording.getnframes()), "<i2").astype(float)


def test_quiet_recordings_and_offsets_are_told_from_others(clean: Speech, tmp_path: Path) -> None:
    as_made = loudness.measure(write_wav(clean, tmp_path / "clean.wav"))
    # Speech is lopsided: its mean is off zero, its pauses' is not.
    assert abs(np.mean(clean.samples)) > loudness.MAX_OFFSET > abs(as_made.offset)
    assert -25 < as_made.speech_db < loudness.QUIET_DB + 15 and not as_made.worth_correcting

    quiet = loudness.measure(write_wav(with_level(clean, -40), tmp_path / "quiet.wav"))
    assert quiet.speech_db == pytest.approx(as_made.speech_db - 40, abs=1)
    assert quiet.gain_db == pytest.approx(loudness.TARGET_DB - quiet.speech_db)
    assert quiet.worth_correcting

    off = loudness.measure(write_wav(with_level(clean, offset=2000), tmp_path / "off.wav"))
    assert off.offset == pytest.approx(2000, abs=1) and off.gain_db == 0
    assert off.worth_correcting and off.describe().endswith("heard without its offset of 2000")

    # The peaks limit the gain: a quiet recording with a loud click is not raised.
    assert loudness.Level(0.0, 0.0, -50.0, 30000.0).gain_db == 0


def test_the_copy_has_no_offset_and_speech_at_the_target_level(
    clean: Speech, tmp_path: Path
) -> None:
    source = write_wav(with_level(clean, -40, offset=-300), tmp_path / "source.wav")
    level = loudness.measure(source)
    loudness.correct(source, tmp_path / "copy.wav", level)
    copy = read(tmp_path / "copy.wav")
    assert len(copy) == len(clean.samples)
    assert abs(copy[: int(0.2 * 16000)]).max() <= 1  # the lead pause: back at zero
    assert loudness.measure(tmp_path / "copy.wav").speech_db == pytest.approx(
        loudness.TARGET_DB, abs=0.5
    )


def test_the_worker_hears_a_levelled_copy_of_a_quiet_recording_only(
    clean: Speech, tmp_path: Path
) -> None:
    def heard(speech: Speech) -> tuple[Path, list[str]]:
        audio = write_wav(speech, tmp_path / "audio.wav")
        notes: list[str] = []
        scratch = tmp_path / "scratch"
        scratch.mkdir(exist_ok=True)
        return pocketsphinx_worker._audio_heard({"audio": str(audio)}, scratch, notes), notes

    path, notes = heard(with_level(clean, -40))
    assert path == tmp_path / "scratch" / "levelled.wav" and len(notes) == 1
    assert notes == ["speech at -56 dBFS: heard 36 dB louder"]
    # A little off zero, but lost in the pauses' noise: not worth a copy.
    assert not loudness.measure(
        write_wav(with_level(with_noise(clean, 10), offset=100), tmp_path / "n.wav")
    ).worth_correcting
    # Quiet and noisy: levelled, then denoised from the levelled copy.
    path, notes = heard(with_level(with_noise(clean, 10), -40))
    assert path == tmp_path / "scratch" / "denoised.wav" and len(notes) == 2, notes
    assert notes[1].startswith("noisy recording (speech 1"), notes
    assert heard(clean) == (tmp_path / "audio.wav", [])
