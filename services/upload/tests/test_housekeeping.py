from __future__ import annotations

import os
import time
from datetime import timedelta

from sqlalchemy import update

from autophon_core.models import Stage, Task, TaskStatus, new_task_id, utcnow
from autophon_core.runtime import Runtime
from autophon_upload.housekeeping import ORPHAN_AGE, expire_old_tasks, remove_orphan_folders


def make_task(runtime: Runtime, finished_days_ago: float | None) -> str:
    task_id = new_task_id()
    runtime.storage.create_task_dir(task_id)
    runtime.queue.create(
        task_id=task_id, language="eng", engine="pocketsphinx", file_names=[], size_bytes=0
    )
    if finished_days_ago is not None:
        runtime.queue.claim(Stage.UPLOAD, "w")
        runtime.queue.fail(task_id, "w", Stage.UPLOAD, "bad")
        with runtime.engine.begin() as connection:
            connection.execute(
                update(Task)
                .where(Task.id == task_id)
                .values(finished_at=utcnow() - timedelta(days=finished_days_ago))
            )
    return task_id


def test_only_finished_tasks_past_retention_expire(runtime: Runtime) -> None:
    old = make_task(runtime, finished_days_ago=31)
    recent = make_task(runtime, finished_days_ago=1)
    just_uploaded = make_task(runtime, finished_days_ago=None)
    assert expire_old_tasks(runtime) == [old]
    task = runtime.queue.get(old)
    assert task is not None and task.status == TaskStatus.EXPIRED
    assert not runtime.storage.task(old).root.exists()
    for kept in (recent, just_uploaded):
        assert runtime.storage.task(kept).root.exists()


def test_old_folders_without_a_task_are_removed(runtime: Runtime) -> None:
    owned = make_task(runtime, finished_days_ago=None)
    orphan, fresh_orphan = new_task_id(), new_task_id()
    runtime.storage.create_task_dir(orphan)
    runtime.storage.create_task_dir(fresh_orphan)
    (runtime.storage.tasks_dir / "not-a-task").mkdir()
    old = time.time() - ORPHAN_AGE.total_seconds() - 60
    for task_id in (owned, orphan):
        os.utime(runtime.storage.task(task_id).root, (old, old))
    assert remove_orphan_folders(runtime) == [orphan]
    assert runtime.storage.task(owned).root.exists()
    assert runtime.storage.task(fresh_orphan).root.exists()
    assert (runtime.storage.tasks_dir / "not-a-task").exists()
