"""What the API reads from a task's folder rather than the database: the warnings of the
upload worker (``input/manifest.json``) and the runner (``result.json``), the runner's
progress (``progress.json``), and the viewer's files (``view/<stem>.json`` and the recording).

Every file is opened through :meth:`Storage.open_for_reading` (a Job writes these folders; a
symbolic link planted there is refused) and read up to a size limit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

from pydantic import BaseModel, ValidationError

from autophon_core.models import Task, TaskStatus
from autophon_core.storage import Storage
from autophon_core.taskfiles import Manifest, Progress, RunResult

log = logging.getLogger("autophon.api")

M = TypeVar("M", bound=BaseModel)

# Far above what the runner and the upload worker write; a bigger file is not read.
MAX_JSON_BYTES = 16 * 1024 * 1024


class ProgressPublic(BaseModel):
    files_done: int
    files_total: int
    audio_seconds_done: float
    audio_seconds_total: float
    # Estimated from the pace so far (audio seconds aligned per second); null until the
    # first recording is done.
    seconds_left: float | None
    updated_at: datetime


class FolderState(BaseModel):
    warnings: list[str] = []
    progress: ProgressPublic | None = None


def folder_state(storage: Storage, task: Task) -> FolderState:
    """The task's warnings and, while it is processing, its progress."""
    try:
        paths = storage.task(task.id)
    except ValueError:  # a row whose id can name no folder (tampered with)
        return FolderState()
    warnings: list[str] = []
    manifest = _load(storage, paths.manifest, Manifest)
    if manifest is not None:
        warnings += manifest.warnings
    if task.status in (TaskStatus.COMPLETED, TaskStatus.FAILED):  # the last attempt's
        result = _load(storage, paths.result_json, RunResult)
        if result is not None:
            warnings += [w for w in result.warnings if w not in warnings]
    progress = None
    if task.status == TaskStatus.PROCESSING:
        report = _load(storage, paths.progress_json, Progress)
        progress = estimate(report, datetime.now(UTC)) if report else None
    return FolderState(warnings=warnings, progress=progress)


def estimate(progress: Progress, now: datetime) -> ProgressPublic:
    """The progress with an estimate of the seconds left at ``now``."""
    seconds_left = None
    spent = (progress.updated_at - progress.started_at).total_seconds()
    if progress.audio_seconds_done > 0 and spent > 0:
        pace = progress.audio_seconds_done / spent
        left = (progress.audio_seconds_total - progress.audio_seconds_done) / pace
        since = max(0.0, (now - progress.updated_at).total_seconds())
        seconds_left = round(max(0.0, left - since), 1)
    return ProgressPublic(
        files_done=progress.files_done,
        files_total=progress.files_total,
        audio_seconds_done=progress.audio_seconds_done,
        audio_seconds_total=progress.audio_seconds_total,
        seconds_left=seconds_left,
        updated_at=progress.updated_at,
    )


def recording_stem(storage: Storage, task_id: str, index: int) -> str | None:
    """The safe stem of the task's recording number ``index`` (from 0), None if none."""
    manifest = _load(storage, storage.task(task_id).manifest, Manifest)
    if manifest is None or not 0 <= index < len(manifest.files):
        return None
    return manifest.files[index].stem


def open_file(storage: Storage, path: Path) -> BinaryIO | None:
    """``path`` opened for reading, or None when it is missing or not a plain file."""
    try:
        return storage.open_for_reading(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("task file not served", extra={"path": str(path), "error": str(exc)})
        return None


def _load(storage: Storage, path: Path, model: type[M]) -> M | None:
    handle = open_file(storage, path)
    if handle is None:
        return None
    with handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        return None
    try:
        return model.model_validate_json(data)
    except ValidationError:
        return None
