"""Connected synthetic speech whose word and phone times are known exactly.

espeak-ng (through its C library, ``libespeak-ng.so.1``, with ctypes) reports, while it
synthesises, the sample at which each word and each phoneme starts. A word starts at its word
event, or, after a pause, at its first phoneme; it ends where the next word starts or where a
pause phoneme ("_", "_:") starts. Phone boundaries are the phoneme events inside a word.
Everything is deterministic: the same text and voice give the same samples and times.

Used by the accuracy tests (services/align/tests/test_connected_accuracy.py) and by
``make bench`` (bench/accuracy.py and bench/scale.py).
"""

from __future__ import annotations

import ctypes
import math
import random
import subprocess
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

RATE = 16000  # what the files are written at (sox resamples espeak-ng's 22050 Hz)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_DONT_EXIT = 0x8000
_EVENT_END_OF_LIST, _EVENT_WORD, _EVENT_PHONEME = 0, 1, 7
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAMETER_RATE = 1

# Sentences of connected speech, with names and words missing from CMUdict.
SENTENCES = (
    "Marguerite asked seven purple monkeys to dance quietly under the golden bridge.",
    "Then Oskarsson carried the heavy wooden boxes outside before the evening rain began.",
    "Professor Thibodeaux measured the formants of every vowel in her grandmother's speech.",
    "Nobody expected the little orchestra from Vlissingen to play so beautifully that night.",
    "Please gather those zyzzyvas and bring them back to the laboratory by Friday morning.",
    "A phonetician listens carefully to tiny pauses between words in natural speech.",
)
VOICES = ("en-us", "en", "en-us+f3")


@dataclass(frozen=True)
class Timed:
    label: str
    start: float
    end: float
    phones: tuple[Timed, ...] = field(default=())


@dataclass
class Speech:
    """Samples at ``RATE`` and the words (with phones) they hold, in seconds."""

    samples: array[int]
    words: list[Timed]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE

    def extend(self, other: Speech, pause: float = 0.0) -> None:
        """Append ``pause`` seconds of silence and then ``other``."""
        self.samples.extend(array("h", bytes(2 * round(pause * RATE))))
        offset = self.seconds
        self.samples.extend(other.samples)
        self.words.extend(_shift(w, offset) for w in other.words)


class _Event(ctypes.Structure):
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


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class _Espeak:
    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        self.rate = self.lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_DONT_EXIT
        )
        if self.rate <= 0:
            raise RuntimeError("espeak-ng could not start")
        self.samples = array("h")
        self.events: list[tuple[int, int, int, str]] = []
        self._callback = _CALLBACK(self._receive)  # kept: the library holds the pointer
        self.lib.espeak_SetSynthCallback(self._callback)

    def _receive(
        self, wav: ctypes.Array[ctypes.c_short], count: int, events: ctypes.Array[_Event]
    ) -> int:  # type: ignore[type-arg]
        if wav and count > 0:
            self.samples.extend(wav[:count])
        i = 0
        while events[i].type != _EVENT_END_OF_LIST:
            event = events[i]
            name = event.id.decode("utf-8", "replace") if event.type == _EVENT_PHONEME else ""
            self.events.append((event.type, event.sample, event.length, name))
            i += 1
        return 0

    def speak(
        self, text: str, voice: str, words_per_minute: int
    ) -> tuple[array[int], list[tuple[int, int, int, str]]]:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice}")
        self.lib.espeak_SetParameter(_PARAMETER_RATE, words_per_minute, 0)
        self.samples, self.events = array("h"), []
        data = text.encode("utf-8")
        self.lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        self.lib.espeak_Synchronize()
        return self.samples, self.events


@cache
def _espeak() -> _Espeak:
    return _Espeak()


def synthesise(text: str, voice: str = "en-us", words_per_minute: int = 175) -> Speech:
    """``text`` spoken by ``voice``, resampled to 16 kHz, with its words' true times."""
    samples, events = _espeak().speak(text, voice, words_per_minute)
    rate = _espeak().rate
    words = _words(events, rate, len(samples) / rate)
    expected = len(text.split())
    if len(words) != expected:
        raise RuntimeError(f"espeak-ng made {len(words)} words of {expected}: {text!r}")
    labels = text.split()
    words = [Timed(label, w.start, w.end, w.phones) for label, w in zip(labels, words, strict=True)]
    return Speech(_resample(samples, rate), words)


def _words(events: Sequence[tuple[int, int, int, str]], rate: int, duration: float) -> list[Timed]:
    words: list[Timed] = []
    phonemes: list[tuple[float, str]] = []  # the current word's (start, name)
    after_pause = True

    def close(end: float) -> None:
        if phonemes:
            start = phonemes[0][0] if after_pause else word_start
            edges = [t for t, _ in phonemes[1:]]
            phones = tuple(
                Timed(name, s, e)
                for (_, name), s, e in zip(phonemes, [start, *edges], [*edges, end], strict=True)
                if e > s
            )
            words.append(Timed("", start, end, phones))
        phonemes.clear()

    word_start = 0.0
    for kind, sample, length, name in events:
        time = sample / rate
        if kind == _EVENT_WORD and length > 0:
            if phonemes:
                close(time)
                after_pause = False
            word_start = time
        elif kind == _EVENT_PHONEME and name.startswith("_"):
            if phonemes:
                close(time)
            after_pause = True
        elif kind == _EVENT_PHONEME and name:
            phonemes.append((time, name))
    close(duration)
    return words


def _resample(samples: array[int], rate: int) -> array[int]:
    """espeak-ng's samples at RATE, by sox (a good low-pass filter; times are unchanged)."""
    done = subprocess.run(
        [
            *["sox", "-t", "raw", "-r", str(rate), "-e", "signed", "-b", "16", "-c", "1", "-"],
            *["-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-"],
        ],
        input=samples.tobytes(),
        capture_output=True,
        check=True,
    )
    out = array("h")
    out.frombytes(done.stdout)
    return out


def _shift(word: Timed, offset: float) -> Timed:
    return Timed(
        word.label,
        word.start + offset,
        word.end + offset,
        tuple(Timed(p.label, p.start + offset, p.end + offset) for p in word.phones),
    )


def connected(
    sentences: Sequence[str], voice: str, pause: float = 0.35, lead: float = 0.3
) -> Speech:
    """The sentences one after another (one voice), ``pause`` s apart, ``lead`` s of silence
    before the first and after the last."""
    speech = Speech(array("h", bytes(2 * round(lead * RATE))), [])
    for number, sentence in enumerate(sentences):
        speech.extend(synthesise(sentence, voice), pause if number else 0.0)
    speech.extend(Speech(array("h"), []), lead)
    return speech


def with_noise(speech: Speech, snr_db: float, seed: int = 0) -> Speech:
    """White Gaussian noise added at ``snr_db`` below the power of the words' samples."""
    power = _mean_power(speech)
    sigma = math.sqrt(power / 10 ** (snr_db / 10))
    rng = random.Random(seed)
    noisy = array(
        "h", (max(-32768, min(32767, round(x + rng.gauss(0.0, sigma)))) for x in speech.samples)
    )
    return Speech(noisy, list(speech.words))


def _mean_power(speech: Speech) -> float:
    total, count = 0.0, 0
    for word in speech.words:
        part = speech.samples[round(word.start * RATE) : round(word.end * RATE)]
        total += sum(x * x for x in part)
        count += len(part)
    return total / max(count, 1)


def write_wav(speech: Speech, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(speech.samples.tobytes())
    return path


def long_speech(seconds: float, seed: int = 0, voice: str = "en-us") -> Speech:
    """At least ``seconds`` of one voice reading the sentences in a shuffled order, again and
    again (one continuous recording, as a read-aloud book)."""
    rng = random.Random(seed)
    speech = Speech(array("h", bytes(2 * round(0.3 * RATE))), [])
    cache: dict[str, Speech] = {}
    while speech.seconds < seconds:
        order = list(SENTENCES)
        rng.shuffle(order)
        for sentence in order:
            if sentence not in cache:
                cache[sentence] = synthesise(sentence, voice)
            speech.extend(cache[sentence], rng.choice((0.2, 0.35, 0.5, 0.8)))
    return speech
