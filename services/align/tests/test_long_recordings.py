"""Long recordings: chunk planning, chunk seams, and resource failures told apart from bad
input (refused up front, or out of memory: never retried, never a C source path)."""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_runner_support import (
    InputFile,
    english,
    labelled,
    make_task,
    result_textgrids,
    sample,
)

from autophon_align.engines import pocketsphinx_worker
from autophon_align.engines.base import EngineFailed, EngineResourceError
from autophon_align.engines.chunks import Gap, gaps_between, plan_chunks
from autophon_align.engines.process import run_tool, user_detail
from autophon_align.runner import run_task
from autophon_core.taskfiles import ExitCode, RunResult
from bench.speech import SENTENCES, boundary_errors, connected, with_noise, write_wav


def test_chunks_cut_in_the_longest_pause_of_their_window() -> None:
    # Words every second; a long pause at 14.9-15.5 s, short ones elsewhere.
    words = [(float(i), i + 0.9) for i in range(40)]
    words = [(s + (0.5 if s >= 15 else 0), e + (0.5 if s >= 15 else 0)) for s, e in words]
    chunks = plan_chunks(40.5, len(words), gaps_between(words), max_seconds=20)
    assert chunks[0].end == pytest.approx(15.2)  # the middle of the long pause
    assert [c.first for c in chunks] == [0, *[c.last for c in chunks[:-1]]]
    assert chunks[-1].last == 40 and chunks[-1].end == 40.5
    assert all(c.end - c.start <= 20 for c in chunks)
    assert all(a.end == b.start for a, b in itertools.pairwise(chunks))


def test_chunks_cut_in_a_quiet_gap_where_their_window_has_one() -> None:
    """The word pass may put a pause where a word's vowel is: such a gap is not quiet."""
    words = [(float(i), i + 0.9) for i in range(40)]
    words[14] = (14.0, 14.4)  # a 0.6 s gap after it, at 14.4-15 s, is not quiet
    words[12] = (12.0, 12.7)  # a 0.3 s gap after it is
    loud = Gap(14.4, 15.0, 15)

    def quiet(gap: Gap) -> bool:
        return gap != loud

    chunks = plan_chunks(40.0, len(words), gaps_between(words), max_seconds=20, quiet=quiet)
    assert chunks[0].end == pytest.approx(12.85)  # the middle of the longest quiet gap
    # None quiet in a window: the longest gap, as before.
    chunks = plan_chunks(40.0, len(words), gaps_between(words), 20, quiet=lambda gap: False)
    assert chunks[0].end == pytest.approx(14.7)


def test_chunks_of_a_short_utterance_and_of_speech_without_pauses() -> None:
    assert len(plan_chunks(10.0, 5, [Gap(1, 2, 1)], max_seconds=30)) == 1
    # Words touching each other: the cuts fall between words, within the limit.
    words = [(i * 0.5, (i + 1) * 0.5) for i in range(200)]
    chunks = plan_chunks(100.0, 200, gaps_between(words), max_seconds=30)
    assert len(chunks) >= 4 and all(c.end - c.start <= 30 for c in chunks)
    assert sum(c.last - c.first for c in chunks) == 200


def test_a_word_beside_a_seam_aligns_as_without_the_seam(tmp_path: Path) -> None:
    # 28 s: a word pass in windows of 12 s, then chunks of at most 10 s (3+ seams).
    speech = connected(SENTENCES, "en-us")
    recording = write_wav(speech, tmp_path / "connected.wav")
    text = " ".join(w.label for w in speech.words)
    aligned = {}
    for name, max_chunk in (("whole", "1000"), ("chunked", "10")):
        settings_root = tmp_path / name
        task = make_task(settings_root, [InputFile(recording, "connected.wav", text)])
        language = english(
            max_chunk_seconds=max_chunk, whole_up_to_seconds=max_chunk, word_window_seconds="12"
        )
        settings = task.settings.model_copy(update={"languages": [language]})
        assert run_task(task.task_id, settings) == 0, RunResult.load(task.paths).error
        aligned[name] = labelled(result_textgrids(task)["connected.TextGrid"], "words")
    whole, chunked = aligned["whole"], aligned["chunked"]
    assert [w for _, _, w in whole] == [w for _, _, w in chunked]
    # Seams lie in pauses (some of these): no word beside one is further from the truth than
    # without chunks (2 frames of slack: each chunk has its own cepstral mean and noise floor).
    beside_pauses = [
        i
        for seam in range(1, len(chunked))
        if chunked[seam][0] - chunked[seam - 1][1] >= 0.15
        for i in (seam - 1, seam)
    ]
    assert len(beside_pauses) >= 10

    def error(word: tuple[float, float, str], i: int) -> float:
        return max(abs(word[0] - speech.words[i].start), abs(word[1] - speech.words[i].end))

    worse = [
        (speech.words[i].label, error(whole[i], i), error(chunked[i], i))
        for i in beside_pauses
        if error(chunked[i], i) > error(whole[i], i) + 0.02
    ]
    assert not worse


def test_a_failed_allocation_is_a_resource_error_without_source_paths(tmp_path: Path) -> None:
    code = (
        "import sys; print('malloc(-322073152) failed from "
        "/project/src/state_align_search.c(139)', file=sys.stderr); sys.exit(255)"
    )
    with pytest.raises(EngineResourceError) as caught:
        run_tool([sys.executable, "-c", code], log_path=tmp_path / "t.log", timeout=60, what="x")
    message = str(caught.value)
    assert "memory" in message and ".c" not in message and "322073152" not in message


def test_a_kill_by_the_oom_killer_is_a_resource_error(tmp_path: Path) -> None:
    code = f"import os; os.kill(os.getpid(), {int(signal.SIGKILL)})"
    with pytest.raises(EngineResourceError, match="ran out of memory"):
        run_tool([sys.executable, "-c", code], log_path=tmp_path / "t.log", timeout=60)


def test_other_failures_hide_c_source_locations(tmp_path: Path) -> None:
    code = (
        "import sys; print('ERROR: \"fsg_search.c\", line 944: Final result does not match', "
        "file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(EngineFailed) as caught:
        run_tool([sys.executable, "-c", code], log_path=tmp_path / "t.log", timeout=60)
    assert "fsg_search" not in str(caught.value) and "Final result" in str(caught.value)
    assert user_detail("x failed from /src/a.c(12)") == "x failed"


def test_too_long_a_recording_is_refused_before_alignment(tmp_path: Path) -> None:
    fox = sample("fox.wav")
    task = make_task(tmp_path, [InputFile(fox, "fox.wav", "the quick brown fox")])
    settings = task.settings.model_copy(update={"languages": [english(max_audio_seconds="1")]})
    assert run_task(task.task_id, settings) == ExitCode.RESOURCE
    result = RunResult.load(task.paths)
    assert result.exit_code == ExitCode.RESOURCE  # not retried, and not bad input
    assert result.error is not None
    assert "takes recordings of up to 1 s" in result.error
    assert "Split it into shorter files" in result.error
    assert result.engine_seconds < 1.0  # refused before the engine ran


def test_a_silence_longer_than_the_word_pass_window(tmp_path: Path) -> None:
    speech = connected(SENTENCES[:2], "en-us")
    speech.extend(connected(SENTENCES[2:4], "en-us"), pause=30.0)  # 30 s: 2.5 windows of 12 s
    # A room's noise floor (30 dB SNR): 30 s of near-digital silence throw the cepstral mean
    # off so far that pruned searches lose the path (the unpruned try finds it: 91 % within
    # 20 ms without the noise).
    speech = with_noise(speech, 30)
    recording = write_wav(speech, tmp_path / "gap.wav")
    text = " ".join(w.label for w in speech.words)
    task = make_task(tmp_path / "run", [InputFile(recording, "gap.wav", text)])
    language = english(max_chunk_seconds="10", whole_up_to_seconds="10", word_window_seconds="12")
    settings = task.settings.model_copy(update={"languages": [language]})
    assert run_task(task.task_id, settings) == 0, RunResult.load(task.paths).error
    aligned = labelled(result_textgrids(task)["gap.TextGrid"], "words")
    assert len(aligned) == len(speech.words)
    errors = [
        max(abs(found[0] - true.start), abs(found[1] - true.end))
        for found, true in zip(aligned, speech.words, strict=True)
    ]
    # Every word on its own side of the silence and near its place; most of them close.
    assert max(errors) <= 0.5, errors
    assert sorted(errors)[len(errors) // 2] <= 0.02, errors


# Eight sentences whose 33 s reading by espeak-ng's British voice has no path through the
# whole-utterance grammar, even with wide beams ("Final result does not match the grammar").
READING = (
    "The committee reviewed several proposals before lunch and rejected most.",
    "My brother Lorenzo usually drives his old truck to the market on Saturdays.",
    "She found a tiny yellow bird sitting quietly beside her kitchen window.",
    "After the storm, the villagers repaired their roofs and cleared the muddy roads.",
    "Doctor Nakamura explained those results would take about three weeks.",
    "We walked along the river until the sun disappeared behind the distant hills.",
    "Each student must submit a written report describing the experiment in detail.",
    "The old clock struck twelve as Margaret opened her letter.",
)


@pytest.mark.parametrize(
    ("band", "floor", "largest"),
    [
        ("wide", 0.85, 0.1),
        # Through 8 kHz (nothing above 4 kHz, as on a telephone line): no path in chunks
        # either, and the task failed, before the search went unpruned.
        ("telephone", 0.7, 0.3),
    ],
)
def test_an_utterance_without_a_path_is_searched_unpruned(
    tmp_path: Path, band: str, floor: float, largest: float
) -> None:
    speech = connected(READING, "en")
    recording = write_wav(speech, tmp_path / "reading.wav")
    if band == "telephone":
        wideband, recording = recording, tmp_path / "telephone.wav"
        subprocess.run(
            ["sox", "-D", str(wideband), str(recording), "rate", "8000", "rate", "16000"],
            check=True,
        )
    text = " ".join(w.label for w in speech.words)
    task = make_task(tmp_path / "run", [InputFile(recording, "reading.wav", text)])
    assert run_task(task.task_id, task.settings) == 0, RunResult.load(task.paths).error
    aligned = labelled(result_textgrids(task)["reading.TextGrid"], "words")
    errors = boundary_errors(speech.words, aligned)
    assert sum(e <= 0.02 for e in errors) / len(errors) >= floor, errors
    assert max(errors) <= largest, errors
    assert "searching again unpruned" in (task.paths.root / "engine.log").read_text()


def test_windows_shrink_to_the_chunk_length_when_no_path_is_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tried: list[float] = []

    def word_spans(self: object, utterance: object, window: float) -> list[tuple[float, float]]:
        tried.append(window)
        if window > 15:
            raise pocketsphinx_worker._NoPath("no path through the words was found")
        return [(i * 1.0, i + 0.5) for i in range(100)]

    monkeypatch.setattr(pocketsphinx_worker._UtteranceAligner, "_word_spans", word_spans)
    aligner = pocketsphinx_worker._UtteranceAligner(
        pocketsphinx_worker._Decoders({}), FakeRecording(), {"max_chunk_seconds": 15}
    )
    chunks = aligner._plan({"start": 0.0, "end": 100.0, "text": "w " * 100}, [60.0, 15.0])
    assert tried == [60.0, 15.0]
    assert sum(c.last - c.first for c in chunks) == 100
    assert "no path in windows of 60 s: trying smaller ones" in capsys.readouterr().out


class FakeRecording:
    def getframerate(self) -> int:
        return 16000

    def getnframes(self) -> int:
        return 16000 * 100

    def setpos(self, position: int) -> None:
        pass

    def readframes(self, count: int) -> bytes:
        return bytes(2 * count)  # silence
