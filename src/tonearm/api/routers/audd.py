"""AudD-compatible recognition API (``/``, ``/recognize``, streams, ``/enterprise/``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from tonearm.api.deps import audd_key, audd_params
from tonearm.api.errors import AuddError

router = APIRouter(tags=["recognition (AudD)"])


@router.api_route("/", methods=["GET", "POST"])
@router.api_route("/recognize", methods=["GET", "POST"])
async def recognize(
    request: Request, params: dict[str, Any] = Depends(audd_params)
) -> dict[str, Any]:
    """Identify a song and timecode (AudD ``recognize``)."""
    audd_key(request, params)
    raise AuddError(100, "Recognition is not available on this server yet.")
