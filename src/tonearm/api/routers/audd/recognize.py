"""AudD ``recognize`` (``/``, ``/recognize``): identify a song and the timecode of an
excerpt. Decoding and the fingerprint rate are the recognition service's business
(:mod:`tonearm.recognition.inputs`): the route hands it the bytes."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import RedirectResponse

from tonearm.api.deps import audd_params
from tonearm.api.routers.audd._common import (
    BAD_PARAM,
    METHODS,
    _base_url,
    _catalog,
    _key,
    audd_error,
    audio_input,
    router,
)
from tonearm.core.audio.errors import AudioError
from tonearm.recognition import wire

_AUDIO_CODES = {"too_large": 400, "too_long": 400, "too_short": 300, "empty": 500, "bad_url": 600}


async def recognize_bytes(
    request: Request,
    data: bytes,
    returns: list[str],
    method: str = "recognize",
    *,
    tenant: str | None,
) -> dict[str, Any]:
    """Decode and recognize one excerpt: AudD's success body (``result`` null: no match).
    Bad audio is AudD's error (400 over the 10 MB/25 s limits, 300 under 1 s, 500 not
    audio)."""
    from tonearm.recognition.inputs import recognize_bytes as recognize_excerpt

    catalog = _catalog(request)
    try:
        matches = await anyio.to_thread.run_sync(
            lambda: recognize_excerpt(catalog, data, top_k=1, tenant=tenant)
        )
    except AudioError as e:
        raise audd_error(_AUDIO_CODES.get(e.reason, 500), method) from e
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
    key = _key(request, params, "recognize")
    s = _catalog(request).settings
    data, _ = await audio_input(
        request, params, max_bytes=s.recognize_max_bytes, method="recognize"
    )
    # ``market`` is accepted; the catalog stores one version of the metadata
    returns = wire.parse_return(params.get("return"))
    return await recognize_bytes(request, data, returns, tenant=key.tenant)


def is_enterprise_host(request: Request) -> bool:
    """The request came to AudD's enterprise host: the enterprise port, or a host name
    configured as the enterprise host."""
    s = _catalog(request).settings
    server = request.scope.get("server")
    if s.audd_enterprise_port and server is not None and server[1] == s.audd_enterprise_port:
        return True
    if s.audd_enterprise_hosts:
        host = (request.headers.get("host") or "").rsplit(":", 1)[0].strip("[]").lower()
        return host in {h.lower() for h in s.audd_enterprise_hosts}
    return False


@router.api_route("/", methods=["POST"], summary="Recognize (AudD)")
@router.api_route("/", methods=["GET"], include_in_schema=False)
async def root(request: Request) -> Any:
    """AudD ``recognize``: ``api_token`` plus ``url``, ``file`` or ``audio`` (base64);
    optional ``return`` and ``market``. ``GET /`` without parameters opens the web UI.

    On AudD's enterprise host (``TONEARM_AUDD_ENTERPRISE_PORT``, or a host name in
    ``TONEARM_AUDD_ENTERPRISE_HOSTS``), ``/`` is the long-file endpoint: clients that take
    two base URLs send enterprise requests to the root of the second one."""
    if is_enterprise_host(request):
        from tonearm.api.routers.audd.enterprise import enterprise_scan

        return await enterprise_scan(request)
    if request.method == "GET" and not request.query_params:
        return RedirectResponse("/ui/", status_code=307)
    params = await audd_params(request)
    method = str(params.get("method") or "recognize")
    handler = METHODS.get(method)
    if handler is None:
        raise audd_error(BAD_PARAM, "recognize", f"unknown API method {method!r}.")
    return await handler(request, params)


@router.api_route("/recognize", methods=["POST"], summary="Recognize (AudD)")
@router.api_route("/recognize", methods=["GET"], include_in_schema=False)
@router.api_route("/recognize/", methods=["GET", "POST"], include_in_schema=False)
async def recognize(request: Request) -> Any:
    """Same as ``/``: identify a song and the timecode of an excerpt."""
    return await _recognize(request, await audd_params(request))


METHODS["recognize"] = _recognize
