"""AudD's WebSocket: many binary messages sent without waiting, answers tagged by ``seq``."""

from __future__ import annotations

import base64
import json

import pytest
from audd_testkit import build_catalog, excerpt, validate
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tonearm.catalog.context import Catalog


def test_websocket_pairs_answers_with_messages(
    catalog: Catalog, client: TestClient, api_key: str
) -> None:
    songs = build_catalog(catalog, [(61, 15.0, {}), (62, 15.0, {}), (63, 15.0, {})])
    ids = list(songs.songs)
    clips = [excerpt(songs.songs[i], 3.0 + 2 * n, 5.0) for n, i in enumerate(ids)]
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


def test_websocket_refuses_bad_tokens(client: TestClient) -> None:
    for path, code in (("/ws/", 901), ("/ws?api_token=nope", 900)):
        with client.websocket_connect(path) as ws:
            body = ws.receive_json()
            assert body["error"]["error_code"] == code
            validate(body, "ErrorResponse")
            with pytest.raises(WebSocketDisconnect):
                ws.receive_json()
