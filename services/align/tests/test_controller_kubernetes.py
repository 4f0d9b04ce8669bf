"""The controller with the real Kubernetes launcher against the in-process API fake, on SQLite
and PostgreSQL. The test plays the runner: it writes result.json into the task folder and
moves the Job's pod with the fake's helpers.

The periodic resync is set far beyond the length of a test, so every outcome below arrives
through the launcher's watch (besides the one list at start-up).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from fake_launcher import (
    controller_settings,
    failures,
    prepare_task,
    running,
    status_of,
    task,
    wait_until,
    write_result,
)
from k8s_fake import ApiError, FakeKubernetes
from kubernetes.config import kube_config

from autophon_align.controller import Controller
from autophon_align.launchers import ChildProcessJobs, make_launcher
from autophon_align.launchers.base import job_name
from autophon_align.launchers.kubernetes import KubernetesLauncher
from autophon_align.manifests import LABEL_TASK_ID
from autophon_core.config import Settings
from autophon_core.models import TaskStatus
from autophon_core.runtime import Runtime


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return controller_settings(
        db_url, tmp_path, controller={"launcher": "kubernetes", "resync_seconds": 3600}
    )


@pytest.fixture
def cluster() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as fake:
        yield fake


def kubernetes_launcher(settings: Settings, cluster: FakeKubernetes) -> KubernetesLauncher:
    return cluster.launcher(settings.controller.kubernetes)


@pytest.fixture
def launcher(settings: Settings, cluster: FakeKubernetes) -> KubernetesLauncher:
    return kubernetes_launcher(settings, cluster)


@pytest.fixture
def controller(runtime: Runtime, launcher: KubernetesLauncher) -> Controller:
    return Controller(runtime, launcher)


def creations(cluster: FakeKubernetes, task_id: str) -> int:
    return cluster.created_jobs.count(job_name(task_id))


def job_running(cluster: FakeKubernetes, task_id: str, creation: int = 1) -> bool:
    return creations(cluster, task_id) >= creation and cluster.job(task_id) is not None


def deleted(cluster: FakeKubernetes, task_id: str) -> bool:
    return any(name == job_name(task_id) for _, name, _ in cluster.deletions)


def test_make_launcher_builds_the_kubernetes_launcher_from_the_kubeconfig(
    settings: Settings, cluster: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": cluster.url}}],
                "users": [{"name": "tester", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": "fake",
                        "context": {
                            "cluster": "fake",
                            "user": "tester",
                            "namespace": cluster.namespace,
                        },
                    }
                ],
                "current-context": "fake",
            }
        )
    )
    # What $KUBECONFIG sets (the client reads the variable once, when it is imported).
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(kubeconfig))
    launcher = make_launcher(settings)
    assert isinstance(launcher, KubernetesLauncher)
    assert launcher.namespace == cluster.namespace
    assert launcher.list_jobs() == {}
    # Kubernetes Jobs outlive the controller: it hands their tasks back without stopping them.
    assert not isinstance(launcher, ChildProcessJobs)


def test_happy_path(runtime: Runtime, cluster: FakeKubernetes, controller: Controller) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id), what="Job created")
        job = cluster.job(task_id)
        assert job is not None
        assert job["metadata"]["labels"][LABEL_TASK_ID] == task_id
        assert job["spec"]["activeDeadlineSeconds"] == 70
        cluster.start_pod(task_id)
        write_result(runtime, task_id)
        cluster.succeed_job(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
        wait_until(lambda: cluster.job(task_id) is None, what="finished Job deleted")
    done = task(runtime, task_id)
    assert done.words == 9 and [f.name for f in done.files] == ["fox.wav"]
    assert cluster.created_jobs == [job_name(task_id)]


def test_exit_65_fails_the_task_with_its_error_and_log_without_retry(
    runtime: Runtime, cluster: FakeKubernetes, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    error = "The transcript fox.txt is empty."
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.start_pod(task_id)
        cluster.set_logs(task_id, "reading fox.txt\nno words in fox.txt\n")
        write_result(runtime, task_id, status="failed", error=error, exit_code=65)
        cluster.fail_job(task_id, 65)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
        wait_until(lambda: deleted(cluster, task_id))
    failed = task(runtime, task_id)
    assert failed.error == error
    assert failed.error_log is not None and "no words in fox.txt" in failed.error_log
    assert failed.attempts == 1 and creations(cluster, task_id) == 1


def test_exit_65_without_a_result_still_stores_a_sentence(
    runtime: Runtime, cluster: FakeKubernetes, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.fail_job(task_id, 65)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    error = task(runtime, task_id).error or ""
    assert "could not process these files" in error
    assert creations(cluster, task_id) == 1


def test_exit_71_fails_the_task_with_its_error_without_retry(
    runtime: Runtime, cluster: FakeKubernetes, controller: Controller
) -> None:
    """A recording beyond the aligner's limits: the runner's sentence, no second Job, and
    the failure counted as "resource", not as bad input."""
    task_id = prepare_task(runtime)
    error = (
        "The recording is too large for the aligner on fox.wav: it is 3 s long, and the "
        "built-in aligner takes recordings of up to 1 s. Split it into shorter files, or "
        "upload a TextGrid that marks the utterances."
    )
    before = failures("resource"), failures("bad_input")
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.start_pod(task_id)
        write_result(runtime, task_id, status="failed", error=error, exit_code=71)
        cluster.fail_job(task_id, 71)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    failed = task(runtime, task_id)
    assert failed.error == error
    assert failed.attempts == 1 and creations(cluster, task_id) == 1
    assert (failures("resource"), failures("bad_input")) == (before[0] + 1, before[1])


def test_an_oom_killed_pod_fails_the_task_at_once_saying_what_to_do(
    runtime: Runtime, settings: Settings, cluster: FakeKubernetes
) -> None:
    """The container killed at its memory limit leaves no result.json; a new Job would need
    the same memory again, so there is none, and the error says what the user and an
    administrator can do."""
    limited = settings.controller.kubernetes.model_copy(
        update={"resources": {"limits": {"memory": "2Gi"}}}
    )
    controller = Controller(runtime, cluster.launcher(limited))
    task_id = prepare_task(runtime)
    before = failures("resource")
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.start_pod(task_id)
        cluster.fail_job(task_id, 137, oom_killed=True)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.FAILED)
    failed = task(runtime, task_id)
    error = failed.error or ""
    assert error.startswith("The alignment ran out of memory and was stopped.")
    assert "more than the Job's memory limit of 2Gi" in error
    assert "Split long recordings into shorter files" in error
    assert "config.controller.kubernetes.resources" in error
    assert failed.attempts == 1 and creations(cluster, task_id) == 1
    assert failures("resource") == before + 1


@pytest.mark.parametrize(
    ("interruption", "reason"),
    [
        # Exit 137 alone is any SIGKILL (a pod deleted, a node draining), not running out of
        # memory.
        (lambda cluster, task_id: cluster.fail_job(task_id, 137), "Killed"),
        (lambda cluster, task_id: cluster.evict_pod(task_id), "Evicted"),
    ],
    ids=["killed", "evicted"],
)
def test_an_interrupted_pod_is_retried_in_a_new_job(
    runtime: Runtime,
    cluster: FakeKubernetes,
    controller: Controller,
    interruption: Callable[[FakeKubernetes, str], None],
    reason: str,
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.start_pod(task_id)
        interruption(cluster, task_id)
        wait_until(lambda: job_running(cluster, task_id, creation=2), what="second Job")
        assert status_of(runtime, task_id) == TaskStatus.PROCESSING
        cluster.start_pod(task_id)
        write_result(runtime, task_id)
        cluster.succeed_job(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert task(runtime, task_id).attempts == 2
    assert creations(cluster, task_id) == 2
    assert any(
        e.message and e.message.startswith(f"retrying: {reason}")
        for e in runtime.queue.events(task_id)
    )


def test_a_job_deleted_behind_the_controllers_back_is_created_again(
    runtime: Runtime, cluster: FakeKubernetes, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.start_pod(task_id)
        cluster.delete_job(task_id)
        wait_until(lambda: job_running(cluster, task_id, creation=2), what="Job created again")
        write_result(runtime, task_id)
        cluster.succeed_job(task_id)
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert task(runtime, task_id).attempts == 1


def test_a_restarted_controller_adopts_the_job(
    runtime: Runtime, settings: Settings, cluster: FakeKubernetes, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        cluster.start_pod(task_id)
    released = task(runtime, task_id)
    assert released.lease_owner is None and released.attempts == 0
    assert cluster.job(task_id) is not None and cluster.deletions == []  # the Job kept running
    other = Runtime.create(settings)
    try:
        successor = Controller(other, kubernetes_launcher(settings, cluster))
        with running(successor):
            wait_until(lambda: task(runtime, task_id).lease_owner == successor.worker_id)
            write_result(runtime, task_id)
            cluster.succeed_job(task_id)
            wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    finally:
        other.close()
    assert cluster.created_jobs == [job_name(task_id)]
    assert cluster.create_attempts == 2  # the second one got 409 and adopted


@contextlib.contextmanager
def auto_runner(runtime: Runtime, cluster: FakeKubernetes) -> Iterator[None]:
    """Plays the runner for every Job that appears: writes its result, then succeeds it."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(0.02):
            for job in cluster.jobs():
                if job["status"].get("conditions"):
                    continue
                task_id = job["metadata"]["labels"][LABEL_TASK_ID]
                write_result(runtime, task_id)
                with contextlib.suppress(AssertionError, KeyError, ApiError):
                    cluster.succeed_job(task_id)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def test_two_controllers_on_one_database_create_one_job_per_task(
    runtime: Runtime, settings: Settings, cluster: FakeKubernetes
) -> None:
    ids = [prepare_task(runtime) for _ in range(30)]
    other = Runtime.create(settings)
    try:
        first = Controller(runtime, kubernetes_launcher(settings, cluster))
        second = Controller(other, kubernetes_launcher(settings, cluster))
        with auto_runner(runtime, cluster), running(first), running(second):
            wait_until(
                lambda: all(status_of(runtime, t) == TaskStatus.COMPLETED for t in ids),
                timeout=90,
                what="all 30 tasks completed",
            )
    finally:
        other.close()
    assert sorted(cluster.created_jobs) == sorted(job_name(t) for t in ids)
    assert cluster.create_attempts == 30  # no controller even tried a second create
    assert all(task(runtime, t).attempts == 1 for t in ids)


@pytest.mark.parametrize("expire_history", [False, True], ids=["dropped", "dropped+410"])
def test_a_dropped_watch_connection_still_delivers_the_outcome(
    runtime: Runtime, cluster: FakeKubernetes, controller: Controller, expire_history: bool
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        wait_until(lambda: cluster.open_watches > 0, what="watch open")
        watches_before = cluster.watch_requests
        write_result(runtime, task_id)
        with cluster.paused():
            cluster.start_pod(task_id)
            cluster.succeed_job(task_id)
            assert cluster.drop_watches() >= 1
            if expire_history:
                cluster.compact()  # the watch resumes into 410 Gone and re-lists
        wait_until(lambda: status_of(runtime, task_id) == TaskStatus.COMPLETED)
    assert cluster.watch_requests > watches_before


def test_cancelling_deletes_the_job(
    runtime: Runtime, cluster: FakeKubernetes, controller: Controller
) -> None:
    task_id = prepare_task(runtime)
    with running(controller):
        wait_until(lambda: job_running(cluster, task_id))
        runtime.queue.cancel(task_id)
        wait_until(lambda: cluster.job(task_id) is None, what="Job deleted")
    assert deleted(cluster, task_id)
    assert status_of(runtime, task_id) == TaskStatus.CANCELLED
