"""SIGKILL of the upload worker, the controller and local alignment Jobs at random points,
over and over, while tasks flow through real processes on PostgreSQL.

Whatever is killed, every task must end ``completed`` exactly once: one ``completed`` event,
no ``failed`` one, one valid result.zip, never two alignment Jobs of one task at once, at most
one Job per attempt, and no Job process left behind. ``make test`` runs a short variant;
``AUTOPHON_SOAK=1`` (``make soak``) runs 200 tasks and 21 kills. ``AUTOPHON_CHAOS_SEED``
replays a run's random schedule (the seed is in the figures).
"""

from __future__ import annotations

import io
import os
import random
import signal
import time
import wave
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from . import support
from .support import Pipeline

pytestmark = [
    pytest.mark.reliability,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(1800 if support.SOAK else 300),
]

TASKS = 200 if support.SOAK else 24
KILLS_EACH = 7 if support.SOAK else 2
T = TypeVar("T")


def _holds(pipeline: Pipeline, status: str, pid: int) -> bool:
    """Whether the process ``pid`` holds the lease of a task in ``status``."""
    return any(f":{pid}:" in owner for owner in pipeline.db.lease_owners(status).values())


class Chaos:
    """Kills one process of a kind at a random point of its work, then restarts it (as
    Kubernetes restarts a dead pod). Tasks are submitted through ``submit``, which also tops
    up the queue when the victim has nothing to do."""

    def __init__(self, pipeline: Pipeline, rng: random.Random, submit: Callable[[], str]):
        self.pipeline = pipeline
        self.rng = rng
        self.submit = submit

    def _await(self, busy: Callable[[], T | None], what: str) -> T:
        """Wait until ``busy()`` finds the victim at work, adding a task whenever nothing is
        in the pipeline (the queue may drain before the victim gets one)."""
        deadline = time.monotonic() + 120
        while (found := busy()) is None:
            statuses = self.pipeline.db.statuses()
            if not any(statuses[s] for s in ("uploading", "uploaded", "processing")):
                self.submit()
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)
        return found

    def upload_worker(self) -> bool:
        worker = self.pipeline.upload
        self._await(
            lambda: True if _holds(self.pipeline, "uploading", worker.pid) else None,
            "the upload worker to claim",
        )
        time.sleep(self.rng.uniform(0, 0.15))  # a random point of the task (not a sync)
        mid_task = _holds(self.pipeline, "uploading", worker.pid)
        worker.kill()
        worker.start()
        return mid_task

    def controller(self) -> bool:
        def holding() -> list[support.Service] | None:
            found = [
                c for c in self.pipeline.controllers if _holds(self.pipeline, "processing", c.pid)
            ]
            return found or None

        victim = self.rng.choice(self._await(holding, "a controller to claim"))
        time.sleep(self.rng.uniform(0, 1.5))
        mid_task = _holds(self.pipeline, "processing", victim.pid)
        victim.kill()
        victim.start()
        return mid_task

    def job(self) -> bool:
        self._await(
            lambda: support.run_task_processes(self.pipeline.config) or None, "an alignment Job"
        )
        time.sleep(self.rng.uniform(0, 1.2))
        runners = support.run_task_processes(self.pipeline.config)
        if not runners:
            return False
        try:
            os.kill(self.rng.choice(sorted(runners)), signal.SIGKILL)
        except ProcessLookupError:
            return False
        return True


VICTIMS = ("upload_worker", "controller", "job")


def _count(records: list[dict[str, Any]], event: str, **match: str) -> Counter[str]:
    return Counter(
        r["task_id"]
        for r in records
        if r.get("event") == event and all(r.get(k) == v for k, v in match.items())
    )


def test_sigkill_anywhere_loses_and_duplicates_no_task(
    pipeline_factory: Callable[..., Pipeline],
    samples: Path,
    figures: dict[str, Any],
) -> None:
    seed = int(os.environ.get("AUTOPHON_CHAOS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    figures["seed"] = seed
    # Two controller replicas, one Job each: a killed controller's tasks are taken over by
    # the other replica or by its own restarted process, whichever claims first.
    pipeline = pipeline_factory(controllers=2, controller={"max_concurrent_jobs": 1}).start()
    files = support.fox_files(samples)
    plan = [victim for victim in VICTIMS for _ in range(KILLS_EACH)]
    rng.shuffle(plan)
    chunk = TASKS // (len(plan) + 1)
    kills: Counter[str] = Counter()
    mid_task: Counter[str] = Counter()
    submitted: list[str] = []

    def submit() -> str:
        submitted.append(support.submit(pipeline.base_url, files))
        return submitted[-1]

    chaos = Chaos(pipeline, rng, submit)
    started = time.monotonic()
    with support.RunnerMonitor(pipeline.config) as monitor:
        for victim in plan:
            for _ in range(chunk):
                submit()
            mid_task[victim] += getattr(chaos, victim)()
            kills[victim] += 1
        while len(submitted) < TASKS:
            submit()
        try:
            support.wait_for(
                lambda: (
                    sum(pipeline.db.statuses()[s] for s in ("completed", "failed"))
                    == len(submitted)
                ),
                120 + 3 * len(submitted),
                "every task to finish",
                0.2,
            )
        except AssertionError:
            raise AssertionError(f"{pipeline.db.statuses()}\n{pipeline.logs()}") from None
    wall = time.monotonic() - started
    histories = pipeline.db.histories()
    controller_log = [r for c in pipeline.controllers for r in c.records()]
    jobs = _count(controller_log, "Job started")
    align_claims = _count(controller_log, "task claimed", stage="align")
    upload_claims = _count(pipeline.upload.records(), "task claimed", stage="upload")
    leftovers = pipeline.close()

    assert sorted(histories) == sorted(submitted), "a task appeared or vanished"
    lost = [t.id for t in histories.values() if t.status != "completed"]
    assert not lost, {t: (histories[t].status, histories[t].error) for t in lost}
    for task in histories.values():
        assert task.events.count("completed") == 1, task
        assert "failed" not in task.events, task
        assert task.events[0] == "uploading" and task.events[-1] == "completed", task
        folder = pipeline.root / "tasks" / task.id
        with zipfile.ZipFile(folder / "result.zip") as archive:
            assert archive.testzip() is None
            expected = {"fox.TextGrid", "fox_IPA.TextGrid", "missing_words.txt", "README.txt"}
            assert expected == set(archive.namelist())
        assert [p.name for p in folder.glob("*result.zip*")] == ["result.zip"], task
        # One Job per attempt (a kill may end an attempt before its Job starts).
        assert 1 <= jobs[task.id] <= task.attempts, (task, jobs[task.id])
        assert align_claims[task.id] <= task.attempts, task
    # Never two alignment Jobs of one task at the same time (orphans of a killed controller
    # included), and none left running after the services stopped.
    assert max(monitor.max_concurrent.values()) == 1, monitor.max_concurrent
    assert leftovers == []
    assert sum(kills.values()) == len(plan)

    figures.update(
        tasks=len(submitted),
        completed=sum(t.status == "completed" for t in histories.values()),
        lost=len(lost),
        duplicated=sum(t.events.count("completed") > 1 for t in histories.values()),
        kills=sum(kills.values()),
        **{f"kills_{k}": kills[k] for k in VICTIMS},
        kills_mid_task=sum(mid_task.values()),
        max_align_attempts=max(t.attempts for t in histories.values()),
        max_upload_claims=max(upload_claims.values()),
        retried_tasks=sum(t.attempts > 1 for t in histories.values()),
        jobs=sum(jobs.values()),
        wall_seconds=round(wall, 1),
    )


def long_recording(samples: Path, repeat: int) -> list[tuple[str, tuple[str, bytes]]]:
    """fox.wav ``repeat`` times over (one WAV) with its transcript repeated as often."""
    with wave.open(str(samples / "fox.wav")) as fox:
        params, frames = fox.getparams(), fox.readframes(fox.getnframes())
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setparams(params)
        out.writeframes(frames * repeat)
    words = (samples / "fox.txt").read_text().strip()
    return [
        ("files", ("long.wav", buffer.getvalue())),
        ("files", ("long.txt", " ".join([words] * repeat).encode())),
    ]


def test_the_job_of_a_killed_controller_is_stopped_before_its_task_runs_again(
    pipeline_factory: Callable[..., Pipeline], samples: Path, figures: dict[str, Any]
) -> None:
    """A SIGKILLed controller cannot stop its local Jobs: they run on, unknown to the next
    controller. The next claim must stop the orphan before starting a new Job (two runners
    in one task folder would delete each other's files)."""
    pipeline = pipeline_factory(queue={"lease_seconds": 1}).start()
    # About 100 s of speech: its alignment outlasts the lease and a controller restart.
    task_id = support.submit(pipeline.base_url, long_recording(samples, 30))
    (orphan,) = support.wait_for(
        lambda: support.run_task_processes(pipeline.config), 60, "the alignment Job", 0.01
    )
    pipeline.controller.kill()
    assert orphan in support.run_task_processes(pipeline.config)  # it outlived its controller
    with support.RunnerMonitor(pipeline.config, interval=0.005) as monitor:
        pipeline.controller.start()
        support.wait_for(
            lambda: pipeline.db.histories()[task_id].status in ("completed", "failed"),
            120,
            "the task to finish",
            0.1,
        )
    task = pipeline.db.histories()[task_id]
    stopped = [
        r
        for r in pipeline.controller.records()
        if r.get("event") == "stopped the Job processes of an earlier controller"
    ]
    leftovers = pipeline.close()
    assert task.status == "completed", task
    assert task.events.count("completed") == 1 and task.attempts == 2, task
    assert [r["task_id"] for r in stopped] == [task_id] and orphan in stopped[0]["pids"]
    assert monitor.max_concurrent[task_id] == 1, monitor.pids_seen
    assert len(monitor.pids_seen[task_id]) == 2  # the orphan, then one new Job
    assert leftovers == []
    figures.update(orphans_stopped=len(stopped[0]["pids"]), attempts=task.attempts)
