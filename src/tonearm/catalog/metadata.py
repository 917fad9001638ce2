"""Metadata from file tags (mutagen) and CSV sidecars."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from tonearm.storage.base import METADATA_FIELDS

_TAG_KEYS = {
    "name": ("title", "TIT2", "\xa9nam"),
    "artist": ("artist", "TPE1", "\xa9ART"),
    "album": ("album", "TALB", "\xa9alb"),
    "genre": ("genre", "TCON", "\xa9gen"),
    "bpm": ("bpm", "TBPM", "tmpo"),
    "release_date": ("date", "TDRC", "\xa9day"),
    "label": ("organization", "label", "TPUB"),
    "isrc": ("isrc", "TSRC"),
    "description": ("comment", "description", "COMM::eng", "\xa9cmt"),
}
_NUMERIC = {"bpm": float, "creator_id": int}


def read_tags(path: str | Path) -> dict[str, Any]:
    """Catalog fields from a file's tags; missing or unreadable tags give ``{}``."""
    try:
        import mutagen

        f = mutagen.File(str(path))
    except Exception:
        return {}
    if f is None or not getattr(f, "tags", None):
        return {}
    out: dict[str, Any] = {}
    tags = f.tags
    for field_name, keys in _TAG_KEYS.items():
        for k in keys:
            try:
                v = tags.get(k)
            except (KeyError, ValueError, TypeError):
                v = None
            if v is None:
                continue
            if hasattr(v, "text"):
                v = v.text
            if isinstance(v, list | tuple):
                v = v[0] if v else None
            if v is None or str(v).strip() == "":
                continue
            out[field_name] = str(v).strip()
            break
    return coerce(out)


def coerce(fields: dict[str, Any]) -> dict[str, Any]:
    """Keep known metadata fields, typed; empty strings mean 'not given'."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if k not in METADATA_FIELDS or v is None:
            continue
        if isinstance(v, str):
            v = v.strip()
            if v == "":
                continue
        if k in _NUMERIC:
            try:
                v = _NUMERIC[k](float(v))
            except (TypeError, ValueError):
                continue
        out[k] = v
    return out


def read_sidecar(csv_path: str | Path) -> dict[str, dict[str, Any]]:
    """Rows of a CSV sidecar keyed by its ``file`` (or ``filename``/``path``) column.

    A row matches a file by its path relative to the ingest root, or by its bare name.
    """
    rows: dict[str, dict[str, Any]] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise ValueError(f"{csv_path}: empty CSV")
        key = next((c for c in ("file", "filename", "path") if c in reader.fieldnames), None)
        if key is None:
            raise ValueError(f"{csv_path}: needs a 'file' column naming each audio file")
        for row in reader:
            name = (row.get(key) or "").strip()
            if name:
                rows[name] = coerce({k: v for k, v in row.items() if k != key})
    return rows
