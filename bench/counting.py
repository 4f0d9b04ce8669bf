"""Counting what a worker sends to its database, with SQLAlchemy event listeners."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, event


class StatementCounter:
    """Counts, on one engine: SQL statements (``before_cursor_execute``), pool checkouts
    (each one also sends the ``SELECT 1`` of ``pool_pre_ping``, which bypasses the statement
    events), and transactions ended by a commit."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self.statements = 0
        self.checkouts = 0
        self.commits = 0
        self._attached = False

    def attach(self) -> None:
        event.listen(self.engine, "before_cursor_execute", self._on_statement)
        event.listen(self.engine.pool, "checkout", self._on_checkout)
        event.listen(self.engine, "commit", self._on_commit)
        self._attached = True

    def detach(self) -> None:
        if self._attached:
            event.remove(self.engine, "before_cursor_execute", self._on_statement)
            event.remove(self.engine.pool, "checkout", self._on_checkout)
            event.remove(self.engine, "commit", self._on_commit)
            self._attached = False

    def snapshot(self) -> tuple[int, int, int]:
        with self._lock:
            return self.statements, self.checkouts, self.commits

    def _on_statement(self, *_args: Any) -> None:
        with self._lock:
            self.statements += 1

    def _on_checkout(self, *_args: Any) -> None:
        with self._lock:
            self.checkouts += 1

    def _on_commit(self, *_args: Any) -> None:
        with self._lock:
            self.commits += 1
