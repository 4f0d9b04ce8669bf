"""Fixtures shared by every test package: real databases (SQLite and PostgreSQL), settings
and a runtime over them, and the sample recordings."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy.engine import make_url

from autophon_core.config import DatabaseConfig, Settings
from autophon_core.db import make_engine
from autophon_core.migrate import upgrade
from autophon_core.runtime import Runtime
from autophon_core.testing import SAMPLES, make_settings

# The PostgreSQL server the tests use; a database is created in it per test.
PG_ADMIN_URL = os.environ.get(
    "AUTOPHON_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(scope="session")
def samples() -> Path:
    if not (SAMPLES / "fox.wav").exists():
        pytest.fail(f"sample recordings not found in {SAMPLES}; set AUTOPHON_SAMPLES")
    return SAMPLES


def _admin_connection() -> psycopg2.extensions.connection:
    try:
        connection = psycopg2.connect(PG_ADMIN_URL, connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}). Start it, or point "
            "AUTOPHON_TEST_DATABASE_URL at a server where the user may create databases."
        )
    connection.autocommit = True
    return connection


def _admin_execute(statement: str) -> None:
    """One statement on a fresh admin connection (a connection kept across a test would not
    survive the reliability tests' restart of the server)."""
    connection = _admin_connection()
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated template database, cloned for each test (fast, and isolated)."""
    name = f"autophon_tpl_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(DatabaseConfig(url=_pg_url(name)))
    upgrade(engine)
    engine.dispose()
    yield name
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(database: str) -> str:
    return make_url(PG_ADMIN_URL).set(database=database).render_as_string(hide_password=False)


@pytest.fixture
def pg_url(pg_template: str) -> Iterator[str]:
    name = f"autophon_test_{uuid.uuid4().hex[:10]}"
    _admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _pg_url(name)
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'autophon.db'}"
    engine = make_engine(DatabaseConfig(url=url))
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return make_settings(db_url, tmp_path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.create(settings)
    yield rt
    rt.close()
