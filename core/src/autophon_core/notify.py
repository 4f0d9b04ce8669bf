"""Wake-ups: a worker sleeps until work arrives instead of scanning the table.

Every process has one :class:`NotificationHub` (threads wait on it). With PostgreSQL,
``notify`` is ``pg_notify`` and one listener thread per process feeds ``LISTEN`` events into the
hub, so workers in other processes and pods wake at once. With SQLite, notifications stay in
the process (``autophon local`` runs everything in one). Workers still poll slowly as a
fallback, so a lost notification only delays work.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("autophon.notify")

CHANNELS = ("upload", "align", "events")
_PG_PREFIX = "autophon_"


class NotificationHub:
    """Per-channel counters; waiting on a counter value avoids lost wake-ups."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._counters: dict[str, int] = defaultdict(int)

    def publish(self, channel: str) -> None:
        with self._cond:
            self._counters[channel] += 1
            self._cond.notify_all()

    def sequence(self, channel: str) -> int:
        with self._cond:
            return self._counters[channel]

    def wait(self, channel: str, after: int, timeout: float) -> bool:
        """Wait until ``channel`` is published past ``after``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._counters[channel] > after, timeout)


class Notifier(Protocol):
    hub: NotificationHub

    def in_transaction(self, connection: Connection, channels: Sequence[str]) -> None:
        """Called inside the transaction whose commit makes the work visible."""

    def after_commit(self, channels: Sequence[str]) -> None:
        """Called right after that commit."""

    def close(self) -> None: ...


class LocalNotifier:
    """Notifications within this process only."""

    def __init__(self, hub: NotificationHub | None = None) -> None:
        self.hub = hub or NotificationHub()

    def in_transaction(self, connection: Connection, channels: Sequence[str]) -> None:
        pass

    def after_commit(self, channels: Sequence[str]) -> None:
        for channel in channels:
            self.hub.publish(channel)

    def close(self) -> None:
        pass


class PostgresNotifier:
    """``pg_notify`` out, one ``LISTEN`` connection in, both through the process's hub."""

    def __init__(self, engine: Engine, hub: NotificationHub | None = None) -> None:
        self.hub = hub or NotificationHub()
        self._engine = engine
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="pg-listen", daemon=True)
        self._thread.start()

    def in_transaction(self, connection: Connection, channels: Sequence[str]) -> None:
        # Delivered by PostgreSQL at commit, to every listener (this process's included).
        for channel in channels:
            connection.execute(
                text("SELECT pg_notify(:channel, '')"), {"channel": _PG_PREFIX + channel}
            )

    def after_commit(self, channels: Sequence[str]) -> None:
        pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                raw = self._engine.raw_connection()
            except Exception as exc:
                log.warning("LISTEN connection failed, retrying", extra={"error": str(exc)})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            try:
                dbapi = raw.driver_connection
                assert dbapi is not None
                dbapi.autocommit = True
                with dbapi.cursor() as cursor:
                    for channel in CHANNELS:
                        cursor.execute(f"LISTEN {_PG_PREFIX}{channel}")
                backoff = 0.5
                # Anything published while we were not listening: let every waiter look.
                for channel in CHANNELS:
                    self.hub.publish(channel)
                while not self._stop.is_set():
                    if select.select([dbapi], [], [], 0.2)[0]:
                        dbapi.poll()
                        while dbapi.notifies:
                            note = dbapi.notifies.pop(0)
                            self.hub.publish(note.channel.removeprefix(_PG_PREFIX))
            except Exception as exc:
                log.warning("LISTEN connection lost, reconnecting", extra={"error": str(exc)})
                self._stop.wait(backoff)
            finally:
                with contextlib.suppress(Exception):
                    raw.invalidate()


def make_notifier(engine: Engine) -> Notifier:
    if engine.dialect.name == "postgresql":
        return PostgresNotifier(engine)
    return LocalNotifier()
