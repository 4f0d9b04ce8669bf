"""The task queue: every statement that reads or changes a task's state lives here.

A claim is one atomic statement: ``UPDATE tasks ... WHERE id = (SELECT id ... FOR UPDATE SKIP
LOCKED LIMIT 1) RETURNING ...``. On SQLite ``FOR UPDATE`` is not rendered, and the statement
runs in a ``BEGIN IMMEDIATE`` transaction (see db.py), which serialises claims instead. A claim
takes a lease; the holder renews it; a task whose lease expired (its worker died) is claimable
again until ``max_attempts`` claims were made, after which :meth:`TaskQueue.fail_exhausted`
fails it with a stored reason. Every state change is conditional on the caller still holding
the lease, so a worker that lost its task (cancelled, or reclaimed after a stall) cannot
overwrite the new state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, Result, and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from autophon_core.config import QueueConfig
from autophon_core.db import make_sessionmaker
from autophon_core.models import (
    FINAL_STATUSES,
    Stage,
    Task,
    TaskEvent,
    TaskFile,
    TaskStatus,
    utcnow,
)
from autophon_core.notify import Notifier


@dataclass(frozen=True, kw_only=True)
class ClaimedTask:
    id: str
    language: str
    engine: str
    status: TaskStatus
    attempts: int
    # When the task became claimable (for the pickup-latency metric).
    claimable_since: datetime
    claimed_at: datetime

    @property
    def pickup_latency(self) -> float:
        return max(0.0, (self.claimed_at - self.claimable_since).total_seconds())


@dataclass(frozen=True, kw_only=True)
class FileFigures:
    name: str
    duration_s: float | None = None
    words: int | None = None
    missing_words: int | None = None
    tiers: Sequence[str] = ()


@dataclass(frozen=True, kw_only=True)
class TaskFigures:
    """Counts stored on a task by the upload worker and again after alignment."""

    duration_s: float
    words: int
    missing_words: int
    files: Sequence[FileFigures]


_NOTIFY_KEY = "autophon_notify"


def _rowcount(result: Result[Any]) -> int:
    """Rows matched by an UPDATE or DELETE (a CursorResult's rowcount)."""
    return cast(CursorResult[Any], result).rowcount


def token_owner(token: str | None) -> str | None:
    """What is stored as a task's owner: a hash, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest() if token else None


class TaskQueue:
    def __init__(self, engine: Engine, notifier: Notifier, config: QueueConfig) -> None:
        self.engine = engine
        self.notifier = notifier
        self.config = config
        self._sessions = make_sessionmaker(engine)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A transaction; the channels given to :meth:`_notify` inside it are notified with
        its commit (PostgreSQL: ``pg_notify`` in the same transaction, so no extra round
        trip; in-process: published right after the commit)."""
        with self._sessions() as session:
            with session.begin():
                yield session
                channels = session.info.pop(_NOTIFY_KEY, [])
                if channels:
                    self.notifier.in_transaction(session.connection(), channels)
            if channels:
                self.notifier.after_commit(channels)

    @staticmethod
    def _notify(session: Session, *channels: str) -> None:
        pending = session.info.setdefault(_NOTIFY_KEY, [])
        pending.extend(c for c in channels if c not in pending)

    @staticmethod
    def _record(session: Session, task_id: str, status: str, message: str | None = None) -> None:
        session.add(TaskEvent(task_id=task_id, status=status, message=message))

    def _lease_expiry(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.config.lease_seconds)

    # --- creating and reading ------------------------------------------------------------

    def create(
        self,
        *,
        task_id: str,
        language: str,
        engine: str,
        file_names: Sequence[str],
        size_bytes: int,
        owner: str | None = None,
    ) -> Task:
        """Store a new task (its files are already on disk) and wake the upload workers."""
        now = utcnow()
        task = Task(
            id=task_id,
            status=TaskStatus.UPLOADING,
            language=language,
            engine=engine,
            owner=owner,
            size_bytes=size_bytes,
            attempts=0,
            available_at=now,
            created_at=now,
            updated_at=now,
            files=[TaskFile(position=i, name=name) for i, name in enumerate(file_names)],
        )
        with self._transaction() as session:
            session.add(task)
            session.flush()
            self._record(session, task_id, TaskStatus.UPLOADING)
            self._notify(session, Stage.UPLOAD, "events")
        return task

    def get(self, task_id: str) -> Task | None:
        with self._sessions() as session:
            return session.get(Task, task_id)

    def list_tasks(
        self,
        *,
        status: TaskStatus | None = None,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
        owner: str | None = None,
    ) -> list[Task]:
        """Newest first; ``before`` is the (created_at, id) of the last task of the previous
        page."""
        query = select(Task).order_by(Task.created_at.desc(), Task.id.desc()).limit(limit)
        if status is not None:
            query = query.where(Task.status == status)
        if owner is not None:
            query = query.where(Task.owner == owner)
        if before is not None:
            created_at, task_id = before
            query = query.where(
                or_(
                    Task.created_at < created_at,
                    and_(Task.created_at == created_at, Task.id < task_id),
                )
            )
        with self._sessions() as session:
            return list(session.scalars(query))

    def events(self, task_id: str, after_id: int = 0) -> list[TaskEvent]:
        query = (
            select(TaskEvent)
            .where(TaskEvent.task_id == task_id, TaskEvent.id > after_id)
            .order_by(TaskEvent.id)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    def counts_by_status(self) -> dict[str, int]:
        query = select(Task.status, func.count()).group_by(Task.status)
        with self._sessions() as session:
            counts = {status.value: 0 for status in TaskStatus}
            counts.update({status: count for status, count in session.execute(query).all()})
            return counts

    def existing(self, task_ids: Sequence[str]) -> set[str]:
        """Which of these ids have a task row."""
        if not task_ids:
            return set()
        with self._sessions() as session:
            return set(session.scalars(select(Task.id).where(Task.id.in_(task_ids))))

    def active_tasks(self, stage: Stage) -> list[Task]:
        """Tasks claimed in ``stage`` right now (with a lease), oldest first."""
        query = (
            select(Task)
            .where(Task.status == stage.claimed_status, Task.lease_owner.is_not(None))
            .order_by(Task.available_at)
        )
        with self._sessions() as session:
            return list(session.scalars(query))

    # --- claiming and leases -------------------------------------------------------------

    def claim(self, stage: Stage, worker_id: str) -> ClaimedTask | None:
        """Atomically take the oldest claimable task of ``stage``, or None."""
        now = utcnow()
        claimable = and_(
            Task.status.in_([stage.claimable_status, stage.claimed_status]),
            Task.available_at <= now,
            Task.attempts < self.config.max_attempts,
            or_(Task.lease_expires_at.is_(None), Task.lease_expires_at < now),
            # An 'uploaded' task has no lease; a 'processing' one was claimed before and is
            # claimable only when its lease ran out.
            or_(
                Task.status == stage.claimable_status,
                Task.lease_expires_at.is_not(None),
            ),
        )
        candidate = (
            select(Task.id)
            .where(claimable)
            .order_by(Task.available_at)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        # A reclaimed task became claimable when its lease ran out: record that moment as
        # available_at, the start of its pickup latency.
        claimable_since = case(
            (
                and_(
                    Task.lease_expires_at.is_not(None),
                    Task.lease_expires_at > Task.available_at,
                ),
                Task.lease_expires_at,
            ),
            else_=Task.available_at,
        )
        statement = (
            update(Task)
            .where(Task.id == candidate, claimable)
            .values(
                status=stage.claimed_status,
                attempts=Task.attempts + 1,
                lease_owner=worker_id,
                lease_expires_at=self._lease_expiry(now),
                available_at=claimable_since,
                updated_at=now,
            )
            .returning(Task.id, Task.language, Task.engine, Task.attempts, Task.available_at)
            .execution_options(synchronize_session=False)
        )
        with self._transaction() as session:
            row = session.execute(statement).first()
            if row is None:
                return None
            last_event = session.scalar(
                select(TaskEvent.status)
                .where(TaskEvent.task_id == row.id)
                .order_by(TaskEvent.id.desc())
                .limit(1)
            )
            if last_event != stage.claimed_status:
                self._record(session, row.id, stage.claimed_status)
        return ClaimedTask(
            id=row.id,
            language=row.language,
            engine=row.engine,
            status=stage.claimed_status,
            attempts=row.attempts,
            claimable_since=row.available_at,
            claimed_at=now,
        )

    def renew(self, task_ids: Sequence[str], worker_id: str) -> set[str]:
        """Extend the leases this worker holds; returns the ids it still holds (a task missing
        from the answer was cancelled, finished elsewhere or reclaimed)."""
        if not task_ids:
            return set()
        now = utcnow()
        statement = (
            update(Task)
            .where(
                Task.id.in_(task_ids),
                Task.lease_owner == worker_id,
                Task.status.not_in(FINAL_STATUSES),
            )
            .values(lease_expires_at=self._lease_expiry(now))
            .returning(Task.id)
            .execution_options(synchronize_session=False)
        )
        with self._transaction() as session:
            return set(session.scalars(statement))

    def release(self, task_id: str, worker_id: str) -> bool:
        """Hand a task back at once (graceful shutdown): claimable again, the claim not
        counted as an attempt."""
        now = utcnow()
        statement = (
            update(Task)
            .where(Task.id == task_id, Task.lease_owner == worker_id)
            .values(
                lease_owner=None,
                lease_expires_at=now,
                attempts=func.max(Task.attempts - 1, 0)
                if self.engine.dialect.name == "sqlite"
                else func.greatest(Task.attempts - 1, 0),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        with self._transaction() as session:
            released = _rowcount(session.execute(statement)) > 0
            if released:
                self._notify(session, *Stage)
        return released

    # --- finishing a stage ---------------------------------------------------------------

    def _finish(
        self,
        task_id: str,
        worker_id: str | None,
        *,
        from_status: TaskStatus,
        to_status: TaskStatus,
        values: dict[str, Any],
        figures: TaskFigures | None = None,
        message: str | None = None,
        notify: Sequence[str] = (),
    ) -> bool:
        now = utcnow()
        conditions = [Task.id == task_id, Task.status == from_status]
        if worker_id is not None:
            conditions.append(Task.lease_owner == worker_id)
        statement = (
            update(Task)
            .where(*conditions)
            .values(
                status=to_status,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        with self._transaction() as session:
            if _rowcount(session.execute(statement)) == 0:
                return False
            if figures is not None:
                self._store_figures(session, task_id, figures)
            self._record(session, task_id, to_status, message)
            self._notify(session, "events", *notify)
        return True

    @staticmethod
    def _store_figures(session: Session, task_id: str, figures: TaskFigures) -> None:
        session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(
                duration_s=figures.duration_s,
                words=figures.words,
                missing_words=figures.missing_words,
            )
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(TaskFile).where(TaskFile.task_id == task_id))
        session.add_all(
            TaskFile(
                task_id=task_id,
                position=i,
                name=f.name,
                duration_s=f.duration_s,
                words=f.words,
                missing_words=f.missing_words,
                tiers=list(f.tiers),
            )
            for i, f in enumerate(figures.files)
        )

    def mark_uploaded(self, task_id: str, worker_id: str, figures: TaskFigures) -> bool:
        """The upload worker is done: the task is ready for alignment."""
        return self._finish(
            task_id,
            worker_id,
            from_status=TaskStatus.UPLOADING,
            to_status=TaskStatus.UPLOADED,
            values={"attempts": 0, "available_at": utcnow()},
            figures=figures,
            notify=[Stage.ALIGN],
        )

    def complete(self, task_id: str, worker_id: str, figures: TaskFigures | None) -> bool:
        return self._finish(
            task_id,
            worker_id,
            from_status=TaskStatus.PROCESSING,
            to_status=TaskStatus.COMPLETED,
            values={"finished_at": utcnow(), "error": None},
            figures=figures,
        )

    def fail(
        self,
        task_id: str,
        worker_id: str | None,
        stage: Stage,
        error: str,
        error_log: str | None = None,
    ) -> bool:
        """Fail the task for good with a sentence the user can act on."""
        return self._finish(
            task_id,
            worker_id,
            from_status=stage.claimed_status,
            to_status=TaskStatus.FAILED,
            values={"finished_at": utcnow(), "error": error, "error_log": error_log},
            message=error,
        )

    def retry_later(self, task_id: str, worker_id: str, delay_seconds: float, reason: str) -> bool:
        """Put an alignment back in the queue after a failure that may succeed on retry (an
        evicted pod, a lost node). The next claim counts as another attempt."""
        if self.get_attempts(task_id) >= self.config.max_attempts:
            return self.fail(
                task_id,
                worker_id,
                Stage.ALIGN,
                f"The alignment was interrupted {self.config.max_attempts} times "
                f"(last: {reason}); please try again later.",
            )
        return self._finish(
            task_id,
            worker_id,
            from_status=TaskStatus.PROCESSING,
            to_status=TaskStatus.UPLOADED,
            values={"available_at": utcnow() + timedelta(seconds=delay_seconds)},
            message=f"retrying: {reason}",
            notify=[Stage.ALIGN],
        )

    def get_attempts(self, task_id: str) -> int:
        with self._sessions() as session:
            return session.scalar(select(Task.attempts).where(Task.id == task_id)) or 0

    def fail_exhausted(self, stage: Stage) -> list[str]:
        """Fail the stage's tasks whose lease expired after their last allowed attempt (their
        workers died each time); returns their ids."""
        now = utcnow()
        query = select(Task.id).where(
            Task.status == stage.claimed_status,
            Task.attempts >= self.config.max_attempts,
            Task.lease_expires_at < now,
        )
        with self._sessions() as session:
            rows = session.execute(query).all()
        failed = []
        what = "preparing the files" if stage is Stage.UPLOAD else "aligning"
        for (task_id,) in rows:
            if self._fail_expired(task_id, stage, now, what):
                failed.append(task_id)
        return failed

    def _fail_expired(self, task_id: str, stage: Stage, now: datetime, what: str) -> bool:
        error = (
            f"The worker {what} stopped unexpectedly {self.config.max_attempts} times; "
            "the files may be too large or unusual. Please check them or contact support."
        )
        statement = (
            update(Task)
            .where(
                Task.id == task_id,
                Task.status == stage.claimed_status,
                Task.lease_expires_at < now,
            )
            .values(
                status=TaskStatus.FAILED,
                error=error,
                lease_owner=None,
                lease_expires_at=None,
                finished_at=now,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        with self._transaction() as session:
            if _rowcount(session.execute(statement)) == 0:
                return False
            self._record(session, task_id, TaskStatus.FAILED, error)
            self._notify(session, "events")
        return True

    # --- cancelling and deleting ---------------------------------------------------------

    def cancel(self, task_id: str) -> TaskStatus | None:
        """Cancel a task that is not finished; returns its status before, or None if it was
        already final (or does not exist)."""
        now = utcnow()
        with self._transaction() as session:
            status = session.scalar(select(Task.status).where(Task.id == task_id))
            if status is None or TaskStatus(status).final:
                return None
            session.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(
                    status=TaskStatus.CANCELLED,
                    lease_owner=None,
                    finished_at=now,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            self._record(session, task_id, TaskStatus.CANCELLED)
            self._notify(session, "events", Stage.ALIGN)
        return TaskStatus(status)

    def delete(self, task_id: str) -> bool:
        with self._transaction() as session:
            session.execute(delete(TaskEvent).where(TaskEvent.task_id == task_id))
            session.execute(delete(TaskFile).where(TaskFile.task_id == task_id))
            return _rowcount(session.execute(delete(Task).where(Task.id == task_id))) > 0

    def expire_finished(self, older_than: datetime) -> list[str]:
        """Mark finished tasks older than ``older_than`` expired (retention); returns ids.
        Their folders are removed by the caller."""
        now = utcnow()
        statement = (
            update(Task)
            .where(
                Task.status.in_([TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED]),
                Task.finished_at < older_than,
            )
            .values(status=TaskStatus.EXPIRED, updated_at=now)
            .returning(Task.id)
            .execution_options(synchronize_session=False)
        )
        with self._transaction() as session:
            ids = list(session.scalars(statement))
            for task_id in ids:
                self._record(session, task_id, TaskStatus.EXPIRED)
        return ids
