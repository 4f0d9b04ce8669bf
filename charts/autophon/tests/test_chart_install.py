"""What a first install, an install after an uninstall, `helm test` and older clusters need
(each test is a defect a real install ran into; see the README's "Kubernetes versions")."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import uvicorn

from autophon_core.migrate import downgrade, upgrade
from autophon_core.runtime import Runtime
from autophon_upload.main import create_app

from .chart_support import Manifest, Rendered, find, objects, one, render

ScenarioGetter = Callable[[str], Rendered]
# The oldest Kubernetes the chart installs on, and the oldest schema kubernetes-validate has.
OLDEST_KUBE = "1.20.2"
OLDEST_SCHEMA = "1.25.0"
# A uid without a passwd entry, like the chart's 10001 in the postgres image.
NO_PASSWD_UID = 10001


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e for e in container.get("env", [])}


def _wait_for_database(rendered: Rendered) -> dict[str, Any]:
    job = one(rendered.manifests, "Job", "autophon-migrate-install")
    (wait,) = job["spec"]["template"]["spec"]["initContainers"]
    return dict(wait)


# --- finding 1: the migration hook waits for PostgreSQL for ever ------------------------------


def test_wait_for_database_names_its_user(scenario: ScenarioGetter) -> None:
    rendered = scenario("bundled-db")
    env = _env(_wait_for_database(rendered))
    pg = rendered.values["database"]["postgresql"]
    assert env["PGUSER"]["value"] == pg["username"]
    assert env["PGDATABASE"]["value"] == pg["database"]


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("pg_isready") or not shutil.which("setpriv"),
    reason="needs root (to run as a uid without a passwd entry), pg_isready and setpriv",
)
def test_wait_for_database_succeeds_as_a_uid_without_passwd_entry(
    scenario: ScenarioGetter,
) -> None:
    """The init container's own script, as uid 10001 (no passwd entry, as in the postgres
    image), against the PostgreSQL of the tests: it must see the server ready."""
    import pwd

    with pytest.raises(KeyError):
        pwd.getpwuid(NO_PASSWD_UID)
    wait = _wait_for_database(scenario("bundled-db"))
    env = {e["name"]: str(e["value"]) for e in wait["env"]}
    env.update(PGHOST="127.0.0.1", PGPORT="5432", WAIT_SECONDS="6", PATH=os.environ["PATH"])
    result = subprocess.run(
        ["setpriv", f"--reuid={NO_PASSWD_UID}", f"--regid={NO_PASSWD_UID}", "--clear-groups",
         *wait["command"]],
        env=env, cwd="/", capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


# --- finding 4: uninstall, then install again ----------------------------------------------


def test_bundled_database_password_outlives_uninstall(scenario: ScenarioGetter) -> None:
    """The bundled PostgreSQL's claim survives `helm uninstall`, so its password must too."""
    secret = one(scenario("bundled-db").manifests, "Secret", "autophon-db")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    # A password of the user's own (external database) is not the chart's to keep.
    external = one(scenario("external-db-password").manifests, "Secret", "autophon-db")
    assert "helm.sh/resource-policy" not in external["metadata"]["annotations"]


# --- finding 5 and 3: `helm test --logs`, and a test that needs the schema -------------------


def _test_pod(rendered: Rendered) -> Manifest:
    return one(rendered.manifests, "Pod", "autophon-test-connection")


def test_helm_test_pod_is_kept_for_its_log(scenario: ScenarioGetter) -> None:
    policy = _test_pod(scenario("default"))["metadata"]["annotations"]["helm.sh/hook-delete-policy"]
    assert "hook-succeeded" not in policy and "before-hook-creation" in policy


def test_helm_test_sends_a_token_when_the_api_wants_one(chart: helm.Chart) -> None:
    values = {"api": {"auth": {"existingSecret": "api-tokens", "existingSecretKey": "tokens"}}}
    pod = one(objects(render(chart, values)), "Pod", "autophon-test-connection")
    ref = _env(pod["spec"]["containers"][0])["API_TOKENS"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "api-tokens", "key": "tokens"}


@pytest.fixture
def served_api(runtime: Runtime) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            thread.join(0.05)
            assert thread.is_alive(), "the API did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_helm_test_fails_without_the_schema(
    scenario: ScenarioGetter, served_api: str, runtime: Runtime
) -> None:
    """The test pod's own script against a real API: passes on a migrated database, fails
    on one without the schema (what a broken release looked like)."""
    container = _test_pod(scenario("default"))["spec"]["containers"][0]
    python = shutil.which("python3") or "python3"

    def run_test_pod() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [python, *container["command"][1:]],
            env={"API_URL": served_api, "PATH": os.environ["PATH"]},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    passed = run_test_pod()
    assert passed.returncode == 0, passed.stderr
    assert "/api/v1/tasks?limit=1 200" in passed.stdout
    downgrade(runtime.engine, "base")
    try:
        failed = run_test_pod()
    finally:
        upgrade(runtime.engine)
    assert failed.returncode != 0
    assert "/readyz answered 503" in failed.stderr


# --- finding 3: every process that serves a probe reports readiness --------------------------


def test_every_probed_process_has_a_readiness_probe(scenario: ScenarioGetter) -> None:
    rendered = scenario("default")
    for name, port in (
        ("autophon-api", "http"),
        ("autophon-upload-worker", "metrics"),
        ("autophon-controller", "metrics"),
    ):
        deployment = one(rendered.manifests, "Deployment", name)
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port}, name


# --- finding 2: Kubernetes 1.20 and later ----------------------------------------------------


def test_installs_on_the_oldest_kubernetes(chart: helm.Chart) -> None:
    """With the chart's defaults, on 1.20: no HPA (autoscaling/v2 is 1.23+), no PDB (policy/v1
    is 1.21+), the Deployments set their replicas, and everything else is valid Kubernetes
    (checked against the oldest schema kubernetes-validate ships)."""
    manifests = objects(render(chart, {}, kube_version=OLDEST_KUBE))
    assert not find(manifests, "HorizontalPodAutoscaler")
    assert not find(manifests, "PodDisruptionBudget")
    assert one(manifests, "Deployment", "autophon-api")["spec"]["replicas"] == 2
    assert one(manifests, "Deployment", "autophon-upload-worker")["spec"]["replicas"] == 1
    for manifest in manifests:
        kubernetes_validate.validate(manifest, OLDEST_SCHEMA, strict=True)


@pytest.mark.parametrize(
    ("kube_version", "hpa", "pdb"),
    [("1.20.2", False, False), ("1.21.0", False, True), ("1.23.0", True, True)],
)
def test_hpa_and_pdb_follow_what_the_cluster_serves(
    chart: helm.Chart, kube_version: str, hpa: bool, pdb: bool
) -> None:
    manifests = objects(render(chart, {}, kube_version=kube_version))
    assert bool(find(manifests, "HorizontalPodAutoscaler")) is hpa
    assert bool(find(manifests, "PodDisruptionBudget")) is pdb
    api = one(manifests, "Deployment", "autophon-api")
    assert ("replicas" in api["spec"]) is not hpa


def test_chart_declares_the_oldest_kubernetes(chart: helm.Chart) -> None:
    assert chart.metadata["kubeVersion"] == ">=1.20.0-0"


# --- kept finished Jobs (finding 6) versus uninstall and install again (finding 4) ----------


def test_uninstall_deletes_the_alignment_jobs(scenario: ScenarioGetter) -> None:
    """Finished Jobs are kept for their logs; their pods mount the shared claim. A pre-delete
    hook, running as the controller, deletes them and waits for their pods, so the claim does
    not stay Terminating and the next install's pods are not left Pending."""
    rendered = scenario("default")
    job = one(rendered.manifests, "Job", "autophon-cleanup")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-delete"
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "autophon-controller"
    (container,) = pod["containers"]
    assert container["image"].startswith("autophon/controller:")
    assert "launcher.remove_all()" in container["command"][-1]
    config = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert container["command"][-1].count(f"{config['mountPath']}/autophon.yaml") == 1
    # The controller's Role allows what remove_all does.
    rules = one(rendered.manifests, "Role")["rules"]
    jobs = next(r for r in rules if "jobs" in r["resources"])
    pods = next(r for r in rules if "pods" in r["resources"])
    assert {"list", "delete"} <= set(jobs["verbs"]) and "list" in pods["verbs"]
