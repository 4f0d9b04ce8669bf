"""prepare_task end to end: real samples, real ffmpeg, the real English dictionary."""

from __future__ import annotations

import shutil
import subprocess
import wave
import zipfile
from pathlib import Path

import pytest
from praatio import textgrid as praatio_textgrid

from autophon_core.config import Settings
from autophon_core.storage import Storage, TaskPaths
from autophon_core.taskfiles import Manifest
from autophon_upload.processing import BadInputError, prepare_task

TASK_ID = "0123456789abcdef0123456789abcdef"
SETTINGS = Settings()
ENGLISH = SETTINGS.language("eng")


@pytest.fixture
def task(tmp_path: Path) -> TaskPaths:
    return Storage(tmp_path / "data").create_task_dir(TASK_ID)


def upload(task: TaskPaths, samples: Path, *names: str, **texts: str) -> None:
    for name in names:
        shutil.copy(samples / name, task.upload_dir / name)
    for name, text in texts.items():
        (task.upload_dir / name.replace("__", ".")).write_text(text, encoding="utf-8")


def prepare(task: TaskPaths, settings: Settings = SETTINGS) -> tuple[Manifest, list[str]]:
    warnings: list[str] = []
    manifest = prepare_task(
        task, TASK_ID, ENGLISH, "pocketsphinx", settings, on_warning=warnings.append
    )
    return manifest, warnings


def soxi_seconds(path: Path) -> float:
    return float(
        subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout
    )


def tiers(path: Path) -> dict[str, list[tuple[float, float, str]]]:
    grid = praatio_textgrid.openTextgrid(str(path), includeEmptyIntervals=False)
    return {name: [tuple(e) for e in grid.getTier(name).entries] for name in grid.tierNames}  # type: ignore[misc]


def test_a_recording_sampled_at_8_khz_is_noted(task: TaskPaths, samples: Path) -> None:
    """Nothing above 4 kHz (a telephone line, 8 kHz sampling): aligned, with a warning that
    says why the boundaries may be worse (wideband recordings get none: the test below)."""
    subprocess.run(
        ["sox", str(samples / "fox.wav"), "-r", "8000", str(task.upload_dir / "fox.wav")],
        check=True,
    )
    upload(task, samples, "fox.txt")
    manifest, warnings = prepare(task)
    assert warnings == [
        "fox.wav: nothing above 4 kHz was recorded (audio sampled at 8 kHz, or a telephone "
        "line). Aligners trained on wideband speech, as the built-in engine is, place "
        "boundaries less accurately in such audio."
    ]
    assert manifest.warnings == warnings and manifest.files[0].words == 9


@pytest.mark.parametrize("recording", ["fox.wav", "fox.mp3", "fox.flac"])
def test_fox_in_every_format(task: TaskPaths, samples: Path, recording: str) -> None:
    upload(task, samples, recording, "fox.txt")
    manifest, warnings = prepare(task)
    assert warnings == []
    [entry] = manifest.files
    assert (entry.stem, entry.name, entry.transcript) == ("fox", recording, "fox.txt")
    assert (entry.words, entry.missing_words, entry.tiers, entry.plain) == (9, 0, ["text"], True)
    assert abs(entry.duration_s - soxi_seconds(samples / "fox.wav")) < 0.05
    assert abs(entry.duration_s - soxi_seconds(task.input_audio("fox"))) < 0.001
    with wave.open(str(task.input_audio("fox"))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
    grid = praatio_textgrid.openTextgrid(
        str(task.input_textgrid("fox")), includeEmptyIntervals=True
    )
    assert grid.maxTimestamp == entry.duration_s
    assert tiers(task.input_textgrid("fox")) == {
        "text": [(0.0, entry.duration_s, "The quick brown fox jumps over the lazy dog.")]
    }
    assert Manifest.load(task) == manifest
    assert manifest.duration_s == entry.duration_s
    assert sorted(p.name for p in task.input_dir.iterdir()) == [
        "fox.TextGrid",
        "fox.wav",
        "manifest.json",
    ]


def test_dialogue_stereo_textgrid(task: TaskPaths, samples: Path) -> None:
    upload(task, samples, "dialogue_44k_stereo.wav", "dialogue_44k_stereo.TextGrid")
    manifest, warnings = prepare(task)
    assert warnings == []
    [entry] = manifest.files
    assert entry.tiers == ["Speaker A", "Speaker B"]
    assert not entry.plain
    assert entry.words == 16
    assert entry.duration_s == pytest.approx(6.3096, abs=0.001)
    with wave.open(str(task.input_audio(entry.stem))) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (16000, 1)
    assert tiers(task.input_textgrid(entry.stem)) == {
        "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
        "Speaker B": [(3.39, 6.3, "Peter Piper picked a peck of pickled peppers.")],
    }


def make_batch_zip(path: Path, samples: Path, *, escape: bool) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(samples / "fox.flac", "batch/audio/Fox.flac")
        archive.write(samples / "fox.txt", "batch/text/fox.txt")
        archive.write(samples / "dialogue_44k_stereo.wav", "batch/audio/dialogue_44k_stereo.wav")
        archive.write(
            samples / "dialogue_44k_stereo.TextGrid", "batch/dialogue_44k_stereo.TextGrid"
        )
        archive.writestr("__MACOSX/batch/._Fox.flac", b"junk")
        if escape:
            archive.writestr("../../../escape.txt", b"zip-slip")


def test_zip_batch_with_folders_and_clutter(task: TaskPaths, samples: Path) -> None:
    storage_root = task.root.parent.parent
    make_batch_zip(task.upload_dir / "batch.zip", samples, escape=True)
    before = set(storage_root.parent.rglob("*"))
    # The escaping member is flattened to escape.txt, which then has no recording.
    with pytest.raises(BadInputError, match=r"^escape\.txt has no recording"):
        prepare(task)
    assert all(task.root in p.parents for p in set(storage_root.parent.rglob("*")) - before)

    make_batch_zip(task.upload_dir / "batch.zip", samples, escape=False)
    first, _ = prepare(task)
    second, _ = prepare(task)  # a retry rebuilds the same input
    assert first == second
    assert [(f.name, f.transcript, f.tiers) for f in second.files] == [
        ("dialogue_44k_stereo.wav", "dialogue_44k_stereo.TextGrid", ["Speaker A", "Speaker B"]),
        ("Fox.flac", "fox.txt", ["text"]),
    ]
    assert sorted(p.name for p in task.input_dir.iterdir()) == [
        "Fox.TextGrid",
        "Fox.wav",
        "dialogue_44k_stereo.TextGrid",
        "dialogue_44k_stereo.wav",
        "manifest.json",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("corrupt.wav", r"^corrupt\.wav could not be read as audio: the file is damaged"),
        ("empty.wav", r"^empty\.wav is empty \(0 bytes\)"),
    ],
)
def test_bad_recordings(task: TaskPaths, samples: Path, name: str, message: str) -> None:
    upload(
        task, samples, "fox.wav", "fox.txt", name, **{name.replace(".wav", "__txt"): "Hello there."}
    )
    with pytest.raises(BadInputError, match=message):
        prepare(task)
    assert not task.manifest.exists()


def test_transcript_errors_come_before_audio_conversion(task: TaskPaths, samples: Path) -> None:
    upload(
        task,
        samples,
        "fox.wav",
        "corrupt.wav",
        fox__tsv="0\t1\tThe fox\n0.5\t2\tjumps\n",
        corrupt__txt="x",
    )
    with pytest.raises(BadInputError, match=r"^fox\.tsv, line 1 \(0-1 s\) overlaps line 2"):
        prepare(task)
    assert not task.input_dir.exists()


def test_user_dictionary_and_missing_words(task: TaskPaths, samples: Path) -> None:
    upload(
        task,
        samples,
        "fox.wav",
        fox__txt="The quick brown zorblax jumps over the lazy flibber, zorblax!",
    )
    manifest, _ = prepare(task)
    assert manifest.missing_words == ["flibber", "zorblax"]
    assert (manifest.files[0].words, manifest.files[0].missing_words) == (10, 2)
    assert not manifest.has_user_dict and not task.user_dict.exists()

    (task.upload_dir / "mine.dict").write_bytes(
        b"\xef\xbb\xbf;;; mine\nZORBLAX Z AO R B L AE K S\nquick K W IH K\n"
    )
    manifest, _ = prepare(task)
    assert manifest.missing_words == ["flibber"]
    assert manifest.has_user_dict
    assert task.user_dict.read_text(encoding="utf-8").splitlines()[1] == "ZORBLAX Z AO R B L AE K S"


def test_malformed_dictionary(task: TaskPaths, samples: Path) -> None:
    upload(task, samples, "fox.wav", "fox.txt", mine__dict="fox F AA K S\nfox\n")
    with pytest.raises(
        BadInputError, match=r"^mine\.dict, line 2: expected a word followed by its phones"
    ):
        prepare(task)


def test_master_table_and_interval_table(task: TaskPaths, samples: Path) -> None:
    upload(
        task,
        samples,
        "fox.wav",
        "dialogue_44k_stereo.wav",
        batch__csv='file,text\nfox.wav,"The quick, brown fox."\n',
    )
    (task.upload_dir / "dialogue_44k_stereo.tsv").write_text(
        "tier\tstart\tend\ttext\n"
        "B\t3.39\t6.3\tPeter Piper\n"
        "A\t0\t2,9\tShe sells\n"
        "A\t7\t8\tgone\n"
        "B\t6.3\t9\tpast the end\n"
    )
    manifest, warnings = prepare(task)
    fox = next(f for f in manifest.files if f.stem == "fox")
    dialogue = next(f for f in manifest.files if f.stem != "fox")
    assert (fox.transcript, fox.words, fox.plain) == ("batch.csv", 4, True)
    assert (dialogue.tiers, dialogue.words, dialogue.plain) == (["B", "A"], 7, False)
    assert tiers(task.input_textgrid(dialogue.stem))["A"] == [(0.0, 2.9, "She sells")]
    assert tiers(task.input_textgrid(dialogue.stem))["B"][-1] == (
        6.3,
        dialogue.duration_s,
        "past the end",
    )
    assert warnings == [
        "dialogue_44k_stereo.tsv: 1 interval starting after the end of dialogue_44k_stereo.wav "
        '(6.31 s) left out (the first: tier "A", line 4, at 7 s).',
        "dialogue_44k_stereo.tsv: 1 interval running past the end of dialogue_44k_stereo.wav cut "
        'at 6.31 s (the first: tier "B", line 5).',
    ]


def test_too_long_recording(task: TaskPaths, samples: Path) -> None:
    settings = Settings.model_validate({"upload_worker": {"max_audio_seconds": 5}})
    upload(task, samples, "dialogue_44k_stereo.wav", "dialogue_44k_stereo.TextGrid")
    with pytest.raises(
        BadInputError, match=r"^dialogue_44k_stereo\.wav is longer than the limit of 5\.0 s"
    ):
        prepare(task, settings)


def test_upload_limits(task: TaskPaths, samples: Path) -> None:
    settings = Settings.model_validate({"api": {"max_files": 2, "max_unzipped_bytes": 50_000}})
    upload(task, samples, "fox.wav", "fox.txt", mine__dict="fox F AA K S\n")
    with pytest.raises(BadInputError, match=r"^The upload holds 3 files, more than the limit of 2"):
        prepare(task, settings)
    (task.upload_dir / "mine.dict").unlink()
    with zipfile.ZipFile(task.upload_dir / "more.zip", "w") as archive:
        archive.write(samples / "fox.flac", "dog.flac")
    with pytest.raises(BadInputError, match=r"^more\.zip unpacks to more than 49 KB"):
        prepare(task, settings)


def test_symlinked_upload_is_refused(task: TaskPaths, samples: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    upload(task, samples, "fox.wav")
    (task.upload_dir / "fox.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(BadInputError, match=r"^fox\.txt is not a regular file"):
        prepare(task)
