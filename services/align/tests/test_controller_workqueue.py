"""The controller's keyed work queue."""

from __future__ import annotations

import threading

from autophon_align.workqueue import WorkQueue


def test_a_key_is_queued_once_however_often_it_is_added() -> None:
    queue = WorkQueue()
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert [queue.get(0.1), queue.get(0.1), queue.get(0.01)] == ["a", "b", None]


def test_a_key_added_while_processing_comes_back_after_done() -> None:
    queue = WorkQueue()
    queue.add("a")
    assert queue.get(0.1) == "a"
    queue.add("a")
    assert queue.get(0.01) is None  # never handed to two workers at once
    queue.done("a")
    assert queue.get(0.1) == "a"
    queue.done("a")
    assert queue.get(0.01) is None


def test_rate_limited_adds_back_off_exponentially_until_forgotten() -> None:
    queue = WorkQueue(base_delay=0.01, max_delay=0.04)
    delays = [queue.add_rate_limited("a") for _ in range(5)]
    assert delays == [0.01, 0.02, 0.04, 0.04, 0.04]
    assert queue.failures("a") == 5
    assert queue.get(2.0) == "a"
    queue.done("a")
    queue.forget("a")
    assert queue.failures("a") == 0 and queue.add_rate_limited("a") == 0.01


def test_a_delayed_key_waits_for_its_time() -> None:
    queue = WorkQueue()
    queue.add_after("late", 60)
    queue.add("now")
    assert queue.get(0.1) == "now"
    assert queue.get(0.05) is None
    assert len(queue) == 1


def test_a_huge_failure_count_does_not_overflow() -> None:
    queue = WorkQueue(base_delay=0.2, max_delay=30)
    for _ in range(2000):
        delay = queue.add_rate_limited("a")
    assert delay == 30


def test_shut_down_wakes_waiting_workers() -> None:
    queue = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get(30)))
    worker.start()
    queue.shut_down()
    worker.join(timeout=5)
    assert got == [None]
    queue.add("ignored")
    assert queue.get(0.01) is None
