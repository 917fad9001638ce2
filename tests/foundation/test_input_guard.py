"""The API's edge: invalid text is refused (400, AudD's error object for AudD) and
over-sized bodies get 413, before any router, database, job or log line sees them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tonearm.api.guard import BadText, check_json, check_text, check_urlencoded
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.settings import Settings

LONE = '{"query": "\\ud800 drums"}'  # JSON's escape for a lone UTF-16 surrogate


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[TestClient, str, Catalog]]:
    from tonearm.api.app import create_app

    s = Settings(
        data=tmp_path / "data",
        allow_private_urls=True,
        max_json_bytes=4096,
        json_body_limits={"/resize": 64 * 1024},
        max_upload_bytes=256 * 1024,
        rate_limits=False,
    )
    s.ensure_dirs()
    c = Catalog.open(s)
    key, _ = create_key(c.store, "t")
    with TestClient(create_app(catalog=c), raise_server_exceptions=False) as client:
        yield client, key, c
    c.close()


def test_check_text_pure() -> None:
    check_text("héllo 🎵", "x")
    check_text("nul\x00", "x")  # valid Unicode (routes cope with it)
    for bad in ("\ud800", "a\udfffb"):
        with pytest.raises(BadText):
            check_text(bad, "x")
    check_json(b'{"a": "\\ud83c\\udfb5"}')  # a valid surrogate PAIR is one character
    with pytest.raises(BadText):
        check_json(b'{"a": ["x", {"\\ud800": 1}]}')  # keys too
    with pytest.raises(BadText):
        check_json(b"[" * 100_000 + b"]" * 100_000)  # nesting: refused, not a crash
    check_json(b"not json")  # left to the route
    with pytest.raises(BadText):
        check_urlencoded(b"q=%ff%fe", "q")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/developer/v1/search", LONE),
        ("/developer/v1/search", '{"query": "x", "filters": {"genres": ["\\udc00"]}}'),
        ("/analyze", '{"sourceFileUrl": "https://example.com/\\ud800.mp3"}'),
        ("/analyze", '{"sourceFileUrl": "https://example.com/a.mp3", "features": ["\\ud800"]}'),
        ("/resize", '{"sourceFileUrl": "\\ud800", "targetLengthSeconds": 30}'),
    ],
)
def test_lone_surrogate_in_json_is_a_400_in_the_family_format(
    guarded: tuple[TestClient, str, Catalog], path: str, body: str
) -> None:
    client, key, catalog = guarded
    r = client.post(
        path, content=body, headers={"x-api-key": key, "content-type": "application/json"}
    )
    assert r.status_code == 400, r.text
    j = r.json()
    if path.startswith("/developer"):
        assert "Unicode" in j["error"]
    else:
        assert j["success"] is False and "Unicode" in j["message"]
    assert catalog.store.list_jobs(limit=10) == []  # nothing was queued


def test_audd_fields_get_audds_error_object(guarded: tuple[TestClient, str, Catalog]) -> None:
    client, key, _ = guarded
    cases = [
        client.post("/", content=f'{{"api_token": "{key}", "url": "\\ud800"}}',
                    headers={"content-type": "application/json"}),
        client.post(
            "/",
            content=b"api_token=" + key.encode() + b"&url=%ed%a0%80",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
        client.get("/?api_token=" + key + "&url=%ff"),
    ]  # fmt: skip
    for r in cases:
        assert r.status_code == 200
        body = r.json()
        assert body["status"] == "error" and body["error"]["error_code"] == 50, body


def test_multipart_text_field_is_checked_and_files_are_not(
    guarded: tuple[TestClient, str, Catalog],
) -> None:
    client, key, _ = guarded
    bad = client.post("/", files={"api_token": (None, key), "url": (None, b"http://x/\xff")})
    assert bad.json()["error"]["error_code"] == 50
    # a binary file part is not text: it goes on to recognition (which refuses non-audio)
    ok = client.post("/", data={"api_token": key}, files={"file": ("a.mp3", b"\xff\xfe\x00")})
    assert ok.json()["error"]["error_code"] != 50


def test_body_caps_per_route(guarded: tuple[TestClient, str, Catalog]) -> None:
    client, key, _ = guarded
    h = {"x-api-key": key, "content-type": "application/json"}
    big = '{"query": "' + "a" * 8000 + '"}'
    r = client.post("/developer/v1/search", content=big, headers=h)
    assert r.status_code == 413 and "limit 4096" in r.json()["error"]
    # chunked (no Content-Length): counted as it arrives
    r = client.post("/developer/v1/search", content=iter([big.encode()[:3000]] * 3), headers=h)
    assert r.status_code == 413
    # /resize has its own, larger cap: the body reaches the route (which wants more fields)
    r = client.post("/resize", content='{"similarity": "' + "x" * 20000 + '"}', headers=h)
    assert r.status_code == 400 and r.json()["success"] is False
    r = client.post("/resize", content='{"s": "' + "x" * 70000 + '"}', headers=h)
    assert r.status_code == 413 and r.json()["success"] is False
    # AudD: error 400 in a 200, for a streamed multipart body over the upload cap
    head = (
        f'--B\r\nContent-Disposition: form-data; name="api_token"\r\n\r\n{key}\r\n'
        '--B\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n'
    ).encode()
    r = client.post(
        "/",
        content=iter([head, *[b"\0" * 65536] * 8, b"\r\n--B--\r\n"]),
        headers={"content-type": "multipart/form-data; boundary=B"},
    )
    assert r.status_code == 200 and r.json()["error"]["error_code"] == 400


def _req(client: str, headers: dict[str, str]) -> Any:
    from starlette.requests import Request

    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": (client, 5000),
            "server": ("10.0.0.5", 8000),
            "scheme": "http",
        }
    )


def test_generated_urls_ignore_client_host_headers(tmp_path: Path) -> None:
    from tonearm.api.guard import request_base_url

    evil = {"Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil"}
    s = Settings(data=tmp_path, trusted_proxies=["192.168.7.0/24"])
    assert request_base_url(_req("203.0.113.9", evil), s) == "http://10.0.0.5:8000"
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "music.example.org"}
    assert request_base_url(_req("192.168.7.2", proxied), s) == "https://music.example.org"
    pub = Settings(data=tmp_path, public_url="https://tonearm.example/")
    assert request_base_url(_req("192.168.7.2", proxied), pub) == "https://tonearm.example"


def test_callback_url_must_resolve_and_be_public(guarded: tuple[TestClient, str, Catalog]) -> None:
    client, key, catalog = guarded
    catalog.settings.allow_private_urls = False
    for url in ("https://nothing.invalid/cb", "http://127.0.0.1:9/cb"):
        r = client.post("/", data={"api_token": key, "method": "setCallbackUrl", "url": url})
        assert r.json()["status"] == "error", (url, r.text)
    catalog.settings.private_allowlist = ["127.0.0.0/8"]
    r = client.post(
        "/", data={"api_token": key, "method": "setCallbackUrl", "url": "http://127.0.0.1:9/cb"}
    )
    assert r.json()["status"] == "success", r.text


def test_audd_base64_audio_in_a_urlencoded_body_is_not_capped_as_json(tmp_path: Path) -> None:
    from tonearm.api.guard import body_limit

    s = Settings(data=tmp_path, max_json_bytes=1000, recognize_max_bytes=10_000)
    form = "application/x-www-form-urlencoded"
    assert body_limit(s, "/search", "application/json", "audioscape") == 1000
    assert body_limit(s, "/", form, "audd") >= 14_000  # base64 of a 10 kB excerpt
    assert body_limit(s, "/upload", "", "audjust") == s.max_upload_bytes  # a raw file
