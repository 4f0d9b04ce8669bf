"""What every figure needs: the run's size (full or quick), a scratch folder, the PostgreSQL
server, the sample recordings, and settings/config files built from the defaults."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from autophon_core.config import Settings
from autophon_core.testing import SAMPLES
from bench.databases import PostgresServer

# The same server the tests use (a user allowed to create databases).
PG_ADMIN_URL = os.environ.get(
    "AUTOPHON_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class BenchEnv:
    quick: bool
    workdir: Path
    pg: PostgresServer
    samples: Path = SAMPLES

    def pick(self, full: Any, quick: Any) -> Any:
        """``full`` in a full run, ``quick`` in a quick one (the test's tiny sizes)."""
        return quick if self.quick else full

    def folder(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def python(self) -> str:
        return sys.executable


def bench_settings(db_url: str, root: Path, **sections: dict[str, Any]) -> Settings:
    """The built-in defaults (the queue's 2 s poll, lease, concurrency...) with this database,
    storage under ``root`` and quiet logs; ``sections`` override keys section by section."""
    data: dict[str, Any] = {
        "database": {"url": db_url},
        "storage": {"root": str(root / "data")},
        "logging": {"format": "json", "level": "INFO"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return Settings.model_validate(data)


def write_config(settings: Settings, path: Path) -> Path:
    """The settings as a config file for ``autophon --config``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings.model_dump(mode="json"), sort_keys=False), "utf-8")
    return path
