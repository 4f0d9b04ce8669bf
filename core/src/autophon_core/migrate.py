"""Schema migrations (Alembic), run as their own step: ``autophon migrate`` locally, a Helm
hook Job on Kubernetes. Never during a service's startup."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = alembic_config_without_engine()
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


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The revision this code expects the schema at (the newest migration it ships)."""
    head = ScriptDirectory.from_config(alembic_config_without_engine()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no migrations in {MIGRATIONS_DIR}")
    return head


def alembic_config_without_engine() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def current_revision(engine: Engine) -> str | None:
    """The revision the database's schema is at; None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def readiness_problem(engine: Engine) -> str | None:
    """Why a process cannot serve yet, or None when it can: the database must be reachable
    and its schema at :func:`head_revision` (what every readiness probe reports)."""
    try:
        current = current_revision(engine)
    except SQLAlchemyError:
        return "The database is not reachable."
    expected = head_revision()
    if current != expected:
        return (
            f"The database schema is at revision {current or 'none'}, this version needs "
            f"{expected}: run `autophon migrate`."
        )
    return None
