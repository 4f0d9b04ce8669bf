"""Pronunciations from espeak-ng (the Debian ``espeak-ng`` CLI): for English, guesses of
out-of-dictionary words mapped from its IPA output to ARPAbet; for the cross-language
languages (phone set "ipa"), every word's pronunciation in IPA (see engines/ipa.py)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from autophon_align.engines.arpabet import CONSONANTS, ipa_to_arpabet
from autophon_align.engines.ipa import (
    UNKNOWN_PHONE,
    espeak_ipa_words,
    fill_unknown_phones,
    model_phone,
)
from autophon_align.engines.process import run_tool

ESPEAK = "espeak-ng"
DEFAULT_VOICE = "en-us"


def espeak_pronunciations(
    words: Sequence[str],
    *,
    work_dir: Path,
    log_path: Path,
    timeout: float,
    voice: str = DEFAULT_VOICE,
    command: str = ESPEAK,
    phone_set: str = "arpabet",
) -> dict[str, list[str]]:
    """ARPAbet pronunciations (with stress digits) for ``words``, or with ``phone_set``
    "ipa" IPA phones; a word espeak-ng gives nothing usable for is left out.

    All words go to one espeak-ng call, one per line on stdin (espeak-ng answers line by line;
    with ``-f`` it would join the lines); if the answer does not have one line per word, each
    word is asked for on its own.
    """
    if not words:
        return {}
    work_dir.mkdir(parents=True, exist_ok=True)
    lines = _transcribe(list(words), work_dir, log_path, timeout, voice, command)
    if len(lines) != len(words):
        lines = [
            " ".join(_transcribe([word], work_dir, log_path, timeout, voice, command))
            for word in words
        ]
    unknown = [i for i, line in enumerate(lines) if UNKNOWN_PHONE in line]
    if unknown:
        asked = [words[i] for i in unknown]
        mnemonics = _transcribe(asked, work_dir, log_path, timeout, voice, command, "-x")
        if len(mnemonics) == len(unknown):
            for i, line in zip(unknown, mnemonics, strict=True):
                lines[i] = fill_unknown_phones(lines[i], line)
    guesses: dict[str, list[str]] = {}
    for word, ipa in zip(words, lines, strict=True):
        if phone_set == "ipa":
            phones = [phone for word_phones in espeak_ipa_words(ipa) for phone in word_phones]
            if len(word) == 1 and len(phones) > 1:
                phones = _consonant_of_letter_name(phones)
        else:
            phones = ipa_to_arpabet(ipa)
        if phones:
            guesses[word] = phones
    return guesses


def _consonant_of_letter_name(phones: list[str]) -> list[str]:
    """The first consonant of a letter's name: espeak-ng, asked for a word of one consonant
    letter on its own (Czech "v", Polish "w", Russian "s" in Cyrillic), says the letter's name
    ("ve", "vy", "es"), while in a sentence such a word is a preposition spoken as the bare
    consonant with the next word ("v malé", "w domu"). Unchanged when no phone is a
    consonant."""
    consonants = [phone for phone in phones if model_phone(phone) in CONSONANTS]
    return consonants[:1] or phones


def _transcribe(
    words: list[str],
    work_dir: Path,
    log_path: Path,
    timeout: float,
    voice: str,
    command: str,
    notation: str = "--ipa",
) -> list[str]:
    """espeak-ng's answer, a line per word: IPA, or with ``notation`` "-x" its mnemonics."""
    text = work_dir / "espeak-input.txt"
    output = work_dir / "espeak-output.txt"
    text.write_text("\n".join(words) + "\n", encoding="utf-8")
    run_tool(
        [command, "-q", "-v", voice, notation, "--sep=_"],
        log_path=log_path,
        stdin_path=text,
        stdout_path=output,
        timeout=timeout,
        what="espeak-ng",
    )
    return [line for line in output.read_text(encoding="utf-8").splitlines() if line.strip()]


@lru_cache(maxsize=4)
def espeak_version(command: str = ESPEAK) -> str:
    """ "1.51", or "unavailable"."""
    try:
        done = subprocess.run(
            [command, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    match = re.search(r"(\d+\.\d+(?:\.\d+)?)", done.stdout)
    return match.group(1) if match else "unknown"
