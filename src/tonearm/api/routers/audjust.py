"""Audjust-compatible editing API: analyze, result files, uploads, request status.

- ``POST /analyze``: queue an analysis; the result is POSTed to ``resultWebhook`` and served
  at ``resultUrl`` (``/results/{requestId}/analysis.json``).
- ``GET /results/{requestId}/{file}``: any stored result file (expires after 30 days).
- ``POST /upload`` (``X-API-Key``, multipart ``file`` or a raw body): stores a file for one
  hour and returns a URL usable as ``sourceFileUrl``. AudD's ``/upload/`` (with the slash,
  ``api_token``) is another router; an AudD-style call that reaches ``/upload`` without the
  slash is redirected there unchanged.
- Extensions (not in Audjust): ``GET /requests/{requestId}`` for status polling (for
  clients that cannot receive webhooks; ``resultWebhook`` is optional here), and
  ``GET /webhooks/secret`` for the key's webhook signing secret.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

from tonearm.api.deps import AudjustKey, AudjustScoped, CatalogDep
from tonearm.api.errors import AudjustError
from tonearm.catalog.context import Catalog
from tonearm.editing import analyze_job as _analyze_job  # noqa: F401  (registers the job kind)
from tonearm.editing.analyze import RAW_FEATURES
from tonearm.jobs import get_queue, is_job_id
from tonearm.jobs.queue import _now, _parse
from tonearm.jobs.uploads import resolve_upload, save_upload
from tonearm.jobs.webhooks import webhook_secret
from tonearm.net.fetch import UnsafeURL, guard_url

router = APIRouter(tags=["editing (Audjust)"])

SUPPORTED_FEATURES = (RAW_FEATURES,)


async def startup(app: FastAPI) -> None:
    """Embedded mode: job workers run inside the API process (``settings.workers``)."""
    catalog: Catalog = app.state.catalog
    get_queue(catalog).start_workers()


async def shutdown(app: FastAPI) -> None:
    catalog: Catalog = app.state.catalog
    q = catalog.cache.get("jobs.queue")
    if q is not None:
        q.stop_workers()


def public_base(request: Request, catalog: Catalog) -> str:
    from tonearm.api.guard import request_base_url

    return request_base_url(request, catalog.settings)


async def json_params(request: Request) -> dict[str, Any]:
    """The JSON object body (Audjust takes every parameter as JSON)."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise AudjustError(400, "Invalid JSON body") from e
    if not isinstance(body, dict):
        raise AudjustError(400, "Invalid JSON body: expected an object")
    return body


def require_str(params: dict[str, Any], name: str) -> str:
    v = params.get(name)
    if v is None or (isinstance(v, str) and not v.strip()):
        raise AudjustError(400, f"Missing parameter: {name}")
    if not isinstance(v, str):
        raise AudjustError(400, f"Invalid parameter: {name} must be a string")
    return v.strip()


def optional_webhook(
    params: dict[str, Any], catalog: Catalog, required: bool = False
) -> str | None:
    """``resultWebhook``: checked now (SSRF guard) so a bad one is refused up front."""
    if params.get("resultWebhook") in (None, "") and not required:
        return None
    url = require_str(params, "resultWebhook")
    try:
        guard_url(url, catalog.settings.allow_private_urls, catalog.settings.private_allowlist)
    except UnsafeURL as e:
        raise AudjustError(400, f"Invalid parameter: resultWebhook ({e})") from e
    return url


def features_param(params: dict[str, Any]) -> list[str]:
    feats = params.get("features", [])
    if feats is None:
        return []
    if not isinstance(feats, list) or not all(isinstance(f, str) for f in feats):
        raise AudjustError(400, "Invalid parameter: features must be an array of strings")
    unknown = [f for f in feats if f not in SUPPORTED_FEATURES]
    if unknown:
        raise AudjustError(
            400,
            f"Invalid parameter: features ({', '.join(unknown)} not supported; "
            f"supported: {', '.join(SUPPORTED_FEATURES)})",
        )
    return list(dict.fromkeys(feats))


@router.post("/analyze", summary="Analyze beats, tempo, self-similarity (Audjust)")
async def analyze(request: Request, key: AudjustKey, catalog: CatalogDep) -> dict[str, Any]:
    params = await json_params(request)
    url = require_str(params, "sourceFileUrl")
    feats = features_param(params)
    webhook = optional_webhook(params, catalog)
    job = get_queue(catalog).submit(
        "analyze",
        {"sourceFileUrl": url, "features": feats},
        webhook=webhook,
        key_id=key.key_id,
    )
    return {
        "success": True,
        "message": "Request queued.",
        "requestId": job.id,
        "resultUrl": f"{public_base(request, catalog)}/results/{job.id}/analysis.json",
    }


def _expired(expires_at: str | None) -> bool:
    t = _parse(expires_at)
    return t is not None and t < _now()


@router.get("/results/{request_id}/{name:path}", summary="A stored result file")
async def result_file(request_id: str, name: str, catalog: CatalogDep) -> Response:
    if not is_job_id(request_id):
        raise AudjustError(404, "Result not found")
    job = get_queue(catalog).get(request_id)
    if job is None or _expired(job.expires_at):
        raise AudjustError(404, "Result not found")
    # through the blob store: with S3, another node may have run the job
    path = await asyncio.to_thread(get_queue(catalog).result_path, request_id, name)
    if path is None:
        if not job.done and name and "/" not in name and not name.startswith("."):
            raise AudjustError(404, "Result not ready yet")
        raise AudjustError(404, "Result not found")
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(path, media_type=ctype)


@router.get("/requests/{request_id}", summary="Request status (tonearm extension)")
async def request_status(request_id: str, key: AudjustKey, catalog: CatalogDep) -> dict[str, Any]:
    job = get_queue(catalog).get(request_id)
    if job is None or job.key_id != key.key_id:
        raise AudjustError(404, "Request not found")
    out: dict[str, Any] = {"success": True, **job.to_public()}
    if job.done:
        out["result"] = job.result
    return out


@router.get("/webhooks/secret", summary="Webhook signing secret of this key (tonearm extension)")
async def get_webhook_secret(key: AudjustKey, catalog: CatalogDep) -> dict[str, Any]:
    return {
        "success": True,
        "secret": webhook_secret(catalog, key.key_id),
        "header": "X-Tonearm-Signature",
        "algorithm": "sha256=HMAC-SHA256(secret, raw request body), hex",
    }


# checked in the handler: an AudD client's POST /upload is redirected before any key check
UPLOAD_SCOPE = AudjustScoped("read")


@router.post("/upload", summary="Upload a file to use as sourceFileUrl (Audjust)")
async def upload(request: Request, catalog: CatalogDep) -> Response:
    if "x-api-key" not in request.headers and await _is_audd_call(request):
        # an AudD client that left out the trailing slash: 307 makes it resend the same
        # request to AudD's endpoint
        target = request.url.replace(path="/upload/")
        return RedirectResponse(str(target), status_code=307)
    key = UPLOAD_SCOPE(request, request.headers.get("x-api-key"))
    data, filename = await _read_upload_body(request, catalog.settings.max_upload_bytes)
    token, name, expires = save_upload(catalog, data, filename, key_id=key.key_id)
    url = f"{public_base(request, catalog)}/uploads/{token}/{name}"
    return JSONResponse(
        {
            "success": True,
            "message": "File uploaded.",
            "sourceFileUrl": url,
            "expiresAt": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    )


async def _is_audd_call(request: Request) -> bool:
    """AudD passes ``api_token`` (query or form); Audjust passes ``X-API-Key``."""
    if "api_token" in request.query_params:
        return True
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        try:
            form = await request.form()
        except Exception:
            return False
        return "api_token" in form
    return False


async def _read_upload_body(request: Request, max_bytes: int) -> tuple[bytes, str | None]:
    ctype = request.headers.get("content-type", "")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 1_000_000:
        raise AudjustError(413, f"File too large (limit {max_bytes} bytes)")
    if ctype.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception as e:
            raise AudjustError(400, "Invalid multipart body") from e
        f = form.get("file")
        if f is None or isinstance(f, str):
            raise AudjustError(400, "Missing parameter: file")
        data = await f.read()
        filename = f.filename
    else:
        data = await request.body()
        filename = request.query_params.get("filename")
    if not data:
        raise AudjustError(400, "Missing parameter: file")
    if len(data) > max_bytes:
        raise AudjustError(413, f"File too large (limit {max_bytes} bytes)")
    return data, filename


@router.get("/uploads/{token}/{name}", summary="A temporary upload (its URL is the secret)")
async def uploaded_file(token: str, name: str, catalog: CatalogDep) -> Response:
    path = resolve_upload(catalog, token)
    if path is None or path.name != name:
        raise AudjustError(404, "Upload not found or expired")
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(Path(path), media_type=ctype)
