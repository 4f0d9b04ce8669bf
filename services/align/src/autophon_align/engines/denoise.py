"""A denoised copy of a noisy recording, for the decoder's ears only.

Steady noise (fans, hum, hiss, a distant road) fills the pauses and the spectral valleys of
speech, and the acoustic model, trained on clean speech, then misplaces word edges: at 10 dB
SNR two thirds of the boundaries were within 20 ms, against 85-95% on the same speech clean.
Cleaning the signal first gains most of that back: a Wiener filter whose gain per frequency
follows the decision-directed estimate of each frame's SNR (Ephraim and Malah, 1984), against
the noise's spectrum measured on the recording's quietest frames.

Measured on connected synthetic speech (bench/accuracy.py's espeak-ng and Festival voices
with white noise, three noise seeds): 66-67% of word edges within 20 ms at 10 dB SNR became
76-77%, 74.5% at 15 dB became 78.5%, 83% at 20 dB became 84-85%; at 25 dB it lost 2 points and
on clean speech it lost up to 3 points on some voices. So only a recording whose speech
stands less than ``MAX_LEVEL_DB`` above its quietest tenth is cleaned (white noise at 20 dB SNR
measures about 24 dB, at 25 dB about 29, clean speech 40 dB and more). The user's files are
untouched: the aligner reads the copy, and the times it finds are the recording's times.

The filter takes whatever has the noise's spectrum for noise, so only steady noise is removed.
Other voices (babble) have the speaker's spectrum, and on the copy the speaker lost words to
them. The quietest frames of steady noise are all alike (white, pink and brown noise, mains hum),
those of other voices are not: where the level of the quietest tenth of the probes, in
``SPEECH_BAND``, spreads ``MAX_SPREAD_DB`` or more (its 10th percentile over its 1st), the
recording is aligned as it is. Measured at 10 dB SNR: steady noises 0.6-3.1 dB, four other
voices 7.5-14.6 dB. On bench/accuracy.py's babble (four espeak-ng voices reading other
sentences, 10 dB) word edges within 20 ms went from 61.8 to 79.6 % (espeak-ng en-us) and 46.1
to 53.3 % (Festival's slt); with three other mixes on the three sentence sets +4.9 and +9.1
points on average (16 of 18 conditions gained, two lost 3-4 points).

Both steps read the recording piece by piece: memory stays flat whatever its length.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FRAME = 512  # samples of an analysis frame (32 ms at 16 kHz)
HOP = FRAME // 4  # Hann windows at a quarter-frame hop add up to a constant
BLOCK_FRAMES = 1024  # frames filtered per block read
PROBES = 8192  # frames, spread over the recording, that measure its noise
QUIET_SHARE = 0.1  # the quietest tenth of the probes is taken as noise
SPEECH_QUANTILE = 0.9  # the level of speech: the probes' 90th percentile
MAX_LEVEL_DB = 25.0  # recordings whose speech stands less than this above the noise are cleaned
# How much the quietest tenth of the probes may vary in level, in the band where speech has most
# of its power, for the noise to count as steady (dB; see above).
MAX_SPREAD_DB = 5.0
SPEECH_BAND = (250.0, 4000.0)  # Hz
SMOOTHING = 0.98  # weight of the previous frame in the decision-directed SNR estimate
MIN_GAIN = 0.2  # the filter's floor: deeper cuts leave "musical" noise the model mistakes
# Power per frequency bin below which a spectrum counts as silent: white noise of about
# 8 units of amplitude (-72 dBFS) through the Hann window.
SILENT_BIN_POWER = 1e4
Spectrum = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Noise:
    """A recording's noise: its power spectrum, how far speech stands above it (dB), and how
    much its level varies (``spread_db``: the quietest tenth of the probes' level in
    ``SPEECH_BAND``, their 10th over their 1st percentile)."""

    spectrum: Spectrum
    level_db: float
    spread_db: float = 0.0

    @property
    def noisy(self) -> bool:
        return self.level_db < MAX_LEVEL_DB

    @property
    def steady(self) -> bool:
        return self.spread_db < MAX_SPREAD_DB

    @property
    def worth_removing(self) -> bool:
        return self.noisy and self.steady


def measure(path: Path) -> Noise:
    """The noise of the 16-bit mono WAV at ``path``, from ``PROBES`` frames spread over it
    (their spectra, in single precision, take about 8 MB)."""
    window = _window()
    with wave.open(str(path), "rb") as recording:
        total = recording.getnframes()
        rate = recording.getframerate()
        count = max(1, min(PROBES, total // FRAME))
        power = np.empty((count, FRAME // 2 + 1), dtype=np.float32)
        for first in range(0, count, BLOCK_FRAMES):
            frames = np.zeros((min(BLOCK_FRAMES, count - first), FRAME))
            for j in range(len(frames)):
                i = first + j
                recording.setpos(i * (total - FRAME) // max(1, count - 1) if total > FRAME else 0)
                samples = _samples(recording.readframes(FRAME))
                frames[j, : len(samples)] = samples
            spectra = np.fft.rfft(frames * window, axis=1)
            power[first : first + len(frames)] = np.abs(spectra) ** 2
    energy = power.sum(axis=1, dtype=np.float64)
    order = np.argsort(energy)
    quiet = order[: max(1, int(count * QUIET_SHARE))]
    spectrum = np.maximum(power[quiet].mean(axis=0, dtype=np.float64), SILENT_BIN_POWER)
    speech = energy[order[min(count - 1, int(count * SPEECH_QUANTILE))]]
    low, high = (round(hz * FRAME / rate) for hz in SPEECH_BAND)
    band = np.sort(power[:, low : high + 1].sum(axis=1, dtype=np.float64))
    tenth, hundredth = (max(band[int(count * s)], 1.0) for s in (QUIET_SHARE, QUIET_SHARE / 10))
    spread = 10 * np.log10(tenth / hundredth)
    return Noise(spectrum, float(10 * np.log10(max(speech, 1.0) / spectrum.sum())), float(spread))


def denoise(source: Path, target: Path, noise: Noise, block_frames: int = BLOCK_FRAMES) -> None:
    """Write ``source`` with ``noise`` filtered out to ``target``: same length, rate, format."""
    window = _window()
    scale = HOP / float((window**2).sum())  # undoes the analysis and synthesis windows
    lead = FRAME - HOP  # zeros before the first sample, so that it gets every overlap
    with wave.open(str(source), "rb") as reader, wave.open(str(target), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(reader.getframerate())
        left = reader.getnframes()  # samples still to write
        history = np.zeros(lead)  # input samples before the block
        overlap = np.zeros(lead)  # output not complete yet
        cleaned_power = np.zeros(FRAME // 2 + 1)
        skip = lead  # the output of the leading zeros
        while left > 0:
            new = _samples(reader.readframes(block_frames * HOP))
            # Past the end, zeros complete the last frames.
            new = np.pad(new, (0, block_frames * HOP - len(new)))
            signal = np.concatenate([history, new])
            count = block_frames
            frames = np.lib.stride_tricks.sliding_window_view(signal, FRAME)[::HOP][:count]
            spectra = np.fft.rfft(frames * window, axis=1)
            cleaned_power = _filter(spectra, noise.spectrum, cleaned_power)
            output = np.fft.irfft(spectra, n=FRAME, axis=1) * window * scale
            added = _overlap_add(output, overlap)
            overlap = added[count * HOP :]
            history = signal[count * HOP :]
            done = added[min(skip, count * HOP) : count * HOP][:left]
            skip = max(0, skip - count * HOP)
            left -= len(done)
            writer.writeframes(np.clip(np.round(done), -32768, 32767).astype("<i2").tobytes())


def _filter(spectra: npt.NDArray[np.complex128], noise: Spectrum, previous: Spectrum) -> Spectrum:
    """Apply the Wiener gain to each frame of ``spectra`` in place; ``previous`` is the cleaned
    power of the frame before the first. Returns the last frame's cleaned power."""
    for i in range(len(spectra)):
        power = np.abs(spectra[i]) ** 2
        posterior = power / noise
        prior = SMOOTHING * previous / noise + (1 - SMOOTHING) * np.maximum(posterior - 1, 0)
        spectra[i] *= np.maximum(prior / (1 + prior), MIN_GAIN)
        previous = np.abs(spectra[i]) ** 2
    return previous


def _overlap_add(frames: Spectrum, carried: Spectrum) -> Spectrum:
    """Frames a HOP apart summed into one signal, ``carried`` added at its start."""
    count = len(frames)
    parts = FRAME // HOP
    summed = np.zeros((count + parts - 1, HOP))
    for q in range(parts):
        summed[q : q + count] += frames[:, q * HOP : (q + 1) * HOP]
    signal = summed.reshape(-1)
    signal[: len(carried)] += carried
    return signal


def _window() -> Spectrum:
    return np.hanning(FRAME + 1)[:-1]  # periodic


def _samples(data: bytes) -> Spectrum:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)
