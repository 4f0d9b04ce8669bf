"""Montreal Forced Aligner 3, through its command line (``mfa align``). The image installs
MFA 3.4.1 (docker/Dockerfile.aligner-mfa); file:line references below are to its tag v3.4.1.

Language assets:

- ``acoustic_model``: path of the acoustic model (.zip), required.
- ``dictionary``: path of the pronunciation dictionary, required (a file, not a model name:
  the runner reads it to find out-of-dictionary words, and MFA_ROOT_DIR is per task, so
  models downloaded by name into another root are not seen).
- ``mfa_command``: how to run MFA (default ``mfa``), e.g. ``/opt/conda/bin/mfa``.
- ``g2p_model``: optional G2P model path, passed as ``--g2p_model_path`` so MFA guesses
  pronunciations of words in no dictionary itself.
- ``single_speaker``: "true" passes ``--single_speaker`` (default "false"). The flag does not
  name tiers: it turns speaker adaptation off (alignment/base.py:245) and splits jobs by
  utterance instead of by speaker, which only suits recordings of one speaker.
- ``num_jobs`` (default 1) and ``mfa_args`` (extra arguments, shell-quoted).

Each recording becomes a one-file corpus in the task's work folder: the WAV (linked) and a
TextGrid with one tier per speaker ("s1", "s2"...: MFA takes tier names as speaker names).
MFA gets a dictionary of this task's words only (the language's pronunciations with the
user's overriding them). Its MFA_ROOT_DIR and temporary directory, which holds its SQLite
database (abc.py:362-372, under config.TEMPORARY_DIRECTORY: abc.py:784-786), are a fresh
folder in the local temporary directory (the pod's /tmp, not the shared volume), removed
afterwards: concurrent tasks share no state.
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from collections.abc import Collection, Mapping, Sequence
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import yaml
from praatio import textgrid as praatio_textgrid

from autophon_align.engines.audio import wav_duration
from autophon_align.engines.base import (
    ENGINE_LOG_NAME,
    AlignedWord,
    EngineInputError,
    EngineUnavailable,
    Interval,
    ProgressCallback,
    Utterance,
)
from autophon_align.engines.external import (
    command_line,
    link,
    read_output,
    speaker_ids,
    tool_env,
    tool_version,
    words_from_tiers,
)
from autophon_align.engines.process import run_tool
from autophon_core.config import LanguageConfig
from autophon_core.lexicon import DictionaryError, Lexicon, read_dictionary

SILENCES = frozenset({"sil", "sp", "<eps>", "spn_sil"})
# MFA splits words at punctuation (DEFAULT_PUNCTUATION of its dictionary/mixins.py, in
# tokenization/simple.py); of the characters our words may hold, at a number's commas, colons
# and per cent sign ("1,200", "7:30", "50%"). MFA gets such words with "_" in their place.
_MFA_WORD_BREAKS = re.compile(r"[,:%]")
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})


class MfaEngine:
    name: ClassVar[str] = "mfa"
    # MFA guesses with its own G2P model (assets g2p_model); espeak-ng's ARPAbet suits only
    # ARPAbet models, so it is opt-in (assets g2p: espeak-ng).
    default_g2p: ClassVar[str] = "none"
    requires_full_lexicon: ClassVar[bool] = False
    guessed_variants = False

    def __init__(self, language: LanguageConfig) -> None:
        assets = language.assets
        self.language = language
        self.command = command_line(assets.get("mfa_command", "mfa"))
        self.acoustic_model = assets.get("acoustic_model", "")
        self.dictionary = Path(assets.get("dictionary", ""))
        self.g2p_model = assets.get("g2p_model")
        self.single_speaker = assets.get("single_speaker", "false").strip().lower() in TRUE_WORDS
        self.num_jobs = assets.get("num_jobs", "1")
        self.extra_args = command_line(assets.get("mfa_args", ""))

    def version(self) -> str:
        return tool_version((*self.command, "version"))

    def describe(self) -> str:
        return (
            f"Montreal Forced Aligner {self.version()}, acoustic model "
            f"{Path(self.acoustic_model).name}, dictionary {self.dictionary.name}"
            + (f", G2P model {Path(self.g2p_model).name}" if self.g2p_model else "")
        )

    def base_lexicon(self, words: Collection[str]) -> Lexicon:
        if not self.acoustic_model or not self.dictionary.is_file():
            raise EngineUnavailable(
                f'language "{self.language.code}" needs assets acoustic_model and dictionary '
                f"(a file) for MFA; dictionary is {str(self.dictionary) or 'not set'}"
            )
        return read_mfa_dictionary(self.dictionary, words)

    def engine_phones(self, phones: Sequence[str]) -> list[str]:
        """The pronunciation as it is, once every phone is one of the acoustic model's: MFA
        silently drops a pronunciation with any other phone (dictionary/multispeaker.py:
        585-594), which would leave the word unaligned without a word said."""
        if not phones:
            raise EngineInputError("a pronunciation needs at least one phone")
        for phone in phones:
            if phone not in self.model_phones:
                raise EngineInputError(
                    f'"{phone}" is not a phone of the acoustic model '
                    f"{Path(self.acoustic_model).name}"
                )
        return list(phones)

    @cached_property
    def model_phones(self) -> frozenset[str]:
        """The acoustic model's phones (meta.json "phones") and its silence and OOV phones."""
        meta = read_model_meta(Path(self.acoustic_model))
        phones = set(meta.get("phones") or [])
        if not phones:
            raise EngineUnavailable(
                f"the MFA acoustic model {self.acoustic_model} lists no phones in its metadata"
            )
        phones.update(
            str(meta[key]) for key in ("optional_silence_phone", "oov_phone") if key in meta
        )
        return frozenset(phones)

    def align(
        self,
        audio: Path,
        utterances: Sequence[Utterance],
        lexicon: Lexicon,
        work_dir: Path,
        timeout: float,
        progress: ProgressCallback | None = None,
    ) -> list[AlignedWord]:
        stem = audio.stem
        corpus, output = work_dir / "corpus", work_dir / "aligned"
        link(audio, corpus / f"{stem}.wav")
        ids = speaker_ids(utterances)
        _write_corpus_textgrid(corpus / f"{stem}.TextGrid", utterances, ids, audio)
        dictionary = work_dir / "task.dict"
        _write_dictionary(dictionary, lexicon, {w for u in utterances for w in u.words})
        with tempfile.TemporaryDirectory(prefix="autophon-mfa-") as scratch:
            command = [
                *self.command,
                "align",
                str(corpus),
                str(dictionary),
                self.acoustic_model,
                str(output),
                "--clean",
                "--overwrite",
                "--output_format",
                "long_textgrid",
                "--temporary_directory",
                str(Path(scratch) / "tmp"),
                "--no_use_postgres",
                "--num_jobs",
                self.num_jobs,
            ]
            if self.single_speaker:
                command.append("--single_speaker")
            if self.g2p_model:
                command += ["--g2p_model_path", self.g2p_model]
            command += self.extra_args
            run_tool(
                command,
                log_path=work_dir / ENGINE_LOG_NAME,
                timeout=timeout,
                cwd=work_dir,
                env=tool_env(MFA_ROOT_DIR=str(Path(scratch) / "root")),
                what="mfa",
            )
        found = sorted(output.rglob(f"{stem}.TextGrid"))
        if not found:
            # MFA writes no TextGrid for a file none of whose words aligned
            # (textgrid.py:483-489, 655); the runner reports that as bad input.
            return []
        return words_from_mfa_tiers(read_output(found[0], "mfa"), utterances, ids)


def words_from_mfa_tiers(
    tiers: Mapping[str, list[Interval]], utterances: Sequence[Utterance], ids: Mapping[str, str]
) -> list[AlignedWord]:
    """Aligned words from MFA's TextGrid.

    MFA names tiers "<speaker> - words"/"<speaker> - phones" only when more than one speaker
    got aligned phones, else plain "words"/"phones" (textgrid.py:614-617, 638-641), even when
    the corpus file had several speakers of which only one aligned. Plain tiers then belong
    to the speaker whose utterances hold their words.
    """
    if any(f"{sid} - words" in tiers for sid in ids.values()):
        aligned: list[AlignedWord] = []
        for speaker, sid in ids.items():
            own = [u for u in utterances if u.speaker == speaker]
            aligned += words_from_tiers(
                tiers.get(f"{sid} - words", []),
                tiers.get(f"{sid} - phones", []),
                own,
                silences=SILENCES,
            )
        return aligned
    words = tiers.get("words", [])
    speaker = _speaker_of(words, utterances)
    own = [u for u in utterances if u.speaker == speaker]
    return words_from_tiers(words, tiers.get("phones", []), own, silences=SILENCES)


def _speaker_of(words: Sequence[Interval], utterances: Sequence[Utterance]) -> str:
    """The speaker whose utterances hold most of ``words`` (then: most of their labels)."""

    def score(speaker: str) -> tuple[int, int]:
        inside = labels = 0
        for word in words:
            middle = (word.start + word.end) / 2
            for utterance in utterances:
                if utterance.speaker == speaker and utterance.start <= middle <= utterance.end:
                    inside += 1
                    labels += word.label.strip().lower() in utterance.words
                    break
        return inside, labels

    speakers = list(dict.fromkeys(u.speaker for u in utterances))
    return max(speakers, key=score)


def read_model_meta(path: Path) -> dict[str, Any]:
    """meta.json (or meta.yaml, older models) of an MFA model archive, at its top or in its
    one folder (models/classes.py:560-569, 657-667)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(
                (
                    n
                    for n in archive.namelist()
                    if PurePosixPath(n).name in ("meta.json", "meta.yaml")
                ),
                key=lambda n: (n.count("/"), not n.endswith(".json")),
            )
            if not names:
                raise EngineUnavailable(f"the MFA model {path} has no meta.json")
            text = archive.read(names[0]).decode("utf-8")
    except (OSError, zipfile.BadZipFile) as exc:
        raise EngineUnavailable(f"the MFA model {path} cannot be read: {exc}") from exc
    meta = json.loads(text) if names[0].endswith(".json") else yaml.safe_load(text)
    if not isinstance(meta, dict):
        raise EngineUnavailable(f"the MFA model {path} has unreadable metadata")
    return meta


def read_mfa_dictionary(path: Path, words: Collection[str] | None = None) -> Lexicon:
    """An MFA dictionary (its probability columns are dropped by parse_dictionary)."""
    try:
        return read_dictionary(path, only=words)
    except DictionaryError as exc:
        raise EngineUnavailable(f"the MFA dictionary cannot be read: {exc}") from exc


def _write_corpus_textgrid(
    path: Path, utterances: Sequence[Utterance], ids: dict[str, str], audio: Path
) -> None:
    duration = wav_duration(audio)
    grid = praatio_textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for speaker, sid in ids.items():
        entries = [
            (u.start, u.end, " ".join(_mfa_word(w) for w in u.words))
            for u in utterances
            if u.speaker == speaker
        ]
        grid.addTier(praatio_textgrid.IntervalTier(sid, entries, 0.0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def _write_dictionary(path: Path, lexicon: Lexicon, words: set[str]) -> None:
    lines = [
        f"{_mfa_word(word)}\t{' '.join(phones)}"
        for word in sorted(words)
        for phones in lexicon.pronunciations(word)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _mfa_word(word: str) -> str:
    """``word`` as MFA reads it as one word ("1,200" -> "1_200")."""
    return _MFA_WORD_BREAKS.sub("_", word)
