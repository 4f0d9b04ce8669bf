"""The MFA adapter against a stand-in ``mfa`` that checks its arguments like the real MFA 3
would need them and writes the TextGrid MFA writes."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from test_runner_support import (
    InputFile,
    Task,
    labelled,
    make_settings,
    make_task,
    result_textgrids,
    sample,
    with_language,
    zip_text,
)

from autophon_align.runner import run_task
from autophon_core.config import LanguageConfig
from autophon_core.lexicon import normalise_words
from autophon_core.taskfiles import ExitCode, RunResult

STAND_IN = r'''#!{python}
"""Stand-in for Montreal Forced Aligner 3's ``mfa``."""
import json, os, subprocess, sys, time
from pathlib import Path
from praatio import textgrid

def fail(message):
    print("stand-in: " + message, file=sys.stderr)
    sys.exit(2)

args = sys.argv[1:]
if args == ["version"]:
    print("3.1.4")
    sys.exit(0)
if not args or args[0] != "align":
    fail("expected 'align', got %r" % args)
positional = [a for i, a in enumerate(args[1:], 1) if not a.startswith("--")
              and not args[i - 1] in ("--temporary_directory", "--output_format", "--num_jobs",
                                      "--g2p_model_path")]
if len(positional) != 4:
    fail("expected CORPUS DICTIONARY ACOUSTIC_MODEL OUTPUT, got %r" % positional)
corpus, dictionary, model, output = map(Path, positional)
for flag in ("--clean", "--single_speaker"):
    if flag not in args:
        fail("missing " + flag)
if args[args.index("--output_format") + 1] != "long_textgrid":
    fail("output format must be long_textgrid")
root = Path(os.environ.get("MFA_ROOT_DIR", "/nonexistent"))
temporary = Path(args[args.index("--temporary_directory") + 1])
work = corpus.parent
if root.parent != work or temporary.parent != work or output.parent != work:
    fail("MFA_ROOT_DIR, temporary and output directories must be in the task's work dir")
if Path.cwd() != work:
    fail("must run in the task's work dir")
if not Path(model).name.endswith(".zip"):
    fail("acoustic model %s" % model)
wavs = list(corpus.glob("*.wav"))
if len(wavs) != 1 or not wavs[0].with_suffix(".TextGrid").exists():
    fail("corpus must hold one wav and its TextGrid")
lexicon = {}
for line in dictionary.read_text().splitlines():
    word, phones = line.split("\t")
    lexicon.setdefault(word, phones.split())
record = os.environ.get("STANDIN_RECORD")
if record:
    with open(record, "a") as handle:
        handle.write(json.dumps({"args": args, "root": str(root)}) + "\n")

mode = os.environ.get("STANDIN_MODE", "ok")
print("INFO Setting up corpus information...")
print("INFO Generating MFCCs...")
if mode == "fail":
    print("ERROR There was an error in the run, please see the log.", file=sys.stderr)
    sys.exit(1)
if mode == "hang":
    child = subprocess.Popen(["sleep", "300"])
    Path(os.environ["STANDIN_PID"]).write_text(str(child.pid))
    time.sleep(300)
if mode == "empty":
    sys.exit(0)

source = textgrid.openTextgrid(str(wavs[0].with_suffix(".TextGrid")), includeEmptyIntervals=False)
grid = textgrid.Textgrid(minTimestamp=0, maxTimestamp=source.maxTimestamp)
single = len(source.tierNames) == 1
for speaker in source.tierNames:
    words, phones = [], []
    for start, end, text in source.getTier(speaker).entries:
        tokens = text.split()
        step = (end - start - 0.1) / len(tokens)
        for n, token in enumerate(tokens):
            ws, we = start + 0.05 + n * step, start + 0.05 + (n + 1) * step
            pron = lexicon.get(token, ["spn"])
            words.append((ws, we, token if token in lexicon else "<unk>"))
            pstep = (we - ws) / len(pron)
            phones += [(ws + i * pstep, ws + (i + 1) * pstep, p) for i, p in enumerate(pron)]
        phones.append((start, start + 0.05, "sil"))
    names = ("words", "phones") if single else (speaker + " - words", speaker + " - phones")
    grid.addTier(textgrid.IntervalTier(names[0], words, 0, source.maxTimestamp))
    grid.addTier(textgrid.IntervalTier(names[1], sorted(phones), 0, source.maxTimestamp))
output.mkdir(parents=True, exist_ok=True)
grid.save(str(output / wavs[0].with_suffix(".TextGrid").name), format="long_textgrid",
          includeBlankSpaces=True)
print("INFO Done! Everything took 1.234 seconds")
'''

DICTIONARY = """\
the\t0.99\t0.12\t1.0\t1.0\tDH AH0
the\t0.5\t0.12\t1.0\t1.0\tDH IY0
quick\tK W IH1 K
brown\tB R AW1 N
fox\tF AA1 K S
jumps\tJH AH1 M P S
over\tOW1 V ER0
lazy\tL EY1 Z IY0
dog\tD AO1 G
she\tSH IY1
sells\tS EH1 L Z
sea\tS IY1
shells\tSH EH1 L Z
by\tB AY1
shore\tSH AO1 R
"""


def mfa_task(
    tmp_path: Path,
    files: list[InputFile],
    *,
    command: str | None = None,
    user_dict: str | None = None,
    **alignment: float,
) -> Task:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "mfa"
    script.write_text(STAND_IN.replace("{python}", sys.executable))
    script.chmod(0o755)
    dictionary = tmp_path / "english_us_arpa.dict"
    dictionary.write_text(DICTIONARY)
    assets = {
        "acoustic_model": str(tmp_path / "english_us_arpa.zip"),
        "dictionary": str(dictionary),
    }
    if command:
        assets["mfa_command"] = command
    language = LanguageConfig(code="eng-mfa", name="English (MFA)", engine="mfa", assets=assets)
    settings = with_language(make_settings(tmp_path / "data", **alignment), language)
    return make_task(tmp_path / "data", files, settings=settings, engine="mfa", user_dict=user_dict)


def fox_file() -> InputFile:
    return InputFile(sample("fox.wav"), "fox.wav", sample("fox.txt").read_text())


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")


def test_plain_transcript_through_mfa(tmp_path: Path, on_path: None) -> None:
    task = mfa_task(tmp_path, [fox_file()])
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    result = RunResult.load(task.paths)
    assert (result.engine, result.engine_version) == ("mfa", "3.1.4")
    grid = result_textgrids(task)["fox.TextGrid"]
    assert grid.tierNames == ("words", "phones")
    expected = normalise_words(sample("fox.txt").read_text())
    assert [w for _, _, w in labelled(grid, "words")] == expected
    phones = [p for _, _, p in labelled(grid, "phones")]
    assert phones[:2] == ["DH", "AH0"] and "sil" not in phones
    assert "Montreal Forced Aligner 3.1.4" in zip_text(task, "README.txt")


def test_speakers_through_mfa(tmp_path: Path) -> None:
    tiers = {
        "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
        "Speaker B": [(3.39, 6.3, "The quick brown fox.")],
    }
    audio = sample("dialogue_44k_stereo.wav")
    task = mfa_task(
        tmp_path, [InputFile(audio, "dialogue.wav", None, tiers)], command=str(tmp_path / "bin/mfa")
    )
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    grid = result_textgrids(task)["dialogue.TextGrid"]
    assert grid.tierNames == (
        "Speaker A - words",
        "Speaker A - phones",
        "Speaker B - words",
        "Speaker B - phones",
    )
    for speaker, [(start, end, text)] in tiers.items():
        words = labelled(grid, f"{speaker} - words")
        assert [w for _, _, w in words] == normalise_words(text)
        assert all(start <= s and e <= end for s, e, _ in words)


def test_user_dictionary_reaches_mfa_and_unknown_words_keep_their_label(
    tmp_path: Path, on_path: None
) -> None:
    text = "The quick brown zorblax jumps over the lazy blorp."
    task = mfa_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", text)],
        user_dict="zorblax Z AO1 R B L AE0 K S\n",
    )
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    grid = result_textgrids(task)["fox.TextGrid"]
    # "blorp" is in no dictionary: MFA aligns it as <unk>; the result keeps the word.
    assert [w for _, _, w in labelled(grid, "words")] == normalise_words(text)
    missing = zip_text(task, "missing_words.txt")
    assert "zorblax\tZ AO1 R B L AE0 K S\tuser dictionary" in missing
    assert "blorp\t\tnone found" in missing
    assert any("blorp" in w for w in RunResult.load(task.paths).warnings)


def test_each_task_has_its_own_mfa_root(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv("STANDIN_RECORD", str(record))
    first = mfa_task(tmp_path / "one", [fox_file()], command=str(tmp_path / "one/bin/mfa"))
    second = mfa_task(tmp_path / "two", [fox_file()], command=str(tmp_path / "two/bin/mfa"))
    for task in (first, second):
        assert run_task(task.task_id, task.settings) == ExitCode.OK
    roots = [json.loads(line)["root"] for line in record.read_text().splitlines()]
    assert len(roots) == 2 and roots[0] != roots[1]
    assert first.task_id in roots[0] and second.task_id in roots[1]


def test_mfa_error_fails_with_its_log(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_MODE", "fail")
    task = mfa_task(tmp_path, [fox_file()])
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    result = RunResult.load(task.paths)
    assert result.status == "failed"
    assert "fox.wav" in (result.error or "") and "exit code 1" in (result.error or "")
    log = task.paths.engine_log.read_text()
    assert "Generating MFCCs" in log and "There was an error in the run" in log
    assert not task.paths.result_zip.exists()


def test_mfa_without_output_fails(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_MODE", "empty")
    task = mfa_task(tmp_path, [fox_file()])
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    error = RunResult.load(task.paths).error or ""
    assert "fox.wav" in error and "left no TextGrid" in error
    assert "Generating MFCCs" in task.paths.engine_log.read_text()


@pytest.mark.slow
def test_mfa_timeout_kills_it(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "grandchild.pid"
    monkeypatch.setenv("STANDIN_MODE", "hang")
    monkeypatch.setenv("STANDIN_PID", str(pid_file))
    task = mfa_task(tmp_path, [fox_file()], timeout_base_seconds=3, timeout_per_audio_second=0)
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    error = RunResult.load(task.paths).error or ""
    assert "fox.wav" in error and "time limit" in error
    assert "killed" in task.paths.engine_log.read_text()
    pid = int(pid_file.read_text())
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "\nState:\tZ" in status.read_text()


def test_mfa_needs_its_assets(tmp_path: Path) -> None:
    language = LanguageConfig(code="eng-mfa", name="English (MFA)", engine="mfa")
    settings = with_language(make_settings(tmp_path), language)
    task = make_task(tmp_path, [fox_file()], settings=settings, engine="mfa")
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    assert "acoustic_model" in (RunResult.load(task.paths).error or "")
