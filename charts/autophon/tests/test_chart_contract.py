"""What the chart promises the processes and the controller's Job builder: the config file it
renders, the names the Jobs must use, the controller's exact RBAC, the database wiring and the
migration hook, autoscaling and monitoring."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from autophon_align.launchers.base import JobSpec
from autophon_align.manifests import build_job
from autophon_core.config import Settings, load_settings

from .chart_support import (
    CHART_DIR,
    NAMESPACE,
    Manifest,
    Rendered,
    Scenario,
    find,
    load_values,
    objects,
    one,
    pod_specs,
    render,
)

ScenarioGetter = Callable[[str], Rendered]

CONTROLLER = "autophon-controller"
APP_ACCOUNT = "autophon"
DEPLOYMENTS = ("autophon-api", "autophon-upload-worker", "autophon-controller")
SUBCOMMANDS = {
    "autophon-api": "api",
    "autophon-upload-worker": "upload-worker",
    "autophon-controller": "controller",
}


def _config_text(rendered: Rendered, configmap: str = "autophon-config") -> str:
    text: str = one(rendered.manifests, "ConfigMap", configmap)["data"]["autophon.yaml"]
    return text


def _settings(rendered: Rendered, tmp_path: Path) -> Settings:
    path = tmp_path / "autophon.yaml"
    path.write_text(_config_text(rendered), encoding="utf-8")
    return load_settings(path)


def _is_hook(manifest: Manifest) -> bool:
    return "helm.sh/hook" in manifest["metadata"]["annotations"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = pod["containers"]
    return containers


# --- the config file -----------------------------------------------------------------------


def test_config_file_loads_and_names_the_release_objects(
    rendered: Rendered, tmp_path: Path
) -> None:
    settings = _settings(rendered, tmp_path)
    k8s = settings.controller.kubernetes
    assert settings.controller.launcher == "kubernetes"
    assert k8s.namespace == NAMESPACE
    assert k8s.config_map_name == "autophon-config"
    existing = rendered.values["persistence"]["existingClaim"]
    assert k8s.pvc_name == (existing or "autophon-data")
    assert k8s.service_account_name == APP_ACCOUNT
    assert k8s.labels["app.kubernetes.io/instance"] == "autophon"
    assert str(settings.storage.root) == k8s.data_mount_path
    assert settings.api.host == "0.0.0.0"
    assert settings.database.url.startswith("postgresql")
    # The service keeps the original's privacy promise, unlike the local install's default.
    assert settings.storage.delete_audio_after_alignment


def test_config_values_pass_through_verbatim(rendered: Rendered) -> None:
    """Every key of values.config reaches the file unchanged, except the ones the chart owns."""
    owned = {
        ("storage", "root"),
        ("controller", "launcher"),
        ("controller", "kubernetes", "namespace"),
        ("controller", "kubernetes", "pvc_name"),
        ("controller", "kubernetes", "config_map_name"),
        ("controller", "kubernetes", "service_account_name"),
        ("controller", "kubernetes", "labels"),
        ("database", "url"),
        ("database", "password_env"),
        ("api", "tokens_env"),
    }
    rendered_config = yaml.safe_load(_config_text(rendered))

    def walk(expected: Any, actual: Any, path: tuple[str, ...]) -> None:
        if path in owned:
            return
        if isinstance(expected, dict):
            assert isinstance(actual, dict), path
            for key, value in expected.items():
                assert key in actual, f"config key {'.'.join((*path, key))} was dropped"
                walk(value, actual[key], (*path, key))
        else:
            assert actual == expected, f"config.{'.'.join(path)}: {actual!r} != {expected!r}"

    walk(rendered.values["config"], rendered_config, ())


def test_bundled_database_url_and_external_url(scenario: ScenarioGetter, tmp_path: Path) -> None:
    bundled = _settings(scenario("bundled-db"), tmp_path)
    assert bundled.database.url == (
        "postgresql+psycopg2://autophon@autophon-postgresql:5432/autophon"
    )
    assert bundled.database.password_env == "AUTOPHON_DB_PASSWORD"
    external = scenario("external-db")
    settings = _settings(external, tmp_path)
    assert settings.database.url == external.scenario.values["config"]["database"]["url"]
    assert settings.api.tokens_env == "AUTOPHON_API_TOKENS"


def test_checksum_rolls_pods_when_config_changes(chart: helm.Chart) -> None:
    def checksums(values: dict[str, Any]) -> dict[str, str]:
        manifests = objects(render(chart, values))
        return {
            m["metadata"]["name"]: m["spec"]["template"]["metadata"]["annotations"][
                "checksum/config"
            ]
            for m in manifests
            if m["kind"] == "Deployment"
        }

    before = checksums({})
    after = checksums({"config": {"logging": {"level": "DEBUG"}}})
    assert set(before) == set(DEPLOYMENTS)
    assert all(before[name] != after[name] for name in DEPLOYMENTS)
    assert checksums({}) == before


# --- what the controller's Job builder relies on ------------------------------------------


def test_job_contract_names_exist_and_agree(rendered: Rendered, tmp_path: Path) -> None:
    k8s = _settings(rendered, tmp_path).controller.kubernetes
    manifests = [m for m in rendered.manifests if not _is_hook(m)]
    # The ConfigMap the Jobs mount is the release's own one.
    one(manifests, "ConfigMap", k8s.config_map_name)
    # The claim the Jobs mount is the one the chart creates, or the existing one.
    claims = find(manifests, "PersistentVolumeClaim")
    if rendered.values["persistence"]["existingClaim"]:
        assert not claims
    else:
        assert [c["metadata"]["name"] for c in claims] == [k8s.pvc_name]
    # Job pods run as a token-less service account that has no role.
    account = one(manifests, "ServiceAccount", k8s.service_account_name)
    assert account["automountServiceAccountToken"] is False
    bound = {s["name"] for b in find(manifests, "RoleBinding") for s in b["subjects"]}
    assert k8s.service_account_name not in bound
    # Every long-running pod mounts the same ConfigMap and claim at the paths the Jobs use.
    for name in DEPLOYMENTS:
        pod = one(manifests, "Deployment", name)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        (container,) = _containers(pod)
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        config_mount = mounts[k8s.config_mount_path]
        assert config_mount.get("readOnly") is True
        assert volumes[config_mount["name"]]["configMap"]["name"] == k8s.config_map_name
        data = volumes[mounts[k8s.data_mount_path]["name"]]
        assert data["persistentVolumeClaim"]["claimName"] == k8s.pvc_name
        assert container["args"] == [
            "--config",
            f"{k8s.config_mount_path}/autophon.yaml",
            SUBCOMMANDS[name],
        ]


def test_controller_rbac_is_exactly_the_design(rendered: Rendered) -> None:
    role = one(rendered.manifests, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected = {("batch", "jobs", v) for v in ("create", "get", "list", "watch", "delete")}
    expected |= {("", r, v) for r in ("pods", "pods/log") for v in ("get", "list", "watch")}
    assert granted == expected
    assert all(set(rule) == {"apiGroups", "resources", "verbs"} for rule in role["rules"])


def test_every_rbac_rule_is_commented() -> None:
    lines = (CHART_DIR / "templates" / "controller-role.yaml").read_text().splitlines()
    for index, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[index - 1].strip().startswith("#"), f"rule at line {index + 1}"


def test_controller_account_is_the_one_bound(rendered: Rendered) -> None:
    binding = one(rendered.manifests, "RoleBinding")
    role = one(rendered.manifests, "Role")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": CONTROLLER, "namespace": NAMESPACE}
    ]
    controller = one(rendered.manifests, "Deployment", CONTROLLER)
    assert controller["spec"]["template"]["spec"]["serviceAccountName"] == CONTROLLER
    one(rendered.manifests, "ServiceAccount", CONTROLLER)
    # The uninstall hook deletes the alignment Jobs: what only the controller may do.
    as_controller = {f"Deployment/{CONTROLLER}", "Job/autophon-cleanup"}
    for where, pod in pod_specs(rendered.manifests):
        account = CONTROLLER if where in as_controller else APP_ACCOUNT
        assert pod["serviceAccountName"] == account, where


# --- database and migrations --------------------------------------------------------------


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_database_password_reaches_every_db_client(rendered: Rendered) -> None:
    secret_name = rendered.values["database"]["existingSecret"] or "autophon-db"
    for name in DEPLOYMENTS:
        pod = one(rendered.manifests, "Deployment", name)["spec"]["template"]["spec"]
        (container,) = _containers(pod)
        env = _env(container)
        ref = env["AUTOPHON_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret_name, name
        # Env vars carry secrets only.
        assert all("valueFrom" in e for e in env.values()), f"{name}: plain env var"
    if not rendered.values["database"]["existingSecret"]:
        one(rendered.manifests, "Secret", "autophon-db")
    else:
        assert not find(rendered.manifests, "Secret", "autophon-db")


def test_bundled_database(scenario: ScenarioGetter) -> None:
    rendered = scenario("bundled-db")
    statefulset = one(rendered.manifests, "StatefulSet", "autophon-postgresql")
    one(rendered.manifests, "Service", "autophon-postgresql")
    secret = one(rendered.manifests, "Secret", "autophon-db")
    assert len(base64.b64decode(secret["data"]["password"])) >= 24
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert ":" in container["image"] and not container["image"].endswith(":latest")
    # The database does not exist yet when pre-install hooks run, and a post-install hook would
    # wait for `helm install --wait`, which waits for pods that are unready without the schema:
    # on install the migration is an ordinary Job that waits for the database.
    job = one(rendered.manifests, "Job", "autophon-migrate-install")
    assert "helm.sh/hook" not in job["metadata"]["annotations"]
    (wait,) = job["spec"]["template"]["spec"]["initContainers"]
    assert "pg_isready" in " ".join(wait["command"])
    assert _env(wait)["PGHOST"]["value"] == "autophon-postgresql"
    pod = job["spec"]["template"]["spec"]
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["name"] == "autophon-config"
    assert not find(rendered.manifests, "ConfigMap", "autophon-migrate")


@pytest.mark.parametrize("name", ["external-db", "external-db-password"])
def test_external_database(scenario: ScenarioGetter, name: str) -> None:
    rendered = scenario(name)
    assert not find(rendered.manifests, "StatefulSet")
    job = one(rendered.manifests, "Job", "autophon-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "initContainers" not in job["spec"]["template"]["spec"]
    (container,) = _containers(job["spec"]["template"]["spec"])
    assert container["args"][-1] == "migrate"
    secret_ref = _env(container)["AUTOPHON_DB_PASSWORD"]["valueFrom"]["secretKeyRef"]
    existing = rendered.values["database"]["existingSecret"]
    if existing:
        # A user-managed Secret already exists before the release.
        assert secret_ref["name"] == existing
    else:
        # The release's Secret does not exist yet during pre-install: a hook copy does.
        hook_secret = one(rendered.manifests, "Secret", "autophon-migrate")
        assert secret_ref["name"] == "autophon-migrate"
        assert (
            hook_secret["data"]["password"]
            == one(rendered.manifests, "Secret", "autophon-db")["data"]["password"]
        )
        assert hook_secret["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]


@pytest.mark.parametrize("name", ["default", "bundled-db", "external-db", "external-db-password"])
def test_migration_hook_reads_a_hook_copy_of_the_config(chart: helm.Chart, name: str) -> None:
    """Before an upgrade (and an install with an external database) the migration is a hook."""
    values = load_values(CHART_DIR / "ci" / f"{name}-values.yaml") if name != "default" else {}
    manifests = objects(render(chart, values, upgrade=True))
    rendered = Rendered(Scenario(name, values), {}, manifests, chart.merge_values(values))
    job = one(rendered.manifests, "Job", "autophon-migrate")
    assert "pre-upgrade" in job["metadata"]["annotations"]["helm.sh/hook"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    hook_map = one(rendered.manifests, "ConfigMap", config_volume["configMap"]["name"])
    job_hook = job["metadata"]["annotations"]
    map_hook = hook_map["metadata"]["annotations"]
    assert map_hook["helm.sh/hook"] == job_hook["helm.sh/hook"]
    assert int(map_hook["helm.sh/hook-weight"]) < int(job_hook["helm.sh/hook-weight"])
    assert "hook-succeeded" in map_hook["helm.sh/hook-delete-policy"]
    assert hook_map["data"] == one(rendered.manifests, "ConfigMap", "autophon-config")["data"]
    # Migrations touch the database only: no shared volume.
    assert all("persistentVolumeClaim" not in v for v in pod["volumes"])


def test_migrations_can_be_disabled(chart: helm.Chart) -> None:
    manifests = objects(render(chart, {"migrations": {"enabled": False}}))
    # Only the uninstall hook's Job is left (see test_uninstall_deletes_the_alignment_jobs).
    assert [m["metadata"]["name"] for m in find(manifests, "Job")] == ["autophon-cleanup"]
    hooks = [m for m in manifests if _is_hook(m) and m["kind"] != "Pod"]
    assert [m["metadata"]["annotations"]["helm.sh/hook"] for m in hooks] == ["pre-delete"]


# --- autoscaling, budgets, monitoring -------------------------------------------------------


def test_hpa_by_default_and_replicas_left_to_it(scenario: ScenarioGetter) -> None:
    rendered = scenario("default")
    hpas = {h["metadata"]["name"]: h for h in find(rendered.manifests, "HorizontalPodAutoscaler")}
    assert set(hpas) == {"autophon-api", "autophon-upload-worker"}
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        (metric,) = hpa["spec"]["metrics"]
        assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
        assert "replicas" not in one(rendered.manifests, "Deployment", name)["spec"]


def test_hpa_off_sets_replicas(scenario: ScenarioGetter) -> None:
    rendered = scenario("hpa-off")
    assert not find(rendered.manifests, "HorizontalPodAutoscaler")
    assert one(rendered.manifests, "Deployment", "autophon-api")["spec"]["replicas"] == 3
    assert one(rendered.manifests, "Deployment", "autophon-upload-worker")["spec"]["replicas"] == 2


def test_queue_depth_scaling(scenario: ScenarioGetter) -> None:
    rendered = scenario("servicemonitor")
    hpa = one(rendered.manifests, "HorizontalPodAutoscaler", "autophon-upload-worker")
    external = [m for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    assert external == [
        {
            "type": "External",
            "external": {
                "metric": {
                    "name": "autophon_tasks",
                    "selector": {"matchLabels": {"status": "uploading"}},
                },
                "target": {"type": "AverageValue", "averageValue": "10"},
            },
        }
    ]
    api = one(rendered.manifests, "HorizontalPodAutoscaler", "autophon-api")
    assert all(m["type"] == "Resource" for m in api["spec"]["metrics"])


def test_queue_depth_as_pods_metric(chart: helm.Chart) -> None:
    values = {"uploadWorker": {"autoscaling": {"queueDepth": {"enabled": True, "type": "Pods"}}}}
    hpa = one(objects(render(chart, values)), "HorizontalPodAutoscaler", "autophon-upload-worker")
    (pods,) = [m for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods["pods"]["metric"]["name"] == "autophon_tasks"
    assert pods["pods"]["target"] == {"type": "AverageValue", "averageValue": "5"}


def test_disruption_budgets(rendered: Rendered) -> None:
    budgets = {p["metadata"]["name"] for p in find(rendered.manifests, "PodDisruptionBudget")}
    expected = {
        name
        for name, key in (("autophon-api", "api"), ("autophon-upload-worker", "uploadWorker"))
        if rendered.values[key]["podDisruptionBudget"]["enabled"]
    }
    assert budgets == expected


def test_service_monitor_needs_its_api(scenario: ScenarioGetter) -> None:
    without = scenario("servicemonitor")
    assert not find(without.manifests, "ServiceMonitor")
    assert "no ServiceMonitor was created" in without.files["autophon/templates/NOTES.txt"]
    assert not find(scenario("default").manifests, "ServiceMonitor")

    with_api = scenario("servicemonitor-with-api")
    monitor = one(with_api.manifests, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    assert all(e["interval"] == "15s" for e in monitor["spec"]["endpoints"])
    # Every metrics-serving Service is selected and exposes one of the scraped ports.
    selector = monitor["spec"]["selector"]
    components = selector["matchExpressions"][0]["values"]
    scraped = [
        s
        for s in find(with_api.manifests, "Service")
        if selector["matchLabels"].items() <= s["metadata"]["labels"].items()
        and s["metadata"]["labels"]["app.kubernetes.io/component"] in components
    ]
    assert {s["metadata"]["name"] for s in scraped} == {
        "autophon-api",
        "autophon-upload-worker-metrics",
        "autophon-controller-metrics",
    }
    for service in scraped:
        assert {p["name"] for p in service["spec"]["ports"]} & ports, service["metadata"]["name"]


def test_probes(scenario: ScenarioGetter) -> None:
    rendered = scenario("default")
    api = _containers(
        one(rendered.manifests, "Deployment", "autophon-api")["spec"]["template"]["spec"]
    )[0]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    for name, port in (("autophon-upload-worker", 9100), ("autophon-controller", 9101)):
        pod = one(rendered.manifests, "Deployment", name)["spec"]["template"]["spec"]
        (container,) = _containers(pod)
        assert container["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
        assert container["livenessProbe"]["httpGet"]["port"] == "metrics"


def test_worker_without_metrics_port_has_no_port_probe_or_service(chart: helm.Chart) -> None:
    manifests = objects(render(chart, {"config": {"upload_worker": {"metrics_port": None}}}))
    pod = one(manifests, "Deployment", "autophon-upload-worker")["spec"]["template"]["spec"]
    (container,) = _containers(pod)
    assert "ports" not in container and "livenessProbe" not in container
    assert not find(manifests, "Service", "autophon-upload-worker-metrics")


# --- images ------------------------------------------------------------------------------


def test_image_tags_fall_back_to_app_version(chart: helm.Chart) -> None:
    app_version = chart.metadata["appVersion"]

    def images(values: dict[str, Any]) -> dict[str, str]:
        manifests = objects(render(chart, values))
        return {
            name: _containers(one(manifests, "Deployment", name)["spec"]["template"]["spec"])[0][
                "image"
            ]
            for name in DEPLOYMENTS
        }

    assert images({}) == {
        "autophon-api": f"autophon/upload:{app_version}",
        "autophon-upload-worker": f"autophon/upload:{app_version}",
        "autophon-controller": f"autophon/controller:{app_version}",
    }
    assert set(images({"image": {"tag": "1.2.3"}}).values()) == {
        "autophon/upload:1.2.3",
        "autophon/controller:1.2.3",
    }
    pinned = images({"image": {"tag": "1.2.3", "controller": {"tag": "9.9.9"}}})
    assert pinned["autophon-controller"] == "autophon/controller:9.9.9"
    assert pinned["autophon-api"] == "autophon/upload:1.2.3"


def test_notes_explain_port_forward_and_curl(scenario: ScenarioGetter) -> None:
    notes = scenario("default").files["autophon/templates/NOTES.txt"]
    assert "port-forward svc/autophon-api 8000:8000" in notes
    assert "/api/v1/tasks/$TASK/events" in notes
    assert "/api/v1/tasks/$TASK/result" in notes
    external = scenario("external-db").files["autophon/templates/NOTES.txt"]
    assert "Authorization: Bearer" in external


def test_helm_test_pod_checks_the_api(scenario: ScenarioGetter) -> None:
    pod = one(scenario("default").manifests, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    script = " ".join(pod["spec"]["containers"][0]["command"])
    assert "/healthz" in script and "/readyz" in script
    url = pod["spec"]["containers"][0]["env"][0]["value"]
    assert url == "http://autophon-api:8000"


# --- the controller's own Job builder, fed with the rendered config ------------------------


def test_controller_built_job_fits_the_release(rendered: Rendered, tmp_path: Path) -> None:
    """The Job `autophon_align.manifests.build_job` makes from the rendered config file mounts
    the release's claim and ConfigMap at the release's paths, runs as its token-less account,
    and is valid Kubernetes."""
    k8s = _settings(rendered, tmp_path).controller.kubernetes
    job = build_job(
        JobSpec("0123456789abcdef0123456789abcdef", "pocketsphinx", 600), k8s, k8s.namespace
    )
    kubernetes_validate.validate(job, "1.30", strict=True)
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["metadata"]["labels"]["app.kubernetes.io/instance"] == "autophon"
    pod = job["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}

    manifests = [m for m in rendered.manifests if not _is_hook(m)]
    claim = volumes[mounts[k8s.data_mount_path]]["persistentVolumeClaim"]["claimName"]
    existing = rendered.values["persistence"]["existingClaim"]
    if existing:
        assert claim == existing
    else:
        one(manifests, "PersistentVolumeClaim", claim)
    config_map = volumes[mounts[k8s.config_mount_path]]["configMap"]["name"]
    assert "autophon.yaml" in one(manifests, "ConfigMap", config_map)["data"]
    assert container["command"][1:3] == ["--config", f"{k8s.config_mount_path}/autophon.yaml"]
    account = one(manifests, "ServiceAccount", pod["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False
    assert pod["automountServiceAccountToken"] is False
    # The same identity and file ownership as the chart's pods, so both can write the volume.
    api = one(manifests, "Deployment", "autophon-api")["spec"]["template"]["spec"]
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert pod["securityContext"][key] == api["securityContext"][key], key
    assert container["image"] == k8s.images["pocketsphinx"]
    # Its scratch files (/tmp, an emptyDir on the node's disk) are scheduled for and bounded.
    resources = container["resources"]
    assert "ephemeral-storage" in resources["requests"], resources
    assert "ephemeral-storage" in resources["limits"], resources
