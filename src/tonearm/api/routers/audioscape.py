"""AudioScape-compatible discovery API (``/developer/v1/...``): similar music, similar SFX,
and catalog management (ours: upload, get, update, delete, list assets).

Errors are ``{"error": "..."}`` with the seed's texts. Routers stay thin: parse and validate
here, the work is in :mod:`tonearm.discovery.similar`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, UploadFile

from tonearm.api.deps import (
    AudioScapeKey,
    AudioScapeWriter,
    CatalogDep,
    can_change,
    can_see,
    key_tenant,
)
from tonearm.api.errors import AudioScapeError
from tonearm.api.routers.audioscape_paging import page_params
from tonearm.api.routers.audioscape_search import parse_extensions
from tonearm.catalog.context import Catalog
from tonearm.discovery.index import Filters
from tonearm.discovery.search import SORTS
from tonearm.discovery.similar import NotFound, SimilarPage, mir_of, similar
from tonearm.storage.base import METADATA_FIELDS, ApiKey, Asset

log = logging.getLogger("tonearm.api")

router = APIRouter(prefix="/developer/v1", tags=["discovery (AudioScape)"])

SFX_DURATION_DEFAULT = (0.0, 400.0)
SFX_ID_ERROR = "asset_id is required and must be a numeric string"


async def startup(app: FastAPI) -> None:
    """Say which audio embedding model is in use (logs and /healthz), load it, and bring
    the vector index up to date, off the event loop."""
    catalog: Catalog = app.state.catalog

    def warm() -> None:
        from tonearm.discovery.embeddings import record_models_status
        from tonearm.discovery.index import get_index

        record_models_status(catalog)
        get_index(catalog)

    await asyncio.to_thread(warm)


async def shutdown(app: FastAPI) -> None:
    from tonearm.discovery.index import CACHE_KEY, index_dir

    catalog: Catalog = app.state.catalog
    idx = catalog.cache.get(CACHE_KEY)
    if idx is not None:
        try:
            await asyncio.to_thread(idx.save, index_dir(catalog))
        except OSError as e:
            log.warning("could not save the vector index: %s", e)


# -- parsing helpers -------------------------------------------------------------------------
def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise AudioScapeError(400, f"{name} must be a number")
    try:
        f = float(value)
    except ValueError:
        raise AudioScapeError(400, f"{name} must be a number") from None
    if not math.isfinite(f):
        raise AudioScapeError(400, f"{name} must be a number")
    return f


def _duration(
    obj: Any, default: tuple[float | None, float | None]
) -> tuple[float | None, float | None]:
    if obj is None:
        return default
    if not isinstance(obj, dict):
        raise AudioScapeError(400, "filters.duration must be an object with min and max")
    lo = _number(obj["min"], "filters.duration.min") if obj.get("min") is not None else default[0]
    hi = _number(obj["max"], "filters.duration.max") if obj.get("max") is not None else default[1]
    if lo is not None and hi is not None and lo > hi:
        raise AudioScapeError(400, "filters.duration.min must not exceed filters.duration.max")
    return lo, hi


def _names(value: Any, name: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise AudioScapeError(400, f"filters.{name} must be an array of strings")
    return [v for v in value if v.strip()] or None


def _round(x: Any, nd: int = 4) -> float | None:
    return None if x is None else round(float(x), nd)


# -- similar music ----------------------------------------------------------------------------
def _track(a: Asset, score: float) -> dict[str, Any]:
    return {
        "asset_id": a.asset_id,
        "name": a.name,
        "artist": a.artist,
        "album": a.album,
        "duration": _round(a.duration, 3),
        "genre": a.genre,
        "bpm": _round(a.bpm, 2),
        "score": round(score, 4),
        "thumbnail_url": a.thumbnail_url or "",  # a string, as the seed types it
    }


@router.post("/similar", summary="Find similar tracks (AudioScape)")
async def similar_music(
    request: Request, catalog: CatalogDep, key: AudioScapeKey
) -> dict[str, Any]:
    """Tracks that sound like the given track (itself excluded), best first.

    Body: ``{"asset_id": "123", "limit": 20, "offset": 0, "filters": {"duration":
    {"min": 60, "max": 240}}}``. ``limit`` defaults to 20, values above 100 are capped.
    """
    try:
        body = await request.json()
    except Exception:
        raise AudioScapeError(400, "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise AudioScapeError(400, "Invalid JSON body")
    raw_id = body.get("asset_id")
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        raise AudioScapeError(400, "Missing required field: asset_id")
    if isinstance(raw_id, bool) or not str(raw_id).strip().isdigit():
        raise AudioScapeError(400, "Invalid asset_id: must be a numeric string")
    asset_id = str(raw_id).strip()
    limit, offset = page_params(body.get("limit"), body.get("offset"))
    filters = body.get("filters")
    if filters is not None and not isinstance(filters, dict):
        raise AudioScapeError(400, "filters must be an object")
    lo, hi = _duration((filters or {}).get("duration"), (None, None))
    extra, sort = parse_extensions(filters or {}, body.get("sort"))
    try:
        page = await asyncio.to_thread(
            similar,
            catalog,
            asset_id,
            "music",
            limit=limit,
            offset=offset,
            filters=Filters(min_duration=lo, max_duration=hi, hidden=_hidden(catalog, key)),
            extra=extra,
            sort=sort,
        )
    except NotFound:
        raise AudioScapeError(400, "Invalid asset_id: no track with this asset_id") from None
    return {
        "tracks": [_track(a, s) for a, s in page.items],
        "meta": {"total": page.total, "limit": limit, "offset": offset},
    }


# -- similar sound effects ------------------------------------------------------------------
def _sfx(catalog: Catalog, a: Asset, score: float) -> dict[str, Any]:
    mir = mir_of(catalog, a.asset_id)
    return {
        "asset_id": int(a.asset_id),
        "name": a.name,
        "description": a.description,
        "category": a.category,
        "subcategory": a.subcategory,
        "tags": a.tags,
        "duration": _round(a.duration, 3),
        "score": round(score, 4),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
        "creator_id": a.creator_id,
        "creator_name": a.creator_name,
        "true_peak_dbtp": mir.get("true_peak_dbtp"),
        "sound_start_sec": mir.get("sound_start_sec"),
        "sound_end_sec": mir.get("sound_end_sec"),
    }


def _bool(value: str | None, name: str) -> bool:
    if value is None or value == "":
        return False
    v = value.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise AudioScapeError(400, f"{name} must be true or false")


def _sfx_page(catalog: Catalog, page: SimilarPage, limit: int, offset: int) -> dict[str, Any]:
    return {
        "tracks": [_sfx(catalog, a, s) for a, s in page.items],
        "meta": {"total": page.total, "limit": limit, "offset": offset},
    }


@router.get("/sfx/similar", summary="Similar sound effects (AudioScape)")
async def sfx_similar(
    catalog: CatalogDep,
    key: AudioScapeKey,
    asset_id: Annotated[str | None, Query(description="SFX asset ID (numeric string)")] = None,
    limit: Annotated[str | None, Query(description="Max results (default 20, max 100)")] = None,
    offset: Annotated[str | None, Query(description="Pagination offset")] = None,
    filters: Annotated[
        str | None,
        Query(
            description='JSON: {"categories": [...], "subcategories": [...], '
            '"duration": {"min": 0, "max": 400}}'
        ),
    ] = None,
    max_score: Annotated[
        str | None, Query(description="Drop results scoring at or above this (0-1)")
    ] = None,
    dedupe: Annotated[
        str | None, Query(description="Drop near-duplicates (a measured default max_score)")
    ] = None,
    sort: Annotated[
        str | None,
        Query(description="tonearm extension: score (default), duration_asc, duration_desc"),
    ] = None,
) -> dict[str, Any]:
    """Sound effects that sound like the given one (itself excluded), best first, with the
    MIR fields ``true_peak_dbtp``, ``sound_start_sec`` and ``sound_end_sec`` (may be null)."""
    if asset_id is None or not asset_id.strip().isdigit():
        raise AudioScapeError(400, SFX_ID_ERROR)
    n_limit, n_offset = page_params(limit, offset, text=True)
    f: dict[str, Any] = {}
    if filters is not None and filters.strip():
        try:
            f = json.loads(filters)
        except json.JSONDecodeError as e:
            raise AudioScapeError(
                400, f"filters must be a JSON-encoded object: {e.msg} at position {e.pos}"
            ) from None
        if not isinstance(f, dict):
            raise AudioScapeError(400, "filters must be a JSON-encoded object")
    lo, hi = _duration(f.get("duration"), SFX_DURATION_DEFAULT)
    flt = Filters(
        categories=_names(f.get("categories"), "categories"),
        subcategories=_names(f.get("subcategories"), "subcategories"),
        min_duration=lo,
        max_duration=hi,
        hidden=_hidden(catalog, key),
    )
    ms: float | None = None
    if max_score is not None and max_score.strip():
        ms = _number(max_score, "max_score")
        if not 0.0 <= ms <= 1.0:
            raise AudioScapeError(400, "max_score must be between 0 and 1")
    dd = _bool(dedupe, "dedupe")
    order = (sort or "").strip() or "score"
    if order not in SORTS:
        raise AudioScapeError(400, f"sort must be one of {', '.join(SORTS)}")
    try:
        page = await asyncio.to_thread(
            similar,
            catalog,
            asset_id.strip(),
            "sfx",
            limit=n_limit,
            offset=n_offset,
            filters=flt,
            max_score=ms,
            dedupe=dd,
            sort=order,
        )
    except NotFound:
        raise AudioScapeError(404, "asset_id not found") from None
    return await asyncio.to_thread(_sfx_page, catalog, page, n_limit, n_offset)


# -- catalog management (tonearm) --------------------------------------------------------------
def _asset_json(catalog: Catalog, a: Asset) -> dict[str, Any]:
    d: dict[str, Any] = {
        "asset_id": a.asset_id,
        "kind": a.kind,
        **{k: getattr(a, k) for k in METADATA_FIELDS},
        "duration": _round(a.duration, 3),
        "created_at": a.created_at,
        "updated_at": a.updated_at,
    }
    mir = mir_of(catalog, a.asset_id)
    for k in ("true_peak_dbtp", "loudness_lufs", "sound_start_sec", "sound_end_sec"):
        d[k] = mir.get(k)
    return d


def _hidden(catalog: Catalog, key: ApiKey) -> frozenset[int]:
    """Other accounts' assets: never a seed nor a result for this key."""
    return frozenset(catalog.store.hidden_asset_ids(key_tenant(key)))


def _get(catalog: Catalog, asset_id: str, key: ApiKey) -> Asset:
    """The asset, if ``key`` may see it (the shared catalog or its own account's)."""
    a = catalog.store.get_asset(asset_id) if asset_id.isdigit() else None
    if a is None or not can_see(key, a.tenant):
        raise AudioScapeError(404, "asset_id not found")
    return a


def _own(catalog: Catalog, asset_id: str, key: ApiKey) -> Asset:
    """The asset, if ``key`` may change it (its own account's)."""
    a = _get(catalog, asset_id, key)
    if not can_change(key, a.tenant):
        raise AudioScapeError(403, "This API key cannot change the shared catalog")
    return a


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise AudioScapeError(400, f"metadata must be a JSON object: {e.msg}") from None
    if not isinstance(raw, dict):
        raise AudioScapeError(400, "metadata must be a JSON object")
    unknown = sorted(set(raw) - set(METADATA_FIELDS))
    if unknown:
        raise AudioScapeError(
            400,
            f"unknown metadata fields: {', '.join(unknown)} "
            f"(allowed: {', '.join(METADATA_FIELDS)})",
        )
    return raw


@router.post("/assets", status_code=201, summary="Upload an asset (tonearm)")
async def upload_asset(
    catalog: CatalogDep,
    key: AudioScapeWriter,
    file: Annotated[UploadFile, File(description="Audio file")],
    kind: Annotated[str, Form(description="music or sfx")] = "sfx",
    metadata: Annotated[
        str | None, Form(description='JSON object, e.g. {"name": "..", "category": ".."}')
    ] = None,
) -> dict[str, Any]:
    """Add one audio file (multipart) with its metadata; runs every default analysis.
    Answers the new ``asset_id`` (or the existing one when the same audio is there)."""
    from tonearm.catalog.ingest import KINDS, ingest_bytes

    if kind not in KINDS:
        raise AudioScapeError(400, "kind must be music or sfx")
    meta = _metadata(metadata)
    data = await file.read(catalog.settings.max_upload_bytes + 1)
    if len(data) > catalog.settings.max_upload_bytes:
        raise AudioScapeError(413, "file too large")
    if not data:
        raise AudioScapeError(400, "file is empty")
    out = await asyncio.to_thread(
        ingest_bytes,
        catalog,
        data,
        filename=file.filename or "upload",
        kind=kind,
        metadata=meta,
        tenant=key_tenant(key),
    )
    if out.status == "failed":
        raise AudioScapeError(400, f"not a usable audio file: {out.reason}")
    a = _get(catalog, out.asset_id or "", key)
    return {"status": out.status, **_asset_json(catalog, a)}


@router.get("/assets", summary="List assets (tonearm)")
def list_assets(
    catalog: CatalogDep,
    key: AudioScapeKey,
    kind: Annotated[str | None, Query(description="music or sfx")] = None,
    limit: Annotated[str | None, Query()] = None,
    offset: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    if kind not in (None, "", "music", "sfx"):
        raise AudioScapeError(400, "kind must be music or sfx")
    n_limit, n_offset = page_params(limit, offset, text=True)
    st = catalog.store
    tenant = key_tenant(key)
    rows = st.list_assets(kind or None, limit=n_limit, offset=n_offset, tenant=tenant)
    total = st.count_assets(kind or None, tenant=tenant)
    return {
        "assets": [_asset_json(catalog, a) for a in rows],
        "meta": {"total": total, "limit": n_limit, "offset": n_offset},
    }


@router.get("/assets/{asset_id}", summary="Get an asset (tonearm)")
def get_asset(asset_id: str, catalog: CatalogDep, key: AudioScapeKey) -> dict[str, Any]:
    return _asset_json(catalog, _get(catalog, asset_id, key))


@router.patch("/assets/{asset_id}", summary="Update an asset's metadata (tonearm)")
async def update_asset(
    asset_id: str, request: Request, catalog: CatalogDep, key: AudioScapeWriter
) -> dict[str, Any]:
    _own(catalog, asset_id, key)
    try:
        body = await request.json()
    except Exception:
        raise AudioScapeError(400, "Invalid JSON body") from None
    meta = _metadata(body)
    from tonearm.catalog.metadata import coerce

    fields = coerce(meta)
    # explicit nulls clear a field (coerce drops them)
    fields.update({k: None for k, v in meta.items() if v is None})
    a = catalog.store.update_asset(asset_id, fields) if fields else _get(catalog, asset_id, key)
    return _asset_json(catalog, a)


@router.delete("/assets/{asset_id}", summary="Delete an asset (tonearm)")
def delete_asset(asset_id: str, catalog: CatalogDep, key: AudioScapeWriter) -> dict[str, Any]:
    """Remove the asset, its analyses, its vector and its fingerprints, and its file when no
    other asset shares it."""
    from tonearm.catalog.assets import delete_asset as remove

    a = _own(catalog, asset_id, key)
    remove(catalog, a)
    return {"asset_id": a.asset_id, "deleted": True}
