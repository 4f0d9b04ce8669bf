"""The pocketsphinx alignment process: ``python -m autophon_align.engines.pocketsphinx_worker
REQUEST.json RESULT.json``.

Runs in a child process (see engines/pocketsphinx.py) so that the runner can bound it in time
and kill it, and so that the decoder's C-level logging and memory stay out of the runner.
A noisy recording is first denoised into a scratch copy that the decoder reads instead
(engines/denoise.py). Each utterance is cut out of the recording, padded with a little
low-level noise, aligned in two passes (words, then phones) with the grammar built by
``set_align_text``, and its word edges next to pauses refined (engines/refine.py). Then the
model is adapted to each speaker with enough clean speech (engines/adaptation.py) and that
speaker's utterances are aligned again with it. An utterance longer than
``chunks.WHOLE_UP_TO_SECONDS`` first gets a word pass over all of it, read in blocks, and is
cut at its pauses into chunks that are aligned one by one (engines/chunks.py): memory stays
flat whatever the length. A search that loses the path through the words is tried again with
wider beams, and at last unpruned (Beams). Failures are per
utterance (or chunk): one that cannot be aligned is reported and the others go on.
"""

from __future__ import annotations

import json
import math
import random
import re
import sys
import tempfile
import time
import wave
from array import array
from contextlib import suppress
from dataclasses import dataclass
from enum import IntEnum
from functools import partial
from pathlib import Path
from typing import Any

from autophon_align.engines import adaptation, arpabet, denoise, loudness
from autophon_align.engines.chunks import (
    MAX_CHUNK_SECONDS,
    WHOLE_UP_TO_SECONDS,
    WORD_WINDOW_SECONDS,
    Chunk,
    Gap,
    gaps_between,
    plan_chunks,
)
from autophon_align.engines.refine import (
    FLOOR_DB,
    MIN_GAP,
    Energy,
    Segment,
    advance_vowel_onsets,
    levels_of,
    refine_words,
)
from autophon_core.storage import atomic_write_bytes

SAMPLE_RATE = 16000
# Padding around each utterance (s): gives the search a pause to start and end in.
PAD = 0.1
# Runs of exact zeros at least this long (samples) are replaced by low-level noise: digital
# silence has no spectrum, and the decoder's search can lose the grammar's end state in it.
ZERO_RUN = 32
NOISE_AMPLITUDE = 8  # about -72 dBFS
MIN_UTTERANCE = 0.05
# Gaussians scored per frame and codebook of the phonetically tied model (default 4): 16 put
# 1 more point of word edges within 20 ms on clean connected speech and 2.5 more at 10-20 dB
# SNR (bench/accuracy.py's voices and 40 more sentences), for about half as much time again.
TOPN = 16
# A consonant aligned longer than this (s) has taken in a pause: in noise the decoder's silence
# model can lose to a weak consonant (a sentence-initial "the" took in 0.36 s and 1.4 s of pause
# at 10 dB SNR). Such a word is aligned again with its neighbours, silence made likelier.
LONGEST_CONSONANT = 0.3
# A gap of the word pass is quiet enough to cut a long utterance in (engines/chunks.py) when
# its middle half is this far (dB) below the louder word beside it, both at their loudest
# QUIET_FRAME: the pauses of a 150 s reading were 74 dB or more below in clean speech and 27
# or more at 10 dB SNR (the denoised copy), the vowel the word pass once took for a pause 3.
QUIET_GAP_DB = 12.0
QUIET_FRAME = 0.03
# A stop's closure is as silent as the pause before it: a stop aligned longer than this (s) has
# taken in a pause too (a sentence-initial "please" took 0.29 s, 0.26 s of it pause).
LONGEST_STOP = 0.2
# A word of at most this many phones, joined to the word before it and followed by a pause of
# at least MIN_CUT_PAUSE, may belong after the pause: a sentence-initial "a" was aligned on the
# end of the previous sentence's last word, 0.3-0.6 s early. It is aligned again as above.
SHORT_WORD_PHONES = 2
# The silence probability of that second try (the decoder's default is 0.005). Over whole
# recordings it kept pauses out of words but put 1-3 points fewer word edges within 20 ms, so
# only those words get it.
MENDING_SILPROB = 0.1
# Where aligning again did not help, a consonant at a word's edge that took in a pause keeps
# this much of it (s), next to the rest of the word: in white noise a weak /v/ (aligned as F),
# /dh/ or /s/ can match the noise better than silence does whatever its probability
# (Swedish "Varje" after a pause began 385 ms early at 10 dB SNR).
TRIMMED_CONSONANT = 0.1


class Beams(IntEnum):
    """How much the search prunes, tried in this order.

    A forced alignment has a path whenever the words fit in the frames: only pruning loses it.
    The default beams sometimes do on long grammars, and even wide ones do where the audio
    matches the model badly (speech under 3-4 kHz only, as on a telephone line or in audio
    sampled at 8 kHz: espeak-ng's British voice found no path at all). The last try prunes
    nothing, so it finds the path whenever there is one; it searches every state of the grammar
    at every frame, which is slow on long grammars, so it comes only after the others failed."""

    DEFAULT = 0
    WIDE = 1
    UNPRUNED = 2


# Beams of each try (the decoder's defaults are 1e-48, 7e-29, 1e-48; 0 prunes nothing).
BEAM_WIDTHS: dict[Beams, dict[str, float]] = {
    Beams.DEFAULT: {},
    Beams.WIDE: {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80},
    Beams.UNPRUNED: {"beam": 0.0, "wbeam": 0.0, "pbeam": 0.0},
}
BLOCK_FRAMES = 16000  # samples per block fed to the word pass of a long utterance
# The word pass of a long utterance goes window by window (see _UtteranceAligner._word_spans).
# A window in which the wide beams find fewer than 1/SPARSEST_WINDOW of the words the average
# rate puts in it has lost the path too: its grammar may end after any word, so a pruned search
# can end early, on a word stretched over the rest (19 words in 48 s of telephone-band speech
# read at 2.7 words a second). It is searched again unpruned.
SPARSEST_WINDOW = 3
UNPRUNED_NOTE = "{:.1f}-{:.1f} s: the search lost the path; searching again unpruned (slower)"
MIN_CUT_PAUSE = 0.1
# The share of the work done is written (request["progress"]) at most this often (s).
PROGRESS_INTERVAL = 0.5
# The word pass over a long utterance costs this much of an alignment pass over it (a
# 5-minute reading: 8.9 s against 14 s).
WORD_PASS_COST = 0.6
MAX_ERROR = 200  # characters of an error message
_ZERO_RUN_RE = re.compile(rb"\x00{%d,}" % (2 * ZERO_RUN + 1))
_ALTERNATE_RE = re.compile(r"\(\d+\)$")
_RANDOM = random.Random(0)  # fixed seed: the same input always aligns the same way
_NOISE = array("h", (_RANDOM.randint(-NOISE_AMPLITUDE, NOISE_AMPLITUDE) for _ in range(4096)))


def main(argv: list[str]) -> int:
    request = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    notes: list[str] = []
    result = {"utterances": align_request(request, notes), "notes": notes}
    Path(argv[2]).write_text(json.dumps(result), encoding="utf-8")
    return 0


def align_request(request: dict[str, Any], notes: list[str] | None = None) -> list[dict[str, Any]]:
    """Each utterance's aligned words and error; ``notes`` gets a line on the denoising and
    one per speaker on what the speaker adaptation did (also printed)."""
    options = {
        "hmm": request["hmm"],
        "dict": request["dict"],
        "lm": None,
        # The word pass must keep the full search (no best-path rescoring) for the phone pass.
        "bestpath": False,
        "topn": TOPN,
        "loglevel": "WARN",
        "logfn": request["log"],
        **request.get("options", {}),
    }
    notes = [] if notes is None else notes
    tools = _adaptation_tools(request, notes)
    progress = _Progress(request.get("progress"))
    original = Path(request["audio"])
    with tempfile.TemporaryDirectory(prefix="autophon-denoised-") as scratch:
        heard = _audio_heard(request, Path(scratch), notes)
        outcomes = _align_recording(heard, request, options, tools, notes, progress)
        failed = [i for i, outcome in enumerate(outcomes) if outcome.error is not None]
        if heard != original and failed:
            # Speech-like noise (other voices) can leave the copy with no path through the
            # words: the recording as it is may have one.
            _note(
                notes,
                f"{len(failed)} of {len(outcomes)} utterances failed on the denoised copy: "
                "aligning them in the recording as it is",
            )
            utterances = [request["utterances"][i] for i in failed]
            retried = {**request, "utterances": utterances}
            again = _align_recording(original, retried, options, tools, notes, progress)
            for i, outcome in zip(failed, again, strict=True):
                outcomes[i] = _better(outcomes[i], outcome)
    return [{"words": o.words, "error": o.error} for o in outcomes]


def _align_recording(
    audio: Path,
    request: dict[str, Any],
    options: dict[str, Any],
    tools: adaptation.Tools | None,
    notes: list[str],
    progress: _Progress,
) -> list[_Outcome]:
    """Every utterance of ``request`` aligned in ``audio``, adapted to each speaker when
    ``tools`` are there."""
    utterances = request["utterances"]
    with wave.open(str(audio), "rb") as recording:
        first = _UtteranceAligner(_Decoders(options), recording, request, progress=progress)
        shares = _first_pass_shares(first, utterances) if tools else [1.0] * len(utterances)
        for utterance, share in zip(utterances, shares, strict=True):
            seconds = utterance["end"] - utterance["start"]
            word_pass = WORD_PASS_COST * seconds if first.is_long(utterance) else 0.0
            progress.plan(word_pass + share * seconds + (seconds if tools else 0.0))
        outcomes = [
            _align_logged(first, utterance, number, len(utterances), share)
            for number, (utterance, share) in enumerate(zip(utterances, shares, strict=True), 1)
        ]
        if tools is not None:
            _adapt_speakers(request, options, first, outcomes, tools, notes)
    return outcomes


class _Progress:
    """The share of the planned work done, written to ``path`` for the engine to pass on (at
    most every PROGRESS_INTERVAL s; a write that fails is skipped). Work is counted in seconds
    of audio passed over: each alignment pass over an utterance, and the word pass over a long
    one at WORD_PASS_COST."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self.planned = 0.0
        self.done = 0.0
        self._written = -math.inf

    def plan(self, seconds: float) -> None:
        self.planned += seconds

    def advance(self, seconds: float) -> None:
        self.done += seconds
        now = time.monotonic()
        if self.path is None or now - self._written < PROGRESS_INTERVAL:
            return
        self._written = now
        share = min(1.0, self.done / self.planned) if self.planned else 0.0
        with suppress(OSError):
            atomic_write_bytes(self.path, f"{share:.4f}".encode())


def _better(first: _Outcome, second: _Outcome) -> _Outcome:
    """Of two outcomes of one utterance, the one without an error, else the one with more
    words (``first`` when even)."""
    if (second.error is None, len(second.words)) > (first.error is None, len(first.words)):
        return second
    return first


def _audio_heard(request: dict[str, Any], scratch: Path, notes: list[str]) -> Path:
    """The recording, or a copy of it in ``scratch``: levelled when it is quiet or off zero
    (engines/loudness.py), then denoised when it is noisy (engines/denoise.py); noted."""
    audio = Path(request["audio"])
    level = loudness.measure(audio)
    if level.worth_correcting:
        levelled = scratch / "levelled.wav"
        loudness.correct(audio, levelled, level)
        _note(notes, level.describe())
        audio = levelled
    if not request.get("denoise", True):
        return audio
    noise = denoise.measure(audio)
    noisy = f"noisy recording (speech {noise.level_db:.0f} dB above its quietest stretches"
    if noise.noisy and not noise.steady:
        _note(
            notes,
            f"{noisy}), but the noise is not steady (its level varies by "
            f"{noise.spread_db:.0f} dB, {denoise.MAX_SPREAD_DB:g} or more: other voices?): "
            "aligned as it is, not denoised",
        )
    if not noise.worth_removing:
        return audio
    started = time.monotonic()
    cleaned = scratch / "denoised.wav"  # from the levelled copy when there is one
    denoise.denoise(audio, cleaned, noise)
    _note(
        notes,
        f"{noisy}, under {denoise.MAX_LEVEL_DB:g}): aligned on a denoised copy, made in "
        f"{time.monotonic() - started:.1f} s",
    )
    return cleaned


@dataclass
class _Outcome:
    """One utterance's aligned words (absolute times), the error of what failed, its speech
    level over its pauses (dB; None when nothing aligned), and whether only some of its chunks
    were aligned (a first pass that only feeds the adaptation)."""

    words: list[dict[str, Any]]
    error: str | None
    level_db: float | None = None
    partial: bool = False


def _align_logged(
    aligner: _UtteranceAligner,
    utterance: dict[str, Any],
    number: int,
    count: int,
    share: float = 1.0,
) -> _Outcome:
    try:
        outcome = aligner.align(utterance, share)
    except (RuntimeError, ValueError) as exc:
        outcome = _Outcome([], str(exc))
    if outcome.error and len(outcome.error) > MAX_ERROR:  # pocketsphinx quotes the whole text
        outcome.error = outcome.error[: MAX_ERROR - 3] + "..."
    if not outcome.words:
        print(f"utterance {number}/{count} failed: {outcome.error}", flush=True)
        return outcome
    done = f"{len(outcome.words)} words" + (
        f" (some parts failed: {outcome.error})" if outcome.error else ""
    )
    sampled = " (a sample of its chunks, for the adaptation)" if outcome.partial else ""
    print(f"utterance {number}/{count}: {done}{sampled}", flush=True)
    return outcome


def _adaptation_tools(request: dict[str, Any], notes: list[str]) -> adaptation.Tools | None:
    """The adaptation's tools, or None when it is off or they are missing (noted)."""
    if not request.get("adapt", True):
        return None
    try:
        return adaptation.find_tools()
    except adaptation.AdaptationUnavailable as exc:
        _note(notes, f"speaker adaptation skipped: {exc}")
        return None


def _note(notes: list[str], line: str) -> None:
    notes.append(line)
    print(line, flush=True)


def _first_pass_shares(aligner: _UtteranceAligner, utterances: list[dict[str, Any]]) -> list[float]:
    """The share of each utterance's chunks the first pass aligns: all of a short one; of a
    speaker's long ones, enough for ``adaptation.MAX_SECONDS`` (the second pass aligns them
    all, so a 60-minute reading is not aligned twice)."""
    long_seconds: dict[str, float] = {}
    for utterance in utterances:
        if aligner.is_long(utterance):
            speaker = utterance.get("speaker", "")
            seconds = utterance["end"] - utterance["start"]
            long_seconds[speaker] = long_seconds.get(speaker, 0.0) + seconds
    return [
        min(1.0, adaptation.MAX_SECONDS / long_seconds[u.get("speaker", "")])
        if aligner.is_long(u)
        else 1.0
        for u in utterances
    ]


def _adapt_speakers(
    request: dict[str, Any],
    options: dict[str, Any],
    first: _UtteranceAligner,
    outcomes: list[_Outcome],
    tools: adaptation.Tools,
    notes: list[str],
) -> None:
    """Align each speaker's utterances again with a model adapted to that speaker
    (engines/adaptation.py), where there is enough clean speech; the others' sampled
    utterances in full without. In place."""
    first.decoders.release()  # the first pass is done: adapted decoders from here
    utterances = request["utterances"]
    speakers: dict[str, list[int]] = {}
    for index, utterance in enumerate(utterances):
        speakers.setdefault(utterance.get("speaker", ""), []).append(index)
    with tempfile.TemporaryDirectory(prefix="autophon-adaptation-") as scratch:
        adapter = adaptation.SpeakerAdapter(
            Path(request["hmm"]), Path(request["dict"]), Path(scratch), tools
        )
        for number, (speaker, indices) in enumerate(speakers.items()):
            name = f"speaker {speaker}" if speaker else "the speaker"
            try:
                transform = _speaker_transform(
                    adapter, f"speaker{number}", first, [(i, outcomes[i]) for i in indices]
                )
            except adaptation.AdaptationUnavailable as exc:
                _note(notes, f"{name}: not adapted ({exc})")
                for i in indices:
                    if outcomes[i].partial:
                        outcomes[i] = _align_logged(first, utterances[i], i + 1, len(utterances))
                    else:  # no second pass
                        first.progress.advance(utterances[i]["end"] - utterances[i]["start"])
                continue
            _note(
                notes,
                f"{name}: adapted (MLLR) on {transform.seconds:.0f} s of speech in "
                f"{transform.took:.1f} s; aligning again",
            )
            again = _UtteranceAligner(
                _Decoders({**options, "mllr": str(transform.path)}),
                first.recording,
                first.request,
                first.plans,
                first.progress,
            )
            for i in indices:
                second = _align_logged(again, utterances[i], i + 1, len(utterances))
                if outcomes[i].partial or len(second.words) >= len(outcomes[i].words):
                    outcomes[i] = second


@dataclass(frozen=True)
class _Transform:
    path: Path
    seconds: float  # of speech it was estimated on
    took: float  # s


def _speaker_transform(
    adapter: adaptation.SpeakerAdapter,
    name: str,
    first: _UtteranceAligner,
    outcomes: list[tuple[int, _Outcome]],
) -> _Transform:
    """The speaker's MLLR transform from the first pass's ``outcomes`` (index, outcome);
    AdaptationUnavailable saying why there is none."""
    aligned = [(i, o) for i, o in outcomes if o.words]
    refusal = _not_adaptable([o for _, o in aligned])
    if refusal:
        raise adaptation.AdaptationUnavailable(refusal)
    utterances = first.request["utterances"]
    chosen = adaptation.spread(
        [
            stretch
            for i, outcome in aligned
            for stretch in adaptation.stretches(
                outcome.words, utterances[i]["start"], utterances[i]["end"]
            )
        ]
    )
    started = time.monotonic()
    path = adapter.transform(name, first.recording, chosen, partial(_as_heard, rate=first.rate))
    return _Transform(path, sum(s.seconds for s in chosen), time.monotonic() - started)


def _not_adaptable(aligned: list[_Outcome]) -> str | None:
    """Why a speaker with these aligned utterances is not adapted (None: it is)."""
    speech = sum(w["end"] - w["start"] for outcome in aligned for w in outcome.words)
    if speech < adaptation.MIN_SECONDS:
        return f"{speech:.1f} s of aligned speech, {adaptation.MIN_SECONDS:g} s needed"
    levels = sorted(outcome.level_db or 0.0 for outcome in aligned)
    level = levels[len(levels) // 2]
    if level < adaptation.MIN_LEVEL_DB:
        return f"speech {level:.0f} dB above the pauses, {adaptation.MIN_LEVEL_DB:g} dB needed"
    return None


class _Decoders:
    """A decoder for each of the Beams, each also with silence made likelier (for words that
    took in a pause), made when first needed.

    A search that loses the path ("Final result does not match the grammar") is tried again
    with the next Beams. A decoder whose search failed is replaced, never reused."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self._made: dict[tuple[Beams, bool], Any] = {}

    def get(self, beams: Beams, pauses: bool = False) -> Any:
        if (beams, pauses) not in self._made:
            from pocketsphinx import Decoder

            options = _widened(self.options, BEAM_WIDTHS[beams])
            if pauses:
                options = {**options, "silprob": MENDING_SILPROB}
            self._made[beams, pauses] = Decoder(**options)
        return self._made[beams, pauses]

    def discard(self, beams: Beams, pauses: bool = False) -> None:
        self._made.pop((beams, pauses), None)

    def release(self) -> None:
        """Free every decoder (each holds the model: tens of MiB)."""
        self._made.clear()


def _widened(options: dict[str, Any], widths: dict[str, float]) -> dict[str, Any]:
    """``options`` with each beam at least as wide as in ``widths`` (a language's own beams
    may already be wider: engines/ipa.py)."""
    return {**options, **{k: min(v, options.get(k, v)) for k, v in widths.items()}}


class _UtteranceAligner:
    """Aligns one utterance: whole when short, in chunks cut at pauses when long."""

    def __init__(
        self,
        decoders: _Decoders,
        recording: wave.Wave_read,
        request: dict[str, Any],
        plans: dict[tuple[float, float], list[Chunk]] | None = None,
        progress: _Progress | None = None,
    ) -> None:
        self.decoders = decoders
        self.recording = recording
        self.rate = recording.getframerate()
        self.total = recording.getnframes()
        self.request = request
        self.max_chunk = float(request.get("max_chunk_seconds", MAX_CHUNK_SECONDS))
        self.whole_up_to = float(request.get("whole_up_to_seconds", WHOLE_UP_TO_SECONDS))
        self.window = float(request.get("word_window_seconds", WORD_WINDOW_SECONDS))
        # Each long utterance's chunks, planned once: an adapted second pass reuses them.
        self.plans = {} if plans is None else plans
        self.progress = _Progress(None) if progress is None else progress

    def is_long(self, utterance: dict[str, Any]) -> bool:
        """Whether ``utterance`` is aligned in chunks."""
        return utterance["end"] - utterance["start"] > max(self.whole_up_to, self.max_chunk)

    def align(self, utterance: dict[str, Any], share: float = 1.0) -> _Outcome:
        """The aligned words, the error of a part that failed (None when none did) and the
        median speech level of the parts; of a long utterance only ``share`` of its chunks,
        spread over it, when ``share`` < 1."""
        if not self.is_long(utterance):
            words, level = self._both_passes(utterance)
            self.progress.advance(utterance["end"] - utterance["start"])
            return _Outcome(self._mend(utterance, words), None, level)
        key = (utterance["start"], utterance["end"])
        words = utterance["text"].split()
        if key not in self.plans:
            windows = (
                [self.window, self.max_chunk] if self.window > self.max_chunk else [self.window]
            )
            self.plans[key] = self._plan(utterance, windows)
        chunks = _sample(self.plans[key], share)
        # Runs of consecutive chunks aligned (part, words): mended as one, across the seams.
        runs: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        levels: list[float] = []
        errors: list[str] = []
        last = -1
        for chunk in chunks:
            part = {
                "start": utterance["start"] + chunk.start,
                "end": utterance["start"] + chunk.end,
                "text": " ".join(words[chunk.first : chunk.last]),
            }
            try:
                part_words, level = self._both_passes(part)
            except (RuntimeError, ValueError) as exc:
                errors.append(f"{part['start']:.1f}-{part['end']:.1f} s: {exc}")
                continue
            finally:
                self.progress.advance(chunk.end - chunk.start)
            if runs and chunk.first == last:
                run, run_words = runs[-1]
                run["end"], run["text"] = part["end"], f"{run['text']} {part['text']}"
                run_words.extend(part_words)
            else:
                runs.append((part, part_words))
            last = chunk.last
            levels.append(level)
        aligned = [word for run, run_words in runs for word in self._mend(run, run_words)]
        if not aligned and errors:
            raise RuntimeError(errors[0])
        median = sorted(levels)[len(levels) // 2] if levels else None
        partial = len(chunks) < len(self.plans[key])
        return _Outcome(aligned, "; ".join(errors) or None, median, partial)

    def _both_passes(
        self, part: dict[str, Any], tries: tuple[Beams, ...] = tuple(Beams), pauses: bool = False
    ) -> tuple[list[dict[str, Any]], float]:
        """Both passes over ``part``, with each of ``tries`` in turn until one finds the path;
        silence made likelier when ``pauses``."""
        for beams in tries:
            if beams == Beams.UNPRUNED and beams != tries[0]:
                print(UNPRUNED_NOTE.format(part["start"], part["end"]), flush=True)
            try:
                return _align_one(
                    self.decoders.get(beams, pauses),
                    self.recording,
                    self.rate,
                    self.total,
                    part,
                    self.request,
                )
            except _NoPath:
                self.decoders.discard(beams, pauses)
                if beams == tries[-1]:
                    raise
            except (RuntimeError, ValueError):
                self.decoders.discard(beams, pauses)
                raise
        raise AssertionError("unreachable")

    def _mend(self, part: dict[str, Any], words: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``words`` (all of ``part``'s), where each word misplaced at a pause (_misplaced)
        has been aligned again with the words beside it, between the words around them and
        with silence made likelier; the new alignment is kept when no word in it looks
        misplaced."""
        texts = part["text"].split()
        for k, word in enumerate(words):
            why = _misplaced(words, k)
            if why is None:
                continue
            lo, hi = max(0, k - 1), min(len(words), k + 2)
            window = {
                "start": words[lo - 1]["end"] if lo else part["start"],
                "end": words[hi]["start"] if hi < len(words) else part["end"],
                "text": " ".join(texts[lo:hi]),
                "after_word": lo > 0,
            }
            try:
                again, _ = self._both_passes(window, (Beams.WIDE,), pauses=True)
            except (RuntimeError, ValueError):
                continue
            mended = not any(_misplaced(again, j) for j in range(len(again)))
            if mended:
                words[lo:hi] = again
                outcome = "aligned again"
            elif trimmed := _trimmed(word):
                words[k] = trimmed
                cut = f"{TRIMMED_CONSONANT:g} s"
                outcome = (
                    f"its consonant at the pause cut to {cut} (aligning it again did not help)"
                )
            else:
                outcome = "kept (aligning it again did not help)"
            print(f"{word['label']!r} at {word['start']:.2f} s {why}: {outcome}", flush=True)
        return words

    def _plan(self, utterance: dict[str, Any], windows: list[float]) -> list[Chunk]:
        """The chunks of a long utterance, from a word pass in windows of the first length
        in ``windows`` that finds a path."""
        duration = utterance["end"] - utterance["start"]
        for number, window in enumerate(windows, start=1):
            started = time.monotonic()
            try:
                spans = self._word_spans(utterance, window)
            except _NoPath:
                if number == len(windows):
                    raise
                print(f"no path in windows of {window:g} s: trying smaller ones", flush=True)
                continue
            chunks = plan_chunks(
                duration,
                len(spans),
                gaps_between(spans),
                self.max_chunk,
                partial(self._quiet, utterance["start"], spans),
            )
            print(
                f"word pass over {duration:.0f} s: {time.monotonic() - started:.1f} s, "
                f"{len(chunks)} chunks",
                flush=True,
            )
            return chunks
        raise AssertionError("unreachable")

    def _quiet(self, offset: float, spans: list[tuple[float, float]], gap: Gap) -> bool:
        """Whether the middle half of ``gap`` (s from ``offset``; at least QUIET_FRAME) is
        QUIET_GAP_DB below the louder of the two words beside it (``spans``), each at its
        loudest QUIET_FRAME."""

        def loudest(start: float, end: float) -> float:
            first = max(0, round((offset + start) * self.rate))
            count = min(self.total, round((offset + end) * self.rate)) - first
            if count <= 0:
                return FLOOR_DB
            self.recording.setpos(first)
            samples = array("h", self.recording.readframes(count))
            energy = Energy(samples, self.rate)
            frames = range(0, max(1, round(count / self.rate / QUIET_FRAME)))
            return max(energy.db(i * QUIET_FRAME, QUIET_FRAME) for i in frames)

        before, after = spans[gap.words_before - 1], spans[gap.words_before]
        half = max(gap.length, 2 * QUIET_FRAME) / 4
        middle = loudest(gap.middle - half, gap.middle + half)
        return middle <= max(loudest(*before), loudest(*after)) - QUIET_GAP_DB

    def _word_spans(
        self, utterance: dict[str, Any], window_seconds: float
    ) -> list[tuple[float, float]]:
        """(start, end) of each word (s from the utterance's start), from a word pass in
        windows of ``window_seconds``.

        One grammar over a whole long utterance costs time with the square of its length (the
        FSG search visits every grammar state at every frame's end). So each window gets the
        next words only (twice as many as the average rate puts in it), in a grammar that may
        stop after any of them; the words found are kept up to a pause in the first three
        quarters of the window, and the next window starts in the middle of that pause with
        the next word. Time and memory are linear in the length.
        """
        start, end = _sample_range(utterance, self.rate, self.total)
        words = utterance["text"].split()
        duration = (end - start) / self.rate
        per_second = len(words) / duration
        spans: list[tuple[float, float]] = []
        offset, first, window = 0.0, 0, window_seconds
        while first < len(words):
            window_end = min(duration, offset + window)
            final = window_end >= duration
            left = len(words) - first
            count = left if final else min(left, math.ceil(2 * per_second * window) + 20)
            while True:
                found = self._window_pass(
                    words[first : first + count],
                    start + round(offset * self.rate),
                    start + round(window_end * self.rate),
                    least=None if final else int(per_second * window / SPARSEST_WINDOW),
                )
                if final or len(found) < count or count == left:
                    break
                count = min(left, 2 * count)  # all used: perhaps too few for the window
            if final:
                if len(found) != count:
                    raise RuntimeError("the aligned words do not match the transcript")
                spans += [(s + offset, e + offset) for s, e in found]
                self.progress.advance(WORD_PASS_COST * (duration - offset))
                break
            kept, cut = _keep_before(found, window_end - offset - window / 4)
            if kept == 0:  # no word ends early in the window (a long silence): widen it
                window *= 2
                continue
            spans += [(s + offset, e + offset) for s, e in found[:kept]]
            first += kept
            offset += cut
            self.progress.advance(WORD_PASS_COST * cut)
            window = window_seconds
        return spans

    def _window_pass(
        self, words: list[str], start: int, end: int, least: int | None
    ) -> list[tuple[float, float]]:
        """Word spans (s from ``start``) of ``words`` in the samples ``start:end``, read in
        blocks, or of a prefix of them unless ``least`` is None; with wide beams, and unpruned
        when those lose the path or find fewer than ``least`` words."""
        prefix = least is not None
        try:
            found = self._window_search(Beams.WIDE, words, start, end, prefix)
            if len(found) >= (least or 0):
                return found
        except _NoPath:
            pass
        print(UNPRUNED_NOTE.format(start / self.rate, end / self.rate), flush=True)
        return self._window_search(Beams.UNPRUNED, words, start, end, prefix)

    def _window_search(
        self, beams: Beams, words: list[str], start: int, end: int, prefix: bool
    ) -> list[tuple[float, float]]:
        decoder = self.decoders.get(beams)
        last = len(words)
        transitions: list[tuple[Any, ...]] = [(i, i + 1, 1.0, w) for i, w in enumerate(words)]
        if prefix:
            transitions += [(i, last, 1.0) for i in range(1, last)]
        try:
            grammar = decoder.create_fsg("window", 0, last, transitions)
            decoder.add_fsg("window", grammar)
            decoder.activate_search("window")
            decoder.start_utt()
            pad = _NOISE[: round(PAD * self.rate)].tobytes()
            decoder.process_raw(pad)
            self.recording.setpos(start)
            for block in range(start, end, BLOCK_FRAMES):
                samples = array("h", self.recording.readframes(min(BLOCK_FRAMES, end - block)))
                decoder.process_raw(_fill_digital_silence(samples).tobytes())
            decoder.process_raw(pad)
            decoder.end_utt()
            if decoder.hyp() is None:
                raise _NoPath("no path through the words was found")
        except RuntimeError:
            self.decoders.discard(beams)
            raise
        frate = int(decoder.config["frate"])
        return [
            (s.start_frame / frate - PAD, (s.end_frame + 1) / frate - PAD)
            for s in decoder.seg()
            if not s.word.startswith(("<", "[", "("))
        ]


def _misplaced(words: list[dict[str, Any]], k: int) -> str | None:
    """Why ``words[k]`` looks misplaced at a pause, or None: a consonant of it aligned longer
    than LONGEST_CONSONANT (a stop, LONGEST_STOP), or it is short (SHORT_WORD_PHONES), joined
    to the word before it and followed by a pause."""
    word = words[k]
    if any(_took_in_pause(*phone) for phone in word["phones"]):
        return "took in a pause"
    if (
        0 < k < len(words) - 1
        and len(word["phones"]) <= SHORT_WORD_PHONES
        and word["start"] - words[k - 1]["end"] < MIN_GAP
        and words[k + 1]["start"] - word["end"] >= MIN_CUT_PAUSE
    ):
        return "is short and ends at a pause"
    return None


def _trimmed(word: dict[str, Any]) -> dict[str, Any] | None:
    """``word`` with its first or last phone, where it is a consonant that took in a pause
    (_took_in_pause), cut to TRIMMED_CONSONANT next to the rest of the word; None when neither
    is."""
    phones = [list(phone) for phone in word["phones"]]
    first, last = phones[0], phones[-1]
    cut_first, cut_last = _took_in_pause(*first), _took_in_pause(*last)
    if not (cut_first or cut_last):
        return None
    if cut_first:
        first[1] = first[2] - TRIMMED_CONSONANT
    if cut_last:
        last[2] = last[1] + TRIMMED_CONSONANT
    return {**word, "start": first[1], "end": last[2], "phones": phones}


def _took_in_pause(label: str, start: float, end: float) -> bool:
    """Whether a phone aligned from ``start`` to ``end`` took in a pause: a consonant longer
    than LONGEST_CONSONANT (a stop, LONGEST_STOP)."""
    longest = LONGEST_STOP if label in arpabet.STOPS else LONGEST_CONSONANT
    return label in arpabet.CONSONANTS and end - start > longest


def _sample(chunks: list[Chunk], share: float) -> list[Chunk]:
    """About ``share`` of ``chunks``, evenly spaced over them; all when ``share`` >= 1."""
    if share >= 1:
        return chunks
    count = max(1, round(share * len(chunks)))
    return [chunks[int((j + 0.5) * len(chunks) / count)] for j in range(count)]


def _keep_before(spans: list[tuple[float, float]], limit: float) -> tuple[int, float]:
    """How many of ``spans`` to keep, and where to cut after them: in the middle of the last
    pause (of at least MIN_CUT_PAUSE s) that starts before ``limit``, else of the longest gap
    between words there. (0, 0.0) when no word ends before ``limit``."""
    gaps = [
        (i, spans[i - 1][1], spans[i][0]) for i in range(1, len(spans)) if spans[i - 1][1] <= limit
    ]
    if not gaps:
        return 0, 0.0
    pauses = [g for g in gaps if g[2] - g[1] >= MIN_CUT_PAUSE]
    kept, pause_start, pause_end = pauses[-1] if pauses else max(gaps, key=lambda g: g[2] - g[1])
    return kept, (pause_start + max(pause_start, pause_end)) / 2


class _NoPath(RuntimeError):
    """The word pass found no path through the transcript's words."""


def _sample_range(utterance: dict[str, Any], rate: int, total: int) -> tuple[int, int]:
    start = max(0, round(utterance["start"] * rate))
    end = min(total, round(utterance["end"] * rate))
    if (end - start) / rate < MIN_UTTERANCE:
        raise ValueError("the interval is too short to align")
    return start, end


def _align_one(
    decoder: Any,
    recording: wave.Wave_read,
    rate: int,
    total: int,
    utterance: dict[str, Any],
    request: dict[str, Any],
) -> tuple[list[dict[str, Any]], float]:
    """The aligned words of ``utterance`` and its speech level over its pauses (dB)."""
    start, end = _sample_range(utterance, rate, total)
    recording.setpos(start)
    # WAV samples are little-endian, as are the machines we run on (x86-64, arm64).
    padded = _as_heard(array("h", recording.readframes(end - start)), rate)
    data = padded.tobytes()

    decoder.set_align_text(utterance["text"])
    decoder.start_utt()
    decoder.process_raw(data, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        raise _NoPath("no path through the words was found")
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(data, full_utt=True)
    decoder.end_utt()
    alignment = decoder.get_alignment()
    if alignment is None:
        raise RuntimeError("the phone alignment failed")
    frate = int(decoder.config["frate"])
    words: list[Segment] = []
    entries: list[str] = []
    # Read each entry's phones while iterating: entries do not outlive the iteration.
    for entry in alignment:
        if entry.name.startswith(("<", "[")):
            continue
        phones = [Segment(p.name, p.start / frate, (p.start + p.duration) / frate) for p in entry]
        label = _ALTERNATE_RE.sub("", entry.name)
        words.append(
            Segment(label, entry.start / frate, (entry.start + entry.duration) / frate, phones)
        )
        entries.append(entry.name)
    expected = utterance["text"].split()
    if [w.label for w in words] != expected or any(not w.phones for w in words):
        raise RuntimeError("the aligned words do not match the transcript")
    levels = levels_of(words, padded, rate)
    if request.get("refine", True):
        # A stretch aligned again (_mend) starts where a word ends: PAD into ``padded``.
        word_before = PAD if utterance.get("after_word") else None
        refine_words(words, padded, rate, levels, word_before)
        if request.get("vowel_onset_lead", True):
            advance_vowel_onsets(words)
    offset = start / rate - PAD
    lo, hi = start / rate, end / rate
    aligned = [_absolute(w, e, offset, lo, hi) for w, e in zip(words, entries, strict=True)]
    return aligned, levels.difference


def _as_heard(samples: array[int], rate: int) -> array[int]:
    """``samples`` as the decoder gets them: padded with PAD s of low-level noise on each
    side, digital silence filled."""
    pad = _NOISE[: round(PAD * rate)]
    return pad + _fill_digital_silence(samples) + pad


def _absolute(word: Segment, entry: str, offset: float, lo: float, hi: float) -> dict[str, Any]:
    """``word`` in seconds of the recording; "entry" is the dictionary entry it was aligned
    with ("word(2)" for the second pronunciation), for speaker adaptation."""

    def clip(t: float) -> float:
        return round(min(max(t + offset, lo), hi), 4)

    return {
        "label": word.label,
        "entry": entry,
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
