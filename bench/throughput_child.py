"""One worker process of the throughput figure (started by :mod:`bench.throughput`).

It builds its runtime once (its own engine and LISTEN connection, as a worker pod would),
then serves rounds: on "run" it builds a QueueWorker for the upload stage (concurrency 1,
the task body a no-op that marks the task uploaded), answers "ready", starts claiming when
the shared ``go`` event is set and stops when ``stop`` is; it answers with the ids of the
tasks it finished. "exit" ends it.
"""

from __future__ import annotations

import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

from autophon_core.config import Settings
from autophon_core.models import Stage
from autophon_core.queue import ClaimedTask, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.worker import QueueWorker
from bench.counting import StatementCounter

NO_FIGURES = TaskFigures(duration_s=0.0, words=0, missing_words=0, files=[])


def _round(
    runtime: Runtime,
    conn: Connection,
    done: Synchronized[int],
    last_done: Synchronized[float],
    go: Event,
    stop: Event,
) -> None:
    finished: list[str] = []

    def handle(task: ClaimedTask, worker_id: str) -> str | None:
        runtime.queue.mark_uploaded(task.id, worker_id, NO_FIGURES)
        finished.append(task.id)
        now = time.monotonic()
        with done.get_lock():
            done.value += 1
            last_done.value = max(last_done.value, now)
        return None

    worker = QueueWorker(
        queue=runtime.queue, stage=Stage.UPLOAD, handler=handle, concurrency=1, name="bench"
    )
    counter = StatementCounter(runtime.engine)
    local_stop = threading.Event()
    conn.send("ready")
    go.wait()
    counter.attach()
    thread = threading.Thread(target=worker.run, args=(local_stop,), daemon=True)
    thread.start()
    stop.wait()
    local_stop.set()
    runtime.notifier.hub.publish(Stage.UPLOAD)  # cut its idle wait short
    thread.join(timeout=30)
    counter.detach()
    conn.send((finished, counter.snapshot()))


def child_main(
    settings_json: str,
    conn: Connection,
    done: Synchronized[int],
    last_done: Synchronized[float],
    go: Event,
    stop: Event,
) -> None:
    runtime = Runtime.create(Settings.model_validate_json(settings_json))
    try:
        conn.send("up")
        while conn.recv() == "run":
            _round(runtime, conn, done, last_done, go, stop)
    finally:
        runtime.close()
