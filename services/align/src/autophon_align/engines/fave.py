"""FAVE-align 2 (HTK-based): the ``fave`` package from PyPI (2.0.2, what
docker/Dockerfile.aligner-fave installs), run through ``engines/fave_compat.py``, which makes
it work on Python 3.11 and keeps one failed chunk from losing the whole file.

Language assets (all optional):

- ``fave_command``: how to run FAVE's ``fave-align`` (default: this Python with
  ``-m autophon_align.engines.fave_compat``). The plain ``fave-align`` script of FAVE 2.0.2
  fails on Python >= 3.11 (see fave_compat).
- ``fave_args``: extra arguments, shell-quoted.
- ``model_dir``: FAVE's ``model`` folder (HTK models, ``monophones``, the CMU ``dict``);
  default the installed ``fave`` package's ``align/model``.
- ``dictionary``: the pronunciation dictionary, default ``<model_dir>/dict``.
- ``htk_tools``: folder of the HTK binaries (HCopy, HVite), passed as ``-t`` when set
  (default: PATH).

FAVE finds its models as ``./align/model`` (``fave/align/aligner.py:454-460``) and writes its
chunks and ``tmp/`` in the current folder, so it runs in a folder of the task's own work
folder holding a link to the models: concurrent tasks share no files. It takes a WAV, a
tab-delimited transcript (speaker id, speaker name, start, end, text) and an output TextGrid
path, and writes tiers "<speaker> - phone" and "<speaker> - word".

What FAVE does with the words it is given, and how the adapter copes:

- It re-tokenises each line (``fave/align/transcriptprocessor.py:113,191-208``: upper case,
  punctuation removed, hyphenated words split, a digit followed by letters deleted) and reads
  the dictionary as latin-1 (``fave/cmudictionary.py:159``), skipping words it cannot find
  (``aligner.py:571-577``). "well-known", "1990s" or "café" would silently vanish, so FAVE
  gets each distinct word as an opaque code of capital letters ("WA", "WB"...), which passes
  all of that unchanged; the codes are mapped back to our words on its word tier.
- It puts ``sp`` between all words of HVite's label file (``aligner.py:555,573``) and gives
  HVite our ``-d`` dictionary (``aligner.py:477``), so the dictionary must have ``sp  sp``, as
  FAVE's own ``model/dict`` does (its last line).
"""

from __future__ import annotations

import importlib.util
import string
import sys
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from autophon_align.engines.arpabet import PHONES, VOWELS, strip_stress
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
    tool_version,
    words_from_tiers,
)
from autophon_align.engines.process import run_tool
from autophon_core.config import LanguageConfig
from autophon_core.lexicon import DictionaryError, Lexicon, parse_dictionary

SILENCES = frozenset({"sp", "sil"})
# FAVE's short pause: a word of its own between all words of the label file.
SHORT_PAUSE_ENTRY = "sp  sp"
# The name of FAVE's files in its run folder.
RUN_NAME = "recording"
# FAVE reads dictionaries in this encoding (fave/cmudictionary.py:159).
FAVE_DICTIONARY_ENCODING = "latin-1"


class FaveEngine:
    name: ClassVar[str] = "fave"
    default_g2p: ClassVar[str] = "espeak-ng"
    # FAVE skips words it has no pronunciation for.
    requires_full_lexicon: ClassVar[bool] = True
    guessed_variants = False

    def __init__(self, language: LanguageConfig) -> None:
        assets = language.assets
        self.language = language
        configured = assets.get("fave_command")
        self.command = (
            command_line(configured)
            if configured
            else [sys.executable, "-m", "autophon_align.engines.fave_compat"]
        )
        self.extra_args = command_line(assets.get("fave_args", ""))
        model_dir = assets.get("model_dir")
        self.model_dir = Path(model_dir) if model_dir else _packaged_model_dir()
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
            text = self.dictionary.read_text(encoding=FAVE_DICTIONARY_ENCODING)
            return parse_dictionary(text, source=self.dictionary.name, only=words)
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
        progress: ProgressCallback | None = None,
    ) -> list[AlignedWord]:
        run_dir = work_dir / "fave"
        run_dir.mkdir(parents=True, exist_ok=True)
        if self.model_dir is None or not self.model_dir.is_dir():
            raise EngineUnavailable(f"FAVE's model folder {self.model_dir} does not exist")
        link(self.model_dir, run_dir / "align" / "model")
        # FAVE builds shell commands from these names (sox, HCopy, HVite through os.system:
        # aligner.py:331-346,465-486): fixed names need no quoting.
        wav = link(audio, run_dir / f"{RUN_NAME}.wav")
        ids = speaker_ids(utterances)
        codes = word_codes(w for u in utterances for w in u.words)
        transcript = run_dir / f"{RUN_NAME}.txt"
        transcript.write_text(
            "".join(
                f"{ids[u.speaker]}\t{ids[u.speaker]}\t{u.start:.3f}\t{u.end:.3f}\t"
                f"{' '.join(codes[w] for w in u.words)}\n"
                for u in sorted(utterances, key=lambda u: u.start)
            ),
            encoding="ascii",
        )
        dictionary = run_dir / "task.dict"
        dictionary.write_text(
            "".join(
                f"{code}  {' '.join(phones)}\n"
                for word, code in codes.items()
                for phones in lexicon.pronunciations(word)
            )
            + SHORT_PAUSE_ENTRY
            + "\n",
            encoding="ascii",
        )
        output = run_dir / f"{RUN_NAME}.TextGrid"
        # Names relative to the run folder (FAVE's working directory): the task's work folder
        # is named after the user's file, and FAVE puts the dictionary unquoted into HVite's
        # shell command line (aligner.py:465-481).
        command = [*self.command, *self.extra_args, "-v", "-d", dictionary.name]
        if self.htk_tools:
            command += ["-t", self.htk_tools]
        command += [wav.name, transcript.name, output.name]
        run_tool(
            command,
            log_path=work_dir / ENGINE_LOG_NAME,
            timeout=timeout,
            cwd=run_dir,
            what="FAVE-align",
        )
        tiers = read_output(output, "FAVE-align")
        words_of = {code: word for word, code in codes.items()}
        aligned: list[AlignedWord] = []
        for speaker, sid in ids.items():
            own = [u for u in utterances if u.speaker == speaker]
            word_tier = [
                Interval(w.start, w.end, words_of.get(w.label.strip(), w.label))
                for w in tiers.get(f"{sid} - word", [])
            ]
            aligned += words_from_tiers(
                word_tier, tiers.get(f"{sid} - phone", []), own, silences=SILENCES
            )
        return aligned


def word_codes(words: Iterable[str]) -> dict[str, str]:
    """Our words -> the codes FAVE sees: "W" and capital letters (base 26 of the word's
    number), which FAVE's re-tokenising leaves alone and latin-1 reads as written."""
    codes: dict[str, str] = {}
    for word in words:
        if word not in codes:
            number, letters = len(codes), ""
            while True:
                number, digit = divmod(number, 26)
                letters = string.ascii_uppercase[digit] + letters
                if number == 0:
                    break
            codes[word] = "W" + letters
    return codes


def _packaged_model_dir() -> Path | None:
    """The installed fave package's ``align/model``."""
    spec = importlib.util.find_spec("fave")
    if spec and spec.origin:
        packaged = Path(spec.origin).parent / "align" / "model"
        if packaged.is_dir():
            return packaged
    return None
