"""Render the AutoPhon chart in-process (helm-python-sdk) and keep its values schema in step
with the config file's model.

Run as a script to regenerate the ``config`` part of ``values.schema.json`` from
:class:`autophon_core.config.Settings` after changing the config model::

    .venv/bin/python charts/autophon/tests/chart_support.py --write-schema
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml
from helm_python import _native

CHART_DIR = Path(__file__).resolve().parent.parent
SCHEMA_FILE = CHART_DIR / "values.schema.json"
CI_DIR = CHART_DIR / "ci"
RELEASE = "autophon"
NAMESPACE = "autophon"
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest schema set
# kubernetes-validate ships; every rendered object is validated against both.
KUBE_VERSIONS = ("1.30.0",)
SERVICE_MONITOR_API = "monitoring.coreos.com/v1"

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Scenario:
    """A set of values to render (a ci/*-values.yaml file, or the defaults)."""

    name: str
    values: dict[str, Any]
    # API versions the (simulated) cluster serves beyond the built-in ones.
    api_versions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rendered:
    scenario: Scenario
    files: dict[str, str]
    manifests: list[Manifest]
    # The values the release uses: chart defaults coalesced with the scenario's.
    values: dict[str, Any]


def render(
    chart: helm.Chart,
    values: dict[str, Any] | None = None,
    *,
    api_versions: Sequence[str] = (),
    kube_version: str | None = None,
    name: str = RELEASE,
    namespace: str = NAMESPACE,
    upgrade: bool = False,
) -> dict[str, str]:
    """Render like ``helm template --api-versions ... --kube-version ...`` (``upgrade``: as
    ``helm upgrade`` would, e.g. hooks that only run before upgrades).

    ``Chart.render`` of helm-python-sdk 0.2.2 does not expose the capabilities options, but
    the C ABI's ``helm_render`` accepts them (its options JSON has ``api_versions`` and
    ``kube_version``; unknown keys are refused, so a rename would fail loudly here).
    """
    options: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "is_install": not upgrade,
        "is_upgrade": upgrade,
        # An upgrade is never the first revision (Release.Revision).
        "revision": 2 if upgrade else 1,
    }
    if api_versions:
        options["api_versions"] = list(api_versions)
    if kube_version:
        options["kube_version"] = kube_version
    rendered = _native.call_string(
        "helm_render",
        chart._raw(),
        None if values is None else json.dumps(values),
        json.dumps(options),
    )
    manifests: dict[str, str] = json.loads(rendered)
    return manifests


def objects(rendered: dict[str, str]) -> list[Manifest]:
    """Every Kubernetes object of a render (NOTES.txt and empty documents left out)."""
    found: list[Manifest] = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                if not isinstance(document, dict):
                    raise AssertionError(f"{path} rendered a non-mapping document: {document!r}")
                document.setdefault("metadata", {})
                document["metadata"].setdefault("annotations", {})
                found.append(document)
    return found


def find(manifests: list[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def one(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    matches = find(manifests, kind, name)
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    """(``Kind/name``, pod spec) of every object that runs pods."""
    for m in manifests:
        kind, name = m["kind"], m["metadata"]["name"]
        if kind == "Pod":
            yield f"{kind}/{name}", m["spec"]
        elif kind in {"Deployment", "StatefulSet", "Job", "DaemonSet"}:
            yield f"{kind}/{name}", m["spec"]["template"]["spec"]


def ci_values_files() -> list[Path]:
    return sorted(CI_DIR.glob("*-values.yaml"))


def load_values(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    assert isinstance(data, dict), f"{path} must hold a mapping"
    return data


# --- the config part of values.schema.json -------------------------------------------------


def _inline(node: Any, definitions: dict[str, Any]) -> Any:
    """Resolve ``$ref``s (the config model has no recursion) and drop titles and defaults."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = node["$ref"].rsplit("/", 1)[-1]
            return _inline(copy.deepcopy(definitions[target]), definitions)
        cleaned: dict[str, Any] = {}
        for key, value in node.items():
            if key in {"title", "default", "$defs"}:
                continue
            if key == "format" and value == "path":
                continue  # pydantic's Path; not a JSON-schema format
            if key == "properties":
                cleaned[key] = {k: _inline(v, definitions) for k, v in value.items()}
            else:
                cleaned[key] = _inline(value, definitions)
        return cleaned
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node


def config_schema() -> dict[str, Any]:
    """JSON schema of ``values.config``, from the config file's pydantic model."""
    from autophon_core.config import Settings

    generated = Settings.model_json_schema(mode="validation")
    definitions = generated.get("$defs", {})
    schema: dict[str, Any] = _inline(generated, definitions)
    schema["description"] = (
        "AutoPhon's config file (autophon.yaml), rendered verbatim into the ConfigMap. "
        "Generated from autophon_core.config.Settings by charts/autophon/tests/chart_support.py."
    )
    return schema


def write_schema() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    schema["properties"]["config"] = config_schema()
    SCHEMA_FILE.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")


# --- the README's values table ---------------------------------------------------------------


def values_table() -> str:
    """The README's values table, from values.yaml's ``## @section`` and ``## @param`` lines."""
    text = (CHART_DIR / "values.yaml").read_text(encoding="utf-8")
    defaults = yaml.safe_load(text)
    out: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("## @section "):
            out += ["", f"### {stripped.removeprefix('## @section ')}", ""]
            out += ["| Name | Description | Default |", "| --- | --- | --- |"]
        elif stripped.startswith("## @param "):
            name, _, description = stripped.removeprefix("## @param ").partition(" ")
            value: Any = defaults
            for key in name.split("."):
                value = value[key]
            shown = "see values.yaml" if name == "config" else json.dumps(value)
            cells = [f"`{name}`", description, f"`{shown}`"]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out).strip() + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-schema", action="store_true", help="rewrite values.schema.json")
    parser.add_argument("--values-table", action="store_true", help="print the README table")
    args = parser.parse_args()
    if args.write_schema:
        write_schema()
        print(f"wrote {SCHEMA_FILE}")
    elif args.values_table:
        print(values_table(), end="")
    else:
        print(json.dumps(config_schema(), indent=2))


if __name__ == "__main__":
    main()
