"""The edge of the API: every request's text is valid Unicode and its body fits its route.

One ASGI middleware (:class:`InputGuard`) looks at each HTTP request before any router:

- **text**: the path, the query string, and the text of the body must be valid UTF-8
  (U+0000 is valid text: the routes and the stores cope with it). JSON bodies are
  parsed once and every string (keys too) is checked: JSON's ``"\\ud800"`` escape
  decodes to a lone UTF-16 surrogate, which Python holds happily and then fails to
  encode in a log line, a job's result or the database. urlencoded bodies are checked like
  the query; the text fields of
  multipart bodies are checked as the body streams through (files are not text).
- **size**: a JSON, urlencoded or text body may be at most ``settings.max_json_bytes``
  (``settings.json_body_limits`` raises it per route, e.g. ``/resize``, whose similarity
  strings reach ~30 MB); any other body (multipart, audio) at most
  ``settings.max_upload_bytes``, counted as it arrives (a chunked body declares no length).

A refused request gets the family's own answer: 400 (bad text) or 413 (too large), AudD's
error object for AudD (see :mod:`tonearm.api.errors`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import python_multipart
from python_multipart.multipart import parse_options_header
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tonearm.api.errors import AuddError, _generic, audd_error_response, family_for
from tonearm.settings import Settings

AUDD_BAD_TEXT = 50  # AudD's code for an invalid request parameter
_TEXT_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/")
_MAX_FIELD_BYTES = 16 * 1024 * 1024  # a multipart text field checked at most this long


class BadText(ValueError):
    """A request's text is not valid Unicode."""


class TooLarge(ValueError):
    """A request's body is over its route's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body too large (limit {limit} bytes)")
        self.limit = limit


def check_text(s: str, where: str) -> None:
    """Raise :class:`BadText` unless ``s`` is valid Unicode text.

    A ``str`` is invalid exactly when it holds a lone surrogate (U+D800..U+DFFF), which
    is what encoding it as UTF-8 detects.
    """
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadText(f"{where} is not valid Unicode text (lone surrogate)") from e


def check_utf8(data: bytes, where: str) -> str:
    """``data`` decoded as strict UTF-8 and checked by :func:`check_text`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadText(f"{where} is not valid UTF-8") from e
    check_text(text, where)
    return text


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included (iterative: no recursion
    limit for deeply nested input)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for k, item in v.items():
                yield k
                stack.append(item)
        elif isinstance(v, list):
            stack.extend(v)


def check_json(body: bytes) -> None:
    """Check every string of a JSON body; a body that is not JSON is left to the route
    (which answers its family's "invalid JSON")."""
    if not body.strip():
        return
    try:
        data = json.loads(body)
    except RecursionError as e:
        raise BadText("JSON body is nested too deeply") from e
    except ValueError:
        return  # not JSON (or not UTF-8): the route's own parser refuses it
    for s in _strings(data):
        check_text(s, "a JSON string")


def check_urlencoded(raw: bytes, where: str) -> None:
    """Check a query string or urlencoded body: names and values, once percent-decoded,
    must be valid UTF-8."""
    if not raw:
        return
    try:
        pairs = parse_qsl(
            raw.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError as e:
        raise BadText(f"{where} is not valid UTF-8") from e
    except ValueError:
        return
    for k, v in pairs:
        check_text(k, where)
        check_text(v, where)


def check_path(raw_path: bytes) -> None:
    check_utf8(unquote_to_bytes(raw_path.decode("latin-1")), "the URL path")


class _MultipartText:
    """Checks the text (non-file) fields of a multipart body as it streams past."""

    def __init__(self, boundary: bytes) -> None:
        self.error: BadText | None = None
        self._header_field = b""
        self._header_value = b""
        self._is_file = False
        self._data = bytearray()
        callbacks: dict[str, Callable[..., None]] = {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._hfield,
            "on_header_value": self._hvalue,
            "on_header_end": self._header_end,
        }
        self._parser = python_multipart.MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _part_begin(self) -> None:
        self._is_file, self._data = False, bytearray()

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_field.lower() == b"content-disposition":
            try:
                check_utf8(self._header_value, "a multipart field name")
            except BadText as e:
                self.error = self.error or e
            if b"filename" in self._header_value.lower():
                self._is_file = True
        self._header_field, self._header_value = b"", b""

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._is_file and len(self._data) < _MAX_FIELD_BYTES:
            self._data += data[start:end]

    def _part_end(self) -> None:
        if not self._is_file and self.error is None:
            try:
                check_utf8(bytes(self._data), "a form field")
            except BadText as e:
                self.error = e

    def feed(self, chunk: bytes) -> None:
        if self.error is not None:
            return
        try:
            self._parser.write(chunk)
        except Exception:  # a malformed body: Starlette's parser refuses it itself
            self.error = None
            self._parser = python_multipart.MultipartParser(b"x" * 8, {})


def _boundary(content_type: str) -> bytes | None:
    _, params = parse_options_header(content_type)
    b = params.get(b"boundary")
    return bytes(b) if b else None


def body_limit(settings: Settings, path: str, content_type: str, family: str = "") -> int:
    """Bytes a request body to ``path`` may have: text bodies (JSON, urlencoded) are
    small unless their route says otherwise; files (and bodies of no declared type) get
    the upload limit. AudD takes base64 ``audio`` in urlencoded and JSON bodies, so its
    text bodies may be as large as its multipart text fields (``deps.audd_params``)."""
    if content_type.startswith(_TEXT_TYPES):
        for prefix, limit in settings.json_body_limits.items():
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return int(limit)
        if family == "audd":
            audio_b64 = int(settings.recognize_max_bytes * 1.4) + 64 * 1024
            return max(int(settings.max_json_bytes), audio_b64)
        return int(settings.max_json_bytes)
    return int(settings.max_upload_bytes)


def refusal(scope: Scope, exc: BadText | TooLarge) -> JSONResponse:
    """The family's answer to a refused request (AudD: its error object in a 200)."""
    request = Request(scope)
    if isinstance(exc, TooLarge):
        if family_for(request) == "audd":
            return audd_error_response(request, AuddError(400))
        return _generic(request, 413, str(exc))
    if family_for(request) == "audd":
        method = request.query_params.get("method") or "recognize"
        return audd_error_response(
            request, AuddError(AUDD_BAD_TEXT, f"Request failed: {exc}", method=method)
        )
    return _generic(request, 400, str(exc))


class InputGuard:
    """ASGI middleware: refuse invalid text and over-sized bodies (see the module)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                try:
                    check_path(scope.get("raw_path") or scope["path"].encode())
                    check_urlencoded(scope.get("query_string", b""), "the query string")
                except BadText:
                    await send({"type": "websocket.close", "code": 1007})
                    return
            await self.app(scope, receive, send)
            return
        try:
            check_path(scope.get("raw_path") or scope["path"].encode("utf-8", "surrogatepass"))
            check_urlencoded(scope.get("query_string", b""), "the query string")
        except BadText as e:
            await refusal(scope, e)(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_ctype = headers.get(b"content-type", b"").decode("latin-1")
        ctype = raw_ctype.lower()
        family = family_for(Request(scope))
        limit = body_limit(self.settings, scope["path"], ctype, family)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await refusal(scope, TooLarge(limit))(scope, receive, send)
            return
        if ctype.startswith(_TEXT_TYPES):
            await self._buffered(scope, receive, send, ctype, limit)
        else:
            await self._streamed(scope, receive, send, raw_ctype, limit)

    async def _buffered(
        self, scope: Scope, receive: Receive, send: Send, ctype: str, limit: int
    ) -> None:
        """Text bodies are small: read whole, check, then replay to the app."""
        body = bytearray()
        more = True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = bool(msg.get("more_body"))
            if len(body) > limit:
                await refusal(scope, TooLarge(limit))(scope, receive, send)
                return
        try:
            if ctype.startswith("application/json"):
                check_json(bytes(body))
            elif ctype.startswith("application/x-www-form-urlencoded"):
                check_urlencoded(bytes(body), "the form body")
        except BadText as e:
            await refusal(scope, e)(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _streamed(
        self, scope: Scope, receive: Receive, send: Send, ctype: str, limit: int
    ) -> None:
        """Files stream through, counted; a multipart body's text fields are checked on
        the way. A refusal found mid-body replaces whatever the app answers."""
        boundary = _boundary(ctype) if ctype.lower().startswith("multipart/") else None
        parts = _MultipartText(boundary) if boundary else None
        seen = 0
        refused: BadText | TooLarge | None = None
        started = False

        async def counted() -> Message:
            nonlocal seen, refused
            msg = await receive()
            if msg["type"] == "http.request":
                chunk = msg.get("body", b"")
                seen += len(chunk)
                if seen > limit:
                    refused = TooLarge(limit)
                elif parts is not None:
                    parts.feed(chunk)
                    refused = parts.error
                if refused is not None:
                    raise refused
            return msg

        async def guarded_send(msg: Message) -> None:
            nonlocal started
            if refused is not None:
                return  # the app's answer to a body it could not read: ours replaces it
            started = True
            await send(msg)

        try:
            await self.app(scope, counted, guarded_send)
        except (BadText, TooLarge):
            if refused is None:
                raise
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await refusal(scope, refused)(scope, receive, send)


def _trusted(client: str | None, proxies: list[str]) -> bool:
    import ipaddress

    if not client or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return False
    for p in proxies:
        try:
            if ip in ipaddress.ip_network(p.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def request_base_url(request: Request, settings: Settings) -> str:
    """The base of links we hand out (resultUrl, song_link): ``settings.public_url``; else
    the X-Forwarded-Proto/Host of a configured proxy (``settings.trusted_proxies``); else
    the address the server is bound to. A client's own Host header is never used."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    client = request.client.host if request.client else None
    if _trusted(client, settings.trusted_proxies):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        host = request.headers.get("x-forwarded-host", "").split(",")[0].strip()
        if proto in ("http", "https") and host and "/" not in host and "@" not in host:
            return f"{proto}://{host}"
    server = request.scope.get("server")
    if server and server[0]:
        h, port = str(server[0]), server[1]
        h = f"[{h}]" if ":" in h else h
        scheme = "https" if request.scope.get("scheme") == "https" else "http"
        default = 443 if scheme == "https" else 80
        return f"{scheme}://{h}" + (f":{port}" if port and port != default else "")
    return f"http://{settings.host}:{settings.port}"
