"""Storage backends behind the Store protocol."""

from __future__ import annotations

from tonearm.settings import Settings
from tonearm.storage.base import Analysis, ApiKey, Asset, DuplicateAsset, Store
from tonearm.storage.sqlite import SqliteStore

__all__ = ["Analysis", "ApiKey", "Asset", "DuplicateAsset", "Store", "SqliteStore", "open_store"]


def open_store(settings: Settings) -> SqliteStore:
    """The store the settings name (SQLite in the data directory by default)."""
    if settings.database_url and settings.database_url.startswith("postgres"):
        raise NotImplementedError("the PostgreSQL backend is not implemented yet")
    settings.ensure_dirs()
    return SqliteStore(settings.db_path)
