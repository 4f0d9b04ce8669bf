"""The systems whose pickup latency is measured, each with its own producer.

A system makes one task claimable per ``arrive()`` (stamping the commit time) and records
the time of each claim, both on this process's time.monotonic() clock:

- :class:`UploadWorkerSystem`: our upload worker (``make_upload_worker``, its handler swapped
  for a no-op that marks the task uploaded), woken by the notifier;
- :class:`ControllerSystem`: our controller's claim path (the real ``Controller`` with an
  :class:`InstantLauncher`), claims stamped as ``Controller._start`` begins;
- :class:`OriginalSystem`: the original workers' polling (:mod:`bench.baseline`).

On PostgreSQL the producer has its own runtime (engine and LISTEN connection), like the API
process; on SQLite it shares the worker's, like ``autophon local``.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from autophon_align.controller import Controller
from autophon_core.config import Settings
from autophon_core.db import make_engine
from autophon_core.models import Stage, new_task_id
from autophon_core.notify import LocalNotifier
from autophon_core.queue import ClaimedTask, TaskFigures, TaskQueue
from autophon_core.runtime import Runtime
from autophon_core.taskfiles import Manifest
from autophon_upload.worker import make_upload_worker
from bench.arrivals import StampingNotifier
from bench.baseline import OriginalPoller
from bench.instant_launcher import InstantLauncher

NO_FIGURES = TaskFigures(duration_s=0.0, words=0, missing_words=0, files=[])
PRODUCER = "bench-producer"


class PickupSystem(Protocol):
    label: str
    claimed: dict[str, float]
    # What our pickup-latency metric observed for each task (ClaimedTask.pickup_latency).
    metric: dict[str, float]

    @property
    def committed(self) -> dict[str, float]: ...

    def start(self) -> None: ...

    def arrive(self) -> str: ...

    def stop(self) -> None: ...


def _create(queue: TaskQueue, task_id: str) -> None:
    queue.create(
        task_id=task_id,
        language="eng",
        engine="pocketsphinx",
        file_names=["fox.wav", "fox.txt"],
        size_bytes=0,
    )


class _Threaded:
    """Runs ``self._run(stop)`` in a thread between start() and stop()."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self, stop: threading.Event) -> None:
        raise NotImplementedError

    def _wake(self) -> None:
        """Cut the worker's sleep short so that it sees the stop at once."""

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, args=(self._stop,), daemon=True)
        self._thread.start()

    def _join(self) -> None:
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=30)


class UploadWorkerSystem(_Threaded):
    def __init__(self, label: str, settings: Settings) -> None:
        super().__init__()
        self.label = label
        self.claimed: dict[str, float] = {}
        self.metric: dict[str, float] = {}
        self.runtime = Runtime.create(settings)
        shared = settings.database.url.startswith("sqlite")
        self._producer_runtime = self.runtime if shared else Runtime.create(settings)
        self._stamper = StampingNotifier(self._producer_runtime.notifier, Stage.UPLOAD)
        self._producer = TaskQueue(self._producer_runtime.engine, self._stamper, settings.queue)
        self.worker = make_upload_worker(self.runtime)
        self.worker.handler = self._handle

    @property
    def committed(self) -> dict[str, float]:
        return self._stamper.committed

    def _handle(self, task: ClaimedTask, worker_id: str) -> str | None:
        self.claimed[task.id] = time.monotonic()
        self.metric[task.id] = task.pickup_latency
        self.runtime.queue.mark_uploaded(task.id, worker_id, NO_FIGURES)
        return None

    def arrive(self) -> str:
        task_id = new_task_id()
        self._stamper.expect(task_id)
        _create(self._producer, task_id)
        return task_id

    def _run(self, stop: threading.Event) -> None:
        self.worker.run(stop)

    def _wake(self) -> None:
        self.runtime.notifier.hub.publish(Stage.UPLOAD)

    def stop(self) -> None:
        self._join()
        if self._producer_runtime is not self.runtime:
            self._producer_runtime.close()
        self.runtime.close()


class _StampedController(Controller):
    """The real controller; only records when each claim reaches ``_start``."""

    claimed: dict[str, float]
    metric: dict[str, float]

    def _start(self, task: ClaimedTask) -> None:
        self.claimed[task.id] = time.monotonic()
        self.metric[task.id] = task.pickup_latency
        super()._start(task)


class ControllerSystem(_Threaded):
    def __init__(self, label: str, settings: Settings) -> None:
        super().__init__()
        self.label = label
        self.claimed: dict[str, float] = {}
        self.metric: dict[str, float] = {}
        self.runtime = Runtime.create(settings)
        self._producer_runtime = Runtime.create(settings)
        self._stamper = StampingNotifier(self._producer_runtime.notifier, Stage.ALIGN)
        self._producer = TaskQueue(self._producer_runtime.engine, self._stamper, settings.queue)
        self.controller = _StampedController(self.runtime, InstantLauncher(self.runtime.storage))
        self.controller.claimed = self.claimed
        self.controller.metric = self.metric

    @property
    def committed(self) -> dict[str, float]:
        return self._stamper.committed

    def arrive(self) -> str:
        """A task as the upload worker leaves it: 'uploaded', with its manifest."""
        storage = self._producer_runtime.storage
        task_id = new_task_id()
        storage.create_task_dir(task_id)
        _create(self._producer, task_id)
        claim = self._producer.claim(Stage.UPLOAD, PRODUCER)
        assert claim is not None and claim.id == task_id, "the producer lost its own task"
        Manifest(
            task_id=task_id, language="eng", engine="pocketsphinx", files=[], missing_words=[]
        ).save(storage.task(task_id))
        self._stamper.expect(task_id)
        self._producer.mark_uploaded(task_id, PRODUCER, NO_FIGURES)
        return task_id

    def _run(self, stop: threading.Event) -> None:
        self.controller.run(stop)

    def _wake(self) -> None:
        self.runtime.notifier.hub.publish(Stage.ALIGN)

    def stop(self) -> None:
        self._join()
        self._producer_runtime.close()
        self.runtime.close()


class OriginalSystem(_Threaded):
    def __init__(self, label: str, settings: Settings) -> None:
        super().__init__()
        self.label = label
        self.claimed: dict[str, float] = {}
        self.metric: dict[str, float] = {}  # the original had no such metric
        self._engine = make_engine(settings.database)
        self._producer_engine = make_engine(settings.database)
        # The original had no notifications: the producer's go nowhere.
        self._stamper = StampingNotifier(LocalNotifier(), Stage.UPLOAD)
        self._producer = TaskQueue(self._producer_engine, self._stamper, settings.queue)
        self.poller = OriginalPoller(self._engine, on_claim=self.claimed.__setitem__)

    @property
    def committed(self) -> dict[str, float]:
        return self._stamper.committed

    def arrive(self) -> str:
        task_id = new_task_id()
        self._stamper.expect(task_id)
        _create(self._producer, task_id)
        return task_id

    def _run(self, stop: threading.Event) -> None:
        self.poller.run(stop)

    def stop(self) -> None:
        self._join()
        self._engine.dispose()
        self._producer_engine.dispose()
