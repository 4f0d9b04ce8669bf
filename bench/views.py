"""The viewer's summaries (``view/<stem>.json``): how long the runner takes to write one and
how big it is, for a minute and for an hour of speech (fox.wav repeated)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from praatio import textgrid as praatio_textgrid

from autophon_align.views import write_view
from bench.env import BenchEnv
from bench.recordings import make_recording
from bench.report import Figure


def run(env: BenchEnv) -> Iterator[Figure]:
    folder = env.folder("views")
    for label, seconds in (("minute", env.pick(60.0, 10.0)), ("hour", env.pick(3600.0, 30.0))):
        recording = make_recording(env.samples, folder, seconds, f"view-{label}")
        grid = praatio_textgrid.Textgrid(minTimestamp=0.0, maxTimestamp=recording.seconds)
        entries = [(0.0, recording.seconds, recording.transcript)]
        grid.addTier(praatio_textgrid.IntervalTier("words", entries, 0.0, recording.seconds))
        textgrid = folder / f"view-{label}.TextGrid"
        grid.save(str(textgrid), format="long_textgrid", includeBlankSpaces=True)
        view = folder / f"view-{label}.json"
        started = time.monotonic()
        write_view(view, recording.wav.name, recording.wav, textgrid)
        elapsed = time.monotonic() - started
        context = {"audio_s": recording.seconds}
        yield Figure(name=f"view_write_seconds_{label}", value=elapsed, unit="s", context=context)
        yield Figure(
            name=f"view_size_{label}",
            value=view.stat().st_size / 1024,
            unit="KiB",
            # The recording itself, as the upload worker keeps it (16 kHz mono 16-bit).
            baseline=recording.wav.stat().st_size / 1024,
            context=context,
        )
