"""The alignment controller: claims 'uploaded' tasks and makes sure each has one Job.

Shaped like Kubernetes' sample-controller, with the task id as the key; the task row is the
desired state, the Job the actual one:

- the claim loop (the thread calling :meth:`Controller.run`) claims tasks while fewer than
  ``max_concurrent_jobs`` Jobs exist, holds their leases, launches their Jobs and enqueues
  them; it sleeps on the notification hub, polling as a fallback;
- event sources only enqueue task ids: the launcher's watch, a periodic resync (every Job
  plus every task held), lost leases, the reaper;
- one sync worker runs :meth:`Reconciler.sync <autophon_align.reconcile.Reconciler.sync>`
  for each id; a failed sync is requeued with back-off, a successful one forgotten.

Launching is idempotent (Job names are derived from task ids, a second launch adopts), and
claims are atomic, so several controllers on one database never run a task twice. On
shutdown the controller stops claiming and hands its tasks back (``queue.release``) without
deleting their Jobs, so whoever claims them next adopts them; local Jobs are the exception:
they are child processes of this one, so they are stopped first (see
:class:`~autophon_align.launchers.ChildProcessJobs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from autophon_align.launchers import ChildProcessJobs, make_launcher
from autophon_align.launchers.base import Launcher
from autophon_align.reconcile import HeldTasks, Reconciler
from autophon_align.workqueue import WorkQueue
from autophon_core.metrics import (
    JOBS_ACTIVE,
    PICKUP_LATENCY,
    TASK_FAILURES,
    TASKS_CLAIMED,
    serve_metrics,
)
from autophon_core.migrate import readiness_problem
from autophon_core.models import Stage
from autophon_core.queue import ClaimedTask
from autophon_core.runtime import Runtime
from autophon_core.worker import LeaseKeeper, Ticker, WorkerStats, make_worker_id

log = logging.getLogger("autophon.controller")

STAGE = Stage.ALIGN
# Consecutive failed syncs of a held task before it is handed back for another attempt
# (e.g. its Job can never be created); with the work queue's back-off, about two minutes.
SYNC_RETRY_LIMIT = 10
# Back-off of the claim loop while the database or the cluster cannot be reached.
ERROR_BACKOFF_START = 0.5
ERROR_BACKOFF_MAX = 10.0
# How long the sync worker waits for a key before looking at the halt flag again.
_SYNC_POLL_SECONDS = 0.5


class Controller:
    """One controller replica. ``run(stop)`` blocks until ``stop`` is set, then shuts down
    within ``queue.shutdown_grace_seconds``."""

    def __init__(
        self, runtime: Runtime, launcher: Launcher, *, sync_retry_limit: int = SYNC_RETRY_LIMIT
    ) -> None:
        self.runtime = runtime
        self.launcher = launcher
        self.settings = runtime.settings
        self.config = runtime.settings.controller
        self.queue = runtime.queue
        self.worker_id = make_worker_id("controller")
        self.stats = WorkerStats(
            name="controller", poll_interval=self.settings.queue.poll_interval_seconds
        )
        self.leases = LeaseKeeper(self.queue, self.worker_id, on_lost=self._lease_lost)
        self.work = WorkQueue()
        # Set when a Job changed or a task was let go: capacity may have been freed.
        self._capacity = threading.Event()
        self.held = HeldTasks(self.leases, self.stats, on_let_go=self._capacity.set)
        self.reconciler = Reconciler(runtime, launcher, self.held, self.worker_id, self.work.add)
        self._sync_retry_limit = sync_retry_limit
        # Stops the helper threads (set on shutdown, after the claim loop ended).
        self._halt = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- running ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        log.info(
            "controller started",
            extra={
                "worker": self.worker_id,
                "launcher": type(self.launcher).__name__,
                "max_concurrent_jobs": self.config.max_concurrent_jobs,
            },
        )
        self.leases.start()
        self._spawn("sync", self._sync_loop)
        self._spawn("watch", self._watch_loop)
        self._spawn("resync", self._resync_loop)
        try:
            self._claim_loop(stop)
        finally:
            self._shutdown()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"controller-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _claim_loop(self, stop: threading.Event) -> None:
        queue_config = self.settings.queue
        hub = self.queue.notifier.hub
        reaper = Ticker(queue_config.reap_interval_seconds, self._reap)
        stats = Ticker(queue_config.stats_interval_seconds, self.stats.log)
        backoff = ERROR_BACKOFF_START
        while not stop.is_set():
            reaper.tick()
            stats.tick()
            self._capacity.clear()
            sequence = hub.sequence(STAGE)
            try:
                if self.busy() >= self.config.max_concurrent_jobs:
                    self._capacity.wait(queue_config.poll_interval_seconds)
                    continue
                task = self.queue.claim(STAGE, self.worker_id)
            except Exception as exc:  # the database or the cluster is unreachable
                log.warning("claim loop error; backing off", extra={"error": repr(exc)})
                stop.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)
                continue
            backoff = ERROR_BACKOFF_START
            if task is None:
                hub.wait(STAGE, sequence, queue_config.poll_interval_seconds)
                continue
            self._start(task)

    def busy(self) -> int:
        """Jobs that count against ``max_concurrent_jobs``: every unfinished Job (whoever
        launched it) plus the tasks this controller holds (launching, or just finished)."""
        jobs = self.launcher.list_jobs()
        unfinished = {task_id for task_id, job in jobs.items() if not job.finished}
        JOBS_ACTIVE.set(len(unfinished))
        return len(unfinished | self.held.ids())

    def _start(self, task: ClaimedTask) -> None:
        TASKS_CLAIMED.labels(STAGE).inc()
        PICKUP_LATENCY.labels(STAGE).observe(task.pickup_latency)
        self.held.add(task.id, task.engine)
        log.info(
            "task claimed",
            extra={
                "task_id": task.id,
                "stage": STAGE,
                "attempt": task.attempts,
                "pickup_latency_seconds": round(task.pickup_latency, 4),
            },
        )
        try:
            self.reconciler.ensure_launched(task.id)
        except Exception as exc:  # the sync launches it again, with back-off
            log.warning("launch failed", extra={"task_id": task.id, "error": repr(exc)})
        self.work.add(task.id)

    # -- event sources (they only enqueue) -------------------------------------------------

    def _on_job_change(self, task_id: str) -> None:
        self.work.add(task_id)
        self._capacity.set()

    def _lease_lost(self, task_id: str) -> None:
        # Cancelled, or reclaimed after a stall: sync finds out which.
        self.work.add(task_id)

    def _watch_loop(self) -> None:
        backoff = ERROR_BACKOFF_START
        while not self._halt.is_set():
            try:
                self.launcher.watch(self._halt, self._on_job_change)
                backoff = ERROR_BACKOFF_START
            except Exception as exc:
                log.warning("Job watch failed; restarting it", extra={"error": repr(exc)})
                self._halt.wait(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF_MAX)

    def _resync_loop(self) -> None:
        while True:
            try:
                self.resync()
            except Exception as exc:
                log.warning("resync failed", extra={"error": repr(exc)})
            if self._halt.wait(self.config.resync_seconds):
                return

    def resync(self) -> None:
        """Enqueue every existing Job and every task held (catches missed watch events and
        Jobs that vanished)."""
        jobs = self.launcher.list_jobs()
        JOBS_ACTIVE.set(sum(not job.finished for job in jobs.values()))
        for task_id in sorted(set(jobs) | self.held.ids()):
            self.work.add(task_id)

    def _reap(self) -> None:
        for task_id in self.queue.fail_exhausted(STAGE):
            TASK_FAILURES.labels(STAGE, "worker_lost").inc()
            log.warning("task failed after repeated controller loss", extra={"task_id": task_id})
            self.work.add(task_id)  # its Job, if any, is deleted by sync

    # -- the sync worker -------------------------------------------------------------------

    def _sync_loop(self) -> None:
        while not self._halt.is_set():
            task_id = self.work.get(timeout=_SYNC_POLL_SECONDS)
            if task_id is None:
                continue
            try:
                self.reconciler.sync(task_id)
            except Exception as exc:
                self._sync_failed(task_id, exc)
            else:
                self.work.forget(task_id)
            finally:
                self.work.done(task_id)

    def _sync_failed(self, task_id: str, exc: Exception) -> None:
        failures = self.work.failures(task_id) + 1
        if failures >= self._sync_retry_limit and task_id in self.held:
            log.error(
                "giving the task back after repeated sync errors",
                extra={"task_id": task_id, "error": repr(exc), "failures": failures},
            )
            try:
                self.reconciler.retry(task_id, f"the controller could not manage its Job ({exc})")
                self.work.forget(task_id)
                return
            except Exception as again:
                log.warning("could not give the task back", extra={"error": repr(again)})
        delay = self.work.add_rate_limited(task_id)
        log.warning(
            "sync failed; will retry",
            extra={"task_id": task_id, "error": repr(exc), "retry_in_seconds": delay},
        )

    # -- shutdown --------------------------------------------------------------------------

    def _shutdown(self) -> None:
        # Half the grace period for a sync in progress to finish; the rest is for stopping
        # local Jobs and handing the tasks back. The helper threads are daemons: one still
        # busy (a watch request in flight) cannot keep the process alive.
        joined_by = time.monotonic() + self.settings.queue.shutdown_grace_seconds / 2
        self._halt.set()
        self.work.shut_down()
        for thread in self._threads:
            thread.join(timeout=max(0.0, joined_by - time.monotonic()))
        if isinstance(self.launcher, ChildProcessJobs):
            self.launcher.terminate_all()
        for task_id in sorted(self.held.ids()):
            try:
                if self.queue.release(task_id, self.worker_id):
                    log.info("task handed back", extra={"task_id": task_id})
            except Exception as exc:  # its lease expires anyway; another controller adopts
                log.warning("could not hand back", extra={"task_id": task_id, "error": repr(exc)})
        self.leases.stop()
        self.stats.log()
        log.info("controller stopped", extra={"worker": self.worker_id})


def run_controller(
    runtime: Runtime, stop: threading.Event, *, config_path: str | None = None
) -> None:
    """``autophon controller``: the configured launcher, /metrics, and one controller."""
    launcher = make_launcher(runtime.settings, config_path)
    serve_metrics(
        runtime.settings.controller.metrics_port,
        ready=lambda: readiness_problem(runtime.engine),
    )
    Controller(runtime, launcher).run(stop)
