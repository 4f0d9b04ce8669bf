"""``run_task`` end to end with the built-in engine (pocketsphinx + espeak-ng, no mocks)."""

from __future__ import annotations

import itertools
import shutil
import zipfile
from pathlib import Path

import pytest
from praatio import textgrid
from test_runner_support import (
    InputFile,
    Task,
    labelled,
    make_settings,
    make_task,
    result_textgrids,
    sample,
    speak,
    wav_seconds,
    with_language,
    zip_text,
)

from autophon_align.engines.base import AlignedWord, Interval
from autophon_align.runner import run_task
from autophon_align.textgrids import write_alignment
from autophon_core.config import DEFAULT_LANGUAGES
from autophon_core.lexicon import normalise_words
from autophon_core.taskfiles import ExitCode, RunResult

DIALOGUE_TIERS = {
    "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
    "Speaker B": [(3.39, 6.3, "Peter Piper picked a peck of pickled peppers.")],
}


def fox(tmp_path: Path, **kwargs: object) -> Task:
    text = sample("fox.txt").read_text(encoding="utf-8")
    return make_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", text)], **kwargs)  # type: ignore[arg-type]


def assert_well_formed(grid: textgrid.Textgrid, words_tier: str, phones_tier: str) -> None:
    """Monotonic, non-overlapping words inside the recording, phones nested in words."""
    words = labelled(grid, words_tier)
    phones = labelled(grid, phones_tier)
    for start, end, _ in words:
        assert 0 <= start < end <= grid.maxTimestamp
    for (_, end, _), (start, _, _) in itertools.pairwise(words):
        assert end <= start
    for start, end, label in phones:
        assert any(ws <= start and end <= we for ws, we, _ in words), label
    for _, _, label in phones:
        assert label.isalpha() and label.isupper()
    # The tiers cover the whole recording, pauses as empty intervals.
    for tier in (words_tier, phones_tier):
        entries = grid.getTier(tier).entries
        assert entries[0].start == 0 and entries[-1].end == grid.maxTimestamp
        assert all(a.end == b.start for a, b in itertools.pairwise(entries))


def test_plain_transcript(tmp_path: Path) -> None:
    task = fox(tmp_path)
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    result = RunResult.load(task.paths)
    assert result.status == "completed" and result.error is None
    assert result.engine == "pocketsphinx" and result.engine_version
    assert result.engine_seconds > 0
    assert [(f.name, f.words, f.missing_words) for f in result.files] == [("fox.wav", 9, 0)]

    grids = result_textgrids(task)
    assert set(grids) == {"fox.TextGrid", "fox_IPA.TextGrid"}
    grid = grids["fox.TextGrid"]
    assert grid.tierNames == ("words", "phones")
    assert grid.maxTimestamp == pytest.approx(wav_seconds(sample("fox.wav")), abs=1e-6)
    expected = normalise_words(sample("fox.txt").read_text(encoding="utf-8"))
    assert [label for _, _, label in labelled(grid, "words")] == expected
    assert_well_formed(grid, "words", "phones")
    # The IPA TextGrid: the same intervals, the phones through the ARPAbet-to-IPA table.
    ipa = grids["fox_IPA.TextGrid"]
    assert ipa.tierNames == grid.tierNames
    assert labelled(ipa, "words") == labelled(grid, "words")
    arpabet, in_ipa = labelled(grid, "phones"), labelled(ipa, "phones")
    assert [(a, b) for a, b, _ in arpabet] == [(a, b) for a, b, _ in in_ipa]
    assert [label for _, _, label in in_ipa][:5] == ["ð", "ʌ", "k", "w", "ɪ"]  # noqa: RUF001

    with zipfile.ZipFile(task.paths.result_zip) as archive:
        assert sorted(archive.namelist()) == [
            "README.txt",
            "fox.TextGrid",
            "fox_IPA.TextGrid",
            "missing_words.txt",
        ]
    readme = zip_text(task, "README.txt")
    assert "pocketsphinx 5." in readme and "espeak-ng" in readme and "autophon" in readme
    # No temporary files are left beside the result, and the work folder is gone.
    assert not [p.name for p in task.paths.root.iterdir() if p.name.endswith(".tmp")]
    assert not task.paths.work_dir.exists()


def test_speaker_tiers(tmp_path: Path) -> None:
    task = make_task(
        tmp_path,
        [
            InputFile(
                sample("dialogue_44k_stereo.wav"), "dialogue_44k_stereo.wav", None, DIALOGUE_TIERS
            )
        ],
    )
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    grid = result_textgrids(task)["dialogue_44k_stereo.TextGrid"]
    assert grid.tierNames == (
        "Speaker A - words",
        "Speaker A - phones",
        "Speaker B - words",
        "Speaker B - phones",
    )
    assert grid.maxTimestamp == pytest.approx(task_duration(task), abs=1e-6)
    for speaker, [(start, end, text)] in DIALOGUE_TIERS.items():
        words = labelled(grid, f"{speaker} - words")
        assert [w for _, _, w in words] == normalise_words(text)
        assert all(start <= ws and we <= end for ws, we, _ in words)
        assert_well_formed(grid, f"{speaker} - words", f"{speaker} - phones")


def task_duration(task: Task) -> float:
    return wav_seconds(next(task.paths.input_dir.glob("*.wav")))


ZORBLAX = "The quick brown Zorblax jumps over the lazy dog."


def zorblax(tmp_path: Path, **kwargs: object) -> Task:
    recording = speak(ZORBLAX, tmp_path / "zorblax.wav")
    return make_task(tmp_path / "data", [InputFile(recording, "zorblax.wav", ZORBLAX)], **kwargs)  # type: ignore[arg-type]


def test_out_of_dictionary_word_gets_an_espeak_pronunciation(tmp_path: Path) -> None:
    task = zorblax(tmp_path)
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    grid = result_textgrids(task)["zorblax.TextGrid"]
    words = labelled(grid, "words")
    assert [w for _, _, w in words] == normalise_words(ZORBLAX)
    start, end, _ = words[3]
    assert phones_between(grid, start, end) == ["Z", "AO", "R", "B", "L", "AE", "K", "S"]
    missing = zip_text(task, "missing_words.txt")
    assert "zorblax\tZ AO R B L AE K S\tespeak-ng" in missing
    result = RunResult.load(task.paths)
    assert result.files[0].missing_words == 1
    assert any("zorblax" in w and "espeak-ng" in w for w in result.warnings)
    assert "zorblax" in zip_text(task, "README.txt")


def test_numbers_are_aligned_as_they_are_read(tmp_path: Path) -> None:
    # espeak-ng reads "50%" as "fifty percent": as one word with that pronunciation, "50%"
    # spans both (as "50" it got only "fifty", and "came" started after a gap).
    spoken = "They opened at 7:30 and 50% came back, 1,200 more than in 1999."
    written = (
        "They opened at seven thirty and fifty percent came back, one thousand two hundred "
        "more than in nineteen ninety nine."
    )
    recording = speak(spoken, tmp_path / "numbers.wav")
    aligned = {}
    for name, text in (("digits", spoken), ("words", written)):
        task = make_task(tmp_path / name, [InputFile(recording, "numbers.wav", text)])
        assert run_task(task.task_id, task.settings) == ExitCode.OK
        aligned[name] = labelled(result_textgrids(task)["numbers.TextGrid"], "words")
    digits, words = aligned["digits"], aligned["words"]
    assert [w for _, _, w in digits] == normalise_words(spoken)
    assert {"7:30", "50%", "1,200"} <= {w for _, _, w in digits}
    # Each word of the digits' alignment against the word(s) it is read as.
    read_as = [2, 2, 4, 3]  # 7:30, 50%, 1,200 and 1999 spelled out
    spans, k = [], 0
    for _, _, word in digits:
        count = read_as.pop(0) if word[0].isdigit() else 1
        spans.append((words[k][0], words[k + count - 1][1]))
        k += count
    assert k == len(words)
    for (start, end, word), (start_as, end_as) in zip(digits, spans, strict=True):
        assert abs(start - start_as) <= 0.03 and abs(end - end_as) <= 0.03, word


def test_user_dictionary_overrides_espeak(tmp_path: Path) -> None:
    task = zorblax(tmp_path, user_dict="ZORBLAX  Z OW1 R B L AH0 K S\n")
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    grid = result_textgrids(task)["zorblax.TextGrid"]
    start, end, _ = labelled(grid, "words")[3]
    assert phones_between(grid, start, end) == ["Z", "OW", "R", "B", "L", "AH", "K", "S"]
    assert "zorblax\tZ OW R B L AH K S\tuser dictionary" in zip_text(task, "missing_words.txt")
    assert not RunResult.load(task.paths).warnings


def phones_between(grid: textgrid.Textgrid, start: float, end: float) -> list[str]:
    return [p for s, e, p in labelled(grid, "phones") if start <= s and e <= end]


def test_user_dictionary_with_unknown_phone_is_bad_input(tmp_path: Path) -> None:
    task = fox(tmp_path, user_dict="fox F QQ K S\n")
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    error = RunResult.load(task.paths).error or ""
    assert "user.dict" in error and '"fox"' in error and "QQ" in error


@pytest.mark.parametrize(
    ("prepare", "reason"),
    [
        (lambda wav: wav.unlink(), "missing"),
        (lambda wav: shutil.copyfile(sample("corrupt.wav"), wav), "not a readable WAV"),
        (lambda wav: shutil.copyfile(sample("empty.wav"), wav), "not a readable WAV"),
    ],
    ids=["missing", "corrupt", "empty"],
)
def test_unreadable_recording_is_bad_input(tmp_path: Path, prepare: object, reason: str) -> None:
    task = fox(tmp_path)
    prepare(next(task.paths.input_dir.glob("*.wav")))  # type: ignore[operator]
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    result = RunResult.load(task.paths)
    assert result.status == "failed" and result.exit_code == ExitCode.BAD_INPUT
    assert "fox.wav" in (result.error or "") and reason in (result.error or "")
    assert not task.paths.result_zip.exists()


def test_transcript_that_does_not_match_is_an_empty_alignment(tmp_path: Path) -> None:
    # Forty words cannot fit in 3.4 s (every phone lasts at least three 10 ms frames).
    text = " ".join(["seventeen"] * 40)
    task = make_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", text)])
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    result = RunResult.load(task.paths)
    assert "Nothing in fox.wav could be aligned" in (result.error or "")
    assert any("fox.wav" in w and "could not be aligned" in w for w in result.warnings)
    # The engine's last log lines are kept for whoever looks into it.
    assert "failed" in task.paths.engine_log.read_text(encoding="utf-8")
    assert not task.paths.result_zip.exists()


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        # Every word of fox.txt is in the dictionary: without guessed variants the
        # pronunciations take no time and the limit strikes in the alignment.
        ("false", ["fox.wav", "time limit"]),
        ("true", ["ran out of time while finding pronunciations"]),
    ],
)
def test_timeout_fails_with_a_clear_message(
    tmp_path: Path, variants: str, expected: list[str]
) -> None:
    english = DEFAULT_LANGUAGES[0]
    language = english.model_copy(update={"assets": {**english.assets, "g2p_variants": variants}})
    settings = with_language(
        make_settings(tmp_path, timeout_base_seconds=0.01, timeout_per_audio_second=0), language
    )
    task = fox(tmp_path, settings=settings)
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    result = RunResult.load(task.paths)
    assert all(part in (result.error or "") for part in expected), result.error
    assert not task.paths.result_zip.exists()


def test_audio_is_deleted_after_success(tmp_path: Path) -> None:
    settings = make_settings(tmp_path).model_copy(
        update={
            "storage": make_settings(tmp_path).storage.model_copy(
                update={"delete_audio_after_alignment": True}
            )
        }
    )
    task = fox(tmp_path, settings=settings)
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    assert not list(task.paths.input_dir.glob("*.wav"))
    assert task.paths.result_zip.exists()


def test_result_zip_is_never_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = fox(tmp_path)
    written: list[str] = []

    def failing_write(self: zipfile.ZipFile, filename: str, arcname: str | None = None) -> None:
        written.append(str(arcname))
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        original_write(self, filename, arcname)

    original_write = zipfile.ZipFile.write
    monkeypatch.setattr(zipfile.ZipFile, "write", failing_write)
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    assert written  # the zip was being written when it failed
    assert not task.paths.result_zip.exists()
    assert not [p.name for p in task.paths.root.iterdir() if p.name.startswith(".result")]
    assert RunResult.load(task.paths).status == "failed"


def test_stale_results_of_an_earlier_attempt_are_replaced(tmp_path: Path) -> None:
    task = fox(tmp_path)
    task.paths.work_dir.mkdir()
    (task.paths.work_dir / "leftover").write_text("x")
    RunResult(status="failed", error="old").save(task.paths)
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    assert RunResult.load(task.paths).status == "completed"
    assert not task.paths.work_dir.exists()


def test_missing_manifest_is_internal(tmp_path: Path) -> None:
    task = fox(tmp_path)
    task.paths.manifest.unlink()
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    assert "manifest" in (RunResult.load(task.paths).error or "")


def test_unknown_task_folder(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert run_task("0" * 32, settings) == ExitCode.INTERNAL
    assert run_task("../../etc", settings) == ExitCode.BAD_INPUT


def test_a_word_may_run_to_the_end_of_any_recording(tmp_path: Path) -> None:
    # 143.155375 s (2,290,486 samples at 16 kHz) is no whole number of 0.1 ms: the last
    # phone's end, rounded to 143.1554, used to fall outside the grid and fail the task.
    duration = 143.155375
    word = AlignedWord(142.8, duration, "fox", "", (Interval(142.8, duration, "F"),))
    path = tmp_path / "result.TextGrid"
    write_alignment(path, [word], [""], duration, plain=True)
    grid = textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    assert grid.maxTimestamp == pytest.approx(duration, abs=1e-9)
    assert [e.end for e in grid.getTier("words").entries] == [pytest.approx(duration, abs=1e-9)]
