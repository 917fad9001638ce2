"""The SQL store: assets, analyses and keys written once for SQLite and PostgreSQL.

:class:`SqlStore` holds every statement the services need, as named methods; the
backends (:class:`~tonearm.storage.sqlite.SqliteStore`,
:class:`~tonearm.storage.postgres.PostgresStore`) only provide connections, transactions,
migrations and their :class:`~tonearm.storage.dialect.Dialect`. Query groups live in
their own modules (listing, search, vectors) as mixins of this class.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tonearm.storage.base import (
    ALL_TENANTS,
    ASSET_FIELDS,
    Analysis,
    ApiKey,
    Asset,
    DuplicateAsset,
)
from tonearm.storage.dialect import Conn, is_row_id, utcnow
from tonearm.storage.listing import ListingQueries
from tonearm.storage.records import Records
from tonearm.storage.search import SearchQueries
from tonearm.storage.vectors import VectorQueries

PAGE = 1000  # rows per page when iterating, so a large catalog is never held at once
SCOPES = ("read", "write", "admin")  # mirrored in catalog.keys


def hash_key(content_hash: str, tenant: str | None) -> str:
    """The stored ``content_hash``: unique per tenant (migration 0011), so an account's
    copy of a file never collides with the shared catalog's or another account's."""
    return content_hash if tenant is None else f"{content_hash}@{tenant}"


def visible_to(tenant: str | None, column: str = "tenant") -> tuple[str, list[Any]]:
    """SQL condition (and its parameters) for the assets ``tenant`` may see: the shared
    catalog plus its own; ``ALL_TENANTS``: every asset."""
    if tenant == ALL_TENANTS:
        return "1 = 1", []
    if tenant is None:
        return f"{column} IS NULL", []
    return f"({column} IS NULL OR {column} = ?)", [tenant]


class SqlStore(ListingQueries, SearchQueries, VectorQueries, Records):
    """Store on a SQL database. Safe to share across threads."""

    @abstractmethod
    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""

    @abstractmethod
    def close(self) -> None: ...

    def schema_version(self) -> int:
        return int(self.execute("SELECT MAX(version) FROM schema_migrations")[0][0] or 0)

    def identity(self) -> str:
        """Which database this is (backend, address): saved indexes remember it."""
        raise NotImplementedError

    def change_marker(self) -> tuple[Any, ...] | None:
        """Something that changes whenever this thread could see new data (another
        connection's commit or its own write); None when the backend cannot tell cheaply.
        Equal markers: nothing was written since."""
        return None

    # -- assets --------------------------------------------------------------------------
    @staticmethod
    def _asset(row: Any) -> Asset:
        d = dict(row)
        d["asset_id"] = str(d["asset_id"])
        d["content_hash"] = str(d["content_hash"]).split("@", 1)[0]
        d["extra"] = json.loads(d.get("extra") or "{}")
        return Asset(**d)

    def add_asset(self, fields: dict[str, Any], analyses: Iterable[Analysis] = ()) -> Asset:
        """The asset and its analyses in one transaction, or :class:`DuplicateAsset`."""
        now = utcnow()
        cols = {k: v for k, v in fields.items() if k in ASSET_FIELDS}
        tenant = fields.get("tenant")
        cols["tenant"] = tenant
        cols["content_hash"] = hash_key(str(cols["content_hash"]), tenant)
        cols["extra"] = json.dumps(fields.get("extra") or {})
        cols.setdefault("name", "")
        cols["created_at"] = fields.get("created_at") or now
        cols["updated_at"] = now
        analyses = list(analyses)
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        try:
            with self.transaction() as conn:
                # ON CONFLICT: two ingests of one file at once, the second sees a duplicate
                row = conn.execute(
                    f"INSERT INTO assets ({names}) VALUES ({marks}) "
                    "ON CONFLICT (content_hash) DO NOTHING RETURNING *",
                    list(cols.values()),
                ).fetchone()
                if row is None:
                    raise _Dup()
                asset_id = str(row["asset_id"])
                for a in analyses:
                    self._put_analysis(conn, Analysis(asset_id, a.name, a.version, a.data, a.blob))
        except _Dup:
            dup = self.find_by_hash(str(fields["content_hash"]), tenant)
            raise DuplicateAsset(dup.asset_id if dup else "?") from None
        return self._asset(row)

    def get_asset(self, asset_id: str) -> Asset | None:
        if not is_row_id(asset_id):
            return None
        rows = self.execute("SELECT * FROM assets WHERE asset_id = ?", (int(asset_id),))
        return self._asset(rows[0]) if rows else None

    def find_by_hash(self, content_hash: str, tenant: str | None = None) -> Asset | None:
        """The asset of ``tenant`` (None: the shared catalog) with this content."""
        rows = self.execute(
            "SELECT * FROM assets WHERE content_hash = ?", (hash_key(content_hash, tenant),)
        )
        return self._asset(rows[0]) if rows else None

    def find_by_audio_id(self, audio_id: str, tenant: str | None = None) -> Asset | None:
        """The song holding ``audio_id`` in ``tenant``'s custom catalog (None: the
        operator's); audio ids are per account."""
        if tenant is None:
            sql, params = "tenant IS NULL", []
        else:
            sql, params = "tenant = ?", [tenant]
        rows = self.execute(
            f"SELECT * FROM assets WHERE audio_id = ? AND {sql} ORDER BY asset_id DESC LIMIT 1",
            [audio_id, *params],
        )
        return self._asset(rows[0]) if rows else None

    def hidden_asset_ids(self, tenant: str | None) -> set[int]:
        """The assets ``tenant`` may not see: other accounts' (``ALL_TENANTS``: none)."""
        if tenant == ALL_TENANTS:
            return set()
        if tenant is None:
            rows = self.execute("SELECT asset_id FROM assets WHERE tenant IS NOT NULL")
        else:
            rows = self.execute(
                "SELECT asset_id FROM assets WHERE tenant IS NOT NULL AND tenant <> ?", (tenant,)
            )
        return {int(r[0]) for r in rows}

    def asset_tenants(self, asset_ids: Sequence[str]) -> dict[str, str | None]:
        """asset id -> its tenant (None: shared), for the ids that exist."""
        ids = [int(a) for a in asset_ids if is_row_id(a)]
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        rows = self.execute(f"SELECT asset_id, tenant FROM assets WHERE asset_id IN ({marks})", ids)
        return {str(r[0]): r[1] for r in rows}

    def update_asset(self, asset_id: str, fields: dict[str, Any]) -> Asset:
        cols = {k: v for k, v in fields.items() if k in ASSET_FIELDS and k != "content_hash"}
        if "extra" in fields:
            cols["extra"] = json.dumps(fields["extra"])
        cols["updated_at"] = utcnow()
        sets = ", ".join(f"{k} = ?" for k in cols)
        if not is_row_id(asset_id):
            raise KeyError(asset_id)
        with self.transaction() as conn:
            row = conn.execute(
                f"UPDATE assets SET {sets} WHERE asset_id = ? RETURNING *",
                [*cols.values(), int(asset_id)],
            ).fetchone()
            if row is None:
                raise KeyError(asset_id)
        return self._asset(row)

    def delete_asset(self, asset_id: str) -> bool:
        if not is_row_id(asset_id):
            return False
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM assets WHERE asset_id = ?", (int(asset_id),))
            return bool(cur.rowcount > 0)

    def list_assets(
        self,
        kind: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        tenant: str | None = ALL_TENANTS,
    ) -> list[Asset]:
        """A page of the assets ``tenant`` sees (default: all), in id order."""
        cond, params = visible_to(tenant)
        sql = f"SELECT * FROM assets WHERE {cond}"
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        sql += " ORDER BY asset_id LIMIT -1" if limit is None else " ORDER BY asset_id LIMIT ?"
        params += [] if limit is None else [limit]  # LIMIT -1: all (PostgreSQL: LIMIT ALL)
        sql += " OFFSET ?"
        params.append(offset)
        return [self._asset(r) for r in self.execute(sql, params)]

    def iter_assets(self, kind: str | None = None) -> Iterator[Asset]:
        # pages by key, so a large catalog is never held in memory at once
        last = -1
        while True:
            sql = "SELECT * FROM assets WHERE asset_id > ?"
            params: list[Any] = [last]
            if kind:
                sql += " AND kind = ?"
                params.append(kind)
            rows = self.execute(sql + f" ORDER BY asset_id LIMIT {PAGE}", params)
            if not rows:
                return
            for r in rows:
                yield self._asset(r)
            last = int(rows[-1]["asset_id"])

    def count_assets(self, kind: str | None = None, tenant: str | None = ALL_TENANTS) -> int:
        """How many assets ``tenant`` sees (default: all), of ``kind``."""
        cond, params = visible_to(tenant)
        if kind:
            cond += " AND kind = ?"
            params.append(kind)
        return int(self.execute(f"SELECT COUNT(*) FROM assets WHERE {cond}", params)[0][0])

    def file_in_use(self, file_path: str) -> bool:
        """Whether any asset stores its audio at ``file_path``."""
        return bool(self.execute("SELECT 1 FROM assets WHERE file_path = ? LIMIT 1", (file_path,)))

    # -- analyses ------------------------------------------------------------------------
    def _put_analysis(self, conn: Conn, a: Analysis) -> None:
        conn.execute(
            self.dialect.upsert(
                "analyses",
                ("asset_id", "name", "version", "data", "blob", "created_at"),
                ("asset_id", "name"),
                new_rowid=True,
            ),
            (int(a.asset_id), a.name, a.version, json.dumps(a.data), a.blob, utcnow()),
        )
        self._analysis_written(conn, a)

    def _analysis_written(self, conn: Conn, a: Analysis) -> None:
        """Hook, inside the analysis' transaction (PostgreSQL mirrors embeddings)."""

    def put_analysis(self, analysis: Analysis) -> None:
        with self.transaction() as conn:
            self._put_analysis(conn, analysis)

    @staticmethod
    def _analysis(row: Any) -> Analysis:
        blob = row["blob"]
        return Analysis(
            str(row["asset_id"]),
            row["name"],
            row["version"],
            json.loads(row["data"]),
            blob if blob is None or isinstance(blob, bytes) else bytes(blob),
        )

    def get_analysis(self, asset_id: str, name: str) -> Analysis | None:
        if not is_row_id(asset_id):
            return None
        rows = self.execute(
            "SELECT * FROM analyses WHERE asset_id = ? AND name = ?", (int(asset_id), name)
        )
        return self._analysis(rows[0]) if rows else None

    def iter_analyses(self, name: str, kind: str | None = None) -> Iterator[Analysis]:
        """Every analysis ``name`` (of assets of ``kind``), in asset order, by pages."""
        last = -1
        join = " JOIN assets a ON a.asset_id = an.asset_id AND a.kind = ?" if kind else ""
        while True:
            params: list[Any] = [kind] if kind else []
            rows = self.execute(
                f"SELECT an.* FROM analyses an{join} WHERE an.name = ? AND an.asset_id > ? "
                f"ORDER BY an.asset_id LIMIT {PAGE}",
                [*params, name, last],
            )
            if not rows:
                return
            for r in rows:
                yield self._analysis(r)
            last = int(rows[-1]["asset_id"])

    # -- keys ----------------------------------------------------------------------------
    @staticmethod
    def _key(row: Any) -> ApiKey:
        return ApiKey(
            int(row["key_id"]),
            row["name"],
            row["prefix"],
            row["tier"],
            row["created_at"],
            row["revoked_at"],
            frozenset(s for s in (row["scopes"] or "").split(",") if s),
            row["tenant"],
        )

    @staticmethod
    def _scopes(scopes: Iterable[str]) -> str:
        chosen = set(scopes)
        unknown = chosen - set(SCOPES)
        if unknown:
            raise ValueError(f"unknown scope(s) {sorted(unknown)}; scopes are {', '.join(SCOPES)}")
        return ",".join(s for s in SCOPES if s in chosen)

    def add_key(
        self,
        name: str,
        prefix: str,
        key_hash: str,
        tier: str = "free",
        scopes: Iterable[str] = ("read",),
        tenant: str | None = None,
    ) -> ApiKey:
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO api_keys (name, prefix, key_hash, tier, created_at, scopes, tenant) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (name, prefix, key_hash, tier, utcnow(), self._scopes(scopes), tenant),
            ).fetchone()
        return self._key(row)

    def key_tenant(self, key_id: int) -> str | None:
        """The account of key ``key_id`` (None: the operator, or no such key)."""
        rows = self.execute("SELECT tenant FROM api_keys WHERE key_id = ?", (key_id,))
        return rows[0][0] if rows else None

    def set_key_scopes(self, key_id: int, scopes: Iterable[str]) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE api_keys SET scopes = ? WHERE key_id = ?", (self._scopes(scopes), key_id)
            )

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        rows = self.execute("SELECT * FROM api_keys WHERE key_hash = ?", (key_hash,))
        return self._key(rows[0]) if rows else None

    def list_keys(self) -> list[ApiKey]:
        return [self._key(r) for r in self.execute("SELECT * FROM api_keys ORDER BY key_id")]

    def revoke_key(self, key_id_or_prefix: str) -> bool:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE revoked_at IS NULL "
                "AND (CAST(key_id AS TEXT) = ? OR prefix = ? OR name = ?)",
                (utcnow(), key_id_or_prefix, key_id_or_prefix, key_id_or_prefix),
            )
            return bool(cur.rowcount > 0)


class _Dup(Exception):
    pass


if TYPE_CHECKING:  # the SQL store is a Store: mypy checks it here
    from tonearm.storage.base import Store

    def _is_a_store(s: SqlStore) -> Store:
        return s
