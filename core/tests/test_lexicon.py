from __future__ import annotations

import pytest

from autophon_core.config import LanguageConfig
from autophon_core.lexicon import (
    DictionaryError,
    language_lexicon,
    normalise_words,
    parse_dictionary,
)


def test_words_keep_inner_apostrophes_and_hyphens() -> None:
    assert normalise_words("Don\u2019t stop, well-known O'Brien!") == [
        "don't",
        "stop",
        "well-known",
        "o'brien",
    ]


def test_numbers_with_commas_colons_or_per_cent_are_one_word_each() -> None:
    assert normalise_words("On 7:30, 1,200 came (3.5% or 50%): in 2024.") == [
        "on",
        "7:30",
        "1,200",
        "came",
        "3",
        "5%",
        "or",
        "50%",
        "in",
        "2024",
    ]
    assert normalise_words("1950s, 21st, 2-1, $15 & a 1,") == [
        "1950s",
        "21st",
        "2-1",
        "15",
        "a",
        "1",
    ]


def test_dictionary_alternates_mfa_columns_and_errors() -> None:
    lexicon = parse_dictionary("THE DH AH0\nthe(2) DH IY0\nword 0.99 0.1 1.0 1.0 W ER D\n")
    assert lexicon.pronunciations("the") == [["DH", "AH0"], ["DH", "IY0"]]
    assert lexicon.pronunciations("word") == [["W", "ER", "D"]]
    with pytest.raises(DictionaryError, match=r"user\.dict, line 2"):
        parse_dictionary("a AH\nlonely\n", source="user.dict")


def test_only_the_wanted_words_are_read() -> None:
    english = LanguageConfig(code="eng", name="English", engine="pocketsphinx")
    subset = language_lexicon(english, only={"fox", "zorblax"})
    assert set(subset.entries) == {"fox"}
    assert subset.pronunciations("fox") == language_lexicon(english).pronunciations("fox")
