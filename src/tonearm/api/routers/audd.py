"""AudD-compatible recognition API: ``/`` and ``/recognize`` (recognize), ``/upload/``
(custom catalog), ``/enterprise/`` (long files), the stream methods (``/addStream/`` ...
``/longpoll/``) and the ``/ws/`` WebSocket.

Every answer is HTTP 200 with AudD's body, errors included. AudD takes every parameter by
GET or POST, in the query string or the body; ``/?method=addStream`` style calls reach the
stream methods too. ``GET /`` with no parameters at all is a browser: it goes to the web UI.

``/upload/`` (with the slash) is AudD's custom catalog; Audjust's ``POST /upload`` (no slash,
``X-API-Key``) belongs to the Audjust router, which is mounted before this one, so the two
never meet.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
from fastapi import APIRouter, FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from tonearm.api.deps import audd_key, audd_params
from tonearm.api.errors import AUDD_MESSAGES, AuddError, audd_error_body
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import verify_key
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal
from tonearm.core.net import UnsafeURL, fetch_bytes, guard_url
from tonearm.recognition import enterprise, streams, wire
from tonearm.storage.base import ApiKey

log = logging.getLogger("tonearm.api.audd")

router = APIRouter(tags=["recognition (AudD)"])

MIN_QUERY_S = 1.0  # shorter excerpts are AudD's error 300 ("the audio file is too small")
DURATION_SLACK_S = 0.5  # encoder padding: a 25.0 s MP3 decodes a few ms longer

# AudD prefixes its error messages with the humanized method ("Adding a stream stream
# failed: ..." is AudD's own wording, kept as is).
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
    pub = _catalog(request).settings.public_url
    return (pub or str(request.base_url)).rstrip("/")


def _key(request: Request, params: dict[str, Any], method: str) -> ApiKey:
    # AudD's contract also documents api_token as a header (for code generators)
    if not params.get("api_token") and request.headers.get("api_token"):
        params["api_token"] = request.headers["api_token"]
    try:
        return audd_key(request, params, method)
    except AuddError as e:
        raise audd_error(e.code, method) from e


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


_AUDIO_CODES = {"too_large": 400, "too_long": 400, "too_short": 300, "empty": 500, "bad_url": 600}


async def _decode_query(request: Request, data: bytes, method: str) -> Signal:
    from tonearm.core.audio.decode import decode
    from tonearm.recognition.fingerprint import SR

    s = _catalog(request).settings
    try:
        signal = await anyio.to_thread.run_sync(
            lambda: decode(
                data,
                max_bytes=s.recognize_max_bytes,
                max_duration_s=s.recognize_max_duration_s + DURATION_SLACK_S,
                timeout_s=min(s.decode_timeout_s, 60.0),
                mono=True,
                sr=SR,
            )
        )
    except AudioError as e:
        raise audd_error(_AUDIO_CODES.get(e.reason, 500), method) from e
    if signal.duration_s < MIN_QUERY_S:
        raise audd_error(300, method)
    return signal


async def recognize_bytes(
    request: Request, data: bytes, returns: list[str], method: str = "recognize"
) -> dict[str, Any]:
    """Decode and recognize one excerpt: AudD's success body (``result`` null: no match)."""
    from tonearm.recognition import service

    catalog = _catalog(request)
    signal = await _decode_query(request, data, method)
    matches = await anyio.to_thread.run_sync(lambda: service.recognize(catalog, signal, top_k=1))
    for m in matches:
        asset = catalog.store.get_asset(m.asset_id)
        if asset is not None:
            result = wire.recognize_result(
                asset, m.offset_s, returns=returns, base_url=_base_url(request)
            )
            return {"status": "success", "result": result}
    return {"status": "success", "result": None}


# -- recognize ------------------------------------------------------------------------------
async def _recognize(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    _key(request, params, "recognize")
    s = _catalog(request).settings
    data, _ = await audio_input(
        request, params, max_bytes=s.recognize_max_bytes, method="recognize"
    )
    # ``market`` is accepted; the catalog stores one version of the metadata
    return await recognize_bytes(request, data, wire.parse_return(params.get("return")))


@router.api_route("/", methods=["POST"], summary="Recognize (AudD)")
@router.api_route("/", methods=["GET"], include_in_schema=False)
async def root(request: Request) -> Any:
    """AudD ``recognize``: ``api_token`` plus ``url``, ``file`` or ``audio`` (base64);
    optional ``return`` and ``market``. ``GET /`` without parameters opens the web UI."""
    if request.method == "GET" and not request.query_params:
        return RedirectResponse("/ui/", status_code=307)
    params = await audd_params(request)
    method = str(params.get("method") or "recognize")
    handler = _METHODS.get(method)
    if handler is None:
        raise audd_error(BAD_PARAM, "recognize", f"unknown API method {method!r}.")
    return await handler(request, params)


@router.api_route("/recognize", methods=["POST"], summary="Recognize (AudD)")
@router.api_route("/recognize", methods=["GET"], include_in_schema=False)
@router.api_route("/recognize/", methods=["GET", "POST"], include_in_schema=False)
async def recognize(request: Request) -> Any:
    """Same as ``/``: identify a song and the timecode of an excerpt."""
    return await _recognize(request, await audd_params(request))


# -- custom catalog ---------------------------------------------------------------------------
def _int_param(params: dict[str, Any], name: str, method: str) -> int:
    v = params.get(name)
    try:
        return int(str(v).strip())
    except (TypeError, ValueError) as e:
        raise audd_error(
            BAD_PARAM, method, f"the {name} parameter is required and must be an integer."
        ) from e


def ingest_custom(
    catalog: Catalog, data: bytes, filename: str, audio_id: int, analyses: list[str] | None = None
) -> str | None:
    """Add a song under ``audio_id`` (replacing the song that held that slot).
    Returns None on success, else why the audio was refused.

    AudD's custom catalog is a fingerprint catalog, so only ``fingerprint`` runs unless
    ``analyses`` names more (tonearm extension: ``analyses=fingerprint,beats``)."""
    from tonearm.catalog.analyzers import select_analyzers
    from tonearm.catalog.assets import delete_asset
    from tonearm.catalog.ingest import ingest_bytes

    names = list(dict.fromkeys(["fingerprint", *(analyses or [])]))
    analyzers = select_analyzers(names, catalog.plugins)
    previous = catalog.store.find_by_audio_id(str(audio_id))
    outcome = ingest_bytes(
        catalog,
        data,
        filename=filename,
        kind="music",
        metadata={"audio_id": str(audio_id)},
        analyzers=analyzers,
    )
    if outcome.status == "failed" or outcome.asset_id is None:
        return outcome.reason or "the file is not audio"
    if outcome.status == "skipped":  # the same audio is already in the catalog
        catalog.store.update_asset(outcome.asset_id, {"audio_id": str(audio_id)})
    if previous is not None and previous.asset_id != outcome.asset_id:
        delete_asset(catalog, previous)
    return None


@router.api_route("/upload/", methods=["POST"], summary="Custom catalog upload (AudD)")
@router.api_route("/upload/", methods=["GET"], include_in_schema=False)
# GET only: POST /upload (no slash) is Audjust's. Having *a* route on /upload also stops
# Starlette from redirecting an Audjust POST /upload to /upload/ when Audjust is absent.
@router.api_route("/upload", methods=["GET"], include_in_schema=False)
async def upload(request: Request) -> dict[str, Any]:
    """AudD's custom catalog: ``api_token``, ``audio_id`` (integer) and ``url`` or ``file``.
    The song is ingested into the catalog; matches on it carry that ``audio_id``."""
    params = await audd_params(request)
    _key(request, params, "upload")
    audio_id = _int_param(params, "audio_id", "upload")
    catalog = _catalog(request)
    data, name = await audio_input(
        request, params, max_bytes=catalog.settings.max_upload_bytes, method="upload"
    )
    extra = [a.strip() for a in str(params.get("analyses") or "").split(",") if a.strip()]
    try:
        from tonearm.catalog.analyzers import select_analyzers

        select_analyzers(extra, catalog.plugins)
    except ValueError as e:
        raise audd_error(BAD_PARAM, "upload", f"{e}.") from e
    why = await anyio.to_thread.run_sync(
        lambda: ingest_custom(catalog, data, name, audio_id, extra)
    )
    if why is not None:
        raise audd_error(500, "upload", f"the file you sent is not usable audio ({why}).")
    return {"status": "success", "result": None}


# -- enterprise -------------------------------------------------------------------------------
def _enterprise_error(request: Request, e: AuddError, t0: float) -> JSONResponse:
    from tonearm.api.errors import _request_params

    body = audd_error_body(e.code, e.message, _request_params(request), e.method, request.method)
    out = {
        "status": "error",
        "error": body["error"],
        "requested_params": body["request_params"],
        "see api documentation": body["see api documentation"],
        "contact us": body["contact us"],
        "execution_time": wire.go_duration(time.perf_counter() - t0),
    }
    return JSONResponse(out)


async def _save_input(request: Request, params: dict[str, Any], dest: Path) -> None:
    """Write the long file to ``dest`` without holding an upload twice in memory."""
    catalog = _catalog(request)
    s = catalog.settings
    f = _uploaded(params)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if f is not None and (f.size is None or f.size > 0):
        if f.size is not None and f.size > s.max_upload_bytes:
            raise audd_error(400, "recognize", "the file is too big.")

        def copy() -> int:
            f.file.seek(0)
            n = 0
            with open(dest, "wb") as out:
                while chunk := f.file.read(1 << 20):
                    n += len(chunk)
                    if n > s.max_upload_bytes:
                        raise audd_error(400, "recognize", "the file is too big.")
                    out.write(chunk)
            return n

        if await anyio.to_thread.run_sync(copy) > 0:
            return
    data, _ = await audio_input(
        request,
        {k: v for k, v in params.items() if k not in ("file",)},
        max_bytes=min(s.max_upload_bytes, s.fetch_max_bytes),
        method="recognize",
    )
    await anyio.to_thread.run_sync(dest.write_bytes, data)


@router.api_route("/enterprise/", methods=["POST"], summary="Long files (AudD enterprise)")
@router.api_route("/enterprise/", methods=["GET"], include_in_schema=False)
@router.api_route("/enterprise", methods=["GET", "POST"], include_in_schema=False)
async def enterprise_scan(request: Request) -> Response:
    """Every track in a long file (upload or ``url``), as AudD's 12-second chunks plus
    ``tracks``: one entry per track played with its start and end in the file. Synchronous
    (may take minutes); watch it with ``GET /enterprise/progress/`` meanwhile."""
    from tonearm.jobs.queue import get_queue

    t0 = time.perf_counter()
    catalog = _catalog(request)
    dest: Path | None = None
    try:
        params = await audd_params(request)
        key = _key(request, params, "recognize")
        try:
            opts = enterprise.ScanOptions.from_params(params)
        except ValueError as e:
            raise audd_error(BAD_PARAM, "recognize", f"{e}.") from e
        dest = catalog.data_dir / "uploads" / f"enterprise-{uuid.uuid4().hex}.bin"
        await _save_input(request, params, dest)
        queue = get_queue(catalog)
        job_params = {
            "input_path": str(dest),
            "skip": opts.skip,
            "every": opts.every,
            "limit": opts.limit,
            "skip_first_seconds": opts.skip_first_seconds,
            "accurate_offsets": opts.accurate_offsets,
            "returns": list(opts.returns),
            "base_url": _base_url(request),
            "request_id": getattr(request.state, "request_id", None),
        }
        job = await anyio.to_thread.run_sync(
            lambda: queue.submit(enterprise.JOB_KIND, job_params, key_id=key.key_id)
        )
        dest = None  # the job owns (and deletes) the file now
        job = await anyio.to_thread.run_sync(
            lambda: queue.wait(job.id, enterprise.JOB_TIMEOUT_S + 60)
        )
        if job.status == "failed":
            code, msg = enterprise.parse_failure(job.error)
            raise audd_error(code, "recognize", msg)
        if job.status != "succeeded" or job.result is None:
            raise audd_error(100, "recognize", "the scan did not finish in time.")
        body = dict(job.result)
        body["execution_time"] = wire.go_duration(time.perf_counter() - t0)
        if str(params.get("response_type", "")).lower() == "csv":
            return PlainTextResponse(enterprise.to_csv(body), media_type="text/csv")
        return JSONResponse(body, headers={"X-Tonearm-Job-Id": job.id})
    except AuddError as e:
        return _enterprise_error(request, e, t0)
    finally:
        if dest is not None:
            dest.unlink(missing_ok=True)


def _job_view(job: Any) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "request_id": job.params.get("request_id"),
        "status": job.status,
        "progress": round(job.progress, 3),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "error": job.error,
    }


@router.api_route("/enterprise/progress/", methods=["GET"], summary="Enterprise scans")
@router.api_route("/enterprise/progress/", methods=["POST"], include_in_schema=False)
@router.api_route(
    "/enterprise/progress/{scan_id}", methods=["GET"], summary="Enterprise scan progress"
)
@router.api_route("/enterprise/progress/{scan_id}", methods=["POST"], include_in_schema=False)
async def enterprise_progress(request: Request, scan_id: str | None = None) -> dict[str, Any]:
    """Progress of this key's enterprise scans (tonearm extension). ``scan_id`` is the job
    id or the ``X-Request-Id`` the client sent with the scan; without it, the latest scans."""
    from tonearm.jobs.queue import get_queue

    params = await audd_params(request)
    key = _key(request, params, "recognize")
    queue = get_queue(_catalog(request))
    jobs = [j for j in queue.list(key_id=key.key_id, limit=200) if j.kind == enterprise.JOB_KIND]
    if scan_id is None:
        return {"status": "success", "result": [_job_view(j) for j in jobs[:20]]}
    for j in jobs:
        if scan_id in (j.id, j.params.get("request_id")):
            return {"status": "success", "result": _job_view(j)}
    raise audd_error(BAD_PARAM, "recognize", f"no enterprise scan {scan_id!r} for this token.")


# -- streams --------------------------------------------------------------------------------
def _manager(request: Request) -> streams.StreamManager | None:
    return getattr(request.app.state, "audd_streams", None)


def _check_url(url: str, method: str, allow_private: bool, what: str) -> None:
    try:
        guard_url(url, allow_private)
    except UnsafeURL as e:
        # a host that does not resolve yet is accepted (checked again at each connection);
        # malformed, non-http(s) and private addresses are refused now
        if "cannot resolve host" not in str(e):
            raise audd_error(600, method, f"the {what} URL is not accepted: {e}") from e


async def set_callback_url(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "setCallbackUrl"
    key = _key(request, params, method)
    url = str(params.get("url") or "").strip()
    if not url:
        raise audd_error(BAD_PARAM, method, "the url parameter is required.")
    catalog = _catalog(request)
    if url != streams.EMPTY_CALLBACK_URL:
        await anyio.to_thread.run_sync(
            lambda: _check_url(url, method, catalog.settings.allow_private_urls, "callback")
        )
    streams.set_callback_url(catalog.store, key.key_id, url)
    return {"status": "success", "result": None}


async def get_callback_url(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "getCallbackUrl"
    key = _key(request, params, method)
    url = streams.get_callback_url(_catalog(request).store, key.key_id)
    if url is None:
        raise audd_error(19, method, "Internal error.")
    return {"status": "success", "result": url}


def _stream_url(params: dict[str, Any], method: str, allow_private: bool) -> str:
    url = str(params.get("url") or "").strip()
    if not url:
        raise audd_error(BAD_PARAM, method, "the url parameter is required.")
    if url.split(":", 1)[0].lower() in ("twitch", "youtube", "youtube-ch"):
        raise audd_error(
            600,
            method,
            "twitch:/youtube: shortcuts are not supported here; send the "
            "stream's direct HTTP(S) URL (Icecast, Shoutcast, MP3/AAC/Ogg).",
        )
    _check_url(url, method, allow_private, "stream")
    return url


async def add_stream(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "addStream"
    key = _key(request, params, method)
    radio_id = _int_param(params, "radio_id", method)
    catalog = _catalog(request)
    allow = catalog.settings.allow_private_urls
    url = await anyio.to_thread.run_sync(lambda: _stream_url(params, method, allow))
    callbacks = str(params.get("callbacks") or "").strip().lower() or None
    if callbacks not in (None, "before"):
        raise audd_error(BAD_PARAM, method, "the callbacks parameter can only be 'before'.")
    category = wire.longpoll_category(str(params["api_token"]), radio_id)
    rec = streams.upsert_stream(catalog.store, key.key_id, radio_id, url, callbacks, category)
    m = _manager(request)
    if m is not None:  # monitored here if no other process holds the stream's lease
        await anyio.to_thread.run_sync(m.ensure, rec)
    return {"status": "success", "result": None}


async def set_stream_url(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "setStreamUrl"
    key = _key(request, params, method)
    radio_id = _int_param(params, "radio_id", method)
    catalog = _catalog(request)
    allow = catalog.settings.allow_private_urls
    url = await anyio.to_thread.run_sync(lambda: _stream_url(params, method, allow))
    if not streams.set_stream_url(catalog.store, key.key_id, radio_id, url):
        raise audd_error(BAD_PARAM, method, f"there is no stream with radio_id {radio_id}.")
    rec = streams.get_stream(catalog.store, key.key_id, radio_id)
    m = _manager(request)
    if m is not None and rec is not None:
        await anyio.to_thread.run_sync(m.ensure, rec)
    return {"status": "success", "result": None}


async def delete_stream(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "deleteStream"
    key = _key(request, params, method)
    radio_id = _int_param(params, "radio_id", method)
    m = _manager(request)
    if m is not None:
        await anyio.to_thread.run_sync(lambda: m.stop(key.key_id, radio_id))
    if not streams.delete_stream(_catalog(request).store, key.key_id, radio_id):
        raise audd_error(BAD_PARAM, method, f"there is no stream with radio_id {radio_id}.")
    return {"status": "success", "result": None}


async def get_streams(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "getStreams"
    key = _key(request, params, method)
    m = _manager(request)
    store = _catalog(request).store
    # monitors of other processes report through their lease (as of their last heartbeat)
    running = streams.running_streams(store, key.key_id)
    local = m.monitors if m is not None else {}
    out = []
    for rec in streams.list_streams(store, key.key_id):
        here = local.get(rec.key)
        item: dict[str, Any] = {
            "radio_id": rec.radio_id,
            "url": rec.url,
            "stream_running": here.running if here is not None else rec.radio_id in running,
            "longpoll_category": rec.longpoll_category,
        }
        if rec.callbacks:
            item["callbacks"] = rec.callbacks
        out.append(item)
    return {"status": "success", "result": out}


_METHODS = {
    "recognize": _recognize,
    "setCallbackUrl": set_callback_url,
    "getCallbackUrl": get_callback_url,
    "addStream": add_stream,
    "setStreamUrl": set_stream_url,
    "deleteStream": delete_stream,
    "getStreams": get_streams,
}


def _stream_route(name: str) -> None:
    handler = _METHODS[name]

    async def route(request: Request) -> dict[str, Any]:
        return await handler(request, await audd_params(request))

    route.__name__ = f"audd_{name}"
    route.__doc__ = f"AudD ``{name}`` (stream monitoring)."
    router.add_api_route(f"/{name}/", route, methods=["POST"], summary=f"{name} (AudD)")
    router.add_api_route(f"/{name}/", route, methods=["GET"], include_in_schema=False)
    router.add_api_route(f"/{name}", route, methods=["GET", "POST"], include_in_schema=False)


for _name in (
    "setCallbackUrl",
    "getCallbackUrl",
    "addStream",
    "setStreamUrl",
    "deleteStream",
    "getStreams",
):
    _stream_route(_name)


@router.api_route("/longpoll/", methods=["GET"], summary="Longpoll (AudD)")
@router.api_route("/longpoll/", methods=["POST"], include_in_schema=False)
@router.api_route("/longpoll", methods=["GET", "POST"], include_in_schema=False)
async def longpoll(request: Request) -> dict[str, Any]:
    """Wait up to ``timeout`` seconds (1-90, default 50) for the next event of ``category``
    newer than ``since_time`` (ms); the answer's ``timestamp`` is the next ``since_time``."""
    params = await audd_params(request)
    category = str(params.get("category") or "").strip()
    if not category:
        raise audd_error(BAD_PARAM, "longpoll", "the category parameter is required.")
    try:
        timeout = float(str(params.get("timeout") or 50))
    except (TypeError, ValueError):
        timeout = 50.0
    timeout = max(1.0, min(90.0, timeout))
    try:
        since = int(str(params.get("since_time")))
    except (TypeError, ValueError):
        since = int(time.time() * 1000) - 1  # only what happens from now on
    store = _catalog(request).store
    deadline = time.monotonic() + timeout
    while True:
        now_ms = int(time.time() * 1000)
        found = streams.events_since(store, category, since, limit=1)
        if found:
            ts, payload = found[0]
            return {**payload, "timestamp": ts}
        if time.monotonic() >= deadline or await request.is_disconnected():
            # events stored after this check get a timestamp >= now_ms, so none is skipped
            return {"timeout": "no events before timeout", "timestamp": max(since, now_ms - 1)}
        await asyncio.sleep(0.2)


# -- WebSocket ------------------------------------------------------------------------------
@router.websocket("/ws/")
@router.websocket("/ws")
async def websocket_recognize(ws: WebSocket) -> None:
    """``/ws/?api_token=...&return=...``: send audio files as binary messages, as many as
    you like without waiting; each answer is AudD's recognize body plus ``seq`` (0, 1, ...:
    the order your messages arrived) and, for text messages ``{"id": ..., "audio": base64}``,
    your ``id``. Answers come as soon as each is ready, so they may arrive out of order.

    Every audio message counts against the key's per-minute rate limit and credit quota,
    like an HTTP recognize: over the limit, that message is answered at once with AudD's
    error #902 (the HTTP over-limit body, tagged with its ``seq``/``id``) and the socket
    stays open for the next minute's messages."""
    await ws.accept()
    catalog: Catalog = ws.app.state.catalog
    params = dict(ws.query_params)
    token = params.get("api_token")
    key = verify_key(catalog.store, token) if token else None
    code = 901 if not token else (900 if key is None else 0)
    if code or key is None:
        err = audd_error(code, "recognize")
        await ws.send_json(audd_error_body(code, err.message, params, "recognize", "GET"))
        await ws.close(code=1008)
        return
    returns = wire.parse_return(params.get("return"))
    platform = getattr(ws.app.state, "platform", None)
    send_lock = asyncio.Lock()
    busy = asyncio.Semaphore(2)
    tasks: set[asyncio.Task[None]] = set()

    async def send(body: dict[str, Any], tag: dict[str, Any]) -> None:
        async with send_lock:
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                await ws.send_json({**body, **tag})

    async def handle(data: bytes | None, tag: dict[str, Any], error: AuddError | None) -> None:
        t0 = time.perf_counter()
        started = _usage_now()
        try:
            if error is not None:
                raise error
            if not data:
                raise audd_error(700, "recognize")
            if len(data) > catalog.settings.recognize_max_bytes:
                raise audd_error(400, "recognize")
            async with busy:
                body = await recognize_bytes(ws, data, returns)  # type: ignore[arg-type]
        except AuddError as e:
            body = audd_error_body(e.code, e.message, params, "recognize", "GET")
        except Exception:
            log.exception("websocket recognition failed")
            body = audd_error_body(100, AUDD_MESSAGES[100], params, "recognize", "GET")
        await send(body, tag)
        if platform is not None:
            _ws_usage(platform, key, started, t0, body)

    async def admitted(tag: dict[str, Any]) -> bool:
        """Count one message against the key's limits; answer #902 when over them."""
        if platform is None:
            return True
        try:
            adm = await anyio.to_thread.run_sync(platform.admit, key)
        except Exception:  # the limits cannot be checked: serve, as the HTTP side does
            log.warning("websocket: could not check limits", exc_info=True)
            return True
        if adm.allowed:
            return True
        from tonearm.platform.middleware import AUDD_LIMIT_CODE, audd_limit_message

        message = audd_limit_message("recognize", adm.reason or "rate", adm.retry_after_s)
        body = audd_error_body(AUDD_LIMIT_CODE, message, params, "recognize", "GET")
        await send(body, tag)
        _ws_usage(
            platform, key, _usage_now(), time.perf_counter(), body, limited=adm.reason or "rate"
        )
        return False

    seq = 0
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                break
            tag: dict[str, Any] = {"seq": seq}
            seq += 1
            data = msg.get("bytes")
            error: AuddError | None = None
            if data is None and msg.get("text") is not None:
                data, error = _text_message(msg["text"], tag)
            if not await admitted(tag):  # counted in arrival order, like HTTP requests
                continue
            t = asyncio.create_task(handle(data, tag, error))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
    except WebSocketDisconnect:
        pass
    finally:
        for t in list(tasks):
            t.cancel()


def _usage_now() -> str:
    from datetime import UTC, datetime

    from tonearm.platform.usage import iso

    return iso(datetime.now(UTC))


def _ws_usage(
    platform: Any,
    key: ApiKey,
    started: str,
    t0: float,
    body: dict[str, Any],
    limited: str | None = None,
) -> None:
    """Record one WebSocket message in the key's usage, as the HTTP middleware records a
    recognize: 1 credit when it was answered without an error."""
    from tonearm.platform.usage import UsageRecord

    error = body.get("error") if body.get("status") == "error" else None
    if limited is not None:
        outcome = "rate_limited" if limited == "rate" else "usage_limited"
    else:
        outcome = "error" if error else "ok"
    try:
        platform.record(
            UsageRecord(
                key_id=key.key_id,
                ts=started,
                method="WS",
                endpoint="/ws/",
                path="/ws/",
                family="audd",
                status=200,
                outcome=outcome,
                credits=0 if error else 1,
                duration_ms=(time.perf_counter() - t0) * 1000,
                error=f"{limited} limit"
                if limited
                else f"#{error['error_code']}"
                if error
                else None,
            )
        )
    except Exception:  # bookkeeping never breaks an answer already sent
        log.warning("websocket: could not record usage", exc_info=True)


def _text_message(text: str, tag: dict[str, Any]) -> tuple[bytes | None, AuddError | None]:
    """A text message: ``{"id": ..., "audio": "<base64>"}`` or bare base64."""
    import json

    audio = text
    with contextlib.suppress(ValueError):
        obj = json.loads(text)
        if isinstance(obj, dict):
            if "id" in obj:
                tag["id"] = obj["id"]
            audio = obj.get("audio") or ""
    if not isinstance(audio, str) or not audio.strip():
        return None, audd_error(700, "recognize")
    try:
        return _decode_base64(audio, "recognize"), None
    except AuddError as e:
        return None, e


# -- lifecycle ------------------------------------------------------------------------------
async def startup(app: FastAPI) -> None:
    """Start this process's stream manager: it monitors the streams no other process
    (API server or ``tonearm worker``) holds the lease of, and takes over those of a
    process that died."""
    catalog: Catalog = app.state.catalog
    s = catalog.settings
    config = getattr(app.state, "audd_stream_config", None)
    manager = streams.StreamManager(
        catalog,
        config,
        base_url=(s.public_url or f"http://{s.host}:{s.port}").rstrip("/"),
        callback_backoff_s=getattr(app.state, "audd_callback_backoff_s", (1.0, 5.0, 30.0)),
        lease_s=getattr(app.state, "audd_stream_lease_s", None),
        heartbeat_s=getattr(app.state, "audd_stream_heartbeat_s", None),
    )
    app.state.audd_streams = manager
    await anyio.to_thread.run_sync(manager.start_all)


async def shutdown(app: FastAPI) -> None:
    manager = getattr(app.state, "audd_streams", None)
    if manager is not None:
        await anyio.to_thread.run_sync(manager.shutdown)
        app.state.audd_streams = None
