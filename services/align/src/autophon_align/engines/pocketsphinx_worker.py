"""The pocketsphinx alignment process: ``python -m autophon_align.engines.pocketsphinx_worker
REQUEST.json RESULT.json``.

Runs in a child process (see engines/pocketsphinx.py) so that the runner can bound it in time
and kill it, and so that the decoder's C-level logging and memory stay out of the runner.
Each utterance is cut out of the recording, padded with a little low-level noise, aligned in
two passes (words, then phones) with the grammar built by ``set_align_text``, and its word
edges next to pauses refined (engines/refine.py). Failures are per utterance: one that cannot
be aligned is reported and the others go on.
"""

from __future__ import annotations

import json
import random
import re
import sys
import wave
from array import array
from pathlib import Path
from typing import Any

from autophon_align.engines.refine import Segment, refine_words

SAMPLE_RATE = 16000
# Padding around each utterance (s): gives the search a pause to start and end in.
PAD = 0.1
# Runs of exact zeros at least this long (samples) are replaced by low-level noise: digital
# silence has no spectrum, and the decoder's search can lose the grammar's end state in it.
ZERO_RUN = 32
NOISE_AMPLITUDE = 8  # about -72 dBFS
MIN_UTTERANCE = 0.05
_ZERO_RUN_RE = re.compile(rb"\x00{%d,}" % (2 * ZERO_RUN + 1))
_ALTERNATE_RE = re.compile(r"\(\d+\)$")
_RANDOM = random.Random(0)  # fixed seed: the same input always aligns the same way
_NOISE = array("h", (_RANDOM.randint(-NOISE_AMPLITUDE, NOISE_AMPLITUDE) for _ in range(4096)))


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    result = {"utterances": align_request(request)}
    Path(argv[2]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def align_request(request: dict[str, Any]) -> list[dict[str, Any]]:
    from pocketsphinx import Decoder

    options = {
        "hmm": request["hmm"],
        "dict": request["dict"],
        "lm": None,
        # The word pass must keep the full search (no best-path rescoring) for the phone pass.
        "bestpath": False,
        "loglevel": "WARN",
        "logfn": request["log"],
        **request.get("options", {}),
    }
    decoder = Decoder(**options)
    results: list[dict[str, Any]] = []
    with wave.open(request["audio"], "rb") as recording:
        rate = recording.getframerate()
        total = recording.getnframes()
        utterances = request["utterances"]
        for number, utterance in enumerate(utterances, start=1):
            try:
                words = _align_one(decoder, recording, rate, total, utterance, request)
                results.append({"words": words, "error": None})
                print(f"utterance {number}/{len(utterances)}: {len(words)} words", flush=True)
            except (RuntimeError, ValueError) as exc:
                results.append({"words": [], "error": str(exc)})
                print(f"utterance {number}/{len(utterances)} failed: {exc}", flush=True)
                decoder = Decoder(**options)  # do not reuse a decoder left mid-search
    return results


def _align_one(
    decoder: Any,
    recording: wave.Wave_read,
    rate: int,
    total: int,
    utterance: dict[str, Any],
    request: dict[str, Any],
) -> list[dict[str, Any]]:
    start = max(0, round(utterance["start"] * rate))
    end = min(total, round(utterance["end"] * rate))
    if (end - start) / rate < MIN_UTTERANCE:
        raise ValueError("the interval is too short to align")
    recording.setpos(start)
    # WAV samples are little-endian, as are the machines we run on (x86-64, arm64).
    samples = array("h", recording.readframes(end - start))
    pad = array("h", _NOISE[: round(PAD * rate)])
    padded = pad + _fill_digital_silence(samples) + pad
    data = padded.tobytes()

    decoder.set_align_text(utterance["text"])
    decoder.start_utt()
    decoder.process_raw(data, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        raise RuntimeError("no path through the words was found")
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(data, full_utt=True)
    decoder.end_utt()
    alignment = decoder.get_alignment()
    if alignment is None:
        raise RuntimeError("the phone alignment failed")
    frate = int(decoder.config["frate"])
    words: list[Segment] = []
    # Read each entry's phones while iterating: entries do not outlive the iteration.
    for entry in alignment:
        if entry.name.startswith(("<", "[")):
            continue
        phones = [Segment(p.name, p.start / frate, (p.start + p.duration) / frate) for p in entry]
        label = _ALTERNATE_RE.sub("", entry.name)
        words.append(
            Segment(label, entry.start / frate, (entry.start + entry.duration) / frate, phones)
        )
    expected = utterance["text"].split()
    if [w.label for w in words] != expected or any(not w.phones for w in words):
        raise RuntimeError("the aligned words do not match the transcript")
    if request.get("refine", True):
        refine_words(words, padded, rate)
    offset = start / rate - PAD
    lo, hi = start / rate, end / rate
    return [_absolute(word, offset, lo, hi) for word in words]


def _absolute(word: Segment, offset: float, lo: float, hi: float) -> dict[str, Any]:
    def clip(t: float) -> float:
        return round(min(max(t + offset, lo), hi), 4)

    return {
        "label": word.label,
        "start": clip(word.start),
        "end": clip(word.end),
        "phones": [[p.label, clip(p.start), clip(p.end)] for p in word.phones],
    }


def _fill_digital_silence(samples: array[int]) -> array[int]:
    """A copy where runs of at least ZERO_RUN zero samples hold low-level noise instead."""
    raw = bytearray(samples.tobytes())
    noise = _NOISE.tobytes()
    for run in _ZERO_RUN_RE.finditer(raw):
        begin = run.start() + run.start() % 2  # sample-aligned
        end = run.end() - run.end() % 2
        for chunk in range(begin, end, len(noise)):
            size = min(len(noise), end - chunk)
            raw[chunk : chunk + size] = noise[:size]
    filled = array("h")
    filled.frombytes(bytes(raw))
    return filled


if __name__ == "__main__":
    sys.exit(main(sys.argv))
