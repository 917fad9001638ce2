"""AudD's ``/ws/`` WebSocket: many excerpts over one connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import anyio
from fastapi import WebSocket, WebSocketDisconnect

from tonearm.api.deps import AUDD_METHOD_SCOPES, missing_scope
from tonearm.api.errors import AUDD_MESSAGES, AuddError, audd_error_body
from tonearm.api.routers.audd._common import _decode_base64, audd_error, router
from tonearm.api.routers.audd.recognize import recognize_bytes
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import verify_key
from tonearm.recognition import wire
from tonearm.storage.base import ApiKey

log = logging.getLogger("tonearm.api.audd")


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
    if key is not None and AUDD_METHOD_SCOPES["recognize"] not in key.scopes:
        code = 904
    if code or key is None:
        err = (
            audd_error(904, "recognize", "authorization failed: " + missing_scope("read") + ".")
            if code == 904
            else audd_error(code, "recognize")
        )
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
                body = await recognize_bytes(
                    ws,  # type: ignore[arg-type]
                    data,
                    returns,
                    tenant=key.tenant,
                )
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
