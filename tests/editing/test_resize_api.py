"""POST /resize and POST /loop in Audjust's wire format: sync answers, queued answers with a
webhook, credit cost, and bad inputs in the family's error format."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from demo_song import (
    StructuredSong,
    beat_chroma_similarity,
    render_structured_song,
)
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.editing.similarity import encode_similarity
from tonearm.jobs import get_queue


@pytest.fixture(scope="module")
def song() -> StructuredSong:
    return render_structured_song(sr=16000)


@pytest.fixture(scope="module")
def body(song: StructuredSong) -> dict[str, Any]:
    sim = beat_chroma_similarity(song.signal, song.boundaries_s)
    # the analyze service's encoding of an (N-1) x (N-1) matrix plus the end boundary
    return {
        "targetLengthSeconds": 41,
        "similarity": encode_similarity(sim),
        "boundaries": [round(float(x), 2) for x in song.boundaries_s],
    }


class Hook:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.event = threading.Event()
        hook = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", 0))
                hook.posts.append(json.loads(self.rfile.read(n)))
                self.send_response(200)
                self.end_headers()
                hook.event.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    yield h
    h.server.shutdown()


def _post(client: TestClient, key: str | None, path: str, body: Any) -> Any:
    headers = {"X-API-Key": key} if key else {}
    return client.post(path, json=body, headers=headers)


def test_resize_sync(client: TestClient, api_key: str, body: dict[str, Any]) -> None:
    r = _post(client, api_key, "/resize", body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert set(data) == {"requestId", "result", "success", "creditCost"}
    assert data["success"] is True
    assert data["creditCost"] == 4
    assert len(data["requestId"]) == 32 and data["requestId"].isalnum()
    res = data["result"]
    assert len(res) == 20
    for c in res:
        assert set(c) == {
            "dissimilarity",
            "blendedScore",
            "segmentsBeats",
            "segmentsSeconds",
            "durationSeconds",
        }
        assert c["blendedScore"] <= 0
        for (a, b), (sa, sb) in zip(c["segmentsBeats"], c["segmentsSeconds"], strict=True):
            assert sa == pytest.approx(body["boundaries"][a])
            assert sb == pytest.approx(body["boundaries"][b])
    assert [c["blendedScore"] for c in res] == sorted(
        (c["blendedScore"] for c in res), reverse=True
    )
    best = res[0]
    assert abs(best["durationSeconds"] - 41) <= 1.0  # two beats at 120 bpm
    assert best["segmentsBeats"][0][0] == 0
    assert best["segmentsBeats"][-1][1] == len(body["boundaries"]) - 1


def test_resize_with_webhook(
    client: TestClient, catalog: Catalog, api_key: str, body: dict[str, Any], hook: Hook
) -> None:
    r = _post(
        client, api_key, "/resize", {**body, "targetLengthSeconds": 105, "resultWebhook": hook.url}
    )
    assert r.status_code == 200, r.text
    q = r.json()
    assert q["success"] is True and q["message"] == "Request queued."
    rid = q["requestId"]
    assert q["resultUrl"].endswith(f"/results/{rid}/resize.json")
    job = get_queue(catalog).wait(rid, timeout_s=60)
    assert job.status == "succeeded", job.error
    assert hook.event.wait(30)
    posted = hook.posts[0]
    assert posted["requestId"] == rid and posted["success"] is True
    assert posted["creditCost"] == 8  # 105 s: two started minutes x 4
    assert len(posted["result"]) == 20
    assert abs(posted["result"][0]["durationSeconds"] - 105) <= 1.0
    # and the same result at the resultUrl
    got = client.get(q["resultUrl"].replace("http://testserver", ""))
    assert got.status_code == 200
    assert got.json()["result"] == posted["result"]


def test_loop_endpoint(client: TestClient, api_key: str, body: dict[str, Any]) -> None:
    r = _post(client, api_key, "/loop", {**body, "targetLengthSeconds": 8, "sampleRate": 48000})
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res
    best = res[0]
    assert best["loopStartSample"] == round(best["loopStartSeconds"] * 48000)
    assert best["loopEndSample"] == round(best["loopEndSeconds"] * 48000)
    assert abs(best["durationSeconds"] - 8) <= 1.0
    assert best["dissimilarity"] < 0.2
    # the same through /resize with "loop": true
    r2 = _post(client, api_key, "/resize", {**body, "targetLengthSeconds": 8, "loop": True})
    assert r2.json()["result"][0]["segmentsBeats"] == best["segmentsBeats"]


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"targetLengthSeconds": None}, 400, "Missing parameter: targetLengthSeconds"),
        ({"targetLengthSeconds": -5}, 400, "Invalid parameter: targetLengthSeconds"),
        ({"targetLengthSeconds": "30"}, 400, "Invalid parameter: targetLengthSeconds"),
        ({"targetLengthSeconds": 1e9}, 400, "Invalid parameter: targetLengthSeconds"),
        ({"similarity": None}, 400, "Missing parameter: similarity"),
        ({"similarity": "abc"}, 400, "Invalid parameter: similarity"),
        ({"similarity": {"data": "~~~", "min": 32, "max": 126}}, 400, "Invalid parameter: simil"),
        ({"similarity": {"data": "~", "min": 32}}, 400, "Missing parameter: similarity.max"),
        ({"similarity": {"data": "~", "min": 50, "max": 40}}, 400, "Invalid parameter: similarity"),
        ({"boundaries": None}, 400, "Missing parameter: boundaries"),
        ({"boundaries": [0, 1, "x"]}, 400, "Invalid parameter: boundaries"),
        ({"boundaries": [3, 2, 1]}, 400, "Invalid parameter: boundaries"),
        ({"resultWebhook": "ftp://example.com/x"}, 400, "Invalid parameter: resultWebhook"),
    ],
)  # fmt: skip
def test_resize_bad_inputs(
    client: TestClient,
    api_key: str,
    body: dict[str, Any],
    change: dict[str, Any],
    status: int,
    message: str,
) -> None:
    b = {**body, **change}
    b = {k: v for k, v in b.items() if v is not None}
    r = _post(client, api_key, "/resize", b)
    assert r.status_code == status
    data = r.json()
    assert data["success"] is False
    assert data["message"].startswith(message), data["message"]


def test_resize_similarity_length_mismatch(
    client: TestClient, api_key: str, body: dict[str, Any]
) -> None:
    b = {**body, "boundaries": body["boundaries"][:-5]}
    r = _post(client, api_key, "/resize", b)
    assert r.status_code == 400
    assert "Invalid parameter: similarity" in r.json()["message"]
    assert "boundaries need" in r.json()["message"]


def test_resize_auth_and_body(client: TestClient, api_key: str, body: dict[str, Any]) -> None:
    r = _post(client, None, "/resize", body)
    assert r.status_code == 401 and r.json() == {
        "success": False,
        "message": "Missing API key header",
    }
    r = _post(client, "nope", "/resize", body)
    assert r.status_code == 401 and r.json()["message"] == "Invalid API Key"
    r = client.post("/resize", content=b"{not json", headers={"X-API-Key": api_key})
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.post("/resize", json=[1, 2], headers={"X-API-Key": api_key})
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.get("/resize", headers={"X-API-Key": api_key})
    assert r.status_code == 405 and r.json()["message"] == "Invalid request method"


def test_loop_longer_than_song(client: TestClient, api_key: str, body: dict[str, Any]) -> None:
    r = _post(client, api_key, "/loop", {**body, "targetLengthSeconds": 500})
    assert r.status_code == 400
    assert r.json()["message"].startswith("Invalid parameter: targetLengthSeconds")


def test_tiny_song(client: TestClient, api_key: str) -> None:
    """Three boundaries: still an answer, never a crash."""
    sim = np.ones((3, 3))
    r = _post(
        client,
        api_key,
        "/resize",
        {
            "targetLengthSeconds": 1,
            "similarity": encode_similarity(sim),
            "boundaries": [0, 0.5, 1.0],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"]
