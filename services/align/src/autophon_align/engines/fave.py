"""FAVE-align (HTK-based) through its command line: ``fave-align`` of FAVE 2 (PyPI ``fave``,
what docker/Dockerfile.aligner-fave installs) or the older ``FAAValign.py``.

Language assets (all optional):

- ``fave_command``: how to run it (default ``fave-align``), e.g.
  ``python2 /opt/FAVE/FAVE-align/FAAValign.py``.
- ``fave_args``: extra arguments, shell-quoted (FAVE 1.x wants ``-n``: never prompt).
- ``model_dir``: FAVE's ``model`` folder (HTK models, monophones, the CMU ``dict``); default
  the ``model`` folder beside FAAValign.py, else the installed ``fave`` package's
  ``align/model``.
- ``dictionary``: the pronunciation dictionary, default ``<model_dir>/dict``.
- ``htk_tools``: folder of the HTK binaries (HCopy, HVite), passed as ``-t`` when set.

Both versions find their models relative to the current folder (FAVE 1 as ``./model``, FAVE 2
as ``./align/model``) and write their chunks and ``tmp/`` there, so FAVE runs in a folder of
the task's own work folder holding links to the models: concurrent tasks share no files. It
takes a WAV, a tab-delimited transcript (speaker id, speaker name, start, end, text) and an
output TextGrid path, and writes tiers "<speaker> - phone" and "<speaker> - word".
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import ClassVar

from autophon_align.engines.arpabet import PHONES, VOWELS, strip_stress
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
    tool_version,
    words_from_tiers,
)
from autophon_align.engines.process import run_tool
from autophon_core.config import LanguageConfig
from autophon_core.lexicon import DictionaryError, Lexicon, read_dictionary

SILENCES = frozenset({"sp", "sil"})


class FaveEngine:
    name: ClassVar[str] = "fave"
    default_g2p: ClassVar[str] = "espeak-ng"
    # FAVE skips words it has no pronunciation for (FAVE 1.x without -n prompts for them).
    requires_full_lexicon: ClassVar[bool] = True

    def __init__(self, language: LanguageConfig) -> None:
        assets = language.assets
        self.language = language
        self.command = command_line(assets.get("fave_command", "fave-align"))
        self.extra_args = command_line(assets.get("fave_args", ""))
        model_dir = assets.get("model_dir")
        self.model_dir = Path(model_dir) if model_dir else _default_model_dir(self.command)
        dictionary = assets.get("dictionary")
        self.dictionary = (
            Path(dictionary) if dictionary else self.model_dir / "dict" if self.model_dir else None
        )
        self.htk_tools = assets.get("htk_tools")

    def version(self) -> str:
        return tool_version((*self.command, "--version"))

    def describe(self) -> str:
        return (
            f"FAVE-align {self.version()} (HTK), models {self.model_dir}, "
            f"dictionary {self.dictionary.name if self.dictionary else 'none'}"
        )

    def base_lexicon(self, words: Collection[str]) -> Lexicon:
        if self.dictionary is None:
            raise EngineUnavailable(
                f"FAVE's model folder was not found; set assets.model_dir of language \""
                f'{self.language.code}"'
            )
        try:
            return read_dictionary(self.dictionary, only=words)
        except (OSError, DictionaryError) as exc:
            raise EngineUnavailable(f"FAVE's dictionary cannot be read: {exc}") from exc

    def engine_phones(self, phones: Sequence[str]) -> list[str]:
        """CMUdict ARPAbet with stress on every vowel, as FAVE's models have; a vowel without
        a stress digit gets primary stress."""
        converted = []
        for phone in (p.upper() for p in phones):
            base = strip_stress(phone)
            if base not in PHONES:
                raise EngineInputError(f'"{phone}" is not an ARPAbet phone')
            converted.append(phone + "1" if base in VOWELS and base == phone else phone)
        return converted

    def align(
        self,
        audio: Path,
        utterances: Sequence[Utterance],
        lexicon: Lexicon,
        work_dir: Path,
        timeout: float,
    ) -> list[AlignedWord]:
        run_dir = work_dir / "fave"
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.model_dir is None or not self.model_dir.is_dir():
            raise EngineUnavailable(f"FAVE's model folder {self.model_dir} does not exist")
        link(self.model_dir, run_dir / "model")  # FAVE 1.x
        link(self.model_dir, run_dir / "align" / "model")  # FAVE 2
        wav = link(audio, run_dir / f"{audio.stem}.wav")
        ids = speaker_ids(utterances)
        transcript = run_dir / f"{audio.stem}.txt"
        transcript.write_text(
            "".join(
                f"{ids[u.speaker]}\t{ids[u.speaker]}\t{u.start:.3f}\t{u.end:.3f}\t{u.text}\n"
                for u in sorted(utterances, key=lambda u: u.start)
            ),
            encoding="utf-8",
        )
        dictionary = run_dir / "task.dict"
        dictionary.write_text(
            "".join(
                f"{word.upper()}  {' '.join(phones)}\n"
                for word in sorted({w for u in utterances for w in u.words})
                for phones in lexicon.pronunciations(word)
            ),
            encoding="utf-8",
        )
        output = run_dir / f"{audio.stem}.TextGrid"
        command = [*self.command, *self.extra_args, "-v", "-d", str(dictionary)]
        if self.htk_tools:
            command += ["-t", self.htk_tools]
        command += [str(wav), str(transcript), str(output)]
        run_tool(
            command,
            log_path=work_dir / ENGINE_LOG_NAME,
            timeout=timeout,
            cwd=run_dir,
            what="FAVE-align",
        )
        tiers = read_output(output, "FAVE-align")
        aligned: list[AlignedWord] = []
        for speaker, sid in ids.items():
            own = [u for u in utterances if u.speaker == speaker]
            aligned += words_from_tiers(
                tiers.get(f"{sid} - word", []),
                tiers.get(f"{sid} - phone", []),
                own,
                silences=SILENCES,
            )
        return aligned


def _default_model_dir(command: list[str]) -> Path | None:
    """``model`` beside FAAValign.py (FAVE 1.x), else the installed package's (FAVE 2)."""
    if command:
        beside = Path(command[-1]).parent / "model"
        if beside.is_dir():
            return beside
    spec = importlib.util.find_spec("fave")
    if spec and spec.origin:
        packaged = Path(spec.origin).parent / "align" / "model"
        if packaged.is_dir():
            return packaged
    return None
