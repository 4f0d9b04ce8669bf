# ruff: noqa: RUF001, RUF002  (IPA symbols are meant)
"""IPA pronunciations of the cross-language (espeak-ng) languages, and the mapping of their
phones onto the English acoustic model's phones.

A language with ``assets.phone_set: ipa`` (Danish, Norwegian, Swedish by default) takes its
pronunciations from espeak-ng in the language's own phones, e.g. Danish "København"
k œ b ə n h ɑ w n. For alignment each phone is replaced by the one phone of the US-English
model that sounds most like it (IPA_TO_ENGLISH_MODEL), as BAS WebMAUS does for languages
without a model of their own; the result's IPA TextGrid labels each aligned phone with the
IPA phone it stands for. The mapping is one phone to one phone, so the two tiers have the
same intervals.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from autophon_align.engines.arpabet import VOWELS, arpabet_to_ipa

# An IPA phone (stress, length and diacritics removed: see model_phone) -> the US-English
# model's phone (ARPAbet) that is acoustically closest. Longest match first for affricates.
IPA_TO_ENGLISH_MODEL: dict[str, str] = {
    # close vowels
    "i": "IY",
    "y": "UW",  # rounded front: between IY and UW; UW is fronted in American English
    "ɨ": "IH",
    "ɯ": "IH",  # Turkish dotless i: close back unrounded, heard near the central vowel
    "ʉ": "UW",
    "u": "UW",
    "ɪ": "IH",
    "ʏ": "UH",
    "ʊ": "UH",
    # mid vowels
    "e": "EY",  # Nordic long e is close-mid, like the start of English EY
    "ø": "ER",  # mid rounded front: low F2 like ER
    "ɘ": "AH",
    "ɵ": "UH",
    "o": "OW",
    "ə": "AH",
    "ɛ": "EH",
    "œ": "AH",
    "ɜ": "ER",
    "ɞ": "AH",
    "ʌ": "AH",
    "ɔ": "AO",
    "ɐ": "AH",
    "ɐ̯": "R",  # Danish vocalised r ("der" dɛɐ̯), as the r of English "dare"
    # open vowels
    "æ": "AE",
    "a": "AE",  # Nordic short a is front to central
    "ɶ": "AA",
    "ɑ": "AA",
    "ɒ": "AA",
    # diphthongs espeak-ng writes as one phone (Norwegian "reise", "sau", "øy"): the English
    # diphthong, not the vowel they start with
    "aɪ": "AY",
    "ɑɪ": "AY",
    "aʊ": "AW",
    "øy": "OY",
    "œʏ": "OY",
    "ɔʏ": "OY",
    "ɔɪ": "OY",
    # and the same diphthongs in other languages' spellings (Dutch "trein" ɛɪ, "huis" œy,
    # "oud" ʌʊ; Finnish "ai", "au", "ei", "oi"; Portuguese "eu" eʊ)
    "ɛɪ": "EY",
    "ei": "EY",
    "eɪ": "EY",
    "ai": "AY",
    "au": "AW",
    "ʌʊ": "AW",
    "ɑʊ": "AW",
    "œy": "OY",
    "oi": "OY",
    "oɪ": "OY",
    # affricates
    "tʃ": "CH",
    "ʧ": "CH",
    "ts": "CH",
    "dʒ": "JH",
    "ʤ": "JH",
    "dz": "JH",
    "tɕ": "CH",  # Polish ć, cz
    "dʑ": "JH",
    "tʂ": "CH",
    "dʐ": "JH",
    # plosives
    "p": "P",
    "b": "B",
    "β": "B",  # Spanish b between vowels
    "t": "T",
    "d": "D",
    "ʈ": "T",
    "ɖ": "D",
    "c": "K",
    "ɟ": "G",
    "k": "K",
    "g": "G",
    "ɡ": "G",
    "q": "K",
    # nasals
    "m": "M",
    "n": "N",
    "ɳ": "N",
    "ɲ": "N",
    "ŋ": "NG",
    # fricatives
    "f": "F",
    "v": "F",  # measured: espeak-ng's Nordic v fits the English F better than V
    "θ": "TH",
    "ð": "DH",
    "s": "S",
    "z": "Z",
    "ʃ": "SH",
    "ʒ": "ZH",
    "ʂ": "SH",
    "ʐ": "ZH",
    "ɕ": "SH",  # Swedish tj-sound, Norwegian kj-sound
    "ʑ": "ZH",
    "ɧ": "SH",  # Swedish sj-sound
    "ç": "HH",
    "x": "HH",
    "ɣ": "G",
    "χ": "HH",
    "ʁ": "R",  # Danish r
    "h": "HH",
    "ɦ": "HH",
    # approximants, trills, taps, laterals
    "ʋ": "W",
    "ɹ": "R",
    "r": "R",
    "ɾ": "R",
    "ʀ": "R",
    "ɻ": "R",
    "j": "Y",
    "w": "W",
    "ɥ": "W",
    "l": "L",
    "ɫ": "L",
    "ɭ": "L",
    "ʎ": "L",
    "ɬ": "L",
}
_LONGEST = max(len(key) for key in IPA_TO_ENGLISH_MODEL)

# pocketsphinx's default beams prune the one path through the grammar when the phones fit
# the English model as loosely as mapped phones do ("Final result does not match the
# grammar"): a forced alignment has one path, so a cross-language one searches wide.
CROSS_LANGUAGE_BEAMS: dict[str, float] = {"beam": 1e-200, "wbeam": 1e-200, "pbeam": 1e-200}
_STRESS = "ˈˌ"
# espeak-ng writes "??" in its IPA for a phoneme its tables give no IPA for (German "wurde"
# v_ˌ??_d_ə, whose phoneme is UR: a vowel with a vocalised r). Such a phone is read from
# espeak-ng's mnemonic at the same place (``-x``), by its first symbol: the mnemonics follow
# Kirshenbaum's ASCII IPA, where a letter not listed here stands for itself.
UNKNOWN_PHONE = "??"
MNEMONIC_TO_IPA = {
    "A": "ɑ", "&": "æ", "0": "ɒ", "V": "ʌ", "@": "ə", "3": "ɜ", "E": "ɛ", "I": "ɪ",
    "O": "ɔ", "U": "ʊ", "Y": "ʏ", "W": "œ", "8": "ɵ", "6": "ɐ", "C": "ç", "S": "ʃ",
    "Z": "ʒ", "T": "θ", "D": "ð", "N": "ŋ", "R": "ʁ", "Q": "ʔ",
}  # fmt: skip
_MNEMONIC_STRESS = "',"
# espeak-ng's spellings that are not IPA, per its phoneme tables: "ε" (Greek epsilon) in
# Danish, "sx" for the Swedish sj-sound, "?" for a glottal stop, "#" for voiceless (Icelandic
# "hljótt" l#_j_oʊ_h_d: l̥) and "-" after an unstressed French vowel ("la" l_a-).
_ESPEAK_SPELLINGS = {"ε": "ɛ", "sx": "ɧ", "?": "ʔ", "#": "\u0325", "-": ""}
_GLOTTAL = "ʔ"
_STOED = "ˀ"


def espeak_ipa_words(line: str) -> list[list[str]]:
    """espeak-ng's ``--ipa --sep=_`` answer for one line ("h_ˈʔe_ð_ʔʌ s_ˈœ_ʔʌ_n") as IPA
    phones per word ([["h", "eˀ", "ð", "ʌˀ"], ["s", "œˀ", "ʌ", "n"]])."""
    words = []
    for chunk in line.split():
        phones = [part for token in chunk.split("_") for part in _glide_apart(ipa_phone(token))]
        kept = [phone for phone in phones if phone]
        if kept:
            words.append(kept)
    return words


def _glide_apart(phone: str) -> list[str]:
    """A glide and vowel espeak-ng writes as one phone (Russian "ja", "ju") as the two phones
    they are, which the English model has apart (Y, then the vowel); other phones as they
    are."""
    glide, vowel = phone[:1], phone[1:]
    if glide == "j" and vowel and model_phone(vowel) in VOWELS:
        return [glide, vowel]
    return [phone]


def fill_unknown_phones(ipa_line: str, mnemonic_line: str) -> str:
    """``ipa_line`` (espeak-ng's ``--ipa --sep=_``) with each UNKNOWN_PHONE replaced by the IPA
    for the mnemonic at the same place in ``mnemonic_line`` (``-x --sep=_`` of the same
    text); unchanged where the two do not pair phone for phone."""
    words, mnemonic_words = ipa_line.split(), mnemonic_line.split()
    if len(words) != len(mnemonic_words):
        return ipa_line
    filled = []
    for word, mnemonics in zip(words, mnemonic_words, strict=True):
        phones, symbols = word.split("_"), mnemonics.split("_")
        if len(phones) == len(symbols):
            phones = [
                _from_mnemonic(symbol) if UNKNOWN_PHONE in phone else phone
                for phone, symbol in zip(phones, symbols, strict=True)
            ]
        filled.append("_".join(phones))
    return " ".join(filled)


def _from_mnemonic(symbol: str) -> str:
    first = symbol.lstrip(_MNEMONIC_STRESS)[:1]
    return MNEMONIC_TO_IPA.get(first, first)


def ipa_phone(token: str) -> str:
    """One espeak-ng phone as an IPA label: stress marks dropped, espeak-ng's own spellings
    replaced, a glottal stop before a vowel written as the Danish stød after it ("ʔe" ->
    "eˀ"), a doubled vowel as a long one; "" for nothing left or a lone glottal stop (too
    short to align as a phone of its own)."""
    phone = unicodedata.normalize("NFC", token.strip())
    phone = "".join(ch for ch in phone if ch not in _STRESS)
    for spelling, ipa in _ESPEAK_SPELLINGS.items():
        phone = phone.replace(spelling, ipa)
    if phone.startswith(_GLOTTAL) and len(phone) > 1:
        phone = phone[1:] + _STOED
    if len(phone) == 2 and phone[0] == phone[1] and model_phone(phone[0]) is not None:
        phone = phone[0] + "ː"
    if phone == _GLOTTAL:
        return ""
    return phone


def model_phone(phone: str) -> str | None:
    """The English model's phone for an IPA phone ("œˀ" -> "AH", "kː" -> "K"): diacritics,
    length and stød are ignored, and when the whole is not in the table its longest leading
    symbol is used ("ɛɪ" -> "EH"); None when nothing matches."""
    exact = IPA_TO_ENGLISH_MODEL.get(unicodedata.normalize("NFC", phone).rstrip("ːˑˀ"))
    if exact:
        return exact
    base = _base(phone)
    for size in range(min(_LONGEST, len(base)), 0, -1):
        mapped = IPA_TO_ENGLISH_MODEL.get(base[:size])
        if mapped:
            return mapped
    return None


def model_phones(phones: Sequence[str]) -> list[str | None]:
    return [model_phone(phone) for phone in phones]


def _base(phone: str) -> str:
    decomposed = unicodedata.normalize("NFD", phone)
    kept = "".join(
        ch for ch in decomposed if not unicodedata.combining(ch) and ch not in "ːˑˀ'ʰʲʷ-"
    )
    return unicodedata.normalize("NFC", re.sub(r"\d", "", kept))


def ipa_pronunciation(phones: Sequence[str]) -> list[str]:
    """A pronunciation written in IPA (espeak-ng's or a user's) as IPA labels, phone for
    phone with english_model_phones (phones that are nothing to align, such as a lone
    glottal stop, dropped from both)."""
    return [label for label in map(ipa_phone, phones) if label]


def english_model_phones(phones: Sequence[str]) -> list[str]:
    """An IPA pronunciation as the English model's phones; raises ValueError naming a phone
    the mapping does not know."""
    mapped = []
    for label in ipa_pronunciation(phones):
        phone = model_phone(label)
        if phone is None:
            raise ValueError(f'"{label}" is not an IPA phone AutoPhon can map to the English model')
        mapped.append(phone)
    return mapped


def ipa_labels_for(phone_set: str) -> Callable[[Sequence[str]], list[str]]:
    """How a language's pronunciations (ARPAbet or IPA) become IPA labels."""
    if phone_set == "ipa":
        return ipa_pronunciation
    return lambda phones: [arpabet_to_ipa(phone) for phone in phones]


def decoder_options(phone_set: str) -> dict[str, float]:
    """pocketsphinx options for a language of ``phone_set``."""
    return dict(CROSS_LANGUAGE_BEAMS) if phone_set == "ipa" else {}
