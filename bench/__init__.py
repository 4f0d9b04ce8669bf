"""AutoPhon's benchmarks (``make bench``, i.e. ``python -m bench``).

Each figure module measures one figure family against real PostgreSQL (a fresh database it
creates and drops) or SQLite, and yields :class:`bench.report.Figure` objects; ``python -m
bench`` prints one JSON object per line per figure, then a table. Ours and the baseline (a
re-creation of the original workers' polling, :mod:`bench.baseline`) run in the same run, so
the ratios are comparable even on a noisy machine.
"""

from __future__ import annotations
