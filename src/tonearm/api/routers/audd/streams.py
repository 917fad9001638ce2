"""AudD's stream methods (``addStream`` ... ``getStreams``, ``/longpoll/``) and the
stream manager's start and stop with the app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import anyio
from fastapi import FastAPI, Request

from tonearm.api.deps import audd_params
from tonearm.api.routers.audd._common import (
    BAD_PARAM,
    METHODS,
    _catalog,
    _int_param,
    _key,
    audd_error,
    router,
)
from tonearm.catalog.context import Catalog
from tonearm.net.fetch import UnsafeURL, guard_url
from tonearm.recognition import streams, wire


# -- streams --------------------------------------------------------------------------------
def _manager(request: Request) -> streams.StreamManager | None:
    return getattr(request.app.state, "audd_streams", None)


def _check_url(
    url: str, method: str, allow_private: bool, what: str, allowlist: Sequence[str] = ()
) -> None:
    try:
        guard_url(url, allow_private, allowlist)
    except UnsafeURL as e:
        # a stream host that does not resolve yet is accepted (checked again at each
        # connection), a callback host is not; malformed, non-http(s) and private
        # addresses are refused now
        if what == "callback" or "cannot resolve host" not in str(e):
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
            lambda: _check_url(
                url,
                method,
                catalog.settings.allow_private_urls,
                "callback",
                catalog.settings.private_allowlist,
            )
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


def _stream_url(
    params: dict[str, Any], method: str, allow_private: bool, allowlist: Sequence[str] = ()
) -> str:
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
    _check_url(url, method, allow_private, "stream", allowlist)
    return url


async def add_stream(request: Request, params: dict[str, Any]) -> dict[str, Any]:
    method = "addStream"
    key = _key(request, params, method)
    radio_id = _int_param(params, "radio_id", method)
    catalog = _catalog(request)
    allow = catalog.settings.allow_private_urls
    allowlist = catalog.settings.private_allowlist
    url = await anyio.to_thread.run_sync(lambda: _stream_url(params, method, allow, allowlist))
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
    allowlist = catalog.settings.private_allowlist
    url = await anyio.to_thread.run_sync(lambda: _stream_url(params, method, allow, allowlist))
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
    "setCallbackUrl": set_callback_url,
    "getCallbackUrl": get_callback_url,
    "addStream": add_stream,
    "setStreamUrl": set_stream_url,
    "deleteStream": delete_stream,
    "getStreams": get_streams,
}


METHODS.update(_METHODS)


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
