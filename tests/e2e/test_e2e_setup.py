"""Checks of the end-to-end machinery that need no cluster (they run in `make test`): the kind
script's flow with fake tools, the release values against the chart, and the clean skip."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import yaml

from .e2e_support import CHART_DIR, REPO_ROOT, release_values

SCRIPT = REPO_ROOT / "tests" / "e2e" / "run-kind.sh"
FAKE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
users: [{name: none, user: {token: none}}]
"""


def _fake_tools(bin_dir: Path, log: Path) -> None:
    """docker, kind and kubectl that only log their arguments; a python that runs `-c` code for
    real and logs (instead of running) pytest."""
    bin_dir.mkdir()
    for tool in ("docker", "kind", "kubectl"):
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n', encoding="utf-8")
        script.chmod(0o755)
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-c" ]; then exec "{sys.executable}" "$@"; fi\n'
        f'echo "python $* AUTOPHON_E2E=$AUTOPHON_E2E KUBECONFIG=$KUBECONFIG '
        f'prefix=$AUTOPHON_E2E_IMAGE_PREFIX tag=$AUTOPHON_E2E_TAG" >> "{log}"\n'
        'exit "${FAKE_PYTEST_STATUS:-0}"\n',
        encoding="utf-8",
    )
    python.chmod(0o755)


def _run_script(tmp_path: Path, pytest_status: int) -> tuple[int, list[str]]:
    log = tmp_path / "calls.log"
    _fake_tools(tmp_path / "bin", log)
    env = {
        **os.environ,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": str(tmp_path / "bin" / "python"),
        "IMAGE_PREFIX": "test/",
        "TAG": "t1",
        "KIND_CLUSTER": "autophon-test",
        "FAKE_PYTEST_STATUS": str(pytest_status),
    }
    env.pop("KEEP_CLUSTER", None)
    result = subprocess.run(
        ["bash", str(SCRIPT), "-k", "metrics"], env=env, capture_output=True, text=True, timeout=60
    )
    return result.returncode, log.read_text(encoding="utf-8").splitlines()


def test_run_kind_script_flow(tmp_path: Path) -> None:
    status, calls = _run_script(tmp_path, pytest_status=0)
    assert status == 0, calls
    assert "kind create cluster --name autophon-test --wait 180s" in calls
    builds = [c for c in calls if c.startswith("docker build")]
    assert [c.split("--tag ")[1].split()[0] for c in builds] == [
        "test/upload:t1",
        "test/controller:t1",
        "test/aligner:t1",
    ]
    loads = [c for c in calls if c.startswith("kind load docker-image")]
    assert [c.split()[-1] for c in loads] == [
        "test/upload:t1",
        "test/controller:t1",
        "test/aligner:t1",
        "postgres:16.4-bookworm",
    ]
    (pytest_call,) = [c for c in calls if c.startswith("python ")]
    assert "-m pytest -m e2e tests/e2e" in pytest_call and "-k metrics" in pytest_call
    assert "AUTOPHON_E2E=1" in pytest_call and "prefix=test/ tag=t1" in pytest_call
    assert "KUBECONFIG=/" in pytest_call, "the tests must get the kind cluster's own kubeconfig"
    # Order: cluster, build, load, test, delete.
    order = [
        calls.index("kind create cluster --name autophon-test --wait 180s"),
        calls.index(builds[0]),
        calls.index(loads[0]),
        calls.index(pytest_call),
        calls.index("kind delete cluster --name autophon-test"),
    ]
    assert order == sorted(order)


def test_run_kind_script_deletes_the_cluster_when_tests_fail(tmp_path: Path) -> None:
    status, calls = _run_script(tmp_path, pytest_status=3)
    assert status == 3
    assert calls[-1] == "kind delete cluster --name autophon-test"


def test_release_values_install_with_the_sdk(tmp_path: Path) -> None:
    """The e2e release's values pass the chart's schema and a client-side dry-run install
    (hooks included) with the very options the session fixture uses."""
    with helm.Config(kubeconfig_content=FAKE_KUBECONFIG, namespace="e2e") as config:
        release = config.install(
            str(CHART_DIR),
            "autophon",
            release_values(),
            namespace="e2e",
            timeout=60,
            wait="hookOnly",
            dry_run="client",
        )
    manifest = release["manifest"]
    assert "kind: StatefulSet" in manifest and "kind: HorizontalPodAutoscaler" not in manifest
    assert "ttl_seconds_after_finished: 45" in manifest
    assert "accessModes:\n    - ReadWriteOnce" in manifest


def test_e2e_tests_skip_cleanly_without_a_cluster(tmp_path: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)}
    env.pop("AUTOPHON_E2E", None)
    for args in (["-m", "e2e"], []):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-rs",
                "-p",
                "no:cacheprovider",
                *args,
                "tests/e2e/test_e2e_alignment.py",
            ],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert not re.search(r"\d+ (passed|failed|errors?)\b", result.stdout), result.stdout
        assert "skipped" in result.stdout, result.stdout
        reason = "kubectl" if args else "pytest -m e2e"
        assert reason in result.stdout, result.stdout


def test_workflows_run_the_make_targets() -> None:
    workflows = REPO_ROOT / ".github" / "workflows"
    test = yaml.safe_load((workflows / "test.yml").read_text(encoding="utf-8"))
    (job,) = test["jobs"].values()
    postgres = job["services"]["postgres"]
    assert postgres["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"
    assert postgres["env"]["POSTGRES_USER"] == "postgres"
    assert "127.0.0.1:5432:5432" in postgres["ports"]
    assert job["env"]["AUTOPHON_TEST_DATABASE_URL"].startswith(
        "postgresql://postgres@127.0.0.1:5432/"
    )
    assert any(step.get("run", "").startswith("make test") for step in job["steps"])

    e2e = yaml.safe_load((workflows / "e2e.yml").read_text(encoding="utf-8"))
    (job,) = e2e["jobs"].values()
    kind = next(s for s in job["steps"] if s.get("uses", "").startswith("helm/kind-action@"))
    assert kind["with"]["cluster_name"] == "${{ env.KIND_CLUSTER }}"
    assert e2e["env"]["KIND_CLUSTER"]
    assert any("make e2e" in step.get("run", "") for step in job["steps"])
    for workflow in (test, e2e):
        for step in (s for j in workflow["jobs"].values() for s in j["steps"]):
            if "uses" in step:
                assert "@" in step["uses"] and not step["uses"].endswith(("@main", "@master"))
