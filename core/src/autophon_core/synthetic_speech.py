"""Test recordings with known word timings: connected speech synthesised by espeak-ng in
any of its voices, timed by its own synthesis events.

espeak-ng's C library (libespeak-ng.so.1, installed with the espeak-ng package) reports an
event for every phoneme it synthesises, with the sample it starts at. A word starts at its
first phoneme and ends where the next phoneme (a pause or the next word's first phoneme)
starts. Used by the accuracy tests and benchmarks. The library keeps state from one text to
the next, so each recording is made in a fresh process (``python -m
autophon_core.synthetic_speech VOICE RATE OUT.wav`` with the text on stdin, timings as JSON
on stdout): the same text then always gives the same recording.
"""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
import wave
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from autophon_core.lexicon import normalise_words, word_spans

LIBRARY = "libespeak-ng.so.1"
_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS
_PHONEME_EVENTS = 0x0001  # espeakINITIALIZE_PHONEME_EVENTS
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_WORD, _END, _PHONEME, _LIST_TERMINATED = 1, 5, 7, 0


class _Event(ctypes.Structure):
    # espeak_EVENT of speak_lib.h
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_Callback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class WordTiming:
    """A word's span, or that of a few words espeak-ng speaks as one ("was the"): their
    inner boundaries are not known."""

    text: str  # as written
    start: float
    end: float

    @property
    def words(self) -> list[str]:
        return normalise_words(self.text)


def synthesize(text: str, voice: str, path: Path, rate_wpm: int = 160) -> list[WordTiming]:
    """Speak ``text`` with espeak-ng's ``voice`` into the WAV file ``path`` (its own rate,
    22050 Hz mono); returns each word's time span in seconds."""
    done = subprocess.run(
        [sys.executable, "-m", __name__, voice, str(rate_wpm), str(path)],
        input=text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"espeak-ng synthesis failed: {done.stderr.strip()[-500:]}")
    return [WordTiming(**timing) for timing in json.loads(done.stdout)]


def _synthesize_here(text: str, voice: str, path: Path, rate_wpm: int) -> list[WordTiming]:
    library: Any = ctypes.CDLL(LIBRARY)
    sample_rate = library.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS)
    if sample_rate <= 0:
        raise RuntimeError("espeak-ng could not be initialised")
    samples = array("h")
    events: list[tuple[int, int, int, int, bytes]] = []

    def collect(wav: Any, count: int, event: Any) -> int:
        if wav and count > 0:
            samples.extend(wav[:count])
        index = 0
        while event[index].type != _LIST_TERMINATED:
            e = event[index]
            name = bytes(e.id).split(b"\0")[0]
            events.append((e.type, e.text_position, e.length, e.sample, name))
            index += 1
        return 0

    callback = _Callback(collect)
    library.espeak_SetSynthCallback(callback)
    if library.espeak_SetVoiceByName(voice.encode()) != 0:
        raise ValueError(f"espeak-ng has no voice {voice!r}")
    library.espeak_SetParameter(1, rate_wpm, 0)  # espeakRATE
    encoded = text.encode("utf-8")
    library.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    library.espeak_Synchronize()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return _word_timings(text, events, sample_rate, len(samples))


def _word_timings(
    text: str,
    events: Sequence[tuple[int, int, int, int, bytes]],
    sample_rate: int,
    total: int,
) -> list[WordTiming]:
    """Word events start units; a unit runs to the word the next unit starts in (espeak-ng
    speaks "was the" as one word event, and may split a compound into two)."""
    spans = word_spans(text)

    def word_at(position: int) -> int:  # the word a character (0-based) starts or is in
        return next((i for i, (_, end) in enumerate(spans) if position < end), len(spans))

    units: list[tuple[int, list[int]]] = []  # first word index, start samples of phonemes
    boundaries: list[int] = []  # start samples of every phoneme, pauses included
    for kind, position, _length, sample, name in events:
        if kind == _WORD:
            index = word_at(position - 1)
            if not units or units[-1][0] != index:
                units.append((index, []))
        elif kind == _PHONEME:
            boundaries.append(sample)
            if units and not name.startswith(b"_"):
                units[-1][1].append(sample)
    boundaries.append(total)
    units = [(index, starts) for index, starts in units if starts and index < len(spans)]
    timings = []
    for number, (index, starts) in enumerate(units):
        last = units[number + 1][0] if number + 1 < len(units) else len(spans)
        words = " ".join(text[a:b] for a, b in spans[index:last])
        end = min(b for b in boundaries if b > starts[-1])
        timings.append(WordTiming(words, starts[0] / sample_rate, end / sample_rate))
    return timings


def boundary_errors(
    expected: Sequence[WordTiming], aligned: Sequence[tuple[float, float, str]]
) -> list[float]:
    """|expected - aligned| of every known word start and end (a group's first start and
    last end), in order; ``aligned`` are (start, end, word) in transcript order."""
    count = sum(len(timing.words) for timing in expected)
    if count != len(aligned):
        raise ValueError(f"{count} words expected, {len(aligned)} aligned")
    errors = []
    index = 0
    for timing in expected:
        group = aligned[index : index + len(timing.words)]
        index += len(timing.words)
        errors += [abs(timing.start - group[0][0]), abs(timing.end - group[-1][1])]
    return errors


if __name__ == "__main__":
    timings = _synthesize_here(sys.stdin.read(), sys.argv[1], Path(sys.argv[3]), int(sys.argv[2]))
    print(json.dumps([asdict(timing) for timing in timings]))
