"""Longer recordings made from the sample: fox.wav repeated with sox, its transcript
repeated as many times (one plain-text utterance over the whole file)."""

from __future__ import annotations

import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Recording:
    wav: Path
    transcript: str
    seconds: float


def wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def make_recording(samples: Path, folder: Path, seconds: float, stem: str) -> Recording:
    """About ``seconds`` of speech (never longer): ``fox.wav`` as many whole times as fit,
    each copy padded with silence so that the total is ``seconds``."""
    if shutil.which("sox") is None:
        raise RuntimeError("sox is needed to build the long recordings (apt-get install sox)")
    fox = samples / "fox.wav"
    sentence = (samples / "fox.txt").read_text("utf-8").strip()
    fox_seconds = wav_seconds(fox)
    copies = max(1, int(seconds // fox_seconds))
    pad = max(0.0, seconds / copies - fox_seconds)
    folder.mkdir(parents=True, exist_ok=True)
    padded = folder / f"{stem}-one.wav"
    subprocess.run(["sox", str(fox), str(padded), "pad", "0", f"{pad:.4f}"], check=True, timeout=60)
    out = folder / f"{stem}.wav"
    subprocess.run(["sox", *[str(padded)] * copies, str(out)], check=True, timeout=120)
    padded.unlink()
    return Recording(out, " ".join([sentence] * copies), wav_seconds(out))
