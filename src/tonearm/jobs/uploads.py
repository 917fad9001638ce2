"""Temporary uploads (Audjust's ``POST /upload``): a file stored under a secret token that
works as a ``sourceFileUrl`` until it expires (one hour by default).

The file goes to the blob store (``uploads/<token>/<name>``: the data directory by default,
S3-compatible storage with ``TONEARM_BLOB_URL=s3://...``), so the worker or API server that
reads it need not be the one that received it; a node reading from a remote store keeps a
local copy under ``DATA/blobcache/``."""

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


def upload_key(token: str, name: str) -> str:
    return f"uploads/{token}/{name}"


def cache_path(catalog: Catalog, key: str) -> Path:
    """Where a node keeps its local copy of a blob from a remote store."""
    return catalog.data_dir / "blobcache" / key


def delete_upload(catalog: Catalog, stored: str) -> None:
    """Remove an upload's blob (``stored``: its key, or a legacy absolute path)."""
    from tonearm.storage.blobs import catalog_blobs

    if Path(stored).is_absolute():
        Path(stored).unlink(missing_ok=True)
        return
    catalog_blobs(catalog).delete(stored)
    cache_path(catalog, stored).unlink(missing_ok=True)


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
    from tonearm.storage.blobs import catalog_blobs

    token = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(32))
    name = safe_filename(filename)
    key = catalog_blobs(catalog).put(upload_key(token, name), data)  # atomic
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=ttl)
    catalog.store.insert_upload(
        token,
        key_id=key_id,
        filename=name,
        path=key,
        size=len(data),
        created_at=_iso(now),
        expires_at=_iso(expires),
    )
    return token, name, expires


def resolve_upload(catalog: Catalog, token: str) -> Path | None:
    """The stored file for ``token``, or None if unknown or expired."""
    if not re.fullmatch(r"[a-z0-9]{32}", token or ""):
        return None
    row = catalog.store.get_upload(token)
    if row is None or row["expires_at"] < _iso(datetime.now(UTC)):
        return None
    stored = str(row["path"])
    if Path(stored).is_absolute():  # written before uploads went through the blob store
        p = Path(stored)
        return p if p.is_file() else None
    from tonearm.storage.blobs import catalog_blobs, local_copy

    return local_copy(catalog_blobs(catalog), stored, cache_path(catalog, stored))
