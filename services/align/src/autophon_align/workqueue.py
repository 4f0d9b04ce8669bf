"""A keyed work queue with per-key back-off, after client-go's rate-limited workqueue.

Event sources (the launcher's watch, the periodic resync, lease losses) only ``add`` keys;
one worker ``get``s a key, syncs it and calls ``done``. A key is queued at most once however
often it is added, and a key added while it is being processed is handed out again after
``done``, so no event is lost and no key is synced by two workers at once.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque

# Back-off of a key whose sync keeps failing: BASE * 2**failures, capped.
DEFAULT_BASE_DELAY = 0.2
DEFAULT_MAX_DELAY = 30.0


class WorkQueue:
    def __init__(
        self, base_delay: float = DEFAULT_BASE_DELAY, max_delay: float = DEFAULT_MAX_DELAY
    ) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._cond = threading.Condition()
        self._queue: deque[str] = deque()
        # Keys waiting in _queue or, if also in _processing, to be requeued after done().
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._sequence = itertools.count()
        self._failures: dict[str, int] = {}
        self._shut_down = False

    def add(self, key: str) -> None:
        with self._cond:
            if self._shut_down or key in self._dirty:
                return
            self._dirty.add(key)
            if key not in self._processing:
                self._queue.append(key)
                self._cond.notify()

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        with self._cond:
            if self._shut_down:
                return
            heapq.heappush(self._delayed, (time.monotonic() + delay, next(self._sequence), key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> float:
        """Requeue ``key`` after its back-off (which doubles each time); returns the delay."""
        with self._cond:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        delay = min(self._base_delay * 2.0 ** min(failures, 32), self._max_delay)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """The key synced successfully: reset its back-off."""
        with self._cond:
            self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        with self._cond:
            return self._failures.get(key, 0)

    def get(self, timeout: float) -> str | None:
        """The next key to process (the caller must call ``done``), or None after ``timeout``
        or once shut down."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shut_down:
                    return None
                now = time.monotonic()
                self._promote_due(now)
                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key
                wait = deadline - now
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - now)
                if deadline - now <= 0:
                    return None
                self._cond.wait(max(wait, 0.0))

    def done(self, key: str) -> None:
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()

    def shut_down(self) -> None:
        with self._cond:
            self._shut_down = True
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue) + len(self._delayed)

    def _promote_due(self, now: float) -> None:
        while self._delayed and self._delayed[0][0] <= now:
            _, _, key = heapq.heappop(self._delayed)
            if key not in self._dirty:
                self._dirty.add(key)
                if key not in self._processing:
                    self._queue.append(key)
