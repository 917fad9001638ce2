"""Operations: tonearm's log lines appear with the request id (text or JSON), /metrics
exposes requests, latency, queue, jobs, indexes and streams, /readyz checks the database,
the queue and the indexes, and `serve --http-workers` runs worker processes."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tonearm.api.ops import configure_logging
from tonearm.cli.core import settings_env
from tonearm.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back for other tests."""
    names = ("tonearm", "uvicorn", "uvicorn.error", "uvicorn.access", "huey")
    saved = {
        n: (list(lg.handlers), lg.propagate, lg.level, lg.disabled)
        for n in names
        for lg in [logging.getLogger(n)]
    }
    yield
    for n, (handlers, propagate, level, disabled) in saved.items():
        lg = logging.getLogger(n)
        lg.handlers[:] = handlers
        lg.propagate, lg.level, lg.disabled = propagate, level, disabled


def test_log_lines_carry_the_request_id_as_json(client: TestClient, settings: Settings) -> None:
    buf = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "json"}), stream=buf)
    r = client.get("/healthz", headers={"x-request-id": "req-abc"})
    assert r.status_code == 200
    logging.getLogger("tonearm.jobs").info("a job line")
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    api = [x for x in lines if x["logger"] == "tonearm.api" and "/healthz" in x["message"]]
    assert api and api[0]["request_id"] == "req-abc" and api[0]["level"] == "info"
    assert any(x["logger"] == "tonearm.jobs" and x["message"] == "a job line" for x in lines)


def test_text_log_format(settings: Settings) -> None:
    buf = io.StringIO()
    configure_logging(settings, stream=buf)
    logging.getLogger("tonearm.webhooks").warning("delivery failed")
    assert "WARNING tonearm.webhooks [-] delivery failed" in buf.getvalue()


def test_metrics(client: TestClient, api_key: str) -> None:
    client.post("/developer/v1/similar", headers={"x-api-key": api_key}, json={})
    client.get("/nope")
    text = client.get("/metrics").text
    assert (
        'tonearm_http_requests_total{family="audioscape",route="/developer/v1/similar",'
        'status="400"} 1.0' in text
    )
    assert 'route="unmatched",status="404"' in text
    assert "tonearm_http_request_duration_seconds_bucket" in text
    for name in ("tonearm_queue_depth", "tonearm_assets", "tonearm_active_streams"):
        assert name in text


def test_readyz(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {
        "database": "ok",
        "queue": "ok",
        "fingerprint_index": "ok",
        "vector_index": "ok",
    }


def test_serve_runs_http_worker_processes(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "TONEARM_WORKERS": "0"}
    cmd = [sys.executable, "-c", "from tonearm.cli import main; main()", "serve"]
    cmd += ["--data", str(tmp_path / "d")]
    cmd += ["--port", str(port), "--http-workers", "2", "--log-format", "json"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        out = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
        pids = {int(p) for p in out.stdout.split()}
        assert len(pids) >= 2, out.stdout  # uvicorn's worker processes
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_settings_env_recreates_the_settings(tmp_path: Path) -> None:
    s = Settings(data=tmp_path, http_workers=3, log_format="json")
    env = settings_env(s)
    assert env["TONEARM_HTTP_WORKERS"] == "3" and env["TONEARM_LOG_FORMAT"] == "json"
