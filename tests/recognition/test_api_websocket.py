"""AudD's WebSocket: many binary messages sent without waiting, answers tagged by ``seq``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from audd_testkit import build_catalog, excerpt, validate
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tonearm.api.app import create_app
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.settings import Settings


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, Any]]:
    settings = Settings(data=tmp_path_factory.mktemp("ws") / "data", decode_timeout_s=30)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    songs = build_catalog(catalog, [(61, 15.0, {}), (62, 15.0, {}), (63, 15.0, {})])
    key, _ = create_key(catalog.store, "ws")
    with TestClient(create_app(catalog=catalog)) as client:
        yield client, key, songs
    catalog.close()


def test_websocket_pairs_answers_with_messages(env: tuple[TestClient, str, Any]) -> None:
    client, api_key, songs = env
    ids = list(songs.songs)
    clips = [excerpt(songs.songs[i], 3.0 + 2 * n, 9.0) for n, i in enumerate(ids)]
    with client.websocket_connect(f"/ws/?api_token={api_key}&return=deezer") as ws:
        for c in clips:
            ws.send_bytes(c)
        ws.send_bytes(b"definitely not audio" * 20)
        ws.send_text(json.dumps({"id": "mine", "audio": base64.b64encode(clips[1]).decode()}))
        answers = [ws.receive_json() for _ in range(5)]
    by_seq = {a["seq"]: a for a in answers}
    assert sorted(by_seq) == [0, 1, 2, 3, 4]
    for n in range(3):
        a = by_seq[n]
        validate({k: v for k, v in a.items() if k != "seq"}, "RecognizeSuccessResponse")
        assert a["result"]["title"] == songs.titles[ids[n]]
        assert a["result"]["timecode"] in (f"00:0{2 + 2 * n}", f"00:0{3 + 2 * n}")
    assert by_seq[3]["status"] == "error" and by_seq[3]["error"]["error_code"] == 500
    validate({k: v for k, v in by_seq[3].items() if k != "seq"}, "ErrorResponse")
    assert by_seq[4]["id"] == "mine" and by_seq[4]["result"]["title"] == songs.titles[ids[1]]


def test_websocket_refuses_bad_tokens(env: tuple[TestClient, str, Any]) -> None:
    client = env[0]
    for path, code in (("/ws/", 901), ("/ws?api_token=nope", 900)):
        with client.websocket_connect(path) as ws:
            body = ws.receive_json()
            assert body["error"]["error_code"] == code
            validate(body, "ErrorResponse")
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()


def test_websocket_messages_count_against_the_rate_limit(tmp_path: Path) -> None:
    """Each audio message is one request for the key's per-minute limit, shared with HTTP:
    over it, the message gets AudD's #902 tagged with its seq, and the socket stays open."""
    from tonearm.platform.ratelimit import MemoryRateLimiter
    from tonearm.platform.service import Platform

    settings = Settings(data=tmp_path / "data", decode_timeout_s=30)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    songs = build_catalog(catalog, [(71, 15.0, {})])
    (aid,) = songs.songs
    clip = excerpt(songs.songs[aid], 2.0, 9.0)
    # one fixed minute, so the window cannot roll over in the middle of the test
    platform = Platform(catalog, limiter=MemoryRateLimiter(clock=lambda: 1_800_000_000.0))
    catalog.cache["platform"] = platform
    key, rec = platform.create_key("ws-limited", rate_limit_per_min=3)
    try:
        with TestClient(create_app(catalog=catalog)) as client:
            with client.websocket_connect(f"/ws/?api_token={key}") as ws:
                for _ in range(5):
                    ws.send_bytes(clip)
                answers = [ws.receive_json() for _ in range(5)]
                ws.send_text(json.dumps({"id": "later", "audio": base64.b64encode(clip).decode()}))
                late = ws.receive_json()  # the socket is still open, and still limited
            http = client.post("/", data={"api_token": key}, files={"file": clip}).json()
            usage = platform.report(rec)
        by_seq = {a["seq"]: a for a in answers}
        assert sorted(by_seq) == [0, 1, 2, 3, 4]
        for n in (0, 1, 2):  # admitted in arrival order
            assert by_seq[n]["status"] == "success"
            assert by_seq[n]["result"]["title"] == songs.titles[aid]
        for a in (by_seq[3], by_seq[4], late):
            body = {k: v for k, v in a.items() if k not in ("seq", "id")}
            validate(body, "ErrorResponse")
            assert a["error"]["error_code"] == 902
            assert "limit was reached" in a["error"]["error_message"]
            assert a["request_api_method"] == "recognize"
            assert a["request_params"]["api_token"] != key  # masked, as over HTTP
        assert late["id"] == "later" and late["seq"] == 5
        # the same shape as an HTTP recognize over the limit (the budget is shared)
        assert http["error"]["error_code"] == 902
        assert set(http) == set(by_seq[3]) - {"seq"}
        assert set(http["error"]) == set(by_seq[3]["error"])
        # answered messages cost a credit each, refused ones nothing
        ws_rows = [r for r in usage["recentRequests"] if r["endpoint"] == "/ws/"]
        assert sorted((r["outcome"], r["credits"]) for r in ws_rows) == [
            ("ok", 1),
            ("ok", 1),
            ("ok", 1),
            ("rate_limited", 0),
            ("rate_limited", 0),
            ("rate_limited", 0),
        ]
    finally:
        catalog.close()
