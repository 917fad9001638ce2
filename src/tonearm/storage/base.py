"""The Store protocol: what every storage backend (SQLite, PostgreSQL) provides to services.

Services call named methods; the statements live in ``storage/`` (:mod:`tonearm.storage.sql`
and its query modules). ``SqlStore.execute``/``transaction`` remain, outside this protocol,
for the statements not yet moved behind a method.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
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
    # the account the asset belongs to; None: the operator's shared catalog
    tenant: str | None = None


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
    # what the key may do (read, write, admin) and the account it acts for (None: the
    # operator, whose assets are the shared catalog)
    scopes: frozenset[str] = frozenset({"read"})
    tenant: str | None = None


# the assets a request may see: the shared catalog plus one account's own (None: the
# operator, who sees the shared catalog); ALL_TENANTS: no filter (CLI, jobs, indexes)
ALL_TENANTS = "*"


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
    def find_by_hash(self, content_hash: str, tenant: str | None = None) -> Asset | None: ...
    def find_by_audio_id(self, audio_id: str, tenant: str | None = None) -> Asset | None: ...
    def asset_tenants(self, asset_ids: Sequence[str]) -> dict[str, str | None]: ...
    def hidden_asset_ids(self, tenant: str | None) -> set[int]: ...
    def update_asset(self, asset_id: str, fields: dict[str, Any]) -> Asset: ...
    def delete_asset(self, asset_id: str) -> bool: ...
    def list_assets(
        self,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        tenant: str | None = ALL_TENANTS,
    ) -> list[Asset]: ...
    def iter_assets(self, kind: str | None = None) -> Iterator[Asset]: ...
    def count_assets(self, kind: str | None = None, tenant: str | None = ALL_TENANTS) -> int: ...

    # analyses
    def put_analysis(self, analysis: Analysis) -> None: ...
    def get_analysis(self, asset_id: str, name: str) -> Analysis | None: ...
    def iter_analyses(self, name: str, kind: str | None = None) -> Iterator[Analysis]: ...

    # keys
    def add_key(
        self,
        name: str,
        prefix: str,
        key_hash: str,
        tier: str = "free",
        scopes: Iterable[str] = ("read",),
        tenant: str | None = None,
    ) -> ApiKey: ...
    def set_key_scopes(self, key_id: int, scopes: Iterable[str]) -> None: ...
    def key_tenant(self, key_id: int) -> str | None: ...
    def key_by_hash(self, key_hash: str) -> ApiKey | None: ...
    def list_keys(self) -> list[ApiKey]: ...
    def revoke_key(self, key_id_or_prefix: str) -> bool: ...

    # browsing (web UI)
    def file_in_use(self, file_path: str) -> bool: ...
    def list_assets_filtered(
        self,
        *,
        kind: str | None = None,
        genre: str | None = None,
        category: str | None = None,
        subcategory: str | None = None,
        q: str | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
        limit: int = 20,
        offset: int = 0,
        tenant: str | None = ALL_TENANTS,
    ) -> tuple[list[Asset], int]: ...
    def genre_counts(self, kind: str = "music") -> list[tuple[str, int]]: ...
    def category_counts(self, kind: str = "sfx") -> list[tuple[str, str | None, int]]: ...

    # what derived indexes read (rows read like sqlite3.Row)
    def change_marker(self) -> tuple[Any, ...] | None: ...
    def change_signals(self) -> tuple[int, int, str]: ...
    def kind_maxima(self, kind: str, analyses: Sequence[str]) -> tuple[Any, ...]: ...
    def kind_counts(self, kind: str, analyses: Sequence[str]) -> tuple[int, ...]: ...
    def search_fields(self, kind: str) -> list[Any]: ...
    def sync_search_docs(self, rows: Mapping[int, tuple[str, Sequence[str]]]) -> int: ...
    def fts_keyword_search(
        self, expr: str, weights: Iterable[float], limit: int
    ) -> list[tuple[int, float]]: ...
    def fts_matching_ids(self, expr: str) -> set[int]: ...
    def analysis_rows(self, name: str, asset_ids: Sequence[int] | None = None) -> list[Any]: ...
    def analysis_rows_after(self, name: str, after: int, upto: int) -> list[Any]: ...
    def analysis_rowids(self, name: str) -> dict[int, int]: ...
    def analysis_asset_ids(self, name: str) -> set[int]: ...
    def count_analyses(self, name: str) -> int: ...
    def asset_meta(self, updated_since: str | None = None) -> list[Any]: ...
    def asset_meta_of(self, asset_ids: Sequence[int]) -> list[Any]: ...
    def asset_ids(self) -> set[int]: ...
    def has_vector_table(self) -> bool: ...
    def nearest_vectors(
        self,
        model_id: str,
        query: Sequence[float],
        need: int,
        *,
        kind: str,
        exclude: int | None = None,
        categories: Sequence[str] | None = None,
        subcategories: Sequence[str] | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
        total: int | None = None,
        ef_search: int = 256,
    ) -> tuple[list[tuple[str, float]], int]: ...

    def identity(self) -> str: ...
    def close(self) -> None: ...
