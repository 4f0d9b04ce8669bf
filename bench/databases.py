"""Fresh databases: PostgreSQL ones cloned from a migrated template (as the test suite does),
dropped at the end; SQLite files migrated in place."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from autophon_core.config import DatabaseConfig
from autophon_core.db import make_engine
from autophon_core.migrate import upgrade


class PostgresServer:
    """Creates ``autophon_bench_*`` databases on the server of ``admin_url``."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._template: str | None = None
        self._created: list[str] = []

    def _execute(self, sql: str) -> None:
        try:
            connection = psycopg2.connect(self.admin_url, connect_timeout=5)
        except psycopg2.OperationalError as exc:
            raise SystemExit(
                f"PostgreSQL is not reachable at {self.admin_url} ({exc}); start it or set "
                "AUTOPHON_TEST_DATABASE_URL to a server where the user may create databases."
            ) from exc
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql)
        finally:
            connection.close()

    def url(self, database: str) -> str:
        url = make_url(self.admin_url).set(database=database)
        return url.render_as_string(hide_password=False)

    def _template_name(self) -> str:
        if self._template is None:
            name = f"autophon_bench_tpl_{uuid.uuid4().hex[:10]}"
            self._execute(f'CREATE DATABASE "{name}"')
            self._created.append(name)
            engine = make_engine(DatabaseConfig(url=self.url(name)))
            try:
                upgrade(engine)
            finally:
                engine.dispose()
            self._template = name
        return self._template

    def create(self) -> str:
        """A new migrated database; returns its URL."""
        template = self._template_name()
        name = f"autophon_bench_{uuid.uuid4().hex[:10]}"
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self._created.append(name)
        return self.url(name)

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        url = self.create()
        try:
            yield url
        finally:
            self.drop(url)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        assert name is not None
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self._created:
            self._created.remove(name)

    def close(self) -> None:
        """Drop every database still there (the template last)."""
        for name in reversed(list(self._created)):
            with contextlib.suppress(Exception):
                self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()
        self._template = None


def sqlite_database(folder: Path) -> str:
    """A migrated SQLite database file in ``folder``; returns its URL."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{folder / 'autophon.db'}"
    engine = make_engine(DatabaseConfig(url=url))
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url
