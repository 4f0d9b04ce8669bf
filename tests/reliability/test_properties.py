"""Property-based tests (hypothesis) of name sanitising and of the transcript readers.

services/upload/tests/test_transcripts.py already checks that the readers raise nothing but
BadInputError on arbitrary text and that valid tables and TextGrids round-trip; these add:

- ``storage.safe_name``: its result is always a safe, bounded, stable single file name;
- the readers' results always satisfy what the later stages rely on (finite, increasing,
  non-overlapping intervals with clean text), and their errors name the file;
- fitting to the recording keeps every interval inside it;
- what the upload worker writes (input/<stem>.TextGrid) the runner reads back unchanged, for
  any tier names and texts the readers accept.
"""

from __future__ import annotations

import math
import os
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from autophon_align.textgrids import read_utterances
from autophon_core.lexicon import normalise_words
from autophon_core.storage import MAX_NAME_BYTES, UnsafeNameError, safe_name
from autophon_upload.processing.errors import BadInputError
from autophon_upload.processing.intervals import (
    EPSILON,
    Transcript,
    clean_text,
    fit_to_duration,
)
from autophon_upload.processing.tables import parse_table
from autophon_upload.processing.textgrids import parse_textgrid
from autophon_upload.processing.transcripts import parse_plain, write_textgrid

from . import support

pytestmark = pytest.mark.reliability

# --- safe_name ---------------------------------------------------------------------------

# Names that stress the rules: separators, dots, spaces, controls, non-ASCII, long runs.
TRICKY = ["/", "\\", ".", "..", " ", "\0", "\n", "\r", "\t", "\x7f", "\u202e", "a", "Z", "9",
          "_", "-", "é", "e\u0301", "字", "🎤", "\ufeff", "wav", "\u1100", "\u1161"]  # fmt: skip
tricky_names = st.lists(st.sampled_from(TRICKY), max_size=40).map("".join)
# Long enough to be truncated, in the stem or in the extension, with spaces and dots where
# the cut may fall.
plain_run = st.text(st.sampled_from(["a", " ", "é", "字", "-", "_", "🎤"]), min_size=1, max_size=30)
long_names = st.one_of(
    st.lists(st.sampled_from(TRICKY), min_size=150, max_size=260).map("".join),
    st.builds(
        lambda parts, ext: ".".join(parts) + ext,
        st.lists(plain_run, min_size=1, max_size=20),
        st.sampled_from(["", ".wav", ". wav", ".w a v"]),
    ),
    st.builds(lambda stem, ext: stem + "." + ext, plain_run, plain_run.map(lambda r: r * 3)),
)
any_name = st.one_of(st.text(max_size=300), st.binary(max_size=300), tricky_names, long_names)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(any_name)
def test_safe_name_is_a_safe_bounded_stable_file_name(name: str | bytes) -> None:
    try:
        result = safe_name(name)
    except UnsafeNameError:
        return
    assert "/" not in result and "\\" not in result and "\0" not in result
    assert not any(unicodedata.category(ch).startswith("C") for ch in result), repr(result)
    assert result not in ("", ".", "..")
    assert result == result.strip(" ."), repr(result)  # no hidden or trailing-dot names
    assert len(result.encode("utf-8")) <= MAX_NAME_BYTES
    assert safe_name(result) == result  # idempotent
    # Joined to a folder it names an entry of that folder, nothing else.
    folder = os.path.join(os.sep, "srv", "tasks", "0123")
    assert os.path.dirname(os.path.normpath(os.path.join(folder, result))) == folder
    assert os.path.basename(os.path.join(folder, result)) == result


# --- transcripts -------------------------------------------------------------------------

times = st.one_of(
    st.integers(-2000, 20000).map(lambda ms: ms / 1000),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
)
words = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=30)
tier_names = st.text(st.characters(exclude_categories=["Cs", "Cc"]), min_size=0, max_size=12)


def check_transcript_invariants(transcript: Transcript) -> None:
    """What the later stages rely on in a transcript a reader returned."""
    assert transcript.intervals, "a transcript without text was accepted"
    names = [tier.name for tier in transcript.tiers]
    assert len(set(names)) == len(names) and all(names)
    for tier in transcript.tiers:
        for interval in tier.intervals:
            assert 0 <= interval.start < interval.end, interval
            assert math.isfinite(interval.start) and not math.isnan(interval.end)
            assert interval.text and interval.text == clean_text(interval.text)
        for before, after in zip(tier.intervals, tier.intervals[1:], strict=False):
            assert before.end <= after.start + EPSILON, (before, after)


interval_lists = st.lists(st.tuples(times, times, words), max_size=6)
tier_lists = st.lists(st.tuples(tier_names, interval_lists), min_size=0, max_size=3)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(tier_lists, st.sampled_from([3.4, 100.0]))
def test_textgrid_reader_returns_a_checked_transcript_or_names_the_file(
    tiers: list[tuple[str, list[tuple[float, float, str]]]], xmax: float
) -> None:
    try:
        transcript = parse_textgrid(support.long_textgrid(tiers, xmax), "talk.TextGrid")
    except BadInputError as exc:
        assert str(exc).startswith("talk.TextGrid"), str(exc)
        return
    check_transcript_invariants(transcript)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "speaker 3"]), times, times, words),
        max_size=8,
    ),
    st.booleans(),
    st.sampled_from(["\t", ","]),
)
def test_table_reader_returns_a_checked_transcript_or_names_the_file(
    rows: list[tuple[str, float, float, str]], with_tiers: bool, separator: str
) -> None:
    name = "talk.tsv" if separator == "\t" else "talk.csv"

    def field(value: str) -> str:
        if separator == ",":
            return '"' + value.replace('"', '""') + '"'
        return value.replace("\t", " ").replace("\n", " ").replace("\r", " ")

    lines = []
    for tier, start, end, text in rows:
        fields = [str(start), str(end), field(text)]
        lines.append(separator.join([tier, *fields] if with_tiers else fields))
    try:
        transcript = parse_table("\n".join(lines) + "\n", name)
    except BadInputError as exc:
        assert str(exc).startswith(name), str(exc)
        return
    check_transcript_invariants(transcript)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.integers(0, 8000), st.integers(1, 3000), words), min_size=1,
             max_size=6),
    st.integers(1, 10000),
)  # fmt: skip
def test_fitting_keeps_every_interval_inside_the_recording(
    spans: list[tuple[int, int, str]], duration_ms: int
) -> None:
    # Consecutive, non-overlapping intervals from the drawn gaps and lengths.
    rows, clock = [], 0
    for gap, length, text in spans:
        start = clock + gap
        rows.append(f"{start / 1000}\t{(start + length) / 1000}\t{text}")
        clock = start + length
    try:
        transcript = parse_table("\n".join(rows) + "\n", "fit.tsv")
    except BadInputError:
        return
    duration = duration_ms / 1000
    warnings: list[str] = []
    try:
        fitted = fit_to_duration(transcript, duration, "fit.wav", warnings.append)
    except BadInputError as exc:
        assert "fit.tsv" in str(exc) and "fit.wav" in str(exc)
        return
    check_transcript_invariants(fitted)
    assert all(0 <= i.start < i.end <= duration for i in fitted.intervals)


@st.composite
def valid_tiers(draw: st.DrawFn) -> list[tuple[str, list[tuple[float, float, str]]]]:
    """Speaker tiers a reader accepts: distinct names, increasing intervals, any text."""
    names = draw(
        st.lists(tier_names.filter(lambda n: clean_text(n) != ""), min_size=1, max_size=3,
                 unique_by=clean_text)
    )  # fmt: skip
    tiers = []
    for name in names:
        intervals, clock = [], 0
        for _ in range(draw(st.integers(1, 5))):
            start = clock + draw(st.integers(0, 3000))
            end = start + draw(st.integers(1, 3000))
            intervals.append((start / 1000, end / 1000, draw(words)))
            clock = end
        tiers.append((name, intervals))
    return tiers


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(valid_tiers(), st.sampled_from([3.4, 30.0]))
def test_what_the_upload_worker_writes_the_runner_reads_back(
    tiers: list[tuple[str, list[tuple[float, float, str]]]], duration: float
) -> None:
    """Any TextGrid transcript the upload worker accepts reaches the runner intact: the same
    speaker tiers (by name, in order) and the same utterances."""
    try:
        transcript = parse_textgrid(support.long_textgrid(tiers, 30.0), "talk.TextGrid")
        fitted = fit_to_duration(transcript, duration, "talk.wav", lambda _: None)
    except BadInputError:
        return  # refused with a message (no text, no text within the recording...)
    order = [tier.name for tier in fitted.tiers]
    expected = [
        (tier.name, interval.start, interval.end, " ".join(normalise_words(interval.text)))
        for tier in fitted.tiers
        for interval in tier.intervals
        if normalise_words(interval.text)
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "talk.TextGrid"
        write_textgrid(fitted, duration, path)
        utterances = read_utterances(path, order, duration, False)
    assert [(u.speaker, u.start, u.end, u.text) for u in utterances] == expected


@settings(max_examples=200)
@given(words)
@example("item[")  # praatio's reader once split the TextGrid there
@example("the intervals [2] and points [3]")
def test_a_plain_transcript_reaches_the_runner_intact(text: str) -> None:
    try:
        fitted = fit_to_duration(parse_plain(text, "p.txt"), 3.4, "p.wav", lambda _: None)
    except BadInputError as exc:
        assert str(exc).startswith("p.txt")
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.TextGrid"
        write_textgrid(fitted, 3.4, path)
        utterances = read_utterances(path, ["text"], 3.4, True)
    expected = normalise_words(clean_text(text))
    assert [u.text for u in utterances] == ([" ".join(expected)] if expected else [])
