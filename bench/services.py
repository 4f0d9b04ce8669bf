"""The three long-running processes (``autophon api``, ``upload-worker``, ``controller``)
started as real child processes against one PostgreSQL database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autophon_core.config import Settings
from bench.env import bench_settings, write_config
from bench.processes import Service, autophon_argv, free_port

READY_LINES = {"upload-worker": "worker started", "controller": "controller started"}


@dataclass
class Deployment:
    settings: Settings
    base_url: str
    services: dict[str, Service]


@contextlib.contextmanager
def deployment(db_url: str, root: Path, names: tuple[str, ...]) -> Iterator[Deployment]:
    """Start ``names`` (any of api, upload-worker, controller) and wait until each is ready;
    stop them all (SIGTERM, as Kubernetes does) on the way out."""
    port = free_port()
    settings = bench_settings(db_url, root, api={"port": port})
    config = write_config(settings, root / "autophon.yaml")
    base = f"http://127.0.0.1:{port}"
    services: dict[str, Service] = {}
    try:
        for name in names:
            argv = autophon_argv(config, name)
            services[name] = Service(name, argv, root / f"{name}.log")
        for name, service in services.items():
            if name == "api":
                service.wait_for_http(f"{base}/healthz")
            else:
                service.wait_for_log(READY_LINES[name])
        yield Deployment(settings, base, services)
    finally:
        for service in services.values():
            service.stop()
