"""AudD's custom catalog: ``/upload/`` ingests a song under an ``audio_id``."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import Request

from tonearm.api.deps import audd_params
from tonearm.api.routers.audd._common import (
    BAD_PARAM,
    _catalog,
    _int_param,
    _key,
    audd_error,
    audio_input,
    router,
)
from tonearm.catalog.context import Catalog


# -- custom catalog ---------------------------------------------------------------------------
def ingest_custom(
    catalog: Catalog,
    data: bytes,
    filename: str,
    audio_id: int,
    analyses: list[str] | None = None,
    tenant: str | None = None,
) -> str | None:
    """Add a song under ``audio_id`` in ``tenant``'s custom catalog (replacing the song that
    held that slot in that account; None: the operator's, the shared catalog).
    Returns None on success, else why the audio was refused.

    AudD's custom catalog is a fingerprint catalog, so only ``fingerprint`` runs unless
    ``analyses`` names more (tonearm extension: ``analyses=fingerprint,beats``)."""
    from tonearm.catalog.analyzers import select_analyzers
    from tonearm.catalog.assets import delete_asset
    from tonearm.catalog.ingest import ingest_bytes

    names = list(dict.fromkeys(["fingerprint", *(analyses or [])]))
    analyzers = select_analyzers(names, catalog.plugins)
    previous = catalog.store.find_by_audio_id(str(audio_id), tenant)
    outcome = ingest_bytes(
        catalog,
        data,
        filename=filename,
        kind="music",
        metadata={"audio_id": str(audio_id)},
        analyzers=analyzers,
        tenant=tenant,
    )
    if outcome.status == "failed" or outcome.asset_id is None:
        return outcome.reason or "the file is not audio"
    if outcome.status == "skipped":  # the same audio is already in the catalog
        catalog.store.update_asset(outcome.asset_id, {"audio_id": str(audio_id)})
    if previous is not None and previous.asset_id != outcome.asset_id:
        delete_asset(catalog, previous)
    return None


@router.api_route("/upload/", methods=["POST"], summary="Custom catalog upload (AudD)")
@router.api_route("/upload/", methods=["GET"], include_in_schema=False)
# GET only: POST /upload (no slash) is Audjust's. Having *a* route on /upload also stops
# Starlette from redirecting an Audjust POST /upload to /upload/ when Audjust is absent.
@router.api_route("/upload", methods=["GET"], include_in_schema=False)
async def upload(request: Request) -> dict[str, Any]:
    """AudD's custom catalog: ``api_token``, ``audio_id`` (integer) and ``url`` or ``file``.
    The song is ingested into the catalog; matches on it carry that ``audio_id``."""
    params = await audd_params(request)
    key = _key(request, params, "upload")
    audio_id = _int_param(params, "audio_id", "upload")
    catalog = _catalog(request)
    data, name = await audio_input(
        request, params, max_bytes=catalog.settings.max_upload_bytes, method="upload"
    )
    extra = [a.strip() for a in str(params.get("analyses") or "").split(",") if a.strip()]
    try:
        from tonearm.catalog.analyzers import select_analyzers

        select_analyzers(extra, catalog.plugins)
    except ValueError as e:
        raise audd_error(BAD_PARAM, "upload", f"{e}.") from e
    why = await anyio.to_thread.run_sync(
        lambda: ingest_custom(catalog, data, name, audio_id, extra, key.tenant)
    )
    if why is not None:
        raise audd_error(500, "upload", f"the file you sent is not usable audio ({why}).")
    return {"status": "success", "result": None}
