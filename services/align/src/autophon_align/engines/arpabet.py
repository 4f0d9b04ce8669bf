# ruff: noqa: RUF001, RUF002  (IPA symbols are meant)
"""ARPAbet, the phone set of CMUdict (and of the English pocketsphinx, FAVE and MFA "arpa"
models), and a mapping from espeak-ng's IPA output to it.

Guessed pronunciations are written CMUdict-style, vowels carrying a stress digit (0
unstressed, 1 primary, 2 secondary); engines whose model has no stress strip the digits.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

VOWELS = frozenset(
    ["AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"]
)
CONSONANTS = frozenset(
    [
        *["B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG"],
        *["P", "R", "S", "SH", "T", "TH", "V", "W", "Y", "Z", "ZH"],
    ]
)
PHONES = VOWELS | CONSONANTS
# Classes of consonants (manner of articulation).
STOPS = frozenset(["B", "D", "G", "K", "P", "T"])
AFFRICATES = frozenset(["CH", "JH"])
FRICATIVES = frozenset(["F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH"])
NASALS = frozenset(["M", "N", "NG"])
LIQUIDS = frozenset(["L", "R"])
GLIDES = frozenset(["W", "Y"])
STOPS_AND_AFFRICATES = STOPS | AFFRICATES
OBSTRUENTS = STOPS_AND_AFFRICATES | FRICATIVES
SONORANTS = VOWELS | NASALS | LIQUIDS | GLIDES

_STRESS_RE = re.compile(r"^([A-Z]+)([012])$")

# espeak-ng --ipa symbols (stress and length marks removed) -> ARPAbet, longest first when
# matching. Rhotic vowels ("ɔːɹ" in "or") are one espeak phoneme but two ARPAbet phones.
IPA_TO_ARPABET: dict[str, tuple[str, ...]] = {
    # diphthongs and r-coloured vowels
    "aɪɚ": ("AY", "ER"),
    "aɪə": ("AY", "ER"),
    "aʊɚ": ("AW", "ER"),
    "aʊə": ("AW", "ER"),
    "aɪ": ("AY",),
    "aʊ": ("AW",),
    "eɪ": ("EY",),
    "oʊ": ("OW",),
    "əʊ": ("OW",),
    "ɔɪ": ("OY",),
    "ɑɹ": ("AA", "R"),
    "ɔɹ": ("AO", "R"),
    "oɹ": ("AO", "R"),
    "ɛɹ": ("EH", "R"),
    "eɹ": ("EH", "R"),
    "ɪɹ": ("IH", "R"),
    "iɹ": ("IH", "R"),
    "ʊɹ": ("UH", "R"),
    "ɜɹ": ("ER",),
    "ɪə": ("IH", "R"),
    "eə": ("EH", "R"),
    "ɛə": ("EH", "R"),
    "ʊə": ("UH", "R"),
    # monophthongs
    "i": ("IY",),
    "ɪ": ("IH",),
    "ᵻ": ("IH",),
    "ɨ": ("IH",),
    "e": ("EH",),
    "ɛ": ("EH",),
    "æ": ("AE",),
    "a": ("AE",),
    "ɑ": ("AA",),
    "ɒ": ("AA",),
    "ɔ": ("AO",),
    "o": ("OW",),
    "ʊ": ("UH",),
    "u": ("UW",),
    "ʉ": ("UW",),
    "y": ("UW",),
    "ʌ": ("AH",),
    "ə": ("AH",),
    "ɐ": ("AH",),
    "ɜ": ("ER",),
    "ɚ": ("ER",),
    "ɝ": ("ER",),
    # consonants
    "tʃ": ("CH",),
    "dʒ": ("JH",),
    "ʧ": ("CH",),
    "ʤ": ("JH",),
    "ts": ("T", "S"),
    "dz": ("D", "Z"),
    "p": ("P",),
    "b": ("B",),
    "t": ("T",),
    "d": ("D",),
    "k": ("K",),
    "c": ("K",),
    "g": ("G",),
    "ɡ": ("G",),
    "f": ("F",),
    "v": ("V",),
    "θ": ("TH",),
    "ð": ("DH",),
    "s": ("S",),
    "z": ("Z",),
    "ʃ": ("SH",),
    "ʒ": ("ZH",),
    "h": ("HH",),
    "x": ("HH",),
    "ç": ("HH",),
    "m": ("M",),
    "n": ("N",),
    "ŋ": ("NG",),
    "l": ("L",),
    "ɫ": ("L",),
    "ɬ": ("L",),
    "ɹ": ("R",),
    "r": ("R",),
    "ɾ": ("T",),
    "ʔ": ("T",),
    "w": ("W",),
    "ʍ": ("W",),
    "j": ("Y",),
}
_LONGEST = max(len(key) for key in IPA_TO_ARPABET)

# ARPAbet -> IPA (General American), the one table behind every IPA label of an English
# alignment (the <stem>_IPA.TextGrid). Stress tells the reduced vowels apart: AH0 is ə, AH1
# and AH2 are ʌ; ER0 is ɚ, ER1 and ER2 are ɝ.
ARPABET_TO_IPA: dict[str, str] = {
    "AA": "ɑ",
    "AE": "æ",
    "AH": "ʌ",
    "AH0": "ə",
    "AO": "ɔ",
    "AW": "aʊ",
    "AY": "aɪ",
    "EH": "ɛ",
    "ER": "ɝ",
    "ER0": "ɚ",
    "EY": "eɪ",
    "IH": "ɪ",
    "IY": "i",
    "OW": "oʊ",
    "OY": "ɔɪ",
    "UH": "ʊ",
    "UW": "u",
    "B": "b",
    "CH": "tʃ",
    "D": "d",
    "DH": "ð",
    "F": "f",
    "G": "ɡ",
    "HH": "h",
    "JH": "dʒ",
    "K": "k",
    "L": "l",
    "M": "m",
    "N": "n",
    "NG": "ŋ",
    "P": "p",
    "R": "ɹ",
    "S": "s",
    "SH": "ʃ",
    "T": "t",
    "TH": "θ",
    "V": "v",
    "W": "w",
    "Y": "j",
    "Z": "z",
    "ZH": "ʒ",
}
_PRIMARY, _SECONDARY = "ˈ", "ˌ"
_SYLLABIC = "\u0329"  # combining vertical line below: n̩, l̩


def strip_stress(phone: str) -> str:
    """ "AH0" -> "AH"; other phones unchanged."""
    match = _STRESS_RE.match(phone)
    return match.group(1) if match else phone


def with_stress(phone: str, stress: str) -> str:
    return phone + stress if phone in VOWELS else phone


def ipa_to_arpabet(ipa: str) -> list[str]:
    """An espeak-ng ``--ipa --sep=_`` transcription ("z_ˈoːɹ_b_l_æ_k_s", possibly several
    words separated by spaces) as ARPAbet with stress digits ("Z AO1 R B L AE0 K S").

    Symbols with no ARPAbet counterpart are dropped; [] means nothing could be mapped.
    """
    phones: list[str] = []
    for token in re.split(r"[_\s]+", ipa.strip()):
        if not token:
            continue
        stress = "1" if _PRIMARY in token else "2" if _SECONDARY in token else "0"
        syllabic = _SYLLABIC in token
        symbols = _clean(token)
        mapped = list(_map_symbols(symbols))
        if syllabic and mapped and not any(p in VOWELS for p in mapped):
            mapped.insert(0, "AH")  # syllabic consonant: "button" B AH1 T AH0 N
        phones.extend(with_stress(phone, stress) for phone in mapped)
    return phones


def _clean(token: str) -> str:
    """Drop stress, length and other diacritics, keeping base IPA letters."""
    composed = unicodedata.normalize("NFC", token)
    return "".join(
        ch
        for ch in composed
        if ch not in "ˈˌːˑ'-" and not unicodedata.combining(ch) and not ch.isdigit()
    )


def _map_symbols(symbols: str) -> Iterable[str]:
    i = 0
    while i < len(symbols):
        for size in range(min(_LONGEST, len(symbols) - i), 0, -1):
            mapped = IPA_TO_ARPABET.get(symbols[i : i + size])
            if mapped:
                yield from mapped
                i += size
                break
        else:
            i += 1  # unknown symbol (e.g. a tie bar): skip it


def arpabet_to_ipa(phone: str) -> str:
    """ "AH0" -> "ə", "AH1" -> "ʌ", "K" -> "k"; a phone not in ARPAbet is kept as it is."""
    upper = phone.upper()
    return ARPABET_TO_IPA.get(upper) or ARPABET_TO_IPA.get(strip_stress(upper), phone)


def is_arpabet(phones: Sequence[str]) -> bool:
    return all(strip_stress(p) in PHONES for p in phones)
