"""AudD ``/enterprise/``: every track in a long file, run as a job
(:mod:`tonearm.recognition.enterprise`), and ``/enterprise/progress/``."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from tonearm.api.deps import audd_params
from tonearm.api.errors import AuddError, audd_error_body
from tonearm.api.routers.audd._common import (
    BAD_PARAM,
    _base_url,
    _catalog,
    _key,
    _uploaded,
    audd_error,
    audio_input,
    router,
)
from tonearm.recognition import enterprise, wire


# -- enterprise -------------------------------------------------------------------------------
def _enterprise_error(request: Request, e: AuddError, t0: float) -> JSONResponse:
    from tonearm.api.errors import _request_params

    body = audd_error_body(e.code, e.message, _request_params(request), e.method, request.method)
    out = {
        "status": "error",
        "error": body["error"],
        "requested_params": body.get("request_params", body.get("requested_params")),
        "see api documentation": body["see api documentation"],
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
            "tenant": key.tenant,  # the key's account: its own songs and the shared catalog
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
