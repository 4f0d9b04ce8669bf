"""The MFA adapter against a stand-in ``mfa`` (mfa_stand_in.py) made of MFA 3.4.1's own code
where it runs without Kaldi: its ``mfa align`` click command parses the adapter's arguments
and its TextGrid writer writes the result (mfa_upstream.py)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

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


# english_us_arpa's phones (its meta.json "phones"), less "ZH": a phone the model lacks.
MODEL_PHONES = sorted(
    {"AA0", "AA1", "AA2", "AE0", "AE1", "AE2", "AH0", "AH1", "AH2", "AO0", "AO1", "AO2"}
    | {"AW0", "AW1", "AW2", "AY0", "AY1", "AY2", "EH0", "EH1", "EH2", "ER0", "ER1", "ER2"}
    | {"EY0", "EY1", "EY2", "IH0", "IH1", "IH2", "IY0", "IY1", "IY2", "OW0", "OW1", "OW2"}
    | {"OY0", "OY1", "OY2", "UH0", "UH1", "UH2", "UW0", "UW1", "UW2", "B", "CH", "D", "DH"}
    | {"F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S", "SH", "T", "TH", "V"}
    | {"W", "Y", "Z"}
)
TESTS = Path(__file__).parent
LAUNCHER = """#!{python}
import runpy, sys
sys.path.insert(0, {tests!r})
runpy.run_path({script!r}, run_name="__main__")
"""


def acoustic_model(path: Path) -> Path:
    """An MFA acoustic model archive with the meta.json MFA trains into it
    (acoustic_modeling/base.py:522-530)."""
    meta = {"phones": MODEL_PHONES, "optional_silence_phone": "sil", "oov_phone": "spn"}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("meta.json", json.dumps(meta))
        archive.writestr("final.mdl", b"")
    return path


def mfa_task(
    tmp_path: Path,
    files: list[InputFile],
    *,
    command: str | None = None,
    user_dict: str | None = None,
    assets: dict[str, str] | None = None,
    **alignment: float,
) -> Task:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "mfa"
    script.write_text(
        LAUNCHER.format(
            python=sys.executable, tests=str(TESTS), script=str(TESTS / "mfa_stand_in.py")
        )
    )
    script.chmod(0o755)
    dictionary = tmp_path / "english_us_arpa.dict"
    dictionary.write_text(DICTIONARY)
    all_assets = {
        "acoustic_model": str(acoustic_model(tmp_path / "english_us_arpa.zip")),
        "dictionary": str(dictionary),
        **(assets or {}),
    }
    if command:
        all_assets["mfa_command"] = command
    language = LanguageConfig(code="eng-mfa", name="English (MFA)", engine="mfa", assets=all_assets)
    settings = with_language(make_settings(tmp_path / "data", **alignment), language)
    return make_task(tmp_path / "data", files, settings=settings, engine="mfa", user_dict=user_dict)


def fox_file() -> InputFile:
    return InputFile(sample("fox.wav"), "fox.wav", sample("fox.txt").read_text())


DIALOGUE = {
    "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
    "Speaker B": [(3.39, 6.3, "The quick brown fox.")],
}


def dialogue_file() -> InputFile:
    return InputFile(sample("dialogue_44k_stereo.wav"), "dialogue.wav", None, DIALOGUE)


@pytest.fixture
def on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture
def record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in's record of its calls (one JSON line each)."""
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("STANDIN_RECORD", str(path))
    return path


def calls(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def run_ok(task: Task) -> RunResult:
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    return RunResult.load(task.paths)


def test_plain_transcript_through_mfa(tmp_path: Path, on_path: None) -> None:
    task = mfa_task(tmp_path, [fox_file()])
    result = run_ok(task)
    assert (result.engine, result.engine_version) == ("mfa", "3.4.1")
    grid = result_textgrids(task)["fox.TextGrid"]
    assert grid.tierNames == ("words", "phones")
    expected = normalise_words(sample("fox.txt").read_text())
    assert [w for _, _, w in labelled(grid, "words")] == expected
    phones = [p for _, _, p in labelled(grid, "phones")]
    assert phones[:2] == ["DH", "AH0"] and "sil" not in phones
    assert "Montreal Forced Aligner 3.4.1" in zip_text(task, "README.txt")


def test_speakers_through_mfa(tmp_path: Path) -> None:
    task = mfa_task(tmp_path, [dialogue_file()], command=str(tmp_path / "bin/mfa"))
    run_ok(task)
    grid = result_textgrids(task)["dialogue.TextGrid"]
    assert grid.tierNames == (
        "Speaker A - words",
        "Speaker A - phones",
        "Speaker B - words",
        "Speaker B - phones",
    )
    for speaker, [(start, end, text)] in DIALOGUE.items():
        words = labelled(grid, f"{speaker} - words")
        assert [w for _, _, w in words] == normalise_words(text)
        assert all(start <= s and e <= end for s, e, _ in words)


@pytest.mark.parametrize(("unaligned", "aligned"), [("s2", "Speaker A"), ("s1", "Speaker B")])
def test_one_of_two_speakers_aligned(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch, unaligned: str, aligned: str
) -> None:
    """MFA's tiers are plain "words"/"phones" when one speaker got phones; they belong to the
    speaker that aligned, and the other is reported."""
    monkeypatch.setenv("STANDIN_UNALIGNED", unaligned)
    task = mfa_task(tmp_path, [dialogue_file()])
    result = run_ok(task)
    grid = result_textgrids(task)["dialogue.TextGrid"]
    other = "Speaker B" if aligned == "Speaker A" else "Speaker A"
    words = [w for _, _, w in labelled(grid, f"{aligned} - words")]
    assert words == normalise_words(DIALOGUE[aligned][0][2])
    assert labelled(grid, f"{other} - words") == []
    start, end, _ = DIALOGUE[other][0]
    assert any(f"{start:.2f}-{end:.2f} s" in w for w in result.warnings), result.warnings


def test_nothing_aligned_is_bad_input(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MFA exits 0 and writes no TextGrid when nothing aligned: the user's input, not an
    internal error to retry."""
    monkeypatch.setenv("STANDIN_UNALIGNED", "s1")
    task = mfa_task(tmp_path, [fox_file()])
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    error = RunResult.load(task.paths).error or ""
    assert "Nothing in fox.wav could be aligned" in error
    assert "Generating MFCCs" in task.paths.engine_log.read_text()


def test_single_speaker_is_opt_in(tmp_path: Path, on_path: None, record: Path) -> None:
    """--single_speaker turns speaker adaptation off: only when the language asks for it."""
    run_ok(
        mfa_task(tmp_path / "default", [dialogue_file()], command=str(tmp_path / "default/bin/mfa"))
    )
    chosen = mfa_task(
        tmp_path / "chosen",
        [fox_file()],
        command=str(tmp_path / "chosen/bin/mfa"),
        assets={"single_speaker": "true"},
    )
    run_ok(chosen)
    default, single = calls(record)
    assert (
        "--single_speaker" not in default["args"] and default["params"]["single_speaker"] is False
    )
    assert single["params"]["single_speaker"] is True


def test_every_argument_is_an_mfa_align_option(tmp_path: Path, on_path: None, record: Path) -> None:
    """MFA's own click command (3.4.1) parses what the adapter passes, options included, with
    nothing left over for its lenient configuration parser."""
    g2p = tmp_path / "english_us_arpa_g2p.zip"
    g2p.write_bytes(b"")
    task = mfa_task(
        tmp_path,
        [fox_file()],
        assets={"g2p_model": str(g2p), "num_jobs": "2", "mfa_args": "--fine_tune --quiet"},
    )
    run_ok(task)
    [call] = calls(record)
    params = call["params"]
    assert params["corpus_directory"].endswith("/corpus")
    assert params["acoustic_model_path"] == str(tmp_path / "english_us_arpa.zip")
    assert params["g2p_model_path"] == str(g2p)
    assert (params["num_jobs"], params["fine_tune"], params["quiet"]) == (2, True, True)
    assert (params["clean"], params["overwrite"], params["use_postgres"]) == (True, True, False)
    assert params["output_format"] == "long_textgrid"


def test_mfa_scratch_is_local_and_removed(tmp_path: Path, on_path: None, record: Path) -> None:
    """MFA_ROOT_DIR and the temporary directory (its SQLite database) are in the local
    temporary directory (the pod's /tmp), one per task, and gone afterwards."""
    first = mfa_task(tmp_path / "one", [fox_file()], command=str(tmp_path / "one/bin/mfa"))
    second = mfa_task(tmp_path / "two", [fox_file()], command=str(tmp_path / "two/bin/mfa"))
    for task in (first, second):
        run_ok(task)
    runs = calls(record)
    roots = [Path(c["root"]) for c in runs]
    temporaries = [Path(c["params"]["temporary_directory"]) for c in runs]
    assert roots[0].parent != roots[1].parent
    for path in roots + temporaries:
        assert Path(tempfile.gettempdir()).resolve() in path.resolve().parents
        assert tmp_path not in path.parents
        assert not path.parent.exists()


def test_a_phone_the_model_lacks_is_refused(tmp_path: Path, on_path: None) -> None:
    """MFA would drop the pronunciation silently; the user is told which phone."""
    task = mfa_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", "The quick brown fox saw a beige dog.")],
        user_dict="beige B EY1 ZH\n",
    )
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    error = RunResult.load(task.paths).error or ""
    assert '"ZH" is not a phone of the acoustic model english_us_arpa.zip' in error
    assert "beige" in error


def test_dictionary_entries_with_unknown_phones_are_not_used(tmp_path: Path, on_path: None) -> None:
    """The language's dictionary may carry phones the model lacks: such entries are left out,
    as MFA would do, but the user is told the word had no usable pronunciation."""
    task = mfa_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", "the beige dog")])
    dictionary = tmp_path / "english_us_arpa.dict"
    dictionary.write_text(DICTIONARY + "beige\tB EY1 ZH\n")
    result = run_ok(task)
    assert any("No pronunciation could be found for 1 word(s): beige" in w for w in result.warnings)
    words = labelled(result_textgrids(task)["fox.TextGrid"], "words")
    assert [w for _, _, w in words] == ["the", "beige", "dog"]  # MFA's <unk>, relabelled


def test_user_dictionary_reaches_mfa_and_unknown_words_keep_their_label(
    tmp_path: Path, on_path: None
) -> None:
    text = "The quick brown zorblax jumps over the lazy blorp."
    task = mfa_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", text)],
        user_dict="zorblax Z AO1 R B L AE0 K S\n",
    )
    run_ok(task)
    grid = result_textgrids(task)["fox.TextGrid"]
    # "blorp" is in no dictionary: MFA aligns it as <unk>; the result keeps the word.
    assert [w for _, _, w in labelled(grid, "words")] == normalise_words(text)
    missing = zip_text(task, "missing_words.txt")
    assert "zorblax\tZ AO1 R B L AE0 K S\tuser dictionary" in missing
    assert "blorp\t\tnone found" in missing
    assert any("blorp" in w for w in RunResult.load(task.paths).warnings)


def test_numbers_reach_mfa_as_one_word_each(tmp_path: Path, on_path: None) -> None:
    # MFA splits words at punctuation: "50%" would be its word "50", not in the dictionary.
    text = "The quick brown fox jumps 50% over 1,200 lazy dogs."
    task = mfa_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", text)],
        user_dict="50% F IH1 F T IY0 P ER0 S EH1 N T\n1,200 W AH1 N TH AW1 Z AH0 N D\n",
    )
    run_ok(task)
    grid = result_textgrids(task)["fox.TextGrid"]
    words = labelled(grid, "words")
    assert [w for _, _, w in words] == normalise_words(text)
    phones = labelled(grid, "phones")
    for (start, end, _), first in ((words[5], ["F", "IH1"]), (words[7], ["W", "AH1"])):
        assert [p for s, e, p in phones if start <= s and e <= end][:2] == first


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


def test_mfa_out_of_memory_is_a_resource_failure_without_its_details(
    tmp_path: Path, on_path: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_MODE", "oom")
    task = mfa_task(tmp_path, [fox_file()])
    assert run_task(task.task_id, task.settings) == ExitCode.RESOURCE
    result = RunResult.load(task.paths)
    assert (result.status, result.exit_code) == ("failed", ExitCode.RESOURCE)
    error = result.error or ""
    assert error.startswith("The recording is too large for the aligner on fox.wav: mfa ran out")
    assert "Split it into shorter files" in error
    # No source location, allocation size or tool internals: they stay in the engine log.
    for detail in ("kaldi-vector.cc", "bad_alloc", "3.20 GiB", "429496730", "numpy"):
        assert detail not in error
        assert detail in task.paths.engine_log.read_text()


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


def test_docs_say_which_languages_have_mfa_models() -> None:
    """mfa-models has English and Swedish models, no Danish or Norwegian ones: the docs, the
    image and the chart's values say so where an administrator picks MFA models."""
    repo = Path(__file__).resolve().parents[3]
    for path in (
        "docs/engines.md",
        "docker/README.md",
        "docker/Dockerfile.aligner-mfa",
        "charts/autophon/values.yaml",
    ):
        text = " ".join(
            line.lstrip("# ") for line in (repo / path).read_text(encoding="utf-8").splitlines()
        )
        assert all(name in text for name in ("english_us_arpa", "english_mfa", "swedish_mfa"))
        assert "Danish or Norwegian" in text, path
