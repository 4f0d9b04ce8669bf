"""Fixtures of the reliability tests: a pipeline of real processes, and the figures each test
reports (printed at the end of the run; copied into the README's Reliability section)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import support


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict a test fills with its figures; shown in the terminal summary."""
    found: dict[str, Any] = {}
    yield found
    if found:
        support.FIGURES[request.node.nodeid] = found


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not support.FIGURES:
        return
    terminalreporter.section("reliability figures")
    for nodeid, found in support.FIGURES.items():
        shown = ", ".join(f"{key}={value}" for key, value in found.items())
        terminalreporter.write_line(f"{nodeid.split('::')[-1]}: {shown}")


@pytest.fixture
def pipeline_factory(tmp_path: Path, pg_url: str) -> Iterator[Any]:
    """``pipeline_factory(**config overrides)``: a :class:`support.Pipeline` (not started),
    closed after the test."""
    made: list[support.Pipeline] = []

    def make(*, controllers: int = 1, **overrides: Any) -> support.Pipeline:
        pipeline = support.Pipeline(tmp_path, pg_url, controllers=controllers, **overrides)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        pipeline.close()
