"""The recordings engines get: 16 kHz mono 16-bit WAV (the upload worker's conversion)."""

from __future__ import annotations

import wave
from pathlib import Path

SAMPLE_RATE = 16000


def wav_duration(path: Path) -> float:
    """Seconds of a 16 kHz mono 16-bit WAV. Raises ValueError for another format or an empty
    file, wave.Error/EOFError for a damaged one, OSError for a missing one."""
    with wave.open(str(path), "rb") as audio:
        if audio.getsampwidth() != 2 or audio.getnchannels() != 1:
            raise ValueError("not 16-bit mono audio")
        if audio.getframerate() != SAMPLE_RATE:
            raise ValueError(f"sampled at {audio.getframerate()} Hz, not {SAMPLE_RATE} Hz")
        if audio.getnframes() == 0:
            raise ValueError("no audio in it")
        return audio.getnframes() / audio.getframerate()
