"""What the API reads from a task's folder rather than the database: the warnings of the
upload worker (``input/manifest.json``) and the runner (``result.json``), the runner's
progress (``progress.json``), and the viewer's files (``view/<stem>.json``, the result
TextGrid and the recording).

Every file is opened through :meth:`Storage.open_for_reading` (a Job writes these folders; a
symbolic link planted there is refused) and read up to a size limit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from praatio.utilities import errors as praatio_errors
from praatio.utilities import textgrid_io
from pydantic import BaseModel, ValidationError

from autophon_core.models import Task, TaskStatus
from autophon_core.storage import Storage
from autophon_core.taskfiles import Manifest, ManifestFile, Progress, RunResult

log = logging.getLogger("autophon.api")

M = TypeVar("M", bound=BaseModel)

# Far above what the runner and the upload worker write; a bigger file is not read.
MAX_JSON_BYTES = 16 * 1024 * 1024


class ProgressPublic(BaseModel):
    files_done: int
    files_total: int
    audio_seconds_done: float
    audio_seconds_total: float
    # Estimated from the pace so far (audio seconds aligned per second); null until some
    # audio is done.
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


def recording(storage: Storage, task_id: str, index: int) -> ManifestFile | None:
    """The task's recording number ``index`` (from 0), None if none."""
    manifest = _load(storage, storage.task(task_id).manifest, Manifest)
    if manifest is None or not 0 <= index < len(manifest.files):
        return None
    return manifest.files[index]


def open_file(storage: Storage, path: Path) -> BinaryIO | None:
    """``path`` opened for reading, or None when it is missing or not a plain file."""
    try:
        return storage.open_for_reading(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("task file not served", extra={"path": str(path), "error": str(exc)})
        return None


def tiers_view(storage: Storage, path: Path, name: str) -> dict[str, Any] | None:
    """A view with the tiers of the result TextGrid ``path`` and no waveform or spectrogram:
    what the viewer shows of a task aligned before the runner wrote views."""
    data = _read(storage, path)
    if not data:
        return None
    try:
        grid = textgrid_io.parseTextgridStr(data.decode("utf-8"), includeEmptyIntervals=False)
        tiers = [
            {
                "name": str(tier["name"]),
                "intervals": [
                    [float(entry.start), float(entry.end), str(entry.label)]
                    for entry in tier["entries"]
                ],
            }
            for tier in grid["tiers"]
            if tier["class"] == "IntervalTier"
        ]
        duration = float(grid["xmax"])
    except (LookupError, AttributeError, TypeError, ValueError, praatio_errors.PraatioException):
        # praatio's parser fails on a damaged file with any of these.
        return None
    return {
        "name": name,
        "duration_s": duration,
        "tiers": tiers,
        "waveform": None,
        "spectrogram": None,
    }


def _read(storage: Storage, path: Path) -> bytes:
    """The file's bytes; empty when it is missing, refused or too big."""
    handle = open_file(storage, path)
    if handle is None:
        return b""
    with handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    return b"" if len(data) > MAX_JSON_BYTES else data


def _load(storage: Storage, path: Path, model: type[M]) -> M | None:
    data = _read(storage, path)
    if not data:
        return None
    try:
        return model.model_validate_json(data)
    except ValidationError:
        return None
