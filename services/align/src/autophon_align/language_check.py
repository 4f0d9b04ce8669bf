"""Does the transcript look like the language the task was uploaded with?

Two signs, both told to the user as warnings (and, when nothing could be aligned, in the
error): most of the words are missing from the language's dictionary, or a language identifier
(py3langid, restricted to autophon_core.languages.KNOWN_LANGUAGES) is sure that the words are
in another language. With a dictionary the identifier is asked only when more than
IDENTIFY_SHARE of the words are missing from it: a German transcript uploaded as English has
many words CMUdict knows ("am", "mit", "von", "Dresden"), so fewer than half are missing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from autophon_core.config import LanguageConfig
from autophon_core.languages import LanguageGuess, guess_language, known_code, language_name

# More than this share of the transcript's words missing from the dictionary is suspicious.
MISSING_SHARE = 0.5
# With a dictionary, the identifier is asked when more than this share is missing.
IDENTIFY_SHARE = 0.2
# Without a dictionary: the identifier must be this sure of another language, and give the
# chosen one less than CHOSEN_FLOOR (Danish and Norwegian share most of their spelling).
SURE = 0.9
CHOSEN_FLOOR = 0.01


@dataclass(frozen=True)
class LanguageCheck:
    warnings: list[str]
    # The language the transcript looks like, when that is not the task's language.
    other: LanguageGuess | None
    # The task's language, by name.
    chosen: str

    def hint(self) -> str:
        """A clause for an error message: which language the transcript may be in."""
        if self.other is None:
            return f"and that the recordings are in {self.chosen}"
        return f"and the language: the transcripts look like {self.other.name}, not {self.chosen}"


def check_language(
    words: Sequence[str],
    missing: Collection[str],
    language: LanguageConfig,
    configured: Sequence[LanguageConfig],
    has_dictionary: bool,
) -> LanguageCheck:
    if not words:
        return LanguageCheck([], None, language.name)
    absent = sum(1 for word in words if word in missing)
    share = absent / len(words)
    if has_dictionary and share <= IDENTIFY_SHARE:
        return LanguageCheck([], None, language.name)  # no need to load the identifier
    chosen = known_code(language) or language.code
    guess = guess_language(words, chosen)
    other = guess if guess is not None and guess.code != chosen else None
    if has_dictionary and share > MISSING_SHARE:
        message = (
            f"{absent} of {len(words)} words ({share:.0%}) of the transcripts are not in the "
            f"{language.name} dictionary"
        )
        return LanguageCheck(
            [message + _suggestion(other, language, configured)], other, language.name
        )
    if other is None or other.probability < SURE or other.chosen_probability >= CHOSEN_FLOOR:
        return LanguageCheck([], None, language.name)
    message = f"The transcripts look like {other.name} rather than {language.name}"
    return LanguageCheck([message + _advice(other, configured)], other, language.name)


def _suggestion(
    other: LanguageGuess | None, language: LanguageConfig, configured: Sequence[LanguageConfig]
) -> str:
    if other is None:
        return (
            f": check that the recordings are in {language.name} and that the transcripts "
            "are spelled as usual."
        )
    return f"; they look like {language_name(other.code)}" + _advice(other, configured)


def _advice(other: LanguageGuess, configured: Sequence[LanguageConfig]) -> str:
    if other.code in {lang.code for lang in configured}:
        return f": if they are, upload them again with language {other.code}."
    return ", which this server does not align (ask its administrator)."
