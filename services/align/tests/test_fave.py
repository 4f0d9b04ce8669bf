"""The FAVE-align adapter running the real ``fave`` package (PyPI 2.0.2, a test dependency)
with its real models, dictionary and sox; only HTK's HCopy and HVite are stand-ins
(htk_stand_in.py), which check what the real ones need and write their formats."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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

from autophon_align.engines.fave import FaveEngine, word_codes
from autophon_align.runner import run_task
from autophon_core.config import LanguageConfig
from autophon_core.lexicon import normalise_words
from autophon_core.taskfiles import ExitCode, RunResult

STAND_IN = Path(__file__).with_name("htk_stand_in.py")
FOX = "The quick brown fox jumps over the lazy dog."


def htk_stand_ins(folder: Path) -> Path:
    """``HCopy`` and ``HVite`` stand-ins in ``folder`` (for FAVE's ``-t``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("HCopy", "HVite"):
        tool = folder / name
        tool.write_text(f"#!{sys.executable}\n" + STAND_IN.read_text())
        tool.chmod(0o755)
    return folder


def fave_language(tmp_path: Path, **assets: str) -> LanguageConfig:
    assets.setdefault("htk_tools", str(htk_stand_ins(tmp_path / "htk")))
    return LanguageConfig(code="eng-fave", name="English (FAVE)", engine="fave", assets=assets)


def fave_task(
    tmp_path: Path, files: list[InputFile], user_dict: str | None = None, **assets: str
) -> Task:
    settings = with_language(make_settings(tmp_path / "data"), fave_language(tmp_path, **assets))
    return make_task(
        tmp_path / "data", files, settings=settings, engine="fave", user_dict=user_dict
    )


def run_ok(task: Task) -> RunResult:
    assert run_task(task.task_id, task.settings) == ExitCode.OK, RunResult.load(task.paths).error
    return RunResult.load(task.paths)


def test_speakers_through_fave(tmp_path: Path) -> None:
    tiers = {
        "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
        "Speaker B": [(3.39, 6.3, "The quick brown fox.")],
    }
    audio = sample("dialogue_44k_stereo.wav")
    task = fave_task(tmp_path, [InputFile(audio, "dialogue.wav", None, tiers)])
    result = run_ok(task)
    assert (result.engine, result.engine_version) == ("fave", "fave 2.0.2")
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
        phones = [p for _, _, p in labelled(grid, f"{speaker} - phones")]
        assert phones and "sp" not in phones
    assert phones[:3] == ["DH", "AH0", "K"]  # Speaker B, from FAVE's own dictionary


def test_every_label_reaches_hvite_with_sp_in_the_dictionary(tmp_path: Path) -> None:
    """FAVE puts ``sp`` between the words of HVite's label file and hands HVite our
    dictionary: without ``sp  sp`` there, the stand-in (like HVite) refuses every chunk."""
    task = fave_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", FOX)])
    run_ok(task)
    words = labelled(result_textgrids(task)["fox.TextGrid"], "words")
    assert [w for _, _, w in words] == normalise_words(FOX)


def test_words_fave_would_retokenise_or_misread_are_aligned(tmp_path: Path) -> None:
    """FAVE splits hyphens, deletes "1990"-style digits before letters and reads dictionaries
    as latin-1: each of these words must still come back, with its own phones."""
    text = "The well-known café of the 1990s."
    task = fave_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", text)],
        user_dict="café K AE0 F EY1\n1990s N AY1 N T IY1 N AY1 N T IY0 Z\n",
    )
    result = run_ok(task)
    assert [w for w in result.warnings if "espeak-ng (well-known)" not in w] == []
    grid = result_textgrids(task)["fox.TextGrid"]
    words = labelled(grid, "words")
    assert [w for _, _, w in words] == ["the", "well-known", "café", "of", "the", "1990s"]
    phones = labelled(grid, "phones")
    cafe = words[2]
    assert [p for s, e, p in phones if cafe[0] <= s and e <= cafe[1]] == ["K", "AE0", "F", "EY1"]
    assert "café\tK AE0 F EY1\tuser dictionary" in zip_text(task, "missing_words.txt")


def test_fave_dictionary_is_read_as_latin1(tmp_path: Path) -> None:
    """FAVE's own model/dict is not UTF-8 (one latin-1 byte); FAVE reads it as latin-1."""
    dictionary = tmp_path / "dict"
    dictionary.write_bytes("CAFÉ  K AE0 F EY1\nsp  sp\n".encode("latin-1"))
    engine = FaveEngine(fave_language(tmp_path, dictionary=str(dictionary)))
    assert engine.base_lexicon({"café"}).pronunciations("café") == [["K", "AE0", "F", "EY1"]]
    packaged = FaveEngine(fave_language(tmp_path))
    assert packaged.base_lexicon({"the"}).pronunciations("the")[0] == ["DH", "AH0"]


def test_out_of_dictionary_words_reach_fave_with_stress(tmp_path: Path) -> None:
    text = "The quick brown zorblax jumps over the lazy blorp."
    task = fave_task(
        tmp_path,
        [InputFile(sample("fox.wav"), "fox.wav", text)],
        user_dict="blorp B L AO R P\n",  # no stress digits: FAVE's vowels need them
    )
    run_ok(task)
    grid = result_textgrids(task)["fox.TextGrid"]
    assert [w for _, _, w in labelled(grid, "words")] == normalise_words(text)
    missing = zip_text(task, "missing_words.txt")
    assert "zorblax\tZ AO1 R B L AE0 K S\tespeak-ng" in missing
    assert "blorp\tB L AO1 R P\tuser dictionary" in missing


def test_a_chunk_fave_cannot_align_leaves_the_others(tmp_path: Path) -> None:
    """HVite finds no alignment for an utterance far too short for its words; FAVE itself
    would abort the whole file. The other utterance is kept and the user is told."""
    tiers = {
        "Speaker A": [(0.0, 2.9, "She sells sea shells by the sea shore.")],
        "Speaker B": [(3.39, 3.5, "The quick brown fox jumps over the lazy dog.")],
    }
    task = fave_task(
        tmp_path, [InputFile(sample("dialogue_44k_stereo.wav"), "dialogue.wav", None, tiers)]
    )
    result = run_ok(task)
    grid = result_textgrids(task)["dialogue.TextGrid"]
    assert [w for _, _, w in labelled(grid, "Speaker A - words")] == normalise_words(
        tiers["Speaker A"][0][2]
    )
    assert labelled(grid, "Speaker B - words") == []
    assert any("3.39-3.50" in w and "could not be aligned" in w for w in result.warnings)
    assert "not aligned" in task.paths.engine_log.read_text()


def test_nothing_aligned_is_bad_input(tmp_path: Path) -> None:
    short = tmp_path / "short.wav"  # 0.5 s: too short for the sentence's phones
    subprocess.run(["sox", str(sample("fox.wav")), str(short), "trim", "0", "0.5"], check=True)
    task = fave_task(tmp_path, [InputFile(short, "short.wav", FOX)])
    assert run_task(task.task_id, task.settings) == ExitCode.BAD_INPUT
    assert "could be aligned" in (RunResult.load(task.paths).error or "")


def test_missing_htk_is_an_internal_error_naming_the_tool(tmp_path: Path) -> None:
    empty = tmp_path / "no-htk"
    empty.mkdir()
    task = fave_task(tmp_path, [InputFile(sample("fox.wav"), "fox.wav", FOX)], htk_tools=str(empty))
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    error = RunResult.load(task.paths).error or ""
    assert "HCopy" in error and "cannot be run" in error


def test_fave_2_0_2_needs_the_compatibility_launcher(tmp_path: Path) -> None:
    """The package's own ``fave-align`` dies on Python >= 3.11 ("invalid mode: 'rU'"); the
    adapter runs it through engines/fave_compat. When FAVE fixes this, the launcher's
    patches can go."""
    script = Path(sys.executable).with_name("fave-align")
    task = fave_task(
        tmp_path, [InputFile(sample("fox.wav"), "fox.wav", FOX)], fave_command=str(script)
    )
    assert run_task(task.task_id, task.settings) == ExitCode.INTERNAL
    assert "invalid mode: 'rU'" in task.paths.engine_log.read_text()


def test_word_codes_survive_fave_tokenising() -> None:
    codes = word_codes(f"w{n}" for n in range(30))
    assert list(codes.values())[:3] == ["WA", "WB", "WC"] and codes["w26"] == "WBA"
    assert all(code.isalpha() and code.isupper() for code in codes.values())
    assert len(set(codes.values())) == 30


def test_file_names_fave_would_put_unquoted_on_a_command_line(tmp_path: Path) -> None:
    """FAVE runs sox/HCopy/HVite through the shell with our dictionary's path unquoted; the
    work folder is named after the user's file."""
    name = "it's my fox (take 2).wav"
    task = fave_task(tmp_path, [InputFile(sample("fox.wav"), name, FOX)])
    run_ok(task)
    words = labelled(result_textgrids(task)["it's my fox (take 2).TextGrid"], "words")
    assert [w for _, _, w in words] == normalise_words(FOX)
