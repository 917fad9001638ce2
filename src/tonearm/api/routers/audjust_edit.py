"""Audjust-compatible ``POST /resize`` and ``POST /export``, plus our ``POST /loop``.

Thin: validate the body into Audjust's error format, call the editing services, answer
in Audjust's shapes. Long work (export, resize with a webhook) goes through the job
queue; results are written under ``results_dir/<requestId>/`` and served at
``/results/<requestId>/...``.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tonearm.api.deps import AudjustKey, CatalogDep
from tonearm.api.errors import AudjustError
from tonearm.api.routers.audjust import json_params, public_base
from tonearm.editing import export as _export_jobs  # noqa: F401  (registers export/resize jobs)
from tonearm.editing.export import (
    EXPORT_FORMATS,
    MAX_GROUPS,
    MAX_OUTPUT_S_PER_GROUP,
    MAX_SEGMENTS_PER_GROUP,
    export_urls,
)
from tonearm.editing.resize_service import RequestError, parse_resize_request, run_resize
from tonearm.jobs import get_queue, new_job_id

router = APIRouter(tags=["editing (Audjust)"])

_RESIZE_EXAMPLE = {
    "targetLengthSeconds": 30,
    "similarity": {"data": "~~~~~~", "min": 32, "max": 126},
    "boundaries": [0.0, 0.5, 1.0],
}
_EXPORT_EXAMPLE = {
    "resultWebhook": "https://example.com/audjust-webhook",
    "sourceFileUrl": "https://example.com/sample.mp3",
    "exportFormat": "mp3_128",
    "segmentsGroups": [[[0, 29.77], [171.36, 175.24]], [[0, 5.15], [145.57, 175.24]]],
}


def results_base(request: Request) -> str:
    """Where clients fetch results: ``settings.public_url`` or this request's base URL."""
    return public_base(request, request.app.state.catalog) + "/results"


def _check_webhook(catalog: Any, url: Any, *, required: bool) -> str | None:
    if url is None or url == "":
        if required:
            raise AudjustError(400, "Missing parameter: resultWebhook")
        return None
    if not isinstance(url, str):
        raise AudjustError(400, "Invalid parameter: resultWebhook (must be a URL)")
    from tonearm.jobs.webhooks import check_webhook_url

    try:
        s = catalog.settings
        check_webhook_url(url, s.allow_private_urls, s.private_allowlist)
    except ValueError as e:
        raise AudjustError(400, f"Invalid parameter: resultWebhook ({e})") from e
    return url


def _resize_or_loop(
    request: Request, catalog: Any, key: Any, body: Any, *, loop: bool
) -> dict[str, Any]:
    try:
        parse_resize_request(body, loop=loop)  # refuse bad input now, not in the webhook
    except RequestError as e:
        raise AudjustError(400, e.message) from e
    params = dict(body)
    params.pop("resultWebhook", None)
    if loop:
        params["loop"] = True
    webhook = _check_webhook(catalog, body.get("resultWebhook"), required=False)
    if webhook is None:
        try:
            return run_resize(new_job_id(), params)
        except RequestError as e:
            raise AudjustError(400, e.message) from e
    job = get_queue(catalog).submit("resize", params, webhook=webhook, key_id=key.key_id)
    return {
        "success": True,
        "message": "Request queued.",
        "requestId": job.id,
        "resultUrl": f"{results_base(request)}/{job.id}/resize.json",
    }


@router.post("/resize", openapi_extra={"requestBody": {"content": {"application/json": {
    "example": _RESIZE_EXAMPLE}}, "required": True}})  # fmt: skip
async def resize_endpoint(request: Request, catalog: CatalogDep, key: AudjustKey) -> dict[str, Any]:
    """Candidate edits of about ``targetLengthSeconds`` (about 20, best first).

    Without ``resultWebhook`` the answer is ``{requestId, result, success, creditCost}``;
    with it, ``{success, message: "Request queued.", requestId, resultUrl}`` now and the
    same answer POSTed to the webhook later. Extension: ``"loop": true`` returns seamless
    loops instead (see ``/loop``)."""
    body = await json_params(request)
    return await run_in_threadpool(_resize_or_loop, request, catalog, key, body, loop=False)


@router.post("/loop", openapi_extra={"requestBody": {"content": {"application/json": {
    "example": _RESIZE_EXAMPLE}}, "required": True}})  # fmt: skip
async def loop_endpoint(request: Request, catalog: CatalogDep, key: AudjustKey) -> dict[str, Any]:
    """Seamless loops (our extension): sections of about ``targetLengthSeconds`` whose end
    flows into their start. Same body and answers as ``/resize``; each result also has
    ``loopStartSeconds``, ``loopEndSeconds``, ``loopStartSample``, ``loopEndSample`` (at
    ``sampleRate``, default 44100). Export one with ``/export`` and ``"loop": true``."""
    body = await json_params(request)
    return await run_in_threadpool(_resize_or_loop, request, catalog, key, body, loop=True)


def _validate_groups(groups: Any) -> list[list[list[float]]]:
    if groups is None:
        raise AudjustError(400, "Missing parameter: segmentsGroups")
    bad = AudjustError(
        400,
        "Invalid parameter: segmentsGroups (must be an array of groups, each an array of "
        "[startSeconds, endSeconds] segments)",
    )
    if not isinstance(groups, list) or not groups:
        raise bad
    if len(groups) > MAX_GROUPS:
        raise AudjustError(400, f"Invalid parameter: segmentsGroups (at most {MAX_GROUPS})")
    out: list[list[list[float]]] = []
    for group in groups:
        if not isinstance(group, list) or not group or len(group) > MAX_SEGMENTS_PER_GROUP:
            raise bad
        segs: list[list[float]] = []
        total = 0.0
        for seg in group:
            if (
                not isinstance(seg, list)
                or len(seg) != 2
                or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
                    for x in seg
                )
            ):
                raise bad
            total += max(0.0, float(seg[1]) - float(seg[0]))
            segs.append([float(seg[0]), float(seg[1])])
        if total > MAX_OUTPUT_S_PER_GROUP:
            raise AudjustError(
                400,
                f"Invalid parameter: segmentsGroups (a group may last at most "
                f"{MAX_OUTPUT_S_PER_GROUP:g} s)",
            )
        out.append(segs)
    return out


@router.post("/export", openapi_extra={"requestBody": {"content": {"application/json": {
    "example": _EXPORT_EXAMPLE}}, "required": True}})  # fmt: skip
async def export_endpoint(request: Request, catalog: CatalogDep, key: AudjustKey) -> dict[str, Any]:
    """Render each group of ``[start, end]`` segments (seconds) of ``sourceFileUrl`` to
    ``exportFormat`` (mp3_128, mp3_256, mp3_320, wav). Queued; the webhook gets
    ``{requestId, sourceFileUrl, resultUrls, failures, success, creditCost}``.
    Extensions: ``"loop": true`` renders each group as a seamless loop;
    ``"exactLengthSeconds": x`` time-stretches each output (at most 3 %) to exactly x."""
    body = await json_params(request)
    webhook = _check_webhook(catalog, body.get("resultWebhook"), required=True)
    src = body.get("sourceFileUrl")
    if not src:
        raise AudjustError(400, "Missing parameter: sourceFileUrl")
    if not isinstance(src, str) or not src.lower().startswith(("http://", "https://")):
        raise AudjustError(400, "Invalid parameter: sourceFileUrl (must be an http(s) URL)")
    fmt = body.get("exportFormat")
    if fmt is None:
        raise AudjustError(400, "Missing parameter: exportFormat")
    if fmt not in EXPORT_FORMATS:
        raise AudjustError(
            400, f"Invalid parameter: exportFormat (one of {', '.join(EXPORT_FORMATS)})"
        )
    groups = _validate_groups(body.get("segmentsGroups"))
    exact = body.get("exactLengthSeconds")
    if exact is not None and (
        isinstance(exact, bool)
        or not isinstance(exact, int | float)
        or not math.isfinite(exact)
        or exact <= 0
    ):
        raise AudjustError(400, "Invalid parameter: exactLengthSeconds (a positive number)")
    loop = body.get("loop", False)
    if not isinstance(loop, bool):
        raise AudjustError(400, "Invalid parameter: loop (true or false)")

    queue = get_queue(catalog)
    base = results_base(request)
    params: dict[str, Any] = {
        "sourceFileUrl": src,
        "exportFormat": fmt,
        "segmentsGroups": groups,
        "loop": loop,
        "exactLengthSeconds": float(exact) if exact is not None else None,
        "resultsBase": base,
    }
    job = await run_in_threadpool(
        queue.submit, "export", params, webhook=webhook, key_id=key.key_id
    )
    return {
        "success": True,
        "message": "Request queued.",
        "requestId": job.id,
        "resultUrls": export_urls(base, job.id, fmt, len(groups)),
    }
