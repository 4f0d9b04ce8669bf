"""An in-process fake of the Kubernetes API, for tests that use the real ``kubernetes`` client.

It serves exactly what the Kubernetes launcher uses, over HTTP on ``127.0.0.1``:

- ``POST   /apis/batch/v1/namespaces/{ns}/jobs``          create (409 AlreadyExists, 422)
- ``GET    /apis/batch/v1/namespaces/{ns}/jobs``          list; ``labelSelector``;
  ``watch=true`` streams JSON lines (ADDED/MODIFIED/DELETED) from ``resourceVersion``
  until ``timeoutSeconds``; a too-old ``resourceVersion`` gets an ERROR event with 410
- ``GET    /apis/batch/v1/namespaces/{ns}/jobs/{name}``   read (404)
- ``DELETE /apis/batch/v1/namespaces/{ns}/jobs/{name}``   ``propagationPolicy``: Background
  and Foreground delete the Job's pods, Orphan (the batch/v1 default) keeps them
- ``GET    /api/v1/namespaces/{ns}/pods``                 list; ``labelSelector``
- ``GET    /api/v1/namespaces/{ns}/pods/{name}/log``      text; ``tailLines``
- ``GET    /version``                                      ``version`` (major, minor)

Errors carry a ``Status`` body like the real API server's. Label selectors support
``k=v``, ``k==v``, ``k!=v``, ``k`` and ``!k``. There is no Job controller: the test moves
the world with the helpers below, which behave like the Job controller would (pods get the
Job's template labels, the Job's ``podFailurePolicy`` and ``backoffLimit`` decide whether a
failed pod fails the Job or is replaced). Timestamps come from a fake clock that advances
one second per event, so "newest pod" is always well defined.

Usage::

    with FakeKubernetes() as fake:
        api = fake.api_client()          # kubernetes.client.ApiClient for the fake
        launcher = KubernetesLauncher(config, api_client=api, namespace=fake.namespace)
        launcher.launch(spec)
        fake.succeed_job(spec.task_id)

Helper API (``task_id`` finds the Job ``align-<task_id>`` in ``namespace``, by default
``fake.namespace``; each returns after the change is visible to readers and watchers):

World changes:
    ``create_job(manifest, namespace=None) -> dict``  store a Job as if a client created it
        (e.g. a foreign Job with a clashing name).
    ``update_job(task_id, mutate)``  apply ``mutate(job_dict)`` and emit MODIFIED.
    ``start_pod(task_id) -> str``  the Job's pod runs (created if needed); Job active/ready=1.
    ``succeed_job(task_id)``  the runner exits 0; the Job is Complete.
    ``fail_job(task_id, exit_code=70, *, oom_killed=False)``  the runner exits with
        ``exit_code``; the podFailurePolicy/backoffLimit decide: FailJob (exit 65) gives
        reason PodFailurePolicy, exhausting backoffLimit gives BackoffLimitExceeded,
        otherwise a replacement pod is started.
    ``evict_pod(task_id, *, disruption_condition=False)``  the pod is evicted (reason
        Evicted, exit 137); with ``disruption_condition`` it gets DisruptionTarget, which the
        Job's Ignore rule does not count (a replacement pod starts).
    ``lose_pod(task_id)``  the pod vanishes (node gone); counted as a failure.
    ``exceed_deadline(task_id)``  the Job fails with DeadlineExceeded; its active pods go.
    ``delete_job(task_id)``  delete the Job and its pods behind the controller's back.
    ``set_logs(task_id, text)``  the newest pod's log (a running pod is started if none).

Connections and faults:
    ``paused()``  context manager: no request is served while it runs (requests wait);
        helpers still work. Makes several changes atomic as clients see them, e.g. change
        a Job, ``drop_watches()`` and ``compact()`` so that the watch resumes into a 410.
    ``drop_watches() -> int``  abruptly close every open watch (no clean end of stream).
    ``compact()``  forget the event history: watches from an older resourceVersion get 410.
    ``inject_error(method, path_contains, status=500, times=1)``  answer the next matching
        requests with an error Status.

Inspection:
    ``job(task_id) -> dict | None``, ``jobs(namespace=None) -> list[dict]``,
    ``pods(task_id) -> list[dict]`` (the Job's, oldest first), ``all_pods(namespace=None)``,
    ``resource_version -> int``,
    ``created_jobs`` (names of successful creates, in order), ``create_attempts`` (all POSTs),
    ``deletions`` (``(namespace, name, propagationPolicy)``), ``requests``
    (``(method, path, query)``), ``watch_requests`` (count), ``open_watches`` (count now).

``wait_until(predicate, timeout=5.0)`` polls a condition with a deadline.
"""

from __future__ import annotations

import contextlib
import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import kubernetes.client

from autophon_align.launchers.base import job_name
from autophon_align.launchers.kubernetes import KubernetesLauncher
from autophon_core.config import KubernetesJobConfig

CONTAINER = "runner"
# How long a watch without timeoutSeconds stays open (the API server's default is 30-60 min).
DEFAULT_WATCH_SECONDS = 1800.0

Obj = dict[str, Any]


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it returns a truthy value (returned) or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s: {predicate}")
        time.sleep(interval)


class ApiError(Exception):
    """An error answer of the fake API server, rendered as a ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _not_found(kind: str, group: str, name: str) -> ApiError:
    resource = f"{kind}.{group}" if group else kind
    return ApiError(
        404,
        "NotFound",
        f'{resource} "{name}" not found',
        {"name": name, "group": group, "kind": kind},
    )


def parse_selector(selector: str) -> list[tuple[str, str, str | None]]:
    """Parse an equality-based label selector into ``(op, key, value)`` terms."""
    terms: list[tuple[str, str, str | None]] = []
    for raw in selector.split(","):
        term = raw.strip()
        if not term:
            continue
        if " in " in term or " notin " in term or "(" in term:
            raise ApiError(400, "BadRequest", f"set-based selector not supported: {term!r}")
        if "!=" in term:
            key, value = term.split("!=", 1)
            terms.append(("!=", key.strip(), value.strip()))
        elif "==" in term:
            key, value = term.split("==", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif "=" in term:
            key, value = term.split("=", 1)
            terms.append(("=", key.strip(), value.strip()))
        elif term.startswith("!"):
            terms.append(("!", term[1:].strip(), None))
        else:
            terms.append(("exists", term, None))
    return terms


def selector_matches(terms: list[tuple[str, str, str | None]], labels: dict[str, str]) -> bool:
    for op, key, value in terms:
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and labels.get(key) == value:
            return False
        if op == "exists" and key not in labels:
            return False
        if op == "!" and key in labels:
            return False
    return True


@dataclass
class _Event:
    rv: int
    namespace: str
    type: str
    obj: Obj


@dataclass
class _Watcher:
    namespace: str
    terms: list[tuple[str, str, str | None]]
    connection: socket.socket
    queue: list[_Event] = field(default_factory=list)
    dropped: bool = False


@dataclass
class _InjectedError:
    method: str
    path_contains: str
    status: int
    times: int


class FakeKubernetes:
    """The fake API server; start with ``start()`` or use as a context manager."""

    def __init__(
        self,
        namespace: str = "autophon",
        *,
        version: tuple[str, str] = ("1", "30"),
        clock: datetime | None = None,
    ) -> None:
        self.namespace = namespace
        # (major, minor) answered at /version.
        self.version = version
        self._cond = threading.Condition(threading.RLock())
        self._jobs: dict[tuple[str, str], Obj] = {}
        self._pods: dict[tuple[str, str], Obj] = {}
        self._logs: dict[tuple[str, str], str] = {}
        self._rv = 1000
        self._compacted_rv = 0
        self._history: list[_Event] = []
        self._watchers: list[_Watcher] = []
        self._errors: list[_InjectedError] = []
        # Starts long ago by default; ``clock`` (e.g. now) for tests about Jobs' age.
        self._clock = clock or datetime(2025, 1, 1, tzinfo=UTC)
        self._pod_counter = 0
        self.created_jobs: list[str] = []
        self.create_attempts = 0
        self.deletions: list[tuple[str, str, str | None]] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.watch_requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop_watches()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeKubernetes:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def api_client(self) -> kubernetes.client.ApiClient:
        """A client of the real ``kubernetes`` library talking to this fake."""
        return kubernetes.client.ApiClient(kubernetes.client.Configuration(host=self.url))

    def launcher(self, config: KubernetesJobConfig) -> KubernetesLauncher:
        """A Kubernetes launcher on this fake, with short watch and retry timings."""
        return KubernetesLauncher(
            config,
            self.api_client(),
            self.namespace,
            watch_timeout_seconds=2,
            request_timeout_seconds=5.0,
            watch_backoff_seconds=0.05,
            watch_backoff_max_seconds=0.2,
        )

    # -- inspection ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        with self._cond:
            return self._rv

    @property
    def open_watches(self) -> int:
        with self._cond:
            return len(self._watchers)

    def job(self, task_id: str, namespace: str | None = None) -> Obj | None:
        with self._cond:
            job = self._jobs.get((namespace or self.namespace, job_name(task_id)))
            return copy.deepcopy(job) if job is not None else None

    def jobs(self, namespace: str | None = None) -> list[Obj]:
        with self._cond:
            return [
                copy.deepcopy(job)
                for (ns, _), job in sorted(self._jobs.items())
                if namespace is None or ns == namespace
            ]

    def pods(self, task_id: str, namespace: str | None = None) -> list[Obj]:
        with self._cond:
            job = self._require_job(task_id, namespace)
            return [copy.deepcopy(pod) for pod in self._job_pods(job)]

    def all_pods(self, namespace: str | None = None) -> list[Obj]:
        with self._cond:
            return [
                copy.deepcopy(pod)
                for (ns, _), pod in sorted(self._pods.items())
                if namespace is None or ns == namespace
            ]

    # -- world changes ---------------------------------------------------------------------

    def create_job(self, manifest: Obj, namespace: str | None = None) -> Obj:
        with self._cond:
            return copy.deepcopy(self._create_job(namespace or self.namespace, manifest))

    def update_job(
        self, task_id: str, mutate: Callable[[Obj], None], namespace: str | None = None
    ) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            mutate(job)
            self._modified(job)

    def start_pod(self, task_id: str, namespace: str | None = None) -> str:
        with self._cond:
            job = self._require_job(task_id, namespace)
            pod = self._current_pod(job) or self._new_pod(job)
            now = self._tick()
            pod["status"].update(
                phase="Running",
                startTime=pod["status"].get("startTime", now),
                conditions=[{"type": "Ready", "status": "True", "lastTransitionTime": now}],
                containerStatuses=[
                    self._container_status(job, ready=True, state={"running": {"startedAt": now}})
                ],
            )
            self._put_pod(pod)
            status = job["status"]
            status.setdefault("startTime", now)
            status.update(active=1, ready=1)
            self._modified(job)
            return str(pod["metadata"]["name"])

    def succeed_job(self, task_id: str, namespace: str | None = None) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            pod = self._running_pod(job)
            self._terminate_pod(job, pod, "Succeeded", exit_code=0, reason="Completed")
            now = self._tick()
            status = job["status"]
            status.update(
                active=0,
                ready=0,
                succeeded=1,
                completionTime=now,
                conditions=[
                    _condition(
                        "SuccessCriteriaMet",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                        now,
                    ),
                    _condition(
                        "Complete",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                        now,
                    ),
                ],
            )
            self._modified(job)

    def fail_job(
        self,
        task_id: str,
        exit_code: int = 70,
        *,
        oom_killed: bool = False,
        namespace: str | None = None,
    ) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            pod = self._running_pod(job)
            reason = "OOMKilled" if oom_killed else "Error"
            self._terminate_pod(job, pod, "Failed", exit_code=exit_code, reason=reason)
            self._pod_failed(job, pod)

    def evict_pod(
        self, task_id: str, *, disruption_condition: bool = False, namespace: str | None = None
    ) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            pod = self._running_pod(job)
            self._terminate_pod(job, pod, "Failed", exit_code=137, reason="Error")
            pod["status"]["reason"] = "Evicted"
            pod["status"]["message"] = "The node was low on resource: memory."
            if disruption_condition:
                pod["status"]["conditions"].append(
                    _condition(
                        "DisruptionTarget",
                        "TerminationByKubelet",
                        "The node was low on resource: memory.",
                        self._tick(),
                    )
                )
            self._put_pod(pod)
            self._pod_failed(job, pod)

    def lose_pod(self, task_id: str, namespace: str | None = None) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            pod = self._running_pod(job)
            self._delete_pod(pod)
            self._count_failure(job, None)

    def exceed_deadline(self, task_id: str, namespace: str | None = None) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            for pod in self._job_pods(job):
                if pod["status"].get("phase") in ("Pending", "Running"):
                    self._delete_pod(pod)
            self._fail(job, "DeadlineExceeded", "Job was active longer than specified deadline")

    def delete_job(self, task_id: str, namespace: str | None = None) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            self._delete_job(job, "Background")

    def set_logs(self, task_id: str, text: str, namespace: str | None = None) -> None:
        with self._cond:
            job = self._require_job(task_id, namespace)
            pods = self._job_pods(job)
            if not pods:
                self.start_pod(task_id, namespace)
                pods = self._job_pods(job)
            meta = pods[-1]["metadata"]
            self._logs[(meta["namespace"], meta["name"])] = text

    # -- connections and faults ------------------------------------------------------------

    def drop_watches(self) -> int:
        """Close every open watch connection abruptly; returns how many there were."""
        with self._cond:
            watchers = list(self._watchers)
            for watcher in watchers:
                watcher.dropped = True
                # No longer open, even before its server thread notices (a thread blocked
                # writing to the closed socket may only let go when its frame is collected).
                self._watchers.remove(watcher)
                with contextlib.suppress(OSError):
                    watcher.connection.shutdown(socket.SHUT_RDWR)
            self._cond.notify_all()
            return len(watchers)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Serve no request while the block runs; helpers still work (the lock is reentrant)."""
        with self._cond:
            yield

    def compact(self) -> None:
        """Forget all past events, like etcd compaction: older resourceVersions get 410."""
        with self._cond:
            self._compacted_rv = self._rv
            self._history.clear()

    def inject_error(
        self, method: str, path_contains: str, status: int = 500, times: int = 1
    ) -> None:
        with self._cond:
            self._errors.append(_InjectedError(method.upper(), path_contains, status, times))

    # -- internals (called with the lock held) ---------------------------------------------

    def _tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%SZ")

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _require_job(self, task_id: str, namespace: str | None) -> Obj:
        job = self._jobs.get((namespace or self.namespace, job_name(task_id)))
        if job is None:
            raise KeyError(f"no Job {job_name(task_id)} in namespace {namespace or self.namespace}")
        return job

    def _emit(self, namespace: str, event_type: str, obj: Obj) -> None:
        event = _Event(
            int(obj["metadata"]["resourceVersion"]), namespace, event_type, copy.deepcopy(obj)
        )
        self._history.append(event)
        labels = obj["metadata"].get("labels") or {}
        for watcher in self._watchers:
            if watcher.namespace == namespace and selector_matches(watcher.terms, labels):
                watcher.queue.append(event)
        self._cond.notify_all()

    def _modified(self, job: Obj) -> None:
        job["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(job["metadata"]["namespace"], "MODIFIED", job)

    def _create_job(self, namespace: str, body: Obj) -> Obj:
        job = copy.deepcopy(body)
        if job.get("kind", "Job") != "Job":
            raise ApiError(400, "BadRequest", f"expected kind Job, got {job.get('kind')!r}")
        meta = job.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", "Job.batch is invalid: metadata.name: Required value")
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the URL")
        if (namespace, name) in self._jobs:
            raise ApiError(
                409,
                "AlreadyExists",
                f'jobs.batch "{name}" already exists',
                {"name": name, "group": "batch", "kind": "jobs"},
            )
        spec = job.setdefault("spec", {})
        template = spec.setdefault("template", {})
        pod_spec = template.get("spec") or {}
        if spec.get("podFailurePolicy") and pod_spec.get("restartPolicy") != "Never":
            raise ApiError(
                422,
                "Invalid",
                f'Job.batch "{name}" is invalid: spec.template.spec.restartPolicy:'
                ' Invalid value: only "Never" is supported when podFailurePolicy is specified',
            )
        uid = str(uuid.uuid4())
        meta.update(
            namespace=namespace,
            uid=uid,
            generation=1,
            creationTimestamp=self._tick(),
            resourceVersion=self._next_rv(),
        )
        auto_labels = {
            "batch.kubernetes.io/controller-uid": uid,
            "batch.kubernetes.io/job-name": name,
            "controller-uid": uid,
            "job-name": name,
        }
        template.setdefault("metadata", {}).setdefault("labels", {}).update(auto_labels)
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        job["apiVersion"] = "batch/v1"
        job["kind"] = "Job"
        job["status"] = {}
        self._jobs[(namespace, name)] = job
        self.created_jobs.append(name)
        self._emit(namespace, "ADDED", job)
        return job

    def _delete_job(self, job: Obj, propagation: str | None) -> None:
        meta = job["metadata"]
        key = (meta["namespace"], meta["name"])
        if propagation in ("Background", "Foreground"):
            for pod in self._job_pods(job):
                self._delete_pod(pod)
        del self._jobs[key]
        meta["resourceVersion"] = self._next_rv()
        meta.setdefault("deletionTimestamp", self._tick())
        self._emit(key[0], "DELETED", job)

    def _job_pods(self, job: Obj) -> list[Obj]:
        uid = job["metadata"]["uid"]
        pods = [
            pod
            for pod in self._pods.values()
            if any(ref.get("uid") == uid for ref in pod["metadata"].get("ownerReferences", []))
        ]
        return sorted(pods, key=lambda pod: pod["metadata"]["creationTimestamp"])

    def _current_pod(self, job: Obj) -> Obj | None:
        for pod in reversed(self._job_pods(job)):
            if pod["status"].get("phase") in ("Pending", "Running"):
                return pod
        return None

    def _running_pod(self, job: Obj) -> Obj:
        """The Job's active pod, started first if the test did not start one."""
        current = self._current_pod(job)
        if current is None or current["status"]["phase"] != "Running":
            self.start_pod(
                job["metadata"]["name"].removeprefix("align-"), job["metadata"]["namespace"]
            )
        pod = self._current_pod(job)
        assert pod is not None
        return pod

    def _new_pod(self, job: Obj) -> Obj:
        self._pod_counter += 1
        meta = job["metadata"]
        template = job["spec"]["template"]
        suffix = f"{self._pod_counter:05x}"
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "namespace": meta["namespace"],
                "uid": str(uuid.uuid4()),
                "creationTimestamp": self._tick(),
                "labels": dict(template.get("metadata", {}).get("labels", {})),
                "ownerReferences": [
                    {
                        "apiVersion": "batch/v1",
                        "kind": "Job",
                        "name": meta["name"],
                        "uid": meta["uid"],
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": copy.deepcopy(template.get("spec", {})),
            "status": {"phase": "Pending", "conditions": []},
        }
        self._put_pod(pod)
        job["status"].update(active=1, ready=0)
        job["status"].setdefault("startTime", self._tick())
        return pod

    def _put_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        meta["resourceVersion"] = self._next_rv()
        self._pods[(meta["namespace"], meta["name"])] = pod

    def _delete_pod(self, pod: Obj) -> None:
        meta = pod["metadata"]
        self._pods.pop((meta["namespace"], meta["name"]), None)
        self._logs.pop((meta["namespace"], meta["name"]), None)

    def _container_status(self, job: Obj, *, ready: bool, state: Obj) -> Obj:
        containers = job["spec"]["template"].get("spec", {}).get("containers") or [{}]
        return {
            "name": containers[0].get("name", CONTAINER),
            "image": containers[0].get("image", "unknown"),
            "imageID": "",
            "ready": ready,
            "restartCount": 0,
            "started": ready,
            "state": state,
        }

    def _terminate_pod(
        self, job: Obj, pod: Obj, phase: str, *, exit_code: int, reason: str
    ) -> None:
        now = self._tick()
        started = pod["status"].get("startTime", now)
        pod["status"].update(
            phase=phase,
            conditions=[{"type": "Ready", "status": "False", "lastTransitionTime": now}],
            containerStatuses=[
                self._container_status(
                    job,
                    ready=False,
                    state={
                        "terminated": {
                            "exitCode": exit_code,
                            "reason": reason,
                            "startedAt": started,
                            "finishedAt": now,
                        },
                    },
                )
            ],
        )
        self._put_pod(pod)

    def _pod_failed(self, job: Obj, pod: Obj) -> None:
        """What the Job controller does with a failed pod: apply the podFailurePolicy."""
        rules = (job["spec"].get("podFailurePolicy") or {}).get("rules", [])
        for index, rule in enumerate(rules):
            if _rule_matches(rule, pod):
                action = rule["action"]
                if action == "FailJob":
                    code = _exit_code(pod)
                    self._fail(
                        job,
                        "PodFailurePolicy",
                        (
                            f"Container {CONTAINER} for pod {pod['metadata']['namespace']}/"
                            f"{pod['metadata']['name']} failed with exit code {code} matching "
                            f"FailJob rule at index {index}"
                        ),
                    )
                    return
                if action == "Ignore":
                    self._new_pod(job)
                    self._modified(job)
                    return
                break  # Count: the default handling
        self._count_failure(job, pod)

    def _count_failure(self, job: Obj, pod: Obj | None) -> None:
        status = job["status"]
        status["failed"] = status.get("failed", 0) + 1
        if status["failed"] > job["spec"].get("backoffLimit", 6):
            self._fail(job, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        else:
            self._new_pod(job)
            self._modified(job)

    def _fail(self, job: Obj, reason: str, message: str) -> None:
        now = self._tick()
        status = job["status"]
        status.update(
            active=0,
            ready=0,
            conditions=[
                _condition("FailureTarget", reason, message, now),
                _condition("Failed", reason, message, now),
            ],
        )
        status.setdefault("failed", 1)
        self._modified(job)

    # -- HTTP ------------------------------------------------------------------------------

    def _injected(self, method: str, path: str) -> ApiError | None:
        with self._cond:
            for error in self._errors:
                if error.method == method and error.path_contains in path and error.times > 0:
                    error.times -= 1
                    phrase = HTTPStatus(error.status).phrase
                    return ApiError(error.status, phrase.replace(" ", ""), f"injected {phrase}")
            return None

    def _list(self, kind: str, namespace: str, selector: str) -> Obj:
        terms = parse_selector(selector)
        with self._cond:
            store = self._jobs if kind == "JobList" else self._pods
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(store.items())
                if ns == namespace and selector_matches(terms, obj["metadata"].get("labels") or {})
            ]
            return {
                "kind": kind,
                "apiVersion": "batch/v1" if kind == "JobList" else "v1",
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            }

    def _open_watch(
        self, namespace: str, selector: str, resource_version: str, connection: socket.socket
    ) -> tuple[_Watcher | None, list[Obj]]:
        """Register a watcher; returns it and the events to send first (or a 410 ERROR)."""
        terms = parse_selector(selector)
        with self._cond:
            self.watch_requests += 1
            if resource_version not in ("", "0"):
                since = int(resource_version)
                if since < self._compacted_rv:
                    gone = ApiError(
                        410,
                        "Expired",
                        f"too old resource version: {since} ({self._compacted_rv})",
                    )
                    return None, [{"type": "ERROR", "object": gone.status()}]
                backlog = [
                    event
                    for event in self._history
                    if event.rv > since
                    and event.namespace == namespace
                    and selector_matches(terms, event.obj["metadata"].get("labels") or {})
                ]
                first = [{"type": e.type, "object": copy.deepcopy(e.obj)} for e in backlog]
            else:
                first = [
                    {"type": "ADDED", "object": copy.deepcopy(job)}
                    for (ns, _), job in sorted(self._jobs.items())
                    if ns == namespace
                    and selector_matches(terms, job["metadata"].get("labels") or {})
                ]
            watcher = _Watcher(namespace, terms, connection)
            self._watchers.append(watcher)
            return watcher, first

    def _watch_events(self, watcher: _Watcher, deadline: float) -> Iterator[list[Obj]]:
        """Batches of events for ``watcher`` until the deadline; stops early when dropped."""
        try:
            while True:
                with self._cond:
                    while not watcher.queue and not watcher.dropped:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return
                        self._cond.wait(remaining)
                    if watcher.dropped:
                        raise ConnectionAbortedError("watch dropped by the test")
                    batch, watcher.queue = watcher.queue, []
                yield [{"type": e.type, "object": copy.deepcopy(e.obj)} for e in batch]
        finally:
            with self._cond:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)

    def _read_log(self, namespace: str, name: str, tail_lines: int | None) -> str:
        with self._cond:
            if (namespace, name) not in self._pods:
                raise _not_found("pods", "", name)
            text = self._logs.get((namespace, name), "")
        if tail_lines is None:
            return text
        lines = text.splitlines(keepends=True)
        return "".join(lines[-tail_lines:]) if tail_lines > 0 else ""


def _condition(kind: str, reason: str, message: str, now: str) -> Obj:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": now,
        "lastTransitionTime": now,
    }


def _exit_code(pod: Obj) -> int | None:
    for status in pod["status"].get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if status.get("name") == CONTAINER and terminated:
            return int(terminated["exitCode"])
    return None


def _rule_matches(rule: Obj, pod: Obj) -> bool:
    on_codes = rule.get("onExitCodes")
    if on_codes:
        code = _exit_code(pod)
        if code is None or code == 0:
            return False
        if on_codes.get("containerName") not in (None, CONTAINER):
            return False
        inside = code in on_codes.get("values", [])
        return inside if on_codes.get("operator") == "In" else not inside
    wanted = rule.get("onPodConditions") or []
    have = {(c.get("type"), c.get("status")) for c in pod["status"].get("conditions") or []}
    return any((c.get("type"), c.get("status", "True")) in have for c in wanted)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKubernetes
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request access log."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        parts = [part for part in url.path.split("/") if part]
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        self.fake.requests.append((method, url.path, query))
        try:
            injected = self.fake._injected(method, url.path)
            if injected is not None:
                raise injected
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise ApiError(400, "BadRequest", f"the request body is not JSON: {exc}") from exc
            self._route(method, parts, query, body)
        except ApiError as error:
            self._send_json(error.code, error.status())
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _route(self, method: str, parts: list[str], query: dict[str, str], body: Obj) -> None:
        fake = self.fake
        if parts == ["version"] and method == "GET":
            major, minor = fake.version
            info = {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0"}
            info.update(dict.fromkeys(("gitCommit", "gitTreeState", "buildDate"), ""))
            info.update(goVersion="go", compiler="gc", platform="linux/amd64")
            self._send_json(200, info)
            return
        # /apis/batch/v1/namespaces/{ns}/jobs[/{name}]
        if (
            parts[:3] == ["apis", "batch", "v1"]
            and len(parts) in (6, 7)
            and parts[3] == "namespaces"
            and parts[5] == "jobs"
        ):
            namespace = parts[4]
            if len(parts) == 6 and method == "POST":
                with fake._cond:
                    fake.create_attempts += 1
                    job = copy.deepcopy(fake._create_job(namespace, body))
                self._send_json(201, job)
                return
            if len(parts) == 6 and method == "GET":
                if query.get("watch") in ("true", "1"):
                    self._watch(namespace, query)
                else:
                    self._send_json(
                        200, fake._list("JobList", namespace, query.get("labelSelector", ""))
                    )
                return
            if len(parts) == 7:
                name = parts[6]
                with fake._cond:
                    found = fake._jobs.get((namespace, name))
                    if found is None:
                        raise _not_found("jobs", "batch", name)
                    job = found
                    if method == "GET":
                        self._send_json(200, copy.deepcopy(job))
                        return
                    if method == "DELETE":
                        policy = query.get("propagationPolicy") or body.get("propagationPolicy")
                        fake.deletions.append((namespace, name, policy))
                        uid = job["metadata"]["uid"]
                        fake._delete_job(job, policy)
                details = {"name": name, "group": "batch", "kind": "jobs", "uid": uid}
                self._send_json(
                    200,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": details,
                    },
                )
                return
        # /api/v1/namespaces/{ns}/pods[/{name}/log]
        if (
            parts[:2] == ["api", "v1"]
            and len(parts) >= 5
            and parts[2] == "namespaces"
            and parts[4] == "pods"
            and method == "GET"
        ):
            namespace = parts[3]
            if len(parts) == 5:
                self._send_json(
                    200, fake._list("PodList", namespace, query.get("labelSelector", ""))
                )
                return
            if len(parts) == 7 and parts[6] == "log":
                tail = int(query["tailLines"]) if "tailLines" in query else None
                text = fake._read_log(namespace, parts[5], tail)
                self._send(200, text.encode("utf-8"), "text/plain")
                return
        raise ApiError(404, "NotFound", f"the fake does not serve {method} {self.path}")

    def _watch(self, namespace: str, query: dict[str, str]) -> None:
        timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
        deadline = time.monotonic() + timeout
        watcher, first = self.fake._open_watch(
            namespace,
            query.get("labelSelector", ""),
            query.get("resourceVersion", ""),
            self.connection,
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        self._send_chunk(first)
        if watcher is not None:
            for batch in self.fake._watch_events(watcher, deadline):
                self._send_chunk(batch)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _send_chunk(self, events: list[Obj]) -> None:
        if not events:
            return
        data = b"".join(json.dumps(event).encode("utf-8") + b"\n" for event in events)
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, code: int, body: Obj) -> None:
        self._send(code, json.dumps(body).encode("utf-8"), "application/json")

    def _send(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
