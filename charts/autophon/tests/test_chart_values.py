"""The chart lints, its values schema refuses bad values with a clear message, and its values
are documented (values.yaml ``## @param`` lines and the README table)."""

from __future__ import annotations

import json
import re
from typing import Any

import helm_python as helm
import pytest
import yaml

from .chart_support import (
    CHART_DIR,
    SCHEMA_FILE,
    Rendered,
    ci_values_files,
    config_schema,
    load_values,
    render,
    values_table,
)

REQUIRED_CI_SCENARIOS = {
    "external-db",
    "bundled-db",
    "hpa-off",
    "existing-claim",
    "servicemonitor",
}


def test_ci_scenarios_exist() -> None:
    names = {p.name.removesuffix("-values.yaml") for p in ci_values_files()}
    assert names >= REQUIRED_CI_SCENARIOS, f"missing ci scenarios: {REQUIRED_CI_SCENARIOS - names}"


@pytest.mark.parametrize(
    "values_file",
    [None, *ci_values_files()],
    ids=["default", *(p.name for p in ci_values_files())],
)
def test_lint_is_clean(values_file: Any) -> None:
    values = load_values(values_file) if values_file else None
    report = helm.lint(CHART_DIR, values, strict=True, kube_version="v1.30.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not report["errors"], report["errors"]
    assert not problems, problems


def test_rendered_values_pass_the_schema(chart: helm.Chart, rendered: Rendered) -> None:
    chart.validate_schema(rendered.scenario.values)


# (values, the JSON pointer the error must name, a fragment of the message)
INVALID_VALUES = [
    ({"api": {"replicaCount": -1}}, "/api/replicaCount", "minimum"),
    ({"uploadWorker": {"replicaCount": "two"}}, "/uploadWorker/replicaCount", "integer"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "must be one of"),
    ({"config": {"controller": {"launcher": "nomad"}}}, "/config/controller/launcher", "one of"),
    (
        {"config": {"controller": {"kubernetes": {"image_pull_policy": "Usually"}}}},
        "/config/controller/kubernetes/image_pull_policy",
        "one of",
    ),
    ({"config": {"api": {"port": 70000}}}, "/config/api/port", "maximum"),
    ({"config": {"databse": {"url": "x"}}}, "/config", "databse"),
    (
        {"config": {"queue": {"lease_seconds": 0}}},
        "/config/queue/lease_seconds",
        "exclusiveMinimum",
    ),
    ({"replicas": 3}, "", "replicas"),
    (
        {"persistence": {"accessModes": ["ReadWriteSometimes"]}},
        "/persistence/accessModes/0",
        "one of",
    ),
    ({"persistence": {"accessModes": []}}, "/persistence/accessModes", "minItems"),
    ({"api": {"service": {"type": "Ingress"}}}, "/api/service/type", "one of"),
    (
        {"api": {"autoscaling": {"targetCPUUtilizationPercentage": 150}}},
        "/api/autoscaling",
        "maximum",
    ),
    (
        {"uploadWorker": {"autoscaling": {"queueDepth": {"type": "Object"}}}},
        "/uploadWorker/autoscaling/queueDepth/type",
        "one of",
    ),
    ({"api": {"livenessProbe": {"path": "healthz"}}}, "/api/livenessProbe/path", "pattern"),
    (
        {"metrics": {"serviceMonitor": {"interval": "often"}}},
        "/metrics/serviceMonitor/interval",
        "",
    ),
    ({"controller": {"strategy": {"type": "BlueGreen"}}}, "/controller/strategy/type", "one of"),
]


@pytest.mark.parametrize(
    ("values", "pointer", "fragment"),
    INVALID_VALUES,
    ids=[p or "root" for _, p, _ in INVALID_VALUES],
)
def test_schema_refuses_invalid_values(
    chart: helm.Chart, values: dict[str, Any], pointer: str, fragment: str
) -> None:
    with pytest.raises(helm.HelmValuesError) as refused:
        render(chart, values)
    message = str(refused.value)
    assert f"at '{pointer}" in message, message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"database": {"postgresql": {"enabled": False}}}, "config.database.url is required"),
        (
            {
                "database": {"postgresql": {"enabled": False}},
                "config": {"database": {"url": "sqlite:///x.db"}},
            },
            "must point at PostgreSQL",
        ),
    ],
    ids=["external-without-url", "sqlite"],
)
def test_template_refuses_unusable_database(
    chart: helm.Chart, values: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(fragment)):
        render(chart, values)


def test_config_schema_matches_the_config_model() -> None:
    """values.schema.json's `config` is generated from autophon_core.config.Settings; rerun
    `python charts/autophon/tests/chart_support.py --write-schema` when this fails."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["properties"]["config"] == config_schema()


def test_schema_is_draft_07_and_closed() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["additionalProperties"] is False

    def closed_objects(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, f"{path} is open"
            for key, value in node.items():
                closed_objects(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                closed_objects(value, f"{path}/{index}")

    closed_objects(schema, "")


def _leaf_paths(node: Any, prefix: str = "") -> list[str]:
    """Dotted paths of values.yaml's keys down to (but not into) free-form maps and lists."""
    if not isinstance(node, dict) or not node:
        return [prefix]
    paths: list[str] = []
    for key, value in node.items():
        paths.extend(_leaf_paths(value, f"{prefix}.{key}" if prefix else key))
    return paths


FREE_FORM = (
    "config",  # documented as one value; its keys are the config file's
    "podSecurityContext",
    "containerSecurityContext",
    "database.postgresql.podSecurityContext",
    "database.postgresql.containerSecurityContext",
    "controller.strategy",
)


def _param_names() -> list[str]:
    text = (CHART_DIR / "values.yaml").read_text(encoding="utf-8")
    return re.findall(r"^\s*## @param (\S+)", text, flags=re.MULTILINE)


def test_every_value_has_a_param_line() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text(encoding="utf-8"))
    params = set(_param_names())
    undocumented = []
    for path in _leaf_paths(values):
        if any(path == p or path.startswith(p + ".") for p in params):
            continue
        undocumented.append(path)
    undocumented = [p for p in undocumented if not p.startswith(FREE_FORM)]
    assert not undocumented, f"values without a ## @param line: {undocumented}"


def test_readme_values_table_is_current() -> None:
    """Regenerate with `python charts/autophon/tests/chart_support.py --values-table`."""
    readme = (CHART_DIR / "README.md").read_text(encoding="utf-8")
    missing = [name for name in _param_names() if f"`{name}`" not in readme]
    assert not missing, f"README.md values table lacks: {missing}"
    assert values_table() in readme, "README.md values table is out of date"


def test_values_file_starts_with_schema_modeline() -> None:
    first = (CHART_DIR / "values.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=./values.schema.json"
