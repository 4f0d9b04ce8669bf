"""The built-in engine: pocketsphinx 5 with its bundled US-English model and CMUdict.

Alignment runs in a child process (engines/pocketsphinx_worker.py) under the task's time
limit; this side writes the task's dictionary and the request, and reads the result back.
Language assets (all optional): ``hmm`` (acoustic model folder, default the bundled en-us),
``dictionary`` (default the bundled CMUdict), ``phone_set`` ("ipa": a cross-language
language, see engines/ipa.py), ``refine_boundaries`` ("false" turns off the
pause-edge refinement), ``vowel_onset_lead`` ("false" leaves a vowel-initial word joined to a
sonorant where the aligner starts it: refine.advance_vowel_onsets), ``speaker_adaptation``
("false" turns off the per-speaker MLLR adaptation and its second pass,
engines/adaptation.py), ``denoise`` ("false" aligns noisy recordings as they are, not a
denoised copy: engines/denoise.py), ``g2p_variants`` ("false" gives dictionary words only
their dictionary pronunciations, not also the guessed one: engines/pronunciations.py),
``whole_up_to_seconds`` and ``max_chunk_seconds`` (longer utterances are cut at pauses into
chunks of at most this length, aligned one by one; engines/chunks.py),
``word_window_seconds`` (the word pass over a long utterance goes window by window),
``max_audio_seconds`` (longer recordings are refused before alignment starts),
``espeak_voice`` and ``g2p`` (see engines/pronunciations.py).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Collection, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from autophon_align.engines import adaptation, denoise
from autophon_align.engines.arpabet import PHONES, strip_stress
from autophon_align.engines.audio import wav_duration
from autophon_align.engines.base import (
    ENGINE_LOG_NAME,
    AlignedWord,
    EngineFailed,
    EngineInputError,
    EngineResourceError,
    Interval,
    ProgressCallback,
    Utterance,
)
from autophon_align.engines.chunks import (
    MAX_CHUNK_SECONDS,
    WHOLE_UP_TO_SECONDS,
    WORD_WINDOW_SECONDS,
)
from autophon_align.engines.ipa import decoder_options, english_model_phones
from autophon_align.engines.process import run_tool
from autophon_align.engines.refine import MIN_SNR_DB, VOWEL_ONSET_LEAD
from autophon_core.config import LanguageConfig
from autophon_core.languages import phone_set
from autophon_core.lexicon import Lexicon, language_lexicon, pocketsphinx_model_dir

WORKER_MODULE = "autophon_align.engines.pocketsphinx_worker"
LOG = logging.getLogger("autophon.engine.pocketsphinx")
# The worker's share of the work done (a number, rewritten as it goes), in its work dir.
PROGRESS_NAME = "progress"
# The longest recording taken. A Job's memory grows by about 5-20 MiB per hour of audio (183 MiB
# for 60 minutes; README, Performance) and its time by ~0.12 s per second: four hours need
# ~250 MiB and ~30 minutes, well inside the Job's limits, and are a 460 MB WAV.
MAX_AUDIO_SECONDS = 4 * 3600.0


class PocketsphinxEngine:
    name: ClassVar[str] = "pocketsphinx"
    default_g2p: ClassVar[str] = "espeak-ng"
    requires_full_lexicon: ClassVar[bool] = True

    def __init__(self, language: LanguageConfig) -> None:
        self.language = language
        self.model_dir = Path(language.assets.get("hmm", pocketsphinx_model_dir() / "en-us"))
        self.refine = _switched_on(language, "refine_boundaries")
        self.vowel_onset_lead = _switched_on(language, "vowel_onset_lead")
        self.adapt = _switched_on(language, "speaker_adaptation")
        self.denoise = _switched_on(language, "denoise")
        self.guessed_variants = _switched_on(language, "g2p_variants")
        self.max_chunk_seconds = float(language.assets.get("max_chunk_seconds", MAX_CHUNK_SECONDS))
        self.whole_up_to_seconds = float(
            language.assets.get("whole_up_to_seconds", WHOLE_UP_TO_SECONDS)
        )
        self.word_window_seconds = float(
            language.assets.get("word_window_seconds", WORD_WINDOW_SECONDS)
        )
        self.max_audio_seconds = float(language.assets.get("max_audio_seconds", MAX_AUDIO_SECONDS))

    def version(self) -> str:
        try:
            return metadata.version("pocketsphinx")
        except metadata.PackageNotFoundError:
            return "unknown"

    def describe(self) -> str:
        return (
            f"pocketsphinx {self.version()} forced alignment (word and phone passes), "
            f"acoustic model {self.model_dir.name} ({self.model_dir}), "
            f"frame rate 100/s, utterances over {self.whole_up_to_seconds:g} s aligned in "
            f"chunks of at most {self.max_chunk_seconds:g} s cut at pauses, model adapted to "
            f"each speaker with {adaptation.MIN_SECONDS:g} s of speech standing "
            f"{adaptation.MIN_LEVEL_DB:g} dB above the pauses (MLLR) and aligned again: "
            f"{'yes' if self.adapt else 'no'}, pause edges refined where speech stands "
            f"{MIN_SNR_DB:g} dB above the pauses: {'yes' if self.refine else 'no'}, "
            f"a vowel-initial word joined to a sonorant started "
            f"{1000 * VOWEL_ONSET_LEAD:g} ms earlier: "
            f"{'yes' if self.refine and self.vowel_onset_lead else 'no'}, "
            f"recordings with speech less than {denoise.MAX_LEVEL_DB:g} dB above their "
            f"quietest tenth aligned on a denoised copy: {'yes' if self.denoise else 'no'}, "
            f"the guessed pronunciation a variant of dictionary words too: "
            f"{'yes' if self.guessed_variants else 'no'}"
        )

    def base_lexicon(self, words: Collection[str]) -> Lexicon:
        return language_lexicon(self.language, only=words)

    def engine_phones(self, phones: Sequence[str]) -> list[str]:
        """ARPAbet without stress digits (the en-us model has none); a cross-language
        language's IPA mapped to them (engines/ipa.py)."""
        if phone_set(self.language) == "ipa":
            try:
                return english_model_phones(phones)
            except ValueError as exc:
                raise EngineInputError(str(exc)) from None
        converted = [strip_stress(p.upper()) for p in phones]
        for phone in converted:
            if phone not in PHONES:
                raise EngineInputError(
                    f'"{phone}" is not an ARPAbet phone of the English model '
                    f"(use {', '.join(sorted(PHONES))})"
                )
        return converted

    def align(
        self,
        audio: Path,
        utterances: Sequence[Utterance],
        lexicon: Lexicon,
        work_dir: Path,
        timeout: float,
        progress: ProgressCallback | None = None,
    ) -> list[AlignedWord]:
        self._check_length(audio)
        dictionary = work_dir / "task.dict"
        _write_dictionary(dictionary, lexicon, {w for u in utterances for w in u.words})
        request: dict[str, Any] = {
            "audio": str(audio),
            "hmm": str(self.model_dir),
            "dict": str(dictionary),
            "log": str(work_dir / "pocketsphinx.log"),
            "progress": str(work_dir / PROGRESS_NAME),
            "refine": self.refine,
            "vowel_onset_lead": self.vowel_onset_lead,
            "adapt": self.adapt,
            "denoise": self.denoise,
            "options": decoder_options(phone_set(self.language)),
            "max_chunk_seconds": self.max_chunk_seconds,
            "whole_up_to_seconds": self.whole_up_to_seconds,
            "word_window_seconds": self.word_window_seconds,
            "utterances": [
                {"start": u.start, "end": u.end, "text": u.text, "speaker": u.speaker}
                for u in utterances
            ],
        }
        request_path = work_dir / "request.json"
        result_path = work_dir / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        log_path = work_dir / ENGINE_LOG_NAME
        try:
            run_tool(
                [sys.executable, "-m", WORKER_MODULE, str(request_path), str(result_path)],
                log_path=log_path,
                timeout=timeout,
                cwd=work_dir,
                what="pocketsphinx",
                on_wait=None if progress is None else partial(_pass_on, request, progress),
            )
        finally:
            _append(log_path, work_dir / "pocketsphinx.log")
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EngineFailed("pocketsphinx left no readable result.") from exc
        for note in result.get("notes", []):
            LOG.info("aligner note", extra={"detail": note, "audio": audio.name})
        words: list[AlignedWord] = []
        for utterance, outcome in zip(utterances, result["utterances"], strict=True):
            for word in outcome["words"]:
                phones = tuple(Interval(p[1], p[2], p[0]) for p in word["phones"])
                words.append(
                    AlignedWord(
                        word["start"], word["end"], word["label"], utterance.speaker, phones
                    )
                )
        return words

    def _check_length(self, audio: Path) -> None:
        """Refuse, before any work, a recording longer than the engine takes."""
        seconds = wav_duration(audio)
        if seconds > self.max_audio_seconds:
            raise EngineResourceError(
                f"it is {_duration(seconds)} long, and the built-in aligner takes recordings of "
                f"up to {_duration(self.max_audio_seconds)}."
            )


def _pass_on(request: dict[str, Any], progress: ProgressCallback) -> None:
    """Hand ``progress`` the share of the work the worker last wrote (if it wrote one)."""
    try:
        share = float(Path(request["progress"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    progress(share)


def _switched_on(language: LanguageConfig, asset: str) -> bool:
    """A step that runs unless the language's ``asset`` is "false"."""
    return language.assets.get(asset, "true").lower() != "false"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 120:
        return f"{minutes} minutes"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _write_dictionary(path: Path, lexicon: Lexicon, words: set[str]) -> None:
    """Only the task's words: the decoder loads it in milliseconds."""
    lines = []
    for word in sorted(words):
        for number, phones in enumerate(_plain_wh(lexicon.pronunciations(word)), start=1):
            key = word if number == 1 else f"{word}({number})"
            lines.append(f"{key} {' '.join(phones)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _plain_wh(pronunciations: list[list[str]]) -> list[list[str]]:
    """Without CMUdict's "HH W" alternates of words that also have "W" ("when", "why",
    "which"): the aligner took the HH to swallow the pause before such a word and started it
    up to 260 ms early; speakers who still aspirate the wh are few."""
    return [
        phones
        for phones in pronunciations
        if phones[:2] != ["HH", "W"] or phones[1:] not in pronunciations
    ]


def _append(log_path: Path, extra: Path) -> None:
    """Put the decoder's own warnings into the engine log."""
    if extra.exists():
        with log_path.open("a", encoding="utf-8") as log:
            log.write(extra.read_text(encoding="utf-8", errors="replace"))
