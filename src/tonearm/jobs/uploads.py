"""Temporary uploads (Audjust's ``POST /upload``): a file stored under a secret token that
works as a ``sourceFileUrl`` until it expires (one hour by default)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

DEFAULT_UPLOAD_TTL_S = 3600.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def safe_filename(name: str | None) -> str:
    base = Path(name or "upload").name
    base = _SAFE.sub("_", base).strip("._") or "upload"
    return base[:100]


def uploads_dir(catalog: Catalog) -> Path:
    return catalog.data_dir / "uploads"


def save_upload(
    catalog: Catalog,
    data: bytes,
    filename: str | None,
    *,
    key_id: int | None = None,
    ttl_s: float | None = None,
) -> tuple[str, str, datetime]:
    """Store ``data``; returns (token, safe file name, expiry time)."""
    ttl = float(
        ttl_s
        if ttl_s is not None
        else getattr(catalog.settings, "upload_ttl_s", DEFAULT_UPLOAD_TTL_S)
    )
    token = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
    name = safe_filename(filename)
    d = uploads_dir(catalog) / token
    d.mkdir(parents=True, exist_ok=True)
    path = d / name
    tmp = d / f".{name}.part"
    tmp.write_bytes(data)
    tmp.replace(path)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl)
    with catalog.store.transaction() as conn:
        conn.execute(
            "INSERT INTO uploads (token, key_id, filename, path, size, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (token, key_id, name, str(path), len(data), _iso(now), _iso(expires)),
        )
    return token, name, expires


def resolve_upload(catalog: Catalog, token: str) -> Path | None:
    """The stored file for ``token``, or None if unknown or expired."""
    if not re.fullmatch(r"[a-z0-9]{32}", token or ""):
        return None
    rows = catalog.store.execute("SELECT path, expires_at FROM uploads WHERE token = ?", (token,))
    if not rows or rows[0]["expires_at"] < _iso(datetime.now(UTC)):
        return None
    p = Path(rows[0]["path"])
    return p if p.is_file() else None
