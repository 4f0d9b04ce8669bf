"""Speaker adaptation (engines/adaptation.py): the stretches it learns from, the model files it
prepares, and the worker's second pass, which never loses what the first one aligned."""

from __future__ import annotations

import logging
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from test_runner_support import english

from autophon_align.engines import adaptation, pocketsphinx_worker
from autophon_align.engines.adaptation import AdaptationUnavailable, Stretch
from autophon_align.engines.chunks import Chunk
from autophon_align.engines.pocketsphinx import _write_dictionary
from autophon_core.lexicon import language_lexicon, normalise_words, pocketsphinx_model_dir
from bench.accuracy import Material, align
from bench.speech import Speech, connected, with_noise, write_wav

# Sentences whose words are all in CMUdict (no espeak-ng guesses needed).
SENTENCES = (
    "The committee reviewed several proposals before lunch and rejected most.",
    "My brother usually drives his old truck to the market on Saturdays.",
    "We walked along the river until the sun disappeared behind the distant hills.",
    "Each student must submit a written report describing the experiment in detail.",
)
MODEL = pocketsphinx_model_dir() / "en-us"


def word(label: str, start: float, end: float) -> dict[str, Any]:
    return {"label": label, "entry": label, "start": start, "end": end}


def test_stretches_end_at_pauses_and_take_some_of_them() -> None:
    words = [word("a", 0.5, 0.8), word("b(2)", 0.8, 1.1), word("c", 1.7, 2.0)]
    first, second = adaptation.stretches(words, lo=0.0, hi=2.1)
    # Half of each pause, at most PAUSE_CONTEXT, and never beyond the utterance.
    assert first == Stretch(0.25, 1.4, ("a", "b(2)"))
    assert second.start == pytest.approx(1.4) and second.end == pytest.approx(2.05)
    assert second.entries == ("c",)


def test_stretches_of_speech_without_pauses_stay_short() -> None:
    words = [word(f"w{i}", i * 0.5, (i + 1) * 0.5) for i in range(100)]
    made = adaptation.stretches(words, lo=0.0, hi=50.0)
    assert len(made) >= 3
    assert all(s.seconds <= adaptation.MAX_STRETCH + 0.5 for s in made)
    assert [e for s in made for e in s.entries] == [w["entry"] for w in words]


def test_spread_takes_at_most_the_limit_from_all_over_the_recording() -> None:
    candidates = [Stretch(i * 10.0, i * 10.0 + 8.0, (f"w{i}",)) for i in range(100)]
    assert adaptation.spread(candidates[:5], max_seconds=300) == candidates[:5]
    chosen = adaptation.spread(candidates, max_seconds=80)
    assert 70 <= sum(s.seconds for s in chosen) <= 80
    starts = [s.start for s in chosen]
    assert min(starts) < 150 and max(starts) > 850  # not just the beginning


def test_the_models_quantised_weights_become_a_mixture_weights_file(tmp_path: Path) -> None:
    (senones, streams, densities), weights = adaptation.read_sendump(MODEL / "sendump")
    assert (streams, densities) == (3, 128)
    assert senones == 5126  # the model's tied states ("5126 Sen" in its mdef)
    for row in (0, 1000, len(weights) // densities - 1):
        assert sum(weights[row * densities : (row + 1) * densities]) == pytest.approx(1, abs=1e-4)
    target = tmp_path / "mixture_weights"
    adaptation.write_mixture_weights((senones, streams, densities), weights, target)
    raw = target.read_bytes()
    start = raw.index(b"endhdr\n") + len(b"endhdr\n")
    assert start % 4 == 0
    assert struct.unpack_from("=IIIII", raw, start) == (
        0x11223344,
        senones,
        streams,
        densities,
        len(weights),
    )
    assert len(raw) == start + 20 + 4 * len(weights)


def test_missing_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adaptation.shutil, "which", lambda name: None)
    monkeypatch.setattr(adaptation, "SPHINXTRAIN_DIRS", ())
    with pytest.raises(AdaptationUnavailable, match="sphinx_fe, bw, mllr_solve, mdef_convert"):
        adaptation.find_tools()


@pytest.fixture(scope="module")
def speech() -> Speech:
    return connected(SENTENCES, "en-us")


def request_for(speech: Speech, folder: Path, adapt: bool = True) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    words = normalise_words(" ".join(w.label for w in speech.words))
    dictionary = folder / "task.dict"
    _write_dictionary(dictionary, language_lexicon(english(), only=words), set(words))
    return {
        "audio": str(write_wav(speech, folder / "speech.wav")),
        "hmm": str(MODEL),
        "dict": str(dictionary),
        "log": str(folder / "pocketsphinx.log"),
        "adapt": adapt,
        "utterances": [
            {"start": 0.0, "end": speech.seconds, "text": " ".join(words), "speaker": "A"}
        ],
    }


def spans(results: list[dict[str, Any]]) -> list[tuple[float, float]]:
    return [(w["start"], w["end"]) for r in results for w in r["words"]]


@pytest.mark.slow
def test_the_speaker_is_aligned_again_with_an_adapted_model(
    speech: Speech, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unadapted = pocketsphinx_worker.align_request(request_for(speech, tmp_path / "off", False))
    assert "adapted" not in capsys.readouterr().out
    notes: list[str] = []
    adapted = pocketsphinx_worker.align_request(request_for(speech, tmp_path / "on"), notes)
    out = capsys.readouterr().out
    assert len(notes) == 1 and notes[0].startswith("speaker A: adapted (MLLR) on")
    assert notes[0] in out
    assert out.count("utterance 1/1:") == 2  # aligned twice
    assert len(spans(adapted)) == len(spans(unadapted)) == len(speech.words)
    assert spans(adapted) != spans(unadapted)
    assert not list(Path(tmp_path).glob("**/mllr_matrix"))  # scratch space is gone


@pytest.mark.slow
@pytest.mark.parametrize("failure", ["missing", "failing"])
def test_without_adaptation_the_first_alignment_stays(
    speech: Speech,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
) -> None:
    unadapted = pocketsphinx_worker.align_request(request_for(speech, tmp_path / "off", False))
    if failure == "missing":

        def find_tools() -> adaptation.Tools:
            raise AdaptationUnavailable("bw not installed")

        monkeypatch.setattr(adaptation, "find_tools", find_tools)
        expected = "speaker adaptation skipped: bw not installed"
    else:
        tools = adaptation.find_tools()
        monkeypatch.setattr(
            adaptation, "find_tools", lambda: adaptation.Tools(**{**vars(tools), "bw": "false"})
        )
        expected = "speaker A: not adapted (false failed (exit code 1)"
    capsys.readouterr()
    result = pocketsphinx_worker.align_request(request_for(speech, tmp_path / "on"))
    assert expected in capsys.readouterr().out
    assert result == unadapted


@pytest.mark.slow
def test_noisy_or_short_speech_is_not_adapted(
    speech: Speech, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    noisy = with_noise(speech, 10, seed=10)
    # As it is, not denoised (a denoised copy stands high enough: test_connected_accuracy.py).
    pocketsphinx_worker.align_request(request_for(noisy, tmp_path / "noisy") | {"denoise": False})
    assert "speaker A: not adapted (speech 1" in capsys.readouterr().out  # ~15 dB < 20 dB
    short = connected(SENTENCES[:1], "en-us")
    pocketsphinx_worker.align_request(request_for(short, tmp_path / "short"))
    assert "s of aligned speech, 10 s needed)" in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["no weights", "truncated weights"])
def test_an_unusual_model_folder_is_unavailable_not_a_crash(tmp_path: Path, damage: str) -> None:
    model = tmp_path / "model"
    model.mkdir()
    for item in MODEL.iterdir():
        if item.name != "sendump":
            (model / item.name).symlink_to(item)
    if damage == "truncated weights":
        (model / "sendump").write_bytes((MODEL / "sendump").read_bytes()[:5000])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    adapter = adaptation.SpeakerAdapter(
        model, tmp_path / "task.dict", scratch, adaptation.find_tools()
    )
    recording = write_wav(connected(SENTENCES[:1], "en-us"), tmp_path / "one.wav")
    with wave.open(str(recording), "rb") as audio, pytest.raises(AdaptationUnavailable) as raised:
        adapter.transform("s", audio, [Stretch(0.0, 1.0, ("the",))], lambda samples: samples)
    expected = "neither mixture_weights nor sendump" if damage == "no weights" else "truncated"
    assert expected in str(raised.value)


@pytest.mark.slow
def test_the_jobs_log_says_what_adaptation_did(
    speech: Speech, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="autophon.engine.pocketsphinx"):
        align(Material("reading", speech), tmp_path)
    details = [getattr(r, "detail", "") for r in caplog.records if r.getMessage() == "aligner note"]
    assert len(details) == 1 and details[0].startswith("the speaker: adapted (MLLR) on"), details


def test_the_first_pass_samples_long_utterances_only_when_adapting() -> None:
    aligner = pocketsphinx_worker._UtteranceAligner(
        pocketsphinx_worker._Decoders({}), FakeRecording(3600), {}
    )
    utterances = [
        {"start": 0.0, "end": 20.0, "speaker": "A"},  # short: always whole
        {"start": 20.0, "end": 1220.0, "speaker": "A"},  # 20 min
        {"start": 1220.0, "end": 3620.0, "speaker": "A"},  # 40 min
        {"start": 0.0, "end": 240.0, "speaker": "B"},  # 4 min
    ]
    shares = pocketsphinx_worker._first_pass_shares(aligner, utterances)
    per_speaker = adaptation.MAX_SECONDS
    assert shares == pytest.approx([1.0, per_speaker / 3600, per_speaker / 3600, 0.5])
    chunks = [Chunk(i * 10.0, i * 10.0 + 10.0, i, i + 1) for i in range(360)]
    sampled = pocketsphinx_worker._sample(chunks, per_speaker / 3600)
    assert len(sampled) == pytest.approx(per_speaker / 10, abs=1)
    assert sampled[0].start < 300 and sampled[-1].start > 3300  # from all over
    assert pocketsphinx_worker._sample(chunks, 1.0) == chunks


class FakeRecording:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def getframerate(self) -> int:
        return 16000

    def getnframes(self) -> int:
        return round(16000 * self.seconds)


@pytest.mark.slow
def test_a_sampled_first_pass_is_completed_when_the_speaker_is_not_adapted(
    speech: Speech,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chunks of at most 5 s, and a first pass of 5 s per speaker: a sample of the chunks.
    monkeypatch.setattr(adaptation, "MAX_SECONDS", 5.0)
    chunked = {"whole_up_to_seconds": 5, "max_chunk_seconds": 5, "word_window_seconds": 10}
    noisy = with_noise(speech, 10, seed=10)
    unadapted = pocketsphinx_worker.align_request(
        {**request_for(noisy, tmp_path / "off", False), **chunked}
    )
    capsys.readouterr()
    result = pocketsphinx_worker.align_request({**request_for(noisy, tmp_path / "on"), **chunked})
    out = capsys.readouterr().out
    assert "(a sample of its chunks, for the adaptation)" in out
    assert "speaker A: not adapted (" in out  # too little speech in the sample, and noisy
    assert result == unadapted and len(spans(result)) == len(speech.words)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "noise_db", "settings"),
    [
        ("whole, adapted", None, {}),
        ("whole, not adapted", 10, {"denoise": False}),
        # A word pass in windows, a first pass over a sample of the chunks, all of them again
        # (not adapted: too little speech in the sample).
        (
            "chunks, sampled",
            10,
            {"whole_up_to_seconds": 5, "max_chunk_seconds": 5, "word_window_seconds": 6},
        ),
    ],
)
def test_the_share_of_the_work_done_grows_to_all_of_it(
    speech: Speech,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    noise_db: int | None,
    settings: dict[str, Any],
) -> None:
    monkeypatch.setattr(adaptation, "MAX_SECONDS", 5.0)
    monkeypatch.setattr(pocketsphinx_worker, "PROGRESS_INTERVAL", 0.0)  # write every step
    shares: list[float] = []
    advance = pocketsphinx_worker._Progress.advance

    def spy(progress: pocketsphinx_worker._Progress, seconds: float) -> None:
        advance(progress, seconds)
        shares.append(progress.done / progress.planned)

    monkeypatch.setattr(pocketsphinx_worker._Progress, "advance", spy)
    audio = speech if noise_db is None else with_noise(speech, noise_db, seed=10)
    request = request_for(audio, tmp_path) | settings | {"progress": str(tmp_path / "progress")}
    pocketsphinx_worker.align_request(request)
    assert len(shares) >= 2 and shares == sorted(shares)
    # The work planned is the work done (of a sample of chunks, about: whole chunks are taken).
    assert shares[-1] == pytest.approx(1.0, abs=0.1 if "sampled" in case else 1e-6)
    assert float((tmp_path / "progress").read_text()) == pytest.approx(min(1.0, shares[-1]), 1e-3)
