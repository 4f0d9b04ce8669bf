"""The alignment Job manifest: schema-valid, labelled, locked down, and free of secrets."""

from __future__ import annotations

import copy
import re
from typing import Any

import kubernetes_validate
import pytest

from autophon_align.launchers.base import JobSpec
from autophon_align.manifests import (
    CONTAINER_NAME,
    JOB_SELECTOR,
    build_job,
    job_labels,
    task_selector,
)
from autophon_core.config import KubernetesJobConfig
from autophon_core.taskfiles import ExitCode

TASK_ID = "0f8e2c1a9b7d4e6f8a1b2c3d4e5f6a7b"
SPEC = JobSpec(task_id=TASK_ID, engine="pocketsphinx", timeout_seconds=900)
OWNER = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "name": "autophon-controller",
    "uid": "2b1c8d5e-0f3a-4c6b-9e7d-1a2b3c4d5e6f",
    "controller": False,
    "blockOwnerDeletion": False,
}

CONFIGS: dict[str, KubernetesJobConfig] = {
    "defaults": KubernetesJobConfig(),
    "resources": KubernetesJobConfig(
        resources={
            "requests": {"cpu": "500m", "memory": "1Gi"},
            "limits": {"cpu": "2", "memory": "4Gi", "ephemeral-storage": "2Gi"},
        }
    ),
    "scheduling": KubernetesJobConfig(
        node_selector={"kubernetes.io/arch": "amd64", "autophon.io/pool": "aligners"},
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "aligners", "effect": "NoSchedule"},
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 60,
            },
        ],
    ),
    "everything": KubernetesJobConfig(
        namespace="speech",
        images={"pocketsphinx": "registry.example.org/autophon/aligner@sha256:" + "a" * 64},
        image_pull_policy="Always",
        image_pull_secrets=["regcred", "mirror-cred"],
        pvc_name="speech-data",
        config_map_name="speech-config",
        config_mount_path="/config/",
        data_mount_path="/srv/data",
        service_account_name="autophon-aligner",
        resources={"limits": {"memory": "8Gi"}},
        node_selector={"disktype": "ssd"},
        tolerations=[{"key": "gpu", "operator": "Exists"}],
        ttl_seconds_after_finished=0,
        backoff_limit=2,
        labels={"app.kubernetes.io/instance": "speech", "team": "phonetics"},
        annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
    ),
}

# Oldest Kubernetes we support (podFailurePolicy is GA in 1.31, beta and on since 1.26) and
# the newest schema the installed kubernetes-validate knows.
SCHEMA_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


def _pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]


def _container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod_spec(job)["containers"]
    return container


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("owner", [None, OWNER], ids=["no-owner", "owner"])
def test_manifest_validates_against_the_kubernetes_schema(
    name: str, version: str, owner: dict[str, Any] | None
) -> None:
    job = build_job(SPEC, CONFIGS[name], "autophon", owner=owner)
    kubernetes_validate.validate(job, version, strict=True)


def test_schema_validation_catches_mistakes() -> None:
    """Guards the test above: the strict schema does reject a broken manifest."""
    job = build_job(SPEC, KubernetesJobConfig(), "autophon")
    _pod_spec(job)["restartPolicy"] = 7
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, SCHEMA_VERSIONS[0], strict=True)
    job = build_job(SPEC, KubernetesJobConfig(), "autophon")
    _container(job)["securityContext"]["readOnlyRootFileSystem"] = True  # typo: unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, SCHEMA_VERSIONS[0], strict=True)


def test_name_is_deterministic_and_labels_identify_the_task() -> None:
    first = build_job(SPEC, KubernetesJobConfig(), "autophon")
    second = build_job(SPEC, KubernetesJobConfig(), "autophon")
    assert first == second
    assert first["metadata"]["name"] == f"align-{TASK_ID}"
    assert first["metadata"]["namespace"] == "autophon"
    labels = first["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": "autophon",
        "app.kubernetes.io/component": "aligner",
        "app.kubernetes.io/managed-by": "autophon-controller",
        "autophon.io/task-id": TASK_ID,
        "autophon.io/engine": "pocketsphinx",
    }
    assert job_labels(TASK_ID).items() <= labels.items()
    # Pods carry the same labels, so they are found by task without the generated selector.
    assert first["spec"]["template"]["metadata"]["labels"] == labels
    assert "selector" not in first["spec"]
    assert JOB_SELECTOR == "app.kubernetes.io/name=autophon,app.kubernetes.io/component=aligner"
    assert task_selector(TASK_ID) == f"{JOB_SELECTOR},autophon.io/task-id={TASK_ID}"


def test_configured_labels_and_annotations_go_on_job_and_pod() -> None:
    job = build_job(SPEC, CONFIGS["everything"], "speech")
    for metadata in (job["metadata"], job["spec"]["template"]["metadata"]):
        assert metadata["labels"]["team"] == "phonetics"
        assert metadata["labels"]["app.kubernetes.io/instance"] == "speech"
        assert metadata["labels"]["autophon.io/task-id"] == TASK_ID
        assert metadata["annotations"] == {
            "cluster-autoscaler.kubernetes.io/safe-to-evict": "false"
        }


def test_configured_labels_may_not_redefine_ours() -> None:
    config = KubernetesJobConfig(labels={"app.kubernetes.io/component": "api"})
    with pytest.raises(ValueError, match=re.escape("app.kubernetes.io/component")):
        build_job(SPEC, config, "autophon")


def test_image_and_command_follow_the_engine_and_config() -> None:
    config = CONFIGS["everything"]
    job = build_job(SPEC, config, "speech")
    container = _container(job)
    assert container["name"] == CONTAINER_NAME == "runner"
    assert container["image"] == config.images["pocketsphinx"]
    assert container["imagePullPolicy"] == "Always"
    assert container["command"] == [
        "autophon", "--config", "/config/autophon.yaml", "run-task", TASK_ID,
    ]  # fmt: skip
    mfa = build_job(JobSpec(TASK_ID, "mfa", 60), KubernetesJobConfig(), "autophon")
    assert _container(mfa)["image"] == KubernetesJobConfig().images["mfa"]
    assert _container(mfa)["command"][:3] == ["autophon", "--config", "/etc/autophon/autophon.yaml"]


def test_missing_engine_image_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no aligner image is configured for engine 'kaldi'"):
        build_job(JobSpec(TASK_ID, "kaldi", 60), KubernetesJobConfig(), "autophon")


@pytest.mark.parametrize("task_id", ["", "UPPER", "with_underscore", "-lead", "x" * 58])
def test_task_ids_that_cannot_name_a_job_are_refused(task_id: str) -> None:
    with pytest.raises(ValueError, match="cannot name a Job"):
        build_job(JobSpec(task_id, "pocketsphinx", 60), KubernetesJobConfig(), "autophon")


def test_longest_task_id_fits() -> None:
    job = build_job(JobSpec("x" * 57, "pocketsphinx", 60), KubernetesJobConfig(), "autophon")
    assert len(job["metadata"]["name"]) == 63


def test_time_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="time limit"):
        build_job(JobSpec(TASK_ID, "pocketsphinx", 0), KubernetesJobConfig(), "autophon")


def test_job_policies() -> None:
    config = CONFIGS["everything"]
    spec = build_job(SPEC, config, "speech")["spec"]
    assert spec["activeDeadlineSeconds"] == SPEC.timeout_seconds
    assert spec["ttlSecondsAfterFinished"] == 0
    assert spec["backoffLimit"] == 2
    assert build_job(SPEC, KubernetesJobConfig(), "x")["spec"]["backoffLimit"] == 0
    assert spec["podFailurePolicy"] == {
        "rules": [
            {
                "action": "FailJob",
                # Bad input (65) and input beyond the aligner's limits (71) fail at once. Not
                # 137: an OOMKilled container's is also any other SIGKILL's (a pod deleted or
                # evicted); the controller reads the container's terminated reason instead.
                "onExitCodes": {"containerName": "runner", "operator": "In", "values": [65, 71]},
            },
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }
    assert (ExitCode.BAD_INPUT, ExitCode.RESOURCE) == (65, 71)
    # A pod failure policy is only accepted with restartPolicy Never.
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_pod_is_locked_down(name: str) -> None:
    job = build_job(SPEC, CONFIGS[name], "autophon")
    pod = _pod_spec(job)
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    security = _container(job)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in security
    assert not any(key in pod for key in ("hostNetwork", "hostPID", "hostIPC"))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_no_secrets_reach_the_pod(name: str) -> None:
    job = build_job(SPEC, CONFIGS[name], "autophon")
    container = _container(job)
    assert "envFrom" not in container
    for variable in container["env"]:
        assert set(variable) == {"name", "value"}, "no valueFrom (secretKeyRef) allowed"
        assert not re.search(r"PASS|SECRET|TOKEN|DATABASE|PG|DSN|URL", variable["name"])
    assert {v["name"]: v["value"] for v in container["env"]}["PYTHONUNBUFFERED"] == "1"
    assert not any(
        "secret" in volume or "projected" in volume for volume in _pod_spec(job)["volumes"]
    )


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_only_the_shared_volume_is_persistent_and_writable(name: str) -> None:
    config = CONFIGS[name]
    job = build_job(SPEC, config, "autophon")
    volumes = {volume["name"]: volume for volume in _pod_spec(job)["volumes"]}
    mounts = {mount["mountPath"]: mount for mount in _container(job)["volumeMounts"]}
    assert set(mounts) == {config.data_mount_path, config.config_mount_path, "/tmp"}

    data = mounts[config.data_mount_path]
    assert volumes[data["name"]]["persistentVolumeClaim"] == {"claimName": config.pvc_name}
    assert not data.get("readOnly", False)

    settings = mounts[config.config_mount_path]
    assert settings["readOnly"] is True
    assert volumes[settings["name"]]["configMap"] == {"name": config.config_map_name}

    scratch = mounts["/tmp"]
    assert volumes[scratch["name"]] == {"name": scratch["name"], "emptyDir": {}}

    writable = [m for m in mounts.values() if not m.get("readOnly", False)]
    persistent_writable = [m for m in writable if "emptyDir" not in volumes[m["name"]]]
    assert persistent_writable == [data]
    assert sum("persistentVolumeClaim" in volume for volume in volumes.values()) == 1


def test_optional_pod_settings_appear_only_when_configured() -> None:
    plain = _pod_spec(build_job(SPEC, CONFIGS["defaults"], "autophon"))
    for key in ("serviceAccountName", "imagePullSecrets", "nodeSelector", "tolerations"):
        assert key not in plain
    assert "resources" not in plain["containers"][0]

    full = build_job(SPEC, CONFIGS["everything"], "speech")
    pod = _pod_spec(full)
    assert pod["serviceAccountName"] == "autophon-aligner"
    assert pod["automountServiceAccountToken"] is False
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror-cred"}]
    assert pod["nodeSelector"] == {"disktype": "ssd"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert _container(full)["resources"] == {"limits": {"memory": "8Gi"}}


def test_owner_reference() -> None:
    job = build_job(SPEC, KubernetesJobConfig(), "autophon", owner=OWNER)
    assert job["metadata"]["ownerReferences"] == [OWNER]
    assert "ownerReferences" not in build_job(SPEC, KubernetesJobConfig(), "autophon")["metadata"]


def test_builder_is_pure() -> None:
    """Changing a built manifest leaves the config (and later manifests) untouched."""
    config = CONFIGS["everything"]
    before = copy.deepcopy(config.model_dump())
    job = build_job(SPEC, config, "speech", owner=OWNER)
    _container(job)["resources"]["limits"]["memory"] = "1Mi"
    _pod_spec(job)["tolerations"][0]["key"] = "changed"
    _pod_spec(job)["nodeSelector"]["disktype"] = "hdd"
    job["metadata"]["labels"]["team"] = "changed"
    job["metadata"]["ownerReferences"][0]["name"] = "changed"
    assert config.model_dump() == before
    assert OWNER["name"] == "autophon-controller"
    assert build_job(SPEC, config, "speech", owner=OWNER) != job
