"""The pronunciations one task uses, and where each came from.

Order of precedence: the task's user dictionary (``input/user.dict``), then the language's
dictionary, then a guess (espeak-ng) for words in neither. A word not in the language's
dictionary is "missing" (out of dictionary) whether the user's dictionary or a guess covered
it; missing_words.txt lists them with the pronunciation used and its source.

An engine may also want the guess as one more variant of a dictionary word (the aligner picks
the variant that fits the recording): speakers, and synthesisers, say some words, names above
all, otherwise than the dictionary. For the built-in engine that took the largest error on
connected espeak-ng speech from 180 ms (Thibodeaux said with a final "ks", which CMUdict
lacks) to under 80 ms and changed nothing on Festival's voices, whose lexicon is CMUdict's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from autophon_align.engines.base import EngineInputError
from autophon_core.lexicon import Lexicon


class Source(StrEnum):
    DICTIONARY = "dictionary"
    USER = "user dictionary"
    ESPEAK = "espeak-ng"


@dataclass(frozen=True)
class Entry:
    word: str
    # In the engine's phone form (Engine.engine_phones).
    pronunciations: list[list[str]]
    source: Source
    # The same pronunciations in IPA, phone for phone (for the IPA TextGrid).
    ipa: list[list[str]] = field(default_factory=list)


@dataclass
class TaskLexicon:
    entries: dict[str, Entry] = field(default_factory=dict)
    # Words not in the language's dictionary, sorted.
    missing: list[str] = field(default_factory=list)
    # Words with no pronunciation from any source, sorted.
    unpronounceable: list[str] = field(default_factory=list)

    def lexicon(self) -> Lexicon:
        return Lexicon({word: entry.pronunciations for word, entry in self.entries.items()})

    def ipa_labels(self, word: str, phones: Sequence[str]) -> list[str] | None:
        """The IPA labels of ``word`` aligned with the engine phones ``phones``: those of the
        pronunciation the engine chose; None when no pronunciation matches."""
        entry = self.entries.get(word)
        if entry is None:
            return None
        for pronunciation, ipa in zip(entry.pronunciations, entry.ipa, strict=False):
            if list(phones) == pronunciation and len(ipa) == len(phones):
                return ipa
        return None

    def guessed(self) -> list[str]:
        """Words aligned with a guessed pronunciation, sorted."""
        return sorted(w for w, e in self.entries.items() if e.source is Source.ESPEAK)


def build_task_lexicon(
    words: Iterable[str],
    *,
    base: Lexicon,
    user: Lexicon,
    guess: Callable[[list[str]], dict[str, list[str]]] | None,
    to_engine: Callable[[Sequence[str]], list[str]],
    to_ipa: Callable[[Sequence[str]], list[str]],
    user_dict_name: str = "user.dict",
    guessed_variants: bool = False,
) -> TaskLexicon:
    """Pronunciations for ``words`` in the engine's phone form (see Engine.engine_phones),
    each with its IPA labels (``to_ipa`` of the pronunciation as found, one per phone).

    Raises EngineInputError when the user's dictionary uses a phone the engine cannot use.
    ``guess`` (None: no guessing) is called once with the words found nowhere else and, when
    ``guessed_variants``, the language's dictionary words, whose guess becomes their last
    variant.
    """
    unique = sorted(set(words))
    result = TaskLexicon(missing=[w for w in unique if w not in base])
    to_guess: list[str] = []
    for word in unique:
        if word in user:
            usable = _user_pronunciations(word, user, to_engine, to_ipa, user_dict_name)
            result.entries[word] = _entry(word, usable, Source.USER)
        elif word in base:
            usable = _usable(base.pronunciations(word), to_engine, to_ipa)
            if usable:
                result.entries[word] = _entry(word, usable, Source.DICTIONARY)
            else:
                to_guess.append(word)
        else:
            to_guess.append(word)
    to_vary = [
        w for w, e in result.entries.items() if guessed_variants and e.source is Source.DICTIONARY
    ]
    asked = to_guess + to_vary
    guesses = guess(asked) if guess and asked else {}
    for word in to_vary:
        if word in guesses:
            usable = _usable([*base.pronunciations(word), guesses[word]], to_engine, to_ipa)
            result.entries[word] = _entry(word, usable, Source.DICTIONARY)
    for word in to_guess:
        usable = _usable([guesses[word]] if word in guesses else [], to_engine, to_ipa)
        if usable:
            result.entries[word] = _entry(word, usable, Source.ESPEAK)
        else:
            result.unpronounceable.append(word)
    return result


def _entry(word: str, usable: list[tuple[list[str], list[str]]], source: Source) -> Entry:
    return Entry(word, [phones for phones, _ in usable], source, [ipa for _, ipa in usable])


def _user_pronunciations(
    word: str,
    user: Lexicon,
    to_engine: Callable[[Sequence[str]], list[str]],
    to_ipa: Callable[[Sequence[str]], list[str]],
    user_dict_name: str,
) -> list[tuple[list[str], list[str]]]:
    pronunciations = []
    for phones in user.pronunciations(word):
        try:
            pronunciations.append((to_engine(phones), to_ipa(phones)))
        except EngineInputError as exc:
            raise EngineInputError(
                f'{user_dict_name}: the pronunciation of "{word}" ({" ".join(phones)}) '
                f"cannot be used: {exc}"
            ) from exc
    return pronunciations


def _usable(
    pronunciations: Iterable[Sequence[str]],
    to_engine: Callable[[Sequence[str]], list[str]],
    to_ipa: Callable[[Sequence[str]], list[str]],
) -> list[tuple[list[str], list[str]]]:
    """(engine phones, IPA labels) of each pronunciation the engine can use, each once."""
    usable: list[tuple[list[str], list[str]]] = []
    for phones in pronunciations:
        try:
            converted = to_engine(phones)
        except EngineInputError:
            continue
        if converted and converted not in [seen for seen, _ in usable]:
            usable.append((converted, to_ipa(phones)))
    return usable


def missing_words_text(
    lexicon: TaskLexicon, dictionary_name: str, has_dictionary: bool = True, in_ipa: bool = False
) -> str:
    """missing_words.txt: each out-of-dictionary word with the pronunciation(s) used, in the
    engine's phones or, ``in_ipa`` (a language whose dictionaries are written in IPA), in IPA:
    the form a user's .dict correcting them takes."""
    if has_dictionary:
        lines = [
            f"# Words not in the {dictionary_name} pronunciation dictionary, with the",
            "# pronunciation used to align them and where it came from. Guessed (espeak-ng)",
            "# pronunciations may be wrong: correct them in a .dict file and upload it again.",
        ]
    else:
        lines = [
            f"# {dictionary_name} has no pronunciation dictionary: every word, with the",
            "# pronunciation used to align it (IPA) and where it came from. espeak-ng's",
            "# pronunciations may be wrong: correct them in a .dict file and upload it again.",
        ]
    lines.append("# word\tpronunciation\tsource")
    for word in lexicon.missing:
        entry = lexicon.entries.get(word)
        if entry is None:
            lines.append(f"{word}\t\tnone found: not aligned")
            continue
        shown = entry.ipa if in_ipa else entry.pronunciations
        lines.extend(f"{word}\t{' '.join(p)}\t{entry.source}" for p in shown)
    if not lexicon.missing:
        lines.append("# (none: every word was in the dictionary)")
    return "\n".join(lines) + "\n"
