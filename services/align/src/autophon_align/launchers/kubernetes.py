"""The Kubernetes launcher: one batch/v1 Job per alignment task.

A thin adapter over the official client (``BatchV1Api``, ``CoreV1Api``): the manifest comes
from :func:`autophon_align.manifests.build_job`, and what Kubernetes reports (Job conditions,
the runner container's exit code, pod eviction) is mapped to a :class:`JobStatus`. It needs
exactly the RBAC of the design: Jobs create/get/list/watch/delete, Pods and pods/log
get/list, in one namespace.

Failure classification (``JobStatus.reason`` / ``retryable``):

============================  ==================  =========  ==================================
What happened                 reason              retryable  why
============================  ==================  =========  ==================================
runner exited 65 (FailJob)    BadInput            no         the input can never be aligned
runner exited 71 (FailJob)    Resource            no         the input is beyond the engine's
                                                             limits (too long, or the engine
                                                             ran out of memory)
activeDeadlineSeconds hit     DeadlineExceeded    no         the limit scales with the audio;
                                                             a rerun would time out again
container OOMKilled           OOMKilled           no         it hit its own memory limit,
                                                             which a rerun with the same input
                                                             and limit hits again (no pod
                                                             failure rule can match it: its
                                                             137 is any SIGKILL's)
evicted past its own storage  StorageLimit        no         its scratch files (/tmp) outgrew
limit (ephemeral-storage,                                    the Job's limit, as a rerun would
emptyDir sizeLimit)                                          again
pod evicted (node pressure,   Evicted             yes        the node failed, not the task
eviction API, preemption)
pod lost (node gone, pod      PodLost             yes        idem
deleted, DisruptionTarget)
killed by a signal (137/143)  Killed              yes        usually an outside kill
other non-zero exit (70...)   Error               yes        a bug or an environment problem:
                                                             bounded by the controller's
                                                             attempt limit
============================  ==================  =========  ==================================

Disruptions that carry the ``DisruptionTarget`` condition normally never fail the Job: its
podFailurePolicy ignores them and Kubernetes starts a replacement pod. They reach this
table only on clusters or paths that do not set the condition.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import kubernetes.client
import kubernetes.config
import kubernetes.watch
from kubernetes.client.exceptions import ApiException

from autophon_align.launchers.base import FINAL_EXIT_CODES, JobPhase, JobSpec, JobStatus, job_name
from autophon_align.manifests import (
    CONTAINER_NAME,
    JOB_SELECTOR,
    LABEL_TASK_ID,
    SELECTOR_LABELS,
    JobFeatures,
    build_job,
    task_selector,
)
from autophon_core.config import KubernetesJobConfig
from autophon_core.taskfiles import ExitCode

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "default"
# Pod status.reason values of pods that were lost with their node or shut down with it.
_POD_LOST_REASONS = frozenset(
    {"NodeLost", "NodeShutdown", "Shutdown", "Terminated", "UnexpectedAdmissionError"}
)
# DisruptionTarget condition reasons that mean the pod was evicted or preempted.
_EVICTION_REASONS = frozenset(
    {"EvictionByEvictionAPI", "TerminationByKubelet", "PreemptionByScheduler"}
)
# The kubelet's eviction messages for a pod past its own storage limits, not the node's
# (pkg/kubelet/eviction/helpers.go): an emptyDir's sizeLimit, a container's or the whole
# pod's ephemeral-storage limit. "The node was low on resource: ephemeral-storage" is not one.
_OWN_STORAGE_LIMIT = re.compile(
    r"EmptyDir volume \S+ exceeds the limit|exceeded its local ephemeral storage limit"
    r"|local storage usage exceeds the total limit of containers"
)
# The exit code in a PodFailurePolicy condition's message (the Job controller's wording,
# pkg/controller/job/pod_failure_policy.go: "Container runner for pod ns/name failed with
# exit code 65 matching FailJob rule at index 0").
_POLICY_EXIT_CODE = re.compile(r"\bwith exit code (\d+) matching FailJob rule\b")
# Longest message kept from Kubernetes (pod and condition messages can be long).
_MESSAGE_LIMIT = 300


class KubernetesLauncherError(Exception):
    """The Kubernetes launcher could not do what was asked."""


class ForeignJobError(KubernetesLauncherError):
    """A Job with the task's name exists but was not created by AutoPhon for that task."""


class JobTerminatingError(KubernetesLauncherError):
    """The task's previous Job is still being deleted; launch again once it is gone."""


def resolve_namespace(
    explicit: str | None,
    configured: str,
    service_account_file: Path = SERVICE_ACCOUNT_NAMESPACE_FILE,
) -> str:
    """The namespace to use: explicit, else configured, else the pod's own, else "default"."""
    if explicit:
        return explicit
    if configured:
        return configured
    try:
        own = service_account_file.read_text(encoding="utf-8").strip()
    except OSError:
        own = ""
    return own or DEFAULT_NAMESPACE


class KubernetesLauncher:
    """Launches, observes and removes alignment Jobs in one namespace.

    ``watch_timeout_seconds`` is the server-side timeout of each watch request; ``watch``
    cuts the open request short when ``stop`` is set, so this is only the upper bound of
    its reaction time (and how often a silent watch is renewed). ``owner`` becomes the
    Jobs' ownerReference. ``request_timeout_seconds`` bounds every other
    API call, so a hung API server cannot block the controller. ``watch_backoff_seconds``
    is the first wait after a watch error (doubling up to ``watch_backoff_max_seconds``).
    API errors other than those handled below propagate as ``ApiException``.
    """

    def __init__(
        self,
        config: KubernetesJobConfig,
        api_client: kubernetes.client.ApiClient | None = None,
        namespace: str | None = None,
        *,
        owner: dict[str, Any] | None = None,
        watch_timeout_seconds: int = 10,
        request_timeout_seconds: float = 30.0,
        watch_backoff_seconds: float = 1.0,
        watch_backoff_max_seconds: float = 30.0,
    ) -> None:
        self.config = config
        self.namespace = resolve_namespace(namespace, config.namespace)
        # Our Jobs: the fixed labels plus the configured ones (the chart adds the release's
        # instance label), so two releases in one namespace never see each other's Jobs.
        self._jobs_selector = ",".join(
            [JOB_SELECTOR, *(f"{key}={value}" for key, value in sorted(config.labels.items()))]
        )
        self._api_client = api_client if api_client is not None else kubernetes.client.ApiClient()
        self._batch = kubernetes.client.BatchV1Api(self._api_client)
        self._core = kubernetes.client.CoreV1Api(self._api_client)
        self._owner = owner
        self._watch_timeout = max(1, int(watch_timeout_seconds))
        self._request_timeout = request_timeout_seconds
        self._backoff = watch_backoff_seconds
        self._backoff_max = watch_backoff_max_seconds
        self._features: JobFeatures | None = None

    @classmethod
    def from_config(
        cls,
        config: KubernetesJobConfig,
        namespace: str | None = None,
        *,
        kubeconfig: str | None = None,
        **kwargs: Any,
    ) -> KubernetesLauncher:
        """A launcher with credentials from the pod's service account when running in a
        cluster, else from the kubeconfig (``kubeconfig``, else ``$KUBECONFIG``, else
        ``~/.kube/config``), whose current context then also supplies the namespace when
        none is given or configured. Other keyword arguments go to the constructor."""
        client_config = kubernetes.client.Configuration()
        try:
            kubernetes.config.load_incluster_config(client_configuration=client_config)
        except kubernetes.config.ConfigException:
            kubernetes.config.load_kube_config(
                config_file=kubeconfig, client_configuration=client_config, persist_config=False
            )
            if not namespace and not config.namespace:
                namespace = _kubeconfig_namespace(kubeconfig)
        return cls(config, kubernetes.client.ApiClient(client_config), namespace, **kwargs)

    # -- Launcher --------------------------------------------------------------------------

    def launch(self, spec: JobSpec) -> None:
        """Create the task's Job; adopt it if it already exists and is ours.

        Raises :class:`ForeignJobError` when a Job of that name exists without our labels,
        :class:`JobTerminatingError` when it is being deleted (try again later),
        ``ValueError`` when no valid manifest can be built (e.g. no image for the engine)."""
        manifest = build_job(
            spec, self.config, self.namespace, owner=self._owner, features=self.job_features()
        )
        body = kubernetes.client.V1Job.from_dict(manifest)
        if body is None:  # from_dict only returns None for None
            raise KubernetesLauncherError("the Job manifest is empty")
        name = manifest["metadata"]["name"]
        # Two rounds: the existing Job may vanish between the 409 and the read.
        for _ in range(2):
            try:
                self._batch.create_namespaced_job(
                    self.namespace, body, _request_timeout=self._request_timeout
                )
                logger.info("created Job %s/%s", self.namespace, name)
                return
            except ApiException as exc:
                if exc.status != 409:
                    raise
            existing = self._read_job(name)
            if existing is None:
                continue
            self._check_adoptable(existing, spec.task_id)
            logger.info("adopted existing Job %s/%s", self.namespace, name)
            return
        raise KubernetesLauncherError(
            f"Job {self.namespace}/{name} kept appearing and disappearing; launch again"
        )

    def job_features(self) -> JobFeatures:
        """The Job fields the API server serves, from its version, asked once (and again
        after a failed attempt, meanwhile assuming a current server)."""
        if self._features is None:
            try:
                info: Any = kubernetes.client.VersionApi(self._api_client).get_code(
                    _request_timeout=self._request_timeout
                )
                self._features = JobFeatures.of_server(str(info.major), str(info.minor))
                logger.info(
                    "Kubernetes %s.%s: Job fields served: %s",
                    info.major,
                    info.minor,
                    self._features,
                )
            except Exception as exc:
                logger.warning("cannot read the API server's version: %r", exc)
                return JobFeatures()
        return self._features

    def status(self, task_id: str) -> JobStatus | None:
        job = self._read_job(job_name(task_id))
        if job is None:
            return None
        pods = self._list_pods(task_selector(task_id)) if _is_failed(job) else []
        return job_status(task_id, job, pods)

    def list_jobs(self) -> dict[str, JobStatus]:
        jobs = (
            self._batch.list_namespaced_job(
                self.namespace,
                label_selector=self._jobs_selector,
                _request_timeout=self._request_timeout,
            ).items
            or []
        )
        by_task = {tid: job for job in jobs if (tid := _task_id_of(job.metadata))}
        pods_by_task: dict[str, list[Any]] = {}
        # One pod list for all failed Jobs rather than one per Job.
        if any(_is_failed(job) for job in by_task.values()):
            for pod in self._list_pods(self._jobs_selector):
                tid = _task_id_of(pod.metadata)
                if tid:
                    pods_by_task.setdefault(tid, []).append(pod)
        return {
            tid: job_status(tid, job, pods_by_task.get(tid, [])) for tid, job in by_task.items()
        }

    def delete(self, task_id: str) -> None:
        """Delete the Job; ``Background`` propagation removes its pods too (the batch/v1
        default would orphan them)."""
        try:
            self._batch.delete_namespaced_job(
                job_name(task_id),
                self.namespace,
                propagation_policy="Background",
                _request_timeout=self._request_timeout,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def remove_all(self, timeout_seconds: float = 120.0, poll_seconds: float = 1.0) -> int:
        """Delete every alignment Job of this installation, running or finished, and wait
        until their pods are gone; returns how many Jobs there were. What ``helm uninstall``
        runs first (the chart's pre-delete hook): finished Jobs are kept for their logs, and
        their pods would otherwise hold the shared claim, which then stays Terminating and
        breaks the next install. Raises TimeoutError when pods remain after the timeout."""
        task_ids = list(self.list_jobs())
        for task_id in task_ids:
            self.delete(task_id)
        deadline = time.monotonic() + timeout_seconds
        while self._list_pods(self._jobs_selector):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"alignment pods in {self.namespace} still exist after {timeout_seconds:.0f} s"
                )
            time.sleep(poll_seconds)
        return len(task_ids)

    def logs(self, task_id: str, lines: int) -> str:
        """The tail of the runner's output in the Job's newest pod that ran (what
        ``kubectl logs`` shows); "" when there is none or it cannot be read."""
        if lines <= 0:
            return ""
        try:
            pods = self._list_pods(task_selector(task_id))
            pod = _log_pod(pods)
            if pod is None:
                return ""
            # Raw bytes: the log is returned as written (JSON lines are not parsed), and
            # invalid UTF-8 is replaced instead of failing the call.
            response: Any = self._core.read_namespaced_pod_log(
                pod.metadata.name,
                self.namespace,
                container=CONTAINER_NAME,
                tail_lines=lines,
                _preload_content=False,
                _request_timeout=self._request_timeout,
            )
            try:
                data: bytes = response.read()
            finally:
                response.release_conn()
            return data.decode("utf-8", errors="replace")
        except Exception as exc:  # logs are best effort: never fail the caller for them
            logger.debug("no logs for task %s: %s", task_id, exc)
            return ""

    def watch(self, stop: threading.Event, on_change: Callable[[str], None]) -> None:
        """List, then watch from the list's resourceVersion, calling ``on_change(task_id)``
        for every Job event, until ``stop`` is set.

        The first list reports every existing Job (like an informer's initial ADDED
        events). A 410 Gone (the resourceVersion was compacted away) leads to a re-list
        that reports only Jobs that changed, appeared or vanished meanwhile. Other errors
        and dropped connections are retried after a back-off, resuming from the last
        resourceVersion seen. ``on_change`` should only enqueue; its exceptions are logged.
        """
        state = _WatchState()
        # Wakes up when stop is set and cuts the open watch short, so watch returns at once
        # rather than when the current request times out (which remains the upper bound).
        threading.Thread(
            target=self._interrupt_on_stop, args=(stop, state), name="job-watch-stop", daemon=True
        ).start()
        failures = 0
        while not stop.is_set():
            try:
                if state.resource_version is None:
                    self._relist(state, on_change)
                self._watch_once(state, on_change, stop)
                failures = 0
            except ApiException as exc:
                if stop.is_set():
                    break
                if exc.status == 410:
                    logger.info("Job watch expired (410 Gone); re-listing")
                    state.resource_version = None
                    continue
                failures += 1
                logger.warning("Job watch failed: %s %s", exc.status, exc.reason)
                stop.wait(self._delay(failures))
            except Exception as exc:  # connection drops, timeouts, decoding errors
                if stop.is_set():
                    break
                failures += 1
                logger.warning("Job watch interrupted: %r; resuming", exc)
                stop.wait(self._delay(failures))

    # -- internals -------------------------------------------------------------------------

    def _delay(self, failures: int) -> float:
        return float(min(self._backoff * 2 ** (failures - 1), self._backoff_max))

    def _read_job(self, name: str) -> Any | None:
        try:
            return self._batch.read_namespaced_job(
                name, self.namespace, _request_timeout=self._request_timeout
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _list_pods(self, selector: str) -> list[Any]:
        pods = self._core.list_namespaced_pod(
            self.namespace, label_selector=selector, _request_timeout=self._request_timeout
        )
        return list(pods.items or [])

    def _check_adoptable(self, job: Any, task_id: str) -> None:
        labels = job.metadata.labels or {}
        expected = {**SELECTOR_LABELS, LABEL_TASK_ID: task_id}
        wrong = {
            key: labels.get(key) for key, value in expected.items() if labels.get(key) != value
        }
        if wrong:
            raise ForeignJobError(
                f"Job {self.namespace}/{job.metadata.name} exists but is not AutoPhon's Job of "
                f"task {task_id} (labels {wrong}); delete or rename it"
            )
        if job.metadata.deletion_timestamp is not None:
            raise JobTerminatingError(
                f"Job {self.namespace}/{job.metadata.name} of task {task_id} is still being deleted"
            )

    def _notify(self, on_change: Callable[[str], None], task_id: str) -> None:
        try:
            on_change(task_id)
        except Exception:
            logger.exception("Job change handler failed for task %s", task_id)

    def _relist(self, state: _WatchState, on_change: Callable[[str], None]) -> None:
        """List the Jobs and report those that differ from what was last reported."""
        listing = self._batch.list_namespaced_job(
            self.namespace,
            label_selector=self._jobs_selector,
            _request_timeout=self._request_timeout,
        )
        current = {
            tid: str(job.metadata.resource_version)
            for job in listing.items or []
            if job.metadata is not None and (tid := _task_id_of(job.metadata))
        }
        changed = [tid for tid, rv in current.items() if state.known.get(tid) != rv]
        changed += [tid for tid in state.known if tid not in current]
        state.known = current
        state.resource_version = str(listing.metadata.resource_version if listing.metadata else "")
        for tid in changed:
            self._notify(on_change, tid)

    def _watch_once(
        self, state: _WatchState, on_change: Callable[[str], None], stop: threading.Event
    ) -> None:
        """One watch request, at most ``watch_timeout_seconds`` long, from the state's RV.

        The state is updated event by event, so after an error the next request resumes
        where this one stopped instead of replaying events."""
        watcher = kubernetes.watch.Watch()
        with state.lock:
            state.watcher = watcher
        if stop.is_set():
            return
        stream = watcher.stream(
            self._batch.list_namespaced_job,
            self.namespace,
            label_selector=self._jobs_selector,
            resource_version=state.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=self._watch_timeout,
            # The client-side read timeout is a backstop for half-open connections.
            _request_timeout=(self._request_timeout, self._watch_timeout + 30),
        )
        try:
            for event in stream:
                metadata = event["raw_object"].get("metadata") or {}
                if metadata.get("resourceVersion"):
                    state.resource_version = str(metadata["resourceVersion"])
                if event["type"] == "BOOKMARK":
                    continue
                task_id = (metadata.get("labels") or {}).get(LABEL_TASK_ID)
                if task_id:
                    if event["type"] == "DELETED":
                        state.known.pop(task_id, None)
                    else:
                        state.known[task_id] = str(metadata.get("resourceVersion"))
                    self._notify(on_change, task_id)
                if stop.is_set():
                    break
        finally:
            with state.lock:
                state.watcher = None
            watcher.stop()
            stream.close()

    @staticmethod
    def _interrupt_on_stop(stop: threading.Event, state: _WatchState) -> None:
        stop.wait()
        with state.lock:
            if state.watcher is not None:
                state.watcher.stop()


@dataclass
class _WatchState:
    # Where the next watch starts; None means list first.
    resource_version: str | None = None
    # Task id -> resourceVersion of its Job as last reported, to diff a re-list against.
    known: dict[str, str] = field(default_factory=dict)
    # The watch in progress (kubernetes.watch.Watch), for the stop interrupter.
    watcher: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def _kubeconfig_namespace(kubeconfig: str | None) -> str | None:
    try:
        _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
    except Exception:
        return None
    namespace = (active or {}).get("context", {}).get("namespace")
    return str(namespace) if namespace else None


def _task_id_of(metadata: Any) -> str | None:
    labels = (metadata.labels if metadata is not None else None) or {}
    task_id = labels.get(LABEL_TASK_ID)
    return str(task_id) if task_id else None


def _true_conditions(job: Any) -> dict[str, Any]:
    conditions = (job.status.conditions if job.status else None) or []
    return {c.type: c for c in conditions if c.status == "True"}


def _is_failed(job: Any) -> bool:
    conditions = _true_conditions(job)
    return "Failed" in conditions or "FailureTarget" in conditions


def job_status(task_id: str, job: Any, pods: Iterable[Any]) -> JobStatus:
    """Map a ``V1Job`` and its pods (``V1Pod``, any order) to a :class:`JobStatus`.

    ``FailureTarget``/``SuccessCriteriaMet`` (Kubernetes 1.31+) count as final: the outcome
    is decided, only pod termination is pending."""
    status = job.status
    conditions = _true_conditions(job)
    if (
        "Complete" in conditions
        or "SuccessCriteriaMet" in conditions
        or (status is not None and (status.succeeded or 0) >= 1)
    ):
        done = conditions.get("Complete") or conditions.get("SuccessCriteriaMet")
        finished_at = (status.completion_time if status is not None else None) or (
            done.last_transition_time if done is not None else None
        )
        return JobStatus(
            task_id, JobPhase.SUCCEEDED, exit_code=int(ExitCode.OK), finished_at=finished_at
        )
    failed = conditions.get("Failed") or conditions.get("FailureTarget")
    if failed is not None:
        return replace(
            _failure(task_id, job, failed, list(pods)), finished_at=failed.last_transition_time
        )
    if status is not None and (
        (status.ready or 0) >= 1 or (status.ready is None and (status.active or 0) >= 1)
    ):
        return JobStatus(task_id, JobPhase.RUNNING)
    return JobStatus(task_id, JobPhase.PENDING)


def _failure(task_id: str, job: Any, condition: Any, pods: list[Any]) -> JobStatus:
    job_reason = condition.reason or ""

    def failed(reason: str, retryable: bool, message: str, code: int | None = None) -> JobStatus:
        return JobStatus(
            task_id,
            JobPhase.FAILED,
            exit_code=code,
            reason=reason,
            retryable=retryable,
            message=_shorten(message),
        )

    if job_reason == "DeadlineExceeded":
        limit = job.spec.active_deadline_seconds if job.spec else None
        return failed(
            "DeadlineExceeded",
            False,
            f"The time limit was {limit} seconds.",
        )
    pod = _newest(pods, prefer=lambda p: _terminated(p) is not None or _pod_reason(p) != "")
    terminated = _terminated(pod) if pod is not None else None
    code = int(terminated.exit_code) if terminated is not None else None
    if code is None and job_reason == "PodFailurePolicy":
        # The pod is gone; only a FailJob rule fails a Job this way, and its condition
        # message names the exit code ("... failed with exit code 71 matching FailJob rule
        # at index 0"). Without one, the older rule's code.
        code = _policy_exit_code(condition.message) or int(ExitCode.BAD_INPUT)
    if code in FINAL_EXIT_CODES:
        reason, meaning = FINAL_EXIT_CODES[code]
        return failed(reason, False, f"The aligner exited with code {code} ({meaning}).", code)
    if pod is None:
        return failed("PodLost", True, "The pod disappeared before it finished.", code)
    pod_reason = _pod_reason(pod)
    pod_message = (pod.status.message if pod.status else None) or ""
    disruption = _disruption(pod)
    if pod_reason == "Evicted" or (
        disruption is not None and disruption.reason in _EVICTION_REASONS
    ):
        detail = pod_message or (disruption.message if disruption is not None else "") or ""
        if _OWN_STORAGE_LIMIT.search(detail):
            return failed(
                "StorageLimit", False, f"It wrote more than the Job's storage limit. {detail}", code
            )
        return failed("Evicted", True, f"The pod was evicted. {detail}".strip(), code)
    if disruption is not None or pod_reason in _POD_LOST_REASONS:
        detail = pod_message or (disruption.message if disruption is not None else "") or ""
        return failed("PodLost", True, f"The pod was lost. {detail}".strip(), code)
    if terminated is not None and terminated.reason == "OOMKilled":
        limit = _memory_limit(pod)
        return failed(
            "OOMKilled",
            False,
            f"It needed more than the Job's memory limit of {limit}."
            if limit
            else "Its node ran out of memory (the Job has no memory limit).",
            code,
        )
    if code in (128 + 9, 128 + 15):
        signal = "SIGKILL" if code == 137 else "SIGTERM"
        return failed("Killed", True, f"The aligner was killed by {signal}.", code)
    if code is not None and code != 0:
        return failed("Error", True, f"The aligner exited with code {code}.", code)
    return failed(
        job_reason or "Error",
        True,
        condition.message or "The alignment Job failed without an exit code.",
        code,
    )


def _policy_exit_code(message: str | None) -> int | None:
    """The exit code a podFailurePolicy condition's message names, if any."""
    found = _POLICY_EXIT_CODE.search(message or "")
    return int(found.group(1)) if found else None


def _shorten(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def _newest(pods: list[Any], prefer: Callable[[Any], bool]) -> Any | None:
    """The newest pod among those ``prefer`` accepts, else the newest of all."""
    if not pods:
        return None
    ordered = sorted(
        pods,
        key=lambda p: (
            p.metadata.creation_timestamp is not None,
            p.metadata.creation_timestamp or 0,
            p.metadata.name,
        ),
    )
    preferred = [p for p in ordered if prefer(p)]
    return (preferred or ordered)[-1]


def _runner_status(pod: Any) -> Any | None:
    for status in (pod.status.container_statuses if pod.status else None) or []:
        if status.name == CONTAINER_NAME:
            return status
    return None


def _terminated(pod: Any) -> Any | None:
    status = _runner_status(pod)
    if status is None:
        return None
    if status.state is not None and status.state.terminated is not None:
        return status.state.terminated
    if status.last_state is not None and status.last_state.terminated is not None:
        return status.last_state.terminated
    return None


def _pod_reason(pod: Any) -> str:
    return str((pod.status.reason if pod.status else None) or "")


def _disruption(pod: Any) -> Any | None:
    for condition in (pod.status.conditions if pod.status else None) or []:
        if condition.type == "DisruptionTarget" and condition.status == "True":
            return condition
    return None


def _memory_limit(pod: Any) -> str | None:
    for container in (pod.spec.containers if pod.spec else None) or []:
        if container.name == CONTAINER_NAME and container.resources is not None:
            return (container.resources.limits or {}).get("memory")
    return None


def _log_pod(pods: list[Any]) -> Any | None:
    """The newest pod whose runner has started (a pending replacement has no logs yet)."""

    def started(pod: Any) -> bool:
        status = _runner_status(pod)
        return (
            status is not None
            and status.state is not None
            and (status.state.running is not None or status.state.terminated is not None)
        )

    return _newest(pods, prefer=started)
