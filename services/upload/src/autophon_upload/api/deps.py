"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from autophon_core.models import Task
from autophon_core.queue import TaskQueue, token_owner
from autophon_core.runtime import Runtime
from autophon_core.storage import TASK_ID_RE
from autophon_upload.ratelimit import UploadRateLimiter, retry_after


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_queue(runtime: RuntimeDep) -> TaskQueue:
    return runtime.queue


QueueDep = Annotated[TaskQueue, Depends(get_queue)]

_bearer = HTTPBearer(auto_error=False)


def get_owner(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The caller's owner key when API tokens are configured (None when they are not)."""
    tokens = runtime.settings.api_tokens()
    if not tokens:
        return None
    token = credentials.credentials if credentials else ""
    if not any(secrets.compare_digest(token, known) for known in tokens):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "A valid API token is required: send it as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return token_owner(token)


OwnerDep = Annotated[str | None, Depends(get_owner)]


def get_task(task_id: str, queue: QueueDep, owner: OwnerDep) -> Task:
    """The task with this id, visible to this caller, or 404 (never 403: ids are secret)."""
    # Only a well-formed id is looked up (and could ever name a folder).
    task = queue.get(task_id) if TASK_ID_RE.fullmatch(task_id) else None
    if task is None or (owner is not None and task.owner != owner):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No task with id {task_id[:40]!r}.")
    return task


TaskDep = Annotated[Task, Depends(get_task)]


def limit_uploads(request: Request) -> None:
    """429 when the client's address sent ``api.uploads_per_minute`` uploads in the last
    minute (before any of the body is read or stored)."""
    limiter: UploadRateLimiter = request.app.state.upload_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.acquire(client)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many uploads from your address: at most {limiter.per_minute} per minute. "
            f"Please try again in {retry_after(wait)} s.",
            # The body is not read: close rather than drain it.
            headers={"Retry-After": retry_after(wait), "Connection": "close"},
        )


UploadLimitDep = Annotated[None, Depends(limit_uploads)]
