"""What the alignment viewer reads of a completed task: each recording's view (tiers,
waveform peaks, spectrogram; see autophon_align.views) and, while it is kept, the recording."""

from __future__ import annotations

import os
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, HTTPException, Path, status
from fastapi.responses import JSONResponse, Response, StreamingResponse

from autophon_core.models import Task, TaskStatus
from autophon_core.runtime import Runtime
from autophon_core.taskfiles import ManifestFile
from autophon_upload.api.deps import RuntimeDep, TaskDep
from autophon_upload.api.routes.tasks import read_chunks
from autophon_upload.schemas import Message
from autophon_upload.taskfolder import open_file, recording, tiers_view

router = APIRouter(prefix="/api/v1/tasks", tags=["viewer"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Message},
    404: {"model": Message},
    409: {"model": Message},
    503: {"model": Message},
}
# Files written by a Job are never sniffed into something a browser would run.
NO_SNIFF = {"X-Content-Type-Options": "nosniff"}
IndexPath = Annotated[
    int, Path(ge=0, le=1_000_000, description="The recording's position (from 0)")
]


@router.get(
    "/{task_id}/files/{index}/view",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"application/json": {}}}},
    summary="A recording's view: its tiers, waveform peaks and spectrogram (kept with the "
    "result); only its tiers for a task aligned before views were written",
)
def file_view(task: TaskDep, index: IndexPath, runtime: RuntimeDep) -> Response:
    file = _recording(runtime, task, index)
    paths = runtime.storage.task(task.id)
    handle = open_file(runtime.storage, paths.view_file(file.stem))
    if handle is not None:
        return _stream(handle, "application/json")
    # Aligned before the runner wrote views: the tiers alone, from the result.
    view = tiers_view(runtime.storage, paths.output_textgrid(file.stem), file.name)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "This recording has no view stored.")
    return JSONResponse(view, headers=NO_SNIFF)


@router.get(
    "/{task_id}/files/{index}/audio",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"audio/wav": {}}}},
    summary="The recording (16 kHz mono WAV) while it is kept",
)
def file_audio(task: TaskDep, index: IndexPath, runtime: RuntimeDep) -> StreamingResponse:
    path = runtime.storage.task(task.id).input_audio(_recording(runtime, task, index).stem)
    handle = open_file(runtime.storage, path)
    if handle is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "The recording was deleted after alignment (storage.delete_audio_after_alignment) "
            "or by the retention policy: it cannot be played, but its alignment can be viewed.",
        )
    return _stream(handle, "audio/wav")


def _recording(runtime: Runtime, task: Task, index: int) -> ManifestFile:
    if task.status != TaskStatus.COMPLETED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The task is {task.status}; its recordings can be viewed once it is completed.",
        )
    file = recording(runtime.storage, task.id, index)
    if file is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"The task has no recording {index}.")
    return file


def _stream(handle: BinaryIO, media_type: str) -> StreamingResponse:
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(
        read_chunks(handle),
        media_type=media_type,
        headers={"Content-Length": str(size), "Cache-Control": "private, no-cache", **NO_SNIFF},
    )
