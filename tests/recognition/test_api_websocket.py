"""AudD's WebSocket: many binary messages sent without waiting, answers tagged by ``seq``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
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
