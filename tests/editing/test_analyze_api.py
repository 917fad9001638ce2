"""POST /analyze end to end: queue, job, webhook (signed), resultUrl, failures, errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.core.audio.encode import encode
from tonearm.demo.synth.basic import click_track
from tonearm.jobs import get_queue
from tonearm.jobs.webhooks import SIGNATURE_HEADER, webhook_secret


class Receiver:
    """A local HTTP server: serves ``files`` and records POSTed webhooks."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {}
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0  # answer 500 to this many webhook POSTs first
        self.event = threading.Event()
        rec = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                body, ctype = rec.files.get(self.path, (b"", ""))
                self.send_response(200 if ctype else 404)
                self.send_header("Content-Type", ctype or "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                if rec.fail_first > 0:
                    rec.fail_first -= 1
                    self.send_response(500)
                    self.end_headers()
                    return
                rec.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.end_headers()
                rec.event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def fast_webhooks(catalog: Catalog) -> None:
    q = get_queue(catalog)
    q.webhook_backoff_s = (0.05, 0.1)


BEATS = np.arange(0.5, 12.0, 60.0 / 120.0)


@pytest.fixture
def click_wav() -> bytes:
    return encode(click_track(BEATS, 12.5, 22050), "wav")


def _post(client: TestClient, key: str | None, body: Any) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return client.post("/analyze", json=body, headers=headers)


def test_analyze_end_to_end(
    client: TestClient,
    catalog: Catalog,
    api_key: str,
    receiver: Receiver,
    click_wav: bytes,
    fast_webhooks: None,
) -> None:
    receiver.files["/song.wav"] = (click_wav, "audio/wav")
    src = receiver.base + "/song.wav"
    r = _post(
        client,
        api_key,
        {
            "resultWebhook": receiver.base + "/hook",
            "sourceFileUrl": src,
            "features": ["raw_features"],
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True and body["message"] == "Request queued."
    rid = body["requestId"]
    assert re.fullmatch(r"[a-z0-9]{32}", rid)
    assert body["resultUrl"] == f"http://testserver/results/{rid}/analysis.json"

    job = get_queue(catalog).wait(rid, 60)
    assert job.status == "succeeded", job.error
    assert receiver.event.wait(10)
    headers, raw = receiver.posts[0]
    payload = json.loads(raw)
    assert set(payload) == {"requestId", "sourceFileUrl", "result", "success", "creditCost"}
    assert payload["requestId"] == rid and payload["sourceFileUrl"] == src
    assert payload["success"] is True and payload["creditCost"] == 15  # 12.5 s -> 1 min x 15
    res = payload["result"]
    assert abs(res["duration"] - 12.5) < 0.01
    assert abs(res["tempo"] - 120) <= 2
    n = len(res["boundaries"])
    assert res["boundaries"][0] == 0.0 and n >= 20
    assert len(res["similarity"]["data"]) == n * (n + 1) // 2
    assert len(res["features"]) == n and all(len(v) == 13 for v in res["features"])
    # signed with the key's secret
    key_id = job.key_id
    assert key_id is not None
    secret = webhook_secret(catalog, key_id).encode()
    expected = "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected

    # the same JSON at resultUrl
    got = client.get(f"/results/{rid}/analysis.json")
    assert got.status_code == 200 and got.json() == payload

    # status polling (extension)
    st = client.get(f"/requests/{rid}", headers={"X-API-Key": api_key}).json()
    assert st["status"] == "succeeded" and st["result"] == payload


def test_no_raw_features_costs_10_per_minute(
    client: TestClient, catalog: Catalog, api_key: str, receiver: Receiver, click_wav: bytes
) -> None:
    receiver.files["/a.wav"] = (click_wav, "audio/wav")
    r = _post(client, api_key, {"sourceFileUrl": receiver.base + "/a.wav", "features": []})
    job = get_queue(catalog).wait(r.json()["requestId"], 60)
    assert job.status == "succeeded"
    assert job.result is not None
    assert job.result["creditCost"] == 10 and "features" not in job.result["result"]


def test_not_audio_fails_with_reason_and_failure_webhook(
    client: TestClient,
    catalog: Catalog,
    api_key: str,
    receiver: Receiver,
    fast_webhooks: None,
) -> None:
    receiver.files["/notes.txt"] = (b"hello, this is not audio " * 100, "text/plain")
    receiver.fail_first = 1  # the first delivery fails; the retry gets through
    src = receiver.base + "/notes.txt"
    r = _post(client, api_key, {"resultWebhook": receiver.base + "/hook", "sourceFileUrl": src})
    rid = r.json()["requestId"]
    job = get_queue(catalog).wait(rid, 60)
    assert job.status == "failed" and "not audio" in (job.error or "")
    assert receiver.event.wait(10)
    payload = json.loads(receiver.posts[0][1])
    assert payload["requestId"] == rid and payload["success"] is False
    assert payload["sourceFileUrl"] == src and "not audio" in payload["message"]
    assert get_queue(catalog).get(rid).webhook_attempts == 2  # type: ignore[union-attr]
    got = client.get(f"/results/{rid}/analysis.json")
    assert got.status_code == 200 and got.json()["success"] is False


def test_unreachable_url_fails(
    client: TestClient, catalog: Catalog, api_key: str, receiver: Receiver
) -> None:
    r = _post(client, api_key, {"sourceFileUrl": receiver.base + "/missing.mp3"})
    job = get_queue(catalog).wait(r.json()["requestId"], 60)
    assert job.status == "failed" and "retrieve" in (job.error or "")
    r = _post(client, api_key, {"sourceFileUrl": "ftp://example.com/x.mp3"})
    job = get_queue(catalog).wait(r.json()["requestId"], 60)
    assert job.status == "failed" and "retrieve" in (job.error or "")


def test_errors(client: TestClient, api_key: str) -> None:
    r = _post(client, None, {"sourceFileUrl": "http://x/y.mp3"})
    assert r.status_code == 401 and r.json() == {
        "success": False,
        "message": "Missing API key header",
    }
    r = _post(client, "ta_wrong", {"sourceFileUrl": "http://x/y.mp3"})
    assert r.status_code == 401 and r.json() == {"success": False, "message": "Invalid API Key"}
    r = _post(client, api_key, {"resultWebhook": "http://127.0.0.1/h"})
    assert r.status_code == 400
    assert r.json() == {"success": False, "message": "Missing parameter: sourceFileUrl"}
    r = _post(client, api_key, {"sourceFileUrl": "http://x/y.mp3", "features": ["nope"]})
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid parameter: features")
    r = client.post("/analyze", content=b"{not json", headers={"X-API-Key": api_key})
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.post("/analyze", content=b"[1, 2]", headers={"X-API-Key": api_key})
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.get("/analyze", headers={"X-API-Key": api_key})
    assert r.status_code == 405
    assert r.json() == {"success": False, "message": "Invalid request method"}


def test_private_webhook_refused_when_guard_is_on(
    client: TestClient, catalog: Catalog, api_key: str
) -> None:
    catalog.settings.allow_private_urls = False
    try:
        r = _post(
            client,
            api_key,
            {"sourceFileUrl": "http://example.com/a.mp3", "resultWebhook": "http://127.0.0.1:9/h"},
        )
    finally:
        catalog.settings.allow_private_urls = True
    assert r.status_code == 400 and "resultWebhook" in r.json()["message"]


def test_results_404(client: TestClient) -> None:
    for path in ("/results/" + "a" * 32 + "/analysis.json", "/results/nope/analysis.json"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["success"] is False


def test_upload_gives_a_source_url(
    client: TestClient, catalog: Catalog, api_key: str, click_wav: bytes
) -> None:
    r = client.post(
        "/upload",
        files={"file": ("my song.wav", click_wav, "audio/wav")},
        headers={"X-API-Key": api_key},
    )
    assert r.status_code == 200, r.text
    url = r.json()["sourceFileUrl"]
    assert url.startswith("http://testserver/uploads/") and url.endswith("/my_song.wav")
    assert client.get(url.removeprefix("http://testserver")).content == click_wav
    rid = _post(client, api_key, {"sourceFileUrl": url}).json()["requestId"]
    job = get_queue(catalog).wait(rid, 60)
    assert job.status == "succeeded", job.error
    r = client.post("/upload", files={"file": ("a.wav", click_wav, "audio/wav")})
    assert r.json() == {"success": False, "message": "Missing API key header"}
    r = client.post("/upload", headers={"X-API-Key": api_key})
    assert r.status_code == 400 and r.json()["message"] == "Missing parameter: file"


def test_audd_style_upload_goes_to_audd(client: TestClient) -> None:
    r = client.post("/upload", data={"api_token": "x", "audio_id": "1"}, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("/upload/")


def test_expired_result_is_404(
    client: TestClient, catalog: Catalog, api_key: str, receiver: Receiver, click_wav: bytes
) -> None:
    receiver.files["/e.wav"] = (click_wav, "audio/wav")
    rid = _post(client, api_key, {"sourceFileUrl": receiver.base + "/e.wav"}).json()["requestId"]
    assert get_queue(catalog).wait(rid, 60).status == "succeeded"
    assert client.get(f"/results/{rid}/analysis.json").status_code == 200
    with catalog.store.transaction() as conn:
        conn.execute(
            "UPDATE jobs SET expires_at = '2000-01-01T00:00:00.000Z' WHERE job_id = ?", (rid,)
        )
    r = client.get(f"/results/{rid}/analysis.json")
    assert r.status_code == 404 and r.json()["success"] is False


def test_results_cannot_escape_their_folder(
    client: TestClient, catalog: Catalog, api_key: str, receiver: Receiver, click_wav: bytes
) -> None:
    receiver.files["/t.wav"] = (click_wav, "audio/wav")
    rid = _post(client, api_key, {"sourceFileUrl": receiver.base + "/t.wav"}).json()["requestId"]
    get_queue(catalog).wait(rid, 60)
    for name in ("..%2F..%2Ftonearm.db", "%2e%2e/%2e%2e/tonearm.db", ".analysis.json.tmp"):
        r = client.get(f"/results/{rid}/{name}")
        assert r.status_code == 404, name
    # another key cannot read this request's status
    from tonearm.catalog.keys import create_key

    other, _ = create_key(catalog.store, "other")
    assert client.get(f"/requests/{rid}", headers={"X-API-Key": other}).status_code == 404


def test_upload_hostile_name_and_size(
    client: TestClient, catalog: Catalog, api_key: str, click_wav: bytes
) -> None:
    r = client.post(
        "/upload",
        files={"file": ("../../etc/pass wd.wav", click_wav, "audio/wav")},
        headers={"X-API-Key": api_key},
    )
    assert r.status_code == 200 and r.json()["sourceFileUrl"].endswith("/pass_wd.wav")
    catalog.settings.max_upload_bytes = 1000
    try:
        r = client.post(
            "/upload",
            files={"file": ("big.wav", click_wav, "audio/wav")},
            headers={"X-API-Key": api_key},
        )
    finally:
        catalog.settings.max_upload_bytes = 200 * 1024 * 1024
    assert r.status_code == 413 and r.json()["success"] is False
    assert client.get("/uploads/" + "a" * 32 + "/x.wav").status_code == 404
