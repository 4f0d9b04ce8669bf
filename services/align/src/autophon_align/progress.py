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
    """``progress.json``, rewritten as each recording is aligned and, where the engine tells,
    as the alignment of one goes on. Progress is a courtesy: a write that fails is logged,
    never a failure of the task."""

    def __init__(self, paths: TaskPaths, durations: list[float]) -> None:
        self.paths = paths
        self._finished = 0.0  # seconds of the recordings done
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
        """The next recording (``duration`` s) is aligned."""
        self.progress.files_done += 1
        self._finished += duration
        self._update(self._finished)

    def partly(self, duration: float, share: float) -> None:
        """``share`` (0 to 1) of the next recording's alignment is done; written when it moves
        the seconds done on."""
        done = self._finished + min(max(share, 0.0), 1.0) * duration
        if round(done, 3) > self.progress.audio_seconds_done:
            self._update(done)

    def _update(self, seconds_done: float) -> None:
        self.progress.audio_seconds_done = round(seconds_done, 3)
        self.progress.updated_at = datetime.now(UTC)
        self._save()

    def _save(self) -> None:
        try:
            self.progress.save(self.paths)
        except OSError as exc:
            LOG.warning(
                "progress not written", extra={"task_id": self.paths.task_id, "error": str(exc)}
            )
