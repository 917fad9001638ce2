"""AudD stream monitoring end to end: a local Icecast-like server streams an MP3 made of
catalog songs, the monitor recognizes it and POSTs one callback per song to a local
receiver; health notifications, reconnection, longpoll, and the stream methods' API."""

from __future__ import annotations

import hashlib
import http.server
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audd_testkit import SR, Receiver, build_catalog, fixture, serve, validate
from fastapi.testclient import TestClient

from tonearm.api.app import create_app
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.recognition.streams import MonitorConfig
from tonearm.settings import Settings

FAST = MonitorConfig(
    window_s=6.0,
    hop_s=2.0,
    min_hits=2,
    end_gap_s=6.0,
    no_music_s=6.0,
    timeout_s=5.0,
    backoff_initial_s=0.2,
    backoff_max_s=0.4,
)


def wait_for(pred: Callable[[], bool], timeout_s: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def once_server(body: bytes, content_type: str = "audio/mpeg") -> Any:
    """Streams ``body`` to the first listener, then answers 503 (the stream is down)."""

    class H(http.server.BaseHTTPRequestHandler):
        connections = 0

        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            type(self).connections += 1
            if type(self).connections > 1:
                self.send_response(503)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            try:
                for i in range(0, len(body), 8192):
                    self.wfile.write(body[i : i + 8192])
            except (BrokenPipeError, ConnectionResetError):
                pass

    return serve(H), H


@pytest.fixture(scope="module")
def radio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("streams") / "data"
    settings = Settings(data=data, allow_private_urls=True, decode_timeout_s=30)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    songs = build_catalog(
        catalog, [(41, 20.0, {"artist": "Radio A"}), (42, 20.0, {}), (43, 20.0, {})]
    )
    ids = list(songs.songs)
    mix = np.concatenate([songs.songs[i] for i in ids])
    mp3 = encode(Signal(mix, SR), "mp3_128")
    key, _ = create_key(catalog.store, "radio")
    yield {"catalog": catalog, "ids": ids, "mp3": mp3, "key": key}
    catalog.close()


@pytest.fixture(scope="module")
def app_client(radio: dict[str, Any]) -> Iterator[TestClient]:
    app = create_app(catalog=radio["catalog"])
    app.state.audd_stream_config = FAST
    app.state.audd_callback_backoff_s = (0.2,)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def client(radio: dict[str, Any], app_client: TestClient) -> Iterator[TestClient]:
    yield app_client
    k = radio["key"]
    for s in app_client.post("/getStreams/", data={"api_token": k}).json()["result"]:
        app_client.post("/deleteStream/", data={"api_token": k, "radio_id": s["radio_id"]})


def _songs(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if b.get("status") == "success"]


def _notes(bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for b in bodies if b.get("status") == "-"]


def test_monitor_posts_one_callback_per_song_with_play_length(
    radio: dict[str, Any], client: TestClient
) -> None:
    rec = Receiver()
    (stream_ctx, handler) = once_server(radio["mp3"])
    with serve(rec.handler()) as cb, stream_ctx as base:
        k = radio["key"]
        assert client.post(
            "/setCallbackUrl/", data={"api_token": k, "url": cb + "/hook?return=deezer"}
        ).json() == {"status": "success", "result": None}
        added = client.post(
            "/addStream/", data={"api_token": k, "url": base + "/live", "radio_id": 7}
        ).json()
        assert added == {"status": "success", "result": None}
        assert wait_for(lambda: len(_notes(rec.bodies)) >= 1 and len(_songs(rec.bodies)) >= 3)
        assert handler.connections >= 2  # it reconnected after the stream ended
    songs = _songs(rec.bodies)
    assert len(songs) == 3  # one per song played, not one per window
    titles = [b["result"]["results"][0]["title"] for b in songs]
    assert titles == ["Song 41", "Song 42", "Song 43"]
    for b in songs:
        validate(b, "StreamCallbackPayload")
        validate(b, "StreamCallbackResultEnvelope")
        r = b["result"]
        assert r["radio_id"] == 7
        assert abs(r["play_length"] - 20) <= 3, r
        assert 0 <= r["results"][0]["score"] <= 100
        assert len(r["timestamp"]) == 19
    assert songs[0]["result"]["results"][0]["artist"] == "Radio A"
    assert set(songs[0]) == set(fixture("streams_callback_with_result.json"))
    note = _notes(rec.bodies)[0]
    validate(note, "StreamCallbackNotification")
    assert note["notification"]["notification_code"] == 650
    assert note["notification"]["stream_running"] is False
    assert (
        note["notification"]["notification_message"]
        == fixture("streams_callback_with_notification.json")["notification"][
            "notification_message"
        ]
    )

    # the same events through longpoll, in order, each once
    category = client.post("/getStreams/", data={"api_token": k}).json()["result"][0][
        "longpoll_category"
    ]
    seen, since = [], 0
    while True:
        body = client.get(
            "/longpoll/", params={"category": category, "since_time": since, "timeout": 1}
        ).json()
        validate(body, "LongpollResponse")
        if "timeout" in body:
            break
        seen.append(body)
        since = body["timestamp"]
    kinds = ["song" if "result" in b else "note" for b in seen]
    assert kinds[:4] == ["song", "song", "song", "note"]


def test_callbacks_before_fire_at_song_start(radio: dict[str, Any], client: TestClient) -> None:
    rec = Receiver()
    (stream_ctx, _) = once_server(radio["mp3"])
    with serve(rec.handler()) as cb, stream_ctx as base:
        k = radio["key"]
        client.post("/setCallbackUrl/", data={"api_token": k, "url": cb + "/hook"})
        client.post(
            "/addStream/",
            data={"api_token": k, "url": base + "/live", "radio_id": 8, "callbacks": "before"},
        )
        assert wait_for(lambda: len(_songs(rec.bodies)) >= 3 and len(_notes(rec.bodies)) >= 1)
    songs = _songs(rec.bodies)
    assert [b["result"]["results"][0]["title"] for b in songs] == ["Song 41", "Song 42", "Song 43"]
    for b in songs:
        validate(b, "StreamCallbackResultEnvelope")
        assert "play_length" not in b["result"]


def test_no_music_and_cant_connect_notifications(radio: dict[str, Any], client: TestClient) -> None:
    rec = Receiver()
    rng = np.random.default_rng(0)
    hiss = encode(Signal((0.2 * rng.standard_normal(16 * SR)).astype(np.float32), SR), "mp3_128")
    (stream_ctx, _) = once_server(hiss)
    with serve(rec.handler()) as cb, stream_ctx as base:
        k = radio["key"]
        client.post("/setCallbackUrl/", data={"api_token": k, "url": cb + "/hook"})
        client.post("/addStream/", data={"api_token": k, "url": base + "/live", "radio_id": 9})
        client.post(
            "/addStream/", data={"api_token": k, "url": "http://127.0.0.1:9/x", "radio_id": 10}
        )
        assert wait_for(
            lambda: (
                {651, 650} <= {n["notification"]["notification_code"] for n in _notes(rec.bodies)}
            )
        )
        streams = client.post("/getStreams/", data={"api_token": k}).json()
    codes = [
        (n["notification"]["radio_id"], n["notification"]["notification_code"])
        for n in _notes(rec.bodies)
    ]
    assert (9, 651) in codes and (10, 650) in codes
    assert codes.count((10, 650)) == 1  # once per outage, not once per retry
    assert not _songs(rec.bodies)
    for n in _notes(rec.bodies):
        validate(n, "StreamCallbackNotification")
    validate(streams, "GetStreamsSuccessResponse")
    running = {s["radio_id"]: s["stream_running"] for s in streams["result"]}
    assert running[10] is False


def test_stream_methods_api(radio: dict[str, Any], tmp_path: Path) -> None:
    s = Settings(data=tmp_path / "d", allow_private_urls=False)
    s.ensure_dirs()
    c = Catalog.open(s)
    key, _ = create_key(c.store, "k")
    with TestClient(create_app(catalog=c)) as client:
        none = client.post("/getCallbackUrl/", data={"api_token": key}).json()
        expected = fixture("error_19_no_callback_url.json")
        assert none["error"] == expected["error"]
        assert none["request_api_method"] == "getCallbackUrl"
        validate(none, "ErrorResponse")

        def post(path: str, **data: Any) -> dict[str, Any]:
            body: dict[str, Any] = client.post(path, data={"api_token": key, **data}).json()
            return body

        assert post("/setCallbackUrl/", url="https://audd.tech/empty/")["status"] == "success"
        got = post("/getCallbackUrl/")
        validate(got, "GetCallbackUrlSuccessResponse")
        assert got["result"] == "https://audd.tech/empty/"
        assert post("/setCallbackUrl/", url="http://127.0.0.1/hook")["error"]["error_code"] == 600
        assert post("/setCallbackUrl/")["error"]["error_code"] == 50

        empty = post("/getStreams/")
        assert empty == fixture("getStreams_empty.json")
        ok = post("/addStream/", url="https://radio.example.invalid/live.mp3", radio_id=5)
        validate(ok, "StreamMutationSuccessResponse")
        listed = post("/getStreams/")
        validate(listed, "GetStreamsSuccessResponse")
        (st,) = listed["result"]
        inner = hashlib.md5(key.encode()).hexdigest()
        assert st["longpoll_category"] == hashlib.md5((inner + "5").encode()).hexdigest()[:9]
        assert st["radio_id"] == 5 and st["url"].endswith("live.mp3")

        bad = [
            (post("/addStream/", url="https://x.example/a"), 50),  # no radio_id
            (post("/addStream/", url="https://x.example/a", radio_id="x"), 50),
            (post("/addStream/", radio_id=6), 50),
            (post("/addStream/", url="http://10.0.0.1/live", radio_id=6), 600),
            (post("/addStream/", url="twitch:somebody", radio_id=6), 600),
            (post("/addStream/", url="https://x.example/a", radio_id=6, callbacks="after"), 50),
            (post("/setStreamUrl/", url="https://x.example/b", radio_id=99), 50),
            (post("/deleteStream/", radio_id=99), 50),
            (client.post("/addStream/", data={"api_token": "nope", "radio_id": 1}).json(), 900),
        ]
        for body, code in bad:
            validate(body, "ErrorResponse")
            assert body["error"]["error_code"] == code, body
        assert bad[-1][0]["error"]["error_message"].startswith("Adding a stream stream failed")

        assert post("/setStreamUrl/", url="https://x.example/b", radio_id=5)["status"] == "success"
        assert post("/getStreams/")["result"][0]["url"] == "https://x.example/b"
        # AudD's older style: /?method=...
        assert post("/", method="deleteStream", radio_id=5) == {"status": "success", "result": None}
        assert post("/getStreams/")["result"] == []

        t0 = time.monotonic()
        lp = client.get("/longpoll/", params={"category": "abcdefabc", "timeout": 1}).json()
        assert time.monotonic() - t0 >= 0.9
        validate(lp, "LongpollResponse")
        assert set(lp) == set(fixture("longpoll_no_events.json"))
        assert client.get("/longpoll/").json()["error"]["error_code"] == 50
    c.close()


def test_reconnects_with_backoff_and_reports_recovery(
    radio: dict[str, Any], client: TestClient
) -> None:
    """Down for the first two attempts: one 650, then 0 (healthy) once audio flows."""
    first_song = radio["mp3"][: len(radio["mp3"]) // 3]

    class Flaky(http.server.BaseHTTPRequestHandler):
        connections = 0

        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            type(self).connections += 1
            if type(self).connections <= 2 or type(self).connections > 3:
                self.send_response(503)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.end_headers()
            self.wfile.write(first_song)

    rec = Receiver()
    with serve(rec.handler()) as cb, serve(Flaky) as base:
        k = radio["key"]
        client.post("/setCallbackUrl/", data={"api_token": k, "url": cb + "/hook"})
        client.post("/addStream/", data={"api_token": k, "url": base + "/live", "radio_id": 11})
        assert wait_for(lambda: len(_songs(rec.bodies)) >= 1 and len(_notes(rec.bodies)) >= 3)
    codes = [n["notification"]["notification_code"] for n in _notes(rec.bodies)]
    assert codes[:3] == [650, 0, 650]
    assert _notes(rec.bodies)[1]["notification"]["stream_running"] is True
    assert Flaky.connections >= 4
    assert _songs(rec.bodies)[0]["result"]["results"][0]["title"] == "Song 41"
