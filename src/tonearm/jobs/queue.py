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

Dead workers (leases)
---------------------
The execution that claims a job gets a random ``claim`` token and renews the job's
``heartbeat_at`` every ``heartbeat_s`` (5 s) from a small thread. The watchdog (in every
worker process, every ``watchdog_s``) puts a ``running`` job whose heartbeat is older than
``lease_s`` (30 s) back in the queue, or fails it with the reason once it has been tried
``max_attempts`` (3) times. Every write of an execution is fenced by its claim, and an
execution that cannot renew its lease stops at its next ``progress()`` call, so a job is
never finished twice and a late result never overwrites the one of the worker that took
over. Settings: ``TONEARM_JOB_LEASE_S``, ``TONEARM_JOB_HEARTBEAT_S``,
``TONEARM_JOB_MAX_ATTEMPTS``, ``TONEARM_JOB_WATCHDOG_S``.
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

from tonearm.jobs.uploads import delete_upload
from tonearm.storage.blobs import BlobStore, catalog_blobs, delete_prefix, is_data_dir, local_copy

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.jobs")

STATUSES = ("queued", "running", "succeeded", "failed")
DEFAULT_TIMEOUT_S = 7 * 60.0  # the seed: "Requests will not take longer than 7 minutes"
DEFAULT_RESULTS_TTL_DAYS = 30.0  # the seed: "stored for 30 days"
DEFAULT_LEASE_S = 30.0  # a running job whose heartbeat is older than this lost its worker
DEFAULT_HEARTBEAT_S = 5.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_WATCHDOG_S = 5.0
_ID_ALPHABET = string.ascii_lowercase + string.digits


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


class LeaseLost(Exception):
    """This execution no longer holds the job (the watchdog gave it to another worker)."""


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


def result_key(job_id: str, name: str) -> str:
    """Blob key of a job's result file (``results/<requestId>/<name>``)."""
    return f"results/{job_id}/{name}"


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
    attempts: int = 0
    heartbeat_at: str | None = None
    claim: str | None = None
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
            "attempts": self.attempts,
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
        attempts=int(d.get("attempts") or 0),
        heartbeat_at=d.get("heartbeat_at"),
        claim=d.get("claim"),
    )


class _EmbeddedConsumer(Consumer):
    """huey's consumer without signal handlers: it runs in threads of the API process."""

    def _set_signal_handlers(self) -> None:
        pass


def _make_huey(catalog: Catalog) -> Huey:
    url = os.environ.get("TONEARM_QUEUE_URL") or getattr(catalog.settings, "queue_url", None)
    if url and str(url).startswith("redis"):
        return RedisHuey(_queue_name(), url=str(url), results=False)
    catalog.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(_queue_name(), filename=str(catalog.data_dir / "queue.db"), results=False)


def _queue_name() -> str:
    """huey's queue name: ``TONEARM_QUEUE_NAME`` keeps deployments (or test runs) sharing
    one Redis database apart."""
    return os.environ.get("TONEARM_QUEUE_NAME") or "tonearm"


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
        self.lease_s = _env_float("TONEARM_JOB_LEASE_S", DEFAULT_LEASE_S)
        self.heartbeat_s = min(
            _env_float("TONEARM_JOB_HEARTBEAT_S", DEFAULT_HEARTBEAT_S), self.lease_s / 3
        )
        self.max_attempts = max(1, int(_env_float("TONEARM_JOB_MAX_ATTEMPTS", 3)))
        self.watchdog_s = _env_float("TONEARM_JOB_WATCHDOG_S", DEFAULT_WATCHDOG_S)

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

    def _watchdog(self, stop: threading.Event, every_s: float | None = None) -> None:
        """Re-queue jobs whose worker died (lease expired) and fail jobs past their time
        limit, even if their code never checks in."""
        every = self.watchdog_s if every_s is None else every_s
        while not stop.wait(every):
            try:
                self.recover_stale(grace_s=0.0)
            except Exception as e:  # never let housekeeping kill the thread (database away)
                log.warning("job watchdog: %s", e)

    def start_watchdog(self, every_s: float | None = None) -> threading.Event:
        """Run the watchdog in a daemon thread; set the returned event to stop it."""
        stop = threading.Event()
        threading.Thread(
            target=self._watchdog, args=(stop, every_s), daemon=True, name="tonearm-jobs-watchdog"
        ).start()
        return stop

    @property
    def workers_running(self) -> bool:
        return self._consumer is not None

    def run_worker(self, workers: int = 2, watchdog_s: float | None = None) -> None:
        """Blocking consumer for ``tonearm worker`` (own process, signal handling), with the
        watchdog that re-queues the jobs of workers that died."""
        load_job_modules()
        try:
            self.recover_stale()
        except Exception as e:  # the database may be away: the watchdog retries
            log.warning("stale-job check at start: %s", e)
        stop = self.start_watchdog(watchdog_s)
        try:
            Consumer(self.huey, workers=workers, worker_type="thread", periodic=True).run()
        finally:
            stop.set()

    # -- executing ----------------------------------------------------------------------
    def _claim(self, job_id: str) -> str | None:
        """Take a queued job: status running, a fresh claim token, attempts + 1."""
        claim = secrets.token_hex(8)
        now = _iso(_now())
        with self.catalog.store.transaction() as conn:
            n = conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, heartbeat_at = ?, "
                "claim = ?, attempts = attempts + 1, progress = 0 "
                "WHERE job_id = ? AND status = 'queued'",
                (now, now, claim, job_id),
            ).rowcount
        return claim if n else None

    def _heartbeat(
        self, job_id: str, claim: str, stop: threading.Event, lost: threading.Event
    ) -> None:
        """Renew the lease until ``stop``; set ``lost`` when it is gone (taken over or
        finished by someone else) or could not be renewed for a whole lease."""
        last_ok = time.monotonic()
        while not stop.wait(self.heartbeat_s):
            try:
                if not self._update(job_id, claim=claim, heartbeat_at=_iso(_now())):
                    lost.set()
                    return
                last_ok = time.monotonic()
            except Exception as e:  # database away: keep trying until the lease is over
                if time.monotonic() - last_ok > self.lease_s:
                    log.warning(
                        "job %s: lease not renewed for %.0f s (%s)", job_id, self.lease_s, e
                    )
                    lost.set()
                    return

    def execute(self, job_id: str) -> None:
        """Run one job to completion: status, result files, webhook. Never raises."""
        try:
            job = self.get(job_id)
        except Exception as e:  # database away: the task is lost; the job stays queued
            log.warning("job %s: cannot read it (%s); re-queued", job_id, e)
            self._requeue_later(job_id)
            return
        if job is None or job.done:
            return
        if job.kind not in _KINDS:
            load_job_modules()
        kind = _KINDS.get(job.kind)
        try:
            claim = self._claim(job_id)
        except Exception as e:  # database away: try again later rather than lose the task
            log.warning("job %s: cannot claim it (%s); re-queued", job_id, e)
            self._requeue_later(job_id)
            return
        if claim is None:
            return  # another worker claimed it
        job.status, job.started_at, job.claim = "running", _iso(_now()), claim
        job.attempts += 1
        if kind is None:
            self._fail(job, f"Unknown job kind {job.kind!r}", None)
            return
        stop, lost = threading.Event(), threading.Event()
        beat = threading.Thread(
            target=self._heartbeat,
            args=(job_id, claim, stop, lost),
            daemon=True,
            name=f"tonearm-heartbeat-{job_id[:8]}",
        )
        beat.start()
        try:
            self._run_claimed(job, kind, lost)
        finally:
            stop.set()

    def _run_claimed(self, job: Job, kind: JobKind, lost: threading.Event) -> None:
        job_id, claim = job.id, job.claim
        deadline = time.monotonic() + kind.timeout_s
        last = [0.0]

        def progress(fraction: float) -> None:
            if lost.is_set():
                raise LeaseLost(job_id)
            if time.monotonic() > deadline:
                raise JobFailed(f"Request timed out after {kind.timeout_s / 60:g} minutes")
            now = time.monotonic()
            if now - last[0] >= 0.5 or fraction >= 1.0:  # throttle database writes
                last[0] = now
                f = max(0.0, min(1.0, float(fraction)))
                if not self._update(job_id, claim=claim, progress=f):
                    lost.set()
                    raise LeaseLost(job_id)

        try:
            result = kind.fn(self.catalog, job, progress)
            if time.monotonic() > deadline:
                raise JobFailed(f"Request timed out after {kind.timeout_s / 60:g} minutes")
        except LeaseLost:
            log.warning("job %s (%s): lease lost, result dropped", job_id, job.kind)
            return
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
        if not self._holds(job_id, claim):
            return  # failed or taken over meanwhile (watchdog): keep that verdict
        if kind.result_file:
            self._write_result(job_id, kind.result_file, result)
        self._update(
            job_id,
            claim=claim,
            status="succeeded",
            result=json.dumps(result),
            progress=1.0,
            finished_at=_iso(_now()),
            credit_cost=cost,
        )
        if job.webhook:
            self._deliver(job_id, job.webhook, result, job.key_id)

    def _holds(self, job_id: str, claim: str | None) -> bool:
        """Whether the execution with ``claim`` still holds the running job."""
        if claim is None:
            sql = "SELECT 1 FROM jobs WHERE job_id = ? AND status = 'running' AND claim IS NULL"
            return bool(self.catalog.store.execute(sql, (job_id,)))
        sql = "SELECT 1 FROM jobs WHERE job_id = ? AND status = 'running' AND claim = ?"
        return bool(self.catalog.store.execute(sql, (job_id, claim)))

    def _requeue_later(self, job_id: str) -> None:
        """Hand a task back to huey after a pause (its job could not be read)."""

        def later() -> None:
            time.sleep(min(5.0, self.lease_s))
            try:
                self._run_job(job_id)
            except Exception:
                log.exception("job %s: could not re-queue", job_id)

        threading.Thread(target=later, daemon=True).start()

    def _fail(self, job: Job, reason: str, kind: JobKind | None) -> bool:
        """Fail the job held by ``job.claim``; False if that execution no longer holds it."""
        if kind is not None and kind.failure_payload is not None:
            payload = kind.failure_payload(job, reason)
        else:
            payload = default_failure_payload(job, reason)
        if not self._holds(job.id, job.claim):
            return False  # already finished (timed out by the watchdog) or taken over
        if kind is not None and kind.result_file:
            self._write_result(job.id, kind.result_file, payload)
        done = self._update(
            job.id,
            claim=job.claim,
            status="failed",
            error=reason,
            result=json.dumps(payload),
            finished_at=_iso(_now()),
            credit_cost=0,  # failed requests are free (the seed)
        )
        if not done:
            return False
        log.info("job %s (%s) failed: %s", job.id, job.kind, reason)
        if job.webhook:
            self._deliver(job.id, job.webhook, payload, job.key_id)
        return True

    def _write_result(self, job_id: str, name: str, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        # atomic in every blob store: readers see the old file or the whole new one
        self.blobs.put(result_key(job_id, name), data, "application/json")
        if not is_data_dir(self.blobs, self.catalog.data_dir):  # this node's copy
            local = self.result_dir(job_id) / name
            local.parent.mkdir(parents=True, exist_ok=True)
            tmp = local.with_name(f".{name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(local)

    @property
    def blobs(self) -> BlobStore:
        return catalog_blobs(self.catalog)

    def result_path(self, job_id: str, name: str) -> Path | None:
        """A local file with result ``name`` of a job (``results_dir/<id>/<name>``), fetched
        from the blob store when it lives elsewhere (S3: another node wrote it); None when
        there is no such result. What ``GET /results/<requestId>/<name>`` serves."""
        if not is_job_id(job_id) or not name or "/" in name or name.startswith("."):
            return None
        local = self.result_dir(job_id) / name
        if is_data_dir(self.blobs, self.catalog.data_dir):
            return local if local.is_file() else None
        return local_copy(self.blobs, result_key(job_id, name), local)

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

    _UNCLAIMED = object()

    def _update(
        self, job_id: str, *, only_if: str | None = None, claim: Any = _UNCLAIMED, **cols: Any
    ) -> bool:
        """Set columns; with ``only_if``, only while the job has that status; with
        ``claim``, only while that execution holds the running job. True if set."""
        sets = ", ".join(f"{k} = ?" for k in cols)
        sql = f"UPDATE jobs SET {sets} WHERE job_id = ?"
        args = [*cols.values(), job_id]
        if only_if is not None:
            sql += " AND status = ?"
            args.append(only_if)
        if claim is not JobQueue._UNCLAIMED:
            if claim is None:
                sql += " AND status = 'running' AND claim IS NULL"
            else:
                sql += " AND status = 'running' AND claim = ?"
                args.append(claim)
        with self.catalog.store.transaction() as conn:
            return bool(conn.execute(sql, args).rowcount)

    # -- housekeeping -------------------------------------------------------------------
    def recover_stale(self, grace_s: float = 30.0) -> int:
        """Look after 'running' jobs nobody looks after; returns how many were changed.

        - past its time limit (+ ``grace_s``): failed with the timeout reason;
        - heartbeat older than the lease (its worker died): back in the queue, or failed
          with the reason after ``max_attempts`` tries.
        """
        n = 0
        now = _now()
        for job in self.list(status="running", limit=10_000):
            kind = _KINDS.get(job.kind)
            limit = kind.timeout_s if kind else DEFAULT_TIMEOUT_S
            started = _parse(job.started_at)
            beat = _parse(job.heartbeat_at) or started
            if started is None or now - started > timedelta(seconds=limit + grace_s):
                n += self._fail(job, f"Request timed out after {limit / 60:g} minutes", kind)
            elif beat is None or now - beat > timedelta(seconds=self.lease_s):
                n += self._recover_dead(job, kind, now - (beat or now))
        return n

    def _recover_dead(self, job: Job, kind: JobKind | None, silent: timedelta) -> int:
        if job.attempts >= self.max_attempts:
            reason = (
                f"The worker running this request stopped responding "
                f"(no heartbeat for {silent.total_seconds():.0f} s) on each of "
                f"{job.attempts} attempt(s)"
            )
            return int(self._fail(job, reason, kind))
        # back to the queue, only if nobody renewed or finished it in the meantime
        cond = "claim IS NULL" if job.claim is None else "claim = ?"
        args: list[Any] = [job.id] + ([] if job.claim is None else [job.claim])
        hb = "heartbeat_at IS NULL" if job.heartbeat_at is None else "heartbeat_at = ?"
        if job.heartbeat_at is not None:
            args.append(job.heartbeat_at)
        with self.catalog.store.transaction() as conn:
            moved = conn.execute(
                "UPDATE jobs SET status = 'queued', claim = NULL, heartbeat_at = NULL, "
                f"progress = 0 WHERE job_id = ? AND status = 'running' AND {cond} AND {hb}",
                args,
            ).rowcount
        if not moved:
            return 0
        log.warning(
            "job %s (%s): worker lost (no heartbeat for %.0f s), re-queued (attempt %d of %d)",
            job.id,
            job.kind,
            silent.total_seconds(),
            job.attempts + 1,
            self.max_attempts,
        )
        self._run_job(job.id)
        return 1

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
            delete_prefix(self.blobs, f"results/{r['job_id']}/")
            shutil.rmtree(self.result_dir(r["job_id"]), ignore_errors=True)
            with self.catalog.store.transaction() as conn:
                conn.execute("DELETE FROM jobs WHERE job_id = ?", (r["job_id"],))
            n += 1
        for r in self.catalog.store.execute(
            "SELECT token, path FROM uploads WHERE expires_at < ?", (now,)
        ):
            delete_upload(self.catalog, str(r["path"]))
            with self.catalog.store.transaction() as conn:
                conn.execute("DELETE FROM uploads WHERE token = ?", (r["token"],))
            n += 1
        return n


# Modules that register job kinds; a separate worker process imports them all.
JOB_MODULES = (
    "tonearm.catalog.bulk_jobs",
    "tonearm.editing.analyze_job",
    "tonearm.editing.export",
    "tonearm.recognition.enterprise",
)


def load_job_modules() -> None:
    """Import the modules that register job kinds (plus ``TONEARM_JOB_MODULES``, a
    comma-separated list of extra modules, for plug-ins and tests)."""
    import importlib

    extra = [m.strip() for m in os.environ.get("TONEARM_JOB_MODULES", "").split(",") if m.strip()]
    for name in (*JOB_MODULES, *extra):
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
