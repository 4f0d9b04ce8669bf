"""A launcher whose Jobs succeed the moment they are created (a no-op alignment).

Lets the real :class:`~autophon_align.controller.Controller` run its claim, launch, sync
and record path at full speed: ``launch`` writes a completed ``result.json`` (as the runner
would) and reports the Job finished to the watchers at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from autophon_align.launchers.base import JobPhase, JobSpec, JobStatus
from autophon_core.storage import Storage
from autophon_core.taskfiles import ExitCode, RunResult


class InstantLauncher:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._lock = threading.Lock()
        self._jobs: dict[str, JobStatus] = {}
        self._watchers: list[Callable[[str], None]] = []

    def launch(self, spec: JobSpec) -> None:
        with self._lock:
            if spec.task_id in self._jobs:
                return
        RunResult(status="completed", engine=spec.engine).save(self._storage.task(spec.task_id))
        with self._lock:
            self._jobs[spec.task_id] = JobStatus(
                spec.task_id, JobPhase.SUCCEEDED, exit_code=ExitCode.OK
            )
            watchers = list(self._watchers)
        for on_change in watchers:
            on_change(spec.task_id)

    def status(self, task_id: str) -> JobStatus | None:
        with self._lock:
            return self._jobs.get(task_id)

    def list_jobs(self) -> dict[str, JobStatus]:
        with self._lock:
            return dict(self._jobs)

    def delete(self, task_id: str) -> None:
        with self._lock:
            self._jobs.pop(task_id, None)

    def logs(self, task_id: str, lines: int) -> str:
        return ""

    def watch(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        with self._lock:
            self._watchers.append(on_change)
        try:
            stop.wait()
        finally:
            with self._lock:
                self._watchers.remove(on_change)
