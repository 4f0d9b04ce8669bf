"""The launcher interface: how an alignment Job is started, observed and removed.

The controller has one code path over every launcher; the Kubernetes launcher makes batch/v1
Jobs, the local launcher runs ``autophon run-task`` as a child process. A Job is identified by
its task id (its name is derived from it deterministically), so launching twice adopts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from autophon_core.taskfiles import ExitCode


def job_name(task_id: str) -> str:
    """The deterministic Job name of a task (DNS-1123, under 63 characters)."""
    return f"align-{task_id}"


class JobPhase(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobSpec:
    task_id: str
    engine: str
    # Whole-Job time limit (activeDeadlineSeconds / the child's timeout).
    timeout_seconds: int


# Exit codes of the runner that fail a Job for good (the podFailurePolicy's FailJob codes):
# the reason recorded and what the code means.
FINAL_EXIT_CODES: dict[int, tuple[str, str]] = {
    ExitCode.BAD_INPUT: ("BadInput", "input that cannot be aligned"),
    ExitCode.RESOURCE: ("Resource", "input beyond the aligner's limits"),
}


@dataclass(frozen=True)
class JobStatus:
    task_id: str
    phase: JobPhase
    # The runner's exit code when known (see autophon_core.taskfiles.ExitCode).
    exit_code: int | None = None
    # Machine-readable cause of a failure: "BadInput", "Resource" (input beyond the
    # aligner's limits), "OOMKilled", "Evicted", "DeadlineExceeded", "PodLost", "Killed",
    # "Error"...
    reason: str | None = None
    # True when running the Job again may succeed (evicted or lost pod, node failure, killed).
    retryable: bool = False
    message: str = ""
    # When the Job finished, as its cluster recorded it; None when unknown (local Jobs). Not
    # part of a status's identity: a status compares equal whenever the outcome is the same.
    finished_at: datetime | None = field(default=None, compare=False)

    @property
    def finished(self) -> bool:
        return self.phase in (JobPhase.SUCCEEDED, JobPhase.FAILED)


class Launcher(Protocol):
    def launch(self, spec: JobSpec) -> None:
        """Start the Job; if it already exists, adopt it (no error, no second Job)."""

    def status(self, task_id: str) -> JobStatus | None:
        """The Job's state, or None when there is no such Job."""

    def list_jobs(self) -> dict[str, JobStatus]:
        """All AutoPhon alignment Jobs that exist now, by task id."""

    def delete(self, task_id: str) -> None:
        """Stop and remove the Job (and its pods); no error if it is already gone."""

    def logs(self, task_id: str, lines: int) -> str:
        """The last ``lines`` lines of the Job's output ("" when none are available)."""

    def watch(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        """Block until ``stop`` is set, calling ``on_change(task_id)`` whenever a Job changes.

        Implementations resume after disconnects; the controller also re-lists periodically,
        so a missed event only delays, never loses, an update."""
