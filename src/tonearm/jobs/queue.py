"""The job system: our job records on top of huey's queue.

huey moves work to workers (which process runs what, when, retries of lost work); the
``jobs`` table holds what users see (status, progress, result, error, webhook delivery), so
results survive restarts and any process can answer ``GET /requests/{requestId}``.

The pieces:

- :mod:`tonearm.jobs.registry`: job kinds (``register_job``) and the modules declaring them;
- :mod:`tonearm.jobs.records`: the ``Job`` record, ids and timestamps (rows live in
  ``storage/jobs.py``);
- :mod:`tonearm.jobs.leases`: heartbeats and the verdict on a job whose worker went silent;
- :mod:`tonearm.jobs.worker`: huey (SQLite embedded, Redis with ``settings.queue_url``),
  consumer threads or a ``tonearm worker`` process, the watchdog;
- :mod:`tonearm.jobs.results`: result files, the failure payload, webhook delivery;
- this module: :class:`JobQueue`, which submits, executes and looks after jobs.

Tests: ``JobQueue.run_pending()`` runs everything queued in the calling thread, and
``JobQueue.wait()`` does so itself when no worker runs in this process.

Leases (see :mod:`tonearm.jobs.leases`) are set by ``settings.job_lease_s`` (30 s),
``job_heartbeat_s`` (5 s), ``job_max_attempts`` (3) and ``job_watchdog_s`` (5 s).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from huey import Huey, RedisHuey

from tonearm.jobs.leases import LeaseLost, stale_verdict, start_heartbeat
from tonearm.jobs.records import (
    STATUSES,
    Job,
    _iso,
    _now,
    _parse,
    clean_text,
    is_job_id,
    job_from_row,
    new_job_id,
)
from tonearm.jobs.registry import (
    _KINDS,
    DEFAULT_TIMEOUT_S,
    JobFailed,
    JobFn,
    JobKind,
    ProgressFn,
    job_kind,
    load_job_kinds,
    register_job,
    registered_kinds,
)
from tonearm.jobs.results import (
    default_failure_payload,
    delete_results,
    deliver_result,
    result_key,
    write_result,
)
from tonearm.jobs.results import result_dir as _result_dir
from tonearm.jobs.results import result_path as _result_path
from tonearm.jobs.uploads import delete_upload
from tonearm.jobs.worker import Workers, hourly, make_huey
from tonearm.storage.blobs import BlobStore, catalog_blobs
from tonearm.storage.records_protocol import RecordStore

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.jobs")

DEFAULT_RESULTS_TTL_DAYS = 30.0  # the seed: "stored for 30 days"


class JobQueue:
    """Submit jobs, run them on huey workers, persist their state, deliver webhooks."""

    # webhook retry schedule (seconds between attempts); tests shorten it
    webhook_backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    webhook_timeout_s: float = 10.0

    def __init__(self, catalog: Catalog, huey: Huey | None = None) -> None:
        self.catalog = catalog
        self.huey = huey or make_huey(catalog)
        self.workers = Workers(self)
        s = catalog.settings
        self.results_ttl_days = float(getattr(s, "results_ttl_days", DEFAULT_RESULTS_TTL_DAYS))
        self.lease_s = float(s.job_lease_s)
        self.heartbeat_s = min(float(s.job_heartbeat_s), self.lease_s / 3)
        self.max_attempts = max(1, int(s.job_max_attempts))
        self.watchdog_s = float(s.job_watchdog_s)

        queue = self

        @self.huey.task(name="tonearm.run_job")
        def run_job(job_id: str) -> None:
            queue.execute(job_id)

        @self.huey.periodic_task(hourly(), name="tonearm.cleanup")
        def cleanup() -> None:
            queue.cleanup_expired()

        self._run_job = run_job

    @property
    def store(self) -> RecordStore:
        return self.catalog.store

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
        self.store.insert_job(
            job_id,
            kind,
            params,
            webhook=webhook,
            key_id=key_id,
            created_at=_iso(now),
            expires_at=_iso(expires),
        )
        self._run_job(job_id)
        job = self.get(job_id)
        assert job is not None
        return job

    def get(self, job_id: str) -> Job | None:
        if not isinstance(job_id, str) or not is_job_id(job_id):
            return None
        row = self.store.get_job(job_id)
        return job_from_row(row) if row else None

    def list(
        self, *, key_id: int | None = None, status: str | None = None, limit: int = 50
    ) -> list[Job]:
        rows = self.store.list_jobs(key_id=key_id, status=status, limit=limit)
        return [job_from_row(r) for r in rows]

    def get_status(self, job_id: str) -> str | None:
        return self.store.job_status(job_id)

    def result_dir(self, job_id: str) -> Path:
        return _result_dir(self.catalog, job_id)

    def result_path(self, job_id: str, name: str) -> Path | None:
        """A local file with result ``name`` of a job (see :func:`results.result_path`)."""
        return _result_path(self.catalog, job_id, name)

    @property
    def blobs(self) -> BlobStore:
        return catalog_blobs(self.catalog)

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
            if not self.workers.running and self.inline_allowed:
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

    # -- workers (tonearm.jobs.worker) --------------------------------------------------
    def start_workers(self, n: int | None = None) -> None:
        """Start ``n`` consumer threads in this process (embedded mode). Idempotent."""
        self.workers.start(self.catalog.settings.workers if n is None else n)

    def stop_workers(self, timeout_s: float = 10.0) -> None:
        self.workers.stop(timeout_s)

    def start_watchdog(self, every_s: float | None = None) -> threading.Event:
        """Run the watchdog in a daemon thread; set the returned event to stop it."""
        return self.workers.start_watchdog(every_s)

    @property
    def workers_running(self) -> bool:
        return self.workers.running

    def run_worker(self, workers: int = 2, watchdog_s: float | None = None) -> None:
        """Blocking consumer for ``tonearm worker`` (see :meth:`Workers.run`)."""
        self.workers.run(workers, watchdog_s)

    # -- executing ----------------------------------------------------------------------
    def _claim(self, job_id: str) -> str | None:
        """Take a queued job: status running, a fresh claim token, attempts + 1."""
        claim = secrets.token_hex(8)
        return claim if self.store.claim_job(job_id, claim, _iso(_now())) else None

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
        kind = job_kind(job.kind, self.catalog)
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
            self._fail_safely(job, f"Unknown job kind {job.kind!r}", None)
            return
        stop, lost = start_heartbeat(
            self.store, job_id, claim, heartbeat_s=self.heartbeat_s, lease_s=self.lease_s
        )
        try:
            self._run_claimed(job, kind, lost)
        except Exception as e:  # finishing failed (a result that cannot be stored...)
            log.exception("job %s (%s): could not be finished", job_id, job.kind)
            self._fail_safely(job, f"Internal error while finishing: {type(e).__name__}", kind)
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
                if not self.store.set_job_progress(job_id, claim, f):
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
            write_result(self.catalog, job_id, kind.result_file, result)
        self.store.finish_job(
            job_id,
            claim,
            status="succeeded",
            result=result,
            finished_at=_iso(_now()),
            credit_cost=cost,
        )
        if job.webhook:
            self._deliver(job_id, job.webhook, result, job.key_id)

    def _holds(self, job_id: str, claim: str | None) -> bool:
        """Whether the execution with ``claim`` still holds the running job."""
        return self.store.job_held(job_id, claim)

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
        """Fail the job held by ``job.claim``; False if that execution no longer holds it.

        Whatever the job held (a reason or parameters with text that cannot be encoded),
        what is stored and sent is cleaned first (:func:`clean_text`), and a failure
        payload that cannot be built is replaced by the default one.
        """
        reason = clean_text(reason)
        try:
            if kind is not None and kind.failure_payload is not None:
                payload = kind.failure_payload(job, reason)
            else:
                payload = default_failure_payload(job, reason)
        except Exception:
            log.exception("job %s (%s): failure payload", job.id, job.kind)
            payload = {"requestId": job.id, "success": False, "message": reason, "creditCost": 0}
        payload = clean_text(payload)
        if not self._holds(job.id, job.claim):
            return False  # already finished (timed out by the watchdog) or taken over
        if kind is not None and kind.result_file:
            try:
                write_result(self.catalog, job.id, kind.result_file, payload)
            except Exception:  # the record below still tells the client why
                log.exception("job %s (%s): could not write its failure", job.id, job.kind)
        done = self.store.finish_job(
            job.id,
            job.claim,
            status="failed",
            error=reason,
            result=payload,
            finished_at=_iso(_now()),
            credit_cost=0,  # failed requests are free (the seed)
        )
        if not done:
            return False
        log.info("job %s (%s) failed: %s", job.id, job.kind, reason)
        if job.webhook:
            self._deliver(job.id, job.webhook, payload, job.key_id)
        return True

    def _fail_safely(self, job: Job, reason: str, kind: JobKind | None) -> bool:
        """:meth:`_fail`, and when even that raises, fail the record with a plain reason
        and the default payload (no result file, no kind hook). Never raises: the job
        ends failed now, or the watchdog tries again on its next pass."""
        try:
            return self._fail(job, reason, kind)
        except Exception:
            log.exception("job %s (%s): failing it raised; failing it plainly", job.id, job.kind)
        try:
            plain = {"requestId": job.id, "success": False, "message": reason, "creditCost": 0}
            payload = clean_text(plain)
            done = self.store.finish_job(
                job.id,
                job.claim,
                status="failed",
                error=clean_text(reason),
                result=payload,
                finished_at=_iso(_now()),
                credit_cost=0,
            )
            if done and job.webhook:
                self._deliver(job.id, clean_text(job.webhook), payload, job.key_id)
            return bool(done)
        except Exception:
            log.exception(
                "job %s (%s): could not be failed; the watchdog retries", job.id, job.kind
            )
            return False

    def _deliver(self, job_id: str, url: str, payload: dict[str, Any], key_id: int | None) -> None:
        try:
            deliver_result(
                self.catalog,
                job_id,
                url,
                payload,
                key_id,
                backoff_s=self.webhook_backoff_s,
                timeout_s=self.webhook_timeout_s,
            )
        except Exception:  # the job is finished either way; its webhook state says why
            log.exception("job %s: webhook delivery", job_id)

    # -- housekeeping -------------------------------------------------------------------
    def recover_stale(self, grace_s: float = 30.0) -> int:
        """Look after 'running' jobs nobody looks after; returns how many were changed.

        - past its time limit (+ ``grace_s``): failed with the timeout reason;
        - heartbeat older than the lease (its worker died): back in the queue, or failed
          with the reason after ``max_attempts`` tries.
        """
        n = 0
        now = _now()
        for row in self.store.list_jobs(status="running", limit=10_000):
            # one bad row (unreadable, or failing it raises) must not stop the others
            try:
                n += self._recover_one(job_from_row(row), now, grace_s)
            except Exception:
                log.exception("job watchdog: job %s", row.get("job_id"))
        return n

    def _recover_one(self, job: Job, now: Any, grace_s: float) -> int:
        kind = _KINDS.get(job.kind)
        limit = kind.timeout_s if kind else DEFAULT_TIMEOUT_S
        verdict, silent = stale_verdict(
            job, now, limit_s=limit, grace_s=grace_s, lease_s=self.lease_s
        )
        if verdict == "timeout":
            return int(
                self._fail_safely(job, f"Request timed out after {limit / 60:g} minutes", kind)
            )
        if verdict == "dead":
            return self._recover_dead(job, kind, silent)
        return 0

    def _recover_dead(self, job: Job, kind: JobKind | None, silent: timedelta) -> int:
        if job.attempts >= self.max_attempts:
            reason = (
                f"The worker running this request stopped responding "
                f"(no heartbeat for {silent.total_seconds():.0f} s) on each of "
                f"{job.attempts} attempt(s)"
            )
            return int(self._fail_safely(job, reason, kind))
        # back to the queue, only if nobody renewed or finished it in the meantime
        if not self.store.requeue_job(job.id, job.claim, job.heartbeat_at):
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
        for job_id in self.store.expired_jobs(now):
            delete_results(self.catalog, job_id)
            self.store.delete_job(job_id)
            n += 1
        for token, stored in self.store.expired_uploads(now):
            delete_upload(self.catalog, stored)
            self.store.delete_upload_record(token)
            n += 1
        return n


def get_queue(catalog: Catalog) -> JobQueue:
    """The job queue of this process for ``catalog`` (cached in ``catalog.cache``)."""
    q = catalog.cache.get("jobs.queue")
    if q is None:
        q = catalog.cache.setdefault("jobs.queue", JobQueue(catalog))
    return q


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "STATUSES",
    "Job",
    "JobFailed",
    "JobFn",
    "JobKind",
    "JobQueue",
    "LeaseLost",
    "ProgressFn",
    "_parse",
    "default_failure_payload",
    "get_queue",
    "is_job_id",
    "load_job_kinds",
    "new_job_id",
    "register_job",
    "registered_kinds",
    "result_key",
]
