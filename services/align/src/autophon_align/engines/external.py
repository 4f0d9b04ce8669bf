"""What the adapters for external aligner programs (MFA, FAVE) share: preparing inputs in
the engine's own work folder and reading the aligned words back from its TextGrids."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from autophon_align.engines.base import AlignedWord, EngineFailed, Interval, Utterance
from autophon_align.textgrids import TextGridError, read_tiers


def command_line(value: str) -> list[str]:
    """A configured command ("mfa", "/opt/conda/bin/mfa --quiet") as argv words."""
    return shlex.split(value)


def link(source: Path, target: Path) -> Path:
    """``target`` pointing at ``source`` (a symlink; a copy where links are not allowed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.symlink_to(source.resolve())
    except OSError:
        shutil.copyfile(source, target)
    return target


def speaker_ids(utterances: Sequence[Utterance]) -> dict[str, str]:
    """Our speaker (tier) names -> plain ids ("s1", "s2"...) for the engine's files, so tier
    names with spaces or odd characters cannot confuse it."""
    ids: dict[str, str] = {}
    for utterance in utterances:
        ids.setdefault(utterance.speaker, f"s{len(ids) + 1}")
    return ids


@lru_cache(maxsize=8)
def tool_version(command: tuple[str, ...]) -> str:
    """The first line a ``--version``-style command prints, or "unknown"."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else "unknown"


def read_output(path: Path, what: str) -> dict[str, list[Interval]]:
    if not path.exists():
        raise EngineFailed(f"{what} left no TextGrid ({path.name}).")
    try:
        return read_tiers(path)
    except TextGridError as exc:
        raise EngineFailed(f"{what} wrote an unreadable TextGrid: {exc}") from exc


def words_from_tiers(
    word_tier: Sequence[Interval],
    phone_tier: Sequence[Interval],
    utterances: Iterable[Utterance],
    *,
    silences: frozenset[str],
) -> list[AlignedWord]:
    """Aligned words of one speaker from an engine's word and phone tiers.

    A word belongs to the utterance its midpoint falls in, a phone to the word its midpoint
    falls in. When an utterance got exactly as many words as it has, they take our labels
    (engines upper-case words, or write "<unk>" for words they had no pronunciation for).
    """
    words = [w for w in word_tier if not _is_silence(w.label, silences)]
    phones = [p for p in phone_tier if not _is_silence(p.label, silences)]
    aligned: list[AlignedWord] = []
    for utterance in utterances:
        inside = [w for w in words if utterance.start <= _middle(w) <= utterance.end]
        labels = (
            utterance.words
            if len(inside) == len(utterance.words)
            else [w.label.lower() for w in inside]
        )
        for word, label in zip(inside, labels, strict=True):
            own = tuple(p for p in phones if word.start <= _middle(p) <= word.end)
            aligned.append(AlignedWord(word.start, word.end, label, utterance.speaker, own))
    return aligned


def _middle(interval: Interval) -> float:
    return (interval.start + interval.end) / 2


def _is_silence(label: str, silences: frozenset[str]) -> bool:
    text = label.strip()
    return not text or text.lower() in silences or (text.startswith("{") and text.endswith("}"))


def tool_env(**extra: str) -> dict[str, str]:
    return {**os.environ, **extra}
