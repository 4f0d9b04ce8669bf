"""End-to-end fixtures: a Helm release of the chart on a real cluster, reached by port-forward.

The tests marked ``e2e`` run only when asked (``pytest -m e2e``, or ``AUTOPHON_E2E=1``, which
``tests/e2e/run-kind.sh`` sets), because they install a release in the current kube context,
and only when a cluster is reachable; otherwise they are skipped with the reason.

Environment:
    AUTOPHON_E2E_IMAGE_PREFIX  image prefix, as docker/build.sh's IMAGE_PREFIX (default autophon/)
    AUTOPHON_E2E_TAG           image tag (default the chart's appVersion)
    AUTOPHON_E2E_NAMESPACE     namespace to install into (default a fresh autophon-e2e-xxxxxx)
    AUTOPHON_E2E_KEEP=1        leave the release and namespace behind for debugging
    AUTOPHON_E2E_REPORT        also write the timings report (JSON) to this file
    AUTOPHON_SAMPLES           the sample recordings (default tests/fixtures/samples)
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import helm_python as helm
import httpx
import kubernetes.client
import kubernetes.config
import kubernetes.watch
import pytest

from .e2e_support import (
    ALIGNER_SELECTOR,
    API_SERVICE,
    CHART_DIR,
    RELEASE,
    JobRecorder,
    Kube,
    Timings,
    cluster_unavailable,
    deployments_ready,
    http_ok,
    release_values,
    service_url,
    wait_for,
)


def _selected(config: pytest.Config) -> bool:
    markexpr = str(config.getoption("markexpr", "") or "")
    return "e2e" in markexpr or os.environ.get("AUTOPHON_E2E") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    e2e = [item for item in items if item.get_closest_marker("e2e")]
    if not e2e:
        return
    if not _selected(config):
        reason = (
            "end-to-end tests install a Helm release in the current kube context: run them "
            "with `pytest -m e2e` or `make e2e`"
        )
    else:
        reason = cluster_unavailable() or ""
    if reason:
        for item in e2e:
            item.add_marker(pytest.mark.skip(reason=reason))


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kube() -> Iterator[Kube]:
    kubernetes.config.load_kube_config()
    core = kubernetes.client.CoreV1Api()
    namespace = os.environ.get("AUTOPHON_E2E_NAMESPACE") or f"autophon-e2e-{uuid.uuid4().hex[:6]}"
    existing = {ns.metadata.name for ns in core.list_namespace().items if ns.metadata}
    created = namespace not in existing
    if created:
        core.create_namespace(
            kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=namespace))
        )
    yield Kube(core, kubernetes.client.BatchV1Api(), kubernetes.client.AppsV1Api(), namespace)
    if created and os.environ.get("AUTOPHON_E2E_KEEP") != "1":
        core.delete_namespace(namespace)

        # Gone before the session ends, so its volumes are released for the next run.
        def gone() -> bool:
            return namespace not in {ns.metadata.name for ns in core.list_namespace().items}

        wait_for(f"namespace {namespace} to go", gone, timeout=300)


@pytest.fixture(scope="session")
def jobs(kube: Kube) -> Iterator[JobRecorder]:
    recorder = JobRecorder()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            watcher = kubernetes.watch.Watch()
            try:
                for event in watcher.stream(
                    kube.batch.list_namespaced_job,
                    kube.namespace,
                    label_selector=ALIGNER_SELECTOR,
                    timeout_seconds=5,
                ):
                    with recorder.lock:
                        recorder.events.append((event["type"], kube.sanitize(event["object"])))
                    if stop.is_set():
                        break
            except Exception:  # a dropped watch: start again
                time.sleep(1)

    thread = threading.Thread(target=watch, name="job-recorder", daemon=True)
    thread.start()
    yield recorder
    stop.set()
    thread.join(timeout=15)


_TIMINGS = Timings()


@pytest.fixture(scope="session")
def timings() -> Timings:
    """The figures of this run; printed at the end (pytest_terminal_summary)."""
    return _TIMINGS


def install_release(kube: Kube, config: helm.Config, timings: Timings, name: str) -> None:
    """Install the chart and wait until every Deployment is ready (which needs the schema:
    the migration ran); records how long that took as ``name``."""
    started = time.monotonic()
    config.install(
        str(CHART_DIR),
        RELEASE,
        release_values(),
        namespace=kube.namespace,
        timeout=600,
        wait="hookOnly",
    )
    wait_for("the AutoPhon Deployments", lambda: deployments_ready(kube), timeout=600)
    timings.record(name, time.monotonic() - started)


@pytest.fixture(scope="session")
def helm_config(kube: Kube) -> Iterator[helm.Config]:
    with helm.Config(namespace=kube.namespace) as config:
        yield config


@pytest.fixture(scope="session")
def release(
    kube: Kube, jobs: JobRecorder, helm_config: helm.Config, timings: Timings
) -> Iterator[str]:
    """The chart installed from scratch with the test images; migrated, its pods ready."""
    install_release(kube, helm_config, timings, "install (helm install to every pod ready)")
    try:
        yield RELEASE
    finally:
        if os.environ.get("AUTOPHON_E2E_KEEP") != "1":
            helm_config.uninstall(RELEASE, ignore_not_found=True, timeout=300)


@contextmanager
def api_client(kube: Kube) -> Iterator[httpx.Client]:
    """A client of the API through its Service (see service_url), once /readyz answers."""
    with (
        service_url(kube, API_SERVICE, 8000) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        wait_for("/readyz", lambda: http_ok(client, "/readyz"), timeout=120)
        yield client


@pytest.fixture(scope="session")
def api(kube: Kube, release: str) -> Iterator[httpx.Client]:
    with api_client(kube) as client:
        yield client


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TIMINGS.figures and not _TIMINGS.notes:
        return
    terminalreporter.section("AutoPhon end-to-end timings")
    for line in _TIMINGS.report():
        terminalreporter.write_line(line)
    report = os.environ.get("AUTOPHON_E2E_REPORT")
    if report:
        Path(report).write_text(
            json.dumps({"seconds": _TIMINGS.figures, "notes": _TIMINGS.notes}, indent=2) + "\n",
            encoding="utf-8",
        )
