"""What every AudD route shares: the router, AudD's errors worded per method, the key
check and reading the audio a request sends (``file``, ``audio`` base64 or ``url``)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from tonearm.api.deps import audd_key
from tonearm.api.errors import AUDD_MESSAGES, AuddError
from tonearm.catalog.context import Catalog
from tonearm.core.audio.errors import AudioError
from tonearm.net.fetch import fetch_bytes
from tonearm.storage.base import ApiKey

router = APIRouter(tags=["recognition (AudD)"])

# ``/?method=...`` dispatch: AudD method name -> handler(request, params); each module
# registers its own methods
Handler = Callable[[Request, dict[str, Any]], Awaitable[Any]]
METHODS: dict[str, Handler] = {}

METHOD_LABELS = {
    "recognize": "Recognition",
    "upload": "Adding a song to the custom catalog",
    "addStream": "Adding a stream stream",
    "getStreams": "Getting the streams",
    "setStreamUrl": "Setting the stream URL",
    "deleteStream": "Deleting the stream",
    "setCallbackUrl": "Setting the URL for callbacks",
    "getCallbackUrl": "Getting the URL for callbacks",
    "longpoll": "Longpoll",
}
BAD_PARAM = 50  # AudD's code family for invalid request parameters (50/51, 6xx, 70x)


def audd_error(code: int, method: str = "recognize", detail: str | None = None) -> AuddError:
    """AudD's error for ``code``, worded for ``method``; ``detail`` replaces the generic
    text after "<Method> failed: "."""
    label = METHOD_LABELS.get(method, "Recognition")
    if detail is not None:
        return AuddError(code, f"{label} failed: {detail}", method=method)
    base = AUDD_MESSAGES.get(code, AUDD_MESSAGES[100])
    if base.startswith("Recognition failed:"):
        base = f"{label} failed:" + base.removeprefix("Recognition failed:")
    return AuddError(code, base, method=method)


def _catalog(request: Request) -> Catalog:
    c: Catalog = request.app.state.catalog
    return c


def _base_url(request: Request) -> str:
    from tonearm.api.guard import request_base_url

    return request_base_url(request, _catalog(request).settings)


def _key(request: Request, params: dict[str, Any], method: str) -> ApiKey:
    # AudD's contract also documents api_token as a header (for code generators)
    if not params.get("api_token") and request.headers.get("api_token"):
        params["api_token"] = request.headers["api_token"]
    try:
        return audd_key(request, params, method)
    except AuddError as e:
        if e.code == 904:  # a missing scope: its own text
            raise audd_error(904, method, e.message) from e
        raise audd_error(e.code, method) from e


def _int_param(params: dict[str, Any], name: str, method: str) -> int:
    v = params.get(name)
    try:
        return int(str(v).strip())
    except (TypeError, ValueError) as e:
        raise audd_error(
            BAD_PARAM, method, f"the {name} parameter is required and must be an integer."
        ) from e


# -- audio input ---------------------------------------------------------------------------
async def _read_upload(f: UploadFile, max_bytes: int, method: str) -> bytes:
    if f.size is not None and f.size > max_bytes:
        raise audd_error(400, method)
    data = await f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise audd_error(400, method)
    return data


def _decode_base64(text: str, method: str) -> bytes:
    t = text.strip()
    if t.startswith("data:") and "," in t:  # a data: URL from a browser
        t = t.split(",", 1)[1]
    t = t.replace("-", "+").replace("_", "/")
    t = "".join(t.split())
    try:
        return base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise audd_error(500, method, "the audio parameter is not valid base64.") from e


async def _fetch(request: Request, url: str, max_bytes: int, method: str) -> bytes:
    s = _catalog(request).settings
    try:
        return await anyio.to_thread.run_sync(
            lambda: fetch_bytes(
                url,
                max_bytes=max_bytes,
                timeout_s=s.fetch_timeout_s,
                allow_private=s.allow_private_urls,
                allowlist=s.private_allowlist,
            )
        )
    except AudioError as e:
        if e.reason == "too_large":
            raise audd_error(400, method) from e
        raise audd_error(600, method) from e


def _uploaded(params: dict[str, Any]) -> UploadFile | None:
    for name in ("file", "audio"):
        v = params.get(name)
        if isinstance(v, UploadFile):
            return v
    return None


async def audio_input(
    request: Request, params: dict[str, Any], *, max_bytes: int, method: str
) -> tuple[bytes, str]:
    """The audio bytes of a request (``file`` multipart, ``audio`` base64 or ``url``) and a
    file name for them. Errors: 700 nothing sent, 600 bad URL, 400 too big, 500 bad base64."""
    f = _uploaded(params)
    if f is not None:
        data = await _read_upload(f, max_bytes, method)
        if data:
            return data, f.filename or "upload"
    audio = params.get("audio")
    if isinstance(audio, str) and audio.strip():
        data = _decode_base64(audio, method)
        if len(data) > max_bytes:
            raise audd_error(400, method)
        if data:
            return data, "audio"
    url = params.get("url")
    if isinstance(url, str) and url.strip():
        data = await _fetch(request, url.strip(), max_bytes, method)
        if not data:
            raise audd_error(500, method)
        name = Path(unquote(urlsplit(url.strip()).path)).name or "url"
        return data, name
    raise audd_error(700, method)
