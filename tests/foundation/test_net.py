"""SSRF guard, size limit and timeout of URL fetching, against servers on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tonearm.core.audio.errors import AudioError
from tonearm.net.fetch import UnsafeURL, fetch_bytes, guard_url

PAYLOAD = b"RIFF" + b"x" * 5000


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/chunked-big":
            # no Content-Length: the limit must hold while streaming
            self.send_response(200)
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"y" * 1000)
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        elif self.path == "/redirect-meta":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost/",
        "http://[::1]/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/",
        "http://2130706433/",  # 127.0.0.1 as an integer
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@example.com/",
        "",
        "not a url",
    ],
)
def test_guard_refuses_internal_and_odd_urls(url: str) -> None:
    with pytest.raises(UnsafeURL):
        guard_url(url, allow_private=False)


def test_guard_allows_loopback_when_configured() -> None:
    assert guard_url("http://127.0.0.1:9/", allow_private=True) == "127.0.0.1"


def test_fetch_refuses_loopback_by_default(server: str) -> None:
    with pytest.raises(AudioError) as ei:
        fetch_bytes(server + "/ok", max_bytes=10**6)
    assert ei.value.reason == "bad_url"


def test_fetch_ok_when_allowed(server: str) -> None:
    assert fetch_bytes(server + "/ok", max_bytes=10**6, allow_private=True) == PAYLOAD


def test_fetch_size_limit_declared_and_streamed(server: str) -> None:
    with pytest.raises(AudioError) as ei:
        fetch_bytes(server + "/ok", max_bytes=100, allow_private=True)
    assert ei.value.reason == "too_large"
    with pytest.raises(AudioError) as ei:
        fetch_bytes(server + "/chunked-big", max_bytes=10_000, allow_private=True)
    assert ei.value.reason == "too_large"


def test_fetch_timeout(server: str) -> None:
    with pytest.raises(AudioError) as ei:
        fetch_bytes(server + "/slow", max_bytes=100, timeout_s=0.5, allow_private=True)
    assert ei.value.reason == "bad_url"
    assert "timed out" in ei.value.message


def test_fetch_http_error(server: str) -> None:
    with pytest.raises(AudioError) as ei:
        fetch_bytes(server + "/missing", max_bytes=100, allow_private=True)
    assert "404" in ei.value.message


def test_redirect_to_metadata_service_is_refused_even_when_first_hop_allowed(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # allow loopback (the test server) but make the guard strict for the second hop
    import tonearm.net.fetch as net

    calls: list[str] = []
    real = net.guard_url

    def guard(url: str, allow_private: bool = False, allowlist: Any = ()) -> str:
        calls.append(url)
        return real(url, allow_private=len(calls) == 1)

    monkeypatch.setattr(net, "guard_url", guard)
    with pytest.raises(AudioError) as ei:
        net.fetch_bytes(server + "/redirect-meta", max_bytes=100, allow_private=True)
    assert ei.value.reason == "bad_url"
    assert calls[-1].startswith("http://169.254.169.254")
