"""The runner's progress reports and the viewer's summaries (view/<stem>.json)."""

from __future__ import annotations

import base64
import json
import math
import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest
from test_runner_support import (
    InputFile,
    english,
    labelled,
    make_task,
    result_textgrids,
    sample,
    speak,
)

from autophon_align import views
from autophon_align.engines import process
from autophon_align.runner import run_task
from autophon_core.taskfiles import ExitCode, Progress, RunResult
from bench.speech import SENTENCES, connected
from bench.speech import write_wav as bench_write_wav

RATE = 16000


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return path


def png_pixels(data: bytes) -> np.ndarray:
    """Decode the greyscale PNGs views.png_grey writes (filter 0 on every row)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert (depth, colour) == (8, 0)
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    raw = np.frombuffer(zlib.decompress(data[idat + 4 : idat + 4 + length]), dtype=np.uint8)
    rows = raw.reshape(height, width + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:]


def load_view(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_runner_reports_progress_per_file_and_writes_views(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = speak("Peter Piper picked a peck of pickled peppers.", tmp_path / "peter.wav")
    task = make_task(
        tmp_path,
        [
            InputFile(sample("fox.wav"), "fox.wav", sample("fox.txt").read_text()),
            InputFile(second, "peter.wav", "Peter Piper picked a peck of pickled peppers."),
        ],
    )
    written: list[Progress] = []
    save = Progress.save

    def spy(progress: Progress, paths: object) -> None:
        save(progress, paths)  # type: ignore[arg-type]
        written.append(Progress.model_validate_json(task.paths.progress_json.read_text()))

    monkeypatch.setattr(Progress, "save", spy)
    assert run_task(task.task_id, task.settings) == ExitCode.OK

    durations = [f.duration_s for f in RunResult.load(task.paths).files]
    done = [(p.files_done, p.audio_seconds_done) for p in written]
    assert done == sorted(done)  # never back
    # Written as each file begins (then, maybe, as its alignment goes on: the next test).
    firsts = {files: seconds for files, seconds in reversed(done)}
    assert firsts == pytest.approx({0: 0.0, 1: durations[0], 2: sum(durations)}, abs=0.002)
    assert all(p.files_total == 2 for p in written)
    totals = [p.audio_seconds_total for p in written]
    assert totals == pytest.approx([sum(durations)] * len(written), abs=0.002)
    assert written[0].started_at == written[-1].started_at <= written[-1].updated_at

    grids = result_textgrids(task)
    for stem, name, result_name in [
        ("fox-0", "fox.wav", "fox.TextGrid"),
        ("peter-1", "peter.wav", "peter.TextGrid"),
    ]:
        view = load_view(task.paths.view_file(stem))
        grid = grids[result_name]
        assert view["name"] == name
        assert view["duration_s"] == pytest.approx(grid.maxTimestamp, abs=1e-3)
        assert [t["name"] for t in view["tiers"]] == ["words", "phones"]
        for tier in view["tiers"]:
            assert [tuple(i) for i in tier["intervals"]] == labelled(grid, tier["name"])
        columns = math.ceil(view["duration_s"] * views.PEAKS_PER_SECOND)
        assert len(base64.b64decode(view["waveform"]["peaks"])) == 2 * columns
        pixels = png_pixels(base64.b64decode(view["spectrogram"]["png"]))
        assert pixels.shape == (
            views.FFT_SIZE // 2,
            math.ceil(view["duration_s"] * views.SPECTROGRAM_COLUMNS_PER_SECOND),
        )
        assert view["spectrogram"]["max_frequency"] == RATE / 2


def test_progress_moves_on_while_one_long_recording_is_aligned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 28 s read in chunks (a word pass in windows of 12 s, chunks of at most 10 s), adapted.
    speech = connected(SENTENCES, "en-us")
    recording = bench_write_wav(speech, tmp_path / "reading.wav")
    text = " ".join(w.label for w in speech.words)
    task = make_task(tmp_path / "run", [InputFile(recording, "reading.wav", text)])
    language = english(max_chunk_seconds="10", whole_up_to_seconds="10", word_window_seconds="12")
    settings = task.settings.model_copy(update={"languages": [language]})
    monkeypatch.setattr(process, "WAIT_POLL_SECONDS", 0.05)
    written: list[float] = []
    save = Progress.save

    def spy(progress: Progress, paths: object) -> None:
        save(progress, paths)  # type: ignore[arg-type]
        written.append(progress.audio_seconds_done)

    monkeypatch.setattr(Progress, "save", spy)
    assert run_task(task.task_id, settings) == ExitCode.OK
    total = RunResult.load(task.paths).files[0].duration_s
    assert written == sorted(written)
    assert written[-1] == pytest.approx(total, abs=0.002)
    assert len([s for s in written if 0.1 * total < s < 0.9 * total]) >= 2, written


def test_a_second_attempt_starts_its_progress_and_views_afresh(tmp_path: Path) -> None:
    task = make_task(
        tmp_path, [InputFile(sample("fox.wav"), "fox.wav", sample("fox.txt").read_text())]
    )
    stale = task.paths.view_file("gone")
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    task.paths.progress_json.write_text("not json")
    assert run_task(task.task_id, task.settings) == ExitCode.OK
    assert not stale.exists()
    assert Progress.model_validate_json(task.paths.progress_json.read_text()).files_done == 1


def test_waveform_peaks_follow_the_signal(tmp_path: Path) -> None:
    time = np.arange(RATE) / RATE
    signal = np.concatenate([np.zeros(RATE), 32767 * np.sin(2 * np.pi * 440 * time)])
    samples, rate = views._samples(write_wav(tmp_path / "a.wav", signal))
    pairs = np.frombuffer(views.waveform_peaks(samples, rate, 100), dtype=np.int8).reshape(-1, 2)
    assert pairs.shape == (200, 2)
    assert not pairs[:100].any()  # the silent second
    assert (pairs[100:, 0] <= -126).all() and (pairs[100:, 1] >= 126).all()


def test_summaries_read_in_blocks_match_the_whole_recording(tmp_path: Path) -> None:
    """Over several blocks (and a last column of a few samples), the waveform's peaks are the
    extremes of each column and the spectrogram's frames sit where a whole-array one has them."""
    noise = np.random.default_rng(0).integers(-30000, 30000, 3 * views.BLOCK_COLUMNS * 80 + 7)
    signal = noise * (np.arange(len(noise)) // 4000 % 2)  # alternating noise and silence
    samples, rate = views._samples(write_wav(tmp_path / "long.wav", signal))
    columns_per_second = 200.0
    pairs = np.frombuffer(views.waveform_peaks(samples, rate, columns_per_second), dtype=np.int8)
    starts = (np.arange(len(pairs) // 2) * rate / columns_per_second).astype(np.int64)
    whole = signal.astype(np.int16)
    expected = (
        np.stack(
            [np.minimum.reduceat(whole, starts), np.maximum.reduceat(whole, starts)], axis=1
        ).astype(np.int32)
        * 127
        // 32768
    )
    assert len(starts) > 2 * views.BLOCK_COLUMNS
    assert (pairs.reshape(-1, 2) == expected).all()
    grey = views.spectrogram(samples, rate, 100)
    loud = grey.mean(axis=0) < 128
    centres = ((np.arange(grey.shape[1]) + 0.5) * rate / 100).astype(np.int64)
    assert (loud == (centres // 4000 % 2 == 1))[2:-2].mean() > 0.95


def test_spectrogram_is_darkest_at_the_tone(tmp_path: Path) -> None:
    time = np.arange(RATE) / RATE
    tone = 10000 * np.sin(2 * np.pi * 1000 * time)
    samples, rate = views._samples(write_wav(tmp_path / "tone.wav", tone))
    grey = views.spectrogram(samples, rate, 100)
    assert grey.shape == (128, 100)
    bin_width = rate / views.FFT_SIZE
    darkest = grey[:, 10:90].mean(axis=1).argmin()
    # The top row is the highest frequency.
    assert (127 - darkest) * bin_width == pytest.approx(1000, abs=bin_width)
    assert grey.max() == 255 and grey.min() == 0
    assert len(np.unique(grey)) <= views.GREY_LEVELS


def test_long_recordings_keep_their_summaries_small(tmp_path: Path) -> None:
    minutes = 20
    noise = np.random.default_rng(1).integers(-3000, 3000, minutes * 60 * RATE)
    audio = write_wav(tmp_path / "long.wav", noise)
    (tmp_path / "long.TextGrid").write_text(
        'File type = "ooTextFile"\nObject class = "TextGrid"\n\nxmin = 0\n'
        f"xmax = {minutes * 60}\ntiers? <exists>\nsize = 1\nitem []:\n    item [1]:\n"
        '        class = "IntervalTier"\n        name = "words"\n        xmin = 0\n'
        f"        xmax = {minutes * 60}\n        intervals: size = 1\n        intervals [1]:\n"
        f'            xmin = 0\n            xmax = {minutes * 60}\n            text = "noise"\n'
    )
    views.write_view(tmp_path / "long.json", "long.wav", audio, tmp_path / "long.TextGrid")
    view = load_view(tmp_path / "long.json")
    assert len(base64.b64decode(view["waveform"]["peaks"])) <= 2 * views.MAX_PEAK_COLUMNS + 2
    pixels = png_pixels(base64.b64decode(view["spectrogram"]["png"]))
    assert pixels.shape[1] <= views.MAX_SPECTROGRAM_COLUMNS + 1
    assert (tmp_path / "long.json").stat().st_size < 2_000_000
    assert view["tiers"] == [{"name": "words", "intervals": [[0.0, minutes * 60.0, "noise"]]}]


def test_a_recording_that_is_not_16_bit_mono_is_refused(tmp_path: Path) -> None:
    with pytest.raises(views.ViewError, match="mono 16-bit"):
        views._samples(sample("dialogue_44k_stereo.wav"))
    (tmp_path / "text.wav").write_text("hello")
    with pytest.raises(views.ViewError, match="not a WAV"):
        views._samples(tmp_path / "text.wav")
