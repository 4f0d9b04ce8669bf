"""A copy of a quiet recording, or of one whose samples are off zero, at a standard level: for
the decoder's ears only, as the denoised copy is (engines/denoise.py).

Two levels in the built-in engine are absolute: the decoder hears runs of digital silence as
noise at -72 dBFS (pocketsphinx_worker), and the denoising counts a spectrum under that level
as silent. In a quiet recording both lie near the speech, which then looks noisy: the
held-out sentences of bench/accuracy.py turned down by 20, 35 and 45 dB put 80.7, 67.9 and
57.1 % of word edges within 20 ms (espeak-ng en-us; 85.7 % as made) and 91.4, 82.9 and 55.0 %
(Festival slt; 93.6 %), the largest errors up to 0.8 s. A DC offset (the samples' mean off
zero, from some sound cards) counts as noise in every level the engine measures, the
denoising's, the refinement's and the adaptation's: 2 % of full scale cost 3-9 points. So a
recording whose speech lies under ``QUIET_DB``, or whose pauses are off zero by more than
``MAX_OFFSET`` and a third of their noise (Level.off_zero), is heard with its offset removed
and raised to ``TARGET_DB`` as far as its peaks allow.
The user's files are untouched, and the times found are the recording's times.

Both steps read the recording piece by piece: memory stays flat whatever its length.
"""

from __future__ import annotations

import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FRAME = 512  # samples of a measured frame (32 ms at 16 kHz)
PROBES = 4096  # frames, spread over the recording, that measure it
SPEECH_QUANTILE = 0.9  # the level of speech: the frames' 90th percentile
QUIET_SHARE = 0.1  # the quietest tenth of the frames is taken as pauses
FULL_SCALE = 32768.0
TARGET_DB = -20.0  # speech level a quiet recording is raised to (dBFS); made speech: -15..-20
QUIET_DB = -30.0  # speech level under which a recording is raised (dBFS)
MAX_OFFSET = 16.0  # offset (sample units, about -66 dBFS) beyond which it is removed
MAX_PEAK = 0.9  # of full scale: the raised recording's largest sample seen
BLOCK_SAMPLES = 1 << 16  # samples corrected per block


@dataclass(frozen=True)
class Level:
    """A recording's offset (its pauses' mean sample value) and the spread of its pauses about
    it (RMS, sample units), its speech level (dBFS) and its largest sample seen (offset
    removed), from frames spread over it."""

    offset: float
    pause_rms: float
    speech_db: float
    peak: float

    @property
    def off_zero(self) -> bool:
        """Whether the offset is large enough to matter: beyond MAX_OFFSET and not lost in
        the pauses' own noise (more than a third of its RMS, within 10 dB of its power)."""
        return abs(self.offset) > max(MAX_OFFSET, self.pause_rms / 3)

    @property
    def gain_db(self) -> float:
        """How far the recording is raised (0 unless it is quiet)."""
        if self.speech_db >= QUIET_DB:
            return 0.0
        room = 20 * math.log10(MAX_PEAK * FULL_SCALE / max(self.peak, 1.0))
        return max(0.0, min(TARGET_DB - self.speech_db, room))

    @property
    def worth_correcting(self) -> bool:
        return self.gain_db > 0 or self.off_zero

    def describe(self) -> str:
        """What the copy changes, for the engine log."""
        done = [f"{self.gain_db:.0f} dB louder"] if self.gain_db > 0 else []
        if self.off_zero:
            done.append(f"without its offset of {self.offset:.0f}")
        return f"speech at {self.speech_db:.0f} dBFS: heard {' and '.join(done)}"


def measure(path: Path) -> Level:
    """The Level of the 16-bit mono WAV at ``path`` (each frame's statistics only are kept)."""
    with wave.open(str(path), "rb") as recording:
        total = recording.getnframes()
        count = max(1, min(PROBES, total // FRAME))
        means, power, lows, highs = (np.zeros(count) for _ in range(4))
        for i in range(count):
            recording.setpos(i * (total - FRAME) // max(1, count - 1) if total > FRAME else 0)
            samples = np.pad(_samples(recording.readframes(FRAME)), (0, FRAME))[:FRAME]
            means[i], power[i] = samples.mean(), samples.var()  # about the frame's own mean
            lows[i], highs[i] = samples.min(), samples.max()
    order = np.argsort(power)
    # Speech itself is lopsided (its mean over a sentence is some 0.1 % of full scale off
    # zero): the offset is the pauses' mean, that of the quietest frames.
    quiet = order[: max(1, int(count * QUIET_SHARE))]
    offset = float(means[quiet].mean())
    pause_rms = math.sqrt(float(power[quiet].mean()))
    speech = float(power[order[min(count - 1, int(count * SPEECH_QUANTILE))]])
    speech_db = 10 * math.log10(max(speech, 1e-3) / FULL_SCALE**2)
    peak = max(float(highs.max()) - offset, offset - float(lows.min()))
    return Level(offset, pause_rms, speech_db, peak)


def correct(source: Path, target: Path, level: Level) -> None:
    """Write ``source`` with its offset removed and raised by ``level.gain_db`` to
    ``target``: same length, rate and format."""
    gain = 10 ** (level.gain_db / 20)
    with wave.open(str(source), "rb") as reader, wave.open(str(target), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(reader.getframerate())
        while block := reader.readframes(BLOCK_SAMPLES):
            corrected = (_samples(block) - level.offset) * gain
            writer.writeframes(np.clip(np.round(corrected), -32768, 32767).astype("<i2").tobytes())


def _samples(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)
