"""The batch/v1 Job manifest of one alignment task: a pure function of the spec and the config.

:func:`build_job` returns a plain dict (what ``kubectl apply`` would take), so it can be
validated against the Kubernetes schema in tests and is independent of the client library.
Every policy in it is explained in the docstring of :func:`build_job`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from autophon_align.launchers.base import JobSpec, job_name
from autophon_core.config import KubernetesJobConfig
from autophon_core.taskfiles import ExitCode

# The configuration file inside the ConfigMap (the key the chart writes it under).
CONFIG_FILE_NAME = "autophon.yaml"
# The one container of an alignment pod; the podFailurePolicy names it.
CONTAINER_NAME = "runner"
# The aligner image's non-root user and group (the Dockerfile creates them with this id).
RUNNER_UID = 10001

LABEL_NAME = "app.kubernetes.io/name"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_TASK_ID = "autophon.io/task-id"
LABEL_ENGINE = "autophon.io/engine"

APP_NAME = "autophon"
COMPONENT = "aligner"
MANAGER = "autophon-controller"

# Labels that select every alignment Job (and its pods); what the controller lists and watches.
SELECTOR_LABELS: dict[str, str] = {LABEL_NAME: APP_NAME, LABEL_COMPONENT: COMPONENT}
JOB_SELECTOR = ",".join(f"{key}={value}" for key, value in SELECTOR_LABELS.items())

# Only non-secret settings. HOME and TMPDIR point into the /tmp emptyDir because the root
# filesystem is read-only and the runner's uid has no home directory: libraries that cache
# under $HOME (numba, MFA, matplotlib) would otherwise fail.
RUNNER_ENV: dict[str, str] = {
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
    "HOME": "/tmp",
    "TMPDIR": "/tmp",
}


@dataclass(frozen=True)
class JobFeatures:
    """Job fields the API server serves. Older servers drop fields they do not know without
    a word, so they are left out rather than relied on (the controller does without them)."""

    # ttlSecondsAfterFinished: 1.21 (beta, on by default; GA 1.23).
    ttl_after_finished: bool = True
    # podFailurePolicy: 1.26 (beta, on by default; GA 1.31).
    pod_failure_policy: bool = True

    @classmethod
    def of_server(cls, major: str, minor: str) -> JobFeatures:
        """From the API server's /version (``minor`` may carry a suffix, e.g. "20+")."""
        version = (int(re.sub(r"\D", "", major) or 0), int(re.sub(r"\D", "", minor) or 0))
        return cls(ttl_after_finished=version >= (1, 21), pod_failure_policy=version >= (1, 26))


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def job_labels(task_id: str) -> dict[str, str]:
    """The labels that identify the alignment Job of ``task_id`` as ours."""
    return {**SELECTOR_LABELS, LABEL_MANAGED_BY: MANAGER, LABEL_TASK_ID: task_id}


def task_selector(task_id: str) -> str:
    """Label selector of the Job of ``task_id`` and of its pods."""
    return f"{JOB_SELECTOR},{LABEL_TASK_ID}={task_id}"


def build_job(
    spec: JobSpec,
    config: KubernetesJobConfig,
    namespace: str,
    owner: dict[str, Any] | None = None,
    features: JobFeatures = JobFeatures(),
) -> dict[str, Any]:
    """The batch/v1 Job that runs ``autophon run-task <task id>`` for ``spec``; fields the
    server does not serve (``features``) are left out.

    Why each setting is there:

    - **Name** ``align-<task id>``: deterministic, so a second create gets 409 AlreadyExists
      and the controller adopts the Job instead of starting a second alignment.
    - **Labels** ``app.kubernetes.io/name``/``component`` select all alignment Jobs (the
      controller lists and watches by them), ``autophon.io/task-id`` maps a Job or pod back
      to its task, ``managed-by`` tells operators who creates them. The pod template has
      the same labels so pods can be found without the Job's generated selector.
      ``config.labels``/``annotations`` go on both the Job and the pod (pod annotations such
      as ``cluster-autoscaler.kubernetes.io/safe-to-evict`` only work there); they may not
      redefine our labels.
    - **Command** ``autophon --config <mount>/autophon.yaml run-task <id>``: the runner reads
      the same config file as every process, from the chart's ConfigMap.
    - **No secrets in env**: the runner never touches the database, so neither the database
      password nor API tokens are given to the pod; ``enableServiceLinks: false`` also keeps
      the namespace's Services (the database's among them) out of its environment.
    - **activeDeadlineSeconds** = the task's time limit: Kubernetes kills a stuck alignment
      even when the controller is down. It counts from the Job's start, so time spent
      pending (image pull, scheduling) counts too.
    - **backoffLimit** (default 0): the controller retries disrupted Jobs itself, with its
      own attempt limit and back-off, so Kubernetes does not retry failed pods by default.
    - **podFailurePolicy**: exit codes 65 (``ExitCode.BAD_INPUT``) and 71
      (``ExitCode.RESOURCE``: a recording beyond the engine's limits) of the ``runner``
      container fail the Job at once (``FailJob``), whatever ``backoffLimit`` is, because
      the same input can never succeed. Pods with the ``DisruptionTarget`` condition
      (eviction, preemption, node drain or loss) are ``Ignore``d: they are not counted
      against ``backoffLimit`` and Kubernetes starts a replacement pod, since the alignment
      itself did not fail. A container killed at its memory limit (``OOMKilled``) exits 137
      like one killed by any SIGKILL, and a policy can only match exit codes and pod
      conditions, so no rule can tell it apart: it counts against ``backoffLimit`` (0 by
      default), and the controller, which reads the container's terminated reason, does not
      retry it. A pod failure policy requires ``restartPolicy: Never``.
    - **ttlSecondsAfterFinished**: finished Jobs (and their pods) are garbage-collected;
      the controller records the outcome long before, keeps the Job that long for
      ``kubectl logs`` and deletes it itself where the field is not served.
    - **restartPolicy: Never**: a failed runner is replaced by a new pod (subject to the
      policy above), never restarted in place, so each failure is visible and countable.
    - **Pod security** (restricted Pod Security Standard): non-root uid/gid 10001, the
      RuntimeDefault seccomp profile, a read-only root filesystem, no privilege escalation,
      all capabilities dropped. ``fsGroup`` makes the shared volume writable by that uid;
      ``fsGroupChangePolicy: OnRootMismatch`` avoids a recursive chown of the whole
      shared volume at every pod start.
    - **automountServiceAccountToken: false**: the runner does not call the Kubernetes API,
      so a compromised aligner gets no credentials.
    - **Volumes**: the shared PVC read-write at ``data_mount_path`` (the only writable
      persistent mount: the runner writes results into the task folder), the ConfigMap
      read-only at ``config_mount_path``, and an ``emptyDir`` at ``/tmp`` for scratch files
      (the root filesystem being read-only).
    - **terminationMessagePolicy: FallbackToLogsOnError**: the last log lines of a failed
      runner appear in the pod status even when its logs are no longer retrievable.
    - **ownerReferences** (``owner``, optional): lets the garbage collector remove the Jobs
      together with their owner.

    Raises ``ValueError`` when the task id cannot make a valid Job name or label, no image is
    configured for the engine, the time limit is not positive, or ``config.labels`` would
    replace one of ours.
    """
    name = job_name(spec.task_id)
    # The task id is also a label value, so it must itself be a DNS-1123 label.
    if len(name) > 63 or not _DNS_LABEL.match(spec.task_id):
        raise ValueError(
            f"task id {spec.task_id!r} cannot name a Job: {name!r} must be a DNS-1123 label "
            "(lower-case letters, digits and '-', at most 63 characters)"
        )
    image = config.images.get(spec.engine)
    if not image:
        raise ValueError(
            f"no aligner image is configured for engine {spec.engine!r}: set "
            f"controller.kubernetes.images.{spec.engine} "
            f"(configured engines: {sorted(config.images) or 'none'})"
        )
    if spec.timeout_seconds < 1:
        raise ValueError(f"the Job's time limit must be at least 1 s, got {spec.timeout_seconds}")

    ours = job_labels(spec.task_id)
    # The engine label is informative only (kubectl get jobs -l autophon.io/engine=mfa);
    # an engine name that is no valid label value simply goes without it.
    if _LABEL_VALUE.match(spec.engine) and len(spec.engine) <= 63:
        ours[LABEL_ENGINE] = spec.engine
    clashes = sorted(
        key for key in config.labels if key in ours and config.labels[key] != ours[key]
    )
    if clashes:
        raise ValueError(f"controller.kubernetes.labels may not redefine {clashes}")
    labels = {**config.labels, **ours}
    annotations = dict(config.annotations)

    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    if owner is not None:
        metadata["ownerReferences"] = [copy.deepcopy(owner)]

    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": config.image_pull_policy,
        "command": [
            "autophon",
            "--config",
            f"{config.config_mount_path.rstrip('/')}/{CONFIG_FILE_NAME}",
            "run-task",
            spec.task_id,
        ],
        "env": [{"name": key, "value": value} for key, value in RUNNER_ENV.items()],
        "volumeMounts": [
            {"name": "data", "mountPath": config.data_mount_path},
            {"name": "config", "mountPath": config.config_mount_path, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    if config.resources:
        container["resources"] = copy.deepcopy(config.resources)

    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUNNER_UID,
            "runAsGroup": RUNNER_UID,
            "fsGroup": RUNNER_UID,
            "fsGroupChangePolicy": "OnRootMismatch",
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": config.pvc_name}},
            {"name": "config", "configMap": {"name": config.config_map_name}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if config.service_account_name:
        pod_spec["serviceAccountName"] = config.service_account_name
    if config.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in config.image_pull_secrets]
    if config.node_selector:
        pod_spec["nodeSelector"] = dict(config.node_selector)
    if config.tolerations:
        pod_spec["tolerations"] = copy.deepcopy(config.tolerations)

    template_metadata: dict[str, Any] = {"labels": dict(labels)}
    if annotations:
        template_metadata["annotations"] = dict(annotations)

    job_spec: dict[str, Any] = {
        "backoffLimit": config.backoff_limit,
        "activeDeadlineSeconds": spec.timeout_seconds,
    }
    if features.ttl_after_finished:
        job_spec["ttlSecondsAfterFinished"] = config.ttl_seconds_after_finished
    if features.pod_failure_policy:
        job_spec["podFailurePolicy"] = {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {
                        "containerName": CONTAINER_NAME,
                        "operator": "In",
                        "values": [int(ExitCode.BAD_INPUT), int(ExitCode.RESOURCE)],
                    },
                },
                {
                    "action": "Ignore",
                    "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                },
            ]
        }
    job_spec["template"] = {"metadata": template_metadata, "spec": pod_spec}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}
