"""Tasks: create (upload), read, list, follow, download, cancel or delete."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from autophon_core.models import Task, TaskStatus
from autophon_core.runtime import Runtime
from autophon_upload.api.deps import OwnerDep, QueueDep, RuntimeDep, TaskDep, UploadLimitDep
from autophon_upload.receiver import UploadRejected, receive_upload
from autophon_upload.schemas import Message, TaskList, TaskPublic
from autophon_upload.submission import SubmissionError, check_submission
from autophon_upload.taskfolder import ProgressPublic, folder_state

log = logging.getLogger("autophon.api")

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "Recordings and their transcripts, paired by file "
                            "stem; optionally a pronunciation dictionary (*.dict); or one .zip "
                            "of these.",
                        },
                        "language": {"type": "string", "description": "Language code."},
                        "engine": {"type": "string", "description": "Aligner engine."},
                    },
                }
            }
        },
    }
}
_EVENT_ID_RE = re.compile(r"[0-9]{1,18}")
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Message},
    401: {"model": Message},
    404: {"model": Message},
    503: {"model": Message},
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TaskPublic,
    responses={
        **_ERRORS,
        413: {"model": Message},
        429: {"model": Message, "description": "Too many uploads from this address"},
        507: {"model": Message},
    },
    openapi_extra=_UPLOAD_BODY,
    summary="Upload recordings and transcripts; creates a task",
)
async def create_task(
    request: Request, runtime: RuntimeDep, owner: OwnerDep, _limit: UploadLimitDep
) -> TaskPublic:
    settings = runtime.settings
    try:
        upload = await receive_upload(request, runtime.storage, settings.api)
    except UploadRejected as exc:
        log.info("upload refused", extra={"status": exc.status_code, "reason": exc.detail})
        # The rest of the body may be unread: close the connection after the answer, or the
        # server would go on reading (and discarding) an oversize upload to its end.
        raise HTTPException(exc.status_code, exc.detail, headers={"Connection": "close"}) from None
    try:
        language, engine = await run_in_threadpool(check_submission, upload, settings)
        task = await run_in_threadpool(
            runtime.queue.create,
            task_id=upload.task_id,
            language=language,
            engine=engine,
            file_names=upload.files,
            size_bytes=upload.size_bytes,
            owner=owner,
        )
    except SubmissionError as exc:
        runtime.storage.remove_task_dir(upload.task_id)
        log.info("upload refused", extra={"status": 400, "reason": str(exc)})
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except BaseException:
        runtime.storage.remove_task_dir(upload.task_id)
        raise
    log.info(
        "task uploaded",
        extra={
            "task_id": task.id,
            "files": len(upload.files),
            "size_bytes": upload.size_bytes,
            "language": language,
            "engine": engine,
        },
    )
    return public(runtime, task)


def public(runtime: Runtime, task: Task) -> TaskPublic:
    """The task as the API shows it, with the warnings and progress of its folder."""
    return TaskPublic.of(task, folder_state(runtime.storage, task))


def _encode_cursor(created_at: datetime, task_id: str) -> str:
    raw = f"{created_at.isoformat()}|{task_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, task_id = raw.split("|", 1)
        return datetime.fromisoformat(created_at), task_id
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "The cursor is not valid.") from None


@router.get("", response_model=TaskList, responses=_ERRORS, summary="List tasks, newest first")
def list_tasks(
    runtime: RuntimeDep,
    queue: QueueDep,
    owner: OwnerDep,
    status_filter: Annotated[TaskStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> TaskList:
    before = _decode_cursor(cursor) if cursor else None
    tasks = queue.list_tasks(status=status_filter, limit=limit + 1, before=before, owner=owner)
    page, more = tasks[:limit], len(tasks) > limit
    next_cursor = _encode_cursor(page[-1].created_at, page[-1].id) if more else None
    return TaskList(tasks=[public(runtime, t) for t in page], next_cursor=next_cursor)


@router.get("/{task_id}", response_model=TaskPublic, responses=_ERRORS, summary="A task")
def read_task(task: TaskDep, runtime: RuntimeDep) -> TaskPublic:
    return public(runtime, task)


@router.get(
    "/{task_id}/events",
    responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
    response_class=StreamingResponse,
    summary="Server-Sent Events: one event per status change, closing after a final state; "
    "progress events while aligning",
)
async def task_events(
    task: TaskDep,
    runtime: RuntimeDep,
    request: Request,
    last_event_id: Annotated[
        str | None,
        Header(description="Resume after this event id (what reconnecting clients send)."),
    ] = None,
) -> StreamingResponse:
    # Anything but a plain event id (a browser sends back the ids it got) starts from the
    # beginning; an id of thousands of digits or beyond 64 bits must not reach int() or SQL.
    last_id = last_event_id or ""
    after = int(last_id) if _EVENT_ID_RE.fullmatch(last_id) else 0
    return StreamingResponse(
        _event_stream(runtime, task.id, after, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    runtime: RuntimeDep, task_id: str, after: int, request: Request
) -> AsyncIterator[str]:
    hub = runtime.notifier.hub
    poll = runtime.settings.queue.poll_interval_seconds
    sent_progress: datetime | None = None
    while True:
        sequence = hub.sequence("events")
        events = await run_in_threadpool(runtime.queue.events, task_id, after)
        for event in events:
            after = event.id
            task = await run_in_threadpool(runtime.queue.get, task_id)
            data = {
                "id": task_id,
                "status": event.status,
                "message": event.message,
                "at": event.created_at.isoformat(),
                "task": public(runtime, task).model_dump(mode="json") if task else None,
            }
            yield f"id: {event.id}\nevent: status\ndata: {json.dumps(data)}\n\n"
            if TaskStatus(event.status).final:
                return
        if not events:
            task = await run_in_threadpool(runtime.queue.get, task_id)
            if task is None:
                return
            if TaskStatus(task.status).final:
                # A client resuming after the last event (as EventSource does once the stream
                # closes): nothing more will come. A final event recorded since the query
                # above is sent first.
                if not await run_in_threadpool(runtime.queue.events, task_id, after):
                    return
                continue
        progress = await run_in_threadpool(_progress, runtime, task_id)
        if progress is not None and progress.updated_at != sent_progress:
            sent_progress = progress.updated_at
            data = {"id": task_id, "progress": progress.model_dump(mode="json")}
            # No id: a client resuming sends the id of the last status event.
            yield f"event: progress\ndata: {json.dumps(data)}\n\n"
        if await request.is_disconnected():
            return
        await run_in_threadpool(hub.wait, "events", sequence, poll)
        await asyncio.sleep(0)


def _progress(runtime: Runtime, task_id: str) -> ProgressPublic | None:
    task = runtime.queue.get(task_id)
    return folder_state(runtime.storage, task).progress if task else None


@router.get(
    "/{task_id}/result",
    response_class=StreamingResponse,
    responses={
        **_ERRORS,
        409: {"model": Message},
        200: {"content": {"application/zip": {}}},
    },
    summary="The result: one TextGrid per recording, missing_words.txt and README.txt",
)
def task_result(task: TaskDep, runtime: RuntimeDep) -> StreamingResponse:
    if task.status != TaskStatus.COMPLETED:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"The task is {task.status}; its result can be downloaded once it is completed.",
        )
    gone = HTTPException(status.HTTP_404_NOT_FOUND, "The result of this task is no longer stored.")
    try:
        # Served from the file opened here, never by path again: a symbolic link planted in
        # the task folder (by a compromised Job) is refused, not followed.
        handle = runtime.storage.open_for_reading(runtime.storage.task(task.id).result_zip)
    except FileNotFoundError:
        raise gone from None
    except OSError as exc:
        log.warning("result not served", extra={"task_id": task.id, "error": str(exc)})
        raise gone from None
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(
        read_chunks(handle),
        media_type="application/zip",
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="autophon-{task.id}.zip"',
        },
    )


def read_chunks(handle: BinaryIO, size: int = 256 * 1024) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk


@router.delete(
    "/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**_ERRORS, 202: {"model": TaskPublic}},
    summary="Cancel a running task (202), or delete a finished one and its files (204)",
)
def delete_task(task: TaskDep, runtime: RuntimeDep) -> Response:
    if runtime.queue.cancel(task.id) is not None:
        cancelled = runtime.queue.get(task.id)
        assert cancelled is not None
        log.info("task cancelled", extra={"task_id": task.id, "was": task.status})
        return Response(
            public(runtime, cancelled).model_dump_json(),
            status_code=status.HTTP_202_ACCEPTED,
            media_type="application/json",
        )
    runtime.queue.delete(task.id)
    runtime.storage.remove_task_dir(task.id)
    log.info("task deleted", extra={"task_id": task.id, "was": task.status})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
