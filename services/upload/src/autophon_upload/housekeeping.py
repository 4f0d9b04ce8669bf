"""Retention, run periodically by the upload workers.

Unlike the original nightly cleaner (which emptied /tmp and expired tasks just uploaded), it
touches only task folders, and only two kinds: those of finished tasks past the retention
period (the task row stays, as 'expired'), and folders with no task row at all that are older
than ORPHAN_AGE (an API process that died between storing files and committing the task).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from autophon_core.models import utcnow
from autophon_core.runtime import Runtime
from autophon_core.storage import TASK_ID_RE

log = logging.getLogger("autophon.housekeeping")

ORPHAN_AGE = timedelta(hours=12)
HOUSEKEEPING_INTERVAL_SECONDS = 600.0


def expire_old_tasks(runtime: Runtime) -> list[str]:
    days = runtime.settings.storage.result_retention_days
    if days <= 0:
        return []
    expired = runtime.queue.expire_finished(utcnow() - timedelta(days=days))
    for task_id in expired:
        runtime.storage.remove_task_dir(task_id)
        log.info("task expired", extra={"task_id": task_id})
    return expired


def remove_orphan_folders(runtime: Runtime) -> list[str]:
    tasks_dir = runtime.storage.tasks_dir
    if not tasks_dir.is_dir():
        return []
    cutoff = time.time() - ORPHAN_AGE.total_seconds()
    old = [
        entry.name
        for entry in tasks_dir.iterdir()
        if TASK_ID_RE.match(entry.name) and entry.stat().st_mtime < cutoff
    ]
    orphans = sorted(set(old) - runtime.queue.existing(old))
    for task_id in orphans:
        runtime.storage.remove_task_dir(task_id)
        log.warning("orphan task folder removed", extra={"task_id": task_id})
    return orphans


def housekeeping(runtime: Runtime) -> None:
    expire_old_tasks(runtime)
    remove_orphan_folders(runtime)
