"""Pairing recordings with transcripts by stem, and the messages for what does not pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from autophon_upload.processing import (
    SUPPORTED_EXTENSIONS,
    BadInputError,
    FileKind,
    classify,
    pair_files,
    unsupported_message,
)


def files(folder: Path, *names: str, content: dict[str, str] | None = None) -> list[Path]:
    paths = []
    for name in names:
        path = folder / name
        path.write_text((content or {}).get(name, ""), encoding="utf-8")
        paths.append(path)
    return paths


def pairs(
    folder: Path, *names: str, content: dict[str, str] | None = None
) -> list[tuple[str, str, str]]:
    pairing = pair_files(files(folder, *names, content=content))
    return [(p.stem, p.recording.name, p.transcript.name) for p in pairing.pairs]


def error(folder: Path, *names: str, content: dict[str, str] | None = None) -> str:
    with pytest.raises(BadInputError) as caught:
        pair_files(files(folder, *names, content=content))
    return str(caught.value)


def test_pairs_by_stem_case_insensitively(tmp_path: Path) -> None:
    assert pairs(
        tmp_path,
        "Fox.WAV",
        "fox.txt",
        "dlg.mp3",
        "DLG.TextGrid",
        "b.flac",
        "b.lab",
        "c.ogg",
        "c.tsv",
    ) == [
        ("b", "b.flac", "b.lab"),
        ("c", "c.ogg", "c.tsv"),
        ("dlg", "dlg.mp3", "DLG.TextGrid"),
        ("Fox", "Fox.WAV", "fox.txt"),
    ]


def test_dictionary_and_clutter(tmp_path: Path) -> None:
    pairing = pair_files(
        files(tmp_path, "fox.wav", "fox.txt", "mine.dict", "Thumbs.db", "DS_Store")
    )
    assert pairing.dictionary == tmp_path / "mine.dict"
    assert len(pairing.pairs) == 1
    assert "Only one pronunciation dictionary is allowed per task, got a.dict and b.dict." in error(
        tmp_path, "fox.wav", "fox.txt", "a.dict", "b.dict"
    )


def test_recording_without_transcript(tmp_path: Path) -> None:
    assert error(tmp_path, "fox.wav") == (
        "fox.wav has no transcript: upload fox.txt, fox.lab or fox.TextGrid alongside it."
    )


def test_transcript_without_recording(tmp_path: Path) -> None:
    assert error(tmp_path, "fox.wav", "fox.txt", "dog.TextGrid") == (
        "dog.TextGrid has no recording: upload dog.wav (or another audio file named dog) "
        "alongside it, or leave dog.TextGrid out."
    )


def test_duplicate_recordings(tmp_path: Path) -> None:
    assert error(tmp_path, "fox.wav", "fox.mp3", "fox.txt") == (
        "fox.mp3 and fox.wav are recordings with the same name; give each recording its own name."
    )
    assert error(tmp_path, "Fox.wav", "fox.flac", "fox.txt") == (
        "fox.flac and Fox.wav are recordings with the same name (names differing only in upper "
        "and lower case count as the same); give each recording its own name."
    )


def test_several_transcripts(tmp_path: Path) -> None:
    assert error(tmp_path, "fox.wav", "fox.txt", "fox.TextGrid") == (
        "fox.wav has more than one transcript (fox.TextGrid and fox.txt); keep one."
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "notes.docx",
            "notes.docx is a word-processor document; save the transcript as plain text (.txt).",
        ),
        ("batch.rar", "batch.rar is not a zip archive; put the files in a .zip instead."),
        (
            "README.md",
            "README.md is not a supported file type: upload recordings (aac, ac3, aif, aiff, alac, "
            "flac, m4a, m4r, mp3, ogg, opus, wav, wma), their transcripts (.TextGrid, .txt, .lab, "
            ".tsv or .csv) and optionally one pronunciation dictionary (.dict), or a .zip of "
            "these.",
        ),
    ],
)
def test_unsupported_files(tmp_path: Path, name: str, expected: str) -> None:
    assert unsupported_message(name) == expected
    assert error(tmp_path, "fox.wav", "fox.txt", name) == expected


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    message = error(tmp_path, "a.wav", "b.wav", "c.txt", "d.pdf", "e.wav", "f.wav", "g.wav")
    assert message.startswith("d.pdf is not a supported file type")
    assert "c.txt has no recording" in message
    assert "a.wav has no transcript" in message
    assert message.endswith("(2 more problems not shown.)")


def test_nothing_to_align(tmp_path: Path) -> None:
    assert error(tmp_path, "mine.dict").startswith("No recordings were uploaded")


def test_master_table(tmp_path: Path) -> None:
    table = "File name\tText\nfox.wav\tThe quick brown fox.\nDOG\tThe lazy dog.\n"
    pairing = pair_files(
        files(
            tmp_path,
            "fox.wav",
            "dog.mp3",
            "cat.wav",
            "cat.txt",
            "batch.tsv",
            content={"batch.tsv": table},
        )
    )
    found = {(p.recording.name, p.transcript.name, p.text, p.text_source) for p in pairing.pairs}
    assert found == {
        ("fox.wav", "batch.tsv", "The quick brown fox.", "batch.tsv, line 2"),
        ("dog.mp3", "batch.tsv", "The lazy dog.", "batch.tsv, line 3"),
        ("cat.wav", "cat.txt", None, None),
    }


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            "fox\tThe fox.\nbird.wav\tA bird.\n",
            "batch.csv, line 2: there is no recording named bird.wav; upload it or remove the "
            "line.",
        ),
        (
            "fox\tThe fox.\nfox.wav\tAgain.\n",
            "batch.csv, lines 1 and 2 both give the text of fox.wav; keep one.",
        ),
        (
            "fox\tThe fox.\ncat\tThe cat.\n",
            "cat.wav has two transcripts (cat.txt and line 2 of batch.csv); keep one.",
        ),
        (
            "fox\t\n",
            "batch.csv, line 1: the text for 'fox' is empty; write the file name, a tab and the "
            "words spoken.",
        ),
        (
            "0\t1.5\tThe fox.\n",
            "batch.csv has no recording: name a table of intervals after its recording (for "
            "batch.wav, batch.csv), or upload batch.wav alongside it.",
        ),
    ],
)
def test_master_table_problems(tmp_path: Path, table: str, expected: str) -> None:
    message = error(
        tmp_path, "fox.wav", "cat.wav", "cat.txt", "batch.csv", content={"batch.csv": table}
    )
    assert message.startswith(expected)


def test_two_master_tables(tmp_path: Path) -> None:
    content = {"a.tsv": "fox\thi\n", "b.tsv": "fox\thi\n"}
    assert (
        "Only one table of file names and texts is allowed per batch, got a.tsv and b.tsv."
        in error(tmp_path, "fox.wav", "a.tsv", "b.tsv", content=content)
    )


def test_classification_is_case_insensitive() -> None:
    assert classify("X.TEXTGRID") is FileKind.TEXTGRID
    assert classify("x.Mp3") is FileKind.AUDIO
    assert classify("x.ZIP") is FileKind.ZIP
    assert classify(".DS_Store") is FileKind.JUNK
    assert {".wav", ".textgrid", ".tsv", ".dict", ".zip"} <= SUPPORTED_EXTENSIONS
    assert all(unsupported_message(f"x{ext}") is None for ext in SUPPORTED_EXTENSIONS)
