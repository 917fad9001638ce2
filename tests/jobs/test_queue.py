"""The job system: submit, run deterministically, persist, fail with a reason, time out."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tonearm.catalog.context import Catalog
from tonearm.jobs import Job, JobFailed, get_queue, is_job_id, register_job
from tonearm.jobs.queue import JobQueue, registered_kinds


@register_job("test.echo", result_file="echo.json")
def _echo(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    progress(0.5)
    return {"requestId": job.id, "echo": job.params, "success": True, "creditCost": 3}


@register_job("test.fail")
def _fail(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    raise JobFailed("Could not download the source file")


@register_job("test.crash")
def _crash(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    raise ZeroDivisionError("boom")


@register_job("test.slow", timeout_s=0.05)
def _slow(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    for i in range(100):
        time.sleep(0.01)
        progress(i / 100)
    return {"success": True}


def test_submit_run_pending_and_result_file(catalog: Catalog) -> None:
    q = get_queue(catalog)
    assert get_queue(catalog) is q
    job = q.submit("test.echo", {"a": 1})
    assert is_job_id(job.id) and job.status == "queued"
    assert q.run_pending() == 1
    done = q.get(job.id)
    assert done is not None and done.status == "succeeded"
    assert done.result == {"requestId": job.id, "echo": {"a": 1}, "success": True, "creditCost": 3}
    assert done.credit_cost == 3 and done.progress == 1.0 and done.finished_at
    on_disk = json.loads((catalog.results_dir / job.id / "echo.json").read_text())
    assert on_disk == done.result


def test_ids_are_unique_lowercase_alnum(catalog: Catalog) -> None:
    q = get_queue(catalog)
    ids = {q.submit("test.echo", {}).id for _ in range(20)}
    assert len(ids) == 20 and all(is_job_id(i) for i in ids)
    assert q.get("NOT-AN-ID") is None and q.get("a" * 32) is None


def test_wait_runs_inline_without_workers(catalog: Catalog) -> None:
    q = get_queue(catalog)
    job = q.wait(q.submit("test.echo", {"b": 2}).id, timeout_s=10)
    assert job.status == "succeeded"


def test_clean_failure_keeps_reason_and_costs_nothing(catalog: Catalog) -> None:
    q = get_queue(catalog)
    job = q.wait(q.submit("test.fail", {"sourceFileUrl": "http://x/y.mp3"}).id, 10)
    assert job.status == "failed"
    assert job.error == "Could not download the source file"
    assert job.result == {
        "requestId": job.id,
        "sourceFileUrl": "http://x/y.mp3",
        "success": False,
        "message": "Could not download the source file",
        "creditCost": 0,
    }


def test_crash_fails_the_job_not_the_worker(catalog: Catalog) -> None:
    q = get_queue(catalog)
    bad = q.wait(q.submit("test.crash", {}).id, 10)
    assert bad.status == "failed" and "ZeroDivisionError" in (bad.error or "")
    good = q.wait(q.submit("test.echo", {}).id, 10)
    assert good.status == "succeeded"


def test_timeout_fails_the_job(catalog: Catalog) -> None:
    q = get_queue(catalog)
    job = q.wait(q.submit("test.slow", {}).id, 10)
    assert job.status == "failed" and "timed out" in (job.error or "")


def test_state_survives_restart(catalog: Catalog) -> None:
    q = get_queue(catalog)
    job = q.wait(q.submit("test.echo", {"c": 3}).id, 10)
    fresh = Catalog.open(catalog.settings)
    try:
        again = JobQueue(fresh).get(job.id)
        assert again is not None and again.status == "succeeded" and again.result == job.result
    finally:
        fresh.close()


def test_queued_job_survives_restart_and_runs_later(catalog: Catalog) -> None:
    job = get_queue(catalog).submit("test.echo", {"d": 4})
    fresh = Catalog.open(catalog.settings)
    try:
        q2 = JobQueue(fresh)
        assert q2.wait(job.id, 10).status == "succeeded"
    finally:
        fresh.close()


def test_background_workers(catalog: Catalog) -> None:
    q = get_queue(catalog)
    q.start_workers(2)
    try:
        assert q.workers_running
        ids = [q.submit("test.echo", {"i": i}).id for i in range(5)]
        jobs = [q.wait(i, 20) for i in ids]
        assert [j.status for j in jobs] == ["succeeded"] * 5
    finally:
        q.stop_workers()


def test_unknown_kind_is_refused(catalog: Catalog) -> None:
    assert "test.echo" in registered_kinds()
    with pytest.raises(KeyError):
        get_queue(catalog).submit("nope", {})


@register_job("test.hang", timeout_s=0.01)
def _hang(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    # never calls progress(): only the watchdog can time it out
    time.sleep(0.3)
    return {"success": True}


def test_watchdog_fails_a_job_stuck_past_its_limit(catalog: Catalog) -> None:
    import threading

    q = get_queue(catalog)
    job = q.submit("test.hang", {})
    t = threading.Thread(target=q.run_pending)
    t.start()
    deadline = time.monotonic() + 5
    while q.get_status(job.id) != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    assert q.recover_stale(grace_s=0.0) == 1
    t.join()
    done = q.get(job.id)
    assert done is not None and done.status == "failed"
    assert "timed out" in (done.error or "")  # the late result did not overwrite it


def test_cleanup_removes_expired_results(catalog: Catalog) -> None:
    q = get_queue(catalog)
    old = q.wait(q.submit("test.echo", {}).id, 10)
    fresh = q.wait(q.submit("test.echo", {}).id, 10)
    with catalog.store.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET expires_at = '2000-01-01T00:00:00.000Z' WHERE job_id = ?", (old.id,)
        )
    assert (catalog.results_dir / old.id / "echo.json").exists()
    assert q.cleanup_expired() == 1
    assert q.get(old.id) is None and not (catalog.results_dir / old.id).exists()
    assert q.get(fresh.id) is not None


def test_claimed_once(catalog: Catalog) -> None:
    q = get_queue(catalog)
    job = q.submit("test.echo", {})
    q.execute(job.id)
    first = q.get(job.id)
    q.execute(job.id)  # a duplicate delivery of the task does nothing
    assert q.get(job.id) == first
