"""POST /export end to end: queued answer, files under /results, webhook payload, failures
map for groups that cannot be made, bad inputs in Audjust's format."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.jobs import get_queue

SR = 22050


class Server:
    """Serves ``files`` and records webhook POSTs."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.posts: list[dict[str, Any]] = []
        self.event = threading.Event()
        srv = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = srv.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                srv.posts.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()
                srv.event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.server.shutdown()


@pytest.fixture
def fast_webhooks(catalog: Catalog) -> None:
    get_queue(catalog).webhook_backoff_s = (0.05, 0.1)


def _song() -> Signal:
    """10 s: a 220 Hz tone in the first half, 330 Hz in the second, a beat every 0.5 s."""
    t = np.arange(10 * SR) / SR
    y = 0.3 * np.where(t < 5, np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t))
    y *= 0.7 + 0.3 * np.exp(-((t % 0.5) / 0.05))
    return Signal(np.stack([y, y]).astype(np.float32), SR)


def _export(client: TestClient, key: str, body: dict[str, Any]) -> Any:
    return client.post("/export", json=body, headers={"X-API-Key": key})


def _local(url: str) -> str:
    return url.replace("http://testserver", "")


@pytest.mark.usefixtures("fast_webhooks")
def test_export_flow_with_failures(
    client: TestClient, catalog: Catalog, api_key: str, server: Server
) -> None:
    server.files["/song.wav"] = encode(_song(), "wav")
    groups = [
        [[0.0, 2.0], [6.0, 8.5]],  # fine
        [[0.0, 2.0], [9.0, 14.0]],  # beyond the end (10 s)
        [[1.0, 3.0]],  # fine
    ]
    r = _export(
        client,
        api_key,
        {
            "resultWebhook": server.base + "/hook",
            "sourceFileUrl": server.base + "/song.wav",
            "exportFormat": "wav",
            "segmentsGroups": groups,
        },
    )
    assert r.status_code == 200, r.text
    q = r.json()
    rid = q["requestId"]
    assert q["success"] is True and q["message"] == "Request queued."
    assert q["resultUrls"] == [f"http://testserver/results/{rid}/export_{i}.wav" for i in (1, 2, 3)]
    job = get_queue(catalog).wait(rid, timeout_s=120)
    assert job.status == "succeeded", job.error
    assert server.event.wait(30)
    hook = server.posts[0]
    assert set(hook) == {
        "requestId",
        "sourceFileUrl",
        "resultUrls",
        "failures",
        "success",
        "creditCost",
    }
    assert hook["requestId"] == rid and hook["success"] is True
    assert hook["sourceFileUrl"] == server.base + "/song.wav"
    assert hook["resultUrls"] == q["resultUrls"]
    assert list(hook["failures"]) == [q["resultUrls"][1]]
    assert "beyond the end" in hook["failures"][q["resultUrls"][1]]
    assert hook["creditCost"] == 1
    # the files: sample-accurate WAVs at the source rate
    for url, segs in ((q["resultUrls"][0], groups[0]), (q["resultUrls"][2], groups[2])):
        got = client.get(_local(url))
        assert got.status_code == 200
        data, sr = sf.read(io.BytesIO(got.content), dtype="float32", always_2d=True)
        assert sr == SR
        assert data.shape[0] == sum(round(b * SR) - round(a * SR) for a, b in segs)
    assert client.get(_local(q["resultUrls"][1])).status_code == 404


@pytest.mark.usefixtures("fast_webhooks")
def test_export_mp3_and_loop(
    client: TestClient, catalog: Catalog, api_key: str, server: Server
) -> None:
    server.files["/song.wav"] = encode(_song(), "wav")
    r = _export(
        client,
        api_key,
        {
            "resultWebhook": server.base + "/hook",
            "sourceFileUrl": server.base + "/song.wav",
            "exportFormat": "mp3_320",
            "segmentsGroups": [[[1.0, 4.0]]],
            "loop": True,
        },
    )
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["resultUrls"][0].endswith("/export_1.mp3")
    job = get_queue(catalog).wait(q["requestId"], timeout_s=120)
    assert job.status == "succeeded", job.error
    got = client.get(_local(q["resultUrls"][0]))
    assert got.status_code == 200
    sig = decode(got.content, isolate=False)
    assert abs(sig.duration_s - 3.0) < 0.1  # mp3 adds its own padding


@pytest.mark.usefixtures("fast_webhooks")
def test_export_source_unavailable(
    client: TestClient, catalog: Catalog, api_key: str, server: Server
) -> None:
    r = _export(
        client,
        api_key,
        {
            "resultWebhook": server.base + "/hook",
            "sourceFileUrl": server.base + "/missing.wav",
            "exportFormat": "wav",
            "segmentsGroups": [[[0.0, 1.0]]],
        },
    )
    q = r.json()
    job = get_queue(catalog).wait(q["requestId"], timeout_s=60)
    assert job.status == "failed"
    assert server.event.wait(30)
    hook = server.posts[0]
    assert hook["success"] is False and hook["creditCost"] == 0
    assert hook["requestId"] == q["requestId"]
    assert list(hook["failures"]) == q["resultUrls"]


@pytest.mark.usefixtures("fast_webhooks")
def test_export_all_groups_fail(
    client: TestClient, catalog: Catalog, api_key: str, server: Server
) -> None:
    server.files["/song.wav"] = encode(_song(), "wav")
    r = _export(
        client,
        api_key,
        {
            "resultWebhook": server.base + "/hook",
            "sourceFileUrl": server.base + "/song.wav",
            "exportFormat": "wav",
            "segmentsGroups": [[[20.0, 30.0]], [[0.0, 5.0]]],
            "exactLengthSeconds": 8.0,  # 5 s cannot be stretched to 8 s (> 3 %)
        },
    )
    q = r.json()
    job = get_queue(catalog).wait(q["requestId"], timeout_s=60)
    assert job.status == "failed"
    assert server.event.wait(30)
    hook = server.posts[0]
    assert hook["success"] is False
    f = hook["failures"]
    assert "beyond the end" in f[q["resultUrls"][0]]
    assert "3%" in f[q["resultUrls"][1]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resultWebhook": None}, "Missing parameter: resultWebhook"),
        ({"resultWebhook": "not a url"}, "Invalid parameter: resultWebhook"),
        ({"sourceFileUrl": None}, "Missing parameter: sourceFileUrl"),
        ({"sourceFileUrl": "file:///etc/passwd"}, "Invalid parameter: sourceFileUrl"),
        ({"exportFormat": None}, "Missing parameter: exportFormat"),
        ({"exportFormat": "flac"}, "Invalid parameter: exportFormat"),
        ({"segmentsGroups": None}, "Missing parameter: segmentsGroups"),
        ({"segmentsGroups": []}, "Invalid parameter: segmentsGroups"),
        ({"segmentsGroups": [[]]}, "Invalid parameter: segmentsGroups"),
        ({"segmentsGroups": [[[0, 1, 2]]]}, "Invalid parameter: segmentsGroups"),
        ({"segmentsGroups": [[["0", 1]]]}, "Invalid parameter: segmentsGroups"),
        ({"segmentsGroups": [[[0, 1e9]]]}, "Invalid parameter: segmentsGroups"),
        ({"exactLengthSeconds": -1}, "Invalid parameter: exactLengthSeconds"),
        ({"loop": "yes"}, "Invalid parameter: loop"),
    ],
)
def test_export_bad_inputs(
    client: TestClient, api_key: str, change: dict[str, Any], message: str
) -> None:
    body: dict[str, Any] = {
        "resultWebhook": "http://127.0.0.1:9/hook",
        "sourceFileUrl": "https://example.com/song.mp3",
        "exportFormat": "mp3_128",
        "segmentsGroups": [[[0, 1]]],
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = _export(client, api_key, body)
    assert r.status_code == 400
    assert r.json()["success"] is False
    assert r.json()["message"].startswith(message), r.json()["message"]


def test_export_needs_key(client: TestClient) -> None:
    r = client.post("/export", json={})
    assert r.status_code == 401
    assert r.json() == {"success": False, "message": "Missing API key header"}
