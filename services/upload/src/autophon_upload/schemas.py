"""The API's request and response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from autophon_core.models import Task, TaskStatus
from autophon_upload.taskfolder import FolderState, ProgressPublic


class TaskFilePublic(BaseModel):
    name: str
    duration_s: float | None
    words: int | None
    missing_words: int | None
    tiers: list[str]


class TaskPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: TaskStatus
    # A sentence the user can act on; null unless failed.
    error: str | None
    language: str
    engine: str
    created_at: datetime
    updated_at: datetime
    duration_s: float | None
    words: int | None
    missing_words: int | None
    files: list[TaskFilePublic]
    # Sentences about what was changed, guessed or ignored (from the task's folder: empty
    # once the task expired).
    warnings: list[str] = []
    # While processing: recordings and audio seconds aligned of the total; null otherwise.
    progress: ProgressPublic | None = None

    @classmethod
    def of(cls, task: Task, folder: FolderState | None = None) -> TaskPublic:
        folder = folder or FolderState()
        return cls(
            id=task.id,
            status=TaskStatus(task.status),
            error=task.error,
            language=task.language,
            engine=task.engine,
            created_at=task.created_at,
            updated_at=task.updated_at,
            duration_s=task.duration_s,
            words=task.words,
            missing_words=task.missing_words,
            files=[
                TaskFilePublic(
                    name=f.name,
                    duration_s=f.duration_s,
                    words=f.words,
                    missing_words=f.missing_words,
                    tiers=list(f.tiers or []),
                )
                for f in task.files
            ],
            warnings=folder.warnings,
            progress=folder.progress,
        )


class TaskList(BaseModel):
    tasks: list[TaskPublic]
    # Pass as ?cursor= to get the next (older) page; null on the last page.
    next_cursor: str | None


class LanguagePublic(BaseModel):
    # ISO 639-3 code.
    code: str
    name: str
    # Other names accepted as `language` on upload (ISO 639-1 code, names...).
    aliases: list[str]
    engines: list[str]
    default_engine: str
    # How the language is aligned and how exact to expect it.
    alignment: str


class Message(BaseModel):
    detail: str
