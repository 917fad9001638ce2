"""Health and service information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tonearm import __version__
from tonearm.api.ops import readiness
from tonearm.catalog.analyzers import available_analyzers
from tonearm.core.features.beats import default_activation

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz(request: Request) -> dict[str, Any]:
    """Liveness plus what this server can do: catalog size, analyzers, models."""
    catalog = request.app.state.catalog
    store = catalog.store
    return {
        "status": "ok",
        "version": __version__,
        "schema_version": store.schema_version(),
        "assets": {"music": store.count_assets("music"), "sfx": store.count_assets("sfx")},
        "analyzers": sorted(available_analyzers(catalog.plugins)),
        "models": catalog.cache.get("models_status", {}),
        # which beat activation the tracker decodes: "dsp" (spectral flux) or "beatnet"
        "beat_activation": default_activation(),
        # which similarity similar-SFX ranked by at its last query: "learned" from the
        # library's categories or "unlabelled" (discovery.sfx_metric); null before any
        "similar_sfx": catalog.cache.get("similar_sfx_status"),
    }


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers, the job queue is reachable, the fingerprint and
    vector indexes are loaded (200), or which of them is not (503)."""
    checks = await run_in_threadpool(readiness, request.app.state.catalog)
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    registry = request.app.state.metrics.registry
    body = await run_in_threadpool(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
