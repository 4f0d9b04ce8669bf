"""Language codes: ISO 639-3 codes, the aliases users type for them, and a guess of the
language a transcript is written in.

Configured languages are named by ISO 639-3 codes (``eng``, ``dan``, ``nob``, ``swe``).
An upload may name one by its code or an alias: the two-letter ISO 639-1 code, the English or
the native name, and the macrolanguage code (``nor`` for Norwegian Bokmål). The aliases of
common languages are built in (KNOWN_LANGUAGES); a configured language adds its own with
``aliases``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from autophon_core.config import LanguageConfig


@dataclass(frozen=True)
class KnownLanguage:
    code: str  # ISO 639-3
    iso1: str  # ISO 639-1, the code language identification answers with
    name: str
    aliases: tuple[str, ...] = ()


KNOWN_LANGUAGES: tuple[KnownLanguage, ...] = (
    KnownLanguage("eng", "en", "English", ("en-us", "en-gb", "english")),
    KnownLanguage("dan", "da", "Danish", ("danish", "dansk")),
    KnownLanguage(
        "nob", "no", "Norwegian Bokmål", ("nor", "nb", "norwegian", "norsk", "bokmål", "bokmal")
    ),
    KnownLanguage("nno", "nn", "Norwegian Nynorsk", ("nynorsk",)),
    KnownLanguage("swe", "sv", "Swedish", ("swedish", "svenska")),
    KnownLanguage("fin", "fi", "Finnish", ("finnish", "suomi")),
    KnownLanguage("isl", "is", "Icelandic", ("icelandic", "íslenska")),
    KnownLanguage("deu", "de", "German", ("ger", "german", "deutsch")),
    KnownLanguage("nld", "nl", "Dutch", ("dut", "dutch", "nederlands")),
    KnownLanguage("fra", "fr", "French", ("fre", "french", "français")),
    KnownLanguage("spa", "es", "Spanish", ("spanish", "español")),
    KnownLanguage("ita", "it", "Italian", ("italian", "italiano")),
    KnownLanguage("por", "pt", "Portuguese", ("portuguese", "português")),
    KnownLanguage("pol", "pl", "Polish", ("polish", "polski")),
    KnownLanguage("ces", "cs", "Czech", ("cze", "czech", "čeština", "cestina")),
    KnownLanguage("rus", "ru", "Russian", ("russian", "русский", "russkij")),
    KnownLanguage("cat", "ca", "Catalan", ("catalan", "català", "catala")),
    KnownLanguage("hun", "hu", "Hungarian", ("hungarian", "magyar")),
    KnownLanguage("tur", "tr", "Turkish", ("turkish", "türkçe", "turkce")),
    KnownLanguage("ell", "el", "Greek", ("gre", "greek", "ελληνικά")),
    KnownLanguage("ukr", "uk", "Ukrainian", ("ukrainian", "українська")),
    KnownLanguage("slk", "sk", "Slovak", ("slo", "slovak", "slovenčina", "slovencina")),
)
_BY_CODE = {lang.code: lang for lang in KNOWN_LANGUAGES}
_BY_ISO1 = {lang.iso1: lang for lang in KNOWN_LANGUAGES}


def aliases_of(language: LanguageConfig) -> list[str]:
    """Every name an upload may use for ``language``, lower-case, its code first."""
    names = [language.code, *language.aliases]
    known = _BY_CODE.get(language.code)
    if known is not None:
        names += [known.iso1, *known.aliases]
    seen: list[str] = []
    for name in names:
        if name.lower() not in seen:
            seen.append(name.lower())
    return seen


def resolve_language(name: str, languages: Sequence[LanguageConfig]) -> LanguageConfig | None:
    """The configured language ``name`` stands for (a code or an alias, any case)."""
    wanted = name.strip().lower()
    for language in languages:
        if wanted in aliases_of(language):
            return language
    return None


def known_code(language: LanguageConfig) -> str | None:
    """The KNOWN_LANGUAGES code ``language`` is a variant of: its code ("eng"), the part
    before a dash ("eng-mfa"), or a built-in alias among its own aliases; None if none."""
    for candidate in (language.code, language.code.split("-")[0]):
        if candidate.lower() in _BY_CODE:
            return candidate.lower()
    names = {alias.lower() for alias in language.aliases}
    for known in KNOWN_LANGUAGES:
        if names & {known.code, known.iso1, *known.aliases}:
            return known.code
    return None


def language_name(code: str) -> str:
    known = _BY_CODE.get(code)
    return known.name if known else code


@dataclass(frozen=True)
class LanguageGuess:
    code: str  # ISO 639-3
    name: str
    probability: float
    # The probability of the language the task was uploaded with.
    chosen_probability: float


_identifier: Any = None
_identifier_lock = threading.Lock()


def _language_identifier() -> Any:
    """py3langid's model (about 1 s to load), loaded once per process."""
    global _identifier
    with _identifier_lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
        return _identifier


def guess_language(words: Iterable[str], chosen: str) -> LanguageGuess | None:
    """The language (among KNOWN_LANGUAGES) the words look most like, with the probability
    of the ``chosen`` one (an ISO 639-3 code) beside it; None without words."""
    text = " ".join(words)
    if not text.strip():
        return None
    identifier = _language_identifier()
    candidates = sorted({lang.iso1 for lang in KNOWN_LANGUAGES} & set(identifier.nb_classes))
    with _identifier_lock:  # set_languages changes the shared model
        identifier.set_languages(candidates)
        ranking = identifier.rank(text)
    probabilities = {iso1: float(p) for iso1, p in ranking}
    best_iso1, best = max(probabilities.items(), key=lambda item: item[1])
    chosen_known = _BY_CODE.get(chosen)
    chosen_probability = probabilities.get(chosen_known.iso1, 0.0) if chosen_known else 0.0
    language = _BY_ISO1[best_iso1]
    return LanguageGuess(language.code, language.name, best, chosen_probability)


def phone_set(language: LanguageConfig) -> str:
    """ "arpabet" (English: CMUdict and its guesses) or "ipa" (espeak-ng's phones, mapped to
    the English model's phones for alignment): ``assets.phone_set``, default arpabet."""
    return language.assets.get("phone_set", "arpabet").lower()


def alignment_description(language: LanguageConfig) -> str:
    """How ``language`` is aligned: its configured ``about``, else a sentence from its
    engine and assets."""
    if language.about:
        return language.about
    if language.engine == "pocketsphinx" and phone_set(language) == "ipa":
        voice = language.assets.get("espeak_voice", "?")
        return (
            f"Built-in engine, cross-language: pronunciations from espeak-ng (voice {voice}) "
            "in IPA, timed with the US-English acoustic model through AutoPhon's "
            "IPA-to-English phone mapping; expect word boundaries to be rougher than with a "
            "model of the language. Phone labels: IPA."
        )
    return f"Engine {language.engine}."
