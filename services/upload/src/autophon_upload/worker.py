"""The upload worker (``autophon upload-worker``): claims 'uploading' tasks, validates and
converts their files (see processing/), and marks them ready for alignment."""

from __future__ import annotations

import logging
import threading

from autophon_core.metrics import serve_metrics
from autophon_core.migrate import readiness_problem
from autophon_core.models import Stage
from autophon_core.queue import ClaimedTask, FileFigures, TaskFigures
from autophon_core.runtime import Runtime
from autophon_core.taskfiles import Manifest
from autophon_core.worker import QueueWorker
from autophon_upload.housekeeping import HOUSEKEEPING_INTERVAL_SECONDS, housekeeping
from autophon_upload.processing import BadInputError, prepare_task

log = logging.getLogger("autophon.upload")


def figures_of(manifest: Manifest) -> TaskFigures:
    return TaskFigures(
        duration_s=manifest.duration_s,
        words=sum(f.words for f in manifest.files),
        missing_words=len(manifest.missing_words),
        files=[
            FileFigures(
                name=f.name,
                duration_s=f.duration_s,
                words=f.words,
                missing_words=f.missing_words,
                tiers=f.tiers,
            )
            for f in manifest.files
        ],
    )


class UploadHandler:
    """Processes one claimed task; every outcome is recorded on the task."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __call__(self, task: ClaimedTask, worker_id: str) -> str | None:
        queue, settings = self.runtime.queue, self.runtime.settings
        paths = self.runtime.storage.task(task.id)
        try:
            manifest = prepare_task(
                paths, task.id, settings.language(task.language), task.engine, settings
            )
        except BadInputError as exc:
            log.info("upload rejected", extra={"task_id": task.id, "error": str(exc)})
            queue.fail(task.id, worker_id, Stage.UPLOAD, str(exc))
            return "bad_input"
        except OSError as exc:
            log.error("storage error", extra={"task_id": task.id, "error": str(exc)})
            queue.fail(
                task.id,
                worker_id,
                Stage.UPLOAD,
                "The server could not write this task's files (its storage is full or "
                "unavailable). Please upload them again later.",
            )
            return "storage"
        if queue.mark_uploaded(task.id, worker_id, figures_of(manifest)):
            log.info(
                "task ready for alignment",
                extra={
                    "task_id": task.id,
                    "files": len(manifest.files),
                    "duration_s": round(manifest.duration_s, 3),
                    "missing_words": len(manifest.missing_words),
                },
            )
        else:
            log.info("task no longer ours (cancelled?)", extra={"task_id": task.id})
        return None


def make_upload_worker(runtime: Runtime) -> QueueWorker:
    return QueueWorker(
        queue=runtime.queue,
        stage=Stage.UPLOAD,
        handler=UploadHandler(runtime),
        concurrency=runtime.settings.upload_worker.concurrency,
        name="upload-worker",
        periodic=[(HOUSEKEEPING_INTERVAL_SECONDS, lambda: housekeeping(runtime))],
    )


def run_upload_worker(runtime: Runtime, stop: threading.Event) -> None:
    serve_metrics(
        runtime.settings.upload_worker.metrics_port,
        ready=lambda: readiness_problem(runtime.engine),
    )
    make_upload_worker(runtime).run(stop)
