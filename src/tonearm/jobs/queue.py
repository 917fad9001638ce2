"""The job system: our job records on top of huey's queue.

huey moves work to workers (which process runs what, when, retries of lost work); the
``jobs`` table holds what users see (status, progress, result, error, webhook delivery), so
results survive restarts and any process can answer ``GET /requests/{requestId}``.

Backends
--------
- Embedded default: ``SqliteHuey`` in ``DATA/queue.db``; ``tonearm serve`` starts
  ``settings.workers`` consumer threads inside the API process (``JobQueue.start_workers``).
- Scale-out: set ``TONEARM_QUEUE_URL=redis://host:6379/0`` (``RedisHuey``) and run
  ``tonearm worker`` processes (``JobQueue.run_worker``) next to API servers started with
  ``--workers 0``; job records then live in the shared database.
- Tests: ``JobQueue.run_pending()`` runs everything queued in the calling thread, and
  ``JobQueue.wait()`` does so itself when no worker runs in this process.

Writing a job kind
------------------
::

    @register_job("analyze", result_file="analysis.json")
    def analyze_job(catalog, job, progress):
        progress(0.5)
        if bad:
            raise JobFailed("Could not download the source file")
        return {"requestId": job.id, "success": True, ...}

The returned dict is the result: stored on the job, written to
``results_dir/<requestId>/<result_file>`` and POSTed to the job's webhook.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.jobs")

STATUSES = ("queued", "running", "succeeded", "failed")
DEFAULT_TIMEOUT_S = 7 * 60.0  # the seed: "Requests will not take longer than 7 minutes"
DEFAULT_RESULTS_TTL_DAYS = 30.0  # the seed: "stored for 30 days"
_ID_ALPHABET = string.ascii_lowercase + string.digits


class JobFailed(Exception):
    """A clean failure: ``reason`` is shown to the user (job error, failure webhook)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


ProgressFn = Callable[[float], None]
JobFn = Callable[["Catalog", "Job", ProgressFn], dict[str, Any]]


@dataclass
class JobKind:
    name: str
    fn: JobFn
    result_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    failure_payload: Callable[[Job, str], dict[str, Any]] | None = None


_KINDS: dict[str, JobKind] = {}


def register_job(
    kind: str,
    *,
    result_file: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    failure_payload: Callable[[Job, str], dict[str, Any]] | None = None,
) -> Callable[[JobFn], JobFn]:
    """Register ``fn(catalog, job, progress) -> result dict`` as the runner of ``kind``.

    Parameters
    ----------
    result_file
        If set, the result (or the failure payload) is also written to
        ``results_dir/<requestId>/<result_file>`` so it is served at the resultUrl.
    timeout_s
        Wall-clock limit; past it the job fails with a timeout reason.
    failure_payload
        ``(job, reason) -> dict`` for the failure webhook; default
        ``{"requestId", "sourceFileUrl" (if a param), "success": false, "message"}``.
    """

    def deco(fn: JobFn) -> JobFn:
        _KINDS[kind] = JobKind(kind, fn, result_file, timeout_s, failure_payload)
        return fn

    return deco


def registered_kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


def new_job_id() -> str:
    """32 lowercase alphanumerics, like Audjust's requestId."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(32))


def is_job_id(value: str) -> bool:
    return len(value) == 32 and all(c in _ID_ALPHABET for c in value)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass
class Job:
    id: str
    kind: str
    status: str
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    progress: float = 0.0
    created_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    expires_at: str | None = None
    webhook: str | None = None
    webhook_status: str | None = None
    webhook_attempts: int = 0
    key_id: int | None = None
    credit_cost: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.status in ("succeeded", "failed")

    def to_public(self) -> dict[str, Any]:
        """Status as shown by ``GET /requests/{requestId}`` (our extension)."""
        return {
            "requestId": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": round(self.progress, 3),
            "error": self.error,
            "createdAt": self.created_at,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "expiresAt": self.expires_at,
            "webhook": self.webhook,
            "webhookStatus": self.webhook_status,
            "creditCost": self.credit_cost,
        }


def _job_from_row(row: Any) -> Job:
    d = dict(row)
    return Job(
        id=d["job_id"],
        kind=d["kind"],
        status=d["status"],
        params=json.loads(d["params"] or "{}"),
        result=json.loads(d["result"]) if d["result"] else None,
        error=d["error"],
        progress=float(d["progress"] or 0.0),
        created_at=d["created_at"],
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        expires_at=d["expires_at"],
        webhook=d["webhook"],
        webhook_status=d["webhook_status"],
        webhook_attempts=int(d["webhook_attempts"] or 0),
        key_id=d["key_id"],
        credit_cost=int(d["credit_cost"] or 0),
    )


class _EmbeddedConsumer(Consumer):
    """huey's consumer without signal handlers: it runs in threads of the API process."""

    def _set_signal_handlers(self) -> None:
        pass


def _make_huey(catalog: Catalog) -> Huey:
    url = os.environ.get("TONEARM_QUEUE_URL") or getattr(catalog.settings, "queue_url", None)
    if url and str(url).startswith("redis"):
        return RedisHuey("tonearm", url=str(url), results=False)
    catalog.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("tonearm", filename=str(catalog.data_dir / "queue.db"), results=False)


class JobQueue:
    """Submit jobs, run them on huey workers, persist their state, deliver webhooks."""

    # webhook retry schedule (seconds between attempts); tests shorten it
    webhook_backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    webhook_timeout_s: float = 10.0

    def __init__(self, catalog: Catalog, huey: Huey | None = None) -> None:
        self.catalog = catalog
        self.huey = huey or _make_huey(catalog)
        self._consumer: _EmbeddedConsumer | None = None
        self._watchdog_stop = threading.Event()
        self._lock = threading.Lock()
        self.results_ttl_days = float(
            getattr(catalog.settings, "results_ttl_days", DEFAULT_RESULTS_TTL_DAYS)
        )

        queue = self

        @self.huey.task(name="tonearm.run_job")
        def run_job(job_id: str) -> None:
            queue.execute(job_id)

        @self.huey.periodic_task(_hourly(), name="tonearm.cleanup")
        def cleanup() -> None:
            queue.cleanup_expired()

        self._run_job = run_job

    # -- submitting and reading ---------------------------------------------------------
    def submit(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        webhook: str | None = None,
        key_id: int | None = None,
    ) -> Job:
        """Record a queued job and hand it to the workers. Returns the queued job."""
        if kind not in _KINDS:
            raise KeyError(f"no job kind {kind!r} registered")
        job_id = new_job_id()
        now = _now()
        expires = now + timedelta(days=self.results_ttl_days)
        with self.catalog.store.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (job_id, kind, status, params, webhook, key_id, created_at, "
                "expires_at) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (job_id, kind, json.dumps(params), webhook, key_id, _iso(now), _iso(expires)),
            )
        self._run_job(job_id)
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not is_job_id(job_id):
            return None
        rows = self.catalog.store.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return _job_from_row(rows[0]) if rows else None

    def list(
        self, *, key_id: int | None = None, status: str | None = None, limit: int = 50
    ) -> list[Job]:
        sql = "SELECT * FROM jobs WHERE 1=1"
        args: list[Any] = []
        if key_id is not None:
            sql += " AND key_id = ?"
            args.append(key_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        sql += " ORDER BY created_at DESC LIMIT ?"
        args.append(limit)
        return [_job_from_row(r) for r in self.catalog.store.execute(sql, args)]

    def get_status(self, job_id: str) -> str | None:
        rows = self.catalog.store.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,))
        return str(rows[0][0]) if rows else None

    def result_dir(self, job_id: str) -> Path:
        return self.catalog.results_dir / job_id

    def wait(self, job_id: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> Job:
        """Block until the job is finished or ``timeout_s`` passes; returns its latest state.

        Without a worker in this process (tests, CLI), runs queued work in this thread.
        """
        deadline = time.monotonic() + timeout_s
        delay = 0.01
        while True:
            job = self.get(job_id)
            if job is None:
                raise KeyError(job_id)
            if job.done or time.monotonic() >= deadline:
                return job
            if self._consumer is None and self.inline_allowed:
                self.run_pending()
                job = self.get(job_id)
                if job is not None and job.done:
                    return job
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    @property
    def inline_allowed(self) -> bool:
        """wait() may run queued work itself: only with the embedded SQLite queue (with a
        shared Redis queue, separate ``tonearm worker`` processes do the work)."""
        return not isinstance(self.huey, RedisHuey)

    def run_pending(self, max_tasks: int | None = None) -> int:
        """Run queued tasks in the calling thread until the queue is empty; returns how many."""
        n = 0
        while max_tasks is None or n < max_tasks:
            task = self.huey.dequeue()
            if task is None:
                break
            self.huey.execute(task)
            n += 1
        return n

    # -- workers ------------------------------------------------------------------------
    def start_workers(self, n: int | None = None) -> None:
        """Start ``n`` consumer threads in this process (embedded mode). Idempotent."""
        n = self.catalog.settings.workers if n is None else n
        with self._lock:
            if self._consumer is not None or n <= 0:
                return
            self.recover_stale()
            consumer = _EmbeddedConsumer(
                self.huey,
                workers=n,
                worker_type="thread",
                periodic=True,
                initial_delay=0.05,
                max_delay=0.5,
                check_worker_health=False,
            )
            consumer.start()
            self._consumer = consumer
            self._watchdog_stop = threading.Event()
            threading.Thread(
                target=self._watchdog,
                args=(self._watchdog_stop,),
                daemon=True,
                name="tonearm-jobs-watchdog",
            ).start()
            log.info("started %d job worker thread(s)", n)

    def stop_workers(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        self._watchdog_stop.set()
        consumer.stop_flag.set()
        for _, t in consumer.worker_threads:
            t.join(timeout_s)
        consumer.scheduler.join(timeout_s)

    def _watchdog(self, stop: threading.Event, every_s: float = 15.0) -> None:
        """Fail jobs that run past their limit even if their code never checks in."""
        while not stop.wait(every_s):
            try:
                self.recover_stale(grace_s=0.0)
            except Exception:  # never let housekeeping kill the thread
                log.exception("job watchdog")

    @property
    def workers_running(self) -> bool:
        return self._consumer is not None

    def run_worker(self, workers: int = 2) -> None:
        """Blocking consumer for ``tonearm worker`` (own process, signal handling)."""
        load_job_modules()
        self.recover_stale()
        Consumer(self.huey, workers=workers, worker_type="thread", periodic=True).run()

    # -- executing ----------------------------------------------------------------------
    def execute(self, job_id: str) -> None:
        """Run one job to completion: status, result files, webhook. Never raises."""
        job = self.get(job_id)
        if job is None or job.done:
            return
        if job.kind not in _KINDS:
            load_job_modules()
        kind = _KINDS.get(job.kind)
        started = _now()
        if not self._update(
            job_id, only_if="queued", status="running", started_at=_iso(started), progress=0.0
        ):
            return  # another worker claimed it
        job.status, job.started_at = "running", _iso(started)
        if kind is None:
            self._fail(job, f"Unknown job kind {job.kind!r}", None)
            return
        deadline = time.monotonic() + kind.timeout_s
        last = [0.0]

        def progress(fraction: float) -> None:
            if time.monotonic() > deadline:
                raise JobFailed(f"Request timed out after {kind.timeout_s / 60:g} minutes")
            now = time.monotonic()
            if now - last[0] >= 0.5 or fraction >= 1.0:  # throttle database writes
                last[0] = now
                self._update(job_id, progress=max(0.0, min(1.0, float(fraction))))

        try:
            result = kind.fn(self.catalog, job, progress)
            if time.monotonic() > deadline:
                raise JobFailed(f"Request timed out after {kind.timeout_s / 60:g} minutes")
        except JobFailed as e:
            self._fail(job, e.reason, kind)
            return
        except Exception as e:  # a bug or an unexpected input: fail, say so, keep serving
            log.exception("job %s (%s) crashed", job_id, job.kind)
            self._fail(job, f"Internal error: {type(e).__name__}: {e}", kind)
            return
        if not isinstance(result, dict):
            self._fail(job, "Internal error: job returned no result", kind)
            return
        cost = int(result.get("creditCost", 0) or 0)
        if self.get_status(job_id) != "running":
            return  # failed meanwhile (the watchdog timed it out): keep that verdict
        if kind.result_file:
            self._write_result(job_id, kind.result_file, result)
        self._update(
            job_id,
            only_if="running",
            status="succeeded",
            result=json.dumps(result),
            progress=1.0,
            finished_at=_iso(_now()),
            credit_cost=cost,
        )
        if job.webhook:
            self._deliver(job_id, job.webhook, result, job.key_id)

    def _fail(self, job: Job, reason: str, kind: JobKind | None) -> None:
        if kind is not None and kind.failure_payload is not None:
            payload = kind.failure_payload(job, reason)
        else:
            payload = default_failure_payload(job, reason)
        if self.get_status(job.id) != "running":
            return  # already finished (timed out by the watchdog)
        if kind is not None and kind.result_file:
            self._write_result(job.id, kind.result_file, payload)
        self._update(
            job.id,
            only_if="running",
            status="failed",
            error=reason,
            result=json.dumps(payload),
            finished_at=_iso(_now()),
            credit_cost=0,  # failed requests are free (the seed)
        )
        log.info("job %s (%s) failed: %s", job.id, job.kind, reason)
        if job.webhook:
            self._deliver(job.id, job.webhook, payload, job.key_id)

    def _write_result(self, job_id: str, name: str, payload: dict[str, Any]) -> None:
        d = self.result_dir(job_id)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{name}.tmp"
        tmp.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
        tmp.replace(d / name)  # atomic: readers see the old file or the whole new one

    def _deliver(self, job_id: str, url: str, payload: dict[str, Any], key_id: int | None) -> None:
        from tonearm.jobs.webhooks import deliver, webhook_secret

        secret = webhook_secret(self.catalog, key_id) if key_id is not None else None
        outcome = deliver(
            url,
            payload,
            secret=secret,
            allow_private=self.catalog.settings.allow_private_urls,
            backoff_s=self.webhook_backoff_s,
            timeout_s=self.webhook_timeout_s,
            on_attempt=lambda n: self._update(job_id, webhook_attempts=n),
        )
        self._update(job_id, webhook_status=outcome)

    def _update(self, job_id: str, *, only_if: str | None = None, **cols: Any) -> bool:
        """Set columns; with ``only_if``, only while the job has that status. True if set."""
        sets = ", ".join(f"{k} = ?" for k in cols)
        sql = f"UPDATE jobs SET {sets} WHERE job_id = ?"
        args = [*cols.values(), job_id]
        if only_if is not None:
            sql += " AND status = ?"
            args.append(only_if)
        with self.catalog.store.transaction() as conn:
            return bool(conn.execute(sql, args).rowcount)

    # -- housekeeping -------------------------------------------------------------------
    def recover_stale(self, grace_s: float = 30.0) -> int:
        """Fail jobs 'running' past their limit (stuck, or their worker died); returns how many."""
        n = 0
        for job in self.list(status="running", limit=10_000):
            kind = _KINDS.get(job.kind)
            limit = kind.timeout_s if kind else DEFAULT_TIMEOUT_S
            started = _parse(job.started_at)
            if started is None or _now() - started > timedelta(seconds=limit + grace_s):
                self._fail(job, f"Request timed out after {limit / 60:g} minutes", kind)
                n += 1
        return n

    def cleanup_expired(self) -> int:
        """Delete expired results (files + records) and expired uploads; returns how many."""
        now = _iso(_now())
        n = 0
        rows = self.catalog.store.execute(
            "SELECT job_id FROM jobs WHERE expires_at IS NOT NULL AND expires_at < ? "
            "AND status IN ('succeeded', 'failed')",
            (now,),
        )
        for r in rows:
            shutil.rmtree(self.result_dir(r["job_id"]), ignore_errors=True)
            with self.catalog.store.transaction() as conn:
                conn.execute("DELETE FROM jobs WHERE job_id = ?", (r["job_id"],))
            n += 1
        for r in self.catalog.store.execute(
            "SELECT token, path FROM uploads WHERE expires_at < ?", (now,)
        ):
            Path(r["path"]).unlink(missing_ok=True)
            with self.catalog.store.transaction() as conn:
                conn.execute("DELETE FROM uploads WHERE token = ?", (r["token"],))
            n += 1
        return n


# Modules that register job kinds; a separate worker process imports them all.
JOB_MODULES = (
    "tonearm.editing.analyze_job",
    "tonearm.editing.export",
    "tonearm.recognition.enterprise",
)


def load_job_modules() -> None:
    import importlib

    for name in JOB_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise


def default_failure_payload(job: Job, reason: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestId": job.id}
    if "sourceFileUrl" in job.params:
        payload["sourceFileUrl"] = job.params["sourceFileUrl"]
    payload.update({"success": False, "message": reason, "creditCost": 0})
    return payload


def _hourly() -> Callable[[datetime], bool]:
    from huey import crontab

    return crontab(minute="17")


def get_queue(catalog: Catalog) -> JobQueue:
    """The job queue of this process for ``catalog`` (cached in ``catalog.cache``)."""
    q = catalog.cache.get("jobs.queue")
    if q is None:
        q = catalog.cache.setdefault("jobs.queue", JobQueue(catalog))
    return q
