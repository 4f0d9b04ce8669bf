"""``api.uploads_per_minute``: at most that many uploads per client address in any minute.

In memory, per API process (each replica counts on its own; N replicas behind a load balancer
allow up to N times the limit). The client address is the connection's peer, or the one a
trusted proxy forwards (uvicorn's ``proxy_headers`` with its ``forwarded_allow_ips``).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# Past this many addresses, those idle for a whole window are forgotten (bounded memory).
PRUNE_ABOVE = 10_000


class UploadRateLimiter:
    """A sliding window of upload times per client address. Thread-safe."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: dict[str, deque[float]] = {}

    def acquire(self, client: str) -> float | None:
        """Count an upload by ``client``: None when it is allowed, else the seconds until it
        would be (the upload is then not counted). A limit of 0 allows everything."""
        if self.per_minute <= 0:
            return None
        now = self._clock()
        with self._lock:
            window = self._recent.setdefault(client, deque())
            while window and window[0] <= now - WINDOW_SECONDS:
                window.popleft()
            if len(window) >= self.per_minute:
                return window[0] + WINDOW_SECONDS - now
            window.append(now)
            if len(self._recent) > PRUNE_ABOVE:
                self._prune(now)
        return None

    def _prune(self, now: float) -> None:
        idle = [
            client
            for client, window in self._recent.items()
            if not window or window[-1] <= now - WINDOW_SECONDS
        ]
        for client in idle:
            del self._recent[client]


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
