"""Figure 2: database load of an idle worker (queries per second with no work at all).

Our upload worker and our controller (local launcher), each with its own runtime as in its
own process, and the original workers' polling, run side by side on one empty database for
``BENCH_IDLE_SECONDS`` (30 s; 3 s in a quick run), counting from their start. Statements are
counted with a ``before_cursor_execute`` listener on each one's engine; the pool's pre-ping
``SELECT 1`` on every checkout bypasses that event and is reported beside it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

from sqlalchemy import Engine

from autophon_align.controller import Controller
from autophon_align.launchers import make_launcher
from autophon_core.db import make_engine
from autophon_core.models import Stage
from autophon_core.runtime import Runtime
from autophon_upload.worker import make_upload_worker
from bench.baseline import OriginalPoller
from bench.counting import StatementCounter
from bench.env import BenchEnv, bench_settings
from bench.report import Figure

TARGET_QPS = 1.0


def _seconds(env: BenchEnv) -> float:
    configured = os.environ.get("BENCH_IDLE_SECONDS")
    return float(configured) if configured else float(env.pick(30.0, 3.0))


def run(env: BenchEnv) -> Iterator[Figure]:
    seconds = _seconds(env)
    with env.pg.database() as url:
        settings = bench_settings(url, env.folder("idle"))
        upload_runtime = Runtime.create(settings)
        controller_runtime = Runtime.create(settings)
        original_engine = make_engine(settings.database)
        upload_worker = make_upload_worker(upload_runtime)
        controller = Controller(controller_runtime, make_launcher(settings))
        poller = OriginalPoller(original_engine)
        members: list[tuple[str, Engine, Callable[[threading.Event], None]]] = [
            ("upload_worker", upload_runtime.engine, upload_worker.run),
            ("controller", controller_runtime.engine, controller.run),
            ("original_poller", original_engine, poller.run),
        ]
        counters = {name: StatementCounter(engine) for name, engine, _ in members}
        stop = threading.Event()
        threads = [threading.Thread(target=body, args=(stop,), daemon=True) for *_, body in members]
        try:
            for counter in counters.values():
                counter.attach()
            for thread in threads:
                thread.start()
            time.sleep(seconds / 2)
            halfway = {name: counter.snapshot() for name, counter in counters.items()}
            time.sleep(seconds / 2)
            final = {name: counter.snapshot() for name, counter in counters.items()}
        finally:
            stop.set()
            for runtime in (upload_runtime, controller_runtime):
                for stage in Stage:
                    runtime.notifier.hub.publish(stage)
            for thread in threads:
                thread.join(timeout=30)
            for counter in counters.values():
                counter.detach()
            upload_runtime.close()
            controller_runtime.close()
            original_engine.dispose()
    base = final["original_poller"][0] / seconds
    for name, _, _ in members:
        statements, checkouts, commits = final[name]
        steady = (statements - halfway[name][0]) / (seconds / 2)
        ours = name != "original_poller"
        yield Figure(
            name=f"idle_qps_{name}",
            value=statements / seconds,
            unit="queries/s",
            baseline=base if ours else None,
            target=f"<= {TARGET_QPS:g} q/s" if ours else None,
            target_met=(statements / seconds <= TARGET_QPS) if ours else None,
            context={
                "seconds": seconds,
                "db": "postgresql",
                "statements": statements,
                "second_half_qps": steady,
                "pre_pings_per_s": checkouts / seconds,
                "commits_per_s": commits / seconds,
            },
        )
