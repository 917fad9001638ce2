"""The platform service: which limits a key has, whether a request may go, what it cost.

One ``Platform`` per process (``app.state.platform``). Rate-limit counters live in the
limiter (in-process, or Redis when ``settings.redis_url`` is set, shared by all API
servers); credits are summed from ``api_usage`` in the shared database, cached for
``quota_cache_s`` per key and topped up with this process's own requests in between.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.platform.ratelimit import Decision, RateLimiter, make_rate_limiter
from tonearm.platform.tiers import QUOTA_WINDOW_DAYS, TIERS, Limits, get_tier, limits_for
from tonearm.platform.usage import (
    UsageRecord,
    UsageRecorder,
    by_endpoint,
    credits_used,
    is_job,
    job_credits,
    oldest_credited,
    parse_iso,
    recent_jobs,
    recent_requests,
    window_start,
)
from tonearm.storage.base import ApiKey

log = logging.getLogger("tonearm.platform")


@dataclass(frozen=True)
class Admission:
    """The answer to "may this request go?"; ``reason`` is None, "rate" or "usage"."""

    allowed: bool
    reason: str | None
    headers: dict[str, str]
    retry_after_s: int = 0


class Platform:
    """Limits, admission and usage of one process. ``clock`` is the wall clock."""

    def __init__(
        self,
        catalog: Catalog,
        limiter: RateLimiter | None = None,
        quota_cache_s: float = 2.0,
        flush_interval_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.catalog = catalog
        settings = catalog.settings
        self.enabled = getattr(settings, "rate_limits", True)
        # wall clock (Unix seconds) of the rate-limit windows and the quota window; tests
        # pass a fixed one so a minute boundary never falls inside a test
        self.clock = clock
        self.limiter = limiter or make_rate_limiter(
            getattr(settings, "redis_url", None), clock=clock
        )
        self.recorder = UsageRecorder(catalog.store, flush_interval_s=flush_interval_s)
        self.quota_cache_s = quota_cache_s
        self._lock = threading.Lock()
        self._limits: dict[int, tuple[float, Limits]] = {}
        self._credits: dict[int, tuple[float, int]] = {}  # key -> (fetched at, credits)

    @property
    def store(self) -> Any:
        return self.catalog.store

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- keys and their limits -------------------------------------------------------------
    def limits(self, key: ApiKey) -> Limits:
        now = time.monotonic()
        cached = self._limits.get(key.key_id)
        if cached and now - cached[0] < 5.0:
            return cached[1]
        rl, mc = self.store.key_limits(key.key_id)
        lim = limits_for(key.tier, rl, mc)
        self._limits[key.key_id] = (now, lim)
        return lim

    def create_key(
        self,
        name: str,
        tier: str = "free",
        rate_limit_per_min: int | None = None,
        monthly_credits: int | None = None,
        *,
        scopes: Iterable[str] | None = None,
        account: str | None = None,
    ) -> tuple[str, ApiKey]:
        get_tier(tier)  # ValueError for an unknown tier
        secret, rec = create_key(self.store, name, tier, scopes, account)
        if rate_limit_per_min is not None or monthly_credits is not None:
            self.set_limits(rec.key_id, tier, rate_limit_per_min, monthly_credits)
        return secret, rec

    def set_limits(
        self,
        key_id: int,
        tier: str | None = None,
        rate_limit_per_min: int | None = None,
        monthly_credits: int | None = None,
    ) -> None:
        """Change a key's tier and/or its own overrides (None leaves a value as it is)."""
        sets: dict[str, Any] = {}
        if tier is not None:
            get_tier(tier)
            sets["tier"] = tier
        if rate_limit_per_min is not None:
            sets["rate_limit_per_min"] = rate_limit_per_min
        if monthly_credits is not None:
            sets["monthly_credits"] = monthly_credits
        if not sets:
            return
        self.store.set_key_limits(key_id, sets)
        self._limits.pop(key_id, None)

    def find_key(self, ident: str) -> ApiKey | None:
        """A key (revoked or not) by id, prefix or name."""
        for k in self.store.list_keys():
            if ident in (str(k.key_id), k.prefix, k.name):
                return k
        return None

    # -- credits ---------------------------------------------------------------------------
    def credits_used(self, key_id: int, fresh: bool = False) -> int:
        now = time.monotonic()
        with self._lock:
            cached = self._credits.get(key_id)
        if cached and not fresh and now - cached[0] < self.quota_cache_s:
            return cached[1]
        self.recorder.flush()
        used = self._used(key_id, window_start(QUOTA_WINDOW_DAYS, self._now()))
        with self._lock:
            self._credits[key_id] = (now, used)
        return used

    def _used(self, key_id: int, since: str) -> int:
        return credits_used(self.store, key_id, since) + job_credits(self.store, key_id, since)

    def is_job(self, job_id: str) -> bool:
        return is_job(self.store, job_id)

    def _add_credits(self, key_id: int, credits: int) -> None:
        if credits <= 0:
            return
        with self._lock:
            cached = self._credits.get(key_id)
            if cached:
                self._credits[key_id] = (cached[0], cached[1] + credits)

    # -- admission -------------------------------------------------------------------------
    def admit(self, key: ApiKey, priced: bool = True) -> Admission:
        """Count this request against the key's rate limit and check its credit quota.

        ``priced=False`` (polling, results, usage and asset reads, which never cost
        credits) skips the quota: a key whose credits are spent can still fetch what it
        already paid for.
        """
        if not self.enabled:
            return Admission(True, None, {})
        lim = self.limits(key)
        if priced and lim.monthly_credits is not None:
            used = self.credits_used(key.key_id)
            if used >= lim.monthly_credits:
                retry = self._quota_retry_after(key.key_id)
                return Admission(
                    False,
                    "usage",
                    # headers that say quota, not rate (the X-RateLimit-* ones are the
                    # per-minute window's)
                    {
                        "X-Quota-Limit": str(lim.monthly_credits),
                        "X-Quota-Remaining": "0",
                        "X-Quota-Reset": str(int(self.clock()) + retry),
                        "Retry-After": str(retry),
                    },
                    retry,
                )
        if lim.rate_limit_per_min is None:
            return Admission(True, None, {})
        d = self._hit(key.key_id, lim.rate_limit_per_min)
        if d is None:
            return Admission(True, None, {})
        return Admission(d.allowed, None if d.allowed else "rate", d.headers(), d.retry_after_s)

    def _hit(self, key_id: int, limit: int) -> Decision | None:
        try:
            return self.limiter.hit(str(key_id), limit)
        except Exception:
            # the shared limiter (Redis) is away: let requests through rather than fail them all
            log.warning("rate limiter unavailable; request not counted", exc_info=True)
            return None

    def count_late(self, key: ApiKey) -> None:
        """Count a request whose key was only known after it ran (token in a large body)."""
        if not self.enabled:
            return
        lim = self.limits(key)
        if lim.rate_limit_per_min is not None:
            self._hit(key.key_id, lim.rate_limit_per_min)

    def _quota_retry_after(self, key_id: int) -> int:
        """Seconds until the oldest credited request leaves the 30-day window."""
        self.recorder.flush()
        oldest = oldest_credited(self.store, key_id, window_start(QUOTA_WINDOW_DAYS, self._now()))
        if oldest is None:
            return 3600
        frees_at = parse_iso(oldest) + timedelta(days=QUOTA_WINDOW_DAYS)
        return max(1, int((frees_at - self._now()).total_seconds()) + 1)

    # -- recording -------------------------------------------------------------------------
    def record(self, rec: UsageRecord) -> None:
        self.recorder.add(rec)
        self._add_credits(rec.key_id, rec.credits)

    # -- reports ---------------------------------------------------------------------------
    def report(self, key: ApiKey, days: float = QUOTA_WINDOW_DAYS, recent: int = 50) -> dict:
        self.recorder.flush()
        lim = self.limits(key)
        since = window_start(days, self._now())
        quota_since = window_start(QUOTA_WINDOW_DAYS, self._now())
        used = self._used(key.key_id, quota_since)
        endpoints = by_endpoint(self.store, key.key_id, since)
        rate: dict[str, Any] = {"requestsPerMinute": lim.rate_limit_per_min}
        if lim.rate_limit_per_min is not None:
            try:
                d = self.limiter.peek(str(key.key_id), lim.rate_limit_per_min)
                rate.update(remaining=d.remaining, reset=d.reset_epoch)
            except Exception:
                log.warning("rate limiter unavailable", exc_info=True)
        return {
            "key": {
                "id": key.key_id,
                "name": key.name,
                "prefix": key.prefix,
                "tier": key.tier,
                "createdAt": key.created_at,
                "revokedAt": key.revoked_at,
            },
            "tier": {
                **(TIERS[key.tier].to_public() if key.tier in TIERS else {"name": key.tier}),
                "requestsPerMinute": lim.rate_limit_per_min,
                "monthlyCredits": lim.monthly_credits,
            },
            "rateLimit": rate,
            "credits": {
                "windowDays": QUOTA_WINDOW_DAYS,
                "since": quota_since,
                "used": used,
                "limit": lim.monthly_credits,
                "remaining": None
                if lim.monthly_credits is None
                else max(0, lim.monthly_credits - used),
            },
            "period": {"days": days, "since": since},
            "requests": sum(e["requests"] for e in endpoints),
            "errors": sum(e["errors"] for e in endpoints),
            "byEndpoint": endpoints,
            "recentRequests": recent_requests(self.store, key.key_id, recent),
            # queued requests (analyze, async resize/export, long scans) with their status
            "recentJobs": recent_jobs(self.store, key.key_id, recent),
        }

    def close(self) -> None:
        self.recorder.close()


def get_platform(catalog: Catalog) -> Platform:
    """The process's Platform for ``catalog`` (kept in ``catalog.cache``)."""
    p = catalog.cache.get("platform")
    if p is None:
        p = catalog.cache["platform"] = Platform(catalog)
    return p
