"""Helpers for the tests of every package (not used by the services themselves)."""

from __future__ import annotations

import os
from pathlib import Path

from autophon_core.config import Settings

# The sample recordings the tests and benchmarks use, committed with the repository (see its
# README.md); AUTOPHON_SAMPLES points elsewhere. The only place that knows where they are.
SAMPLES = Path(
    os.environ.get("AUTOPHON_SAMPLES")
    or Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "samples"
)


def make_settings(db_url: str, root: Path, **overrides: object) -> Settings:
    """Settings for a test: the given database, storage under ``root``, fast timings."""
    data: dict[str, object] = {
        "database": {"url": db_url},
        "storage": {"root": str(root / "data")},
        "queue": {"lease_seconds": 5, "poll_interval_seconds": 0.5, "shutdown_grace_seconds": 5},
        "logging": {"format": "text", "level": "DEBUG"},
    }
    for key, value in overrides.items():
        section = data.setdefault(key, {})
        if isinstance(section, dict) and isinstance(value, dict):
            section.update(value)
        else:
            data[key] = value
    return Settings.model_validate(data)
