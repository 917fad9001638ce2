"""ASGI middleware: per-key rate limits and credit quotas before a request, usage after.

The key is found the way each family sends it: ``X-API-Key`` (AudioScape, Audjust) or
``api_token`` (AudD: query string, or a form / JSON body up to ``BODY_PEEK_BYTES``, read
once here and replayed to the app). A token in a larger body is only known once the
route's auth dependency has run (``request.state.api_key``); that request is counted
afterwards, so the next one sees it.

Over a limit, each family answers in its own format, always with ``Retry-After`` and
``X-RateLimit-Limit/-Remaining/-Reset`` (Reset: Unix time in seconds):

- AudioScape: HTTP 429 ``{"message": "Too Many Requests"}`` over the rate limit,
  ``{"message": "Quota exceeded: ..."}`` when the key's credits are spent.
- Audjust: HTTP 429 ``{"success": false, "message": "Rate limit exceeded"}`` or
  ``"Usage limit exceeded"`` (the seed's texts).
- AudD: its error object with code 902 ("authorization failed: the limit was reached",
  saying which limit), HTTP 200 like every AudD error, so AudD clients read it where they
  read the others.

A spent quota carries ``X-Quota-Limit/-Remaining/-Reset`` and ``Retry-After`` instead of the
rate-limit headers. Requests that never cost credits (``priced`` is False: polling
``/requests/{id}``, results, uploads, asset reads, AudD's stream methods) are never refused
for a spent quota, only for the rate.

Credits of a request: ``request.state.credits`` when the route sets it; else Audjust's
``creditCost`` from a JSON answer; else 1 for a successful AudD / AudioScape request and
0 for anything that failed or for Audjust calls without a price (polling, uploads).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match

from tonearm.catalog.keys import verify_key
from tonearm.platform.service import Admission, Platform
from tonearm.platform.usage import UsageRecord, iso
from tonearm.storage.base import ApiKey

log = logging.getLogger("tonearm.platform")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

METERED = ("audioscape", "audjust", "audd")
BODY_PEEK_BYTES = 12 * 1024 * 1024  # AudD's standard endpoint takes 10 MB files
CAPTURE_BYTES = 64 * 1024
_MULTIPART_TOKEN = re.compile(
    rb'name="api_token"\r\n(?:[^\r\n]+\r\n)*\r\n([^\r\n]{1,256})\r\n', re.IGNORECASE
)
_CREDIT_COST = re.compile(rb'"creditCost"\s*:\s*([0-9]+(?:\.[0-9]+)?)')
_AUDD_ERROR = re.compile(rb'^\{"status"\s*:\s*"error".*?"error_code"\s*:\s*(-?[0-9]+)', re.S)

AUDD_LIMIT_CODE = 902
AUDD_PRICED = ("/", "/recognize", "/recognize/", "/enterprise", "/enterprise/")
_REQUEST_ID = re.compile(rb'"requestId"\s*:\s*"([a-z0-9]{1,64})"')


AUDIOSCAPE_FREE_PREFIX = "/developer/v1/assets"  # tonearm's own catalog management


def priced(family: str, method: str, path: str) -> bool:
    """Whether a request of ``family`` may cost credits (and so is subject to the quota).

    Reads never do: Audjust's GETs (``/requests/{id}``, ``/results/...``, ``/uploads/...``),
    AudioScape's asset management and AudD's methods other than recognition.
    """
    if family == "audjust":
        return method != "GET" and path != "/upload"
    if family == "audioscape":
        return not path.startswith(AUDIOSCAPE_FREE_PREFIX)
    if family == "audd":
        return path in AUDD_PRICED
    return False


def audd_method(path: str) -> str:
    name = path.strip("/").split("/")[0]
    return name or "recognize"


def audd_limit_message(method: str, reason: str, retry_after_s: int) -> str:
    what = "Recognition failed" if method == "recognize" else f"{method} failed"
    why = (
        "too many requests per minute for this api_token"
        if reason == "rate"
        else "the credit quota of this api_token's plan is used up"
    )
    return (
        f"{what}: authorization failed: the limit was reached ({why}). "
        f"Retry in {retry_after_s} s or upgrade the key's tier."
    )


@dataclass(frozen=True)
class ErrorResponses:
    """How the API answers in each family's format. The platform stands below the API, so
    the app hands these in when it installs the middleware (``install_platform``)."""

    family_for: Callable[[Request], str]  # "audd", "audjust", "audioscape" or another
    # (code, message, request params, AudD method, HTTP method) -> AudD's error object
    audd_error_body: Callable[[int, str, dict[str, Any], str, str], dict[str, Any]]
    # (request, HTTP status, message) -> the family's error answer
    generic: Callable[[Request, int, str], JSONResponse]


def limit_response(
    errors: ErrorResponses, request: Request, family: str, adm: Admission
) -> JSONResponse:
    if family == "audioscape":
        msg = (
            "Too Many Requests"
            if adm.reason == "rate"
            else "Quota exceeded: the monthly credits of this API key are used up"
        )
        return JSONResponse({"message": msg}, 429, headers=adm.headers)
    if family == "audjust":
        msg = "Rate limit exceeded" if adm.reason == "rate" else "Usage limit exceeded"
        return JSONResponse({"success": False, "message": msg}, 429, headers=adm.headers)
    method = audd_method(request.url.path)
    params = dict(request.query_params)
    params.update(getattr(request.state, "form_params", None) or {})
    body = errors.audd_error_body(
        AUDD_LIMIT_CODE,
        audd_limit_message(method, adm.reason or "rate", adm.retry_after_s),
        params,
        method,
        request.method,
    )
    return JSONResponse(body, 200, headers=adm.headers)


RETRY_UNAVAILABLE_S = 2


def database_unavailable(e: BaseException) -> bool:
    """Whether ``e`` says the database cannot be reached right now (restart, failover,
    connection refused or dropped, pool exhausted), as opposed to a bug."""
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return False
    from tonearm.storage.fingerprints import FingerprintIndexUnavailable  # shared index down

    return isinstance(e, psycopg.OperationalError | FingerprintIndexUnavailable)


def unavailable_response(errors: ErrorResponses, request: Request) -> JSONResponse:
    """503 with Retry-After in the family's error format (AudD: its error object)."""
    r = errors.generic(request, 503, "Service temporarily unavailable, please retry shortly")
    r.headers["Retry-After"] = str(RETRY_UNAVAILABLE_S)
    return r


def _token_from_body(ctype: str, body: bytes) -> tuple[str | None, dict[str, str]]:
    """(api_token, the simple form params) from a request body, without a full parse."""
    if ctype.startswith("application/x-www-form-urlencoded"):
        q = parse_qs(body.decode("latin-1"), keep_blank_values=True)
        params = {k: v[-1] for k, v in q.items()}
        return params.get("api_token"), params
    if ctype.startswith("multipart/form-data"):
        m = _MULTIPART_TOKEN.search(body)
        token = m.group(1).decode("utf-8", "replace") if m else None
        return token, ({"api_token": token} if token else {})
    if ctype.startswith("application/json"):
        try:
            data = json.loads(body or b"null")
        except ValueError:
            return None, {}
        if isinstance(data, dict) and isinstance(data.get("api_token"), str):
            return data["api_token"], {"api_token": data["api_token"]}
    return None, {}


def _match_endpoint(scope: Scope) -> str | None:
    """The route template of a request that never reached the router (it was limited)."""
    app = scope.get("app")
    for route in getattr(getattr(app, "router", None), "routes", ()):
        try:
            match, _ = route.matches(scope)
            if match != Match.FULL:
                continue
            path = getattr(route, "path", None)
            inner = getattr(route, "_match", None)  # FastAPI's included-router wrapper
            if not path and callable(inner):
                _, _, real, ctx = inner(scope)
                path = getattr(ctx, "path_format", None) or getattr(real, "path", None)
            return str(path) if path else None
        except Exception:
            continue
    return None


class PlatformMiddleware:
    def __init__(self, app: Any, platform: Platform, errors: ErrorResponses) -> None:
        self.app = app
        self.platform = platform
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        family = self.errors.family_for(request)
        if family not in METERED:
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        started = datetime.now(UTC)

        # -- who is asking -------------------------------------------------------------------
        token: str | None
        if family == "audd":
            token = request.query_params.get("api_token")
            if token is None and scope["method"] == "POST":
                token, receive = await self._peek_body(request, scope, receive)
        else:
            token = request.headers.get("x-api-key")
        key: ApiKey | None = None
        adm: Admission | None = None
        if token:
            is_priced = priced(family, scope["method"], scope.get("path", ""))
            key, adm = await anyio.to_thread.run_sync(self._admit, token, is_priced)

        if adm is not None and key is not None and not adm.allowed:
            response = limit_response(self.errors, request, family, adm)
            await response(scope, receive, send)
            self._record(
                scope,
                family,
                key,
                started,
                t0,
                response.status_code,
                "rate_limited" if adm.reason == "rate" else "usage_limited",
                f"{adm.reason} limit",
                0,
            )
            return

        # -- run it, watching the answer -----------------------------------------------------
        status = {"code": 500}
        captured = bytearray()
        capture = family in ("audd", "audjust")
        extra_headers = adm.headers if adm is not None else {}

        started_reply = [False]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_reply[0] = True
                status["code"] = message["status"]
                if extra_headers:
                    headers = list(message.get("headers", []))
                    headers += [(k.lower().encode(), v.encode()) for k, v in extra_headers.items()]
                    message["headers"] = headers
            elif (
                message["type"] == "http.response.body"
                and capture
                and len(captured) < CAPTURE_BYTES
            ):
                captured.extend(message.get("body", b"")[: CAPTURE_BYTES - len(captured)])
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception as e:
                if started_reply[0] or not database_unavailable(e):
                    raise
                # the database is restarting or unreachable: a clean, retryable answer in
                # the family's format (not a 500, and the connection stays usable)
                log.warning("database unavailable on %s: %s", request.url.path, e)
                await unavailable_response(self.errors, request)(scope, receive, send_wrapper)
        finally:
            try:
                await self._after(scope, family, key, started, t0, status["code"], captured)
            except Exception:
                # bookkeeping must never break an answer already sent
                log.warning("platform: could not record usage", exc_info=True)

    async def _after(
        self,
        scope: Scope,
        family: str,
        key: ApiKey | None,
        started: datetime,
        t0: float,
        code: int,
        captured: bytearray,
    ) -> None:
        state = scope.get("state") or {}
        known: ApiKey | None = state.get("api_key") or key
        if known is None:
            return
        if key is None:
            await anyio.to_thread.run_sync(self.platform.count_late, known)
        body = bytes(captured)
        outcome, error, credits = self._outcome(family, code, body, scope)
        if "credits" in state:
            credits = int(state["credits"])
        elif not priced(family, str(scope.get("method", "")), str(scope.get("path", ""))):
            credits = 0  # reads never cost credits
        elif credits and family == "audjust":
            credits = await self._unless_queued(body, credits)
        self._record(scope, family, known, started, t0, code, outcome, error, credits)

    def _admit(self, token: str, is_priced: bool) -> tuple[ApiKey | None, Admission | None]:
        try:
            key = verify_key(self.platform.store, token)
            if key is None:
                return None, None  # the route answers 401 / #900 in its own format
            return key, self.platform.admit(key, priced=is_priced)
        except Exception:
            # the database is away: let the route run and fail in its family's format
            log.warning("platform: could not check limits", exc_info=True)
            return None, None

    async def _peek_body(
        self, request: Request, scope: Scope, receive: Receive
    ) -> tuple[str | None, Receive]:
        """Read the body (up to BODY_PEEK_BYTES) for an api_token; replay it to the app."""
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith(
            ("multipart/form-data", "application/x-www-form-urlencoded", "application/json")
        ):
            return None, receive
        try:
            if int(request.headers.get("content-length", "0")) > BODY_PEEK_BYTES:
                return None, receive
        except ValueError:
            return None, receive
        messages: list[Message] = []
        size = 0
        complete = False
        while True:
            msg = await receive()
            messages.append(msg)
            if msg["type"] != "http.request":
                break
            size += len(msg.get("body", b""))
            if not msg.get("more_body", False):
                complete = True
                break
            if size > BODY_PEEK_BYTES:
                break
        token: str | None = None
        if complete:
            body = b"".join(m.get("body", b"") for m in messages)
            token, params = _token_from_body(ctype, body)
            if params:
                scope.setdefault("state", {})["form_params"] = params
        pending = list(messages)

        async def replay() -> Message:
            if pending:
                return pending.pop(0)
            return await receive()

        return token, replay

    async def _unless_queued(self, body: bytes, credits: int) -> int:
        """0 when the answer names a queued job: the job record carries the cost."""
        m = _REQUEST_ID.search(body)
        if not m:
            return credits
        try:
            queued = await anyio.to_thread.run_sync(self.platform.is_job, m.group(1).decode())
        except Exception:
            return credits
        return 0 if queued else credits

    @staticmethod
    def _outcome(
        family: str, status: int, body: bytes, scope: Scope
    ) -> tuple[str, str | None, int]:
        if family == "audd":
            m = _AUDD_ERROR.match(body)
            if m:
                return "error", f"#{m.group(1).decode()}", 0
            if status >= 400:
                return "error", f"HTTP {status}", 0
            # AudD's priced methods; the others (streams, longpoll, status) are free
            priced = scope.get("path", "") in AUDD_PRICED
            return "ok", None, 1 if priced else 0
        if status >= 400:
            msg = None
            if body:
                try:
                    data = json.loads(body)
                    msg = data.get("message") or data.get("error")
                except ValueError:
                    pass
            return "error", str(msg or f"HTTP {status}")[:200], 0
        if family == "audjust":
            m = _CREDIT_COST.search(body)
            return "ok", None, int(float(m.group(1))) if m else 0
        return "ok", None, 1

    def _record(
        self,
        scope: Scope,
        family: str,
        key: ApiKey,
        started: datetime,
        t0: float,
        status: int,
        outcome: str,
        error: str | None,
        credits: int,
    ) -> None:
        endpoint = getattr(scope.get("route"), "path", None)
        if not endpoint and outcome.endswith("_limited"):
            endpoint = _match_endpoint(scope)
        endpoint = endpoint or scope.get("path", "")
        state = scope.get("state") or {}
        self.platform.record(
            UsageRecord(
                key_id=key.key_id,
                ts=iso(started),
                method=scope.get("method", ""),
                endpoint=str(endpoint),
                path=str(scope.get("path", ""))[:500],
                family=family,
                status=status,
                outcome=outcome,
                credits=max(0, credits),
                duration_ms=(time.perf_counter() - t0) * 1000,
                request_id=state.get("request_id"),
                error=error,
            )
        )


def install_platform(app: Any, catalog: Any, errors: ErrorResponses) -> Platform:
    """Attach the process's Platform to ``app.state.platform`` and its middleware, which
    answers refusals with ``errors`` (the API's family formats)."""
    from tonearm.platform.service import get_platform

    platform = get_platform(catalog)
    app.state.platform = platform
    app.add_middleware(PlatformMiddleware, platform=platform, errors=errors)
    return platform
