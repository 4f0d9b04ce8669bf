"""Figure 7: boundary accuracy of the built-in engine on connected synthetic speech.

The material (bench/speech.py, bench/festival.py) is synthetic speech with the synthesiser's
own word and phone times: six connected sentences with names and words missing from CMUdict,
in three espeak-ng voices and Festival's diphone (kal) and HTS (slt) voices; two speakers
taking turns in a TextGrid (one tier each); and the first espeak-ng voice and the HTS voice
with white noise at 20 and 10 dB SNR, under other voices (``noise_babble_10db``: four
espeak-ng voices reading the held-out sentences, 10 dB below the speaker) and with in-breaths
in their pauses (``breaths_15db``: bench/speech.py ``with_breaths``); then the same
voices and 10 dB conditions of white noise on six held-out sentences (``heldout_``) and on
six check sentences (``check_``), there also in four more
espeak-ng voices that no step was tuned on (bench/speech.py UNSEEN_VOICES) and read slowly
by the first espeak-ng voice (``clean_slow_``, 130 words a minute instead of 175). Where
espeak-ng's MBROLA voices are installed (``make mbrola-voices``), each set also in those four
voices (``clean_mb_us1``...: diphones of recorded speech, timed by the durations MBROLA was
given). Then the same six sentences in each language aligned across languages (Danish,
Norwegian Bokmål, Swedish, German, Dutch, French, Spanish, Italian, Portuguese, Polish,
Finnish, Icelandic, Czech, Russian, Catalan, Hungarian, Turkish, Greek, Ukrainian, Slovak:
bench/speech.py LANGUAGE_SENTENCES; ``dan_clean_da``...),
clean in espeak-ng's voice, in Festival's where it has some (Italian, Finnish, Czech:
bench/festival.py LANGUAGE_VOICES; ``ita_clean_festival_lp``...) and MBROLA's where it has one
(bench/speech.py MBROLA_LANGUAGE_VOICES), and at 10 dB SNR. Each file
goes through the upload worker's processing and the runner, as a task does, twice: as AutoPhon
aligns it, and as plain pocketsphinx does (the dictionary's pronunciations only, both passes
over each whole utterance at once, no chunks, no speaker adaptation, no pause-edge refinement,
no denoising).
Printed per condition: the share of word and phone boundaries within 10, 20 and 50 ms of the
truth, the mean and the largest error.

Word boundaries: every word's start and end. Phone boundaries: every boundary between two
phones inside a word (the synthesiser's phonemes), measured to the nearest phone boundary of the
aligned word (espeak-ng's and CMUdict's phone sets differ, so phones are not paired).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

from praatio import textgrid

from autophon_align.runner import run_task
from autophon_core.config import Settings
from autophon_core.models import new_task_id
from autophon_core.storage import Storage
from autophon_core.taskfiles import RunResult
from autophon_upload.processing import prepare_task
from bench import festival
from bench.env import BenchEnv, bench_settings
from bench.report import Figure
from bench.speech import (
    CHECK,
    HELD_OUT,
    LANGUAGE_SENTENCES,
    MBROLA_LANGUAGE_VOICES,
    MBROLA_VOICES,
    SENTENCES,
    SLOW_WORDS_PER_MINUTE,
    UNSEEN_VOICES,
    VOICES,
    Speech,
    Timed,
    aligned_units,
    boundary_errors,
    connected,
    mbrola_available,
    with_babble,
    with_breaths,
    with_noise,
    write_wav,
)

# Festival's diphone and HTS voices (bench/festival.py), beside espeak-ng's VOICES.
FESTIVAL_VOICES = tuple(festival.PREFIX + name for name in festival.VOICES)
# The assets that make the built-in engine plain pocketsphinx (see the module docstring).
PLAIN_ASSETS = {
    "denoise": "false",
    "g2p_variants": "false",
    "refine_boundaries": "false",
    "speaker_adaptation": "false",
    "whole_up_to_seconds": "1000000",
}
THRESHOLDS_MS = (10, 20, 50)
# The voices of every noisy condition; the others only at 10 dB SNR.
NOISY_VOICES = (VOICES[0], FESTIVAL_VOICES[1])
# Other voices as noise (babble), in the tuned sentences' conditions only: four talkers (dB SNR).
BABBLE_DB = 10
# In-breaths in the pauses, in the tuned sentences' conditions only (dB below the speech).
BREATH_DB = 15
# Conditions of the sentences no step or setting was tuned on (bench/speech.py HELD_OUT), and
# of those made to check one step after it was chosen (CHECK).
HELD_OUT_PREFIX = "heldout_"
CHECK_PREFIX = "check_"
Span = tuple[float, float, str]


@dataclass
class Material:
    """A recording and its transcript: one plain text, or one tier per speaker."""

    name: str
    speech: Speech
    # Speaker tier -> its turns (start, end, text, the turn's true words); "" for plain text.
    turns: dict[str, list[tuple[float, float, list[Timed]]]] = field(default_factory=dict)
    language: str = "eng"

    @property
    def plain(self) -> bool:
        return not self.turns


@dataclass
class Scores:
    word_errors: list[float] = field(default_factory=list)
    phone_errors: list[float] = field(default_factory=list)

    def add(self, other: Scores) -> None:
        self.word_errors += other.word_errors
        self.phone_errors += other.phone_errors

    @staticmethod
    def within(errors: Sequence[float], ms: float) -> float:
        return sum(e <= ms / 1000 + 1e-9 for e in errors) / len(errors) if errors else 0.0

    def summary(self, kind: str) -> dict[str, float]:
        errors = self.word_errors if kind == "word" else self.phone_errors
        data = {f"within_{ms}ms": self.within(errors, ms) for ms in THRESHOLDS_MS}
        data["mean_ms"] = 1000 * sum(errors) / len(errors) if errors else 0.0
        data["max_ms"] = 1000 * max(errors, default=0.0)
        return data


def score(truth: Sequence[Timed], words: Sequence[Span], phones: Sequence[Span]) -> Scores:
    """Errors of the aligned ``words`` (and their ``phones``) against ``truth``, word by word
    in order; raises ValueError when the counts differ (a word was lost)."""
    scores = Scores(word_errors=boundary_errors(truth, words))
    for true, (start, end) in zip(truth, aligned_units(truth, words), strict=True):
        inside = [p[0] for p in phones if start + 1e-6 < p[0] < end - 1e-6]
        for phone in true.phones[1:]:
            if inside:
                scores.phone_errors.append(min(abs(phone.start - t) for t in inside))
    return scores


def materials(wanted: Collection[str] | None = None) -> list[Material]:
    """Every condition's recording, or those named in ``wanted`` (deterministic): the tuned-on
    sentences' conditions, "two_speakers", then the held-out ones, the check ones and those in
    other languages. The Festival conditions need Festival and its voices
    (``festival.available()``); the MBROLA voices' conditions are there when they are
    installed (``mbrola_available()``)."""
    builders: dict[str, Callable[[], Speech]] = {}
    names: list[str] = []
    sets = (
        ("", SENTENCES, (20, 10), ()),
        (HELD_OUT_PREFIX, HELD_OUT, (10,), UNSEEN_VOICES),
        (CHECK_PREFIX, CHECK, (10,), UNSEEN_VOICES),
    )
    mbrola = () if mbrola_available() else MBROLA_VOICES
    for prefix, sentences, noises, unseen in sets:
        for voice in (*VOICES, *FESTIVAL_VOICES, *unseen, *mbrola):
            builders[f"{prefix}clean_{_label(voice)}"] = partial(connected, sentences, voice)
        if prefix:
            builders[f"{prefix}clean_slow_{_label(VOICES[0])}"] = partial(
                connected, sentences, VOICES[0], words_per_minute=SLOW_WORDS_PER_MINUTE
            )
        for voice in (*VOICES, *FESTIVAL_VOICES):
            suffix = "" if voice == VOICES[0] else f"_{_label(voice)}"
            clean = builders[f"{prefix}clean_{_label(voice)}"]
            main = voice in NOISY_VOICES
            for db in noises if main else (10,):
                builders[f"{prefix}noise_{db}db{suffix}"] = partial(_noisy, clean, db)
            if main and not prefix:
                builders[f"noise_babble_{BABBLE_DB}db{suffix}"] = partial(_babbled, clean)
                builders[f"breaths_{BREATH_DB}db{suffix}"] = partial(_breathed, clean)
        names += [n for n in builders if n not in names] + ([] if prefix else ["two_speakers"])
    language_of: dict[str, str] = {}  # a condition in another language -> its code
    for code, (voice, sentences) in LANGUAGE_SENTENCES.items():
        others = [festival.PREFIX + name for name in festival.LANGUAGE_VOICES.get(code, ())]
        others += MBROLA_LANGUAGE_VOICES.get(code, ()) if mbrola else ()
        for each in (voice, *others):
            builders[f"{code}_clean_{_label(each)}"] = partial(connected, sentences, each)
        clean = builders[f"{code}_clean_{_label(voice)}"]
        builders[f"{code}_noise_10db"] = partial(_noisy, clean, 10)
        language_of |= {n: code for n in builders if n.startswith(f"{code}_")}
    names += list(language_of)
    chosen = [n for n in names if wanted is None or n in wanted]
    return [
        two_speakers()
        if n == "two_speakers"
        else Material(n, builders[n](), language=language_of.get(n, "eng"))
        for n in chosen
    ]


def _noisy(clean: Callable[[], Speech], snr_db: int) -> Speech:
    return with_noise(clean(), snr_db, seed=snr_db)


def _babbled(clean: Callable[[], Speech]) -> Speech:
    return with_babble(clean(), BABBLE_DB, _talkers(), seed=BABBLE_DB)


def _breathed(clean: Callable[[], Speech]) -> Speech:
    return with_breaths(clean(), BREATH_DB, seed=1)[0]


@cache
def _talkers() -> tuple[Speech, ...]:
    """The other voices of the babble conditions: the held-out sentences in the unseen voices."""
    return tuple(connected(HELD_OUT, voice) for voice in UNSEEN_VOICES)


def two_speakers(voices: tuple[str, str] = ("en-us", "en-us+f3")) -> Material:
    """The sentences in turns, speaker A (first voice) and B (second voice) alternating."""
    speech = Speech.silence(0.3)  # lead silence
    turns: dict[str, list[tuple[float, float, list[Timed]]]] = {"A": [], "B": []}
    for number, sentence in enumerate(SENTENCES):
        speaker = "AB"[number % 2]
        turn = connected([sentence], voices[number % 2], lead=0.25)
        start = speech.seconds
        first = len(speech.words)
        speech.extend(turn)
        turns[speaker].append((start, speech.seconds, speech.words[first:]))
    return Material("two_speakers", speech, turns)


def _label(voice: str) -> str:
    return voice.replace("-", "_").replace("+", "_").replace("/", "_")


def align(
    material: Material, folder: Path, assets: dict[str, str] | None = None
) -> tuple[Scores, RunResult]:
    """``material`` through the upload processing and the runner, scored."""
    settings = bench_settings(
        f"sqlite:///{folder / 'unused.db'}",
        folder,
        storage={"delete_audio_after_alignment": False},
        logging={"level": "WARNING"},
    )
    settings = _with_assets(settings, material.language, assets or {})
    storage = Storage(settings.storage.root)
    task_id = new_task_id()
    paths = storage.create_task_dir(task_id)
    write_wav(material.speech, paths.upload_dir / "speech.wav")
    _write_transcript(material, paths.upload_dir)
    prepare_task(paths, task_id, settings.language(material.language), "pocketsphinx", settings)
    run_task(task_id, settings)
    result = RunResult.load(paths)
    if result.status != "completed":
        raise RuntimeError(f"{material.name}: {result.error}")
    if material.plain:
        return score_result(material.speech.words, paths.result_zip), result
    grid = _result_grid(paths.result_zip, paths.root / "result.TextGrid")
    scores = Scores()
    for speaker, turns in material.turns.items():
        truth = [w for _, _, words in turns for w in words]
        words = _spans(grid, f"{speaker} - words")
        scores.add(score(truth, words, _spans(grid, f"{speaker} - phones")))
    return scores, result


def score_result(truth: Sequence[Timed], result_zip: Path) -> Scores:
    """``score`` of the words and phones in the TextGrid of ``result_zip`` (a result of one
    recording with a plain transcript)."""
    grid = _result_grid(result_zip, result_zip.with_suffix(".TextGrid"))
    return score(truth, _spans(grid, "words"), _spans(grid, "phones"))


def _with_assets(settings: Settings, code: str, assets: dict[str, str]) -> Settings:
    languages = [
        lang.model_copy(update={"assets": {**lang.assets, **assets}}) if lang.code == code else lang
        for lang in settings.languages
    ]
    return settings.model_copy(update={"languages": languages})


def _write_transcript(material: Material, folder: Path) -> None:
    if material.plain:
        text = " ".join(w.label for w in material.speech.words)
        (folder / "speech.txt").write_text(text + "\n", "utf-8")
        return
    duration = material.speech.seconds
    grid = textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=duration)
    for speaker, turns in material.turns.items():
        entries = [(s, e, " ".join(w.label for w in words)) for s, e, words in turns]
        grid.addTier(textgrid.IntervalTier(speaker, entries, 0.0, duration))
    grid.save(str(folder / "speech.TextGrid"), format="long_textgrid", includeBlankSpaces=True)


def _result_grid(result_zip: Path, target: Path) -> textgrid.Textgrid:
    with zipfile.ZipFile(result_zip) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".TextGrid"))
        target.write_bytes(archive.read(member))
    return textgrid.openTextgrid(str(target), includeEmptyIntervals=False)


def _spans(grid: textgrid.Textgrid, tier: str) -> list[Span]:
    return [(e.start, e.end, e.label) for e in grid.getTier(tier).entries if e.label]


def side_by_side(rows: Sequence[tuple[str, str, str, dict[str, float]]]) -> str:
    """A table of (condition, system, kind, summary) rows: within 10/20/50 ms, mean, max."""
    head = f"{'condition':<32} {'system':<9} {'kind':<6} {'10ms':>6} {'20ms':>6} {'50ms':>6}"
    lines = [head + f" {'mean':>7} {'max':>7}"]
    for condition, system, kind, summary in rows:
        shares = " ".join(f"{100 * summary[f'within_{ms}ms']:5.1f}%" for ms in THRESHOLDS_MS)
        lines.append(
            f"{condition:<32} {system:<9} {kind:<6} {shares} "
            f"{summary['mean_ms']:5.1f}ms {summary['max_ms']:5.0f}ms"
        )
    return "\n".join(lines)


def run(env: BenchEnv) -> Iterator[Figure]:
    if missing := mbrola_available():
        print(f"accuracy: the MBROLA voices' conditions are left out: {missing}", flush=True)
    chosen = materials(["clean_en_us"] if env.quick else None)
    rows: list[tuple[str, str, str, dict[str, float]]] = []
    for material in chosen:
        for system, assets in (("autophon", {}), ("plain", PLAIN_ASSETS)):
            scores, _ = align(material, env.folder(f"accuracy-{material.name}-{system}"), assets)
            rows += [(material.name, system, k, scores.summary(k)) for k in ("word", "phone")]
            for kind in ("word", "phone"):
                summary = scores.summary(kind)
                errors = scores.word_errors if kind == "word" else scores.phone_errors
                shown = {k: round(100 * v, 1) if "within" in k else v for k, v in summary.items()}
                yield Figure(
                    name=f"{kind}_within_20ms_{material.name}_{system}",
                    value=100 * summary["within_20ms"],
                    unit="%",
                    target=_target(material.name, kind, system),
                    target_met=_met(material.name, kind, system, summary),
                    context={"boundaries": len(errors), **shown},
                )
    print(side_by_side(rows), flush=True)


def _target(condition: str, kind: str, system: str) -> str | None:
    if kind != "word" or system != "autophon":
        return None
    condition = _unprefixed(condition)
    if condition.startswith("clean"):
        return ">= 90% within 20 ms, none beyond 100 ms"
    if condition.startswith("noise_10db"):
        return ">= 75% within 20 ms"
    return None


def _met(condition: str, kind: str, system: str, summary: dict[str, float]) -> bool | None:
    if _target(condition, kind, system) is None:
        return None
    if _unprefixed(condition).startswith("clean"):
        return summary["within_20ms"] >= 0.9 and summary["max_ms"] <= 100
    return summary["within_20ms"] >= 0.75


def _unprefixed(condition: str) -> str:
    for prefix in (HELD_OUT_PREFIX, CHECK_PREFIX):
        condition = condition.removeprefix(prefix)
    return condition
