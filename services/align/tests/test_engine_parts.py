# ruff: noqa: RUF001  (IPA symbols are meant)
"""The engines' building blocks: the subprocess helper, IPA to ARPAbet, pronunciation
precedence, pause-edge refinement, words misplaced at a pause, the registry."""

from __future__ import annotations

import math
import os
import random
import sys
import time
from array import array
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from autophon_align.engines import UnknownEngineError, arpabet, engine_class, process
from autophon_align.engines.arpabet import ipa_to_arpabet
from autophon_align.engines.base import (
    EngineFailed,
    EngineInputError,
    EngineTimeout,
    EngineUnavailable,
)
from autophon_align.engines.espeak import espeak_pronunciations
from autophon_align.engines.ipa import ipa_labels_for
from autophon_align.engines.pocketsphinx import PocketsphinxEngine, _write_dictionary
from autophon_align.engines.pocketsphinx_worker import TRIMMED_CONSONANT, _misplaced, _trimmed
from autophon_align.engines.process import run_tool, tail_lines
from autophon_align.engines.pronunciations import Source, TaskLexicon, build_task_lexicon
from autophon_align.engines.refine import (
    APPROXIMANT_ONSET_LAG,
    MIN_SNR_DB,
    VOWEL_ONSET_LEAD,
    VOWEL_ONSET_LEAD_AFTER_VOWEL,
    Levels,
    Segment,
    advance_vowel_onsets,
    delay_approximant_onsets,
    levels_of,
    refine_words,
)
from autophon_core.config import DEFAULT_LANGUAGES
from autophon_core.lexicon import Lexicon


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return not status.exists() or "\nState:\tZ" in status.read_text()


def test_tool_output_goes_to_the_log_without_blocking(tmp_path: Path) -> None:
    # Far more than a pipe buffer on both streams: a helper reading pipes late would hang.
    code = "import sys; sys.stdout.write('o' * 2_000_000); sys.stderr.write('e' * 2_000_000)"
    log = tmp_path / "tool.log"
    run_tool(python(code), log_path=log, timeout=60)
    assert log.stat().st_size > 4_000_000


def test_tool_failure_names_the_last_log_line(tmp_path: Path) -> None:
    code = "import sys; print('step 1'); print('disk full', file=sys.stderr); sys.exit(3)"
    log = tmp_path / "tool.log"
    with pytest.raises(EngineFailed, match=r"exit code 3.*disk full"):
        run_tool(python(code), log_path=log, timeout=60, what="demo")
    assert tail_lines(log, 2) == ["step 1", "disk full"]


def test_tool_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n"
    )
    with pytest.raises(EngineTimeout):
        run_tool(python(code), log_path=tmp_path / "tool.log", timeout=2)
    for _ in range(50):
        if pid_file.exists() and gone(int(pid_file.read_text())):
            break
        time.sleep(0.1)
    assert gone(int(pid_file.read_text()))
    assert "killed" in (tmp_path / "tool.log").read_text()


def test_on_wait_is_called_while_the_tool_runs_and_until_its_time_is_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "WAIT_POLL_SECONDS", 0.05)
    calls: list[float] = []

    def run(code: str, timeout: float) -> None:
        run_tool(
            python(f"import time; {code}"),
            log_path=tmp_path / "tool.log",
            timeout=timeout,
            on_wait=lambda: calls.append(time.monotonic()),
        )

    # Called every WAIT_POLL_SECONDS while the tool runs: not once, not in a busy loop.
    started = time.monotonic()
    run("time.sleep(1)", 60.0)
    assert 5 <= len(calls) <= (time.monotonic() - started) / 0.05 + 2
    calls.clear()
    started = time.monotonic()
    with pytest.raises(EngineTimeout):
        run("time.sleep(300)", 1.0)
    assert 5 <= len(calls) <= (time.monotonic() - started) / 0.05 + 2


def test_missing_tool_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match="no-such-aligner"):
        run_tool(["no-such-aligner"], log_path=tmp_path / "tool.log", timeout=5)


@pytest.mark.parametrize(
    ("ipa", "arpabet"),
    [
        ("z_ˈoːɹ_b_l_æ_k_s", "Z AO1 R B L AE0 K S"),
        ("tʃ_ˈɜː_tʃ", "CH ER1 CH"),
        ("b_ˈʌ_ʔ_n̩", "B AH1 T AH0 N"),
        ("h_ə_l_ˈoʊ", "HH AH0 L OW1"),
        ("f_ˈoːɹ_ɾ_i t_ˈuː", "F AO1 R T IY0 T UW1"),
        ("dʒ_ˈʌ_dʒ", "JH AH1 JH"),
        ("θ_ˈɪ_ŋ_k_ɪ_ŋ", "TH IH1 NG K IH0 NG"),
        ("", ""),
    ],
)
def test_ipa_to_arpabet(ipa: str, arpabet: str) -> None:
    assert " ".join(ipa_to_arpabet(ipa)) == arpabet


def test_each_arpabet_phone_is_an_obstruent_or_a_sonorant_of_one_manner() -> None:
    """The refinement's rules go by these classes: a phone left out of them would never be
    refined, one in two would be refined by contradicting rules."""
    manners = [
        arpabet.VOWELS,
        arpabet.STOPS,
        arpabet.AFFRICATES,
        arpabet.FRICATIVES,
        arpabet.NASALS,
        arpabet.LIQUIDS,
        arpabet.GLIDES,
    ]
    assert sorted(p for manner in manners for p in manner) == sorted(arpabet.PHONES)
    assert arpabet.OBSTRUENTS | arpabet.SONORANTS == arpabet.PHONES
    assert not arpabet.OBSTRUENTS & arpabet.SONORANTS


def test_espeak_pronunciations(tmp_path: Path) -> None:
    guesses = espeak_pronunciations(
        ["zorblax", "quick", "it's"], work_dir=tmp_path, log_path=tmp_path / "log", timeout=30
    )
    assert guesses["zorblax"] == ["Z", "AO1", "R", "B", "L", "AE0", "K", "S"]
    assert guesses["quick"] == ["K", "W", "IH1", "K"]
    assert "it's" in guesses


def test_pronunciation_precedence() -> None:
    engine = PocketsphinxEngine(DEFAULT_LANGUAGES[0])
    base = Lexicon({"the": [["DH", "AH"]], "fox": [["F", "AA", "K", "S"]]})
    user = Lexicon({"fox": [["F", "AO1", "K", "S"]], "blorp": [["B", "L", "AO1", "R", "P"]]})
    asked: list[list[str]] = []

    def guess(words: list[str]) -> dict[str, list[str]]:
        asked.append(words)
        return {"zorblax": ["Z", "AO1", "R", "B", "L", "AE0", "K", "S"]}

    lexicon = build_task_lexicon(
        ["the", "fox", "blorp", "zorblax", "qqq", "the"],
        base=base,
        user=user,
        guess=guess,
        to_engine=engine.engine_phones,
        to_ipa=ipa_labels_for("arpabet"),
    )
    assert asked == [["qqq", "zorblax"]]
    assert lexicon.entries["the"].source is Source.DICTIONARY
    assert lexicon.entries["fox"].source is Source.USER
    assert lexicon.entries["fox"].pronunciations == [["F", "AO", "K", "S"]]
    assert lexicon.entries["zorblax"].source is Source.ESPEAK
    assert lexicon.missing == ["blorp", "qqq", "zorblax"]
    assert lexicon.unpronounceable == ["qqq"]
    assert lexicon.guessed() == ["zorblax"]
    assert lexicon.entries["zorblax"].ipa == [["z", "ɔ", "ɹ", "b", "l", "æ", "k", "s"]]
    assert lexicon.ipa_labels("fox", ["F", "AO", "K", "S"]) == ["f", "ɔ", "k", "s"]
    assert lexicon.ipa_labels("fox", ["F", "AA", "K", "S"]) is None


def test_guessed_pronunciations_as_variants_of_dictionary_words() -> None:
    engine = PocketsphinxEngine(DEFAULT_LANGUAGES[0])
    base = Lexicon({"thibodeaux": [["TH", "IH1", "B", "AH0", "D", "OW2"]], "the": [["DH", "AH0"]]})
    user = Lexicon({"fox": [["F", "AO1", "K", "S"]]})
    asked: list[list[str]] = []

    def guess(words: list[str]) -> dict[str, list[str]]:
        asked.append(words)
        known = {"thibodeaux": ["T", "IH1", "B", "OW0", "D", "OW1", "K", "S"], "the": ["DH", "AH0"]}
        return {w: known[w] for w in words if w in known}

    def build(variants: bool) -> TaskLexicon:
        return build_task_lexicon(
            ["thibodeaux", "the", "fox", "zorblax"],
            base=base,
            user=user,
            guess=guess,
            to_engine=engine.engine_phones,
            to_ipa=ipa_labels_for("arpabet"),
            guessed_variants=variants,
        )

    lexicon = build(True)
    assert asked == [["zorblax", "the", "thibodeaux"]]  # one call: the missing, then the rest
    thibodeaux = lexicon.entries["thibodeaux"]
    assert thibodeaux.pronunciations == [
        ["TH", "IH", "B", "AH", "D", "OW"],
        ["T", "IH", "B", "OW", "D", "OW", "K", "S"],
    ]
    assert thibodeaux.source is Source.DICTIONARY and len(thibodeaux.ipa) == 2
    assert lexicon.ipa_labels("thibodeaux", thibodeaux.pronunciations[1])[-2:] == ["k", "s"]
    assert lexicon.entries["the"].pronunciations == [["DH", "AH"]]  # the same guess, once
    assert lexicon.entries["fox"].pronunciations == [["F", "AO", "K", "S"]]  # the user's only
    assert lexicon.missing == ["fox", "zorblax"] and lexicon.unpronounceable == ["zorblax"]
    asked.clear()
    assert build(False).entries["thibodeaux"].pronunciations == thibodeaux.pronunciations[:1]
    assert asked == [["zorblax"]]


def test_pocketsphinx_phones() -> None:
    engine = PocketsphinxEngine(DEFAULT_LANGUAGES[0])
    assert engine.engine_phones(["dh", "AH0"]) == ["DH", "AH"]
    with pytest.raises(EngineInputError, match='"Q"'):
        engine.engine_phones(["Q"])


def tone(seconds: float, rate: int = 16000) -> array[int]:
    return array("h", (int(8000 * math.sin(i * 0.3)) for i in range(int(seconds * rate))))


def silence(seconds: float, rate: int = 16000) -> array[int]:
    return array("h", bytes(2 * round(seconds * rate)))


def steady_noise(seconds: float, sigma: float, seed: int = 3, rate: int = 16000) -> array[int]:
    """Gaussian noise."""
    noise = random.Random(seed)
    return array("h", (round(noise.gauss(0, sigma)) for _ in range(round(seconds * rate))))


def breath(seconds: float, sigma: float = 600, seed: int = 1, rate: int = 16000) -> array[int]:
    """Noise about 19 dB below ``tone`` at the default ``sigma``: an in-breath, above the
    threshold that finds word edges."""
    return steady_noise(seconds, sigma, seed, rate)


def test_task_dictionary_drops_aspirated_wh_alternates(tmp_path: Path) -> None:
    lexicon = Lexicon(
        {
            "why": [["W", "AY"], ["HH", "W", "AY"]],
            "whew": [["HH", "W", "UW"]],  # no plain-W pronunciation: kept
            "huge": [["HH", "Y", "UW", "JH"], ["Y", "UW", "JH"]],
        }
    )
    path = tmp_path / "task.dict"
    _write_dictionary(path, lexicon, {"why", "whew", "huge"})
    assert path.read_text().splitlines() == [
        "huge HH Y UW JH",
        "huge(2) Y UW JH",
        "whew HH W UW",
        "why W AY",
    ]


def test_refine_moves_word_edges_onto_the_speech() -> None:
    rate = 16000
    samples = array("h", bytes(2 * rate // 2)) + tone(0.4) + array("h", bytes(2 * rate // 2))
    # Speech is 0.5-0.9 s; the aligner said 0.45-0.96 s, swallowing some pause on each side.
    word = Segment("a", 0.45, 0.96, [Segment("AH", 0.45, 0.7), Segment("B", 0.7, 0.96)])
    refine_words([word], samples, rate, levels_of([word], samples, rate))
    assert word.start == pytest.approx(0.5, abs=0.005)
    assert word.end == pytest.approx(0.9, abs=0.006)
    assert word.phones[0].start == word.start and word.phones[-1].end == word.end


def test_in_noise_only_a_vowel_ends_on_the_speech_before_a_pause() -> None:
    """Speech 20 dB over the noise (under MIN_SNR_DB): the vowel-final word's end moves from
    0.25 s to where its sound stops (0.3 s); the other edges stay as aligned."""
    rate = 16000
    noise = random.Random(0)
    samples = tone(0.3) + silence(0.3) + tone(0.3)
    samples = array("h", (x // 10 + round(noise.gauss(0, 80)) for x in samples))
    first = Segment("a", 0.0, 0.25, [Segment("AH", 0.0, 0.25)])
    second = Segment("is", 0.55, 0.85, [Segment("IH", 0.55, 0.7), Segment("Z", 0.7, 0.85)])
    levels = levels_of([first, second], samples, rate)
    assert 10 < levels.difference < MIN_SNR_DB
    refine_words([first, second], samples, rate, levels)
    assert first.end == first.phones[0].end == pytest.approx(0.3, abs=0.006)
    assert (first.start, second.start, second.end) == (0.0, 0.55, 0.85)


@pytest.mark.parametrize("inside", [0.0, 0.01])
def test_refine_gives_back_a_swallowed_pause(inside: float) -> None:
    """Also when the word's edge lies a frame (``inside`` s) into the speech beside the pause:
    the aligner's edges fall on 10 ms frames."""
    rate = 16000
    silence = array("h", bytes(2 * rate // 4))
    samples = tone(0.3) + silence + tone(0.3)
    # The second word took the 0.25 s pause into its first phone.
    edge = 0.3 - inside
    first = Segment("a", 0.0, edge, [Segment("AH", 0.0, edge)])
    second = Segment("b", edge, 0.85, [Segment("B", edge, 0.6), Segment("IY", 0.6, 0.85)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == pytest.approx(0.55, abs=0.005)
    assert first.end == pytest.approx(0.3, abs=0.006)  # beside a pause now: refined too
    # The first word took the pause into its last phone.
    edge = 0.55 + inside
    first = Segment("a", 0.0, edge, [Segment("AH", 0.0, 0.2), Segment("D", 0.2, edge)])
    second = Segment("b", edge, 0.85, [Segment("IY", edge, 0.85)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == pytest.approx(0.3, abs=0.006)
    assert second.start == pytest.approx(0.55, abs=0.005)


@pytest.mark.parametrize(("phone", "given_back"), [("AE", True), ("N", True), ("B", False)])
def test_a_vowel_or_nasal_gives_back_a_shorter_pause(phone: str, given_back: bool) -> None:
    """80 ms of silence inside a vowel or a nasal is a pause it took in; inside a stop it may
    be the stop's closure (a pause needs 120 ms there)."""
    rate = 16000
    samples = tone(0.3) + silence(0.08) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    second = Segment("b", 0.3, 0.68, [Segment(phone, 0.3, 0.5), Segment("D", 0.5, 0.68)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == pytest.approx(0.38 if given_back else 0.3, abs=0.005)


@pytest.mark.parametrize(("phone", "given_back"), [("AE", True), ("B", False)])
def test_a_vowel_gives_back_a_pause_that_starts_inside_it(phone: str, given_back: bool) -> None:
    """ "day, and" (Festival's ked): the aligner joined the words 45 ms before the end of
    "day,"'s vowel and gave "and"'s AE that tail, the 0.24 s pause and the vowel. A vowel holds
    no silence: the pause goes back, and "day," ends where its sound does. In a stop the
    silence may be its closure: left as aligned."""
    rate = 16000
    samples = silence(0.3) + tone(0.3) + silence(0.24) + tone(0.3)
    first = Segment("day", 0.3, 0.555, [Segment("D", 0.3, 0.35), Segment("EY", 0.35, 0.555)])
    second = Segment("and", 0.555, 1.14, [Segment(phone, 0.555, 1.0), Segment("N", 1.0, 1.14)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == pytest.approx(0.84 if given_back else 0.555, abs=0.005)
    assert first.end == pytest.approx(0.6 if given_back else 0.555, abs=0.006)


def ramped_noise(
    seconds: float, sigma: float, from_db: float, to_db: float, seed: int, rate: int = 16000
) -> array[int]:
    """Gaussian noise whose level moves evenly from ``from_db`` to ``to_db`` (relative to
    ``sigma``) over ``seconds``."""
    noise = random.Random(seed)
    count = round(seconds * rate)
    gains = (10 ** ((from_db + (to_db - from_db) * i / count) / 20) for i in range(count))
    return array("h", (round(noise.gauss(0, sigma * gain)) for gain in gains))


def rising_noise(seconds: float, peak: float = 1500, rate: int = 16000) -> array[int]:
    """Noise whose level rises evenly by 50 dB to ``peak`` (sigma) over ``seconds``, as a
    voice's /h/ aspiration rises from the floor."""
    return ramped_noise(seconds, peak, -50, 0, seed=2, rate=rate)


@pytest.mark.parametrize(("phone", "rise"), [("HH", 0.06), ("F", 0.06), ("HH", 0.0)])
def test_a_word_after_a_pause_starts_where_its_rise_begins(phone: str, rise: float) -> None:
    """An /h/ whose aspiration rises from the pause's floor over 60 ms (from 0.6 s), as in
    Festival's and MBROLA's voices, crosses the edge threshold well into the rise: the word
    starts where the rise begins (the /h/ walk, and the rise out of the pause), as one
    starting with a fricative does (the rise out of the pause). An /h/ at full strength at
    once (espeak-ng's) starts there too."""
    rate = 16000
    samples = tone(0.3) + steady_noise(0.3, sigma=4) + rising_noise(rise) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    start = 0.3 + rise + 0.02
    second = Segment("he", start, 0.9, [Segment(phone, start, 0.7), Segment("IY", 0.7, 0.9)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == pytest.approx(0.6, abs=0.01)


def test_an_h_the_aligner_began_early_starts_where_its_rise_begins() -> None:
    """The aligner began an /h/ 30 ms early, in the pause, and ended it (0.62 s) before its
    aspiration (rising from 0.6 s over 60 ms) crosses the edge threshold: the threshold is
    looked for in the phone after it too, and the word starts where the rise begins (Festival's
    kal "Have" had started 42 ms early, at the aligner's start)."""
    rate = 16000
    samples = tone(0.3) + steady_noise(0.3, sigma=4) + rising_noise(0.06) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    second = Segment("he", 0.57, 0.9, [Segment("HH", 0.57, 0.62), Segment("IY", 0.62, 0.9)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == pytest.approx(0.6, abs=0.01)


def room_noise(seconds: float, rate: int = 16000) -> array[int]:
    """Noise whose level swings by 14 dB every 20 ms, as a recording room's may."""
    parts = [steady_noise(0.02, (4, 20)[i % 2], seed=i) for i in range(round(seconds / 0.02))]
    return array("h", (x for part in parts for x in part))


@pytest.mark.parametrize(
    ("pause", "murmur", "start"),
    [
        (partial(steady_noise, sigma=4), 12, 0.6),  # a closure's murmur 9.5 dB over the pause
        (partial(steady_noise, sigma=4), 0, 0.64),  # no murmur: the burst
        (room_noise, 20, 0.64),  # the murmur as loud as the pause's loud moments
    ],
)
def test_a_word_after_a_pause_starts_where_its_sound_rises_above_the_pause(
    pause: Callable[[float], array[int]], murmur: float, start: float
) -> None:
    """A steady pause (from 0.3 s), then a stop's closure murmur from 0.6 s, 53 dB below the
    burst at 0.64 s and far below the edge threshold, as MBROLA's recorded closures after its
    digital silence: the word starts where the murmur rises above the pause, not at the burst.
    Where the pause's own level swings as high as the murmur, it starts at the burst."""
    rate = 16000
    samples = tone(0.3) + pause(0.3) + steady_noise(0.04, murmur) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    second = Segment("to", 0.65, 0.94, [Segment("T", 0.65, 0.7), Segment("UW", 0.7, 0.94)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == pytest.approx(start, abs=0.006)


def test_an_edge_phone_quiet_to_its_end_gives_back_all_but_the_shortest_phone() -> None:
    """The aligner gave "the" 0.2 s of the pause before it and its DH started (too weak to
    show) in the phone's last frame: the word now starts there, the DH MIN_PHONE long."""
    rate = 16000
    samples = tone(0.3) + silence(0.3) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    second = Segment("the", 0.4, 0.9, [Segment("DH", 0.4, 0.6), Segment("AH", 0.6, 0.9)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == second.phones[0].start == pytest.approx(0.59)


@pytest.mark.parametrize(
    ("last", "edge", "cut"), [("IY", 0.4, True), ("IY", 0.435, True), ("S", 0.4, False)]
)
def test_a_vowel_ends_where_its_breath_tail_begins(last: str, edge: float, cut: bool) -> None:
    """A vowel stopping abruptly into 0.1 s of breath noise 26 dB below it (a voice's breathy
    phrase end, above the threshold that finds word edges) ends where the breath begins, and
    the next word's onset is not looked for in the breath; also when the aligner's ``edge``
    between the words lies 5 ms into the second word's speech (0.435 s). Behind a fricative
    such a fall may be the fricative's own tail: left as it was."""
    rate = 16000
    samples = tone(0.3) + breath(0.1, sigma=430, seed=0) + silence(0.03) + tone(0.3)
    # The aligner gave the breath to the first word (and the silence after it to the second).
    first = Segment("a", 0.0, edge, [Segment("L", 0.0, 0.15), Segment(last, 0.15, edge)])
    second = Segment("b", edge, 0.73, [Segment("AE", edge, 0.6), Segment("D", 0.6, 0.73)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == first.phones[-1].end == pytest.approx(0.3 if cut else 0.4, abs=0.005)
    assert second.start == pytest.approx(0.43 if cut else edge, abs=0.006)


@pytest.mark.parametrize(("before", "cut"), [("N", True), ("S", False)])
def test_a_vowel_stretched_over_its_breath_tail_ends_where_the_tail_begins(
    before: str, cut: bool
) -> None:
    """The aligner stretched the word's last phones over the breath after it and the pause
    (heldout_clean_en_f2's "dinner," 140 ms late): the fall at 0.3 s lies in the phone before
    the last vowel. Found there when that phone is a sonorant; an obstruent's fall may be its
    own weak tail, so behind one only the last phone is searched (and the word is left as
    aligned here)."""
    rate = 16000
    samples = tone(0.3) + breath(0.1, sigma=430, seed=0) + silence(0.03) + tone(0.3)
    phones = [Segment("L", 0.0, 0.15), Segment(before, 0.15, 0.36), Segment("ER", 0.36, 0.43)]
    first = Segment("a", 0.0, 0.43, phones)
    second = Segment("b", 0.43, 0.73, [Segment("AE", 0.43, 0.6), Segment("D", 0.6, 0.73)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == first.phones[-1].end == pytest.approx(0.3 if cut else 0.43, abs=0.005)
    assert second.start == pytest.approx(0.43, abs=0.006)


@pytest.mark.parametrize(("last", "end"), [("S", 0.4 + 0.1 * 35 / 60), ("N", 0.4 + 0.1 * 10 / 60)])
def test_a_fricative_before_a_pause_ends_where_its_frication_fades(last: str, end: float) -> None:
    """A vowel, then frication 20 dB below it to 0.4 s, fading by 60 dB over 0.1 s into a
    pause (Festival's ked voice fades its /s/ and /z/ so). The edge search ends the word where
    the fade falls 30 dB below the vowel (BELOW_SPEECH_DB: 0.417 s); a fricative ends where its
    frication above FRICATION_CUT has fallen FRICATION_BELOW_PEAK_DB (35 dB) below its usual
    level (0.458 s). A nasal with the same sound is left at 0.417 s."""
    rate = 16000
    sigma = 8000 / math.sqrt(2) / 10  # 20 dB below tone()
    frication = steady_noise(0.1, sigma, seed=5) + ramped_noise(0.1, sigma, 0, -60, seed=5)
    samples = tone(0.3) + frication + silence(0.4) + tone(0.3)
    first = Segment("a", 0.0, 0.45, [Segment("AH", 0.0, 0.3), Segment(last, 0.3, 0.45)])
    second = Segment("b", 0.9, 1.2, [Segment("AE", 0.9, 1.2)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == first.phones[-1].end == pytest.approx(end, abs=0.006)


@pytest.mark.parametrize("last", ["AH", "N", "S"])
def test_a_word_ends_before_the_gap_that_cuts_a_breath_off_it(last: str) -> None:
    """Speech to 0.3 s, 60 ms of silence, an in-breath to 0.56 s: the aligner stretched the
    word over the gap into the breath (to 0.42 s), and the edge search alone, which ends a
    word at the last loud frame of its window, found the breath. The word ends at the gap."""
    rate = 16000
    samples = tone(0.3) + silence(0.06) + breath(0.2) + silence(0.3) + tone(0.3)
    first = Segment("a", 0.0, 0.42, [Segment("L", 0.0, 0.15), Segment(last, 0.15, 0.42)])
    second = Segment("b", 0.86, 1.16, [Segment("AE", 0.86, 1.16)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == first.phones[-1].end == pytest.approx(0.3, abs=0.006)
    assert second.start == pytest.approx(0.86, abs=0.005)


@pytest.mark.parametrize(("sound", "released"), [(0.07, True), (0.2, False)])
def test_a_final_stop_released_past_its_end_window_keeps_its_release(
    sound: float, released: bool
) -> None:
    """Slow speech: "ate quickly" after a pause, with a vowel to 0.6 s, the /t/'s closure (45
    ms), its aspirated release (70 ms), the /k/'s closure (40 ms). The aligner put the /t/
    inside the vowel and the rest in a pause (the check sentences' "ate" had ended 135 ms
    early and "quickly" started 75 ms late). The word ends where the release ends, and the next
    word, a stop's closure away, starts there. A longer sound after the closure (a breath) is
    no release: the word keeps its aligned end, and the next starts where its sound does."""
    rate = 16000
    burst = breath(sound, sigma=1500)
    samples = silence(0.3) + tone(0.3) + silence(0.045) + burst + silence(0.04) + tone(0.3)
    first = Segment("ate", 0.3, 0.59, [Segment("EY", 0.3, 0.55), Segment("T", 0.55, 0.59)])
    speech = 0.685 + sound
    phones = [
        Segment("K", speech + 0.01, speech + 0.05),
        Segment("AE", speech + 0.05, speech + 0.3),
    ]
    second = Segment("quick", speech + 0.01, speech + 0.3, phones)
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    end = 0.645 + sound if released else 0.59
    assert first.end == first.phones[-1].end == pytest.approx(end, abs=0.006)
    assert second.start == pytest.approx(end if released else speech, abs=0.006)


def test_a_word_starts_after_the_gap_that_cuts_a_breath_off_it() -> None:
    """An in-breath 0.6-0.8 s, 60 ms of silence, speech from 0.86 s: the aligner began the
    word in the breath (0.65 s), over its first two phones; it starts at the speech, its first
    phone squeezed to the shortest phone."""
    rate = 16000
    samples = tone(0.3) + silence(0.3) + breath(0.2) + silence(0.06) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    phones = [Segment("HH", 0.65, 0.7), Segment("AE", 0.7, 1.0), Segment("D", 1.0, 1.16)]
    second = Segment("b", 0.65, 1.16, phones)
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == second.phones[0].start == pytest.approx(0.86, abs=0.005)
    assert second.phones[0].end == second.phones[1].start >= second.start + 0.01 - 1e-9
    assert first.end == pytest.approx(0.3, abs=0.006)


def test_a_word_final_stop_keeps_its_release_after_its_closure() -> None:
    """A vowel to 0.25 s, a 50 ms closure, a 30 ms release, then a pause: the closure is a gap
    between two sounds too, but the release is the stop's own; the word ends after it."""
    rate = 16000
    samples = tone(0.25) + silence(0.05) + breath(0.03) + silence(0.5) + tone(0.3)
    first = Segment("a", 0.0, 0.34, [Segment("AE", 0.0, 0.25), Segment("T", 0.25, 0.34)])
    second = Segment("b", 0.83, 1.13, [Segment("AE", 0.83, 1.13)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == pytest.approx(0.33, abs=0.006)


@pytest.mark.parametrize(
    ("gap", "first_phone", "start"),
    [(0.06, "T", 0.3), (0.06, "AE", 0.36), (0.2, "T", 0.5), (0.02, "CH", 0.3)],
)
def test_a_short_silence_before_a_stop_is_its_closure(
    gap: float, first_phone: str, start: float
) -> None:
    """The aligner put a pause of ``gap`` s between two words; before a stop a silence shorter
    than MAX_CLOSURE is the stop's closure, so the second word starts where the first ends.
    Before a vowel, or after a longer silence, the word starts where its sound does."""
    rate = 16000
    samples = tone(0.3) + silence(gap) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    edge = 0.3 + gap
    second = Segment("b", edge, edge + 0.3, [Segment(first_phone, edge, edge + 0.3)])
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert first.end == pytest.approx(0.3, abs=0.006)
    assert second.start == second.phones[0].start == pytest.approx(start, abs=0.005)


@pytest.mark.parametrize(("release", "start"), [(0.04, 0.38), (0.01, 0.33), (0.0, 0.33)])
def test_a_stop_after_a_released_stop_starts_at_its_own_closure(
    release: float, start: float
) -> None:
    """Both t's of "bought twelve" released: a vowel to 0.3 s, the first closure (40 ms), its
    release (``release`` s), the second closure (40 ms), the rest. The aligner gave the first
    release to "twelve" (its T from 0.33 s to its own burst); "twelve" starts where its closure
    does. A release shorter than MIN_RELEASE is no release; with none (one closure, 80 ms)
    nothing moves."""
    rate = 16000
    closure = silence(0.04)
    burst = tone(release) if release else array("h")
    samples = tone(0.3) + closure + burst + closure + tone(0.3)
    burst_end = 0.41 + release  # the second T's burst: 30 ms of the rest
    words = [
        word_of(("AO", 0.0, 0.3), ("T", 0.3, 0.33)),
        word_of(("T", 0.33, burst_end), ("W", burst_end, 0.68 + release)),
    ]
    refine_words(words, samples, rate, levels_of(words, samples, rate))
    assert words[0].end == words[0].phones[-1].end == pytest.approx(start, abs=0.003)
    assert words[1].start == words[1].phones[0].start == words[0].end


@pytest.mark.parametrize("first_phone", ["T", "B", "CH"])
def test_a_stop_after_a_pause_starts_at_a_burst_late_in_its_aligned_phone(
    first_phone: str,
) -> None:
    """A pause, then a stop's burst at 0.803 s: the aligner put the stop at 0.75-0.81 s, the
    burst 7 ms before the stop's end. The word starts at the burst, though the loud frames
    that confirm it lie past the last place its start may move to (the phone's end less
    MIN_PHONE): espeak-ng's "Doctor", "Bright", "Before" after a pause began 33-51 ms early."""
    rate = 16000
    samples = tone(0.3) + silence(0.503) + tone(0.3)
    first = Segment("a", 0.0, 0.3, [Segment("AH", 0.0, 0.3)])
    phones = [Segment(first_phone, 0.75, 0.81), Segment("AE", 0.81, 1.1)]
    second = Segment("b", 0.75, 1.1, phones)
    refine_words([first, second], samples, rate, levels_of([first, second], samples, rate))
    assert second.start == second.phones[0].start == pytest.approx(0.803, abs=0.005)
    assert second.phones[0].end - second.start >= 0.01 - 1e-9


@pytest.mark.parametrize(("first_phone", "start", "end"), [("AE", 0.37, 0.3), ("T", 0.325, 0.325)])
def test_a_vowel_joined_to_a_word_gives_back_a_pause_the_two_split(
    first_phone: str, start: float, end: float
) -> None:
    """A word to 0.3 s, a 70 ms pause, the next word from 0.37 s: the aligner left the pause
    out and split it between the two, 25 ms to the first word's final T and 45 ms to the next
    word's vowel, less than a vowel gives back alone (MIN_SONORANT_PAUSE). Counted together it
    is a pause: the vowel starts at its sound, and the word before ends at its own. Before a
    stop the silence is its closure and nothing moves (espeak-ng's en-us+f3 "omelette, and"
    began 52 ms early)."""
    rate = 16000
    samples = tone(0.3) + silence(0.07) + tone(0.3)
    words = [
        word_of(("AH", 0.0, 0.2), ("T", 0.2, 0.325)),
        word_of((first_phone, 0.325, 0.45), ("N", 0.45, 0.67)),
    ]
    refine_words(words, samples, rate, levels_of(words, samples, rate))
    assert words[1].start == words[1].phones[0].start == pytest.approx(start, abs=0.005)
    assert words[0].end == words[0].phones[-1].end == pytest.approx(end, abs=0.006)


@pytest.mark.parametrize(("word_before", "start"), [(None, 0.05), (0.0, 0.0)])
def test_a_stop_first_in_a_stretch_takes_in_a_closure_only_after_a_word(
    word_before: float | None, start: float
) -> None:
    """The silence before a recording's first word is no closure; before the first word of a
    stretch aligned again after a word (``word_before`` ends at 0 s) it is."""
    rate = 16000
    samples = silence(0.05) + tone(0.3)
    word = Segment("to", 0.05, 0.35, [Segment("T", 0.05, 0.15), Segment("UW", 0.15, 0.35)])
    refine_words([word], samples, rate, levels_of([word], samples, rate), word_before)
    assert word.start == pytest.approx(start, abs=0.005)


@pytest.mark.parametrize(
    ("d_start", "d_end", "next_first", "noisy", "junction"),
    [
        (0.2, 0.23, "DH", True, 0.265),  # D 30 ms, DH 100 ms: to the middle of the two
        (0.2, 0.3, "DH", True, 0.3),  # D 100 ms, DH 30 ms: the middle is earlier; left
        (0.2, 0.23, "AH", True, 0.23),  # a vowel-initial word: left
        (0.2, 0.23, "DH", False, 0.23),  # clean: left
        (0.05, 0.08, "DH", True, 0.08),  # D and DH 280 ms together: they took in a pause
    ],
)
def test_in_noise_two_obstruents_between_words_split_at_their_middle(
    d_start: float, d_end: float, next_first: str, noisy: bool, junction: float
) -> None:
    """ "told the" in noise: the aligner gave the D little more than its shortest duration and
    the DH the rest; the junction moves to the middle of the two, never earlier."""
    rate = 16000
    samples = tone(0.5)
    words = [
        word_of(("AH", 0.0, d_start), ("D", d_start, d_end)),
        word_of((next_first, d_end, 0.33), ("AH", 0.33, 0.5)),
    ]
    loud = levels_of(words, samples, rate).speech
    levels = Levels(loud - (MIN_SNR_DB - 10 if noisy else MIN_SNR_DB + 10), loud)
    refine_words(words, samples, rate, levels)
    assert words[0].end == words[0].phones[-1].end == pytest.approx(junction)
    assert words[1].start == words[1].phones[0].start == words[0].end


@pytest.mark.parametrize(
    ("last", "t_start", "next_start", "noisy", "end"),
    [
        ("T", 0.27, 0.6, True, 0.34),  # T 30 ms before a pause: 40 ms later
        ("CH", 0.25, 0.6, True, 0.34),  # an affricate too
        ("T", 0.27, 0.35, True, 0.32),  # the pause keeps MIN_GAP
        ("T", 0.2, 0.6, True, 0.3),  # T 100 ms: left
        ("S", 0.27, 0.6, True, 0.3),  # a fricative: left
        ("T", 0.27, 0.32, True, 0.3),  # no pause after it: left
        ("T", 0.27, 0.6, False, 0.3),  # clean: left (the refinement places it)
    ],
)
def test_in_noise_a_short_final_stop_before_a_pause_ends_later(
    last: str, t_start: float, next_start: float, noisy: bool, end: float
) -> None:
    """ "report." at 10 dB SNR: the closure and the release, filled with noise, sound like the
    pause, and the aligner gave the T its shortest duration (three 10 ms states)."""
    rate = 16000
    samples = tone(0.3) + silence(0.3) + tone(0.3)
    words = [
        word_of(("AO", 0.0, t_start), (last, t_start, 0.3)),
        word_of(("AH", next_start, 0.9)),
    ]
    loud = levels_of(words, samples, rate).speech
    levels = Levels(loud - (MIN_SNR_DB - 10 if noisy else MIN_SNR_DB + 10), loud)
    refine_words(words, samples, rate, levels)
    assert words[0].end == words[0].phones[-1].end == pytest.approx(end, abs=0.006)


def word_of(*phones: tuple[str, float, float]) -> Segment:
    """A word of ``phones`` (label, start, end)."""
    return Segment("w", phones[0][1], phones[-1][2], [Segment(*p) for p in phones])


def test_vowel_initial_words_joined_to_a_sonorant_start_earlier() -> None:
    words = [
        word_of(("IH", 0.0, 0.1), ("N", 0.1, 0.2)),  # "in" + "a": moves
        word_of(("AH", 0.2, 0.3)),  # "a" + "old": moves less, after a vowel
        word_of(("OW", 0.3, 0.5), ("L", 0.5, 0.55), ("D", 0.55, 0.6)),  # ends in a stop
        word_of(("AE", 0.6, 0.7), ("N", 0.7, 0.8)),  # a pause follows
        word_of(("IH", 0.9, 1.0), ("N", 1.0, 1.015)),  # "in" + "it": N keeps MIN_PHONE
        word_of(("IH", 1.015, 1.1), ("T", 1.1, 1.2)),
    ]
    advance_vowel_onsets(words)
    lead, after_vowel = VOWEL_ONSET_LEAD, VOWEL_ONSET_LEAD_AFTER_VOWEL
    spans = [(0, 0.2 - lead), (0.2 - lead, 0.3 - after_vowel), (0.3 - after_vowel, 0.6)]
    spans += [(0.6, 0.8)]
    spans += [(0.9, 1.01), (1.01, 1.2)]
    assert [(w.start, w.end) for w in words] == [pytest.approx(span) for span in spans]
    assert words[0].phones[-1].end == words[1].phones[0].start == words[1].start
    assert words[2].phones[0].start == words[2].start


def test_approximants_after_a_consonant_start_later() -> None:
    lag = APPROXIMANT_ONSET_LAG
    words = [
        word_of(("P", 0.0, 0.1), ("L", 0.1, 0.2), ("EY", 0.2, 0.3)),  # "play": P-L moves
        word_of(("AE", 0.3, 0.4), ("N", 0.4, 0.5), ("D", 0.5, 0.6)),  # "and" + "left": moves
        word_of(("L", 0.6, 0.7), ("EH", 0.7, 0.8), ("F", 0.8, 0.9), ("T", 0.9, 1.0)),
        word_of(("AH", 1.0, 1.1)),  # "a" + "room": after a vowel, stays
        word_of(("R", 1.1, 1.2), ("UW", 1.2, 1.3), ("M", 1.3, 1.4)),
        word_of(("T", 1.5, 1.6), ("W", 1.6, 1.7), ("IH", 1.7, 1.8)),  # after a pause; T-W moves
        word_of(("S", 1.8, 1.9), ("W", 1.9, 2.0), ("IY", 2.0, 2.1)),  # a glide after S stays
        word_of(("K", 2.1, 2.2), ("R", 2.2, 2.21), ("AY", 2.21, 2.3)),  # R already MIN_PHONE
    ]
    delay_approximant_onsets(words)
    assert words[0].phones[0].end == words[0].phones[1].start == pytest.approx(0.1 + lag)
    assert (words[1].end, words[2].start) == (pytest.approx(0.6 + lag),) * 2
    assert words[1].phones[-1].end == words[2].phones[0].start == words[2].start
    assert (words[3].end, words[4].start) == (1.1, 1.1)
    assert words[5].start == 1.5
    assert words[5].phones[1].start == pytest.approx(1.6 + lag)
    assert words[6].phones[1].start == 1.9
    assert words[7].phones[1].start == 2.2


def test_words_misplaced_at_a_pause() -> None:
    def word(label: str, *phones: tuple[str, float, float]) -> dict[str, Any]:
        return {
            "label": label,
            "start": phones[0][1],
            "end": phones[-1][2],
            "phones": [list(p) for p in phones],
        }

    # A stop longer than 0.2 s, or another consonant longer than 0.3 s, took in a pause.
    please = [word("please", ("P", 0.0, 0.25), ("L", 0.25, 0.3), ("IY", 0.3, 0.4))]
    assert _misplaced(please, 0) == "took in a pause"
    then = [word("then", ("DH", 0.0, 0.25), ("EH", 0.25, 0.35), ("N", 0.35, 0.4))]
    assert _misplaced(then, 0) is None
    then[0]["phones"][0][1] = -0.1
    assert _misplaced(then, 0) == "took in a pause"
    # A short word joined to the word before it and followed by a pause.
    morning = word("morning", ("M", 0.0, 0.1), ("AO", 0.1, 0.3), ("NG", 0.3, 0.5))
    a = word("a", ("EY", 0.5, 0.55))
    phonetician = word("phonetician", ("F", 0.8, 0.9), ("AH", 0.9, 1.0))
    assert _misplaced([morning, a, phonetician], 1) == "is short and ends at a pause"
    assert _misplaced([morning, a], 1) is None  # the last word: nothing to follow
    phonetician["start"] = phonetician["phones"][0][1] = 0.6
    assert _misplaced([morning, a, phonetician], 1) is None  # no pause after it
    morning["end"] = morning["phones"][-1][2] = 0.4
    phonetician["start"] = phonetician["phones"][0][1] = 0.8
    assert _misplaced([morning, a, phonetician], 1) is None  # a pause before it too


def test_a_consonant_that_took_in_a_pause_is_cut_next_to_the_rest_of_its_word() -> None:
    def word(*phones: tuple[str, float, float]) -> dict[str, Any]:
        return {"label": "w", "start": phones[0][1], "end": phones[-1][2], "phones": phones}

    varje = word(("F", 3.99, 4.45), ("AE", 4.45, 4.54), ("R", 4.54, 4.6))
    cut = _trimmed(varje)
    assert cut is not None
    assert cut["start"] == cut["phones"][0][1] == pytest.approx(4.45 - TRIMMED_CONSONANT)
    assert (cut["end"], cut["phones"][1:]) == (4.6, [["AE", 4.45, 4.54], ["R", 4.54, 4.6]])
    # A word's last consonant before a pause; a stop after 0.2 s already.
    this = word(("DH", 1.0, 1.05), ("IH", 1.05, 1.15), ("S", 1.15, 1.5))
    assert _trimmed(this) == {
        **this,
        "end": 1.15 + TRIMMED_CONSONANT,
        "phones": [["DH", 1.0, 1.05], ["IH", 1.05, 1.15], ["S", 1.15, 1.15 + TRIMMED_CONSONANT]],
    }
    please = word(("P", 0.0, 0.25), ("L", 0.25, 0.3), ("IY", 0.3, 0.4))
    cut = _trimmed(please)
    assert cut is not None
    assert cut["start"] == pytest.approx(0.25 - TRIMMED_CONSONANT)
    # Not a vowel, nor a consonant of ordinary length, nor one inside the word.
    assert _trimmed(word(("AA", 0.0, 0.5), ("N", 0.5, 0.6))) is None
    assert _trimmed(word(("S", 0.0, 0.25), ("AA", 0.25, 0.4))) is None
    assert _trimmed(word(("AA", 0.0, 0.1), ("S", 0.1, 0.5), ("AA", 0.5, 0.6))) is None


def test_registry() -> None:
    assert engine_class("pocketsphinx").name == "pocketsphinx"
    assert engine_class("mfa").name == "mfa"
    assert engine_class("fave").name == "fave"
    with pytest.raises(UnknownEngineError):
        engine_class("htk")
