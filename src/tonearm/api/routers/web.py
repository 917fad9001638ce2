"""The web UI (``/ui/``) and the few read-only helpers it needs that no family API offers.

- ``GET /ui/`` (and ``/ui/assets/{id}``, the ``song_link`` of AudD matches): the single page;
  ``GET /ui/static/{file}``: its scripts and styles (no build step, nothing from a CDN).
- ``GET /ui/api/facets``: genres, SFX categories and subcategories with counts.
- ``GET /ui/api/assets``: a page of assets filtered by kind, genre, category, subcategory.
- ``GET /ui/api/duplicates``: near-duplicate groups (cached per catalog size).
- ``GET /ui/api/assets/{id}/audio``: the stored original (HTTP Range supported).
- ``GET /ui/api/assets/{id}/waveform``: min/max peaks for drawing.
- ``GET /ui/api/assets/{id}/analysis``: beats, tempo and similarity (stored ``beats``
  analysis), MIR fields.
- ``POST /ui/api/assets/{id}/render``: one edit (segments) of a catalog song as WAV/MP3, for
  listening and download (``/export`` needs a public source URL and a webhook).
- ``POST /ui/api/recognize``: which song an excerpt is, with timecode and score.

Auth: the API key in ``X-API-Key``. URLs the browser fetches by itself (``<audio src>``,
download links) can't carry a header, so ``POST /ui/api/session`` (with the header) puts the key
in an HttpOnly, SameSite=Strict cookie scoped to ``/ui/api``, accepted for GET and HEAD only.
The key never travels in a URL, where it would land in access logs, proxies and browser
history. Errors are ``{"error": "..."}`` (AudioScape's format).
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Cookie, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, RedirectResponse, Response

from tonearm.api.deps import AudioScapeScoped, CatalogDep, get_catalog
from tonearm.api.errors import AudioScapeError
from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import verify_key
from tonearm.storage.base import ALL_TENANTS, ApiKey, Asset

router = APIRouter(tags=["web UI"], include_in_schema=True)

STATIC_DIR = Path(__file__).resolve().parents[2] / "web" / "static"
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]+\.(js|css|svg|png|ico|html)$")
MAX_LIMIT = 100
WAVEFORM_SR = 8000
MAX_POINTS = 4000
DUPES_CACHE = "web.duplicates"


# every /ui/api helper reads (the catalog, renders, recognition): the read scope, answered
# in AudioScape's format like the key errors
READ = AudioScapeScoped("read")
UI_COOKIE = "tonearm_ui_key"
UI_COOKIE_PATH = "/ui/api"
UI_COOKIE_MAX_AGE_S = 7 * 24 * 3600
_COOKIE_METHODS = frozenset({"GET", "HEAD"})


def ui_key(
    request: Request,
    x_api_key: Annotated[str | None, Header()] = None,
    tonearm_ui_key: Annotated[str | None, Cookie(include_in_schema=False)] = None,
) -> ApiKey:
    presented = x_api_key
    # the cookie only authorises reads: a state-changing request must show the header, so a
    # cross-site form can never act with it even where SameSite is not enforced
    if presented is None and request.method in _COOKIE_METHODS:
        presented = tonearm_ui_key
    if not presented:
        raise AudioScapeError(401, "Missing API key (X-API-Key header)")
    k = verify_key(get_catalog(request).store, presented)
    if k is None:
        raise AudioScapeError(401, "Invalid API key")
    request.state.api_key = k
    return READ.check(k)


def header_key(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
    if not x_api_key:
        raise AudioScapeError(401, "Missing API key (X-API-Key header)")
    k = verify_key(get_catalog(request).store, x_api_key)
    if k is None:
        raise AudioScapeError(401, "Invalid API key")
    request.state.api_key = k
    return READ.check(k)


UIKey = Annotated[ApiKey, Depends(ui_key)]


@router.post("/ui/api/session", summary="Let the browser fetch audio with this key (web UI)")
def ui_session_start(
    request: Request,
    key: Annotated[ApiKey, Depends(header_key)],
    x_api_key: Annotated[str, Header()],
) -> Response:
    """Sets the read-only audio cookie for the key in ``X-API-Key``; answers 204."""
    r = Response(status_code=204)
    r.set_cookie(
        UI_COOKIE,
        x_api_key,
        max_age=UI_COOKIE_MAX_AGE_S,
        path=UI_COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return r


@router.delete("/ui/api/session", summary="Forget the audio cookie (web UI)")
def ui_session_end() -> Response:
    r = Response(status_code=204)
    r.delete_cookie(UI_COOKIE, path=UI_COOKIE_PATH, httponly=True, samesite="strict")
    return r


# -- the page ---------------------------------------------------------------------------------
def _index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=_NO_STORE)


_NO_STORE = {"Cache-Control": "no-cache"}


@router.get("/ui", include_in_schema=False)
async def ui_redirect() -> RedirectResponse:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/", include_in_schema=False)
async def ui_index() -> FileResponse:
    return _index()


@router.get("/ui/assets/{asset_id}", include_in_schema=False)
async def ui_asset_page(asset_id: str) -> Response:
    """``song_link`` of recognition results: the page opens on that asset."""
    if not asset_id.isdigit():
        raise AudioScapeError(404, "asset_id not found")
    return RedirectResponse(f"/ui/#/asset/{asset_id}", status_code=307)


@router.get("/ui/static/{name}", include_in_schema=False)
async def ui_static(name: str) -> FileResponse:
    if not _STATIC_NAME.match(name) or not (STATIC_DIR / name).is_file():
        raise AudioScapeError(404, "not found")
    ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return FileResponse(STATIC_DIR / name, media_type=ctype, headers=_NO_STORE)


# -- catalog browsing -------------------------------------------------------------------------
def _asset(catalog: Catalog, asset_id: str, key: ApiKey) -> Asset:
    """The asset, if ``key`` may see it (the shared catalog or its account's own)."""
    a = catalog.store.get_asset(asset_id) if asset_id.isdigit() else None
    if a is None or not (a.tenant is None or a.tenant == key.tenant):
        raise AudioScapeError(404, "asset_id not found")
    return a


def _asset_json(catalog: Catalog, a: Asset) -> dict[str, Any]:
    from tonearm.api.routers.audioscape import _asset_json as wire

    return wire(catalog, a)


def _int(value: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise AudioScapeError(400, f"{name} must be a whole number") from None
    if n < lo:
        raise AudioScapeError(400, f"{name} must be at least {lo}")
    return min(n, hi)


def _float(value: str | None, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        f = float(value)
    except ValueError:
        raise AudioScapeError(400, f"{name} must be a number") from None
    if not np.isfinite(f):
        raise AudioScapeError(400, f"{name} must be a number")
    return f


def facets(catalog: Catalog) -> dict[str, Any]:
    st = catalog.store
    genres = st.genre_counts("music")
    by_cat: dict[str, dict[str, Any]] = {}
    for c, s, n in st.category_counts("sfx"):
        d = by_cat.setdefault(c, {"name": c, "count": 0, "subcategories": []})
        d["count"] += int(n)
        if s:
            d["subcategories"].append({"name": s, "count": int(n)})
    return {
        "music": {"total": st.count_assets("music"), "genres": [
            {"name": g, "count": n} for g, n in genres]},
        "sfx": {"total": st.count_assets("sfx"), "categories": list(by_cat.values())},
    }  # fmt: skip


def list_filtered(
    catalog: Catalog,
    kind: str | None,
    genre: str | None,
    category: str | None,
    subcategory: str | None,
    q: str | None,
    limit: int,
    offset: int,
    min_duration: float | None = None,
    max_duration: float | None = None,
    tenant: str | None = ALL_TENANTS,
) -> tuple[list[Asset], int]:
    return catalog.store.list_assets_filtered(
        tenant=tenant,
        kind=kind,
        genre=genre,
        category=category,
        subcategory=subcategory,
        q=q,
        min_duration=min_duration,
        max_duration=max_duration,
        limit=limit,
        offset=offset,
    )


@router.get("/ui/api/facets", summary="Genres and SFX categories with counts (web UI)")
def ui_facets(catalog: CatalogDep, key: UIKey) -> dict[str, Any]:
    return facets(catalog)


@router.get("/ui/api/assets", summary="A filtered page of assets (web UI)")
def ui_assets(
    catalog: CatalogDep,
    key: UIKey,
    kind: str | None = None,
    genre: str | None = None,
    category: str | None = None,
    subcategory: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    min_duration: str | None = None,
    max_duration: str | None = None,
    limit: str | None = None,
    offset: str | None = None,
) -> dict[str, Any]:
    if kind not in (None, "", "music", "sfx"):
        raise AudioScapeError(400, "kind must be music or sfx")
    n_limit = _int(limit, "limit", 20, 1, MAX_LIMIT)
    n_offset = _int(offset, "offset", 0, 0, 10**9)
    lo, hi = _float(min_duration, "min_duration"), _float(max_duration, "max_duration")
    rows, total = list_filtered(
        catalog,
        kind,
        genre,
        category,
        subcategory,
        (q or "").strip(),
        n_limit,
        n_offset,
        lo,
        hi,
        tenant=key.tenant,
    )
    return {
        "assets": [_asset_json(catalog, a) for a in rows],
        "meta": {"total": total, "limit": n_limit, "offset": n_offset},
    }


def cached_duplicate_groups(catalog: Catalog, kind: str) -> list[list[tuple[str, float]]]:
    """Near-duplicate groups, recomputed when the number of assets of that kind changes."""
    from tonearm.discovery.similar import duplicate_groups

    n = catalog.store.count_assets(kind)
    cache: dict[str, Any] = catalog.cache.setdefault(DUPES_CACHE, {})
    hit = cache.get(kind)
    if hit is None or hit[0] != n:
        hit = (n, duplicate_groups(catalog, kind))
        cache[kind] = hit
    groups: list[list[tuple[str, float]]] = hit[1]
    return groups


@router.get("/ui/api/duplicates", summary="Near-duplicate groups (web UI)")
async def ui_duplicates(
    catalog: CatalogDep,
    key: UIKey,
    kind: str = "sfx",
    limit: str | None = None,
    offset: str | None = None,
) -> dict[str, Any]:
    if kind not in ("music", "sfx"):
        raise AudioScapeError(400, "kind must be music or sfx")
    n_limit = _int(limit, "limit", 20, 1, MAX_LIMIT)
    n_offset = _int(offset, "offset", 0, 0, 10**9)
    groups = await asyncio.to_thread(cached_duplicate_groups, catalog, kind)
    page = groups[n_offset : n_offset + n_limit]

    def members(g: list[tuple[str, float]]) -> list[dict[str, Any]]:
        out = []
        for asset_id, score in g:
            a = catalog.store.get_asset(asset_id)
            if a is not None and (a.tenant is None or a.tenant == key.tenant):
                out.append({**_asset_json(catalog, a), "score": score})
        return out

    return {
        "groups": [members(g) for g in page],
        "meta": {"total": len(groups), "limit": n_limit, "offset": n_offset},
    }


# -- one asset: audio, waveform, analysis, renders ----------------------------------------------
def _audio_path(catalog: Catalog, a: Asset) -> Path:
    p = Path(a.file_path)
    path = p if p.is_absolute() else catalog.data_dir / p
    if not path.is_file():
        raise AudioScapeError(404, "the audio file of this asset is missing")
    return path


@router.get("/ui/api/assets/{asset_id}/audio", summary="The stored audio (web UI)")
def ui_audio(asset_id: str, catalog: CatalogDep, key: UIKey) -> FileResponse:
    """The original file as ingested; supports ``Range`` (seeking in ``<audio>``)."""
    a = _asset(catalog, asset_id, key)
    path = _audio_path(catalog, a)
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix.lower() == ".flac":
        ctype = "audio/flac"
    return FileResponse(path, media_type=ctype, headers={"Cache-Control": "private, max-age=3600"})


def peaks(samples: np.ndarray, points: int) -> list[list[float]]:
    """Min and max of ``samples`` (n,) in ``points`` equal bins, rounded for JSON.

    Returns
    -------
    list of [min, max], length ``min(points, n)``
    """
    n = int(samples.shape[0])
    if n == 0:
        return []
    points = max(1, min(points, n))
    edges = np.linspace(0, n, points + 1).astype(np.int64)
    lo = np.minimum.reduceat(samples, edges[:-1])
    hi = np.maximum.reduceat(samples, edges[:-1])
    return [[round(float(a), 3), round(float(b), 3)] for a, b in zip(lo, hi, strict=True)]


def waveform(catalog: Catalog, a: Asset, points: int) -> dict[str, Any]:
    cache_dir = catalog.index_dir / "waveforms"
    cache = cache_dir / f"{a.content_hash}-{points}.json"
    if cache.is_file():
        try:
            cached: dict[str, Any] = json.loads(cache.read_text())
            return cached
        except (OSError, ValueError):
            pass
    from tonearm.catalog.decoding import stream_audio
    from tonearm.core.audio.errors import AudioError
    from tonearm.core.audio.limits import Purpose
    from tonearm.core.audio.signal import Signal

    try:
        dec = stream_audio(catalog, _audio_path(catalog, a), Purpose.CATALOG_FILE, sr=WAVEFORM_SR)
        sig = Signal(dec.read_all(), WAVEFORM_SR)
    except AudioError as e:
        raise AudioScapeError(500, f"could not decode the asset's audio: {e.message}") from e
    x = sig.samples[0]
    out = {"duration": round(sig.duration_s, 3), "points": points, "peaks": peaks(x, points)}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f".{cache.name}.tmp")
        tmp.write_text(json.dumps(out, separators=(",", ":")))
        tmp.replace(cache)
    except OSError:
        pass  # a read-only data dir: compute each time
    return out


@router.get("/ui/api/assets/{asset_id}/waveform", summary="Waveform peaks (web UI)")
async def ui_waveform(
    asset_id: str, catalog: CatalogDep, key: UIKey, points: str | None = None
) -> dict[str, Any]:
    """``{"duration", "points", "peaks": [[min, max], ...]}`` (mono, -1..1)."""
    n = _int(points, "points", 800, 16, MAX_POINTS)
    a = _asset(catalog, asset_id, key)
    return await asyncio.to_thread(waveform, catalog, a, n)


@router.get("/ui/api/assets/{asset_id}/analysis", summary="Beats, similarity, MIR (web UI)")
def ui_analysis(asset_id: str, catalog: CatalogDep, key: UIKey) -> dict[str, Any]:
    """The asset, its stored ``beats`` analysis (Audjust's result object: ``tempo``,
    ``boundaries``, ``similarity``; null when not analyzed) and its ``mir`` fields."""
    from tonearm.discovery.similar import mir_of
    from tonearm.editing.analyzer import stored_result

    a = _asset(catalog, asset_id, key)
    return {
        "asset": _asset_json(catalog, a),
        "beats": stored_result(catalog, a.asset_id),
        "mir": mir_of(catalog, a.asset_id),
    }


RENDER_FORMATS = {"wav": "audio/wav", "mp3_128": "audio/mpeg", "mp3_320": "audio/mpeg"}


def render(catalog: Catalog, a: Asset, segments: list[list[float]], fmt: str, loop: bool) -> bytes:
    from tonearm.catalog.decoding import decode_audio
    from tonearm.core.audio.encode import encode
    from tonearm.core.audio.errors import AudioError
    from tonearm.core.audio.limits import Purpose
    from tonearm.editing.export import render_group
    from tonearm.editing.render import SegmentError, source_loudness

    try:
        sig = decode_audio(catalog, _audio_path(catalog, a), Purpose.CATALOG_FILE)
        out = render_group(sig, segments, loop=loop, reference_lufs=source_loudness(sig))
        return encode(out, fmt)
    except SegmentError as e:
        raise AudioScapeError(400, f"segments: {e}") from e
    except AudioError as e:
        raise AudioScapeError(500, f"could not render: {e.message}") from e


def _segments(raw: Any) -> list[list[float]]:
    bad = AudioScapeError(400, "segments must be an array of [startSeconds, endSeconds]")
    if not isinstance(raw, list) or not raw or len(raw) > 1000:
        raise bad
    out = []
    for seg in raw:
        if not isinstance(seg, list) or len(seg) != 2:
            raise bad
        try:
            a, b = float(seg[0]), float(seg[1])
        except (TypeError, ValueError):
            raise bad from None
        if not (np.isfinite(a) and np.isfinite(b)) or b <= a or a < 0:
            raise bad
        out.append([a, b])
    return out


@router.post("/ui/api/assets/{asset_id}/render", summary="Render an edit (web UI)")
async def ui_render(
    asset_id: str,
    request: Request,
    catalog: CatalogDep,
    key: UIKey,
) -> Response:
    """Body (JSON or a form field ``body`` for download links): ``{"segments": [[s, e], ...],
    "format": "wav"|"mp3_128"|"mp3_320", "loop": false}``. Answers the audio."""
    ctype = request.headers.get("content-type", "")
    try:
        if ctype.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form()
            body = json.loads(str(form.get("body") or ""))
        else:
            body = await request.json()
    except (ValueError, UnicodeDecodeError):
        raise AudioScapeError(400, "Invalid JSON body") from None
    if not isinstance(body, dict):
        raise AudioScapeError(400, "Invalid JSON body")
    fmt = body.get("format", "wav")
    if fmt not in RENDER_FORMATS:
        raise AudioScapeError(400, f"format must be one of {', '.join(RENDER_FORMATS)}")
    loop = body.get("loop", False)
    if not isinstance(loop, bool):
        raise AudioScapeError(400, "loop must be true or false")
    segments = _segments(body.get("segments"))
    a = _asset(catalog, asset_id, key)
    data = await asyncio.to_thread(render, catalog, a, segments, fmt, loop)
    ext = "wav" if fmt == "wav" else "mp3"
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", a.name or "edit").strip("-")[:60] or "edit"
    return Response(
        data,
        media_type=RENDER_FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{safe}-edit.{ext}"'},
    )


# -- recognition --------------------------------------------------------------------------------
@router.post("/ui/api/recognize", summary="Recognize an excerpt, with score (web UI)")
async def ui_recognize(
    catalog: CatalogDep,
    key: UIKey,
    file: Annotated[UploadFile, File(description="An excerpt (any format)")],
    top: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    """``{"matches": [{asset, offset_s, timecode, score (0-100)}...]}``, best first."""
    from tonearm.catalog.decoding import decode_audio
    from tonearm.core.audio.errors import AudioError
    from tonearm.core.audio.limits import Purpose
    from tonearm.recognition import service
    from tonearm.recognition.wire import mmss, score_0_100

    s = catalog.settings
    n_top = _int(top, "top", 3, 1, 10)
    data = await file.read(s.recognize_max_bytes + 1)
    if not data:
        raise AudioScapeError(400, "file is empty")
    if len(data) > s.recognize_max_bytes:
        raise AudioScapeError(413, f"file too large (limit {s.recognize_max_bytes} bytes)")

    def run() -> list[Any]:
        sig = decode_audio(catalog, data, Purpose.QUERY_EXCERPT)
        if sig.duration_s < 1.0:
            raise AudioScapeError(400, "the excerpt is shorter than 1 second")
        return service.recognize(catalog, sig, top_k=n_top, tenant=key.tenant)

    try:
        matches = await asyncio.to_thread(run)
    except AudioError as e:
        raise AudioScapeError(400, f"not usable audio: {e.message}") from e
    out = []
    for m in matches:
        a = catalog.store.get_asset(m.asset_id)
        if a is None:
            continue
        out.append(
            {
                "asset": _asset_json(catalog, a),
                "offset_s": round(float(m.offset_s), 2),
                "timecode": mmss(m.offset_s),
                "score": score_0_100(m.score),
            }
        )
    return {"matches": out}
