"""A stand-alone upload-stage worker process for the multi-process tests.

Usage: python queue_worker_process.py DB_URL OUT_FILE SECONDS_PER_TASK [CONCURRENCY]
Each task it finishes is appended to OUT_FILE as "<task id> <worker id>" (O_APPEND, so lines
from several processes never interleave) and then marked uploaded.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from autophon_core.models import Stage
from autophon_core.queue import ClaimedTask, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.testing import make_settings
from autophon_core.worker import QueueWorker

FIGURES = TaskFigures(duration_s=1.0, words=1, missing_words=0, files=[])


def main() -> None:
    db_url, out_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    settings = make_settings(db_url, __import__("pathlib").Path(out_file).parent)
    runtime = Runtime.create(settings)

    def handle(task: ClaimedTask, worker_id: str) -> str | None:
        time.sleep(seconds)
        if runtime.queue.mark_uploaded(task.id, worker_id, FIGURES):
            fd = os.open(out_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.write(fd, f"{task.id} {worker_id}\n".encode())
            os.close(fd)
        return None

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = QueueWorker(
        queue=runtime.queue,
        stage=Stage.UPLOAD,
        handler=handle,
        concurrency=concurrency,
        name="test-worker",
    )
    print("ready", flush=True)
    worker.run(stop)
    runtime.close()


if __name__ == "__main__":
    main()
