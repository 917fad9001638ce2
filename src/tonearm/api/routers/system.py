"""Health and service information."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from tonearm import __version__
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
    }
