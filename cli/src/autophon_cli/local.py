"""``autophon local``: the whole pipeline in one process tree on this machine.

The API, the upload worker and the controller (with the local launcher, so alignment Jobs are
child processes) share one runtime, so notifications between them stay in the process. Ctrl-C
or SIGTERM stops claiming, lets running work finish within the grace period, and exits.
"""

from __future__ import annotations

import logging
import threading

import uvicorn

from autophon_align.controller import run_controller
from autophon_core.config import Settings
from autophon_core.db import make_engine
from autophon_core.migrate import upgrade
from autophon_core.runtime import Runtime
from autophon_upload.main import create_app
from autophon_upload.worker import run_upload_worker

log = logging.getLogger("autophon.local")


def run_local(
    settings: Settings,
    stop: threading.Event,
    host: str | None = None,
    port: int | None = None,
    config_path: str | None = None,
) -> int:
    engine = make_engine(settings.database)
    upgrade(engine)  # a single-machine install has no separate migration step
    engine.dispose()
    runtime = Runtime.create(settings)
    host, port = host or settings.api.host, port or settings.api.port
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host=host, port=port, log_config=None)
    )
    threads = [
        threading.Thread(target=server.run, name="api", daemon=True),
        threading.Thread(
            target=run_upload_worker, args=(runtime, stop), name="upload-worker", daemon=True
        ),
        threading.Thread(
            target=run_controller,
            args=(runtime, stop),
            kwargs={"config_path": config_path},
            name="controller",
            daemon=True,
        ),
    ]
    for thread in threads:
        thread.start()
    shown = "localhost" if host in ("0.0.0.0", "127.0.0.1", "::") else host
    url = f"http://{shown}:{port}/"
    log.info("AutoPhon is running", extra={"url": url})
    print(f"\n  AutoPhon is running at {url}  (API docs: {url}docs; Ctrl-C stops)\n", flush=True)
    try:
        while not stop.wait(0.5):
            if not all(thread.is_alive() for thread in threads):
                log.error("a component stopped; shutting down")
                stop.set()
    finally:
        stop.set()
        server.should_exit = True
        for thread in threads:
            thread.join(timeout=settings.queue.shutdown_grace_seconds + 5)
        runtime.close()
    return 0
