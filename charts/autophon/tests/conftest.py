"""Fixtures of the chart tests: the chart loaded once, and each scenario rendered once."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import helm_python as helm
import pytest

from .chart_support import (
    CHART_DIR,
    SERVICE_MONITOR_API,
    Rendered,
    Scenario,
    ci_values_files,
    load_values,
    objects,
    render,
)


def _scenarios() -> list[Scenario]:
    found = [Scenario("default", {})]
    for path in ci_values_files():
        name = path.name.removesuffix("-values.yaml")
        values = load_values(path)
        found.append(Scenario(name, values))
        if name == "servicemonitor":
            # The same values on a cluster that serves the Prometheus Operator's API.
            found.append(Scenario("servicemonitor-with-api", values, (SERVICE_MONITOR_API,)))
    return found


SCENARIOS = _scenarios()
_BY_NAME = {s.name: s for s in SCENARIOS}
_cache: dict[str, Rendered] = {}


@pytest.fixture(scope="session")
def chart() -> Iterator[helm.Chart]:
    loaded = helm.Chart.load(CHART_DIR)
    try:
        yield loaded
    finally:
        loaded.close()


def _render_scenario(chart: helm.Chart, scenario: Scenario) -> Rendered:
    if scenario.name not in _cache:
        files = render(chart, scenario.values, api_versions=scenario.api_versions)
        _cache[scenario.name] = Rendered(
            scenario, files, objects(files), chart.merge_values(scenario.values)
        )
    return _cache[scenario.name]


@pytest.fixture(scope="session", params=SCENARIOS, ids=[s.name for s in SCENARIOS])
def rendered(request: pytest.FixtureRequest, chart: helm.Chart) -> Rendered:
    """Every scenario, each rendered once for the whole session."""
    return _render_scenario(chart, request.param)


@pytest.fixture(scope="session")
def scenario(chart: helm.Chart) -> Callable[[str], Rendered]:
    """One named scenario's render, for tests about a single scenario."""

    def get(name: str) -> Rendered:
        return _render_scenario(chart, _BY_NAME[name])

    return get
