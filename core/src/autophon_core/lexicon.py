"""Words and pronunciation dictionaries, shared by the upload worker (OOV counts) and the
runner (alignment), so both normalise a transcript the same way."""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from autophon_core.config import LanguageConfig
from autophon_core.languages import phone_set

# A word: letters/digits with apostrophes or hyphens inside ("don't", "o'clock", "well-known"),
# or a number with commas or colons or a per cent sign ("1,200", "7:30", "50%"): one word, as
# it is read ("one thousand two hundred"), not two ("one", "two hundred"). A full stop still
# parts numbers: "7.30" is a time in British English ("seven thirty"), which espeak-ng would
# read "seven point three zero".
_WORD_RE = re.compile(r"\d+(?:[,:]\d+)+%?|\d+%|[^\W_]+(?:['\u2019-][^\W_]+)*")


_NUMBER_RE = re.compile(r"^\d+(?:\.\d+)?$")


def normalise_words(text: str) -> list[str]:
    """Split a transcript into lower-case words, keeping apostrophes and hyphens inside words
    and numbers' commas, colons and per cent signs, dropping other punctuation ("Hello,
    world!" -> ["hello", "world"]; "1,200 (50%)" -> ["1,200", "50%"])."""
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    return [text[start:end].lower() for start, end in word_spans(text)]


def word_spans(text: str) -> list[tuple[int, int]]:
    """Where each word of normalise_words(text) is in ``text`` (start, end), for NFC text
    with straight apostrophes."""
    return [match.span() for match in _WORD_RE.finditer(text)]


class DictionaryError(ValueError):
    """A pronunciation dictionary line that cannot be read."""


@dataclass
class Lexicon:
    """A pronunciation dictionary: word -> list of pronunciations (phone lists)."""

    entries: dict[str, list[list[str]]] = field(default_factory=dict)

    def __contains__(self, word: object) -> bool:
        return word in self.entries

    def pronunciations(self, word: str) -> list[list[str]]:
        return self.entries.get(word, [])

    def missing(self, words: Iterable[str]) -> list[str]:
        """Words not in the dictionary, sorted, each once."""
        return sorted({w for w in words if w not in self.entries})

    def merged(self, other: Lexicon) -> Lexicon:
        """A copy where ``other``'s words replace ours (a user dictionary overrides)."""
        return Lexicon({**self.entries, **other.entries})


def parse_dictionary(
    text: str, source: str = "dictionary", only: Collection[str] | None = None
) -> Lexicon:
    """Read a CMUdict-style dictionary: ``WORD PH1 PH2 ...`` per line, alternates as
    ``word(2)``, ``;;;`` comments; MFA's numeric columns between the word and its phones
    (pronunciation and silence probabilities) are dropped. Words are lower-cased.
    Raises DictionaryError naming the line for a malformed one. With ``only``, just those
    words are kept (an alignment needs a few hundred of CMUdict's 134,000 entries)."""
    wanted = None if only is None else set(only)
    lexicon = Lexicon()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(";;;") or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) < 2:
            raise DictionaryError(
                f"{source}, line {number}: expected a word followed by its phones, "
                f"got {raw.strip()[:60]!r}"
            )
        word = re.sub(r"\(\d+\)$", "", parts[0]).lower()
        if wanted is not None and word not in wanted:
            continue
        if not normalise_words(word) or "\x00" in word:
            raise DictionaryError(f"{source}, line {number}: {parts[0][:60]!r} is not a word")
        phones = parts[1:]
        while len(phones) > 1 and _NUMBER_RE.match(phones[0]):
            phones = phones[1:]
        lexicon.entries.setdefault(word, []).append(phones)
    return lexicon


def read_dictionary(path: Path, only: Collection[str] | None = None) -> Lexicon:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DictionaryError(f"{path.name} is not UTF-8 text") from exc
    return parse_dictionary(text, source=path.name, only=only)


def pocketsphinx_model_dir() -> Path:
    import pocketsphinx

    return Path(pocketsphinx.get_model_path()) / "en-us"


def dictionary_path(language: LanguageConfig) -> Path | None:
    """The language's pronunciation dictionary: ``assets.dictionary`` if set; the pocketsphinx
    engine defaults to the CMUdict it ships with for English (ARPAbet) languages, and to none
    for the cross-language (IPA) ones, whose pronunciations come from espeak-ng."""
    if "dictionary" in language.assets:
        return Path(language.assets["dictionary"])
    if language.engine == "pocketsphinx" and phone_set(language) == "arpabet":
        return pocketsphinx_model_dir() / "cmudict-en-us.dict"
    return None


_cache_lock = threading.Lock()


@lru_cache(maxsize=8)
def _cached_dictionary(path: Path) -> Lexicon:
    return read_dictionary(path)


def language_lexicon(language: LanguageConfig, only: Collection[str] | None = None) -> Lexicon:
    """The language's dictionary; empty when the language has none on this machine (e.g. MFA
    models that live only in the aligner image). The whole dictionary is read once per
    process (under a lock, so concurrent threads do not each parse it); with ``only``, just
    those words are read, uncached (what a one-task alignment Job needs)."""
    path = dictionary_path(language)
    if path is None or not path.exists():
        return Lexicon()
    if only is not None:
        return read_dictionary(path, only=only)
    with _cache_lock:
        return _cached_dictionary(path)
