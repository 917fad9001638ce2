"""Scale-out end to end: two API processes and one worker process on PostgreSQL + Redis.

The catalog (one synthesized song) is ingested into PostgreSQL; API server A queues an
analyze that the worker runs and API server B reports; B queues an export whose webhook
arrives here and whose file A serves; A recognizes an excerpt. Rate limits are shared
through Redis: a key's budget spent on A is spent on B too.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TONEARM_TEST_REDIS_URL")

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Side:
    """A local HTTP server: serves files from a folder, records webhook POSTs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hooks: list[dict[str, Any]] = []
        side = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                p = side.root / self.path.lstrip("/")
                if not p.is_file():
                    self.send_response(404)
                    self.end_headers()
                    return
                data = p.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "audio/wav")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("content-length", "0"))
                side.hooks.append(json.loads(self.rfile.read(n) or b"{}"))
                self.send_response(200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if not PG_URL or not REDIS_URL:
        pytest.skip("needs TONEARM_TEST_POSTGRES_URL and TONEARM_TEST_REDIS_URL")
    import redis

    from tonearm.catalog.context import Catalog
    from tonearm.catalog.ingest import ingest_paths
    from tonearm.core.audio.encode import encode
    from tonearm.demo.synth.song import SongSpec, render_song
    from tonearm.platform.service import Platform
    from tonearm.settings import Settings

    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    sep = "&" if "?" in PG_URL else "?"
    db_url = f"{PG_URL}{sep}schema={schema}"
    # the job queue on its own Redis database and queue name, away from other runs
    base = REDIS_URL.rsplit("/", 1)[0]
    queue_db = random.randint(1, 15)
    queue_url = f"{base}/{queue_db}"
    data = tmp_path / "data"
    src = tmp_path / "src"
    src.mkdir()
    song, _, _ = render_song(SongSpec(style="rock", bpm=120, bars=16, seed=7), sr=22050)
    (src / "song.wav").write_bytes(encode(song, "wav"))
    excerpt = song.samples[:, 5 * song.sr : 13 * song.sr]
    (src / "excerpt.wav").write_bytes(encode(type(song)(excerpt, song.sr), "wav"))

    settings = Settings(data=data, database_url=db_url, allow_private_urls=True)
    catalog = Catalog.open(settings)
    summary = ingest_paths(catalog, [src / "song.wav"], kind="music")
    assert len(summary.added) == 1, summary.failed
    secret, _ = Platform(catalog).create_key("e2e", "free", rate_limit_per_min=40)
    catalog.close()

    env = {
        **os.environ,
        "TONEARM_DATABASE_URL": db_url,
        "TONEARM_QUEUE_URL": queue_url,
        "TONEARM_REDIS_URL": REDIS_URL,
        "TONEARM_ALLOW_PRIVATE_URLS": "true",
        "PYTHONUNBUFFERED": "1",
    }
    cli = [sys.executable, "-c", "from tonearm.cli import main; main()"]
    ports = [free_port(), free_port()]
    logs = [open(tmp_path / f"p{i}.log", "wb") for i in range(3)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [*cli, "serve", "--data", str(data), "--port", str(p), "--workers", "0"],
            env=env,
            stdout=logs[i],
            stderr=subprocess.STDOUT,
        )
        for i, p in enumerate(ports)
    ]
    procs.append(
        subprocess.Popen(
            [*cli, "worker", "--data", str(data), "--workers", "1"],
            env=env,
            stdout=logs[2],
            stderr=subprocess.STDOUT,
        )
    )
    side = Side(src)
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        deadline = time.monotonic() + 90
        for u in urls:
            while True:
                try:
                    if httpx.get(f"{u}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                    pytest.fail("servers did not start:\n" + _logs(tmp_path))
                time.sleep(0.5)
        yield {"a": urls[0], "b": urls[1], "key": secret, "side": side, "tmp": tmp_path}
    finally:
        side.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs:
            f.close()
        from tonearm.storage.postgres import PostgresStore

        PostgresStore(PG_URL, schema=schema).drop_schema()
        r = redis.Redis.from_url(queue_url)
        for name in r.scan_iter("huey*"):
            r.delete(name)


def _logs(tmp: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(tmp.glob("p*.log")))


def wait_for(fn: Any, timeout_s: float, what: str, tmp: Path) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}\n{_logs(tmp)}")


def test_two_api_servers_and_a_worker(cluster: dict[str, Any]) -> None:
    a, b, key, side, tmp = (
        cluster["a"],
        cluster["b"],
        cluster["key"],
        cluster["side"],
        cluster["tmp"],
    )
    h = {"X-API-Key": key}
    song_url = f"{side.url}/song.wav"

    # analyze: queued on A, run by the worker, reported by B
    r = httpx.post(f"{a}/analyze", json={"sourceFileUrl": song_url}, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    rid = r.json()["requestId"]

    def analyzed() -> Any:
        j = httpx.get(f"{b}/requests/{rid}", headers=h, timeout=10).json()
        return j if j.get("status") in ("succeeded", "failed") else None

    job = wait_for(analyzed, 180, "the analyze job", tmp)
    assert job["status"] == "succeeded", job
    res = httpx.get(f"{a}/results/{rid}/analysis.json", timeout=10).json()
    assert res["result"]["duration"] > 30 and res["result"]["tempo"] > 0
    assert len(res["result"]["boundaries"]) > 20

    # export: queued on B with a webhook; the file is served by A
    r = httpx.post(
        f"{b}/export",
        json={
            "sourceFileUrl": song_url,
            "segmentsGroups": [[[0.0, 4.0], [8.0, 12.0]]],
            "exportFormat": "wav",
            "resultWebhook": f"{side.url}/hook",
        },
        headers=h,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    hook = wait_for(lambda: side.hooks, 180, "the export webhook", tmp)[0]
    assert hook["success"] is True and len(hook["resultUrls"]) == 1, hook
    path = "/" + hook["resultUrls"][0].split("/", 3)[3]
    wav = httpx.get(f"{a}{path}", timeout=30)
    assert wav.status_code == 200 and wav.content[:4] == b"RIFF"

    # recognition on A
    with open(tmp / "src" / "excerpt.wav", "rb") as f:
        r = httpx.post(f"{a}/", data={"api_token": key}, files={"file": f}, timeout=60)
    body = r.json()
    assert body["status"] == "success" and body["result"], body
    assert 3.0 <= _timecode_s(body["result"]["timecode"]) <= 7.0

    # usage and limits are shared: requests made on A and B all show on either
    # (each server writes its usage rows every 0.5 s, so another server sees them shortly)
    def usage_with_all() -> Any:
        u = httpx.get(f"{b}/usage", headers=h, timeout=10).json()
        paths = {x["path"] for x in u["recentRequests"]}
        return u if {"/analyze", "/export", "/"} <= paths else None

    u = wait_for(usage_with_all, 10, "usage rows from both servers", tmp)
    assert any(j["requestId"] == rid and j["status"] == "succeeded" for j in u["recentJobs"])
    # one budget per key across servers (Redis): B's answer counts A's request
    for _ in range(3):
        ra = httpx.get(f"{a}/developer/v1/assets/1", headers=h, timeout=10)
        rb = httpx.get(f"{b}/developer/v1/assets/1", headers=h, timeout=10)
        assert ra.status_code == rb.status_code == 200
        if ra.headers["X-RateLimit-Reset"] == rb.headers["X-RateLimit-Reset"]:
            break  # same one-minute window (else a window ended in between: again)
    remaining_a = int(ra.headers["X-RateLimit-Remaining"])
    assert int(rb.headers["X-RateLimit-Remaining"]) == remaining_a - 1


def _timecode_s(tc: str) -> float:
    parts = [float(p) for p in tc.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))
