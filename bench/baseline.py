"""The baseline: a worker that claims work the way the original AutoPhon workers did.

It mirrors the original upload worker's README, ``shared/seeds/000_b926a8aa05e46492.txt``:

- "Worker polls database every 100ms-2s for tasks with status='uploading'" (Processing Flow,
  step 1), with the constants of its "Real-time polling configuration" block::

      MIN_POLL_INTERVAL = 0.1  # 100ms for instant response
      MAX_POLL_INTERVAL = 2.0  # 2s maximum when idle
      POLL_BACKOFF_FACTOR = 1.3  # Gentle backoff

- "Tasks are processed concurrently using ThreadPoolExecutor (3 workers)" (step 2).

The README does not say when the interval comes back down. We take the usual reading, which
its stats line also suggests ("Poll Interval: 0.100s" on a busy worker): back to the minimum
after a poll that found work, multiplied by 1.3 (up to the maximum) after each empty poll.

As ``shared/ORIGINAL.md`` describes ("every worker scanned the whole table every 0.1-2 s
whether or not there was work"; "No atomic claim"), there are no notifications and no atomic
claim: a poll is a plain ``SELECT`` of the waiting tasks, then one ``UPDATE`` per task taking
it. Two choices favour the baseline: every waiting task is taken in one poll (not only as many
as there are free threads), and the same fast loop stands in for the alignment stage, whose
original worker polled more slowly ("Dynamic Polling: ... (1-30 seconds)", seeds/001_...).

It runs on our schema (the ``tasks`` table) so that both sides share everything but the
claiming. The SQL is here, not in ``autophon_core.queue``, because it is not ours.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine, select, update

from autophon_core.models import Task, TaskStatus, utcnow

MIN_POLL_INTERVAL = 0.1
MAX_POLL_INTERVAL = 2.0
POLL_BACKOFF_FACTOR = 1.3
WORKER_THREADS = 3

TASKS = Task.__table__

# Called with the task id and time.monotonic() right after the claim committed.
OnClaim = Callable[[str, float], None]


def next_interval(interval: float, found_work: bool) -> float:
    """The original's dynamic interval: the minimum after work, x1.3 up to 2 s when idle."""
    if found_work:
        return MIN_POLL_INTERVAL
    return min(interval * POLL_BACKOFF_FACTOR, MAX_POLL_INTERVAL)


class OriginalPoller:
    """Polls for ``uploading`` tasks and marks each ``uploaded`` (a no-op body)."""

    def __init__(self, engine: Engine, on_claim: OnClaim | None = None) -> None:
        self.engine = engine
        self.on_claim = on_claim
        self.worker_id = f"original-poller-{id(self):x}"
        self.polls = 0

    def run(self, stop: threading.Event) -> None:
        interval = MIN_POLL_INTERVAL
        with ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="original") as pool:
            while not stop.is_set():
                found = self.poll(pool)
                interval = next_interval(interval, found)
                stop.wait(interval)

    def poll(self, pool: ThreadPoolExecutor) -> bool:
        """One scan; True when it found work."""
        self.polls += 1
        with self.engine.connect() as connection:
            waiting = connection.execute(
                select(TASKS.c.id)
                .where(TASKS.c.status == TaskStatus.UPLOADING, TASKS.c.lease_owner.is_(None))
                .order_by(TASKS.c.created_at)
            ).scalars()
            task_ids = list(waiting)
        for task_id in task_ids:
            # Not atomic: nothing stops a second worker from taking the same task.
            with self.engine.begin() as connection:
                connection.execute(
                    update(TASKS)
                    .where(TASKS.c.id == task_id)
                    .values(lease_owner=self.worker_id, updated_at=utcnow())
                )
            if self.on_claim is not None:
                self.on_claim(task_id, time.monotonic())
            pool.submit(self._process, task_id)
        return bool(task_ids)

    def _process(self, task_id: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(TASKS)
                .where(TASKS.c.id == task_id)
                .values(status=TaskStatus.UPLOADED, lease_owner=None, updated_at=utcnow())
            )
