"""AudioScape-compatible discovery API (``/developer/v1/...``)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/developer/v1", tags=["discovery (AudioScape)"])
