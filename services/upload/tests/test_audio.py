"""Audio conversion with the real ffmpeg, on the sample recordings and on hostile files."""

from __future__ import annotations

import os
import subprocess
import wave
from pathlib import Path

import pytest

from autophon_upload.processing import BadInputError, convert_audio

TIMEOUT = 60.0


def soxi_seconds(path: Path) -> float:
    out = subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True)
    return float(out.stdout)


def ffprobe_seconds(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout)


def wav_format(path: Path) -> tuple[int, int, int]:
    with wave.open(str(path)) as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth()


@pytest.mark.parametrize("name", ["fox.wav", "fox.mp3", "fox.flac", "dialogue_44k_stereo.wav"])
def test_samples_convert_to_16k_mono_s16(samples: Path, tmp_path: Path, name: str) -> None:
    out = tmp_path / "out.wav"
    duration = convert_audio(samples / name, out, timeout=TIMEOUT, max_seconds=3600)
    assert wav_format(out) == (16000, 1, 2)
    assert abs(duration - soxi_seconds(out)) < 0.001  # what we report is what we wrote
    if name == "fox.mp3":
        # soxi has no mp3 handler here and ffprobe's container duration includes the encoder's
        # padding (3.528 s); the decoded speech is the same as fox.wav's.
        assert abs(ffprobe_seconds(samples / name) - duration) < 0.1
        reference = soxi_seconds(samples / "fox.wav")
    else:
        reference = soxi_seconds(samples / name)
        assert abs(ffprobe_seconds(samples / name) - reference) < 0.05
    assert abs(duration - reference) < 0.05
    expected = 6.31 if name.startswith("dialogue") else 3.44
    assert duration == pytest.approx(expected, abs=0.01)
    assert [p.name for p in tmp_path.iterdir()] == ["out.wav"]  # no temporary file left


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "corrupt.wav",
            r"^corrupt\.wav could not be read as audio: the file is damaged or not in an audio "
            r"format\. Check that it plays in an audio player, or convert it to WAV",
        ),
        ("empty.wav", r"^empty\.wav is empty \(0 bytes\); upload the recording again\.$"),
    ],
)
def test_bad_samples_are_refused_by_name(
    samples: Path, tmp_path: Path, name: str, message: str
) -> None:
    with pytest.raises(BadInputError, match=message):
        convert_audio(samples / name, tmp_path / "out.wav", timeout=TIMEOUT, max_seconds=3600)
    assert list(tmp_path.iterdir()) == []


def test_too_long_is_refused_without_converting_it_all(samples: Path, tmp_path: Path) -> None:
    with pytest.raises(
        BadInputError,
        match=r"^dialogue_44k_stereo\.wav is longer than the limit of 5\.0 s; split it",
    ):
        convert_audio(
            samples / "dialogue_44k_stereo.wav",
            tmp_path / "out.wav",
            timeout=TIMEOUT,
            max_seconds=5,
        )
    assert list(tmp_path.iterdir()) == []


def test_timeout(samples: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"^fox\.flac could not be converted within 0 s"):
        convert_audio(samples / "fox.flac", tmp_path / "out.wav", timeout=0.001, max_seconds=3600)
    assert list(tmp_path.iterdir()) == []


def test_wav_without_samples(tmp_path: Path) -> None:
    source = tmp_path / "silent.wav"
    with wave.open(str(source), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
    out = tmp_path / "out" / "x.wav"
    with pytest.raises(
        BadInputError, match=r"^silent\.wav (contains no audio|could not be read as audio)"
    ):
        convert_audio(source, out, timeout=TIMEOUT, max_seconds=3600)
    assert not out.exists()


def test_video_without_audio(tmp_path: Path) -> None:
    source = tmp_path / "clip.m4a"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=1",
            "-f",
            "mp4",
            str(source),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    with pytest.raises(
        BadInputError, match=r"^clip\.m4a could not be read as audio: it contains no audio\."
    ):
        convert_audio(source, tmp_path / "out.wav", timeout=TIMEOUT, max_seconds=3600)


def test_playlist_disguised_as_audio_cannot_read_other_files(tmp_path: Path) -> None:
    """An HLS playlist named .mp3 would make a permissive ffmpeg read local files into the
    output; only audio demuxers and the file protocol are allowed."""
    secret = tmp_path / "secret.wav"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1", str(secret)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    source = tmp_path / "evil.mp3"
    source.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n")
    with pytest.raises(
        BadInputError,
        match=r"^evil\.mp3 could not be read as audio: it is not in a supported audio format\.",
    ):
        convert_audio(source, tmp_path / "out.wav", timeout=TIMEOUT, max_seconds=3600)
    assert not (tmp_path / "out.wav").exists()


def test_message_does_not_leak_paths(tmp_path: Path) -> None:
    source = tmp_path / "noise.ogg"
    source.write_bytes(b"OggS" + os.urandom(3000))
    with pytest.raises(BadInputError) as caught:
        convert_audio(source, tmp_path / "out.wav", timeout=TIMEOUT, max_seconds=3600)
    assert str(caught.value).startswith("noise.ogg could not be read as audio: ")
    assert str(tmp_path) not in str(caught.value)
