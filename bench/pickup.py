"""Figure 1: pickup latency, from the commit that made a task claimable to its claim.

Four systems run side by side, each on its own fresh database and its own producer following
the same arrival pattern (sparse arrivals at random gaps, then bursts): our upload worker and
our controller on PostgreSQL, our upload worker on SQLite (as ``autophon local``), and the
original workers' polling (:mod:`bench.baseline`) on PostgreSQL. Commit and claim times are
both taken with time.monotonic() in this process (see :mod:`bench.pickup_systems`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from bench.arrivals import Pattern, drive, schedule
from bench.databases import sqlite_database
from bench.env import BenchEnv, bench_settings
from bench.pickup_systems import (
    ControllerSystem,
    OriginalSystem,
    PickupSystem,
    UploadWorkerSystem,
)
from bench.report import Figure, percentile

FULL = Pattern(sparse=24, gap_min=1.0, gap_max=5.0, bursts=3, burst_size=10, burst_gap=3.0)
QUICK = Pattern(sparse=3, gap_min=0.6, gap_max=0.9, bursts=1, burst_size=3, burst_gap=0.8)
BASELINE = "original_poller_pg"
# Targets on PostgreSQL: absolute, and against the baseline's median.
P50_TARGET_MS = 20.0
P99_TARGET_MS = 100.0
MIN_SPEEDUP = 20.0
# After the last arrival, how long claims may still take (the baseline polls every 2 s).
DRAIN_SECONDS = 10.0


def _measure(env: BenchEnv, pattern: Pattern) -> list[tuple[PickupSystem, dict[str, str]]]:
    arrivals = schedule(pattern)
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(env.pg.database()) for _ in range(3)]
        sqlite_url = sqlite_database(env.folder("pickup-sqlite"))
        root = env.folder("pickup")
        systems: list[PickupSystem] = [
            UploadWorkerSystem("upload_pg", bench_settings(urls[0], root / "upload")),
            ControllerSystem("align_pg", bench_settings(urls[1], root / "align")),
            UploadWorkerSystem("upload_sqlite", bench_settings(sqlite_url, root / "sqlite")),
            OriginalSystem(BASELINE, bench_settings(urls[2], root / "original")),
        ]
        kinds: list[dict[str, str]] = [{} for _ in systems]
        errors: list[BaseException] = []
        try:
            for system in systems:
                system.start()
            time.sleep(env.pick(1.0, 0.5))  # LISTEN connections up, first empty claims made
            start = time.monotonic()
            stagger = pattern.gap_min / (len(systems) + 1)
            producers = [
                drive(arrivals, start + i * stagger, system.arrive, kinds[i], errors)
                for i, system in enumerate(systems)
            ]
            for producer in producers:
                producer.join(timeout=arrivals[-1].at + 60)
            deadline = time.monotonic() + DRAIN_SECONDS
            while time.monotonic() < deadline and any(
                len(s.claimed) < len(arrivals) for s in systems
            ):
                time.sleep(0.05)
        finally:
            _stop_all(systems)
        if errors:
            raise RuntimeError(f"a producer failed: {errors[0]!r}") from errors[0]
        return list(zip(systems, kinds, strict=True))


def _stop_all(systems: list[PickupSystem]) -> None:
    """Stop them in parallel (closing a PostgreSQL runtime waits up to 1 s for its LISTEN
    thread)."""
    stoppers = [threading.Thread(target=system.stop) for system in systems]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join(timeout=60)


def _latencies(system: PickupSystem, kinds: dict[str, str], kind: str | None = None) -> list[float]:
    """Milliseconds from commit to claim (a claim stamped a few microseconds before the
    producer's stamp, possible in a burst, counts as 0)."""
    return [
        max(0.0, system.claimed[task_id] - committed) * 1000
        for task_id, committed in system.committed.items()
        if task_id in system.claimed and (kind is None or kinds.get(task_id) == kind)
    ]


def run(env: BenchEnv) -> Iterator[Figure]:
    pattern: Pattern = env.pick(FULL, QUICK)
    measured = _measure(env, pattern)
    stats: dict[str, dict[str, float]] = {}
    for system, kinds in measured:
        values = _latencies(system, kinds)
        if not values:
            raise RuntimeError(f"{system.label}: no task was claimed")
        stats[system.label] = {
            "p50": percentile(values, 50),
            "p99": percentile(values, 99),
            "max": max(values),
        }
    base = stats[BASELINE]
    for system, kinds in measured:
        label, own = system.label, stats[system.label]
        sparse, burst = _latencies(system, kinds, "sparse"), _latencies(system, kinds, "burst")
        context = {
            "n": len(_latencies(system, kinds)),
            "unclaimed": len(system.committed) - len(_latencies(system, kinds)),
            "db": "sqlite" if label.endswith("sqlite") else "postgresql",
            "sparse_p50_ms": percentile(sparse, 50) if sparse else None,
            "burst_p50_ms": percentile(burst, 50) if burst else None,
            "burst_max_ms": max(burst) if burst else None,
            # autophon_task_pickup_latency_seconds' view (database timestamps: from just
            # before the producer's insert or update to the start of the claim).
            "metric_p50_ms": percentile(list(system.metric.values()), 50) * 1000
            if system.metric
            else None,
        }
        is_baseline = label == BASELINE
        targeted = label in ("upload_pg", "align_pg")
        for stat in ("p50", "p99", "max"):
            target: str | None = None
            met: bool | None = None
            if targeted and stat == "p50":
                target = f"< {P50_TARGET_MS:g} ms and <= 1/{MIN_SPEEDUP:g} of the baseline"
                met = own["p50"] < P50_TARGET_MS and own["p50"] * MIN_SPEEDUP <= base["p50"]
            elif targeted and stat == "p99":
                target = f"< {P99_TARGET_MS:g} ms"
                met = own["p99"] < P99_TARGET_MS
            yield Figure(
                name=f"pickup_{stat}_{label}",
                value=own[stat],
                unit="ms",
                baseline=None if is_baseline else base[stat],
                target=target,
                target_met=met,
                context=context,
            )
