"""The worker runtime shared by the upload worker and the controller: lease renewal, the
stats line, and a claim loop that sleeps on notifications instead of scanning the table."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from autophon_core.config import QueueConfig
from autophon_core.metrics import PICKUP_LATENCY, PROCESSING_SECONDS, TASK_FAILURES, TASKS_CLAIMED
from autophon_core.models import Stage
from autophon_core.queue import ClaimedTask, TaskQueue

log = logging.getLogger("autophon.worker")


def make_worker_id(kind: str) -> str:
    """Unique per process and start: ``kind@host:pid:random``."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaseKeeper:
    """Renews, from a background thread, the leases on the tasks a worker holds.

    ``on_lost(task_id)`` is called for a task whose lease could not be renewed because the
    task is no longer ours (cancelled, or reclaimed after this worker stalled)."""

    def __init__(
        self,
        queue: TaskQueue,
        worker_id: str,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        self._queue = queue
        self._worker_id = worker_id
        self._on_lost = on_lost
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def add(self, task_id: str) -> None:
        with self._lock:
            self._held.add(task_id)

    def discard(self, task_id: str) -> None:
        with self._lock:
            self._held.discard(task_id)

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def renew_now(self) -> None:
        held = self.held()
        if not held:
            return
        kept = self._queue.renew(sorted(held), self._worker_id)
        for task_id in held - kept:
            self.discard(task_id)
            log.warning("lease lost", extra={"task_id": task_id})
            if self._on_lost is not None:
                self._on_lost(task_id)

    def _run(self) -> None:
        interval = self._queue.config.lease_seconds / 3
        while not self._stop.wait(interval):
            try:
                self.renew_now()
            except SQLAlchemyError as exc:
                log.warning("lease renewal failed", extra={"error": str(exc)})


@dataclass
class WorkerStats:
    """The figures of the periodic "stats" line (as the original workers printed)."""

    name: str
    poll_interval: float
    processed: int = 0
    succeeded: int = 0
    failed: int = 0
    active: int = 0
    peak: int = 0
    total_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def started(self) -> None:
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)

    def finished(self, ok: bool, seconds: float) -> None:
        with self._lock:
            self.active -= 1
            self.processed += 1
            self.succeeded += ok
            self.failed += not ok
            self.total_seconds += seconds

    def log(self) -> None:
        with self._lock:
            average = self.total_seconds / self.processed if self.processed else 0.0
            log.info(
                "stats",
                extra={
                    "worker": self.name,
                    "processed": self.processed,
                    "succeeded": self.succeeded,
                    "failed": self.failed,
                    "active": self.active,
                    "peak": self.peak,
                    "average_seconds": round(average, 3),
                    "poll_interval_seconds": self.poll_interval,
                },
            )


class Ticker:
    """Calls ``action`` at most once per ``interval`` when ``tick()`` is called."""

    def __init__(self, interval: float, action: Callable[[], object]) -> None:
        self._interval = interval
        self._action = action
        self._next = time.monotonic() + interval

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self._interval
            try:
                self._action()
            except Exception:
                # Housekeeping must never end the worker's claim loop.
                log.exception("periodic action failed")


# A handler processes one claimed task (given with the claiming worker's id) and records its
# outcome through the queue. It returns None on success, or a short failure reason (a metrics
# label such as "bad_input").
TaskHandler = Callable[[ClaimedTask, str], "str | None"]


class QueueWorker:
    """Claims tasks of one stage and runs ``handler`` on each, ``concurrency`` at a time.

    Sleeps on the process's notification hub between claims (woken at once by new work) and
    polls at most once per ``poll_interval_seconds`` otherwise. On ``stop``: claims nothing
    more, lets running tasks finish within the grace period, then hands back the rest.
    """

    def __init__(
        self,
        *,
        queue: TaskQueue,
        stage: Stage,
        handler: TaskHandler,
        concurrency: int,
        name: str,
        periodic: Sequence[tuple[float, Callable[[], object]]] = (),
    ) -> None:
        self.queue = queue
        self.stage = stage
        self.handler = handler
        self.concurrency = concurrency
        self.worker_id = make_worker_id(name)
        self.config: QueueConfig = queue.config
        self.stats = WorkerStats(name=name, poll_interval=self.config.poll_interval_seconds)
        self.leases = LeaseKeeper(queue, self.worker_id)
        self._periodic = periodic
        self._slots = threading.Semaphore(concurrency)
        self._idle = threading.Condition()

    def run(self, stop: threading.Event) -> None:
        log.info(
            "worker started",
            extra={"worker": self.worker_id, "stage": self.stage, "concurrency": self.concurrency},
        )
        hub = self.queue.notifier.hub
        tickers = [
            Ticker(self.config.reap_interval_seconds, self._reap),
            Ticker(self.config.stats_interval_seconds, self.stats.log),
            *(Ticker(interval, action) for interval, action in self._periodic),
        ]
        self.leases.start()
        db_backoff = 0.5
        try:
            while not stop.is_set():
                for ticker in tickers:
                    ticker.tick()
                if not self._slots.acquire(timeout=0.5):
                    continue
                sequence = hub.sequence(self.stage)
                try:
                    task = self.queue.claim(self.stage, self.worker_id)
                    db_backoff = 0.5
                except SQLAlchemyError as exc:
                    self._slots.release()
                    log.warning("claim failed; database unreachable?", extra={"error": str(exc)})
                    stop.wait(db_backoff)
                    db_backoff = min(db_backoff * 2, 10.0)
                    continue
                if task is None:
                    self._slots.release()
                    hub.wait(self.stage, sequence, self.config.poll_interval_seconds)
                    continue
                self._claimed(task)
                # Daemon threads: a task still running after the grace period must not keep
                # the process alive (its lease is handed back below).
                threading.Thread(
                    target=self._process,
                    args=(task,),
                    name=f"{self.stage}-{task.id[:8]}",
                    daemon=True,
                ).start()
        finally:
            self._shutdown()

    def _claimed(self, task: ClaimedTask) -> None:
        TASKS_CLAIMED.labels(self.stage).inc()
        PICKUP_LATENCY.labels(self.stage).observe(task.pickup_latency)
        self.leases.add(task.id)
        self.stats.started()
        log.info(
            "task claimed",
            extra={
                "task_id": task.id,
                "stage": self.stage,
                "attempt": task.attempts,
                "pickup_latency_seconds": round(task.pickup_latency, 4),
            },
        )

    def _process(self, task: ClaimedTask) -> None:
        started = time.monotonic()
        reason: str | None = "internal"
        try:
            reason = self.handler(task, self.worker_id)
        except (OperationalError, InterfaceError) as exc:
            # The database went away while the task's outcome was being recorded: not the
            # task's fault, so it is not failed; its lease runs out and it is claimed again
            # (another attempt, within max_attempts) once the database is back.
            log.warning(
                "database unavailable; the task will be claimed again",
                extra={"task_id": task.id, "error": str(exc)},
            )
            reason = "database"
        except Exception:
            log.exception("task handler crashed", extra={"task_id": task.id})
            self._record_crash(task)
        finally:
            seconds = time.monotonic() - started
            self.leases.discard(task.id)
            PROCESSING_SECONDS.labels(self.stage).observe(seconds)
            if reason is not None:
                TASK_FAILURES.labels(self.stage, reason).inc()
            self.stats.finished(reason is None, seconds)
            self._slots.release()
            with self._idle:
                self._idle.notify_all()

    def _record_crash(self, task: ClaimedTask) -> None:
        try:
            self.queue.fail(
                task.id,
                self.worker_id,
                self.stage,
                "An internal error stopped this task; it has been logged. "
                "Please try again, or report the task id if it happens again.",
            )
        except SQLAlchemyError:
            log.exception("could not record the failure", extra={"task_id": task.id})

    def _reap(self) -> None:
        for task_id in self.queue.fail_exhausted(self.stage):
            TASK_FAILURES.labels(self.stage, "worker_lost").inc()
            log.warning("task failed after repeated worker loss", extra={"task_id": task_id})

    def _shutdown(self) -> None:
        deadline = time.monotonic() + self.config.shutdown_grace_seconds
        with self._idle:
            while self.stats.active and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
        for task_id in self.leases.held():
            self.queue.release(task_id, self.worker_id)
            log.info("task handed back", extra={"task_id": task_id})
        self.leases.stop()
        self.stats.log()
        log.info("worker stopped", extra={"worker": self.worker_id})
