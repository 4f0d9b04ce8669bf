"""What the viewer shows of an aligned recording, written next to the result as
``view/<stem>.json`` (see autophon_core.storage): the result TextGrid's tiers, waveform peaks
and a spectrogram image. They are summaries, small enough to keep with the result, so the
viewer still draws the recording after the recording itself was deleted.

The recording (the upload worker's 16 kHz mono 16-bit WAV) is read and summarised in blocks of
``BLOCK_COLUMNS`` columns, so a recording of hours costs no more memory than the summaries: a
memory map kept every page it had read resident (115 MiB for an hour), and the spectrogram of
all columns at once needed 150 MiB of intermediate arrays.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autophon_align.textgrids import read_tiers
from autophon_core.storage import write_json

# Waveform: a (min, max) pair per column, at most this many columns per second and in all.
PEAKS_PER_SECOND = 200
MAX_PEAK_COLUMNS = 100_000
# Spectrogram: one analysis frame per column. A broad-band analysis (8 ms Hann window, as a
# phonetician reads formants), 50 dB of dynamic range below the loudest cell, darker = louder.
SPECTROGRAM_COLUMNS_PER_SECOND = 100
MAX_SPECTROGRAM_COLUMNS = 16_000
WINDOW_SECONDS = 0.008
FFT_SIZE = 256
DYNAMIC_RANGE_DB = 50.0
PRE_EMPHASIS = 0.95
GREY_LEVELS = 32
BLOCK_COLUMNS = 1000  # columns summarised at a time


class ViewError(ValueError):
    """The recording cannot be summarised (not the WAV the upload worker writes)."""


def write_view(path: Path, name: str, audio: Path, textgrid: Path) -> None:
    """Write the view of recording ``name`` (its converted WAV ``audio`` and result
    ``textgrid``) to ``path``."""
    samples, rate = _samples(audio)
    duration = len(samples) / rate
    tiers = [
        {"name": tier, "intervals": [[i.start, i.end, i.label] for i in intervals]}
        for tier, intervals in read_tiers(textgrid).items()
    ]
    peak_rate = _column_rate(duration, PEAKS_PER_SECOND, MAX_PEAK_COLUMNS)
    spectrogram_rate = _column_rate(
        duration, SPECTROGRAM_COLUMNS_PER_SECOND, MAX_SPECTROGRAM_COLUMNS
    )
    view: dict[str, Any] = {
        "name": name,
        "duration_s": round(duration, 4),
        "tiers": tiers,
        "waveform": {
            "columns_per_second": peak_rate,
            # int8 pairs (min, max) per column, of full scale 127, base64.
            "peaks": base64.b64encode(waveform_peaks(samples, rate, peak_rate)).decode(),
        },
        "spectrogram": {
            "columns_per_second": spectrogram_rate,
            "max_frequency": rate / 2,
            # Grey PNG, one column per frame, the highest frequency in the top row.
            "png": base64.b64encode(
                png_grey(spectrogram(samples, rate, spectrogram_rate))
            ).decode(),
        },
    }
    write_json(path, view)


def _column_rate(duration: float, per_second: float, most: int) -> float:
    return per_second if duration * per_second <= most else most / duration


@dataclass(frozen=True)
class PcmSamples:
    """The samples of a mono 16-bit PCM WAV, read from the file a block at a time."""

    path: Path
    offset: int  # of the first sample, in bytes
    count: int

    def __len__(self) -> int:
        return self.count

    def read(self, start: int, stop: int) -> npt.NDArray[np.int16]:
        """Samples ``start:stop`` (clipped to the recording)."""
        start, stop = max(0, start), min(self.count, stop)
        if stop <= start:
            return np.zeros(0, dtype=np.int16)
        return np.fromfile(
            self.path, dtype="<i2", count=stop - start, offset=self.offset + 2 * start
        )


def _samples(audio: Path) -> tuple[PcmSamples, int]:
    """The samples of a mono 16-bit PCM WAV and its sample rate."""
    with audio.open("rb") as handle:
        header = handle.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            raise ViewError(f"{audio.name} is not a WAV file")
        rate = 0
        while chunk := handle.read(8):
            if len(chunk) < 8:
                break
            kind, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if kind == b"fmt ":
                fmt = handle.read(size + size % 2)
                tag, channels, rate = struct.unpack("<HHI", fmt[:8])
                bits = struct.unpack("<H", fmt[14:16])[0]
                if tag not in (1, 0xFFFE) or channels != 1 or bits != 16:
                    raise ViewError(f"{audio.name} is not mono 16-bit PCM")
            elif kind == b"data":
                if not rate:
                    raise ViewError(f"{audio.name} has no format chunk before its data")
                offset = handle.tell()
                count = min(size, audio.stat().st_size - offset) // 2
                return PcmSamples(audio, offset, count), rate
            else:
                handle.seek(size + size % 2, 1)
    raise ViewError(f"{audio.name} has no audio data")


def waveform_peaks(samples: PcmSamples, rate: int, columns_per_second: float) -> bytes:
    """Interleaved (min, max) int8 per column of 1/columns_per_second s."""
    count = len(samples)
    columns = max(1, int(np.ceil(count / rate * columns_per_second)))
    if count == 0:
        return bytes(2 * columns)
    starts = np.minimum(
        (np.arange(columns) * rate / columns_per_second).astype(np.int64), count - 1
    )
    pairs = []
    for first in range(0, columns, BLOCK_COLUMNS):
        block_starts = starts[first : first + BLOCK_COLUMNS]
        after = first + len(block_starts)
        # A column runs to the next one's start; the last to the end of the recording.
        end = max(int(starts[after]), int(block_starts[-1]) + 1) if after < columns else count
        block = samples.read(int(block_starts[0]), end)
        local = block_starts - block_starts[0]
        lows = np.minimum.reduceat(block, local)
        highs = np.maximum.reduceat(block, local)
        pairs.append(np.stack([lows, highs], axis=1).astype(np.int32) * 127 // 32768)
    return bytes(np.concatenate(pairs).astype(np.int8).tobytes())


def spectrogram(samples: PcmSamples, rate: int, columns_per_second: float) -> npt.NDArray[np.uint8]:
    """Grey levels (255 = silent, 0 = loudest), one column per frame, highest bin first."""
    count = len(samples)
    window = max(8, int(WINDOW_SECONDS * rate))
    columns = max(1, int(np.ceil(count / rate * columns_per_second)))
    centres = ((np.arange(columns) + 0.5) * rate / columns_per_second).astype(np.int64)
    offsets = np.arange(window + 1) - window // 2
    taper = np.hanning(window)
    blocks = []
    for first in range(0, columns, BLOCK_COLUMNS):
        block_centres = centres[first : first + BLOCK_COLUMNS]
        if count == 0:
            frames = np.zeros((len(block_centres), window + 1), dtype=np.float32)
        else:
            indices = np.clip(block_centres[:, None] + offsets[None, :], 0, count - 1)
            low = int(indices.min())
            block = samples.read(low, int(indices.max()) + 1)
            frames = np.asarray(block[indices - low], dtype=np.float32)
        windowed = (frames[:, 1:] - PRE_EMPHASIS * frames[:, :-1]) * taper
        power = np.abs(np.fft.rfft(windowed, n=FFT_SIZE, axis=1))[:, : FFT_SIZE // 2] ** 2
        blocks.append((10 * np.log10(power + 1e-10)).astype(np.float32))
    decibels = np.concatenate(blocks)
    top = float(decibels.max())
    level = np.clip((top - decibels) / DYNAMIC_RANGE_DB, 0.0, 1.0)
    if top < 10 * np.log10(1e-10) + 1:  # all silent
        level[:] = 1.0
    # A few grey levels are all the eye tells apart, and they compress far better.
    steps = np.round(level * (GREY_LEVELS - 1)) / (GREY_LEVELS - 1)
    grey = np.round(steps * 255).astype(np.uint8)
    return np.ascontiguousarray(grey.T[::-1])


def png_grey(pixels: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit greyscale PNG of a (rows, columns) array."""
    height, width = pixels.shape
    rows = np.hstack([np.zeros((height, 1), dtype=np.uint8), pixels])  # filter byte 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )
