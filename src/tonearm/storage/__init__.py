"""Storage backends behind the Store protocol."""

from __future__ import annotations

from tonearm.settings import Settings
from tonearm.storage.base import Analysis, ApiKey, Asset, DuplicateAsset, Store
from tonearm.storage.sql import SqlStore
from tonearm.storage.sqlite import SqliteStore

__all__ = [
    "Analysis",
    "ApiKey",
    "Asset",
    "DuplicateAsset",
    "SqlStore",
    "SqliteStore",
    "Store",
    "open_store",
]


def open_store(settings: Settings) -> SqlStore:
    """The store the settings name (SQLite in the data directory by default)."""
    if settings.database_url and settings.database_url.startswith("postgres"):
        # scale-out: PostgreSQL (postgresql://user@host/db, optional ?schema=name); files
        # still go to the data directory / blob store, so make sure it exists
        from tonearm.storage.postgres import PostgresStore, split_schema

        settings.ensure_dirs()
        url, schema = split_schema(settings.database_url)
        if schema == "auto":  # one schema per data directory (test suites, many catalogs)
            import hashlib

            digest = hashlib.sha1(str(settings.data.resolve()).encode()).hexdigest()[:16]
            schema = f"auto_{digest}"
        return PostgresStore(url, schema=schema, pool_size=settings.db_pool_size)
    settings.ensure_dirs()
    return SqliteStore(settings.db_path)
