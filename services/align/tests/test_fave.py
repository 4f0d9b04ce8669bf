"""The FAVE-align adapter against a stand-in ``fave-align`` (FAVE 2) or ``FAAValign.py``
(FAVE 1.x) that checks its arguments and working folder like the real ones need them and
writes the TextGrid they write."""

from __future__ import annotations

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
"""Stand-in for FAVE-align's FAAValign.py."""
import os, sys
from pathlib import Path
from praatio import textgrid

def fail(message):
    print("ERROR!  " + message, file=sys.stderr)
    sys.exit(2)

args = sys.argv[1:]
fave1 = Path(sys.argv[0]).name == "FAAValign.py"
if args == ["--version"]:
    print("FAAValign.py 1.2.2" if fave1 else "FAAValign 2.0.0")
    sys.exit(0)
if fave1 and "-n" not in args:
    fail("FAVE 1.x must run with -n (no prompts)")
if not fave1 and "-n" in args:
    fail("FAAValign: error: unrecognized arguments: -n")
if "-d" not in args:
    fail("must get the task's dictionary with -d")
dictionary = Path(args[args.index("-d") + 1])
wav, transcript, output = map(Path, args[-3:])
if wav.suffix != ".wav" or transcript.suffix != ".txt" or output.suffix != ".TextGrid":
    fail("usage: FAAValign.py [options] soundfile.wav transcription.txt output.TextGrid")
model = Path("model") if fave1 else Path("align") / "model"
if not (model / "dict").exists() or not (model / "monophones").exists():
    fail("./model/ (HTK models) not found in %s" % os.getcwd())
if Path.cwd().name != "fave" or output.parent != Path.cwd() or wav.parent != Path.cwd():
    fail("must run in (and write to) the task's own folder, not %s" % os.getcwd())
lexicon = {}
for line in dictionary.read_text().splitlines():
    word, phones = line.split("  ", 1)
    if word != word.upper():
        fail("dictionary words are upper case")
    vowels = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
    for phone in phones.split():
        if phone in vowels:
            fail("vowel %s without stress in %s" % (phone, word))
    lexicon.setdefault(word, phones.split())
if os.environ.get("STANDIN_MODE") == "fail":
    print("Processing s1 -- chunk 1")
    fail("HVite: ERROR [+6510]  LOpen: Unable to open label file")

grid = textgrid.Textgrid(minTimestamp=0, maxTimestamp=30)
tiers = {}
for line in transcript.read_text().splitlines():
    fields = line.split("\t")
    if len(fields) != 5:
        fail("Incorrect format of transcription file: %i entries per line" % len(fields))
    sid, name, start, end, text = fields
    start, end = float(start), float(end)
    words, phones = tiers.setdefault(name, ([], []))
    tokens = text.upper().split()
    step = (end - start - 0.1) / len(tokens)
    for n, token in enumerate(tokens):
        ws, we = start + 0.05 + n * step, start + 0.05 + (n + 1) * step
        words.append((ws, we, token))
        pron = lexicon[token]
        pstep = (we - ws) / len(pron)
        phones += [(ws + i * pstep, ws + (i + 1) * pstep, p) for i, p in enumerate(pron)]
    words.append((start, start + 0.05, "sp"))
    phones.append((start, start + 0.05, "SP"))
for name, (words, phones) in tiers.items():
    grid.addTier(textgrid.IntervalTier(name + " - phone", sorted(phones), 0, 30))
    grid.addTier(textgrid.IntervalTier(name + " - word", sorted(words), 0, 30))
grid.save(str(output), format="short_textgrid", includeBlankSpaces=True)
'''

DICTIONARY = """\
THE  DH AH0
THE  DH IY0
QUICK  K W IH1 K
BROWN  B R AW1 N
FOX  F AA1 K S
JUMPS  JH AH1 M P S
OVER  OW1 V ER0
LAZY  L EY1 Z IY0
DOG  D AO1 G
SHE  SH IY1
SELLS  S EH1 L Z
SEA  S IY1
SHELLS  SH EH1 L Z
BY  B AY1
SHORE  SH AO1 R
"""


def fave_task(
    tmp_path: Path, files: list[InputFile], user_dict: str | None = None, fave1: bool = False
) -> Task:
    """FAVE 1.x: FAAValign.py with its model folder beside it, run with -n. FAVE 2:
    ``fave-align`` on PATH, its model folder given in the assets."""
    fave_dir = tmp_path / "FAVE-align"
    (fave_dir / "model").mkdir(parents=True)
    (fave_dir / "model" / "dict").write_text(DICTIONARY)
    (fave_dir / "model" / "monophones").write_text("AA1\nAE1\n")
    script = fave_dir / ("FAAValign.py" if fave1 else "fave-align")
    script.write_text(STAND_IN.replace("{python}", sys.executable))
    script.chmod(0o755)
    if fave1:
        assets = {"fave_command": str(script), "fave_args": "-n"}
    else:
        os.environ["PATH"] = f"{fave_dir}{os.pathsep}{os.environ['PATH']}"
        assets = {"model_dir": str(fave_dir / "model")}
    language = LanguageConfig(code="eng-fave", name="English (FAVE)", engine="fave", assets=assets)
    settings = with_language(make_settings(tmp_path / "data"), language)
    return make_task(
        tmp_path / "data", files, settings=settings, engine="fave", user_dict=user_dict
    )


@pytest.fixture(autouse=True)
def restore_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """fave_task puts the stand-in on PATH; monkeypatch puts PATH back after each test."""
    monkeypatch.setenv("PATH", os.environ["PATH"])


def test_speakers_through_fave(tmp_path: Path) -> None:
    tiers = {
        "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
        "Speaker B": [(3.39, 6.3, "The quick brown fox.")],
    }
    audio = sample("dialogue_44k_stereo.wav")
    task = fave_task(tmp_path, [InputFile(audio, "dialogue.wav", None, tiers)])
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    result = RunResult.load(task.paths)
    assert (result.engine, result.engine_version) == ("fave", "FAAValign 2.0.0")
    grid = result_textgrids(task)["dialogue.TextGrid"]
    assert grid.tierNames == (
        "Speaker A - words",
        "Speaker A - phones",
        "Speaker B - words",
        "Speaker B - phones",
    )
    assert grid.maxTimestamp == pytest.approx(6.309625, abs=1e-4)
    for speaker, [(start, end, text)] in tiers.items():
        words = labelled(grid, f"{speaker} - words")
        assert [w for _, _, w in words] == normalise_words(text)
        assert all(start <= s and e <= end for s, e, _ in words)
        assert "SP" not in [p for _, _, p in labelled(grid, f"{speaker} - phones")]


def test_out_of_dictionary_words_reach_fave_with_stress(tmp_path: Path) -> None:
    text = "The quick brown zorblax jumps over the lazy blorp."
    task = fave_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", text)],
        user_dict="blorp B L AO R P\n",  # no stress digits: FAVE's vowels need them
    )
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    grid = result_textgrids(task)["fox.TextGrid"]
    assert [w for _, _, w in labelled(grid, "words")] == normalise_words(text)
    missing = zip_text(task, "missing_words.txt")
    assert "zorblax\tZ AO1 R B L AE0 K S\tespeak-ng" in missing
    assert "blorp\tB L AO1 R P\tuser dictionary" in missing


def test_fave_error_fails_with_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDIN_MODE", "fail")
    task = fave_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", "the quick brown fox")])
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    error = RunResult.load(task.paths).error or ""
    assert "fox.wav" in error and "Unable to open label file" in error
    assert "Processing s1" in task.paths.engine_log.read_text()


def test_fave1_runs_in_the_tasks_own_folder(tmp_path: Path) -> None:
    files = [InputFile(sample("fox.wav"), "fox.wav", "the quick brown fox")]
    task = fave_task(tmp_path, files, fave1=True)
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    assert RunResult.load(task.paths).engine_version == "FAAValign.py 1.2.2"
    words = labelled(result_textgrids(task)["fox.TextGrid"], "words")
    assert [w for _, _, w in words] == ["the", "quick", "brown", "fox"]
    # FAVE ran in the task's work folder (removed afterwards), not beside FAAValign.py.
    assert sorted(os.listdir(tmp_path / "FAVE-align")) == ["FAAValign.py", "model"]
