"""The database schema: tasks, their files and their status history (SQLAlchemy 2)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class TaskStatus(StrEnum):
    UPLOADING = "uploading"  # the API stored the files; waiting for the upload worker
    UPLOADED = "uploaded"  # validated and converted; waiting for the controller
    PROCESSING = "processing"  # an alignment Job runs
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # inputs and results removed by retention

    @property
    def final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.EXPIRED}
)


class Stage(StrEnum):
    """A queue: which status a worker claims, and what the claim turns it into."""

    UPLOAD = "upload"
    ALIGN = "align"

    @property
    def claimable_status(self) -> TaskStatus:
        return TaskStatus.UPLOADING if self is Stage.UPLOAD else TaskStatus.UPLOADED

    @property
    def claimed_status(self) -> TaskStatus:
        return TaskStatus.UPLOADING if self is Stage.UPLOAD else TaskStatus.PROCESSING


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_task_id() -> str:
    """A random, unguessable task id (122 random bits)."""
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_task_id)
    status: Mapped[str] = mapped_column(String(16), default=TaskStatus.UPLOADING)
    # A sentence the user can act on; set when failed.
    error: Mapped[str | None] = mapped_column(Text)
    # The engine's last log lines for a failed task (operators and users reporting bugs).
    error_log: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(32))
    engine: Mapped[str] = mapped_column(String(32))
    # Hash of the API token that created it, when tokens are configured.
    owner: Mapped[str | None] = mapped_column(String(64))

    # Queue bookkeeping: claims so far in the current stage, the lease, and when it became
    # claimable (also the start of the pickup-latency measurement and the retry back-off).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    duration_s: Mapped[float | None] = mapped_column(Float)
    words: Mapped[int | None] = mapped_column(Integer)
    missing_words: Mapped[int | None] = mapped_column(Integer)

    files: Mapped[list[TaskFile]] = relationship(
        back_populates="task",
        cascade="all, delete-orphan",
        order_by="TaskFile.position",
        lazy="selectin",
    )

    __table_args__ = (
        # Serves the claim query: the oldest claimable task of a status.
        Index("ix_tasks_status_available_at", "status", "available_at"),
        Index("ix_tasks_created_at", "created_at"),
    )


class TaskFile(Base):
    """One recording of a task, with its figures once known."""

    __tablename__ = "task_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(255))
    duration_s: Mapped[float | None] = mapped_column(Float)
    words: Mapped[int | None] = mapped_column(Integer)
    missing_words: Mapped[int | None] = mapped_column(Integer)
    tiers: Mapped[list[str]] = mapped_column(JSON, default=list)

    task: Mapped[Task] = relationship(back_populates="files")


class TaskEvent(Base):
    """One status change of a task: the history behind the SSE stream."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
