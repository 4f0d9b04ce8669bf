"""Figure 3: claim throughput, tasks claimed and completed per second by 1, 2, 4 and 8
workers on one PostgreSQL database.

Workers are separate processes (spawned once, each with its own runtime, as worker pods
would be), each running one QueueWorker of concurrency 1 on the upload stage whose task body
is a no-op that marks the task uploaded. Each round inserts the tasks up front, starts the
chosen number of workers at once and times from the start to the last completion (both on
the machine-wide monotonic clock). Every task must be finished exactly once.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from multiprocessing.connection import Connection

from sqlalchemy.orm import Session

from autophon_core.config import Settings
from autophon_core.db import make_engine
from autophon_core.models import Task, TaskEvent, TaskStatus, new_task_id, utcnow
from bench.env import BenchEnv, bench_settings
from bench.report import Figure
from bench.throughput_child import child_main

WORKERS = (1, 2, 4, 8)
ROUND_TIMEOUT = 120.0


def _insert_tasks(settings: Settings, count: int) -> None:
    """``count`` tasks waiting for the upload stage, in one transaction."""
    engine = make_engine(settings.database)
    now = utcnow()
    try:
        with Session(engine) as session, session.begin():
            for _ in range(count):
                task_id = new_task_id()
                session.add(
                    Task(
                        id=task_id,
                        status=TaskStatus.UPLOADING,
                        language="eng",
                        engine="pocketsphinx",
                        attempts=0,
                        size_bytes=0,
                        available_at=now,
                        created_at=now,
                        updated_at=now,
                    )
                )
                session.add(TaskEvent(task_id=task_id, status=TaskStatus.UPLOADING))
    finally:
        engine.dispose()


def run(env: BenchEnv) -> Iterator[Figure]:
    tasks_per_round: int = env.pick(800, 12)
    ctx = multiprocessing.get_context("spawn")
    done = ctx.Value("i", 0)
    last_done = ctx.Value("d", 0.0)
    go, stop = ctx.Event(), ctx.Event()
    with env.pg.database() as url:
        settings = bench_settings(url, env.folder("throughput"), logging={"level": "WARNING"})
        pipes: list[Connection] = []
        processes = []
        for _ in range(max(WORKERS)):
            parent, child = ctx.Pipe()
            process = ctx.Process(
                target=child_main,
                args=(settings.model_dump_json(), child, done, last_done, go, stop),
                daemon=True,
            )
            process.start()
            pipes.append(parent)
            processes.append(process)
        try:
            for pipe in pipes:
                if not pipe.poll(60) or pipe.recv() != "up":
                    raise RuntimeError("a throughput worker did not start")
            results: dict[int, tuple[float, dict[str, object]]] = {}
            for workers in WORKERS:
                results[workers] = _round(
                    settings, pipes[:workers], tasks_per_round, done, last_done, go, stop
                )
            for pipe in pipes:
                pipe.send("exit")
        finally:
            for process in processes:
                process.join(timeout=10)
                if process.is_alive():
                    process.kill()
    single = results[1][0]
    for workers in WORKERS:
        rate, context = results[workers]
        yield Figure(
            name=f"claim_throughput_{workers}w",
            value=rate,
            unit="tasks/s",
            baseline=None if workers == 1 else single,
            context={"workers": workers, "kind": "processes", "db": "postgresql", **context},
        )


def _round(
    settings: Settings,
    pipes: list[Connection],
    count: int,
    done: multiprocessing.sharedctypes.Synchronized[int],
    last_done: multiprocessing.sharedctypes.Synchronized[float],
    go: multiprocessing.synchronize.Event,
    stop: multiprocessing.synchronize.Event,
) -> tuple[float, dict[str, object]]:
    _insert_tasks(settings, count)
    go.clear()
    stop.clear()
    with done.get_lock():
        done.value = 0
        last_done.value = 0.0
    for pipe in pipes:
        pipe.send("run")
    for pipe in pipes:
        if not pipe.poll(30) or pipe.recv() != "ready":
            raise RuntimeError("a throughput worker is not ready")
    started = time.monotonic()
    go.set()
    deadline = started + ROUND_TIMEOUT
    while done.value < count and time.monotonic() < deadline:
        time.sleep(0.005)
    stop.set()
    finished: Counter[str] = Counter()
    per_worker = []
    sent = [0, 0, 0]  # statements, checkouts (each with a pre-ping), commits
    for pipe in pipes:
        ids, counts = pipe.recv()
        per_worker.append(len(ids))
        finished.update(ids)
        sent = [total + n for total, n in zip(sent, counts, strict=True)]
    if done.value < count:
        logging.getLogger("bench").warning("round timed out: %d of %d", done.value, count)
    elapsed = last_done.value - started
    duplicates = sum(n - 1 for n in finished.values() if n > 1)
    return count / elapsed, {
        "tasks": count,
        "seconds": elapsed,
        "finished": len(finished),
        "duplicates": duplicates,
        "per_worker_min": min(per_worker),
        "per_worker_max": max(per_worker),
        "statements_per_task": sent[0] / count,
        "pre_pings_per_task": sent[1] / count,
        "commits_per_task": sent[2] / count,
    }
