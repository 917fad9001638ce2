"""Embedded backend: SQLite in WAL mode with versioned migrations."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tonearm.storage.base import (
    ASSET_FIELDS,
    Analysis,
    ApiKey,
    Asset,
    DuplicateAsset,
)
from tonearm.storage.records import Records


def utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in storage/migrations, in order."""
    out = []
    for entry in resources.files("tonearm.storage").joinpath("migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text()))
    return sorted(out)


class SqliteStore(Records):
    """Store on one SQLite file. One connection per thread; writes serialized by a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self.migrate()

    # -- connections ---------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception."""
        with self._write_lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, tuple(params)).fetchall()

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for version, name, sql in migrations():
                if version in done:
                    continue
                for stmt in _split_sql(sql):
                    conn.execute(stmt)
                conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)", (version, name, utcnow())
                )
            row = conn.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        return int(row[0] or 0)

    def schema_version(self) -> int:
        return int(self.execute("SELECT MAX(version) FROM schema_migrations")[0][0] or 0)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- assets --------------------------------------------------------------------------
    @staticmethod
    def _asset(row: sqlite3.Row) -> Asset:
        d = dict(row)
        d["asset_id"] = str(d["asset_id"])
        d["extra"] = json.loads(d.get("extra") or "{}")
        return Asset(**d)

    def add_asset(self, fields: dict[str, Any], analyses: Iterable[Analysis] = ()) -> Asset:
        now = utcnow()
        cols = {k: v for k, v in fields.items() if k in ASSET_FIELDS}
        cols["extra"] = json.dumps(fields.get("extra") or {})
        cols.setdefault("name", "")
        cols["created_at"] = fields.get("created_at") or now
        cols["updated_at"] = now
        with self.transaction() as conn:
            dup = conn.execute(
                "SELECT asset_id FROM assets WHERE content_hash = ?", (cols["content_hash"],)
            ).fetchone()
            if dup:
                raise DuplicateAsset(str(dup[0]))
            names = ", ".join(cols)
            marks = ", ".join("?" for _ in cols)
            cur = conn.execute(
                f"INSERT INTO assets ({names}) VALUES ({marks})", list(cols.values())
            )
            asset_id = str(cur.lastrowid)
            for a in analyses:
                self._put_analysis(conn, Analysis(asset_id, a.name, a.version, a.data, a.blob))
            row = conn.execute("SELECT * FROM assets WHERE asset_id = ?", (asset_id,)).fetchone()
        return self._asset(row)

    def get_asset(self, asset_id: str) -> Asset | None:
        if not _is_row_id(asset_id):
            return None
        rows = self.execute("SELECT * FROM assets WHERE asset_id = ?", (int(asset_id),))
        return self._asset(rows[0]) if rows else None

    def find_by_hash(self, content_hash: str) -> Asset | None:
        rows = self.execute("SELECT * FROM assets WHERE content_hash = ?", (content_hash,))
        return self._asset(rows[0]) if rows else None

    def find_by_audio_id(self, audio_id: str) -> Asset | None:
        rows = self.execute(
            "SELECT * FROM assets WHERE audio_id = ? ORDER BY asset_id DESC LIMIT 1", (audio_id,)
        )
        return self._asset(rows[0]) if rows else None

    def update_asset(self, asset_id: str, fields: dict[str, Any]) -> Asset:
        cols = {k: v for k, v in fields.items() if k in ASSET_FIELDS and k != "content_hash"}
        if "extra" in fields:
            cols["extra"] = json.dumps(fields["extra"])
        cols["updated_at"] = utcnow()
        sets = ", ".join(f"{k} = ?" for k in cols)
        with self.transaction() as conn:
            cur = conn.execute(
                f"UPDATE assets SET {sets} WHERE asset_id = ?", [*cols.values(), int(asset_id)]
            )
            if cur.rowcount == 0:
                raise KeyError(asset_id)
            row = conn.execute("SELECT * FROM assets WHERE asset_id = ?", (int(asset_id),))
            return self._asset(row.fetchone())

    def delete_asset(self, asset_id: str) -> bool:
        with self.transaction() as conn:
            cur = conn.execute("DELETE FROM assets WHERE asset_id = ?", (int(asset_id),))
            return cur.rowcount > 0

    def list_assets(
        self, kind: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[Asset]:
        sql = "SELECT * FROM assets"
        params: list[Any] = []
        if kind:
            sql += " WHERE kind = ?"
            params.append(kind)
        sql += " ORDER BY asset_id LIMIT ? OFFSET ?"
        params += [-1 if limit is None else limit, offset]
        return [self._asset(r) for r in self.execute(sql, params)]

    def iter_assets(self, kind: str | None = None) -> Iterator[Asset]:
        yield from self.list_assets(kind)

    def count_assets(self, kind: str | None = None) -> int:
        if kind:
            return int(self.execute("SELECT COUNT(*) FROM assets WHERE kind = ?", (kind,))[0][0])
        return int(self.execute("SELECT COUNT(*) FROM assets")[0][0])

    # -- analyses ------------------------------------------------------------------------
    @staticmethod
    def _put_analysis(conn: sqlite3.Connection, a: Analysis) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO analyses (asset_id, name, version, data, blob, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (int(a.asset_id), a.name, a.version, json.dumps(a.data), a.blob, utcnow()),
        )

    def put_analysis(self, analysis: Analysis) -> None:
        with self.transaction() as conn:
            self._put_analysis(conn, analysis)

    @staticmethod
    def _analysis(row: sqlite3.Row) -> Analysis:
        return Analysis(
            str(row["asset_id"]), row["name"], row["version"], json.loads(row["data"]), row["blob"]
        )

    def get_analysis(self, asset_id: str, name: str) -> Analysis | None:
        if not _is_row_id(asset_id):
            return None
        rows = self.execute(
            "SELECT * FROM analyses WHERE asset_id = ? AND name = ?", (int(asset_id), name)
        )
        return self._analysis(rows[0]) if rows else None

    def iter_analyses(self, name: str) -> Iterator[Analysis]:
        cur = self._conn().execute(
            "SELECT * FROM analyses WHERE name = ? ORDER BY asset_id", (name,)
        )
        for row in cur:
            yield self._analysis(row)

    # -- keys ----------------------------------------------------------------------------
    @staticmethod
    def _key(row: sqlite3.Row) -> ApiKey:
        return ApiKey(
            row["key_id"],
            row["name"],
            row["prefix"],
            row["tier"],
            row["created_at"],
            row["revoked_at"],
        )

    def add_key(self, name: str, prefix: str, key_hash: str, tier: str = "free") -> ApiKey:
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO api_keys (name, prefix, key_hash, tier, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, prefix, key_hash, tier, utcnow()),
            )
            row = conn.execute("SELECT * FROM api_keys WHERE key_id = ?", (cur.lastrowid,))
            return self._key(row.fetchone())

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
            return cur.rowcount > 0


def _is_row_id(asset_id: object) -> bool:
    """A numeric string that fits SQLite's 64-bit integer keys."""
    s = str(asset_id)
    return s.isascii() and s.isdigit() and len(s) <= 18


def _split_sql(sql: str) -> list[str]:
    """Statements of a migration file (no semicolons inside literals in our migrations)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
