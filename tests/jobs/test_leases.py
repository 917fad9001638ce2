"""Job leases: a job whose worker dies is re-queued (or failed after N attempts), never stuck,
never finished twice.

In process: a lease that expires while its execution is still alive is taken back; that
execution stops at its next ``progress()`` call and its result is dropped. Across processes:
a ``tonearm worker`` killed with SIGKILL mid-job leaves a running job that another worker
finishes (SQLite + huey's SQLite queue; PostgreSQL + Redis when their URLs are set).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tonearm.catalog.context import Catalog
from tonearm.jobs import Job, register_job
from tonearm.jobs.queue import JobQueue
from tonearm.settings import Settings

PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TONEARM_TEST_REDIS_URL")

_runs: list[str] = []  # "start"/"done"/"dropped" per execution of test.lease
_gate = threading.Event()


@register_job("test.lease")
def _lease_job(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    _runs.append("start")
    try:
        while not _gate.wait(0.02):
            progress(0.5)  # raises LeaseLost once the lease was taken back
        progress(1.0)
    except BaseException:
        _runs.append("dropped")
        raise
    _runs.append("done")
    return {"success": True, "run": len([r for r in _runs if r == "start"])}


def _wait(pred: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = pred()
        if out:
            return out
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _quiet_queue(catalog: Catalog) -> JobQueue:
    """A queue whose executions never renew their lease (as if their worker froze)."""
    q = JobQueue(catalog)
    q.lease_s, q.heartbeat_s = 0.3, 3600.0
    return q


def test_expired_lease_is_requeued_and_the_old_execution_is_fenced(catalog: Catalog) -> None:
    _runs.clear()
    _gate.clear()
    q = _quiet_queue(catalog)
    job = q.submit("test.lease", {})
    first = threading.Thread(target=q.run_pending, args=(1,))
    first.start()
    _wait(lambda: q.get_status(job.id) == "running", 10, "the first execution")
    time.sleep(0.4)  # no heartbeat for longer than the lease
    assert q.recover_stale() == 1
    again = q.get(job.id)
    assert again is not None and again.status == "queued" and again.attempts == 1
    first.join(10)  # the first execution noticed at its next progress() call and stopped
    assert not first.is_alive() and _runs == ["start", "dropped"]
    assert q.get_status(job.id) == "queued"  # its late write changed nothing
    _gate.set()
    q.heartbeat_s = 0.05  # the second execution is healthy
    assert q.run_pending() == 1
    done = q.get(job.id)
    assert done is not None and done.status == "succeeded"
    assert done.attempts == 2 and done.result == {"success": True, "run": 2}
    assert _runs == ["start", "dropped", "start", "done"]


def test_a_live_lease_is_left_alone(catalog: Catalog) -> None:
    _runs.clear()
    _gate.clear()
    q = JobQueue(catalog)
    q.lease_s, q.heartbeat_s = 1.0, 0.05
    job = q.submit("test.lease", {})
    t = threading.Thread(target=q.run_pending, args=(1,))
    t.start()
    try:
        _wait(lambda: q.get_status(job.id) == "running", 10, "the execution")
        time.sleep(1.3)  # longer than the lease, but the heartbeat renews it
        assert q.recover_stale() == 0 and q.get_status(job.id) == "running"
    finally:
        _gate.set()
        t.join(10)
    done = q.get(job.id)
    assert done is not None and done.status == "succeeded" and done.attempts == 1


def test_fails_with_the_reason_after_max_attempts(catalog: Catalog) -> None:
    q = JobQueue(catalog)
    q.max_attempts = 2
    job = q.submit("test.lease", {"sourceFileUrl": "http://x/y.wav"})
    old = "2000-01-01T00:00:00.000Z"
    for attempt in (1, 2):
        with catalog.store.transaction() as conn:  # a worker claimed it, then died
            conn.execute(
                "UPDATE jobs SET status = 'running', claim = ?, attempts = ?, "
                "started_at = ?, heartbeat_at = ? WHERE job_id = ?",
                (f"dead{attempt}", attempt, q.get(job.id).created_at, old, job.id),  # type: ignore[union-attr]
            )
        assert q.recover_stale() == 1
    done = q.get(job.id)
    assert done is not None and done.status == "failed" and done.attempts == 2
    assert "stopped responding" in (done.error or "") and "2 attempt" in (done.error or "")
    assert done.result is not None and done.result["success"] is False
    assert done.result["message"] == done.error and done.credit_cost == 0
    assert q.recover_stale() == 0  # failed once, not again


# -- across processes: kill -9 a worker mid-job -------------------------------------------------
# a third-party plugin, installed the way one is: its distribution declares a ``tonearm``
# entry point (here a bare dist-info directory on the workers' PYTHONPATH)
JOB_MODULE = """
import os, time
from pathlib import Path
from tonearm.hookspecs import hookimpl
from tonearm.jobs import register_job
from tonearm.jobs.queue import registered_kinds

@hookimpl
def tonearm_job_kinds():
    return [registered_kinds()["test.crashy"]]

@register_job("test.crashy")
def crashy(catalog, job, progress):
    marks = Path(job.params["marks"])
    (marks / f"start-{os.getpid()}").touch()
    if job.params.get("hang") or not (marks / "first").exists():
        (marks / "first").touch()
        while True:  # the first execution never ends: its worker gets killed
            time.sleep(0.05)
            progress(0.5)
    return {"success": True, "pid": os.getpid()}
"""


def _backend(name: str, tmp_path: Path) -> Iterator[tuple[dict[str, str], Settings]]:
    """(environment of the worker processes, settings of this process): the same leases,
    queue name, database and queue in both."""
    queue_name = f"t{uuid.uuid4().hex[:10]}"
    env = {
        "TONEARM_JOB_LEASE_S": "2",
        "TONEARM_JOB_HEARTBEAT_S": "0.3",
        "TONEARM_JOB_WATCHDOG_S": "0.5",
        "TONEARM_QUEUE_NAME": queue_name,
    }
    base = Settings(
        data=tmp_path / "data",
        queue_name=queue_name,
        job_lease_s=2.0,
        job_heartbeat_s=0.3,
        job_watchdog_s=0.5,
    )
    if name == "sqlite":
        yield env, base
        return
    if not PG_URL or not REDIS_URL:
        pytest.skip("needs TONEARM_TEST_POSTGRES_URL and TONEARM_TEST_REDIS_URL")
    import redis

    from tonearm.storage.postgres import PostgresStore

    schema = f"lease_{uuid.uuid4().hex[:10]}"
    env["TONEARM_DATABASE_URL"] = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
    env["TONEARM_QUEUE_URL"] = REDIS_URL
    try:
        yield (
            env,
            base.model_copy(
                update={"database_url": env["TONEARM_DATABASE_URL"], "queue_url": REDIS_URL}
            ),
        )
    finally:
        PostgresStore(PG_URL, schema=schema).drop_schema()
        r = redis.Redis.from_url(REDIS_URL)
        for k in r.scan_iter(f"huey*{queue_name}*"):
            r.delete(k)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres+redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backend(request: Any, tmp_path: Path) -> Iterator[tuple[dict[str, str], Settings]]:
    yield from _backend(request.param, tmp_path)


def _worker(env: dict[str, str], tmp_path: Path, settings: Settings, n: int) -> subprocess.Popen:
    log = open(tmp_path / f"worker{n}.log", "wb")  # noqa: SIM115
    cmd = [sys.executable, "-c", "from tonearm.cli import main; main()", "worker"]
    return subprocess.Popen(
        [*cmd, "--data", str(settings.data), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize("max_attempts", [3, 1])
def test_worker_killed_mid_job(
    backend: tuple[dict[str, str], Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    max_attempts: int,
) -> None:
    extra, settings = backend
    (tmp_path / "leasejobs.py").write_text(textwrap.dedent(JOB_MODULE))
    dist = tmp_path / "leasejobs-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: leasejobs\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[tonearm]\nleasejobs = leasejobs\n")
    marks = tmp_path / "marks"
    marks.mkdir()
    env = {
        **os.environ,
        **extra,
        "TONEARM_JOB_MAX_ATTEMPTS": str(max_attempts),
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    settings = settings.model_copy(update={"job_max_attempts": max_attempts})
    monkeypatch.syspath_prepend(str(tmp_path))
    import leasejobs  # noqa: F401  (registers test.crashy here too, for the failure payload)

    catalog = Catalog.open(settings)
    procs: list[subprocess.Popen] = []
    try:
        q = JobQueue(catalog)
        job = q.submit("test.crashy", {"marks": str(marks)})
        procs.append(_worker(env, tmp_path, settings, 1))
        _wait(lambda: list(marks.glob("start-*")), 60, "the first worker to start the job")
        assert q.get_status(job.id) == "running"
        procs[0].send_signal(signal.SIGKILL)  # mid-job, no chance to clean up
        procs[0].wait(10)
        procs.append(_worker(env, tmp_path, settings, 2))
        done = _wait(
            lambda: (j := q.get(job.id)) is not None and j.done and j, 60, "the job to finish"
        )
        if max_attempts > 1:
            assert done.status == "succeeded", done.error
            assert done.result["pid"] == procs[1].pid and done.attempts == 2
        else:
            assert done.status == "failed" and done.attempts == 1
            assert "stopped responding" in (done.error or "")
        starts = sorted(p.name for p in marks.glob("start-*"))
        assert len(starts) == (2 if max_attempts > 1 else 1)  # ran once per attempt
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        catalog.close()
        sys.modules.pop("leasejobs", None)
