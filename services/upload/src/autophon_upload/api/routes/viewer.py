"""What the alignment viewer reads of a completed task: each recording's view (tiers,
waveform peaks, spectrogram; see autophon_align.views) and, while it is kept, the recording."""

from __future__ import annotations

import os
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import StreamingResponse

from autophon_core.models import Task, TaskStatus
from autophon_core.runtime import Runtime
from autophon_upload.api.deps import RuntimeDep, TaskDep
from autophon_upload.api.routes.tasks import read_chunks
from autophon_upload.schemas import Message
from autophon_upload.taskfolder import open_file, recording_stem

router = APIRouter(prefix="/api/v1/tasks", tags=["viewer"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message},
    404: {"model": Message},
    409: {"model": Message},
    503: {"model": Message},
}
IndexPath = Annotated[
    int, Path(ge=0, le=1_000_000, description="The recording's position (from 0)")
]


@router.get(
    "/{task_id}/files/{index}/view",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"application/json": {}}}},
    summary="A recording's view: its tiers, waveform peaks and spectrogram (kept with the result)",
)
def file_view(task: TaskDep, index: IndexPath, runtime: RuntimeDep) -> StreamingResponse:
    path = runtime.storage.task(task.id).view_file(_stem(runtime, task, index))
    return _serve(runtime, path, "application/json", "This recording has no view stored.")


@router.get(
    "/{task_id}/files/{index}/audio",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"audio/wav": {}}}},
    summary="The recording (16 kHz mono WAV) while it is kept",
)
def file_audio(task: TaskDep, index: IndexPath, runtime: RuntimeDep) -> StreamingResponse:
    path = runtime.storage.task(task.id).input_audio(_stem(runtime, task, index))
    return _serve(
        runtime,
        path,
        "audio/wav",
        "The recording was deleted after alignment (storage.delete_audio_after_alignment) or "
        "by the retention policy; its tiers, waveform and spectrogram are still shown.",
    )


def _stem(runtime: Runtime, task: Task, index: int) -> str:
    if task.status != TaskStatus.COMPLETED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The task is {task.status}; its recordings can be viewed once it is completed.",
        )
    stem = recording_stem(runtime.storage, task.id, index)
    if stem is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"The task has no recording {index}.")
    return stem


def _serve(runtime: Runtime, path: FilePath, media_type: str, missing: str) -> StreamingResponse:
    handle = open_file(runtime.storage, path)
    if handle is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, missing)
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(
        read_chunks(handle),
        media_type=media_type,
        headers={
            "Content-Length": str(size),
            "Cache-Control": "private, no-cache",
            # Written by a Job: never sniffed into something a browser would run.
            "X-Content-Type-Options": "nosniff",
        },
    )
