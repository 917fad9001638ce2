"""Usage per key and per request: recording (batched off the request path) and reports.

Rows go to ``api_usage`` (migration 0007) through the store's usage records
(``storage/usage.py``), so the same code runs on SQLite and PostgreSQL. The recorder
buffers rows and writes them from one background thread every ``flush_interval_s`` (or at
once when the buffer is full); every read (reports, quota checks) flushes first, so a process
always sees its own requests.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tonearm.storage.base import Store
from tonearm.storage.usage import USAGE_COLUMNS

log = logging.getLogger("tonearm.platform")

COLUMNS = USAGE_COLUMNS


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_iso(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


@dataclass
class UsageRecord:
    key_id: int
    ts: str
    method: str
    endpoint: str
    path: str
    family: str
    status: int
    outcome: str
    credits: int
    duration_ms: float
    request_id: str | None = None
    error: str | None = None

    def row(self) -> tuple[Any, ...]:
        d = asdict(self)
        return tuple(d[c] for c in COLUMNS)


def insert_usage(store: Store, records: Iterable[UsageRecord]) -> int:
    return int(store.insert_usage(asdict(r) for r in records))


class UsageRecorder:
    """Buffers usage rows and writes them in batches from a daemon thread."""

    def __init__(self, store: Store, flush_interval_s: float = 0.5, max_buffer: int = 500):
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.max_buffer = max_buffer
        self._buf: list[UsageRecord] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop = False
            self._thread = threading.Thread(target=self._run, name="usage-writer", daemon=True)
            self._thread.start()

    def add(self, record: UsageRecord) -> None:
        with self._lock:
            self._buf.append(record)
            full = len(self._buf) >= self.max_buffer
        if self._thread is None:
            self.start()
        if full:
            self._wake.set()

    def flush(self) -> int:
        """Write everything buffered now; returns the number of rows written."""
        with self._flush_lock:
            with self._lock:
                batch, self._buf = self._buf, []
            if not batch:
                return 0
            try:
                return insert_usage(self.store, batch)
            except Exception:
                # the database is away (restart): keep the rows for the next flush, bounded
                log.warning("usage: could not write %d rows, will retry", len(batch), exc_info=True)
                with self._lock:
                    self._buf = (batch + self._buf)[-50_000:]
                return 0

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.flush_interval_s)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()


# -- reports ---------------------------------------------------------------------------------
def window_start(days: float, now: datetime | None = None) -> str:
    return iso((now or datetime.now(UTC)) - timedelta(days=days))


def credits_used(store: Store, key_id: int, since: str) -> int:
    return int(store.usage_credits(key_id, since))


def oldest_credited(store: Store, key_id: int, since: str) -> str | None:
    """When the oldest request that still counts against the quota was made."""
    oldest: str | None = store.oldest_credited_usage(key_id, since)
    return oldest


def by_endpoint(store: Store, key_id: int, since: str) -> list[dict[str, Any]]:
    return [
        {
            "method": r["method"],
            "endpoint": r["endpoint"],
            "family": r["family"],
            "requests": int(r["requests"]),
            "errors": int(r["errors"] or 0),
            "credits": int(r["credits"] or 0),
            "avgDurationMs": round(float(r["avg_ms"] or 0), 1),
            "maxDurationMs": round(float(r["max_ms"] or 0), 1),
        }
        for r in store.usage_by_endpoint(key_id, since)
    ]


def recent_requests(store: Store, key_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return [
        {
            "time": r["ts"],
            "requestId": r["request_id"],
            "method": r["method"],
            "endpoint": r["endpoint"],
            "path": r["path"],
            "family": r["family"],
            "status": int(r["status"]),
            "outcome": r["outcome"],
            "error": r["error"],
            "credits": int(r["credits"]),
            "durationMs": round(float(r["duration_ms"]), 1),
        }
        for r in store.recent_usage(key_id, limit)
    ]


# -- queued requests (jobs) ------------------------------------------------------------------
# Audjust's queued requests (analyze, async resize/export) are priced when the job finishes:
# the job record carries the cost (0 when it failed: "except for failed requests"), and the
# request's own usage row carries 0 so nothing counts twice.
def job_credits(store: Store, key_id: int, since: str) -> int:
    return int(store.job_credits(key_id, since))


def is_job(store: Store, job_id: str) -> bool:
    return bool(store.job_exists(job_id))


def recent_jobs(store: Store, key_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return [
        {
            "requestId": r["job_id"],
            "kind": r["kind"],
            "status": r["status"],
            "progress": round(float(r["progress"] or 0), 3),
            "error": r["error"],
            "creditCost": int(r["credit_cost"] or 0),
            "createdAt": r["created_at"],
            "startedAt": r["started_at"],
            "finishedAt": r["finished_at"],
            "webhookStatus": r["webhook_status"],
        }
        for r in store.recent_jobs(key_id, limit)
    ]
