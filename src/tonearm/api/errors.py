"""Each compatible family answers errors in its own wire format.

- AudioScape (``/developer/v1/...``): HTTP 4xx/5xx with ``{"error": "..."}``, except 429
  which is ``{"message": "Too Many Requests"}``.
- Audjust (``/analyze``, ``/resize``, ``/export``, ``/upload``, ``/results``): HTTP 4xx/5xx
  with ``{"success": false, "message": "..."}``; the seed names the messages.
- AudD (``/``, ``/recognize``, ``/upload/``, stream methods, ``/enterprise/``): HTTP 200 with
  ``{"status": "error", "error": {"error_code", "error_message"}, "request_params", ...}``.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tonearm.platform.middleware import ErrorResponses

log = logging.getLogger("tonearm.api")

AUDJUST_PREFIXES = (
    "/analyze",
    "/resize",
    "/export",
    "/results",
    "/loop",
    "/requests",
    "/uploads",
    "/webhooks",
)
AUDIOSCAPE_PREFIX = "/developer/"


# AudD's own methods (the first path segment; "" is ``/``). Only these answer AudD's error
# object; any other unknown path is a plain 404.
AUDD_METHODS = frozenset(
    {
        "",
        "recognize",
        "upload",
        "enterprise",
        "longpoll",
        "ws",
        "setCallbackUrl",
        "getCallbackUrl",
        "addStream",
        "setStreamUrl",
        "deleteStream",
        "getStreams",
    }
)


def family_for(request: Request) -> str:
    """Whose wire format a request speaks: "audioscape", "audjust", "audd", or "system"
    (tonearm's own paths and anything unknown, answered ``{"error": ...}``)."""
    path = request.url.path
    if path.startswith(AUDIOSCAPE_PREFIX):
        return "audioscape"
    if path.startswith(AUDJUST_PREFIXES) or (path == "/upload" and request.method == "POST"):
        return "audjust"
    if path.strip("/").split("/")[0] in AUDD_METHODS:
        return "audd"
    return "system"


class AudioScapeError(Exception):
    def __init__(self, status_code: int, error: str) -> None:
        super().__init__(error)
        self.status_code = status_code
        self.error = error


class AudjustError(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


# AudD's own texts for the common codes (its OpenAPI contract and docs).
AUDD_MESSAGES: dict[int, str] = {
    100: "An unknown error.",
    300: "Recognition failed: a problem with fingerprints creating. Keep in mind that you "
    "should send only audio files or links to audio files. Possibly, the audio file is too small.",
    400: "Recognition failed: the audio file is too big. 10M or 25 seconds is the maximum.",
    500: "Recognition failed: the file you sent is not an audio file or it is corrupted.",
    600: "Recognition failed: the audio URL you sent is incorrect or we couldn't download it.",
    700: "Recognition failed: you haven't sent a file via POST or a file URL in the `url` "
    "parameter. If you sent the request by POST, please check the protocol you're using: the URL "
    "should start with https:// (http:// requests get redirected to https and we don't receive "
    "any data from you) and that your Content-Type header equals to `multipart/form-data`.",
    900: "Recognition failed: authorization failed: the provided api_token is incorrect, "
    "invalid, or inactive. Ask this server's operator for a key (tonearm keys create).",
    901: "Recognition failed: authorization failed: no api_token passed and the limit was "
    "reached. Ask this server's operator for a key (tonearm keys create).",
}


class AuddError(Exception):
    """An AudD error object; ``message`` defaults to AudD's text for ``code``."""

    def __init__(self, code: int, message: str | None = None, *, method: str = "recognize"):
        self.code = code
        self.message = message or AUDD_MESSAGES.get(code, AUDD_MESSAGES[100])
        self.method = method
        super().__init__(self.message)


DOCS_URL = "/docs"


def mask_token(token: str) -> str:
    """AudD echoes api_token as first char + *** + last char."""
    if len(token) <= 2:
        return "***"
    return f"{token[0]}***{token[-1]}"


def audd_error_body(
    code: int, message: str, params: dict[str, Any], method: str, http_method: str
) -> dict[str, Any]:
    echoed = {}
    for k, v in params.items():
        if k in ("file", "audio"):
            continue  # never echo uploaded data
        if k == "api_token" and isinstance(v, str):
            v = mask_token(v)
        echoed[k] = v if isinstance(v, str | int | float | bool) or v is None else str(v)
    if method == "enterprise":
        # the enterprise endpoint's error shape (AudD's fixtures): requested_params and an
        # execution time, no request_api_method / request_http_method
        return {
            "status": "error",
            "error": {"error_code": code, "error_message": message},
            "requested_params": echoed,
            "see api documentation": DOCS_URL,
            "execution_time": "0s",
        }
    return {
        "status": "error",
        "error": {"error_code": code, "error_message": message},
        "request_params": echoed,
        "request_api_method": method,
        "request_http_method": http_method,
        # AudD's field, pointing at this server's docs; no "contact us" (AudD's e-mail)
        "see api documentation": DOCS_URL,
    }


def _request_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query_params)
    form = getattr(request.state, "form_params", None)
    if form:
        params.update(form)
    return params


def audd_error_response(request: Request, exc: AuddError) -> JSONResponse:
    body = audd_error_body(
        exc.code, exc.message, _request_params(request), exc.method, request.method
    )
    return JSONResponse(body, status_code=200)


def _generic(request: Request, status: int, message: str) -> JSONResponse:
    fam = family_for(request)
    if fam == "audioscape":
        if status == 429:
            return JSONResponse({"message": "Too Many Requests"}, status_code=429)
        return JSONResponse({"error": message}, status_code=status)
    if fam == "audjust":
        return JSONResponse({"success": False, "message": message}, status_code=status)
    if fam == "audd":
        code = 100
        if status == 413:
            code = 400
        return audd_error_response(request, AuddError(code))
    return JSONResponse({"error": message}, status_code=status)


def too_large_response(request: Request, limit_bytes: int) -> JSONResponse:
    """HTTP 413 (AudD: error 400 in a 200) for a request body over the upload limit."""
    if family_for(request) == "audd":
        return audd_error_response(request, AuddError(400))
    return _generic(request, 413, f"Request body too large (limit {limit_bytes} bytes)")


def _validation_message(exc: RequestValidationError) -> str:
    errs = exc.errors()
    if not errs:
        return "Invalid request"
    e = errs[0]
    loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query", "form")]
    field = ".".join(loc)
    if e.get("type") == "missing" and field:
        return f"Missing required field: {field}"
    if e.get("type") == "json_invalid":
        return "Invalid JSON body"
    return f"Invalid field {field}: {e.get('msg', 'invalid value')}" if field else e.get("msg", "")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AudioScapeError)
    async def _audioscape(request: Request, exc: AudioScapeError) -> JSONResponse:
        if exc.status_code == 429:
            return JSONResponse({"message": "Too Many Requests"}, status_code=429)
        return JSONResponse({"error": exc.error}, status_code=exc.status_code)

    @app.exception_handler(AudjustError)
    async def _audjust(request: Request, exc: AudjustError) -> JSONResponse:
        return JSONResponse({"success": False, "message": exc.message}, status_code=exc.status_code)

    @app.exception_handler(AuddError)
    async def _audd(request: Request, exc: AuddError) -> JSONResponse:
        return audd_error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        fam = family_for(request)
        msg = _validation_message(exc)
        if fam == "audjust":
            msg = (
                f"Missing parameter: {msg.removeprefix('Missing required field: ')}"
                if (msg.startswith("Missing required field"))
                else msg
            )
        return _generic(request, 400, msg)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405 and family_for(request) == "audjust":
            return _generic(request, 405, "Invalid request method")
        return _generic(request, exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unknown(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _generic(request, 500, "Internal Server Error")


def error_responses() -> ErrorResponses:
    """The family formats, for the platform middleware (which stands below the API)."""
    return ErrorResponses(family_for=family_for, audd_error_body=audd_error_body, generic=_generic)
