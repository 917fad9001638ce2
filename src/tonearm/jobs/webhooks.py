"""Webhook delivery: POST JSON, retries with backoff, SSRF guard, HMAC-SHA256 signature.

Every delivery carries ``X-Tonearm-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact
request body under the API key's webhook secret (``GET /webhooks/secret`` with the key, or
``webhook_secret(catalog, key_id)``). Verify it before trusting a payload::

    import hashlib, hmac
    def verify(body: bytes, header: str, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, header)

Also sent: ``X-Tonearm-Request-Id`` (the requestId) and ``X-Tonearm-Attempt`` (1, 2, ...).
Any 2xx answer counts as delivered; 4xx other than 408/429 is final (the receiver refused);
network errors, 408, 429 and 5xx are retried after each delay in ``backoff_s``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from tonearm.jobs.records import clean_text
from tonearm.net.fetch import UnsafeURL, guard_url, pinned_client

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.jobs.webhooks")

SIGNATURE_HEADER = "X-Tonearm-Signature"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, header: str | None, secret: str) -> bool:
    return bool(header) and hmac.compare_digest(sign(body, secret), str(header))


def webhook_secret(catalog: Catalog, key_id: int) -> str:
    """The signing secret of API key ``key_id``, created on first use."""
    found = catalog.store.webhook_secret(key_id)
    if found is not None:
        return str(found)
    secret = "whsec_" + secrets.token_urlsafe(32)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return str(catalog.store.add_webhook_secret(key_id, secret, now))


def check_webhook_url(url: str, allow_private: bool, allowlist: Sequence[str] = ()) -> None:
    """Validate a webhook URL when a request comes in. Raises UnsafeURL."""
    guard_url(url, allow_private, allowlist)


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str | None = None,
    allow_private: bool = False,
    allowlist: Sequence[str] = (),
    backoff_s: Sequence[float] = (1.0, 5.0, 30.0, 120.0),
    timeout_s: float = 10.0,
    on_attempt: Callable[[int], object] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """POST ``payload`` to ``url`` until it is accepted or the retries run out.

    Each attempt re-checks the URL, connects only to the address that passed the check
    (no DNS rebinding between check and connect) and has ``timeout_s`` in total.

    Returns
    -------
    str
        ``"delivered"``, or ``"failed: <why>"``. Never raises.
    """
    try:
        body = json.dumps(clean_text(payload), ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as e:
        return f"failed: payload is not JSON ({e})"
    headers = {"Content-Type": "application/json", "User-Agent": "tonearm-webhook"}
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    if "requestId" in payload:
        headers["X-Tonearm-Request-Id"] = str(payload["requestId"])
    delays = [0.0, *backoff_s]
    why = "not attempted"
    for attempt, delay in enumerate(delays, start=1):
        if delay:
            sleep(delay)
        if on_attempt is not None:
            on_attempt(attempt)
        try:
            addr = guard_url(url, allow_private, allowlist)  # each time: DNS may change
        except UnsafeURL as e:
            return f"failed: {e}"
        client, backend = pinned_client(timeout_s)
        try:
            backend.pin(url, addr)
            with client:
                resp = client.post(
                    url, content=body, headers={**headers, "X-Tonearm-Attempt": str(attempt)}
                )
        except (httpx.HTTPError, httpx.InvalidURL) as e:
            why = f"{type(e).__name__}: {e}"
            log.info("webhook %s attempt %d: %s", url, attempt, why)
            continue
        if 200 <= resp.status_code < 300:
            return "delivered"
        why = f"HTTP {resp.status_code}"
        if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
            return f"failed: {why}"
        log.info("webhook %s attempt %d: %s", url, attempt, why)
    return f"failed: {why}"
