"""The runner's progress: ``progress.json`` in the task folder (a
:class:`~autophon_core.taskfiles.Progress`), which the API shows as the task's ``progress``
and sends as progress events."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from autophon_core.storage import TaskPaths
from autophon_core.taskfiles import Progress

LOG = logging.getLogger("autophon.runner")


class ProgressReport:
    """``progress.json``, rewritten as each recording is aligned. Progress is a courtesy: a
    write that fails is logged, never a failure of the task."""

    def __init__(self, paths: TaskPaths, durations: list[float]) -> None:
        self.paths = paths
        now = datetime.now(UTC)
        self.progress = Progress(
            files_done=0,
            files_total=len(durations),
            audio_seconds_done=0.0,
            audio_seconds_total=round(sum(durations), 3),
            started_at=now,
            updated_at=now,
        )
        self._save()

    def done(self, duration: float) -> None:
        self.progress.files_done += 1
        self.progress.audio_seconds_done = round(self.progress.audio_seconds_done + duration, 3)
        self.progress.updated_at = datetime.now(UTC)
        self._save()

    def _save(self) -> None:
        try:
            self.progress.save(self.paths)
        except OSError as exc:
            LOG.warning(
                "progress not written", extra={"task_id": self.paths.task_id, "error": str(exc)}
            )
