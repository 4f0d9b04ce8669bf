"""The engine interface: what the runner hands an aligner and what it gets back.

An engine aligns one recording at a time. It receives the recording (16 kHz mono WAV), the
utterances to align (each with its speaker tier and normalised words), a lexicon holding a
pronunciation for every word it needs, a scratch folder of its own and a time limit. It
returns the aligned words with their phones, in seconds from the start of the recording.
Everything else (reading the task, pronunciations of new words, TextGrids, the result zip) is
the runner's job, so adding an engine means writing one module and registering it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from autophon_core.config import LanguageConfig
from autophon_core.lexicon import Lexicon

# Every engine writes its own log (tool output) here, inside the work dir it was given; the
# runner keeps the last lines of these logs in the task's engine.log.
ENGINE_LOG_NAME = "engine.log"
# Called with the share of a recording's alignment done so far (0 to 1).
ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech to align: an interval of a speaker tier, or a whole recording."""

    start: float
    end: float
    # Normalised words (see autophon_core.lexicon.normalise_words), separated by one space.
    text: str
    # The input tier the utterance comes from ("" for a plain-text transcript).
    speaker: str = ""

    @property
    def words(self) -> list[str]:
        return self.text.split()


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    label: str


@dataclass(frozen=True)
class AlignedWord:
    """A word found in the recording, with its phones (in the engine's phone set)."""

    start: float
    end: float
    label: str
    speaker: str
    phones: tuple[Interval, ...] = ()


class EngineError(Exception):
    """Alignment failed; ``str(error)`` is a sentence a user can act on."""


class EngineTimeout(EngineError):
    """The engine did not finish within its time limit."""


class EngineFailed(EngineError):
    """The engine exited with an error or left no usable output."""


class EngineInputError(EngineError):
    """The engine cannot use this task's input (e.g. a phone its model does not have); running
    it again will not help."""


class EngineResourceError(EngineError):
    """The input is beyond what the engine can hold (too long, or it ran out of memory): not
    retried, since the same input would fail the same way; the message says what to do."""


class EngineUnavailable(EngineError):
    """The engine (or a tool it needs) is missing or misconfigured on this machine."""


class Engine(Protocol):
    """An aligner. Instances are created per task with the task's language."""

    # Registry key, stored with the task (Manifest.engine) and used for the Job image.
    name: ClassVar[str]
    # How pronunciations of out-of-dictionary words are guessed unless the language's
    # assets say otherwise (assets["g2p"]): "espeak-ng" (ARPAbet) or "none".
    default_g2p: ClassVar[str]
    # True when every word needs a pronunciation before alignment can start.
    requires_full_lexicon: ClassVar[bool]
    # True when dictionary words also get the guessed pronunciation as a variant
    # (engines/pronunciations.py).
    guessed_variants: bool

    def __init__(self, language: LanguageConfig) -> None: ...

    def version(self) -> str:
        """The engine's version, e.g. "5.1.1"."""
        ...

    def describe(self) -> str:
        """One line for the result's README: the engine, its model and where they come from."""
        ...

    def base_lexicon(self, words: Collection[str]) -> Lexicon:
        """The language's pronunciation dictionary as this engine reads it, restricted to
        ``words`` (the task's words: reading all of a large dictionary costs more than
        aligning a short recording)."""
        ...

    def engine_phones(self, phones: Sequence[str]) -> list[str]:
        """A pronunciation in the form the engine's model uses; raises EngineInputError naming
        the phone when the model does not have it."""
        ...

    def align(
        self,
        audio: Path,
        utterances: Sequence[Utterance],
        lexicon: Lexicon,
        work_dir: Path,
        timeout: float,
        progress: ProgressCallback | None = None,
    ) -> list[AlignedWord]:
        """Align the utterances of one recording. ``lexicon`` has the pronunciations to use
        (already in :meth:`engine_phones` form); ``work_dir`` exists, is empty and belongs to
        this call only; ``timeout`` is the number of seconds left for this task. An engine
        that can tell how far it got calls ``progress`` now and then with the share of the
        recording's work done (0 to 1; the built-in engine does, MFA and FAVE cannot)."""
        ...
