"""Every rendered object is valid Kubernetes (strict schemas, 1.30 and the newest known), is
labelled the standard way, and every pod runs locked down."""

from __future__ import annotations

from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
from kubernetes_validate.utils import latest_version

from .chart_support import KUBE_VERSIONS, NAMESPACE, Manifest, Rendered, objects, pod_specs, render

VERSIONS = (*KUBE_VERSIONS, latest_version())
# Custom resources have no schema in kubernetes-validate; checked structurally instead.
CUSTOM_KINDS = {"ServiceMonitor"}
STANDARD_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)
APP_UID = 10001


@pytest.mark.parametrize("version", VERSIONS)
def test_objects_are_valid_kubernetes(rendered: Rendered, version: str) -> None:
    checked = 0
    for manifest in rendered.manifests:
        if manifest["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(
                f"{manifest['kind']}/{manifest['metadata']['name']} invalid for {version}: "
                f"{'.'.join(map(str, error.path))}: {error.message}"
            )
        checked += 1
    assert checked >= 10, "suspiciously few objects rendered"


def test_service_monitor_shape(rendered: Rendered) -> None:
    for monitor in (m for m in rendered.manifests if m["kind"] == "ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        spec = monitor["spec"]
        assert set(spec) <= {"selector", "namespaceSelector", "endpoints"}
        assert spec["endpoints"], "no endpoints"
        for endpoint in spec["endpoints"]:
            assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout"}
            assert endpoint["path"] == "/metrics"


def test_every_object_has_standard_labels_and_namespace(rendered: Rendered) -> None:
    for manifest in rendered.manifests:
        meta = manifest["metadata"]
        where = f"{manifest['kind']}/{meta['name']}"
        labels = meta.get("labels", {})
        for label in STANDARD_LABELS:
            assert label in labels, f"{where} lacks label {label}"
        assert labels["app.kubernetes.io/instance"] == "autophon"
        assert meta.get("namespace") == NAMESPACE, f"{where} has no explicit namespace"
        assert len(meta["name"]) <= 63, f"{where}: name longer than 63"


def _selector(manifest: Manifest) -> dict[str, str]:
    kind = manifest["kind"]
    if kind == "Service":
        return dict(manifest["spec"]["selector"])
    if kind in {"Deployment", "StatefulSet", "PodDisruptionBudget"}:
        return dict(manifest["spec"]["selector"]["matchLabels"])
    return {}


def test_selectors_are_stable_and_match_pods(rendered: Rendered) -> None:
    pod_labels = [
        m["spec"]["template"]["metadata"]["labels"]
        for m in rendered.manifests
        if m["kind"] in {"Deployment", "StatefulSet"}
    ]
    for manifest in rendered.manifests:
        selector = _selector(manifest)
        if not selector:
            continue
        where = f"{manifest['kind']}/{manifest['metadata']['name']}"
        assert "helm.sh/chart" not in selector, f"{where}: helm.sh/chart in a selector"
        assert "app.kubernetes.io/version" not in selector, f"{where}: version in a selector"
        assert "app.kubernetes.io/component" in selector, f"{where}: selector spans components"
        matching = [labels for labels in pod_labels if selector.items() <= labels.items()]
        assert len(matching) == 1, f"{where}: selector matches {len(matching)} workloads"


def _effective(pod: dict[str, Any], container: dict[str, Any], key: str) -> Any:
    value = container.get("securityContext", {}).get(key)
    return pod.get("securityContext", {}).get(key) if value is None else value


def test_pods_are_locked_down(rendered: Rendered) -> None:
    specs = list(pod_specs(rendered.manifests))
    assert specs
    for where, pod in specs:
        assert pod.get("securityContext", {}).get("runAsNonRoot") is True, where
        assert pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault"
        assert pod.get("hostNetwork") is not True and pod.get("hostPID") is not True, where
        tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in pod.get("initContainers", []) + pod["containers"]:
            name = f"{where} container {container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, name
            assert context.get("readOnlyRootFilesystem") is True, name
            assert context.get("capabilities", {}).get("drop") == ["ALL"], name
            assert not context.get("capabilities", {}).get("add"), name
            assert context.get("privileged") in (None, False), name
            assert _effective(pod, container, "runAsNonRoot") is True, name
            assert _effective(pod, container, "runAsUser") == APP_UID, name
            resources = container.get("resources", {})
            assert resources.get("requests") and resources.get("limits"), f"{name}: no resources"
            if container in pod["containers"]:
                mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
                assert mounts.get("/tmp") in tmp_volumes, f"{name}: no writable /tmp emptyDir"


def test_only_the_controller_gets_a_token(rendered: Rendered) -> None:
    # The uninstall hook that deletes the alignment Jobs runs as the controller.
    with_token = {"Deployment/autophon-controller", "Job/autophon-cleanup"}
    for where, pod in pod_specs(rendered.manifests):
        expected = where in with_token
        if expected:
            assert pod["serviceAccountName"] == "autophon-controller", where
        assert pod.get("automountServiceAccountToken") is expected, where
    for account in (m for m in rendered.manifests if m["kind"] == "ServiceAccount"):
        expected = account["metadata"]["name"] == "autophon-controller"
        assert account.get("automountServiceAccountToken") is expected, account["metadata"]


def test_no_cluster_scoped_rbac(rendered: Rendered) -> None:
    kinds = {m["kind"] for m in rendered.manifests}
    assert not kinds & {
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "CustomResourceDefinition",
    }


def test_long_release_names_are_truncated(chart: helm.Chart) -> None:
    long_name = "a-very-long-release-name-for-autophon-" + "x" * 15
    manifests = objects(render(chart, {}, name=long_name))
    for manifest in manifests:
        name = manifest["metadata"]["name"]
        assert len(name) <= 63, name
        assert not name.endswith("-"), name
    deployments = {m["metadata"]["name"] for m in manifests if m["kind"] == "Deployment"}
    assert len(deployments) == 3, "truncation made two Deployment names collide"
