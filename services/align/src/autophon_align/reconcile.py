"""``sync(task_id)``: make a task's Job match its row (the row is desired, the Job actual).

:class:`Reconciler` is what the controller's sync worker runs for each key of its work queue;
:class:`HeldTasks` is the table of tasks the controller claimed and holds the lease of, which
both the claim loop and the sync worker change.

Every decision is idempotent and made from what is read now, so a sync may run any number of
times: a missing Job of a held task is launched (or adopted, launching is idempotent), a
finished one has its outcome recorded and is then deleted, a Job of a cancelled or finished
task is deleted, and a task held by another controller is left to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from autophon_align.launchers import OrphanableJobs
from autophon_align.launchers.base import JobPhase, JobSpec, JobStatus, Launcher
from autophon_align.outcomes import (
    ManifestError,
    Outcome,
    Verdict,
    attempts_exhausted_sentence,
    completed_result,
    job_timeout,
    judge,
    load_manifest,
    read_result,
    retry_delay,
)
from autophon_core.metrics import PROCESSING_SECONDS, TASK_FAILURES
from autophon_core.models import Stage, Task, TaskStatus
from autophon_core.runtime import Runtime
from autophon_core.worker import LeaseKeeper, WorkerStats

log = logging.getLogger("autophon.controller")

STAGE = Stage.ALIGN
MANIFEST_ERROR = (
    "The prepared files of this task are missing or damaged, so it cannot be aligned. "
    "Please upload the files again."
)

# How a claim ended, for the metrics and the stats line ("taken": cancelled or reclaimed,
# nothing recorded by this controller).
End = Literal["completed", "failed", "retried", "taken"]


@dataclass
class Hold:
    """A task this controller claimed and still holds the lease of."""

    engine: str
    claimed_at: float  # time.monotonic() at the claim
    # True once launch() returned for this claim: only then is the Job's outcome ours.
    launched: bool = False


class HeldTasks:
    """The held tasks, their leases (renewed by ``leases``) and the accounting of each claim."""

    def __init__(
        self, leases: LeaseKeeper, stats: WorkerStats, on_let_go: Callable[[], None]
    ) -> None:
        self._leases = leases
        self._stats = stats
        self._on_let_go = on_let_go
        self._lock = threading.Lock()
        self._holds: dict[str, Hold] = {}

    def add(self, task_id: str, engine: str) -> Hold:
        hold = Hold(engine=engine, claimed_at=time.monotonic())
        with self._lock:
            self._holds[task_id] = hold
        self._leases.add(task_id)
        self._stats.started()
        return hold

    def get(self, task_id: str) -> Hold | None:
        with self._lock:
            return self._holds.get(task_id)

    def ids(self) -> set[str]:
        with self._lock:
            return set(self._holds)

    def __contains__(self, task_id: object) -> bool:
        with self._lock:
            return task_id in self._holds

    def let_go(
        self,
        task_id: str,
        end: End = "taken",
        reason: str | None = None,
        *,
        expected: Hold | None = None,
    ) -> bool:
        """Stop holding ``task_id`` (only if its hold is ``expected``, when given) and count
        how its claim ended. False if it was not held."""
        with self._lock:
            hold = self._holds.get(task_id)
            if hold is None or (expected is not None and hold is not expected):
                return False
            del self._holds[task_id]
        self._leases.discard(task_id)
        seconds = time.monotonic() - hold.claimed_at
        if end in ("completed", "failed"):
            PROCESSING_SECONDS.labels(STAGE).observe(seconds)
        if end == "failed":
            TASK_FAILURES.labels(STAGE, reason or "error").inc()
        self._stats.finished(end == "completed", seconds)
        self._on_let_go()
        return True


class Reconciler:
    """The sync logic of one controller (``worker_id`` is the owner of its leases).
    ``requeue(task_id)`` asks for another sync later (a key's state changed meanwhile)."""

    def __init__(
        self,
        runtime: Runtime,
        launcher: Launcher,
        held: HeldTasks,
        worker_id: str,
        requeue: Callable[[str], None],
    ) -> None:
        self.settings = runtime.settings
        self.queue = runtime.queue
        self.storage = runtime.storage
        self.launcher = launcher
        self.held = held
        self.worker_id = worker_id
        self._requeue = requeue
        # Serialises launches: the status check before a fresh launch must not interleave.
        self._launch_lock = threading.Lock()

    def sync(self, task_id: str) -> None:
        """Make the Job of ``task_id`` match its task row; idempotent."""
        # What was held before reading the row: a hold taken after the read (a claim in the
        # meantime) must not be judged by the older row.
        hold = self.held.get(task_id)
        task = self.queue.get(task_id)
        if task is None:
            # Deleted (right after being cancelled): if it was ours, so is its Job. A Job of a
            # task this database never had (another installation sharing the namespace) is
            # left alone.
            if self.held.let_go(task_id):
                self.launcher.delete(task_id)
            return
        job = self.launcher.status(task_id)
        if TaskStatus(task.status).final:
            # Finished or cancelled: the task needs no Job, except a finished one for a while,
            # for `kubectl logs` (a periodic resync comes back to it).
            self.held.let_go(task_id)
            if job is not None and not self._keep(job):
                log.info(
                    "deleting the Job of a finished or cancelled task",
                    extra={"task_id": task_id, "status": task.status},
                )
                self.launcher.delete(task_id)
            return
        if task.status != TaskStatus.PROCESSING or task.lease_owner != self.worker_id:
            # Waiting for a claim, or another controller's: its holder manages the Job.
            if hold is not None and self.held.let_go(task_id, expected=hold):
                log.warning("task is no longer ours", extra={"task_id": task_id})
            return
        if hold is None:
            return  # just claimed: the claim loop registers it, launches it and enqueues it
        if not hold.launched:
            self.ensure_launched(task_id)
        elif job is None:
            self._job_vanished(task, hold)
        elif job.finished:
            self._record(task, job)

    def ensure_launched(self, task_id: str) -> None:
        """Launch (or adopt) the Job of a held task; a task whose manifest is unusable is
        failed instead."""
        with self._launch_lock:
            hold = self.held.get(task_id)
            if hold is None or hold.launched:
                return
            paths = self.storage.task(task_id)
            try:
                manifest = load_manifest(paths)
            except ManifestError as exc:
                log.error("cannot launch", extra={"task_id": task_id, "error": str(exc)})
                if self.queue.fail(task_id, self.worker_id, STAGE, MANIFEST_ERROR, str(exc)):
                    self.held.let_go(task_id, "failed", "no_manifest")
                return
            spec = JobSpec(
                task_id=task_id,
                engine=hold.engine,
                timeout_seconds=job_timeout(self.settings.alignment, manifest),
            )
            if self.launcher.status(task_id) is None:
                if isinstance(self.launcher, OrphanableJobs):
                    # A controller that died may have left this task's Job running: stop it
                    # before looking at what it wrote, so nothing writes behind our back.
                    self.launcher.stop_orphans(task_id)
                earlier = completed_result(paths)
                if earlier is not None:
                    # An earlier attempt finished (and may have deleted the recordings) but
                    # its controller died before recording it: that result is the task's.
                    log.info("an earlier attempt completed", extra={"task_id": task_id})
                    hold.launched = True
                    done = JobStatus(task_id, JobPhase.SUCCEEDED, exit_code=0)
                    self._finish(task_id, judge(done, earlier, None), done)
                    return
                # A fresh Job: a result.json of an earlier attempt must not pass for its own.
                paths.result_json.unlink(missing_ok=True)
            self.launcher.launch(spec)
            hold.launched = True
        log.info("Job launched", extra={"task_id": task_id, "timeout": spec.timeout_seconds})

    def retry(self, task_id: str, cause: str, attempts: int | None = None) -> None:
        """Hand the task back for another attempt after a back-off. The Job is deleted first:
        the next attempt creates one under the same name, which must not adopt this one."""
        self.launcher.delete(task_id)
        if attempts is None:
            attempts = self.queue.get_attempts(task_id)
        delay = retry_delay(self.settings.controller, attempts)
        if self.queue.retry_later(task_id, self.worker_id, delay, cause):
            self.held.let_go(task_id, "retried")
        else:
            self._requeue(task_id)

    def _job_vanished(self, task: Task, hold: Hold) -> None:
        result, _ = read_result(self.storage.task(task.id))
        if result is not None and result.status == "completed":
            # It finished and was removed (ttlSecondsAfterFinished, a restart) before its
            # outcome was recorded; result.json is its own (cleared at every fresh launch).
            self._record(task, JobStatus(task.id, JobPhase.SUCCEEDED, exit_code=0))
            return
        log.warning("Job vanished; launching it again", extra={"task_id": task.id})
        hold.launched = False
        self.ensure_launched(task.id)

    def _record(self, task: Task, job: JobStatus) -> None:
        """Store the outcome of a finished Job, then delete the Job (see :meth:`_finish`)."""
        paths = self.storage.task(task.id)
        result, problem = read_result(paths)
        if job.phase is JobPhase.FAILED and completed_result(paths) is not None:
            # Killed after writing its result (while deleting the recordings, or exiting):
            # it finished, and a retry could only fail on the recordings already deleted.
            job = JobStatus(task.id, JobPhase.SUCCEEDED, exit_code=0, finished_at=job.finished_at)
        outcome = judge(job, result, problem)
        max_attempts = self.settings.queue.max_attempts
        if outcome.verdict is Verdict.RETRY and task.attempts >= max_attempts:
            # The runner's own sentence (a repeated internal error) says more than a count.
            reported = result.error if result is not None and result.status == "failed" else None
            outcome = Outcome(
                verdict=Verdict.FAIL,
                error=reported or attempts_exhausted_sentence(max_attempts, outcome.error or ""),
                reason="retries_exhausted",
            )
        if outcome.verdict is Verdict.RETRY:
            log.warning(
                "Job failed; retrying the task",
                extra={"task_id": task.id, "reason": job.reason, "attempt": task.attempts},
            )
            self.retry(task.id, outcome.error or "Error", attempts=task.attempts)
            return
        self._finish(task.id, outcome, job)

    def _keep(self, job: JobStatus) -> bool:
        """Whether a Job of a final task stays for now: a finished one, for
        ``controller.kubernetes.ttl_seconds_after_finished`` after it finished, so that
        ``kubectl logs`` of a failed alignment works. The controller deletes it afterwards
        itself, also where the cluster does not serve ttlSecondsAfterFinished (before 1.21)
        or the Job lacks it. A Job whose end time is unknown (local Jobs) goes at once."""
        ttl = self.settings.controller.kubernetes.ttl_seconds_after_finished
        if not job.finished or job.finished_at is None or ttl <= 0:
            return False
        return (datetime.now(UTC) - job.finished_at).total_seconds() < ttl

    def _finish(self, task_id: str, outcome: Outcome, job: JobStatus) -> None:
        """Complete or fail the task, then delete its Job, or keep it a while (:meth:`_keep`).

        Deleted explicitly on every launcher: a final task needs no Job, so resync converges
        to the same state, and the log lines that matter are stored with a failed task first
        (``kubectl logs`` shows the same lines until the Job goes)."""
        if outcome.verdict is Verdict.COMPLETE:
            done = self.queue.complete(task_id, self.worker_id, outcome.figures)
        else:
            error_log = self.launcher.logs(task_id, self.settings.controller.log_tail_lines)
            error = outcome.error or "The alignment failed."
            done = self.queue.fail(task_id, self.worker_id, STAGE, error, error_log or None)
        if not done:  # the lease was lost meanwhile (cancelled, reclaimed): look again
            self._requeue(task_id)
            return
        ok = outcome.verdict is Verdict.COMPLETE
        self.held.let_go(task_id, "completed" if ok else "failed", outcome.reason)
        log.info(
            "task completed" if ok else "task failed",
            extra={
                "task_id": task_id,
                "reason": outcome.reason,
                "job_reason": job.reason,
                "error": outcome.error,
            },
        )
        if self._keep(job):
            log.info("finished Job kept for its logs", extra={"task_id": task_id})
        else:
            self.launcher.delete(task_id)
