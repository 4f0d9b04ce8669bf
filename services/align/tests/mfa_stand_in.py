"""Stand-in for MFA 3.4.1's ``mfa`` executable (the aligning itself needs Kaldi), built on
MFA's own code copied in mfa_upstream.py: the arguments are parsed by MFA's ``mfa align``
click command, which must know every one of them (MFA would pass unknown ones on to its
configuration parser, which ignores what it does not know), and the result is written by MFA's
``export_textgrid``. Between the two it does what MFA does with the corpus that matters to
the adapter:

- speakers are the corpus TextGrid's tier names; words are split at MFA's punctuation
  (``word_break_regex``: "50%" is the word "50" to MFA);
- a pronunciation with a phone the acoustic model (its meta.json) lacks is dropped, as
  dictionary/multispeaker.py:585-594 does; a word left without one aligns as ``<unk>``/``spn``;
- a speaker's words are only written when it has aligned phones, and no TextGrid at all when
  nothing aligned (textgrid.py:483-489, 655).

Environment: STANDIN_MODE (ok, fail, hang, or oom: fail as MFA does out of memory, with a
Kaldi allocation failure naming its C++ source and a NumPy MemoryError naming its size),
STANDIN_UNALIGNED (comma-separated speakers whose utterances do not align), STANDIN_RECORD (a
file each run appends a JSON line to: args, MFA_ROOT_DIR, parsed parameters), STANDIN_PID
(hang: file for the child's pid).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import click
from mfa_upstream import CtmInterval, align_corpus_cli, export_textgrid, word_break_regex
from praatio import textgrid

FRAME_SHIFT = 0.01
WORD_BREAKS = word_break_regex()  # MFA splits the transcripts' words at punctuation


def fail(message: str) -> None:
    print(f"stand-in mfa: {message}", file=sys.stderr)
    sys.exit(2)


def model_phones(model: Path) -> set[str]:
    with zipfile.ZipFile(model) as archive:
        meta = json.loads(archive.read("meta.json"))
    return {*meta["phones"], meta["optional_silence_phone"], meta["oov_phone"]}


def read_lexicon(dictionary: Path, phones: set[str]) -> dict[str, list[str]]:
    lexicon: dict[str, list[str]] = {}
    for line in dictionary.read_text(encoding="utf8").splitlines():
        word, *pron = line.split()
        while len(pron) > 1 and pron[0].replace(".", "").isdigit():
            pron = pron[1:]
        if set(pron) - phones:
            print(f"DEBUG Skipping {word!r}: phone not in the acoustic model", file=sys.stderr)
            continue
        lexicon.setdefault(word, pron)
    return lexicon


def parse(args: list[str]) -> dict:
    try:
        context = align_corpus_cli.make_context("align", args)
    except click.ClickException as exc:
        fail(f"mfa align: {exc.format_message()}")
    if context.args:
        fail(f"mfa align does not define {context.args}")
    return context.params


def check_scratch(params: dict) -> None:
    """MFA_ROOT_DIR and the temporary directory (SQLite database) are in the local temporary
    directory, outside the task's work folder, and SQLite is asked for."""
    work = params["corpus_directory"].parent
    local = Path(tempfile.gettempdir()).resolve()
    for what, path in (
        ("MFA_ROOT_DIR", Path(os.environ.get("MFA_ROOT_DIR", "/nonexistent"))),
        ("--temporary_directory", Path(params["temporary_directory"])),
    ):
        path = path.resolve()
        if work.resolve() in path.parents or local not in path.parents:
            fail(f"{what} {path} must be in {local}, not in the work folder {work}")
    if params["use_postgres"] is not False:
        fail("--no_use_postgres expected (SQLite)")


def align(params: dict, unaligned: set[str]) -> None:
    corpus, output = params["corpus_directory"], params["output_directory"]
    wavs = list(corpus.glob("*.wav"))
    if len(wavs) != 1 or not wavs[0].with_suffix(".TextGrid").exists():
        fail("the corpus must hold one wav and its TextGrid")
    lexicon = read_lexicon(params["dictionary_path"], model_phones(params["acoustic_model_path"]))
    source = textgrid.openTextgrid(
        str(wavs[0].with_suffix(".TextGrid")), includeEmptyIntervals=False
    )
    speaker_data: dict[str, dict[str, list[CtmInterval]]] = {}
    for speaker in source.tierNames:
        if speaker in unaligned:
            continue
        words: list[CtmInterval] = []
        phones: list[CtmInterval] = []
        for start, end, text in source.getTier(speaker).entries:
            tokens = [token for token in WORD_BREAKS.split(text) if token]
            step = (end - start - 0.1) / len(tokens)
            for n, token in enumerate(tokens):
                begin, finish = start + 0.05 + n * step, start + 0.05 + (n + 1) * step
                pron = lexicon.get(token, ["spn"])
                words.append(CtmInterval(begin, finish, token if token in lexicon else "<unk>"))
                share = (finish - begin) / len(pron)
                phones += [
                    CtmInterval(begin + i * share, begin + (i + 1) * share, p)
                    for i, p in enumerate(pron)
                ]
        if phones:
            speaker_data[speaker] = {"words": words, "phones": phones}
    output.mkdir(parents=True, exist_ok=True)
    if speaker_data:
        export_textgrid(
            speaker_data,
            output / wavs[0].with_suffix(".TextGrid").name,
            source.maxTimestamp,
            FRAME_SHIFT,
            params["output_format"],
        )


def main(args: list[str]) -> None:
    if args == ["version"]:
        print("3.4.1")
        return
    if not args or args[0] != "align":
        fail(f"expected 'align', got {args!r}")
    params = parse(args[1:])
    check_scratch(params)
    record = os.environ.get("STANDIN_RECORD")
    if record:
        with open(record, "a") as handle:
            entry = {"args": args, "root": os.environ["MFA_ROOT_DIR"], "params": params}
            handle.write(json.dumps(entry, default=str) + "\n")
    print("INFO Setting up corpus information...")
    print("INFO Generating MFCCs...", flush=True)
    mode = os.environ.get("STANDIN_MODE", "ok")
    if mode == "fail":
        print("ERROR There was an error in the run, please see the log.", file=sys.stderr)
        sys.exit(1)
    if mode == "oom":
        print(
            "ERROR (gmm-align-compiled[5.5.1068~1-85d1]:Resize():kaldi-vector.cc:52) "
            "std::bad_alloc",
            file=sys.stderr,
        )
        print(
            "numpy.core._exceptions._ArrayMemoryError: Unable to allocate 3.20 GiB for an "
            "array with shape (429496730,) and data type float64",
            file=sys.stderr,
        )
        sys.exit(1)
    if mode == "hang":
        child = subprocess.Popen(["sleep", "300"])
        Path(os.environ["STANDIN_PID"]).write_text(str(child.pid))
        time.sleep(300)
    unaligned = set(filter(None, os.environ.get("STANDIN_UNALIGNED", "").split(",")))
    align(params, unaligned)
    print("INFO Done! Everything took 1.234 seconds")


if __name__ == "__main__":
    main(sys.argv[1:])
