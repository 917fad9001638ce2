"""The Store protocol: what every storage backend (SQLite now, PostgreSQL later) provides."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from tonearm.storage.records_protocol import RecordStore

ASSET_FIELDS = (
    "kind",
    "name",
    "artist",
    "album",
    "genre",
    "bpm",
    "duration",
    "description",
    "category",
    "subcategory",
    "tags",
    "creator_id",
    "creator_name",
    "thumbnail_url",
    "release_date",
    "label",
    "isrc",
    "audio_id",
    "content_hash",
    "file_path",
    "source_path",
    "sample_rate",
    "channels",
)
# metadata a user (tags, CSV sidecar, /upload/) may set
METADATA_FIELDS = (
    "name",
    "artist",
    "album",
    "genre",
    "bpm",
    "description",
    "category",
    "subcategory",
    "tags",
    "creator_id",
    "creator_name",
    "thumbnail_url",
    "release_date",
    "label",
    "isrc",
    "audio_id",
)


@dataclass
class Asset:
    """One catalog item. ``asset_id`` is a numeric string on the wire."""

    asset_id: str
    kind: str
    name: str
    duration: float
    content_hash: str
    file_path: str
    created_at: str
    updated_at: str
    artist: str | None = None
    album: str | None = None
    genre: str | None = None
    bpm: float | None = None
    description: str | None = None
    category: str | None = None
    subcategory: str | None = None
    tags: str | None = None
    creator_id: int | None = None
    creator_name: str | None = None
    thumbnail_url: str | None = None
    release_date: str | None = None
    label: str | None = None
    isrc: str | None = None
    audio_id: str | None = None
    source_path: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Analysis:
    asset_id: str
    name: str
    version: int
    data: dict[str, Any]
    blob: bytes | None = None


@dataclass
class ApiKey:
    key_id: int
    name: str
    prefix: str
    tier: str
    created_at: str
    revoked_at: str | None = None


class DuplicateAsset(Exception):
    """An asset with the same content hash is already in the catalog."""

    def __init__(self, asset_id: str) -> None:
        super().__init__(f"already in catalog as asset {asset_id}")
        self.asset_id = asset_id


class Store(RecordStore, Protocol):
    """Metadata, analyses and keys. Implementations must be safe to share across threads."""

    # assets
    def add_asset(
        self, fields: dict[str, Any], analyses: Iterable[Analysis] = ()
    ) -> Asset: ...  # atomic: the asset and its analyses, or nothing
    def get_asset(self, asset_id: str) -> Asset | None: ...
    def find_by_hash(self, content_hash: str) -> Asset | None: ...
    def find_by_audio_id(self, audio_id: str) -> Asset | None: ...
    def update_asset(self, asset_id: str, fields: dict[str, Any]) -> Asset: ...
    def delete_asset(self, asset_id: str) -> bool: ...
    def list_assets(
        self, kind: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Asset]: ...
    def iter_assets(self, kind: str | None = None) -> Iterator[Asset]: ...
    def count_assets(self, kind: str | None = None) -> int: ...

    # analyses
    def put_analysis(self, analysis: Analysis) -> None: ...
    def get_analysis(self, asset_id: str, name: str) -> Analysis | None: ...
    def iter_analyses(self, name: str) -> Iterator[Analysis]: ...

    # keys
    def add_key(self, name: str, prefix: str, key_hash: str, tier: str = "free") -> ApiKey: ...
    def key_by_hash(self, key_hash: str) -> ApiKey | None: ...
    def list_keys(self) -> list[ApiKey]: ...
    def revoke_key(self, key_id_or_prefix: str) -> bool: ...

    def close(self) -> None: ...
