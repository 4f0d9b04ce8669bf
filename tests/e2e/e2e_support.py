"""Helpers of the end-to-end tests: cluster checks, the release's values, a Job recorder,
waiting and port-forwarding."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import kubernetes.client
import kubernetes.config
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "autophon"
RELEASE = "autophon"
API_SERVICE = f"{RELEASE}-api"
CONTROLLER = f"{RELEASE}-controller"
ALIGNER_SELECTOR = "app.kubernetes.io/name=autophon,app.kubernetes.io/component=aligner"
# Short enough for the tests to see the garbage collection, long enough for the controller to
# record the outcome first.
JOB_TTL_SECONDS = 45


@cache
def cluster_unavailable() -> str | None:
    """Why no cluster can be used (None when one is reachable)."""
    kubeconfig = os.environ.get("KUBECONFIG")
    default = Path.home() / ".kube" / "config"
    if not kubeconfig and not default.exists():
        return "no cluster: KUBECONFIG is unset and ~/.kube/config does not exist"
    if shutil.which("kubectl") is None:
        return "kubectl is not installed (needed for port-forward and cluster-info)"
    try:
        info = subprocess.run(
            ["kubectl", "cluster-info", "--request-timeout=10s"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "kubectl cluster-info timed out"
    if info.returncode != 0:
        return f"kubectl cluster-info failed: {info.stderr.strip().splitlines()[-1:]}"
    try:
        kubernetes.config.load_kube_config()
    except Exception as exc:  # the client raises several unrelated types
        return f"the kubernetes client cannot load the kubeconfig: {exc}"
    return None


# --- cluster access --------------------------------------------------------------------------


@dataclass(frozen=True)
class Kube:
    core: Any
    batch: Any
    apps: Any
    namespace: str

    def sanitize(self, obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = kubernetes.client.ApiClient().sanitize_for_serialization(obj)
        return data


# --- the Helm release --------------------------------------------------------------------------


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def release_values() -> dict[str, Any]:
    """The kind scenario (bundled PostgreSQL, one node) with the images under test."""
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text(encoding="utf-8"))
    prefix = os.environ.get("AUTOPHON_E2E_IMAGE_PREFIX") or os.environ.get("IMAGE_PREFIX")
    prefix = prefix or "autophon/"
    tag = os.environ.get("AUTOPHON_E2E_TAG") or os.environ.get("TAG") or chart["appVersion"]
    base = yaml.safe_load((CHART_DIR / "ci" / "bundled-db-values.yaml").read_text())
    return _merge(
        base,
        {
            "image": {
                "upload": {"repository": f"{prefix}upload"},
                "controller": {"repository": f"{prefix}controller"},
                "tag": tag,
                "pullPolicy": "IfNotPresent",
            },
            "config": {
                # A killed controller's claims come back quickly.
                "queue": {"lease_seconds": 10},
                "controller": {
                    "kubernetes": {
                        "images": {"pocketsphinx": f"{prefix}aligner:{tag}"},
                        "image_pull_policy": "IfNotPresent",
                        "ttl_seconds_after_finished": JOB_TTL_SECONDS,
                        "resources": {
                            "requests": {
                                "cpu": "250m",
                                "memory": "256Mi",
                                "ephemeral-storage": "256Mi",
                            },
                            "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2Gi"},
                        },
                    }
                },
            },
        },
    )


@dataclass
class JobRecorder:
    """Every alignment Job event seen in the namespace, from before the release exists."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def jobs(self, task_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                job
                for _, job in self.events
                if job["metadata"].get("labels", {}).get("autophon.io/task-id") == task_id
            ]

    def uids(self, task_id: str) -> set[str]:
        return {job["metadata"]["uid"] for job in self.jobs(task_id)}

    def deleted(self, task_id: str) -> bool:
        with self.lock:
            return any(
                kind == "DELETED"
                and job["metadata"].get("labels", {}).get("autophon.io/task-id") == task_id
                for kind, job in self.events
            )


def wait_for(what: str, check: Any, timeout: float, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def deployments_ready(kube: Kube) -> bool:
    for deployment in kube.apps.list_namespaced_deployment(kube.namespace).items:
        wanted = deployment.spec.replicas or 0
        if (deployment.status.available_replicas or 0) < wanted:
            return False
    return True


# --- port-forwards ---------------------------------------------------------------------------


@contextmanager
def port_forward(namespace: str, target: str, port: int) -> Iterator[str]:
    """``kubectl port-forward <target> :<port>``; yields http://127.0.0.1:<local port>."""
    process = subprocess.Popen(
        ["kubectl", "--namespace", namespace, "port-forward", target, f":{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            stderr = process.stderr.read() if process.stderr else ""
            raise AssertionError(f"port-forward to {target} failed: {line} {stderr}")
        yield f"http://127.0.0.1:{match.group(1)}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def http_ok(client: httpx.Client, path: str) -> bool:
    try:
        return client.get(path).status_code == 200
    except httpx.HTTPError:
        return False


# --- through the Service ---------------------------------------------------------------------


@contextmanager
def service_url(kube: Kube, service: str, port: int) -> Iterator[str]:
    """The Service's own address (its cluster IP, which kube-proxy routes from the node
    itself, as on the project's single-node cluster); a port-forward where the cluster IP
    cannot be reached from here (kind from the host)."""
    cluster_ip = kube.core.read_namespaced_service(service, kube.namespace).spec.cluster_ip
    url = f"http://{cluster_ip}:{port}"
    try:
        httpx.get(f"{url}/healthz", timeout=3)
    except httpx.HTTPError:
        with port_forward(kube.namespace, f"svc/{service}", port) as forwarded:
            yield forwarded
        return
    yield url


# --- what the server serves -------------------------------------------------------------------


@cache
def server_minor() -> int:
    """The API server's minor version (1.<minor>)."""
    info = kubernetes.client.VersionApi().get_code()
    return int(re.sub(r"\D", "", str(info.minor)) or 0)


# --- the timings report ------------------------------------------------------------------------


@dataclass
class Timings:
    """Figures the run measured, printed at the end of the session (and kept as JSON)."""

    figures: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def record(self, name: str, seconds: float) -> None:
        self.figures[name] = round(seconds, 1)

    def report(self) -> list[str]:
        lines = [f"  {name:<45} {seconds:8.1f} s" for name, seconds in self.figures.items()]
        lines += [f"  {name:<45} {text}" for name, text in self.notes.items()]
        return lines
