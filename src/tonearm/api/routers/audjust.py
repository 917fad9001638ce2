"""Audjust-compatible editing API (analyze, resize, export)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["editing (Audjust)"])
