"""The arrival pattern of the pickup-latency figure, and how commit times are taken.

Sparse arrivals at random gaps (a seeded RNG, so every run and every system sees the same
gaps), then bursts of tasks created back to back. Each system under test gets its own
producer thread following the same schedule, shifted by a small offset so that no two
systems create tasks at the same instant.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from autophon_core.notify import NotificationHub, Notifier


@dataclass(frozen=True)
class Arrival:
    at: float  # seconds after the start of the schedule
    kind: str  # "sparse" or "burst"


@dataclass(frozen=True)
class Pattern:
    sparse: int
    gap_min: float
    gap_max: float
    bursts: int
    burst_size: int
    burst_gap: float


def schedule(pattern: Pattern, seed: int = 20261125) -> list[Arrival]:
    rng = random.Random(seed)
    arrivals: list[Arrival] = []
    at = 0.0
    for _ in range(pattern.sparse):
        at += rng.uniform(pattern.gap_min, pattern.gap_max)
        arrivals.append(Arrival(at, "sparse"))
    for _ in range(pattern.bursts):
        at += pattern.burst_gap
        arrivals.extend(Arrival(at, "burst") for _ in range(pattern.burst_size))
    return arrivals


class StampingNotifier:
    """Wraps a producer's notifier to take the commit time of a state change.

    The queue notifies a stage's channel right after committing the change that made a task
    claimable (``create`` for the upload stage, ``mark_uploaded`` for alignment), so the
    first notification on ``channel`` after ``expect(task_id)`` is stamped with
    ``time.monotonic()`` before being passed on."""

    def __init__(self, inner: Notifier, channel: str) -> None:
        self.inner = inner
        self.channel = channel
        self.committed: dict[str, float] = {}
        self._pending: str | None = None

    @property
    def hub(self) -> NotificationHub:
        return self.inner.hub

    def expect(self, task_id: str) -> None:
        self._pending = task_id

    def in_transaction(self, connection: Connection, channels: Sequence[str]) -> None:
        self.inner.in_transaction(connection, channels)

    def after_commit(self, channels: Sequence[str]) -> None:
        if self.channel in channels and self._pending is not None:
            self.committed[self._pending] = time.monotonic()
            self._pending = None
        self.inner.after_commit(channels)

    def close(self) -> None:
        """The inner notifier belongs to its runtime, which closes it."""


def drive(
    arrivals: Sequence[Arrival],
    start: float,
    arrive: Callable[[], str],
    kinds: dict[str, str],
    errors: list[BaseException],
) -> threading.Thread:
    """Start a thread calling ``arrive()`` at ``start + arrival.at`` for each arrival
    (``start`` on the time.monotonic() clock), recording each new task's kind in ``kinds``;
    exceptions are appended to ``errors``."""

    def run() -> None:
        try:
            for arrival in arrivals:
                delay = start + arrival.at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                kinds[arrive()] = arrival.kind
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, name="producer", daemon=True)
    thread.start()
    return thread
