"""Figure 6: resident memory of the api, upload-worker and controller processes, idle and
under a burst of small tasks (fox.wav + fox.txt, aligned for real by the local launcher).

Each process is a real ``python -m autophon_cli --config FILE <command>`` child on a fresh
PostgreSQL database. Idle: VmRSS a moment after all three are ready. Burst: the tasks are
posted back to back and followed (from the database) until all are finished; the figure is
the process's VmHWM (its peak resident memory) afterwards, with the sampled peak beside it.
The Jobs' own processes are measured in the engine figure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx

from autophon_core.config import QueueConfig
from autophon_core.db import make_engine
from autophon_core.models import FINAL_STATUSES
from autophon_core.notify import LocalNotifier
from autophon_core.queue import TaskQueue
from bench.env import BenchEnv
from bench.http_client import upload
from bench.processes import RssSampler
from bench.report import Figure
from bench.services import deployment

NAMES = ("api", "upload-worker", "controller")
BURST_TIMEOUT = 240.0


def run(env: BenchEnv) -> Iterator[Figure]:
    tasks: int = env.pick(50, 2)
    fox = env.samples / "fox.wav"
    transcript = (env.samples / "fox.txt").read_text("utf-8").strip()
    with env.pg.database() as url, deployment(url, env.folder("memory"), NAMES) as dep:
        pids = {name: service.pid for name, service in dep.services.items()}
        time.sleep(env.pick(3.0, 1.0))
        idle = {name: service.rss_kib() for name, service in dep.services.items()}
        engine = make_engine(dep.settings.database)
        queue = TaskQueue(engine, LocalNotifier(), QueueConfig())
        started = time.monotonic()
        try:
            with RssSampler(pids, interval=0.1) as sampler, httpx.Client() as client:
                for _ in range(tasks):
                    upload(client, dep.base_url, fox, transcript, "fox")
                posted = time.monotonic() - started
                deadline = started + BURST_TIMEOUT
                while time.monotonic() < deadline:
                    counts = queue.counts_by_status()
                    if sum(counts[s] for s in FINAL_STATUSES) >= tasks:
                        break
                    time.sleep(0.25)
            elapsed = time.monotonic() - started
        finally:
            engine.dispose()
        hwm = {name: service.hwm_kib() for name, service in dep.services.items()}
    context = {
        "db": "postgresql",
        "tasks": tasks,
        "completed": counts["completed"],
        "failed": counts["failed"],
        "posting_s": posted,
        "burst_s": elapsed,
        "launcher": "local",
    }
    for name in NAMES:
        label = name.replace("-", "_")
        yield Figure(
            name=f"rss_idle_{label}",
            value=idle[name] / 1024,
            unit="MiB",
            context={"db": "postgresql", "process": name},
        )
    for name in NAMES:
        label = name.replace("-", "_")
        yield Figure(
            name=f"rss_burst_{label}",
            value=hwm[name] / 1024,
            unit="MiB",
            baseline=idle[name] / 1024,
            context={
                **context,
                "process": name,
                "sampled_peak_mib": sampler.peak_kib[name] / 1024,
            },
        )
