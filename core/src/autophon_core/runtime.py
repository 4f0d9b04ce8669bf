"""What a process builds from its settings: the database engine, the notifier, the task
queue and the storage root. ``autophon local`` builds one and shares it between components,
so their notifications stay in the process."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from autophon_core.config import Settings
from autophon_core.db import make_engine
from autophon_core.metrics import register_task_counts
from autophon_core.notify import Notifier, make_notifier
from autophon_core.queue import TaskQueue
from autophon_core.storage import Storage


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    notifier: Notifier
    queue: TaskQueue
    storage: Storage

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database)
        notifier = make_notifier(engine)
        queue = TaskQueue(engine, notifier, settings.queue)
        storage = Storage(settings.storage.root)
        storage.tasks_dir.mkdir(parents=True, exist_ok=True)
        register_task_counts(queue.counts_by_status)
        return cls(settings, engine, notifier, queue, storage)

    def close(self) -> None:
        self.notifier.close()
        self.engine.dispose()
