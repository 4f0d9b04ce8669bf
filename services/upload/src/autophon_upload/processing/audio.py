"""Converting a recording to the aligners' input: 16 kHz mono 16-bit PCM WAV, with ffmpeg.

ffmpeg only reads local files (``-protocol_whitelist file``) through audio demuxers
(``-format_whitelist``), so a playlist or concat script disguised as audio cannot make it read
other files or the network. Its stderr goes to a temporary file (no pipe to fill up, no
unbounded memory), only the tail is kept for the message. The output is capped just past the
length limit with ``-t``, so a too-long recording costs bounded time and disk, and it is written
under a temporary name and renamed when complete. The duration is read from the WAV written.
"""

from __future__ import annotations

import errno
import math
import os
import re
import subprocess
import tempfile
import wave
from array import array
from pathlib import Path
from typing import IO

from autophon_core.storage import atomic_path
from autophon_upload.processing.errors import BadInputError

SAMPLE_RATE = 16000
# Demuxers for the accepted audio formats (mov covers m4a/m4r/alac/aac-in-mp4, asf covers wma,
# ogg covers opus/vorbis). Anything else, e.g. hls or concat, is refused.
DEMUXERS = "wav,w64,mp3,flac,ogg,mov,asf,aiff,aac,ac3,eac3,matroska,caf"
# Frames (samples) and how many of them, spread over a recording, measure its frequency band,
# at BAND_POINTS frequencies above and under the edge (under it, from BAND_LOWEST Hz).
BAND_FRAME = 256
BAND_PROBES = 400
BAND_POINTS = 8
BAND_LOWEST = 300.0
# A recording whose power above NARROW_BAND_HZ lies more than NARROW_BAND_DB below its power
# under it was made at 8 kHz or over a telephone line: audio sampled at 8 kHz has nothing above
# 4 kHz (the margin is the resampling filters' slope). The voices of bench/accuracy.py measured
# -12 to -42 dB at 16 kHz and more, -17 to -52 dB sampled at 11 kHz, -79 to -90 dB at 8 kHz.
NARROW_BAND_HZ = 4400
NARROW_BAND_DB = -60.0
STDERR_TAIL_BYTES = 4096
MAX_REASON_CHARS = 200

_KNOWN_REASONS = (
    ("not on whitelist", "it is not in a supported audio format"),
    ("Invalid data found when processing input", "the file is damaged or not in an audio format"),
    ("matches no streams", "it contains no audio"),
    ("does not contain any stream", "it contains no audio"),
    ("Output file is empty", "it contains no audio"),
    ("End of file", "the file is truncated"),
)


def convert_audio(source: Path, dest: Path, *, timeout: float, max_seconds: float) -> float:
    """Convert ``source`` to ``dest``; return the duration in seconds.

    Raises BadInputError naming the file when it is empty, unreadable, silent-by-absence (no
    samples), longer than ``max_seconds`` or slower to convert than ``timeout``.
    """
    name = source.name
    if source.stat().st_size == 0:
        raise BadInputError(f"{name} is empty (0 bytes); upload the recording again.")
    shortfall = wav_shortfall(source)
    if shortfall is not None:
        announced, present = shortfall
        raise BadInputError(
            f"{name} is truncated: its header announces {format_duration(announced)} of audio "
            f"but the file holds only {format_duration(present)}; upload the complete "
            "recording again."
        )
    with atomic_path(dest) as tmp, tempfile.TemporaryFile() as stderr:
        command = [
            "ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error",
            "-protocol_whitelist", "file", "-format_whitelist", DEMUXERS,
            "-i", f"file:{source.resolve()}",
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1",
            "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-bitexact",
            "-t", f"{max_seconds + 1:.3f}", "-f", "wav", "-y", f"file:{tmp}",
        ]  # fmt: skip
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BadInputError(
                f"{name} could not be converted within {timeout:.0f} s; check that it is an "
                "ordinary audio file, or convert it to WAV and upload it again."
            ) from None
        if result.returncode != 0:
            messages = _tail(stderr)
            _raise_storage_error(messages, dest)
            reason = _reason(messages, source)
            raise BadInputError(
                f"{name} could not be read as audio: {reason}. Check that it plays in an "
                "audio player, or convert it to WAV and upload it again."
            )
        duration = wav_duration(tmp)
        if duration <= 0:
            raise BadInputError(f"{name} contains no audio (0 seconds).")
        if duration > max_seconds:
            raise BadInputError(
                f"{name} is longer than the limit of {format_duration(max_seconds)}; "
                "split it into shorter recordings."
            )
    return duration


# Sizes that streaming writers put in a WAV header they could not go back and fix.
_UNKNOWN_SIZES = frozenset({0, 0xFFFFFFFF, 0x7FFFFFFF})
# A truncated WAV is refused when more than this is missing (seconds).
TRUNCATION_TOLERANCE_S = 0.1


def wav_shortfall(path: Path) -> tuple[float, float] | None:
    """For a RIFF/WAVE file whose data chunk announces more audio than the file holds (a
    copy or a recording cut short): (seconds announced, seconds present); else None.

    ffmpeg decodes such a file without an error, so it would pass for a short recording."""
    size = path.stat().st_size
    byte_rate = 0
    with path.open("rb") as handle:
        header = handle.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            kind, length = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind == b"fmt ":
                fmt = handle.read(min(length, 16))
                if len(fmt) >= 12:
                    byte_rate = int.from_bytes(fmt[8:12], "little")
                handle.seek(length - len(fmt) + length % 2, 1)
            elif kind == b"data":
                if byte_rate <= 0 or length in _UNKNOWN_SIZES:
                    return None
                present = max(0, size - handle.tell())
                if (length - present) / byte_rate <= TRUNCATION_TOLERANCE_S:
                    return None
                return length / byte_rate, present / byte_rate
            else:
                handle.seek(length + length % 2, 1)


def power_above_db(path: Path, hz: float) -> float:
    """How far (dB) the power above ``hz`` lies below the power under it, in the loudest tenth
    of BAND_PROBES frames spread over the 16-bit mono WAV at ``path`` (its speech, mostly),
    measured at BAND_POINTS frequencies each side (Goertzel, Hann window: pure Python, as the
    upload image has no numpy); 0.0 when it holds no sound."""
    with wave.open(str(path), "rb") as wav:
        rate, total = wav.getframerate(), wav.getnframes()
        frames = []
        for i in range(BAND_PROBES):
            wav.setpos(i * max(0, total - BAND_FRAME) // (BAND_PROBES - 1))
            frames.append(array("h", wav.readframes(BAND_FRAME)))
    frames.sort(key=lambda frame: sum(x * x for x in frame), reverse=True)
    window = [0.5 - 0.5 * math.cos(2 * math.pi * n / BAND_FRAME) for n in range(BAND_FRAME)]
    loud = [[w * x for w, x in zip(window, f, strict=False)] for f in frames[: BAND_PROBES // 10]]
    nyquist = rate / 2
    above = [hz + (nyquist - hz) * (k + 0.5) / BAND_POINTS for k in range(BAND_POINTS)]
    under = [BAND_LOWEST + (hz - BAND_LOWEST) * (k + 0.5) / BAND_POINTS for k in range(BAND_POINTS)]
    power_above = sum(_goertzel(f, freq / rate) for f in loud for freq in above)
    power_under = sum(_goertzel(f, freq / rate) for f in loud for freq in under)
    if power_under <= 0:
        return 0.0
    return 10 * math.log10(max(power_above, 1e-12) / power_under)


def _goertzel(samples: list[float], cycles_per_sample: float) -> float:
    """The power of ``samples`` at one frequency."""
    coefficient = 2 * math.cos(2 * math.pi * cycles_per_sample)
    previous = before = 0.0
    for x in samples:
        previous, before = x + coefficient * previous - before, previous
    return previous * previous + before * before - coefficient * previous * before


def wav_duration(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def format_duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min" + (f" {secs:02d} s" if secs else "")
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{seconds:.1f} s"


def _tail(handle: IO[bytes]) -> str:
    handle.seek(0, 2)
    handle.seek(max(0, handle.tell() - STDERR_TAIL_BYTES))
    return handle.read().decode("utf-8", errors="replace")


# ffmpeg's words for a failure to write the output: the server's fault, not the recording's.
_STORAGE_ERRNOS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT)


def _raise_storage_error(stderr: str, dest: Path) -> None:
    """Raise OSError when ffmpeg failed because the output could not be written (the upload
    worker reports a storage problem, not an unreadable recording)."""
    for code in _STORAGE_ERRNOS:
        if os.strerror(code) in stderr:
            raise OSError(code, os.strerror(code), str(dest))


def _reason(stderr: str, source: Path) -> str:
    """A short reason from ffmpeg's messages: a known one, else its last line without paths."""
    for needle, reason in _KNOWN_REASONS:
        if needle in stderr:
            return reason
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "ffmpeg failed without saying why"
    last = lines[-1].replace(f"file:{source.resolve()}", source.name)
    last = last.replace(str(source.resolve()), source.name)
    last = re.sub(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", last)
    last = re.sub(r"(?:file:)?/\S+", "…", last)  # any other absolute path
    return last[:MAX_REASON_CHARS].rstrip(".")
