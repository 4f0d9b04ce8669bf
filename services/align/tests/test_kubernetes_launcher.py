"""The Kubernetes launcher, through the real ``kubernetes`` client, against the HTTP fake."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_fake import FakeKubernetes, wait_until
from kubernetes.client import V1Job, V1Pod
from kubernetes.client.exceptions import ApiException

from autophon_align.launchers.base import JobPhase, JobSpec, JobStatus, Launcher
from autophon_align.launchers.kubernetes import (
    ForeignJobError,
    JobTerminatingError,
    KubernetesLauncher,
    job_status,
    resolve_namespace,
)
from autophon_align.manifests import build_job
from autophon_core.config import KubernetesJobConfig

CONFIG = KubernetesJobConfig(resources={"limits": {"memory": "2Gi"}})
TASK = "3c9d2f4e8a7b41c6a0d5e2f1b3c4d5e6"
SPEC = JobSpec(task_id=TASK, engine="pocketsphinx", timeout_seconds=600)


@pytest.fixture
def fake() -> Iterator[FakeKubernetes]:
    with FakeKubernetes() as server:
        yield server


def make_launcher(fake: FakeKubernetes, **kwargs: Any) -> KubernetesLauncher:
    options: dict[str, Any] = {
        "watch_timeout_seconds": 2,
        "request_timeout_seconds": 5.0,
        "watch_backoff_seconds": 0.05,
        "watch_backoff_max_seconds": 0.2,
    }
    options.update(kwargs)
    return KubernetesLauncher(CONFIG, fake.api_client(), fake.namespace, **options)


@pytest.fixture
def launcher(fake: FakeKubernetes) -> KubernetesLauncher:
    return make_launcher(fake)


def spec(task_id: str) -> JobSpec:
    return JobSpec(task_id=task_id, engine="pocketsphinx", timeout_seconds=600)


def test_it_is_a_launcher(launcher: KubernetesLauncher) -> None:
    checked: Launcher = launcher
    assert checked is launcher


# -- namespace and configuration ----------------------------------------------------------


def test_namespace_resolution(tmp_path: Path) -> None:
    sa_file = tmp_path / "namespace"
    assert resolve_namespace("explicit", "configured", sa_file) == "explicit"
    assert resolve_namespace(None, "configured", sa_file) == "configured"
    assert resolve_namespace(None, "", sa_file) == "default"
    sa_file.write_text("own-namespace\n")
    assert resolve_namespace(None, "", sa_file) == "own-namespace"
    assert resolve_namespace("", "configured", sa_file) == "configured"


def test_from_config_uses_kubeconfig_and_its_namespace(
    fake: FakeKubernetes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": fake.url}}],
                "users": [{"name": "me", "user": {"token": "not-a-real-token"}}],
                "contexts": [
                    {
                        "name": "here",
                        "context": {"cluster": "fake", "user": "me", "namespace": fake.namespace},
                    },
                ],
                "current-context": "here",
            }
        )
    )
    launcher = KubernetesLauncher.from_config(KubernetesJobConfig(), kubeconfig=str(kubeconfig))
    assert launcher.namespace == fake.namespace
    launcher.launch(SPEC)
    assert fake.job(TASK) is not None

    configured = KubernetesLauncher.from_config(
        KubernetesJobConfig(namespace="configured"), kubeconfig=str(kubeconfig)
    )
    assert configured.namespace == "configured"


# -- launch and adoption ------------------------------------------------------------------


def test_launch_creates_the_built_job(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    stored = fake.job(TASK)
    assert stored is not None
    expected = build_job(SPEC, CONFIG, fake.namespace)
    assert expected["metadata"]["labels"] == stored["metadata"]["labels"]
    # What the API server adds (selector, defaults, template labels) aside, the Job is exactly
    # the builder's manifest: nothing lost in the client's model round trip.
    added = {"selector", "completions", "parallelism"}
    assert {k: v for k, v in stored["spec"].items() if k not in added and k != "template"} == {
        k: v for k, v in expected["spec"].items() if k != "template"
    }
    assert stored["spec"]["template"]["spec"] == expected["spec"]["template"]["spec"]
    template_labels = stored["spec"]["template"]["metadata"]["labels"]
    assert expected["spec"]["template"]["metadata"]["labels"].items() <= template_labels.items()


def test_second_launch_adopts(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.start_pod(TASK)
    launcher.launch(SPEC)
    make_launcher(fake).launch(SPEC)  # another controller replica, same task
    assert fake.create_attempts == 3
    assert fake.created_jobs == [f"align-{TASK}"]
    assert len(fake.jobs()) == 1
    assert len(fake.pods(TASK)) == 1
    status = launcher.status(TASK)
    assert status is not None and status.phase is JobPhase.RUNNING


def test_concurrent_launches_make_one_job(fake: FakeKubernetes) -> None:
    launchers = [make_launcher(fake) for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(launchers))

    def launch(launcher: KubernetesLauncher) -> None:
        barrier.wait()
        try:
            launcher.launch(SPEC)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=launch, args=(launcher,)) for launcher in launchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == []
    assert fake.create_attempts == 6
    assert fake.created_jobs == [f"align-{TASK}"]


def test_launch_refuses_a_foreign_job(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    fake.create_job(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"align-{TASK}", "labels": {"app": "something-else"}},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": []}}},
        }
    )
    with pytest.raises(ForeignJobError, match=f"not AutoPhon's Job of task {TASK}"):
        launcher.launch(SPEC)
    assert len(fake.jobs()) == 1


def test_launch_refuses_another_tasks_job(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    """Same name, our labels, but another task id in the label: not adoptable."""
    manifest = build_job(SPEC, CONFIG, fake.namespace)
    manifest["metadata"]["labels"]["autophon.io/task-id"] = "someone-else"
    fake.create_job(manifest)
    with pytest.raises(ForeignJobError):
        launcher.launch(SPEC)


def test_launch_refuses_a_job_being_deleted(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    launcher.launch(SPEC)

    def terminating(job: dict[str, Any]) -> None:
        job["metadata"]["deletionTimestamp"] = "2025-01-01T00:10:00Z"
        job["metadata"]["finalizers"] = ["foregroundDeletion"]

    fake.update_job(TASK, terminating)
    with pytest.raises(JobTerminatingError):
        launcher.launch(SPEC)


def test_launch_passes_other_api_errors_on(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    fake.inject_error("POST", "/jobs", status=403)
    with pytest.raises(ApiException) as raised:
        launcher.launch(SPEC)
    assert raised.value.status == 403
    launcher.launch(SPEC)
    assert fake.created_jobs == [f"align-{TASK}"]


def test_launch_refuses_an_engine_without_image(launcher: KubernetesLauncher) -> None:
    with pytest.raises(ValueError, match="engine 'kaldi'"):
        launcher.launch(JobSpec(TASK, "kaldi", 60))


# -- status -------------------------------------------------------------------------------


def test_status_of_a_missing_job_is_none(launcher: KubernetesLauncher) -> None:
    assert launcher.status(TASK) is None


def test_status_follows_the_job_to_success(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    launcher.launch(SPEC)
    assert launcher.status(TASK) == JobStatus(TASK, JobPhase.PENDING)
    fake.start_pod(TASK)
    assert launcher.status(TASK) == JobStatus(TASK, JobPhase.RUNNING)
    fake.succeed_job(TASK)
    status = launcher.status(TASK)
    assert status == JobStatus(TASK, JobPhase.SUCCEEDED, exit_code=0)
    assert status.finished


def test_bad_input_is_final(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=65)
    status = launcher.status(TASK)
    assert status is not None
    assert status.phase is JobPhase.FAILED
    assert (status.exit_code, status.reason, status.retryable) == (65, "BadInput", False)
    assert status.message.endswith(".")


def test_bad_input_fails_at_once_despite_backoff_limit(fake: FakeKubernetes) -> None:
    """The FailJob rule wins over pod retries inside the Job."""
    launcher = KubernetesLauncher(
        KubernetesJobConfig(backoff_limit=3), fake.api_client(), fake.namespace
    )
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=65)
    status = launcher.status(TASK)
    assert status is not None and (status.phase, status.reason) == (JobPhase.FAILED, "BadInput")


def test_input_beyond_the_aligners_limits_is_final(fake: FakeKubernetes) -> None:
    """Exit 71 (a recording too long, an engine out of memory): the FailJob rule wins over
    pod retries inside the Job too."""
    launcher = KubernetesLauncher(
        KubernetesJobConfig(backoff_limit=3), fake.api_client(), fake.namespace
    )
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=71)
    status = launcher.status(TASK)
    assert status is not None and status.phase is JobPhase.FAILED
    assert (status.exit_code, status.reason, status.retryable) == (71, "Resource", False)
    assert len(fake.pods(TASK)) == 1
    assert "limits" in status.message


def test_internal_error_is_retryable(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=70)
    status = launcher.status(TASK)
    assert status is not None
    assert (status.phase, status.exit_code, status.reason) == (JobPhase.FAILED, 70, "Error")
    assert status.retryable is True
    assert status.message == "The aligner exited with code 70."


def test_evicted_pod_is_retryable(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    """An eviction without the DisruptionTarget condition fails the Job (backoffLimit 0)."""
    launcher.launch(SPEC)
    fake.evict_pod(TASK)
    status = launcher.status(TASK)
    assert status is not None
    assert (status.phase, status.reason, status.retryable) == (JobPhase.FAILED, "Evicted", True)
    assert "low on resource" in status.message


def test_disruption_is_absorbed_by_the_pod_failure_policy(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    """With DisruptionTarget the Ignore rule applies: the Job runs on in a new pod."""
    launcher.launch(SPEC)
    fake.evict_pod(TASK, disruption_condition=True)
    status = launcher.status(TASK)
    assert status is not None and not status.finished
    assert len(fake.pods(TASK)) == 2
    fake.succeed_job(TASK)
    status = launcher.status(TASK)
    assert status is not None and status.phase is JobPhase.SUCCEEDED


def test_lost_pod_is_retryable(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.lose_pod(TASK)
    status = launcher.status(TASK)
    assert status is not None
    assert (status.phase, status.reason, status.retryable) == (JobPhase.FAILED, "PodLost", True)


def test_deadline_exceeded_is_final(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.start_pod(TASK)
    fake.exceed_deadline(TASK)
    status = launcher.status(TASK)
    assert status is not None
    assert status.phase is JobPhase.FAILED
    assert (status.reason, status.retryable) == ("DeadlineExceeded", False)
    assert "600 seconds" in status.message


def test_oom_killed_is_final(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=137, oom_killed=True)
    status = launcher.status(TASK)
    assert status is not None
    assert (status.reason, status.retryable, status.exit_code) == ("OOMKilled", False, 137)
    assert status.message == "It needed more than the Job's memory limit of 2Gi."


def test_killed_runner_is_retryable(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=137)
    status = launcher.status(TASK)
    assert status is not None
    assert (status.reason, status.retryable) == ("Killed", True)


def test_pod_retries_within_the_job_are_not_final(fake: FakeKubernetes) -> None:
    launcher = KubernetesLauncher(
        KubernetesJobConfig(backoff_limit=1), fake.api_client(), fake.namespace
    )
    launcher.launch(SPEC)
    fake.fail_job(TASK, exit_code=70)
    status = launcher.status(TASK)
    assert status is not None and not status.finished
    fake.fail_job(TASK, exit_code=70)
    status = launcher.status(TASK)
    assert status is not None and status.phase is JobPhase.FAILED and status.exit_code == 70


def _job(conditions: list[dict[str, str]], **status: Any) -> Any:
    return V1Job.from_dict(
        {
            "metadata": {"name": f"align-{TASK}"},
            "spec": {"activeDeadlineSeconds": 60, "template": {"spec": {"containers": []}}},
            "status": {"conditions": conditions, **status},
        }
    )


def _pod(
    *,
    reason: str | None = None,
    message: str | None = None,
    conditions: list[dict[str, str]] | None = None,
    **state: Any,
) -> Any:
    status: dict[str, Any] = {"phase": "Failed", "conditions": conditions or []}
    if reason:
        status["reason"] = reason
        status["message"] = message or f"pod {reason}"
    if state:
        status["containerStatuses"] = [
            {"name": "runner", "image": "x", "imageID": "", "ready": False,
             "restartCount": 0, "state": state},
        ]  # fmt: skip
    return V1Pod.from_dict(
        {
            "metadata": {"name": "p", "creationTimestamp": "2025-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "runner", "image": "x"}]},
            "status": status,
        }
    )


FAILED = [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]
# The kubelet's messages when a pod passes its own storage limits.
OWN_STORAGE_LIMIT_EVICTIONS = {
    "emptydir-size-limit": 'Usage of EmptyDir volume "tmp" exceeds the limit "1Gi". ',
    "container-storage-limit": (
        'Container runner exceeded its local ephemeral storage limit "4Gi". '
    ),
    "pod-storage-limit": (
        "Pod ephemeral local storage usage exceeds the total limit of containers 4Gi. "
    ),
}


@pytest.mark.parametrize(
    ("job", "pods", "expected"),
    [
        pytest.param(
            _job([{"type": "SuccessCriteriaMet", "status": "True"}]), [],
            (JobPhase.SUCCEEDED, None, False), id="success-criteria-met",
        ),
        pytest.param(
            _job([{"type": "Complete", "status": "False"}], active=1), [],
            (JobPhase.RUNNING, None, False), id="active-without-ready-count",
        ),
        pytest.param(
            _job([{"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy"}]), [],
            (JobPhase.FAILED, "BadInput", False), id="failure-target-before-failed",
        ),
        pytest.param(
            _job([{"type": "FailureTarget", "status": "True", "reason": "PodFailurePolicy",
                   "message": "Container runner for pod autophon/align-x-abcde failed with "
                              "exit code 71 matching FailJob rule at index 0"}]), [],
            (JobPhase.FAILED, "Resource", False), id="failure-target-of-exit-71-pod-gone",
        ),
        pytest.param(
            _job(FAILED),
            [_pod(conditions=[{"type": "DisruptionTarget", "status": "True",
                               "reason": "DeletionByTaintManager"}])],
            (JobPhase.FAILED, "PodLost", True), id="node-lost",
        ),
        pytest.param(
            _job(FAILED),
            [_pod(conditions=[{"type": "DisruptionTarget", "status": "True",
                               "reason": "PreemptionByScheduler"}])],
            (JobPhase.FAILED, "Evicted", True), id="preempted",
        ),
        *[
            pytest.param(
                _job(FAILED), [_pod(reason="Evicted", message=message)],
                (JobPhase.FAILED, "StorageLimit", False), id=name,
            )
            for name, message in OWN_STORAGE_LIMIT_EVICTIONS.items()
        ],
        pytest.param(
            _job(FAILED),
            [_pod(reason="Evicted", message="The node was low on resource: ephemeral-storage. "
                  "Container runner was using 20Ki, which exceeds its request of 0. ")],
            (JobPhase.FAILED, "Evicted", True), id="node-disk-pressure",
        ),
        pytest.param(
            _job(FAILED), [_pod(reason="NodeShutdown")],
            (JobPhase.FAILED, "PodLost", True), id="node-shutdown",
        ),
        pytest.param(
            _job(FAILED),
            [_pod(terminated={"exitCode": 137, "reason": "OOMKilled"})],
            (JobPhase.FAILED, "OOMKilled", False), id="oom-without-limit",
        ),
        pytest.param(
            _job(FAILED), [_pod(running={})],
            (JobPhase.FAILED, "BackoffLimitExceeded", True), id="no-exit-code",
        ),
    ],
)  # fmt: skip
def test_status_mapping(job: Any, pods: list[Any], expected: tuple[Any, ...]) -> None:
    status = job_status(TASK, job, pods)
    assert (status.phase, status.reason, status.retryable) == expected
    assert len(status.message) <= 300


# -- list and delete ----------------------------------------------------------------------


def test_list_jobs(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    for task_id in ("pending", "running", "done", "bad", "evicted"):
        launcher.launch(spec(task_id))
    fake.start_pod("running")
    fake.succeed_job("done")
    fake.fail_job("bad", exit_code=65)
    fake.evict_pod("evicted")
    # Not ours: no labels; ours but in another namespace.
    fake.create_job(
        {"metadata": {"name": "other"}, "spec": {"template": {"spec": {"containers": []}}}}
    )
    fake.create_job(build_job(spec("elsewhere"), CONFIG, "elsewhere"), namespace="elsewhere")

    jobs = launcher.list_jobs()
    assert set(jobs) == {"pending", "running", "done", "bad", "evicted"}
    assert jobs["pending"].phase is JobPhase.PENDING
    assert jobs["running"].phase is JobPhase.RUNNING
    assert jobs["done"].phase is JobPhase.SUCCEEDED
    assert (jobs["bad"].reason, jobs["bad"].retryable) == ("BadInput", False)
    assert (jobs["evicted"].reason, jobs["evicted"].retryable) == ("Evicted", True)
    for task_id in jobs:
        assert jobs[task_id] == launcher.status(task_id)


def test_list_jobs_when_there_are_none(launcher: KubernetesLauncher) -> None:
    assert launcher.list_jobs() == {}


def test_delete_removes_job_and_pods(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.start_pod(TASK)
    launcher.delete(TASK)
    assert fake.job(TASK) is None
    assert fake.deletions == [(fake.namespace, f"align-{TASK}", "Background")]
    assert fake.all_pods() == []
    assert launcher.status(TASK) is None
    launcher.delete(TASK)  # already gone: no error


def test_delete_passes_other_api_errors_on(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    launcher.launch(SPEC)
    fake.inject_error("DELETE", f"align-{TASK}", status=500)
    with pytest.raises(ApiException):
        launcher.delete(TASK)


# -- logs ---------------------------------------------------------------------------------


def test_logs_tail(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    lines = [f'{{"level": "INFO", "message": "step {n}"}}' for n in range(30)]
    fake.set_logs(TASK, "\n".join(lines) + "\n")
    assert launcher.logs(TASK, 3) == "\n".join(lines[-3:]) + "\n"
    assert launcher.logs(TASK, 100) == "\n".join(lines) + "\n"
    assert launcher.logs(TASK, 0) == ""
    pod = fake.pods(TASK)[0]["metadata"]["name"]
    log_queries = [q for _, p, q in fake.requests if p.endswith(f"/pods/{pod}/log")]
    assert log_queries[0] == {"container": "runner", "tailLines": "3"}


def test_logs_come_from_the_pod_that_ran(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    """After a disruption the replacement pod is pending: the evicted pod's log is shown."""
    launcher.launch(SPEC)
    fake.set_logs(TASK, "first pod\n")
    fake.evict_pod(TASK, disruption_condition=True)
    assert len(fake.pods(TASK)) == 2
    assert launcher.logs(TASK, 5) == "first pod\n"
    fake.set_logs(TASK, "second pod\n")
    fake.start_pod(TASK)
    assert launcher.logs(TASK, 5) == "second pod\n"


def test_logs_are_empty_when_unavailable(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    assert launcher.logs(TASK, 10) == ""  # no Job
    launcher.launch(SPEC)
    assert launcher.logs(TASK, 10) == ""  # no pod yet
    fake.set_logs(TASK, "hello\n")
    fake.inject_error("GET", "/log", status=500)
    assert launcher.logs(TASK, 10) == ""
    fake.inject_error("GET", "/pods", status=403)
    assert launcher.logs(TASK, 10) == ""
    assert launcher.logs(TASK, 10) == "hello\n"


# -- watch --------------------------------------------------------------------------------


class Recorder:
    """Collects ``on_change`` calls from the watch thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[str] = []

    def __call__(self, task_id: str) -> None:
        with self._lock:
            self._calls.append(task_id)

    @property
    def calls(self) -> list[str]:
        with self._lock:
            return list(self._calls)

    def count(self, task_id: str) -> int:
        return self.calls.count(task_id)


@contextlib.contextmanager
def watching(launcher: KubernetesLauncher, on_change: Any = None) -> Iterator[Recorder]:
    recorder = Recorder()
    stop = threading.Event()
    thread = threading.Thread(
        target=launcher.watch, args=(stop, on_change or recorder), name="watch", daemon=True
    )
    thread.start()
    try:
        yield recorder
    finally:
        stop.set()
        thread.join(10)
        assert not thread.is_alive(), "watch did not return after stop was set"


def test_watch_reports_existing_jobs_then_changes(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    launcher.launch(spec("existing"))
    with watching(launcher) as changes:
        wait_until(lambda: changes.calls == ["existing"])
        wait_until(lambda: fake.open_watches == 1)
        launcher.launch(SPEC)
        wait_until(lambda: changes.count(TASK) == 1)
        fake.start_pod(TASK)
        wait_until(lambda: changes.count(TASK) == 2)
        fake.succeed_job(TASK)
        wait_until(lambda: changes.count(TASK) == 3)
        fake.delete_job(TASK)
        wait_until(lambda: changes.count(TASK) == 4)
        # Jobs that are not ours are not reported.
        fake.create_job(
            {"metadata": {"name": "other"}, "spec": {"template": {"spec": {"containers": []}}}}
        )
        fake.start_pod("existing")
        wait_until(lambda: changes.count("existing") == 2)
        assert set(changes.calls) == {"existing", TASK}


def test_watch_resumes_after_a_dropped_connection(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    launcher.launch(SPEC)
    with watching(launcher) as changes:
        wait_until(lambda: changes.count(TASK) == 1 and fake.open_watches == 1)
        requests_before = fake.watch_requests
        assert fake.drop_watches() == 1
        fake.start_pod(TASK)  # while the watch is down, or just after it is back
        wait_until(lambda: changes.count(TASK) == 2)
        wait_until(lambda: fake.open_watches == 1)
        assert fake.watch_requests > requests_before
        fake.succeed_job(TASK)
        wait_until(lambda: changes.count(TASK) == 3)
    # Resumed from the last resourceVersion seen: nothing was replayed or re-listed.
    assert changes.calls == [TASK] * 3
    lists = [
        q for m, p, q in fake.requests if m == "GET" and p.endswith("/jobs") and "watch" not in q
    ]
    assert len(lists) == 1


def test_watch_survives_the_server_ending_it(fake: FakeKubernetes) -> None:
    """A clean end of a watch (its timeoutSeconds) just starts the next one."""
    launcher = make_launcher(fake, watch_timeout_seconds=1)
    with watching(launcher) as changes:
        wait_until(lambda: fake.watch_requests >= 3, timeout=10)
        launcher.launch(SPEC)
        wait_until(lambda: changes.count(TASK) == 1)


def test_watch_relists_after_410_gone(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    for task_id in ("changed", "unchanged", "deleted"):
        launcher.launch(spec(task_id))
    with watching(launcher) as changes:
        wait_until(lambda: sorted(changes.calls) == ["changed", "deleted", "unchanged"])
        wait_until(lambda: fake.open_watches == 1)
        with fake.paused():
            # Atomically, as the client sees it: changes it will not see as events, the
            # watch connection lost, and the history compacted, so resuming gets 410.
            fake.start_pod("changed")
            fake.delete_job("deleted")
            fake.drop_watches()
            fake.compact()
        wait_until(lambda: len(changes.calls) == 5)
        assert sorted(changes.calls[3:]) == ["changed", "deleted"]
        lists = [
            q
            for m, p, q in fake.requests
            if m == "GET" and p.endswith("/jobs") and "watch" not in q
        ]
        assert len(lists) == 2
        # And the watch goes on from the new list.
        wait_until(lambda: fake.open_watches == 1)
        fake.succeed_job("changed")
        wait_until(lambda: changes.count("changed") == 2)
    assert changes.count("unchanged") == 1


def test_watch_retries_api_errors(fake: FakeKubernetes, launcher: KubernetesLauncher) -> None:
    launcher.launch(SPEC)
    fake.inject_error("GET", "/jobs", status=500, times=2)
    with watching(launcher) as changes:
        wait_until(lambda: changes.calls == [TASK])


def test_watch_survives_a_failing_handler(
    fake: FakeKubernetes, launcher: KubernetesLauncher
) -> None:
    recorder = Recorder()

    def flaky(task_id: str) -> None:
        recorder(task_id)
        raise RuntimeError("handler bug")

    launcher.launch(SPEC)
    with watching(launcher, flaky):
        wait_until(lambda: recorder.count(TASK) == 1)
        fake.start_pod(TASK)
        wait_until(lambda: recorder.count(TASK) == 2)


def test_watch_stops_when_the_event_is_set(fake: FakeKubernetes) -> None:
    launcher = make_launcher(fake, watch_timeout_seconds=1)
    stop = threading.Event()
    thread = threading.Thread(target=launcher.watch, args=(stop, lambda task_id: None))
    thread.start()
    wait_until(lambda: fake.open_watches == 1)
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_watch_stops_while_the_api_is_down(fake: FakeKubernetes) -> None:
    launcher = make_launcher(fake, watch_backoff_seconds=0.05, watch_backoff_max_seconds=60)
    fake.inject_error("GET", "/jobs", status=503, times=1000)
    stop = threading.Event()
    thread = threading.Thread(target=launcher.watch, args=(stop, lambda task_id: None))
    thread.start()
    wait_until(lambda: len(fake.requests) >= 4)  # backing off: 0.05, 0.1, 0.2, ...
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_releases_in_one_namespace_see_only_their_own_jobs(fake: FakeKubernetes) -> None:
    def release(name: str) -> KubernetesLauncher:
        config = CONFIG.model_copy(update={"labels": {"app.kubernetes.io/instance": name}})
        return KubernetesLauncher(config, fake.api_client(), fake.namespace)

    blue, green = release("blue"), release("green")
    blue.launch(spec("blue-task"))
    green.launch(spec("green-task"))
    assert set(blue.list_jobs()) == {"blue-task"}
    assert set(green.list_jobs()) == {"green-task"}
