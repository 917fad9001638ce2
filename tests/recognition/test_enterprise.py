"""AudD enterprise endpoint: every track of a long file, chunked AudD's way, plus the merged
view, its parameters, progress, and errors in the enterprise error shape."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from audd_testkit import SR, build_catalog, file_server, song, validate
from fastapi.testclient import TestClient

from tonearm.api.app import create_app
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.recognition.enterprise import ScanOptions, selected_chunks, timecode_from_url
from tonearm.settings import Settings

# three catalog songs played back to back, starting mid-song, plus 4 s of unknown noise
PLAN = [(21, 4.0, 26.0), (22, 0.0, 22.0), (23, 5.0, 25.0)]  # (seed, song from, song to)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("ent") / "data"
    settings = Settings(data=data, allow_private_urls=True, decode_timeout_s=60)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    songs = build_catalog(catalog, [(s, 30.0, {"artist": f"A{s}"}) for s, _, _ in PLAN])
    ids = list(songs.songs)
    parts, truth = [], []
    t = 0.0
    for aid, (_, a, b) in zip(ids, PLAN, strict=True):
        y = songs.songs[aid]
        parts.append(y[int(a * SR) : int(b * SR)])
        truth.append((aid, t, t + (b - a), a))
        t += b - a
    rng = np.random.default_rng(1)
    parts.append((0.05 * rng.standard_normal(4 * SR)).astype(np.float32))
    mix = np.concatenate(parts)
    mp3 = encode(Signal(mix, SR), "mp3_128")
    key, _ = create_key(catalog.store, "ent")
    with TestClient(create_app(catalog=catalog)) as client:
        yield {"client": client, "key": key, "mp3": mp3, "truth": truth, "ids": ids}
    catalog.close()


def _scan(env: dict[str, Any], **data: Any) -> dict[str, Any]:
    r = env["client"].post(
        "/enterprise/", data={"api_token": env["key"], **data}, files={"file": env["mp3"]}
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_enterprise_finds_every_track_with_start_and_end(env: dict[str, Any]) -> None:
    body = _scan(env)
    validate(body, "EnterpriseSuccessResponse")
    assert body["execution_time"].endswith(("ms", "s"))
    tracks = body["tracks"]
    assert [t["asset_id"] for t in tracks] == [aid for aid, *_ in env["truth"]]
    for t, (_, start, end, song_from) in zip(tracks, env["truth"], strict=True):
        assert abs(t["start_seconds"] - start) <= 1.5, (t, start)
        assert abs(t["end_seconds"] - end) <= 1.5, (t, end)
        assert abs(t["song_start_seconds"] - song_from) <= 1.5
        assert t["title"].startswith("Song ") and t["artist"].startswith("A")
        assert 0 <= t["score"] <= 100
    # AudD's chunks: 12 s each, MM:SS offsets, the song heard in each
    offsets = [c["offset"] for c in body["result"]]
    assert offsets[:3] == ["00:00", "00:12", "00:24"]
    first = body["result"][0]["songs"][0]
    assert first["title"] == tracks[0]["title"] and first["timecode"] in ("00:04", "00:05")
    assert "start_offset" not in first  # only with accurate_offsets
    # no chunk reports a song that was not playing in it
    for c in body["result"]:
        c0 = int(c["offset"][:2]) * 60 + int(c["offset"][3:])
        playing = {aid for aid, s, e, _ in env["truth"] if s < c0 + 12 and e > c0}
        titles = {f"Song {PLAN[env['ids'].index(a)][0]}" for a in playing}
        assert c["songs"][0]["title"] in titles


def test_enterprise_parameters(env: dict[str, Any]) -> None:
    limited = _scan(env, limit=2)
    assert [c["offset"] for c in limited["result"]] == ["00:00", "00:12"]
    skipped = _scan(env, skip_first_seconds=24, every=1, skip=1)
    assert [c["offset"] for c in skipped["result"]][:2] == ["00:24", "00:48"]
    accurate = _scan(env, accurate_offsets="true", limit=3)
    validate(accurate, "EnterpriseSuccessResponse")
    boundary = accurate["result"][1]["songs"]  # chunk 12-24: song 1 ends at 22 s
    s = boundary[0]
    assert 0 <= s["start_offset"] < s["end_offset"] <= 12000
    assert s["start_seconds"] >= 12 and s["end_seconds"] <= 24.5
    assert abs(s["end_seconds"] - 22.0) <= 1.5


def test_enterprise_csv_and_url(env: dict[str, Any]) -> None:
    with file_server({"/mix.mp3": env["mp3"]}) as base:
        r = env["client"].post(
            "/enterprise/",
            data={"api_token": env["key"], "url": f"{base}/mix.mp3", "response_type": "csv"},
        )
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows and rows[0]["offset"] == "00:00" and rows[0]["title"].startswith("Song")


def test_enterprise_progress_is_visible(env: dict[str, Any]) -> None:
    r = env["client"].post(
        "/enterprise/",
        data={"api_token": env["key"], "limit": 1},
        files={"file": env["mp3"]},
        headers={"X-Request-Id": "my-scan-1"},
    )
    assert r.json()["status"] == "success"
    one = env["client"].get("/enterprise/progress/my-scan-1", params={"api_token": env["key"]})
    job = one.json()["result"]
    assert job["status"] == "succeeded" and job["progress"] == 1.0
    listing = env["client"].get("/enterprise/progress/", params={"api_token": env["key"]})
    assert any(j["request_id"] == "my-scan-1" for j in listing.json()["result"])
    other = env["client"].get("/enterprise/progress/nope", params={"api_token": env["key"]})
    assert other.json()["error"]["error_code"] == 50


def test_enterprise_errors_use_requested_params(env: dict[str, Any]) -> None:
    c = env["client"]
    cases = [
        (c.post("/enterprise/", files={"file": env["mp3"]}), 901),
        (c.post("/enterprise/", data={"api_token": env["key"]}), 700),
        (c.post("/enterprise/", data={"api_token": env["key"]}, files={"file": b"junk" * 99}), 500),
        (c.post("/enterprise/", data={"api_token": env["key"], "limit": "x"}), 50),
        (c.post("/enterprise/", data={"api_token": env["key"], "url": "gopher://x"}), 600),
    ]
    for r, code in cases:
        body = r.json()
        validate(body, "ErrorResponse")
        assert body["error"]["error_code"] == code, body
        assert "requested_params" in body and "request_params" not in body
        assert "execution_time" in body


def test_chunk_selection_rules() -> None:
    assert selected_chunks(60, ScanOptions()) == [0, 1, 2, 3, 4]
    assert selected_chunks(60, ScanOptions(every=2, skip=1)) == [0, 1, 3, 4]
    assert selected_chunks(60, ScanOptions(limit=2, skip=1)) == [0, 2]
    assert selected_chunks(60, ScanOptions(skip_first_seconds=50)) == [0]
    assert selected_chunks(10, ScanOptions(skip_first_seconds=12)) == []
    assert timecode_from_url("https://youtu.be/x?t=1m30s") == 90
    assert timecode_from_url("https://x/y?start=42") == 42
    assert timecode_from_url("https://x/y") is None
    opts = ScanOptions.from_params({"use_timecode": "true", "url": "https://v.example/?t=75"})
    assert opts.skip_first_seconds == 75
    with pytest.raises(ValueError):
        ScanOptions.from_params({"every": "0"})
    assert song(1, 1.0).shape == (SR,)


def test_enterprise_progress_while_running(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tonearm.recognition import enterprise

    original = enterprise._scan_windows
    release = threading.Event()

    def slow_scan(*args: Any, **kw: Any) -> Any:
        threading.Event().wait(0.6)  # progress writes are throttled to one per 0.5 s
        kw["progress"](0.5)
        release.wait(30)
        return original(*args, **kw)

    monkeypatch.setattr(enterprise, "_scan_windows", slow_scan)
    out: dict[str, Any] = {}

    def run() -> None:
        out["body"] = _scan_with_id(env, "running-scan")

    th = threading.Thread(target=run)
    th.start()
    try:
        seen = None
        for _ in range(200):
            r = (
                env["client"]
                .get("/enterprise/progress/running-scan", params={"api_token": env["key"]})
                .json()
            )
            if r["status"] == "success" and r["result"]["status"] == "running":
                seen = r["result"]
                if seen["progress"] > 0.2:
                    break
            threading.Event().wait(0.1)
        assert seen is not None and 0.2 < seen["progress"] < 1.0
    finally:
        release.set()
        th.join(60)
    assert out["body"]["status"] == "success"


def _scan_with_id(env: dict[str, Any], request_id: str) -> dict[str, Any]:
    r = env["client"].post(
        "/enterprise/",
        data={"api_token": env["key"], "limit": 1},
        files={"file": env["mp3"]},
        headers={"X-Request-Id": request_id},
    )
    body: dict[str, Any] = r.json()
    return body
