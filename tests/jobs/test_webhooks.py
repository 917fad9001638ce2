"""Webhook delivery: signature, retries with backoff, final refusals, SSRF guard."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tonearm.jobs.webhooks import SIGNATURE_HEADER, deliver, sign, verify


class Hook:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.got: list[tuple[dict[str, str], bytes]] = []
        hook = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(hook.statuses.pop(0) if hook.statuses else 200)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook_factory() -> Iterator[Any]:
    made: list[Hook] = []

    def make(statuses: list[int]) -> Hook:
        h = Hook(statuses)
        made.append(h)
        return h

    yield make
    for h in made:
        h.server.shutdown()


def test_signed_and_delivered(hook_factory: Any) -> None:
    h = hook_factory([])
    out = deliver(h.url, {"requestId": "x" * 32, "a": 1}, secret="s3cret", allow_private=True)
    assert out == "delivered"
    headers, body = h.got[0]
    assert json.loads(body) == {"requestId": "x" * 32, "a": 1}
    assert headers["content-type"] == "application/json"
    # what a receiver computes, as the module docstring tells it (not our own sign())
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER.lower()] == expected
    assert verify(body, expected, "s3cret")
    assert not verify(body, expected, "other")
    assert not verify(body + b" ", expected, "s3cret")
    assert sign(b"", "k") == "sha256=" + hmac.new(b"k", b"", hashlib.sha256).hexdigest()


def test_retries_with_backoff_then_succeeds(hook_factory: Any) -> None:
    h = hook_factory([500, 503])
    sleeps: list[float] = []
    out = deliver(
        h.url, {"a": 1}, allow_private=True, backoff_s=(1.0, 2.0, 4.0), sleep=sleeps.append
    )
    assert out == "delivered" and len(h.got) == 3 and sleeps == [1.0, 2.0]
    assert [hd["x-tonearm-attempt"] for hd, _ in h.got] == ["1", "2", "3"]


def test_gives_up_after_the_schedule(hook_factory: Any) -> None:
    h = hook_factory([500] * 10)
    out = deliver(h.url, {"a": 1}, allow_private=True, backoff_s=(0.0, 0.0), sleep=lambda s: None)
    assert out == "failed: HTTP 500" and len(h.got) == 3


def test_client_error_is_final(hook_factory: Any) -> None:
    h = hook_factory([404])
    out = deliver(h.url, {"a": 1}, allow_private=True, backoff_s=(0.0,), sleep=lambda s: None)
    assert out == "failed: HTTP 404" and len(h.got) == 1


def test_ssrf_guard(hook_factory: Any) -> None:
    h = hook_factory([])
    out = deliver(h.url, {"a": 1}, allow_private=False, sleep=lambda s: None)
    assert out.startswith("failed:") and not h.got
    assert deliver("ftp://x/y", {}, allow_private=True).startswith("failed:")


def test_unreachable_is_retried_and_reported() -> None:
    out = deliver(
        "http://127.0.0.1:9/hook",
        {"a": 1},
        allow_private=True,
        backoff_s=(0.0,),
        sleep=lambda s: None,
    )
    assert out.startswith("failed: Connect")
