from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from autophon_core.models import Stage, Task, TaskStatus, new_task_id, utcnow
from autophon_core.queue import FileFigures, TaskFigures, TaskQueue
from autophon_core.runtime import Runtime


def add_task(queue: TaskQueue, **kwargs: object) -> str:
    task_id = new_task_id()
    queue.create(
        task_id=task_id,
        language="eng",
        engine="pocketsphinx",
        file_names=["a.wav", "a.txt"],
        size_bytes=10,
        **kwargs,  # type: ignore[arg-type]
    )
    return task_id


FIGURES = TaskFigures(
    duration_s=3.4,
    words=9,
    missing_words=1,
    files=[FileFigures(name="a.wav", duration_s=3.4, words=9, missing_words=1, tiers=["words"])],
)


def expire_lease(queue: TaskQueue, task_id: str) -> None:
    with queue.engine.begin() as connection:
        connection.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def test_claim_takes_each_task_once_oldest_first(runtime: Runtime) -> None:
    queue = runtime.queue
    first, second = add_task(queue), add_task(queue)
    claimed = [queue.claim(Stage.UPLOAD, "w1"), queue.claim(Stage.UPLOAD, "w2")]
    assert [c.id for c in claimed if c] == [first, second]
    assert queue.claim(Stage.UPLOAD, "w3") is None
    task = queue.get(first)
    assert task is not None and task.lease_owner == "w1" and task.attempts == 1


def test_stages_hand_on_and_record_events(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    assert queue.claim(Stage.ALIGN, "c1") is None  # not uploaded yet
    claimed = queue.claim(Stage.UPLOAD, "w1")
    assert claimed is not None
    assert queue.mark_uploaded(task_id, "w1", FIGURES)
    aligned = queue.claim(Stage.ALIGN, "c1")
    assert aligned is not None and aligned.id == task_id and aligned.attempts == 1
    assert queue.complete(task_id, "c1", FIGURES)
    task = queue.get(task_id)
    assert task is not None
    assert task.status == TaskStatus.COMPLETED and task.words == 9
    assert [f.name for f in task.files] == ["a.wav"] and task.files[0].tiers == ["words"]
    assert [e.status for e in queue.events(task_id)] == [
        "uploading",
        "uploaded",
        "processing",
        "completed",
    ]


def test_expired_lease_is_reclaimed_and_old_owner_cannot_finish(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    assert queue.claim(Stage.UPLOAD, "dead") is not None
    assert queue.claim(Stage.UPLOAD, "other") is None  # lease still valid
    expire_lease(queue, task_id)
    again = queue.claim(Stage.UPLOAD, "other")
    assert again is not None and again.attempts == 2
    assert not queue.mark_uploaded(task_id, "dead", FIGURES)
    assert queue.renew([task_id], "dead") == set()
    assert queue.renew([task_id], "other") == {task_id}
    assert queue.mark_uploaded(task_id, "other", FIGURES)


def test_processing_task_of_dead_controller_is_reclaimed(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    queue.claim(Stage.UPLOAD, "w")
    queue.mark_uploaded(task_id, "w", FIGURES)
    assert queue.claim(Stage.ALIGN, "c-dead") is not None
    assert queue.claim(Stage.ALIGN, "c2") is None
    expire_lease(queue, task_id)
    again = queue.claim(Stage.ALIGN, "c2")
    assert again is not None and again.status == TaskStatus.PROCESSING


def test_attempt_limit_fails_task_with_reason(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    for _ in range(queue.config.max_attempts):
        assert queue.claim(Stage.UPLOAD, "crashy") is not None
        expire_lease(queue, task_id)
    assert queue.claim(Stage.UPLOAD, "next") is None
    assert queue.fail_exhausted(Stage.ALIGN) == []
    assert queue.fail_exhausted(Stage.UPLOAD) == [task_id]
    task = queue.get(task_id)
    assert task is not None and task.status == TaskStatus.FAILED
    assert task.error and "stopped unexpectedly 3 times" in task.error


def test_release_hands_back_without_counting_an_attempt(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    queue.claim(Stage.UPLOAD, "w1")
    assert queue.release(task_id, "w1")
    claimed = queue.claim(Stage.UPLOAD, "w2")
    assert claimed is not None and claimed.attempts == 1


def test_cancel_stops_the_holder(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    queue.claim(Stage.UPLOAD, "w1")
    assert queue.cancel(task_id) == TaskStatus.UPLOADING
    assert queue.cancel(task_id) is None
    assert not queue.mark_uploaded(task_id, "w1", FIGURES)
    assert queue.renew([task_id], "w1") == set()
    task = queue.get(task_id)
    assert task is not None and task.status == TaskStatus.CANCELLED


def test_retry_later_delays_the_next_claim(runtime: Runtime) -> None:
    queue = runtime.queue
    task_id = add_task(queue)
    queue.claim(Stage.UPLOAD, "w")
    queue.mark_uploaded(task_id, "w", FIGURES)
    queue.claim(Stage.ALIGN, "c")
    assert queue.retry_later(task_id, "c", 60, "pod evicted")
    assert queue.claim(Stage.ALIGN, "c") is None
    with queue.engine.begin() as connection:
        connection.execute(update(Task).where(Task.id == task_id).values(available_at=utcnow()))
    again = queue.claim(Stage.ALIGN, "c")
    assert again is not None and again.attempts == 2


def test_list_pages_newest_first(runtime: Runtime) -> None:
    queue = runtime.queue
    ids = [add_task(queue) for _ in range(5)]
    page1 = queue.list_tasks(limit=3)
    assert [t.id for t in page1] == ids[::-1][:3]
    last = page1[-1]
    page2 = queue.list_tasks(limit=3, before=(last.created_at, last.id))
    assert [t.id for t in page2] == ids[::-1][3:]
    assert queue.counts_by_status()["uploading"] == 5


def test_notification_wakes_a_waiting_worker(runtime: Runtime) -> None:
    hub = runtime.notifier.hub
    sequence = hub.sequence(Stage.UPLOAD)
    woke = threading.Event()

    def wait() -> None:
        if hub.wait(Stage.UPLOAD, sequence, timeout=10):
            woke.set()

    thread = threading.Thread(target=wait)
    thread.start()
    add_task(runtime.queue)
    thread.join(timeout=10)
    assert woke.is_set()


@pytest.mark.parametrize("workers", [8])
def test_concurrent_threads_claim_every_task_exactly_once(runtime: Runtime, workers: int) -> None:
    queue = runtime.queue
    ids = {add_task(queue) for _ in range(200)}
    claimed: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while True:
            task = queue.claim(Stage.UPLOAD, name)
            if task is None:
                return
            with lock:
                claimed.append(task.id)
            queue.mark_uploaded(task.id, name, FIGURES)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert time.monotonic() - start < 300  # guard against a hang, not a speed target
    assert sorted(claimed) == sorted(ids)
