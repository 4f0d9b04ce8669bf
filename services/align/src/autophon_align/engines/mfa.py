"""Montreal Forced Aligner 3, through its command line (``mfa align``).

Language assets:

- ``acoustic_model``: path of the acoustic model (.zip), required.
- ``dictionary``: path of the pronunciation dictionary, required (a file, not a model name:
  the runner reads it to find out-of-dictionary words, and MFA_ROOT_DIR is per task, so
  models downloaded by name into another root are not seen).
- ``mfa_command``: how to run MFA (default ``mfa``), e.g. ``/opt/conda/bin/mfa``.
- ``g2p_model``: optional G2P model path, passed as ``--g2p_model_path`` so MFA guesses
  pronunciations of words in no dictionary itself.
- ``num_jobs`` (default 1) and ``mfa_args`` (extra arguments, shell-quoted).

Each recording becomes a one-file corpus in the task's work folder: the WAV (linked) and a
TextGrid with one tier per speaker holding the utterances. MFA gets a dictionary of this
task's words only (the language's pronunciations with the user's overriding them), its own
MFA_ROOT_DIR and temporary directory under the work folder, so concurrent tasks share no
state. Its output TextGrid has "words"/"phones" tiers, or "<speaker> - words"/"<speaker> -
phones" when there are several speakers.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import ClassVar

from praatio import textgrid as praatio_textgrid

from autophon_align.engines.audio import wav_duration
from autophon_align.engines.base import (
    ENGINE_LOG_NAME,
    AlignedWord,
    EngineInputError,
    EngineUnavailable,
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


class MfaEngine:
    name: ClassVar[str] = "mfa"
    # MFA guesses with its own G2P model (assets g2p_model); espeak-ng's ARPAbet suits only
    # ARPAbet models, so it is opt-in (assets g2p: espeak-ng).
    default_g2p: ClassVar[str] = "none"
    requires_full_lexicon: ClassVar[bool] = False

    def __init__(self, language: LanguageConfig) -> None:
        assets = language.assets
        self.language = language
        self.command = command_line(assets.get("mfa_command", "mfa"))
        self.acoustic_model = assets.get("acoustic_model", "")
        self.dictionary = Path(assets.get("dictionary", ""))
        self.g2p_model = assets.get("g2p_model")
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
        if not phones:
            raise EngineInputError("a pronunciation needs at least one phone")
        return list(phones)

    def align(
        self,
        audio: Path,
        utterances: Sequence[Utterance],
        lexicon: Lexicon,
        work_dir: Path,
        timeout: float,
    ) -> list[AlignedWord]:
        stem = audio.stem
        corpus, output = work_dir / "corpus", work_dir / "aligned"
        link(audio, corpus / f"{stem}.wav")
        ids = speaker_ids(utterances)
        _write_corpus_textgrid(corpus / f"{stem}.TextGrid", utterances, ids, audio)
        dictionary = work_dir / "task.dict"
        _write_dictionary(dictionary, lexicon, {w for u in utterances for w in u.words})
        command = [
            *self.command,
            "align",
            str(corpus),
            str(dictionary),
            self.acoustic_model,
            str(output),
            "--clean",
            "--overwrite",
            "--single_speaker",
            "--output_format",
            "long_textgrid",
            "--temporary_directory",
            str(work_dir / "mfa_tmp"),
            "--num_jobs",
            self.num_jobs,
        ]
        if self.g2p_model:
            command += ["--g2p_model_path", self.g2p_model]
        command += self.extra_args
        run_tool(
            command,
            log_path=work_dir / ENGINE_LOG_NAME,
            timeout=timeout,
            cwd=work_dir,
            env=tool_env(MFA_ROOT_DIR=str(work_dir / "mfa_root")),
            what="mfa",
        )
        found = sorted(output.rglob(f"{stem}.TextGrid"))
        tiers = read_output(found[0] if found else output / f"{stem}.TextGrid", "mfa")
        aligned: list[AlignedWord] = []
        for speaker, sid in ids.items():
            own = [u for u in utterances if u.speaker == speaker]
            names = (f"{sid} - words", f"{sid} - phones")
            if names[0] not in tiers and len(ids) == 1:
                names = ("words", "phones")
            aligned += words_from_tiers(
                tiers.get(names[0], []), tiers.get(names[1], []), own, silences=SILENCES
            )
        return aligned


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
        entries = [(u.start, u.end, u.text) for u in utterances if u.speaker == speaker]
        grid.addTier(praatio_textgrid.IntervalTier(sid, entries, 0.0, duration))
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def _write_dictionary(path: Path, lexicon: Lexicon, words: set[str]) -> None:
    lines = [
        f"{word}\t{' '.join(phones)}"
        for word in sorted(words)
        for phones in lexicon.pronunciations(word)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
