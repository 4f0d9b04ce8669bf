"""Stand-ins for HTK's HCopy and HVite, the only programs of a FAVE run not executed for real
in the tests (HTK cannot be redistributed). The FAVE tests install this file as ``HCopy`` and
``HVite`` (it acts by the name it is run as) and run the real ``fave`` package over them.

Both check what the real programs need and write the real formats:

- HCopy ``-C config -S scp``: every scp line is ``WAV PARAMETER-FILE``; the WAV must exist and
  be mono; it writes an HTK parameter file (12-byte big-endian header: frames, frame period in
  100 ns, bytes per frame, parameter kind; then the frames) with one 10 ms frame per
  TARGETRATE of the audio, as the 25 ms window leaves them.
- HVite ``-a -m -I MLF -H macros -H hmmdefs -S scp -i OUT ... DICT HMMLIST``: every label in
  the label file must be a word of the dictionary (``sp`` too: FAVE puts it between words),
  every phone of their pronunciations a model of HMMLIST, the label file must have an entry
  for each parameter file. It writes the aligned MLF of ``-a -m`` (``start end model score
  [word]`` in 100 ns units, the word on a word's first model), three frames at least per
  model; when the audio is too short for that it writes no entry, as HVite does when no
  token reaches the end of the network. Errors exit non-zero like HTK's HError.

``HTK_STAND_IN_LOG`` (optional): a file each run appends its command line to.
"""

from __future__ import annotations

import os
import struct
import sys
import wave
from pathlib import Path

FRAME = 100_000  # 10 ms in HTK's 100 ns units
WINDOW_FRAMES = 2.5  # the 25 ms analysis window, in frames
PLP_0_D_A_Z = 11 | 0o20000 | 0o400 | 0o1000 | 0o4000
FLOATS_PER_FRAME = 39
MIN_FRAMES_PER_MODEL = 3  # FAVE's HMMs have three emitting states


def fail(message: str) -> None:
    print(f"  ERROR [+1]  {Path(sys.argv[0]).name} (stand-in): {message}", file=sys.stderr)
    sys.exit(1)


def options(args: list[str], with_value: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    found: dict[str, list[str]] = {}
    rest: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in with_value:
            found.setdefault(args[i], []).append(args[i + 1])
            i += 2
        elif args[i].startswith("-") and len(args[i]) == 2:
            found.setdefault(args[i], []).append("")
            i += 1
        else:
            rest.append(args[i])
            i += 1
    return found, rest


def hcopy(args: list[str]) -> None:
    found, rest = options(args, {"-T", "-C", "-S"})
    if rest or "-C" not in found or "-S" not in found:
        fail(f"usage: HCopy -C config -S scp, got {args}")
    config = Path(found["-C"][0])
    if not config.is_file() or "TARGETKIND" not in config.read_text():
        fail(f"no HTK config at {config}")
    for line in Path(found["-S"][0]).read_text().splitlines():
        source, target = line.split()
        try:
            with wave.open(source) as audio:
                if audio.getnchannels() != 1:
                    fail(f"{source} is not mono")
                seconds = audio.getnframes() / audio.getframerate()
        except (OSError, wave.Error) as exc:
            fail(f"cannot read {source}: {exc}")
        frames = max(0, int((seconds * 1e7 / FRAME) - WINDOW_FRAMES + 1))
        header = struct.pack(">iihh", frames, FRAME, 4 * FLOATS_PER_FRAME, PLP_0_D_A_Z)
        Path(target).write_bytes(header + bytes(4 * FLOATS_PER_FRAME * frames))
        print(f"HCopy: {source} -> {target}: {frames} frames")


def read_dictionary(path: Path) -> dict[str, list[str]]:
    words: dict[str, list[str]] = {}
    for line in path.read_bytes().decode("latin-1").splitlines():
        if line.strip():
            word, *phones = line.split()
            words.setdefault(word, phones)
    return words


def read_labels(path: Path) -> dict[str, list[str]]:
    """Master label file: pattern -> labels."""
    lines = path.read_text().splitlines()
    if not lines or lines[0] != "#!MLF!#":
        fail(f"{path} is not a master label file")
    entries: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in lines[1:]:
        if current is None:
            current = entries.setdefault(line.strip('"').replace(".lab", ""), [])
        elif line == ".":
            current = None
        else:
            current.append(line)
    return entries


def hvite(args: list[str]) -> None:
    found, rest = options(args, {"-T", "-I", "-H", "-S", "-i", "-p", "-s"})
    if "-a" not in found or "-m" not in found or len(rest) != 2:
        fail(f"usage: HVite -a -m -I mlf -H .. -S scp -i out DICT HMMLIST, got {args}")
    for macros in found.get("-H", []):
        if not Path(macros).is_file():
            fail(f"cannot open HMM definitions {macros}")
    dictionary, models = read_dictionary(Path(rest[0])), set(Path(rest[1]).read_text().split())
    labels = read_labels(Path(found["-I"][0]))
    out = ["#!MLF!#"]
    for line in Path(found["-S"][0]).read_text().splitlines():
        parameters = Path(line.strip())
        pattern = f"*/{parameters.stem}"
        if pattern not in labels:
            fail(f"LOpen: Unable to open label file for {parameters} (patterns {list(labels)})")
        sequence: list[tuple[str, list[str]]] = []
        for label in labels[pattern]:
            if label not in dictionary:
                fail(f"word {label} of the label file is not in the dictionary {rest[0]}")
            for phone in dictionary[label]:
                if phone not in models:
                    fail(f"phone {phone} of {label} is not in the HMM list {rest[1]}")
            sequence.append((label, dictionary[label]))
        frames = struct.unpack(">iihh", parameters.read_bytes()[:12])[0]
        spoken = sum(len(p) for w, p in sequence if w != "sp")
        if frames < MIN_FRAMES_PER_MODEL * spoken:
            print(
                f" WARNING [-8520]  (stand-in) no tokens survived to the final node of "
                f"{parameters.name}: {frames} frames for {spoken} models",
                file=sys.stderr,
            )
            continue
        out.append(f'"{parameters.with_suffix(".rec")}"')
        pause = min(5, (frames - MIN_FRAMES_PER_MODEL * spoken) // 2)  # leading, trailing sp
        per_model = (frames - 2 * pause) // max(spoken, 1)
        at = 0
        for n, (word, phones) in enumerate(sequence):
            for i, phone in enumerate(phones):
                if word == "sp":
                    length = pause if n in (0, len(sequence) - 1) else 0
                else:
                    length = per_model
                end = at + length
                text = f"{at * FRAME} {end * FRAME} {phone} -{length * 61.25:.6f}"
                out.append(text + (f" {word}" if i == 0 else ""))
                at = end
        out.append(".")
    Path(found["-i"][0]).write_text("\n".join(out) + "\n")
    print(f"HVite: aligned {len(out) - 1} lines")


if __name__ == "__main__":
    log = os.environ.get("HTK_STAND_IN_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(" ".join(sys.argv) + "\n")
    {"HCopy": hcopy, "HVite": hvite}[Path(sys.argv[0]).name](sys.argv[1:])
