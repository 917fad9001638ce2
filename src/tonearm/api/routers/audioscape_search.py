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
from tonearm.discovery.search import search

router = APIRouter(prefix="/developer/v1", tags=["discovery (AudioScape)"])

MAX_QUERY_CHARS = 500
MAX_GENRES = 50

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
            },
        },
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
    return {
        "query": query.strip(),
        "limit": limit,
        "offset": offset,
        "genres": genres,
        "duration_min": dmin,
        "duration_max": dmax,
    }


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
