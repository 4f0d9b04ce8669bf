"""Boundary accuracy of the built-in engine on a recording whose word edges are known.

Each word is synthesised on its own with espeak-ng, trimmed of its leading and trailing
silence with sox, and the words are joined with pauses of known length (digital silence), so
the true start and end of every word is known to the sample.
"""

from __future__ import annotations

import array
import subprocess
import wave
from pathlib import Path

from test_runner_support import InputFile, labelled, make_task, result_textgrids

from autophon_align.runner import run_task
from autophon_core.taskfiles import RunResult

RATE = 16000
SENTENCES = [
    "seven purple monkeys dance quietly under the golden bridge tonight while singing",
    "please gather those heavy wooden boxes quickly and carry them outside",
]
PAUSES = [0.25, 0.4, 0.3, 0.5, 0.35, 0.45]
LEAD = 0.3  # silence before the first word (s)


def synthesise(words: list[str], folder: Path) -> tuple[Path, list[tuple[str, float, float]]]:
    """The joined recording and each word's true (word, start, end)."""
    samples = array.array("h", bytes(2 * round(LEAD * RATE)))
    truth = []
    for index, word in enumerate(words):
        raw, trimmed = folder / f"raw{index}.wav", folder / f"word{index}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), word], check=True)
        # Trim silence (below 0.5% of full scale) from both ends, at 16 kHz mono.
        subprocess.run(
            [
                *["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(trimmed)],
                *["silence", "1", "0.005", "0.5%", "reverse"],
                *["silence", "1", "0.005", "0.5%", "reverse"],
            ],
            check=True,
        )
        with wave.open(str(trimmed), "rb") as audio:
            start = len(samples) / RATE
            samples.frombytes(audio.readframes(audio.getnframes()))
            truth.append((word, start, len(samples) / RATE))
        samples.frombytes(bytes(2 * round(PAUSES[index % len(PAUSES)] * RATE)))
    recording = folder / "joined.wav"
    with wave.open(str(recording), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return recording, truth


def test_word_boundaries_are_accurate(tmp_path: Path) -> None:
    errors: list[float] = []
    report = []
    for number, sentence in enumerate(SENTENCES):
        folder = tmp_path / f"s{number}"
        folder.mkdir()
        recording, truth = synthesise(sentence.split(), folder)
        task = make_task(tmp_path / f"data{number}", [InputFile(recording, "joined.wav", sentence)])
        assert run_task(task.task_id, task.settings) == 0, RunResult.load(task.paths).error
        grid = result_textgrids(task)["joined.TextGrid"]
        aligned = labelled(grid, "words")
        assert [w for _, _, w in aligned] == [w for w, _, _ in truth]
        for (word, start, end), (found_start, found_end, _) in zip(truth, aligned, strict=True):
            errors += [abs(found_start - start), abs(found_end - end)]
            report.append(
                f"{word}: {start:.3f}-{end:.3f} aligned {found_start:.3f}-{found_end:.3f}"
            )
    within_20ms = sum(e <= 0.020 for e in errors) / len(errors)
    details = "\n".join(report)
    assert within_20ms >= 0.8, f"{within_20ms:.0%} of boundaries within 20 ms\n{details}"
    assert max(errors) <= 0.100, f"largest error {max(errors) * 1000:.0f} ms\n{details}"
