"""The web UI's own endpoints: page and static files, auth, Range on audio, waveform,
analysis, render and recognize, bad inputs."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tonearm.catalog.context import Catalog
from tonearm.demo.catalog import build_demo_catalog


@pytest.fixture
def demo(catalog: Catalog, client: TestClient, api_key: str) -> tuple[TestClient, str]:
    build_demo_catalog(catalog, limit=1)
    return client, api_key


def _first(client: TestClient, key: str, kind: str) -> dict:
    r = client.get(f"/ui/api/assets?kind={kind}&limit=1", headers={"x-api-key": key})
    assert r.status_code == 200
    return r.json()["assets"][0]


def test_page_and_static(client: TestClient) -> None:
    r = client.get("/ui/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "/ui/static/app.js" in r.text
    assert client.get("/ui/static/app.js").status_code == 200
    assert client.get("/ui/static/..%2Fapi%2Frouters%2Fweb.py").status_code == 404
    assert client.get("/ui/static/nope.js").status_code == 404
    r = client.get("/ui/assets/12", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"].endswith("#/asset/12")


def test_auth_errors(client: TestClient) -> None:
    r = client.get("/ui/api/facets")
    assert r.status_code == 401 and "error" in r.json()
    r = client.get("/ui/api/assets/1/audio", headers={"x-api-key": "wrong"})
    assert r.status_code == 401 and r.json() == {"error": "Invalid API key"}
    r = client.post("/ui/api/session", headers={"x-api-key": "wrong"})
    assert r.status_code == 401 and "set-cookie" not in r.headers


def test_audio_cookie_keeps_the_key_out_of_urls(demo: tuple[TestClient, str]) -> None:
    client, key = demo
    sid = _first(client, key, "music")["asset_id"]
    url = f"/ui/api/assets/{sid}/audio"
    client.cookies.clear()
    # a key in the query string is not a credential: it would end up in logs and history
    assert client.get(f"{url}?key={key}").status_code == 401
    r = client.post("/ui/api/session", headers={"x-api-key": key})
    assert r.status_code == 204
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui/api" in cookie
    assert client.get(url).status_code == 200  # what <audio src> does: cookie, no header
    # the cookie authorises reads only; a state-changing request must carry the header
    r = client.post(f"/ui/api/assets/{sid}/render", json={"segments": [[0, 2]], "format": "wav"})
    assert r.status_code == 401
    assert client.delete("/ui/api/session").status_code == 204
    client.cookies.clear()
    assert client.get(url).status_code == 401


def test_browse_audio_waveform_analysis_render_recognize(demo: tuple[TestClient, str]) -> None:
    client, key = demo
    h = {"x-api-key": key}
    f = client.get("/ui/api/facets", headers=h).json()
    assert f["music"]["total"] >= 1 and f["sfx"]["categories"]
    cat = f["sfx"]["categories"][0]["name"]
    r = client.get(f"/ui/api/assets?kind=sfx&category={cat}", headers=h).json()
    assert r["assets"] and all(a["category"] == cat for a in r["assets"])
    assert client.get("/ui/api/assets?kind=tape", headers=h).status_code == 400
    assert client.get("/ui/api/assets?limit=abc", headers=h).status_code == 400

    song = _first(client, key, "music")
    sid = song["asset_id"]
    full = client.get(f"/ui/api/assets/{sid}/audio", headers=h)
    assert full.status_code == 200 and full.headers["content-type"].startswith("audio/")
    part = client.get(f"/ui/api/assets/{sid}/audio", headers={**h, "range": "bytes=10-109"})
    assert part.status_code == 206
    assert part.content == full.content[10:110]
    assert part.headers["content-range"] == f"bytes 10-109/{len(full.content)}"
    assert client.get("/ui/api/assets/999999/audio", headers=h).status_code == 404
    assert client.get("/ui/api/assets/abc/audio", headers=h).status_code == 404

    w = client.get(f"/ui/api/assets/{sid}/waveform?points=200", headers=h).json()
    assert len(w["peaks"]) == 200 and abs(w["duration"] - song["duration"]) < 0.1
    assert all(-1.5 <= lo <= hi <= 1.5 for lo, hi in w["peaks"])  # resampling may overshoot

    an = client.get(f"/ui/api/assets/{sid}/analysis", headers=h).json()
    beats = an["beats"]
    assert len(beats["boundaries"]) > 8 and beats["similarity"]["data"]

    r = client.post(
        f"/ui/api/assets/{sid}/render",
        headers=h,
        json={"segments": [[0, 3], [6, 9]], "format": "wav"},
    )
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content)) as wf:
        assert 5.0 < wf.getnframes() / wf.getframerate() < 6.5
    for bad in ({"segments": []}, {"segments": [[3, 1]]}, {"segments": [[0, 1]], "format": "ogg"}):
        assert client.post(f"/ui/api/assets/{sid}/render", headers=h, json=bad).status_code == 400

    # an excerpt of the song is recognized, with its timecode
    excerpt = client.post(
        f"/ui/api/assets/{sid}/render", headers=h, json={"segments": [[8, 16]], "format": "wav"}
    ).content
    m = client.post("/ui/api/recognize", headers=h, files={"file": ("x.wav", excerpt)}).json()
    assert m["matches"][0]["asset"]["asset_id"] == sid
    assert abs(m["matches"][0]["offset_s"] - 8) < 1.0 and m["matches"][0]["score"] > 50
    noise = client.post(
        "/ui/api/recognize", headers=h, files={"file": ("x.txt", b"not audio at all")}
    )
    assert noise.status_code == 400 and "error" in noise.json()
    empty = client.post("/ui/api/recognize", headers=h, files={"file": ("x.wav", b"")})
    assert empty.status_code == 400
    assert np.isfinite(m["matches"][0]["score"])
