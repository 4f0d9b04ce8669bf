"""Schema migrations (Alembic), run as their own step: ``autophon migrate`` locally, a Helm
hook Job on Kubernetes. Never during a service's startup."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(slug)s")
    config.attributes["engine"] = engine
    return config


def _run(engine: Engine, action: str, *args: object) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, *args)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> None:
    _run(engine, "downgrade", revision)


def check(engine: Engine) -> None:
    """Raise if the models differ from the migrated schema (alembic check)."""
    _run(engine, "check")


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new migration against an up-to-date database (for developers)."""
    _run(engine, "revision", message, True)
