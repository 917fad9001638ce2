"""Job leases: how a dead worker's job is noticed.

The execution that claims a job gets a random ``claim`` token and renews the job's
``heartbeat_at`` every ``heartbeat_s`` from a small thread (:func:`keep_lease`). The
watchdog puts a ``running`` job whose heartbeat is older than ``lease_s`` back in the
queue, or fails it once it has been tried ``max_attempts`` times (:func:`stale_verdict`
says which). Every write of an execution is fenced by its claim, and an execution that
cannot renew its lease stops at its next ``progress()`` call, so a job is never finished
twice and a late result never overwrites the one of the worker that took over.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Literal

from tonearm.jobs.records import Job, _iso, _now, _parse
from tonearm.storage.records_protocol import RecordStore

log = logging.getLogger("tonearm.jobs")


class LeaseLost(Exception):
    """This execution no longer holds the job (the watchdog gave it to another worker)."""


def keep_lease(
    store: RecordStore,
    job_id: str,
    claim: str,
    stop: threading.Event,
    lost: threading.Event,
    *,
    heartbeat_s: float,
    lease_s: float,
) -> None:
    """Renew the lease until ``stop``; set ``lost`` when it is gone (taken over or
    finished by someone else) or could not be renewed for a whole lease."""
    last_ok = time.monotonic()
    while not stop.wait(heartbeat_s):
        try:
            if not store.renew_job_lease(job_id, claim, _iso(_now())):
                lost.set()
                return
            last_ok = time.monotonic()
        except Exception as e:  # database away: keep trying until the lease is over
            if time.monotonic() - last_ok > lease_s:
                log.warning("job %s: lease not renewed for %.0f s (%s)", job_id, lease_s, e)
                lost.set()
                return


def start_heartbeat(
    store: RecordStore, job_id: str, claim: str, *, heartbeat_s: float, lease_s: float
) -> tuple[threading.Event, threading.Event]:
    """Start :func:`keep_lease` in a daemon thread; returns (stop, lost)."""
    stop, lost = threading.Event(), threading.Event()
    threading.Thread(
        target=keep_lease,
        args=(store, job_id, claim, stop, lost),
        kwargs={"heartbeat_s": heartbeat_s, "lease_s": lease_s},
        daemon=True,
        name=f"tonearm-heartbeat-{job_id[:8]}",
    ).start()
    return stop, lost


Verdict = Literal["timeout", "dead"] | None


def stale_verdict(
    job: Job, now: datetime, *, limit_s: float, grace_s: float, lease_s: float
) -> tuple[Verdict, timedelta]:
    """What to do with a ``running`` job: ``"timeout"`` (past its time limit + grace),
    ``"dead"`` (no heartbeat for longer than the lease), or None; and how long it has
    been silent."""
    started = _parse(job.started_at)
    beat = _parse(job.heartbeat_at) or started
    silent = now - (beat or now)
    if started is None or now - started > timedelta(seconds=limit_s + grace_s):
        return "timeout", silent
    if beat is None or silent > timedelta(seconds=lease_s):
        return "dead", silent
    return None, silent
