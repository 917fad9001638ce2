"""AudioScape-compatible music search: ``POST /developer/v1/search``."""

from __future__ import annotations

import math
import threading
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from tonearm.api.deps import AudioScapeKey, CatalogDep, key_tenant
from tonearm.api.errors import AudioScapeError
from tonearm.api.routers.audioscape_paging import DEFAULT_LIMIT, MAX_LIMIT, page_params
from tonearm.discovery import text as text_model
from tonearm.discovery.search import SORTS, TrackFilters, parse_key, search

router = APIRouter(prefix="/developer/v1", tags=["discovery (AudioScape)"])

MAX_QUERY_CHARS = 500
MAX_GENRES = 50
MAX_KEYS = 24

_RANGE = {
    "type": "object",
    "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
}
# tonearm extensions to AudioScape's filters (search and similar music), docs/API.md
EXTENSION_FILTERS: dict[str, Any] = {
    "bpm": {**_RANGE, "description": "tonearm extension: tempo range (BPM, 1-400)"},
    "key": {
        "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": 'tonearm extension: key(s), e.g. "A minor", "F# major", "Eb" (any mode)',
    },
    "loudness": {
        **_RANGE,
        "description": "tonearm extension: integrated loudness range (LUFS, -70-0)",
    },
    "instrumental": {
        "type": "boolean",
        "description": "tonearm extension: true: no vocals heard (musicnn tags); false: vocals",
    },
}
SORT_SCHEMA: dict[str, Any] = {
    "type": "string",
    "enum": ["score", "duration_asc", "duration_desc"],
    "default": "score",
    "description": "tonearm extension: order of the results",
}

_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["query"],
    "properties": {
        "query": {
            "type": "string",
            "description": "What you're looking for: an artist name, mood, genre, or description",
            "example": "chill lo-fi beats",
        },
        "limit": {"type": "integer", "default": DEFAULT_LIMIT, "maximum": MAX_LIMIT},
        "offset": {"type": "integer", "default": 0, "minimum": 0},
        "filters": {
            "type": "object",
            "properties": {
                "genres": {"type": "array", "items": {"type": "string"}},
                "duration": {
                    "type": "object",
                    "properties": {"min": {"type": "number"}, "max": {"type": "number"}},
                },
                **EXTENSION_FILTERS,
            },
        },
        "min_score": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "default": 0.2,
            "description": "tonearm extension: leave out tracks whose absolute score is below "
            "this (scores are calibrated per library: .5 and up is a real match, below .2 about "
            "what a random-word query gets; 0 keeps every match)",
        },
        "sort": SORT_SCHEMA,
    },
}


def _bad(message: str) -> AudioScapeError:
    return AudioScapeError(400, message)


def _number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _bad(f"Invalid field {name}: must be a number")
    return float(value)


def parse_request(body: Any) -> dict[str, Any]:
    """Validated search arguments from the JSON body; AudioScapeError(400) on bad input."""
    if not isinstance(body, dict):
        raise _bad("Invalid JSON body")
    query = body.get("query")
    if query is None or (isinstance(query, str) and not query.strip()):
        raise _bad("Missing required field: query")
    if not isinstance(query, str):
        raise _bad("Invalid field query: must be a string")
    if len(query) > MAX_QUERY_CHARS:
        raise _bad(f"Invalid field query: at most {MAX_QUERY_CHARS} characters")

    limit, offset = page_params(body.get("limit"), body.get("offset"))

    filters = body.get("filters")
    if filters is None:
        filters = {}
    if not isinstance(filters, dict):
        raise _bad("Invalid field filters: must be an object")
    genres = filters.get("genres")
    if isinstance(genres, str):
        genres = [genres]
    if genres is not None:
        if not isinstance(genres, list) or not all(isinstance(g, str) for g in genres):
            raise _bad("Invalid field filters.genres: must be an array of strings")
        if len(genres) > MAX_GENRES:
            raise _bad(f"Invalid field filters.genres: at most {MAX_GENRES} genres")
        genres = [g for g in genres if g.strip()] or None
    duration = filters.get("duration")
    dmin = dmax = None
    if duration is not None:
        if not isinstance(duration, dict):
            raise _bad("Invalid field filters.duration: must be an object with min and max")
        dmin = _number(duration.get("min"), "filters.duration.min")
        dmax = _number(duration.get("max"), "filters.duration.max")
        if dmin is not None and dmax is not None and dmin > dmax:
            raise _bad("Invalid field filters.duration: min is greater than max")
    extra, sort = parse_extensions(filters, body.get("sort"))
    min_score = _number(body.get("min_score"), "min_score")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise _bad("Invalid field min_score: must be between 0 and 1")
    return {
        "query": query.strip(),
        "limit": limit,
        "offset": offset,
        "genres": genres,
        "duration_min": dmin,
        "duration_max": dmax,
        "filters": extra,
        "min_score": min_score,
        "sort": sort,
    }


def _range(
    obj: Any, name: str, lo_ok: float, hi_ok: float, unit: str
) -> tuple[float | None, float | None]:
    if obj is None:
        return None, None
    if not isinstance(obj, dict):
        raise _bad(f"Invalid field filters.{name}: must be an object with min and max")
    lo = _number(obj.get("min"), f"filters.{name}.min")
    hi = _number(obj.get("max"), f"filters.{name}.max")
    for v, end in ((lo, "min"), (hi, "max")):
        if v is not None and not lo_ok <= v <= hi_ok:
            raise _bad(
                f"Invalid field filters.{name}.{end}: must be between {lo_ok:g} and {hi_ok:g}"
                f" {unit}"
            )
    if lo is not None and hi is not None and lo > hi:
        raise _bad(f"Invalid field filters.{name}: min is greater than max")
    return lo, hi


def parse_extensions(filters: dict[str, Any], sort: Any) -> tuple[TrackFilters | None, str]:
    """The tonearm filters (``bpm``, ``key``, ``loudness``, ``instrumental``) and ``sort`` of
    a search or similar-music body; AudioScapeError(400) on bad values."""
    bmin, bmax = _range(filters.get("bpm"), "bpm", 1.0, 400.0, "BPM")
    lmin, lmax = _range(filters.get("loudness"), "loudness", -70.0, 0.0, "LUFS")
    raw_keys = filters.get("key")
    if isinstance(raw_keys, str):
        raw_keys = [raw_keys]
    keys: list[tuple[str, str | None]] = []
    if raw_keys is not None:
        if not isinstance(raw_keys, list) or not all(isinstance(k, str) for k in raw_keys):
            raise _bad("Invalid field filters.key: must be a key name or an array of them")
        if len(raw_keys) > MAX_KEYS:
            raise _bad(f"Invalid field filters.key: at most {MAX_KEYS} keys")
        for k in raw_keys:
            parsed = parse_key(k)
            if parsed is None:
                raise _bad(
                    f'Invalid field filters.key: "{k[:40]}" is not a key (e.g. "A minor", '
                    '"F# major", "Eb")'
                )
            keys.append(parsed)
    inst = filters.get("instrumental")
    if inst is not None and not isinstance(inst, bool):
        raise _bad("Invalid field filters.instrumental: must be true or false")
    if sort is None:
        sort = "score"
    if not isinstance(sort, str) or sort not in SORTS:
        raise _bad(f"Invalid field sort: must be one of {', '.join(SORTS)}")
    extra = TrackFilters(
        bpm_min=bmin,
        bpm_max=bmax,
        keys=tuple(keys),
        loudness_min=lmin,
        loudness_max=lmax,
        instrumental=inst,
    )
    return (None if extra.empty else extra), sort


@router.post(
    "/search",
    summary="Search Music",
    description="Search the catalog's music in natural language: a mood, genre, style or an "
    "artist's name (artist recognition finds music that sounds like them). Semantic search "
    "(all-MiniLM-L6-v2 over metadata and what the audio sounds like) fused with keyword "
    "search; keywords alone when the text model is unavailable (meta.search_method).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _REQUEST_SCHEMA}},
        }
    },
)
async def search_music(request: Request, key: AudioScapeKey, catalog: CatalogDep) -> Any:
    try:
        body = await request.json()
    except Exception as e:
        raise _bad("Invalid JSON body") from e
    args = parse_request(body)
    result = await run_in_threadpool(search, catalog, **args, tenant=key_tenant(key))
    return result.to_wire()


async def startup(app: FastAPI) -> None:
    """Load the text model in the background when there is music to search, so the first
    query does not wait for it (it is loaded once per process)."""
    catalog = app.state.catalog
    try:
        has_music = catalog.store.count_assets("music") > 0
    except Exception:
        has_music = False
    if has_music:
        threading.Thread(
            target=text_model.get_text_encoder, name="tonearm-text-model", daemon=True
        ).start()
