"""Prometheus metrics (names per DESIGN.md), shared by every process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("autophon.metrics")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_PROCESSING_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)

TASKS_CLAIMED = Counter(
    "autophon_tasks_claimed", "Tasks claimed by a worker or controller.", ["stage"]
)
PICKUP_LATENCY = Histogram(
    "autophon_task_pickup_latency_seconds",
    "From the state change that made a task claimable to its claim.",
    ["stage"],
    buckets=_LATENCY_BUCKETS,
)
PROCESSING_SECONDS = Histogram(
    "autophon_task_processing_seconds",
    "Time from claim to the end of a stage.",
    ["stage"],
    buckets=_PROCESSING_BUCKETS,
)
TASK_FAILURES = Counter(
    "autophon_task_failures", "Tasks failed, by stage and reason.", ["stage", "reason"]
)
JOBS_ACTIVE = Gauge("autophon_jobs_active", "Alignment Jobs running now.")


class TaskCountCollector(Collector):
    """``autophon_tasks{status}``: read from the database at scrape time, so every replica
    reports the same queue depth (what autoscaling reads)."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("autophon_tasks", "Tasks per status.", labels=["status"])
        try:
            for status, count in sorted(self._counts().items()):
                family.add_metric([status], count)
        except Exception as exc:
            log.warning("cannot count tasks for metrics", extra={"error": str(exc)})
        yield family


_collector: TaskCountCollector | None = None


def register_task_counts(counts: Callable[[], dict[str, int]]) -> None:
    """Register the task-count gauge once per process (later calls replace the source)."""
    global _collector
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = TaskCountCollector(counts)
    REGISTRY.register(_collector)


# Why the process cannot serve yet, or None when it can (autophon_core.migrate.readiness_problem).
ReadinessCheck = Callable[[], str | None]
READINESS_PATH = "/readyz"


def probe_app(ready: ReadinessCheck | None) -> Callable[..., Iterable[bytes]]:
    """WSGI app of a worker's port: ``/readyz`` (200 when ``ready()`` finds no problem, else
    503 with the reason) and the Prometheus metrics on every other path."""
    metrics_app = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != READINESS_PATH or ready is None:
            result: Iterable[bytes] = metrics_app(environ, start_response)
            return result
        try:
            problem = ready()
        except Exception as exc:  # a probe answers, whatever went wrong
            problem = f"The readiness check failed: {exc!r}"
        status = "503 Service Unavailable" if problem else "200 OK"
        body = (problem or "ready").encode() + b"\n"
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [body]

    return app


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: probes every few seconds would drown the task lines."""


def serve_metrics(
    port: int | None, host: str = "0.0.0.0", ready: ReadinessCheck | None = None
) -> None:
    """Expose /metrics (and /readyz when ``ready`` is given) on ``port`` for a worker
    process, in a daemon thread (the API serves its own)."""
    if port:
        server = make_server(
            host, port, probe_app(ready), _ThreadingWSGIServer, handler_class=_QuietHandler
        )
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        log.info("metrics served", extra={"port": port, "readiness": ready is not None})
