"""Poison jobs: whatever goes wrong while running or finishing a job, it ends failed with a
reason and its webhook is sent; the watchdog survives any single bad row."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tonearm.catalog.context import Catalog
from tonearm.jobs import Job, JobFailed, register_job
from tonearm.jobs.queue import JobQueue
from tonearm.jobs.records import clean_text

BAD = "sourceFileUrl https://example.com/\ud800.mp3"  # a lone surrogate: cannot be UTF-8


@register_job("test.poison_reason", result_file="analysis.json")
def _poison_reason(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    raise JobFailed(f"Could not download {job.params.get('url')}")


@register_job("test.poison_result", result_file="analysis.json")
def _poison_result(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    return {"success": True, "title": "\udcff"}  # writing this result raises


@register_job("test.poison_payload")
def _poison_payload_fn(catalog: Catalog, job: Job, progress: Any) -> dict[str, Any]:
    raise JobFailed("boom")


def _broken_payload(job: Job, reason: str) -> dict[str, Any]:
    raise RuntimeError("the failure payload hook itself is broken")


register_job("test.poison_hook", failure_payload=_broken_payload)(_poison_payload_fn)


@pytest.fixture
def hook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}/hook", got
    srv.shutdown()


def test_clean_text() -> None:
    assert clean_text({"a\ud800": ["x\x00y", 1, None]}) == {"a\ufffd": ["xy", 1, None]}
    assert clean_text("ok é") == "ok é"


@pytest.mark.parametrize("kind", ["test.poison_reason", "test.poison_result", "test.poison_hook"])
def test_poison_job_ends_failed_with_its_webhook(
    catalog: Catalog, hook: tuple[str, list[dict[str, Any]]], kind: str
) -> None:
    url, got = hook
    q = JobQueue(catalog)
    q.webhook_backoff_s = ()
    # as a job from the CLI or an old row could hold it: text that cannot be encoded
    job = q.submit(kind, {"url": BAD}, webhook=url)
    q.run_pending()
    done = q.get(job.id)
    assert done is not None and done.status == "failed", done
    assert done.error and "\ud800" not in done.error
    assert done.webhook_status == "delivered"
    assert len(got) == 1 and got[0]["success"] is False and got[0]["requestId"] == job.id
    # nothing left running for the watchdog
    assert q.recover_stale(grace_s=0.0) == 0


def test_watchdog_survives_a_bad_row(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    q = JobQueue(catalog)
    q.lease_s = 0.0  # every running job is stale at once
    q.max_attempts = 1
    bad = q.submit("test.poison_payload", {})
    good = q.submit("test.poison_payload", {})
    for j in (bad, good):  # claimed by a worker that then died
        assert q._claim(j.id)
    real_finish = catalog.store.finish_job

    def finish(job_id: str, *a: Any, **kw: Any) -> bool:
        if job_id == bad.id:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        return real_finish(job_id, *a, **kw)

    monkeypatch.setattr(catalog.store, "finish_job", finish)
    q.recover_stale(grace_s=0.0)  # must not raise
    g = q.get(good.id)
    assert g is not None and g.status == "failed"
    # once the row can be written, the next pass ends the bad one too
    monkeypatch.setattr(catalog.store, "finish_job", real_finish)
    assert q.recover_stale(grace_s=0.0) == 1
    b = q.get(bad.id)
    assert b is not None and b.status == "failed" and "stopped responding" in (b.error or "")
