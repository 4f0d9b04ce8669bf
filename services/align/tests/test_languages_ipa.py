# ruff: noqa: RUF001  (IPA symbols are meant)
"""Cross-language pronunciations: espeak-ng's IPA, its mapping onto the English model's
phones, the ARPAbet-to-IPA table, and the transcript's language check."""

from __future__ import annotations

from pathlib import Path

import pytest

from autophon_align.engines.arpabet import ARPABET_TO_IPA, PHONES, arpabet_to_ipa
from autophon_align.engines.base import EngineInputError
from autophon_align.engines.espeak import espeak_pronunciations
from autophon_align.engines.ipa import (
    IPA_TO_ENGLISH_MODEL,
    espeak_ipa_words,
    fill_unknown_phones,
    ipa_labels_for,
    ipa_phone,
    model_phone,
)
from autophon_align.engines.pocketsphinx import PocketsphinxEngine
from autophon_align.engines.pronunciations import build_task_lexicon, missing_words_text
from autophon_align.language_check import check_language
from autophon_core.config import DEFAULT_LANGUAGES, LanguageConfig, Settings
from autophon_core.languages import guess_language, known_code, resolve_language
from autophon_core.lexicon import Lexicon, dictionary_path, normalise_words

ENGLISH, DANISH, NORWEGIAN, SWEDISH = DEFAULT_LANGUAGES[:4]


def test_every_arpabet_phone_has_one_ipa_label() -> None:
    assert {phone for phone in ARPABET_TO_IPA if phone[-1].isalpha()} == PHONES
    assert arpabet_to_ipa("AH0") == "ə" and arpabet_to_ipa("AH1") == "ʌ"
    assert arpabet_to_ipa("er0") == "ɚ" and arpabet_to_ipa("JH") == "dʒ"


def test_every_mapped_ipa_phone_is_a_phone_of_the_english_model() -> None:
    assert set(IPA_TO_ENGLISH_MODEL.values()) <= PHONES


def test_espeak_ipa_is_cleaned_into_ipa_phones() -> None:
    # Danish "hedder Søren" and Swedish "sjuk" as espeak-ng 1.51 writes them.
    assert espeak_ipa_words("h_ˈʔe_ð_ʔʌ_ s_ˈœ_ʔʌ_n") == [
        ["h", "eˀ", "ð", "ʌˀ"],
        ["s", "œ", "ʌˀ", "n"],
    ]
    assert espeak_ipa_words("sx_ˈʉ_k m_ε_ð") == [["ɧ", "ʉ", "k"], ["m", "ɛ", "ð"]]
    assert ipa_phone("ɒɒ") == "ɒː" and ipa_phone("ʔ") == ""
    assert [model_phone(p) for p in ["eˀ", "kː", "ɧ", "ʁ", "ɐ̯", "øː"]] == [
        "EY", "K", "SH", "R", "R", "ER"
    ]  # fmt: skip
    assert model_phone("☃") is None
    # A diphthong written as one phone is the English diphthong, not the vowel it starts with
    # (length ignored), and one the table lacks is its first vowel.
    assert [model_phone(p) for p in ["aɪ", "aʊ", "øy", "ɔʏ", "aːɪ", "ɛʊ"]] == [
        "AY", "AW", "OY", "OY", "AY", "EH"
    ]  # fmt: skip
    # Other languages' spellings of them (Dutch "trein", "huis", "oud"; Finnish "aika"), and
    # Spanish b between vowels, Polish ć and dź, Turkish dotless i.
    assert [model_phone(p) for p in ["ɛɪ", "œy", "ʌʊ", "ai", "β", "tɕ", "dʑ", "ɯ"]] == [
        "EY", "OY", "AW", "AY", "B", "CH", "JH", "IH"
    ]  # fmt: skip
    # Icelandic "hljótt" (espeak-ng's "#" is voiceless) and French "la maison" (its "-" after
    # an unstressed vowel).
    assert espeak_ipa_words("l#_j_ˈoʊ_h_d") == [["l̥", "j", "oʊ", "h", "d"]]
    assert espeak_ipa_words("l_a- m_ɛ_z_ˈɔ̃") == [["l", "a"], ["m", "ɛ", "z", "ɔ̃"]]
    assert model_phone("l̥") == "L"


def test_cross_language_engine_phones() -> None:
    engine = PocketsphinxEngine(DANISH)
    assert engine.engine_phones(["k", "œ", "b", "ə", "n", "h", "ɑ", "w", "n"]) == [
        "K", "AH", "B", "AH", "N", "HH", "AA", "W", "N"
    ]  # fmt: skip
    with pytest.raises(EngineInputError, match="☃"):
        engine.engine_phones(["☃"])
    assert dictionary_path(DANISH) is None and dictionary_path(ENGLISH) is not None


def ipa_guesses(tmp_path: Path, words: list[str], voice: str) -> dict[str, list[str]]:
    """espeak-ng's IPA pronunciations of ``words`` in ``voice``, as a cross-language task gets
    them."""
    return espeak_pronunciations(
        words,
        work_dir=tmp_path,
        log_path=tmp_path / "log",
        timeout=30,
        voice=voice,
        phone_set="ipa",
    )


@pytest.mark.parametrize(
    ("language", "word", "expected"),
    [(DANISH, "københavn", "k"), (SWEDISH, "sjuksköterska", "ɧ"), (NORWEGIAN, "kjøkken", "x")],
)
def test_espeak_gives_ipa_pronunciations(
    tmp_path: Path, language: LanguageConfig, word: str, expected: str
) -> None:
    voice = language.assets["espeak_voice"]
    guesses = ipa_guesses(tmp_path, [word], voice)
    assert guesses[word][0] == expected
    assert all(model_phone(phone) for phone in guesses[word])


@pytest.mark.parametrize(
    ("voice", "words", "expected"),
    [
        ("cs", ["v", "k", "a"], [["v"], ["k"], ["a"]]),
        ("pl", ["w", "z", "i"], [["v"], ["z"], ["i"]]),
        ("ru", ["\u0441", "\u0432"], [["s"], ["v"]]),  # Cyrillic s and v
    ],
)
def test_a_word_of_one_consonant_letter_is_the_consonant_not_the_letter_name(
    tmp_path: Path, voice: str, words: list[str], expected: list[list[str]]
) -> None:
    # Czech "v malé", Polish "w domu", Russian "s" and "v" in Cyrillic: prepositions spoken
    # with the next word; on its own espeak-ng names the letter ("ve", "vy", "es").
    guesses = ipa_guesses(tmp_path, words, voice)
    assert [[ipa.rstrip("ː") for ipa in guesses[word]] for word in words] == expected


def test_a_glide_and_vowel_espeak_ng_writes_as_one_phone_are_two_phones() -> None:
    # Russian "yazyka" and "lektsiyu": espeak-ng writes "ja" and "ju" as one phone each.
    assert espeak_ipa_words("ja_z_y_k_ˈɑ ɭʲ_ˈe_k_ts_y_ju") == [
        ["j", "a", "z", "y", "k", "ɑ"],
        ["ɭʲ", "e", "k", "ts", "y", "j", "u"],
    ]


def test_a_phoneme_espeak_ng_has_no_ipa_for_is_read_from_its_mnemonic(tmp_path: Path) -> None:
    # German "wurde" and "kurz": espeak-ng writes "??" for their vowel (its phoneme UR).
    guesses = ipa_guesses(tmp_path, ["wurde", "kurz", "und"], "de")
    assert guesses == {
        "wurde": ["v", "ʊ", "d", "ə"],
        "kurz": ["k", "ʊ", "ts"],
        "und": ["ʊ", "n", "t"],
    }
    assert fill_unknown_phones("v_ˌ??_d_ə zˈaɪ", "v_,UR_d_@ z'aI") == "v_ʊ_d_ə zˈaɪ"
    assert fill_unknown_phones("k_ˈ??_ts", "k_'UR_t_s") == "k_ˈ??_ts"  # not phone for phone
    assert fill_unknown_phones("??", "") == "??"


def test_aliases_resolve_to_configured_languages() -> None:
    languages = Settings().languages
    aliases = {"da": "dan", "DANISH": "dan", "nor": "nob", "no": "nob", "nb": "nob"}
    aliases |= {"bokmål": "nob", "sv": "swe", "en": "eng", "ger": "deu", "fi": "fin"}
    aliases |= {"íslenska": "isl", "dut": "nld", "polski": "pol", "italiano": "ita"}
    for alias, code in aliases.items():
        found = resolve_language(alias, languages)
        assert found is not None and found.code == code, alias
    assert resolve_language("nn", languages) is None  # Nynorsk: known, not configured


SWEDISH_SENTENCE = "hej jag heter sven och jag bor i göteborg med min fru och våra barn"
DANISH_SENTENCE = "jeg hedder søren og jeg bor i københavn med min kone og vores børn"
SWEDISH_TEXT, DANISH_TEXT = SWEDISH_SENTENCE.split(), DANISH_SENTENCE.split()


def test_guess_language() -> None:
    guess = guess_language(SWEDISH_TEXT, "eng")
    assert guess is not None and guess.code == "swe" and guess.chosen_probability < 0.01
    # Danish and Norwegian Bokmål spelling overlap: either may win, and neither is warned of.
    guess = guess_language(DANISH_TEXT, "dan")
    assert guess is not None and guess.code in ("dan", "nob")
    english_mfa = LanguageConfig(code="eng-mfa", name="English (MFA)", engine="mfa")
    assert known_code(english_mfa) == "eng"
    sentence = [
        "the",
        "north",
        "wind",
        "and",
        "the",
        "sun",
        "were",
        "disputing",
        "which",
        "was",
        "the",
        "stronger",
    ]
    assert check_language(sentence, set(sentence), english_mfa, [english_mfa], True).other is None


def test_transcript_mostly_missing_from_the_dictionary_is_named() -> None:
    missing = {w for w in SWEDISH_TEXT if w not in {"i", "min", "barn", "med"}}
    check = check_language(SWEDISH_TEXT, missing, ENGLISH, DEFAULT_LANGUAGES, True)
    assert len(check.warnings) == 1
    assert "not in the English (US, built-in) dictionary" in check.warnings[0]
    assert "Swedish" in check.warnings[0] and "language swe" in check.warnings[0]
    assert "Swedish" in check.hint()
    # English words in the dictionary: nothing to say.
    assert check_language(["the", "fox"], set(), ENGLISH, DEFAULT_LANGUAGES, True).warnings == []


def test_a_transcript_in_another_language_with_many_dictionary_words_is_named() -> None:
    # German uploaded as English: CMUdict knows 10 of these 17 words.
    german = normalise_words(
        "Am Montag fuhr Katharina Müller mit dem Zug von Dresden nach Leipzig, um ihre "
        "Großmutter zu besuchen."
    )
    missing = {"besuchen", "dem", "großmutter", "ihre", "müller", "nach", "zu"}
    check = check_language(german, missing, ENGLISH, DEFAULT_LANGUAGES, True)
    assert check.warnings == [
        "The transcripts look like German rather than English (US, built-in): if they are, "
        "upload them again with language deu."
    ]
    # English with as many names missing from the dictionary: nothing to say.
    english = normalise_words("Doctor Kowalczyk met Siobhan and Oskarsson in Vlissingen.")
    names = {"kowalczyk", "siobhan", "oskarsson", "vlissingen"}
    assert check_language(english, names, ENGLISH, DEFAULT_LANGUAGES, True).warnings == []


def test_language_without_dictionary_is_checked_by_identification() -> None:
    check = check_language(SWEDISH_TEXT, set(SWEDISH_TEXT), DANISH, DEFAULT_LANGUAGES, False)
    assert check.warnings and "look like Swedish rather than Danish" in check.warnings[0]
    # Danish uploaded as Norwegian: too close to tell apart, no warning.
    assert check_language(DANISH_TEXT, set(), NORWEGIAN, DEFAULT_LANGUAGES, False).warnings == []
    assert check_language(DANISH_TEXT, set(), DANISH, DEFAULT_LANGUAGES, False).warnings == []


def test_a_danish_user_dictionary_is_written_in_ipa() -> None:
    engine = PocketsphinxEngine(DANISH)
    user = Lexicon({"mad": [["m", "a", "ð"]], "hus": [["h", "u", "ʔ", "s"]]})
    lexicon = build_task_lexicon(
        ["mad", "hus", "kat"],
        base=engine.base_lexicon({"mad", "hus", "kat"}),
        user=user,
        guess=lambda words: {"kat": ["k", "a", "t"]},
        to_engine=engine.engine_phones,
        to_ipa=ipa_labels_for("ipa"),
    )
    assert lexicon.entries["mad"].pronunciations == [["M", "AE", "DH"]]
    assert lexicon.entries["hus"].ipa == [["h", "u", "s"]]  # a lone glottal stop is dropped
    assert lexicon.ipa_labels("kat", ["K", "AE", "T"]) == ["k", "a", "t"]
    assert lexicon.missing == ["hus", "kat", "mad"]  # no Danish dictionary: all from elsewhere
    # missing_words.txt shows them as a Danish .dict is written: in IPA.
    listed = missing_words_text(lexicon, "Danish", has_dictionary=False, in_ipa=True)
    assert "kat\tk a t\tespeak-ng" in listed.splitlines()
    assert "mad\tm a ð\tuser dictionary" in listed.splitlines()
    with pytest.raises(EngineInputError, match="☃"):
        build_task_lexicon(
            ["sne"],
            base=Lexicon(),
            user=Lexicon({"sne": [["☃"]]}),
            guess=None,
            to_engine=engine.engine_phones,
            to_ipa=ipa_labels_for("ipa"),
        )
