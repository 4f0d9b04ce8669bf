"""Finished Jobs stay for ``kubectl logs`` (``controller.kubernetes.ttl_seconds_after_finished``,
enforced by the controller itself where Kubernetes does not), and the controller leaves out
the Job fields an older API server does not serve."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fake_launcher import (
    controller_settings,
    prepare_task,
    running,
    status_of,
    wait_until,
    write_result,
)
from k8s_fake import FakeKubernetes

from autophon_align.controller import Controller
from autophon_align.launchers.base import JobSpec, job_name
from autophon_align.launchers.kubernetes import KubernetesLauncher
from autophon_align.manifests import JobFeatures, build_job
from autophon_core.config import KubernetesJobConfig, Settings
from autophon_core.models import TaskStatus
from autophon_core.runtime import Runtime

TTL = 3600


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return controller_settings(
        db_url,
        tmp_path,
        controller={
            "launcher": "kubernetes",
            "resync_seconds": 0.3,
            "kubernetes": {"ttl_seconds_after_finished": TTL},
        },
    )


def launcher_for(settings: Settings, cluster: FakeKubernetes) -> KubernetesLauncher:
    return cluster.launcher(settings.controller.kubernetes)


@pytest.fixture
def fresh_cluster() -> Iterator[FakeKubernetes]:
    """A cluster whose clock is now: its Jobs finish now, well within the TTL."""
    with FakeKubernetes(clock=datetime.now(UTC)) as fake:
        yield fake


def deletions(cluster: FakeKubernetes, task_id: str) -> int:
    return sum(name == job_name(task_id) for _, name, _ in cluster.deletions)


def test_a_failed_job_stays_for_its_logs(
    runtime: Runtime, settings: Settings, fresh_cluster: FakeKubernetes
) -> None:
    cluster = fresh_cluster
    launcher = launcher_for(settings, cluster)
    task_id = prepare_task(runtime)
    with running(Controller(runtime, launcher)):
        wait_until(lambda: cluster.job(task_id) is not None, what="Job created")
        cluster.start_pod(task_id)
        cluster.set_logs(task_id, "reading fox.txt\nno words in fox.txt\n")
        write_result(runtime, task_id, status="failed", error="empty", exit_code=65)
        cluster.fail_job(task_id, 65)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
        time.sleep(1.5)  # several resyncs: none may delete it
        assert cluster.job(task_id) is not None and deletions(cluster, task_id) == 0
        assert "no words in fox.txt" in launcher.logs(task_id, 10)


def test_a_job_finished_longer_ago_than_the_ttl_goes(runtime: Runtime, settings: Settings) -> None:
    """The fake's default clock is long past: the controller deletes such Jobs itself, as on
    clusters that drop ttlSecondsAfterFinished."""
    with FakeKubernetes() as cluster:
        task_id = prepare_task(runtime)
        with running(Controller(runtime, launcher_for(settings, cluster))):
            wait_until(lambda: cluster.job(task_id) is not None, what="Job created")
            cluster.start_pod(task_id)
            write_result(runtime, task_id)
            cluster.succeed_job(task_id)
            wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
            wait_until(lambda: cluster.job(task_id) is None, what="old Job deleted")


def test_a_cancelled_tasks_running_job_goes_at_once(
    runtime: Runtime, settings: Settings, fresh_cluster: FakeKubernetes
) -> None:
    cluster = fresh_cluster
    task_id = prepare_task(runtime)
    with running(Controller(runtime, launcher_for(settings, cluster))):
        wait_until(lambda: cluster.job(task_id) is not None, what="Job created")
        cluster.start_pod(task_id)
        runtime.queue.cancel(task_id)
        wait_until(lambda: cluster.job(task_id) is None, what="Job of the cancelled task deleted")


@pytest.mark.parametrize(
    ("major", "minor", "ttl", "pod_failure_policy"),
    [("1", "20", False, False), ("1", "20+", False, False), ("1", "21", True, False),
     ("1", "26", True, True), ("1", "34", True, True)],
)  # fmt: skip
def test_job_features_follow_the_server_version(
    major: str, minor: str, ttl: bool, pod_failure_policy: bool
) -> None:
    features = JobFeatures.of_server(major, minor)
    assert features == JobFeatures(ttl_after_finished=ttl, pod_failure_policy=pod_failure_policy)
    spec = build_job(JobSpec("a" * 32, "pocketsphinx", 60), KubernetesJobConfig(), "x",
                     features=features)["spec"]  # fmt: skip
    assert ("ttlSecondsAfterFinished" in spec) is ttl
    assert ("podFailurePolicy" in spec) is pod_failure_policy


def test_the_controller_asks_the_server_version_once() -> None:
    with FakeKubernetes(version=("1", "20")) as cluster:
        launcher = KubernetesLauncher(
            KubernetesJobConfig(), cluster.api_client(), cluster.namespace
        )
        for task_id in ("a" * 32, "b" * 32):
            launcher.launch(JobSpec(task_id, "pocketsphinx", 60))
            job = cluster.job(task_id)
            assert job is not None
            assert "podFailurePolicy" not in job["spec"]
            assert "ttlSecondsAfterFinished" not in job["spec"]
        assert [path.rstrip("/") for _, path, _ in cluster.requests].count("/version") == 1


def test_remove_all_deletes_every_job_and_waits_for_their_pods() -> None:
    """What `helm uninstall` runs first: kept finished Jobs and running ones go, pods too."""
    with FakeKubernetes() as cluster:
        launcher = KubernetesLauncher(
            KubernetesJobConfig(), cluster.api_client(), cluster.namespace
        )
        finished, running_task = "a" * 32, "b" * 32
        for task_id in (finished, running_task):
            launcher.launch(JobSpec(task_id, "pocketsphinx", 60))
            cluster.start_pod(task_id)
        cluster.succeed_job(finished)
        assert launcher.remove_all(timeout_seconds=10, poll_seconds=0.05) == 2
        assert cluster.jobs() == [] and cluster.all_pods() == []
        assert {policy for _, _, policy in cluster.deletions} == {"Background"}
        assert launcher.remove_all(timeout_seconds=1) == 0
