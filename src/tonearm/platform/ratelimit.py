"""Per-key request rate limits: fixed one-minute windows.

A fixed window (count per key per wall-clock minute) is what "100 requests per minute"
says, costs one counter per key, and works the same in one process (``MemoryRateLimiter``,
embedded) and across processes (``RedisRateLimiter``: ``INCR`` + ``EXPIRE`` on a key
per window, so N API servers share one budget per key).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

WINDOW_S = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: int  # Unix time (s) when the current window ends
    retry_after_s: int  # 0 when allowed

    def headers(self) -> dict[str, str]:
        h = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_epoch),
        }
        if not self.allowed:
            h["Retry-After"] = str(self.retry_after_s)
        return h


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int) -> Decision:
        """Count one request for ``key`` and say whether it is within ``limit`` per window."""
        ...

    def peek(self, key: str, limit: int) -> Decision:
        """The state of ``key``'s window without counting a request."""
        ...


def _decision(count: int, limit: int, window_start: float, now: float) -> Decision:
    reset = window_start + WINDOW_S
    allowed = count <= limit
    return Decision(
        allowed=allowed,
        limit=limit,
        remaining=max(0, limit - count),
        reset_epoch=int(reset),
        retry_after_s=0 if allowed else max(1, math.ceil(reset - now)),
    )


class MemoryRateLimiter:
    """In-process counters (embedded server, one process)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str, limit: int) -> Decision:
        now = self._clock()
        start = now - (now % WINDOW_S)
        with self._lock:
            w, n = self._counts.get(key, (start, 0))
            n = n + 1 if w == start else 1
            self._counts[key] = (start, n)
            if len(self._counts) > 10000:  # drop windows that are over
                self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
        return _decision(n, limit, start, now)

    def peek(self, key: str, limit: int) -> Decision:
        now = self._clock()
        start = now - (now % WINDOW_S)
        with self._lock:
            w, n = self._counts.get(key, (start, 0))
        return _decision(n if w == start else 0, limit, start, now)


class RedisRateLimiter:
    """Counters in Redis shared by every API process (``TONEARM_REDIS_URL``)."""

    def __init__(
        self,
        url: str,
        prefix: str = "tonearm:rl:",
        client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import redis

        self.client = client or redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2
        )
        self.prefix = prefix
        self._clock = clock

    def _key(self, key: str, start: float) -> str:
        return f"{self.prefix}{key}:{int(start)}"

    def hit(self, key: str, limit: int) -> Decision:
        now = self._clock()
        start = now - (now % WINDOW_S)
        name = self._key(key, start)
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_S * 2)
        count, _ = pipe.execute()
        return _decision(int(count), limit, start, now)

    def peek(self, key: str, limit: int) -> Decision:
        now = self._clock()
        start = now - (now % WINDOW_S)
        raw = self.client.get(self._key(key, start))
        return _decision(int(raw or 0), limit, start, now)


def make_rate_limiter(redis_url: str | None, clock: Callable[[], float] = time.time) -> RateLimiter:
    """Redis when a URL is configured (state shared across processes), else in-process.
    ``clock`` (Unix seconds) places requests in their one-minute windows."""
    if redis_url:
        return RedisRateLimiter(redis_url, clock=clock)
    return MemoryRateLimiter(clock)
