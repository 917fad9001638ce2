"""Outbound fetches: a total deadline (a trickling server cannot hold a request), pinned
to the checked address (no DNS rebinding), and an allowlist of private hosts/CIDRs."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tonearm.core.audio.errors import AudioError
from tonearm.jobs.webhooks import deliver
from tonearm.net.fetch import UnsafeURL, fetch_bytes, guard_url, pinned_client


@pytest.fixture
def trickle() -> Iterator[str]:
    """A server that answers 200 and then sends one byte every 0.2 s for a minute."""
    stop = threading.Event()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _trickle(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "300")
            self.end_headers()
            for _ in range(300):
                if stop.wait(0.2):
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return

        def do_GET(self) -> None:
            if self.path == "/host":
                body = self.headers.get("Host", "").encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self._trickle()

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self._trickle()

        def log_message(self, *a: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    stop.set()
    srv.shutdown()


def test_trickling_download_stops_at_the_total_deadline(trickle: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(AudioError) as ei:
        fetch_bytes(trickle + "/a.mp3", max_bytes=10_000, timeout_s=1.0, allow_private=True)
    assert ei.value.reason == "bad_url" and "timed out" in str(ei.value)
    # each byte came well within a per-read timeout; only a deadline ends it (60 s if not)
    assert time.monotonic() - t0 < 10


def test_trickling_webhook_receiver_is_a_failed_attempt(trickle: str) -> None:
    t0 = time.monotonic()
    out = deliver(trickle + "/hook", {"a": 1}, allow_private=True, backoff_s=(), timeout_s=1.0)
    assert out.startswith("failed") and "Timeout" in out
    assert time.monotonic() - t0 < 10


def test_connection_goes_to_the_pinned_address_with_the_name_as_host(trickle: str) -> None:
    port = trickle.rsplit(":", 1)[1]
    client, backend = pinned_client(5.0)
    # a name that does not resolve at all: the client never asks DNS, it uses the pin
    url = f"http://media.invalid:{port}/host"
    backend.pin(url, "127.0.0.1")
    with client:
        assert client.get(url).text == f"media.invalid:{port}"
        with pytest.raises(httpx.ConnectError):  # an unchecked host is never connected
            client.get(f"http://other.invalid:{port}/host")


def test_private_allowlist() -> None:
    with pytest.raises(UnsafeURL):
        guard_url("http://127.0.0.1:9/x")
    assert guard_url("http://127.0.0.1:9/x", allowlist=["127.0.0.0/8"]) == "127.0.0.1"
    assert guard_url("http://localhost:9/x", allowlist=["localhost"]) in ("127.0.0.1", "::1")
    with pytest.raises(UnsafeURL):
        guard_url("http://127.0.0.1:9/x", allowlist=["10.0.0.0/8", "minio.internal"])


def test_stream_connect_has_a_total_deadline() -> None:
    """A server that trickles its response headers cannot hold a stream connect."""
    import socket

    from tonearm.net.fetch import open_http_stream

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(4096)
        for b in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 300:
            if stop.wait(0.2):
                break
            try:
                conn.send(bytes([b]))
            except OSError:
                break
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    t0 = time.monotonic()
    with (
        pytest.raises(AudioError, match="timed out"),
        open_http_stream(f"http://127.0.0.1:{srv.getsockname()[1]}/live", True, 1.0),
    ):
        pass
    assert time.monotonic() - t0 < 10  # 60 s of trickle without a deadline
    stop.set()
    srv.close()
