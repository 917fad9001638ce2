"""Scale-out backend: PostgreSQL behind the same Store protocol as SQLite.

Services write SQL once, in SQLite's dialect with ``?`` placeholders, through
``store.transaction()`` / ``store.execute()``. This backend runs that SQL on PostgreSQL:

- ``?`` becomes ``%s`` (and a literal ``%`` is doubled);
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
- ``INSERT OR REPLACE INTO t (cols)`` becomes an upsert on ``t``'s primary key;
- an ``INSERT`` into a table with an identity key gets ``RETURNING`` so ``cursor.lastrowid``
  works as on sqlite3;
- rows read like ``sqlite3.Row``: ``row[0]``, ``row["name"]``, ``dict(row)``, ``row.keys()``.

SQLite-only features (FTS5 ``MATCH``, ``json_extract``...) need a PostgreSQL branch in the
service that uses them; ``store.dialect`` says which backend runs ("sqlite"/"postgresql").

Connections: one per thread (like the SQLite store), autocommit outside ``transaction()``.
A connection that broke (server restart) is dropped and the next call opens a new one, so
requests fail cleanly while PostgreSQL is away and recover when it is back.

Migrations: ``storage/migrations_pg/NNNN_*.sql``, the same version numbers as the SQLite
ones, applied under an advisory lock so N servers starting at once migrate once. A file
whose first line is ``-- requires: EXT`` is applied only when that extension is available.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql as pgsql

from tonearm.storage.base import ASSET_FIELDS, Analysis, ApiKey, Asset, DuplicateAsset
from tonearm.storage.records import Records
from tonearm.storage.sqlite import _split_sql, utcnow

MIGRATE_LOCK = 0x70_6E_65_61_72_6D  # advisory lock id for migrations ("tonearm"-ish)


def pg_migrations() -> list[tuple[int, str, str]]:
    out = []
    for entry in resources.files("tonearm.storage").joinpath("migrations_pg").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text()))
    return sorted(out)


class Row(dict):
    """A result row readable by position and by name, like ``sqlite3.Row``."""

    __slots__ = ("_values",)

    def __init__(self, names: Sequence[str], values: Sequence[Any]) -> None:
        super().__init__(zip(names, values, strict=False))
        self._values = tuple(values)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, int | slice):
            return self._values[k]
        return super().__getitem__(k)

    def __iter__(self) -> Iterator[Any]:
        # sqlite3.Row iterates over values (tuple(row), a, b = row)
        return iter(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return self._values == other
        return super().__eq__(other)

    __hash__ = None


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    names = [c.name for c in (cursor.description or [])]
    return lambda values: Row(names, values)


_INSERT = re.compile(
    r"^\s*INSERT\s+(?:OR\s+(?P<verb>IGNORE|REPLACE)\s+)?INTO\s+(?P<table>[A-Za-z_][\w.]*)"
    r"\s*(?:\((?P<cols>[^)]*)\))?",
    re.IGNORECASE,
)
_LIMIT_ALL = re.compile(r"\bLIMIT\s+-1\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _placeholders(sql: str) -> str:
    """``?`` -> ``%s`` outside quoted literals; every literal ``%`` doubled."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
        elif ch == "?":
            out.append("%s")
            continue
        out.append("%%" if ch == "%" else ch)
    return _LIMIT_ALL.sub("LIMIT ALL", "".join(out))


class PgCursor:
    """The sqlite3.Cursor subset services use: fetchone/fetchall/iteration/rowcount/lastrowid."""

    def __init__(self, cur: psycopg.Cursor[Any], lastrowid: Any = None) -> None:
        self._cur = cur
        self.rowcount = cur.rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        return self._cur.fetchone() if self._cur.description else None

    def fetchall(self) -> list[Any]:
        return self._cur.fetchall() if self._cur.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConn:
    """What ``transaction()`` yields: execute/executemany in SQLite's dialect."""

    def __init__(self, raw: psycopg.Connection[Any], store: PostgresStore) -> None:
        self.raw = raw
        self.store = store

    def _rewrite(self, sql: str) -> tuple[str, str | None]:
        """(PostgreSQL text, identity column to return for lastrowid)."""
        m = _INSERT.match(sql)
        if not m:
            return _placeholders(sql), None
        table = m.group("table")
        verb = (m.group("verb") or "").upper()
        text = sql[: m.start()] + "INSERT INTO " + table + sql[m.end("table") :]
        suffix = ""
        if verb == "IGNORE":
            suffix = " ON CONFLICT DO NOTHING"
        elif verb == "REPLACE":
            pk = self.store.primary_key(table)
            cols = [c.strip() for c in (m.group("cols") or "").split(",") if c.strip()]
            update = [c for c in cols if c not in pk]
            if pk and update:
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in update)
                if self.store.identity_column(table) == "rowid" and "rowid" not in cols:
                    sets += ", rowid = DEFAULT"  # a replaced row is a new row, as on SQLite
                suffix = f" ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {sets}"
            else:
                suffix = " ON CONFLICT DO NOTHING"
        ident = None
        if "RETURNING" not in sql.upper():
            ident = self.store.identity_column(table)
            if ident:
                suffix += f" RETURNING {ident}"
        return _placeholders(text.rstrip().rstrip(";") + suffix), ident

    def execute(self, sql: str, params: Iterable[Any] = ()) -> PgCursor:
        text, ident = self._rewrite(sql)
        args = tuple(params)
        cur = self.raw.cursor(row_factory=_row_factory)
        cur.execute(text, args or None)
        lastrowid = None
        if ident and cur.description:
            row = cur.fetchone()
            lastrowid = row[0] if row else None
        return PgCursor(cur, lastrowid)

    def executemany(self, sql: str, seq: Iterable[Iterable[Any]]) -> PgCursor:
        text, ident = self._rewrite(sql)
        if ident:
            text = text[: text.rfind(" RETURNING ")]
        cur = self.raw.cursor(row_factory=_row_factory)
        cur.executemany(text, [tuple(p) for p in seq])
        return PgCursor(cur)


class PostgresStore(Records):
    """Store on PostgreSQL. ``schema`` (optional) isolates a catalog in its own schema."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        connect_timeout_s: int = 5,
        pool_size: int = 8,
        pool_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.schema = schema
        self.connect_timeout_s = connect_timeout_s
        self.pool_size = max(1, pool_size)
        self.pool_timeout_s = pool_timeout_s
        self._local = threading.local()  # the connection of a transaction open on a thread
        self._lock = threading.Lock()
        self._idle: list[psycopg.Connection[Any]] = []
        self._slots = threading.BoundedSemaphore(self.pool_size)
        self._pk: dict[str, tuple[str, ...]] = {}
        self._ident: dict[str, str | None] = {}
        self._vectors: bool | None = None
        self.migrate()

    def __repr__(self) -> str:
        u = urlsplit(self.url)
        return f"PostgresStore({u.hostname}:{u.port or 5432}{u.path}, schema={self.schema})"

    # -- connections: a bounded pool ----------------------------------------------------
    # At most ``pool_size`` connections per process (PostgreSQL's max_connections is shared
    # by every API server and worker); a thread waits up to ``pool_timeout_s`` for one. A
    # thread inside ``transaction()`` keeps its connection, and ``execute()`` on that thread
    # uses it, so reads inside a transaction see its writes (as on SQLite).
    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout_s)
        if self.schema:
            conn.execute(
                pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(self.schema))
            )
            conn.execute(
                pgsql.SQL("SET search_path TO {}, public").format(pgsql.Identifier(self.schema))
            )
        return conn

    @contextmanager
    def _acquire(self) -> Iterator[psycopg.Connection[Any]]:
        current: psycopg.Connection[Any] | None = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        if not self._slots.acquire(timeout=self.pool_timeout_s):
            raise psycopg.OperationalError(
                f"no free database connection in {self.pool_timeout_s:g} s "
                f"(pool of {self.pool_size}; raise TONEARM_DB_POOL_SIZE)"
            )
        conn: psycopg.Connection[Any] | None = None
        try:
            with self._lock:
                while self._idle and conn is None:
                    c = self._idle.pop()
                    if c.closed or c.broken:
                        with suppress(Exception):
                            c.close()
                    else:
                        conn = c
            if conn is None:
                conn = self._connect()
            yield conn
        except psycopg.OperationalError:
            if conn is not None:
                with suppress(Exception):
                    conn.close()
                conn = None
            raise
        finally:
            if conn is not None:
                idle = (
                    not conn.closed
                    and not conn.broken
                    and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
                )
                if idle:
                    with self._lock:
                        self._idle.append(conn)
                else:
                    with suppress(Exception):
                        conn.close()
            self._slots.release()

    @contextmanager
    def transaction(self) -> Iterator[PgConn]:
        """One transaction, rolled back on any exception (nested: a savepoint)."""
        with self._acquire() as raw:
            outer = getattr(self._local, "tx", None)
            self._local.tx = raw
            try:
                with raw.transaction():
                    yield PgConn(raw, self)
            finally:
                self._local.tx = outer

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        params = tuple(params)
        in_tx = getattr(self._local, "tx", None) is not None
        try:
            with self._acquire() as raw:
                return PgConn(raw, self).execute(sql, params).fetchall()
        except psycopg.OperationalError:
            # a connection the server dropped (restart, failover, idle timeout): a read is
            # safe to repeat once on a fresh connection; a write is reported, not guessed at
            if in_tx or not sql.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
                raise
        with self._acquire() as raw:
            return PgConn(raw, self).execute(sql, params).fetchall()

    # -- schema --------------------------------------------------------------------------
    def migrate(self) -> int:
        with self._acquire() as raw:
            version = self._migrate(raw)
        if self.has_vector_table():
            backfill_vectors(self)  # 0100 applied on a catalog that already had embeddings
        return version

    def _migrate(self, raw: psycopg.Connection[Any]) -> int:
        available = {
            r[0] for r in raw.execute("SELECT name FROM pg_available_extensions").fetchall()
        }
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            raw.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {r[0] for r in raw.execute("SELECT version FROM schema_migrations")}
            for version, name, text in pg_migrations():
                if version in done:
                    continue
                first = text.splitlines()[0] if text else ""
                if first.startswith("-- requires:"):
                    needs = {e.strip() for e in first.split(":", 1)[1].split(",")}
                    if not needs <= available:
                        continue  # optional feature; applied once the extension is there
                for stmt in _split_sql(text):
                    raw.execute(stmt)
                raw.execute(
                    "INSERT INTO schema_migrations VALUES (%s, %s, %s)", (version, name, utcnow())
                )
            row = raw.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
        self._pk.clear()
        self._ident.clear()
        self._vectors = None
        return int(row[0] or 0) if row else 0

    def has_vector_table(self) -> bool:
        """Whether pgvector's ``asset_vectors`` exists (migration 0100, the extension)."""
        if self._vectors is None:
            with self._acquire() as raw:
                r = raw.execute("SELECT to_regclass('asset_vectors') IS NOT NULL").fetchone()
            self._vectors = bool(r and r[0])
        return self._vectors

    def schema_version(self) -> int:
        return int(self.execute("SELECT MAX(version) FROM schema_migrations")[0][0] or 0)

    def has_extension(self, name: str) -> bool:
        rows = self.execute("SELECT 1 FROM pg_extension WHERE extname = ?", (name,))
        return bool(rows)

    def primary_key(self, table: str) -> tuple[str, ...]:
        if table not in self._pk:
            with self._acquire() as raw:
                rows = raw.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                    "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary",
                    (table,),
                ).fetchall()
            self._pk[table] = tuple(r[0] for r in rows)
        return self._pk[table]

    def identity_column(self, table: str) -> str | None:
        if table not in self._ident:
            with self._acquire() as raw:
                r = raw.execute(
                    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) "
                    "AND attidentity <> '' AND attnum > 0 AND NOT attisdropped",
                    (table,),
                ).fetchone()
            self._ident[table] = r[0] if r else None
        return self._ident[table]

    def close(self) -> None:
        """Close the idle connections (ones in use close when they come back broken or
        at exit); the store stays usable and reconnects on demand."""
        with self._lock:
            conns, self._idle = self._idle, []
        for c in conns:
            with suppress(Exception):
                c.close()

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests, teardown)."""
        if not self.schema:
            raise ValueError("no schema to drop")
        self.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(self.schema))
            )

    # -- assets --------------------------------------------------------------------------
    @staticmethod
    def _asset(row: Row) -> Asset:
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
        analyses = list(analyses)
        try:
            with self.transaction() as conn:
                names = ", ".join(cols)
                marks = ", ".join("?" for _ in cols)
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
            dup = self.find_by_hash(cols["content_hash"])
            raise DuplicateAsset(dup.asset_id if dup else "?") from None
        return self._asset(row)

    def get_asset(self, asset_id: str) -> Asset | None:
        if not str(asset_id).isdigit() or int(asset_id) >= 2**63:
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
        if not str(asset_id).isdigit():
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
        if not str(asset_id).isdigit():
            return False
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
        sql += " ORDER BY asset_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        sql += " OFFSET ?"
        params.append(offset)
        return [self._asset(r) for r in self.execute(sql, params)]

    def iter_assets(self, kind: str | None = None) -> Iterator[Asset]:
        # pages by key, so a 10k-asset catalog is never held in memory at once
        last = -1
        while True:
            sql = "SELECT * FROM assets WHERE asset_id > ?"
            params: list[Any] = [last]
            if kind:
                sql += " AND kind = ?"
                params.append(kind)
            rows = self.execute(sql + " ORDER BY asset_id LIMIT 1000", params)
            if not rows:
                return
            for r in rows:
                yield self._asset(r)
            last = int(rows[-1]["asset_id"])

    def count_assets(self, kind: str | None = None) -> int:
        if kind:
            return int(self.execute("SELECT COUNT(*) FROM assets WHERE kind = ?", (kind,))[0][0])
        return int(self.execute("SELECT COUNT(*) FROM assets")[0][0])

    # -- analyses ------------------------------------------------------------------------
    def _put_analysis(self, conn: PgConn, a: Analysis) -> None:
        conn.execute(
            "INSERT INTO analyses (asset_id, name, version, data, blob, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (asset_id, name) DO UPDATE SET "
            "version = EXCLUDED.version, data = EXCLUDED.data, blob = EXCLUDED.blob, "
            "created_at = EXCLUDED.created_at, rowid = DEFAULT",
            (int(a.asset_id), a.name, a.version, json.dumps(a.data), a.blob, utcnow()),
        )
        if a.name == "embedding" and self.has_vector_table():
            _put_vector(conn, a)  # same transaction: pgvector never lags the analyses

    def put_analysis(self, analysis: Analysis) -> None:
        with self.transaction() as conn:
            self._put_analysis(conn, analysis)

    @staticmethod
    def _analysis(row: Row) -> Analysis:
        blob = row["blob"]
        return Analysis(
            str(row["asset_id"]),
            row["name"],
            row["version"],
            json.loads(row["data"]),
            bytes(blob) if blob is not None else None,
        )

    def get_analysis(self, asset_id: str, name: str) -> Analysis | None:
        if not str(asset_id).isdigit():
            return None
        rows = self.execute(
            "SELECT * FROM analyses WHERE asset_id = ? AND name = ?", (int(asset_id), name)
        )
        return self._analysis(rows[0]) if rows else None

    def iter_analyses(self, name: str) -> Iterator[Analysis]:
        last = -1
        while True:
            rows = self.execute(
                "SELECT * FROM analyses WHERE name = ? AND asset_id > ? "
                "ORDER BY asset_id LIMIT 1000",
                (name, last),
            )
            if not rows:
                return
            for r in rows:
                yield self._analysis(r)
            last = int(rows[-1]["asset_id"])

    # -- keys ----------------------------------------------------------------------------
    @staticmethod
    def _key(row: Row) -> ApiKey:
        return ApiKey(
            int(row["key_id"]),
            row["name"],
            row["prefix"],
            row["tier"],
            row["created_at"],
            row["revoked_at"],
        )

    def add_key(self, name: str, prefix: str, key_hash: str, tier: str = "free") -> ApiKey:
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO api_keys (name, prefix, key_hash, tier, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING *",
                (name, prefix, key_hash, tier, utcnow()),
            ).fetchone()
        return self._key(row)

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


class _Dup(Exception):
    pass


def split_schema(url: str) -> tuple[str, str | None]:
    """``postgresql://...?schema=name`` -> (the URL without it, "name")."""
    from urllib.parse import parse_qsl, urlencode, urlunsplit

    u = urlsplit(url)
    q = parse_qsl(u.query, keep_blank_values=True)
    schema = next((v for k, v in q if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in q if k != "schema"])
    return urlunsplit((u.scheme, u.netloc, u.path, rest, u.fragment)), schema


# -- vectors (pgvector) -----------------------------------------------------------------------
_SPACE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
MAX_HNSW_DIM = 2000  # pgvector's HNSW limit for ``vector``
# hnsw.ef_search for /similar. 10k songs, pgvector 0.6.2 (bench/load.py --vector-recall):
# 40 and 256 both give recall@10 0.997 unfiltered, 1.0 under a 1-in-8 duration filter (the
# exact fallback); 256 matches the in-process index, whose recall needs it at 100k
PG_EF_SEARCH = int(os.environ.get("TONEARM_PG_EF_SEARCH", "256"))


def vector_space(model_id: str) -> str:
    """The ``asset_vectors.space`` of an embedding model (a safe SQL literal)."""
    import hashlib

    return "m" + hashlib.sha1(model_id.encode()).hexdigest()[:16]


def _vector_literal(v: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def _put_vector(conn: PgConn, a: Analysis) -> None:
    """Mirror one ``embedding`` analysis into ``asset_vectors`` (inside its transaction)."""
    import numpy as np

    model = str((a.data or {}).get("model", ""))
    if a.blob is None or not model:
        conn.execute("DELETE FROM asset_vectors WHERE asset_id = ?", (int(a.asset_id),))
        return
    v = np.frombuffer(a.blob, dtype="<f4")
    if not 1 <= v.size <= MAX_HNSW_DIM:
        return
    conn.execute("DELETE FROM asset_vectors WHERE asset_id = ? AND space <> ?",
                 (int(a.asset_id), vector_space(model)))  # fmt: skip
    conn.execute(
        "INSERT INTO asset_vectors (asset_id, space, kind, embedding) "
        "SELECT asset_id, ?, kind, ?::vector FROM assets WHERE asset_id = ? "
        "ON CONFLICT (asset_id, space) DO UPDATE SET kind = EXCLUDED.kind, "
        "embedding = EXCLUDED.embedding",
        (vector_space(model), _vector_literal(v.tolist()), int(a.asset_id)),
    )


def backfill_vectors(store: PostgresStore) -> int:
    """Copy ``embedding`` analyses that have no ``asset_vectors`` row yet; returns how many."""
    n = 0
    while True:
        rows = store.execute(
            "SELECT an.asset_id, an.version, an.data, an.blob FROM analyses an "
            "WHERE an.name = 'embedding' AND an.blob IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM asset_vectors v WHERE v.asset_id = an.asset_id) "
            "ORDER BY an.asset_id LIMIT 500"
        )
        rows = [r for r in rows if 1 <= len(bytes(r["blob"])) // 4 <= MAX_HNSW_DIM]
        if not rows:
            return n
        with store.transaction() as conn:
            for r in rows:
                a = Analysis(str(r["asset_id"]), "embedding", r["version"],
                             json.loads(r["data"] or "{}"), bytes(r["blob"]))  # fmt: skip
                _put_vector(conn, a)
                n += 1


def pgvector_search(
    store: PostgresStore,
    model_id: str,
    dim: int,
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
) -> tuple[list[tuple[str, float]], int]:
    """The ``need`` nearest (asset_id, cosine) under the filters, best first (ties by id),
    and how many vectors pass the filters. HNSW (cosine, per space) with pgvector's
    iterative scan; when the index returns fewer rows than pass the filters, the same query
    runs as an exact scan, so a selective filter never loses true neighbours. ``total``
    (how many rows pass the filters), when the caller knows it, saves a COUNT."""
    if not 1 <= dim <= MAX_HNSW_DIM:
        raise ValueError(f"dim must be 1..{MAX_HNSW_DIM}")
    space = vector_space(model_id)
    expr = f"(v.embedding::vector({dim}))"
    caps = store.__dict__.setdefault("_pgvector_caps", {})
    if (space, dim) not in caps:  # once per process and space
        with store.transaction() as conn:
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS asset_vectors_hnsw_{space} ON asset_vectors USING "
                f"hnsw ((embedding::vector({dim})) vector_cosine_ops) WHERE space = '{space}'"
            )
        caps[(space, dim)] = True
    where = [f"v.space = '{space}'", "v.kind = ?"]
    params: list[Any] = [kind]
    if exclude is not None:
        where.append("v.asset_id <> ?")
        params.append(int(exclude))
    joins = ""
    if categories or subcategories or min_duration is not None or max_duration is not None:
        joins = " JOIN assets a ON a.asset_id = v.asset_id"
        if categories:
            where.append("LOWER(TRIM(COALESCE(a.category, ''))) = ANY(?)")
            params.append([c.strip().lower() for c in categories])
        if subcategories:
            where.append("LOWER(TRIM(COALESCE(a.subcategory, ''))) = ANY(?)")
            params.append([c.strip().lower() for c in subcategories])
        if min_duration is not None:
            where.append("COALESCE(a.duration, 0) >= ?")
            params.append(float(min_duration))
        if max_duration is not None:
            where.append("COALESCE(a.duration, 0) <= ?")
            params.append(float(max_duration))
    cond = " AND ".join(where)
    q = f"?::vector({dim})"
    sql = (
        f"SELECT v.asset_id, 1 - ({expr} <=> {q}) AS cos FROM asset_vectors v{joins} "
        f"WHERE {cond} ORDER BY {expr} <=> {q} LIMIT ?"  # nothing else: HNSW needs this form
    )
    vec = _vector_literal(query)
    args = [vec, *params, vec, need]
    with store.transaction() as conn:
        if total is None:
            total = int(
                conn.execute(
                    f"SELECT COUNT(*) FROM asset_vectors v{joins} WHERE {cond}", params
                ).fetchone()[0]
            )
        if total == 0:
            return [], 0
        # pgvector's default (40) trades recall for speed; like the in-process index, 256
        conn.execute(f"SET LOCAL hnsw.ef_search = {max(PG_EF_SEARCH, min(1000, 2 * need))}")
        if caps.get("iterative_scan", True):
            try:
                with conn.raw.transaction():  # savepoint: pgvector < 0.8 has no such setting
                    conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            except psycopg.Error:
                caps["iterative_scan"] = False
        rows = conn.execute(sql, args).fetchall()
        if len(rows) < min(need, total):  # the index missed some: exact scan
            conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute("SET LOCAL enable_bitmapscan = off")
            rows = conn.execute(sql, args).fetchall()
    out = sorted(((int(r[0]), float(r[1])) for r in rows), key=lambda t: (-t[1], t[0]))
    return [(str(a), c) for a, c in out], total


class PgVectorIndex:
    """One embedding space (e.g. ``aisfx`` 512-d) in ``asset_vectors``: cosine HNSW.

    Needs the ``vector`` extension (migration 0100 applies once it is installed).

    Filtered search is exact in what it returns: an HNSW scan visits ``ef_search``
    candidates and *then* applies the filter, so a selective filter (one category, a
    duration range) can leave fewer than ``k`` rows although more match. We ask pgvector
    (>= 0.8) to keep scanning until ``k`` rows pass (``hnsw.iterative_scan``), and when a
    result still comes back short of ``k`` while more rows match the filter, run the same
    query as an exact scan. Results are therefore the true nearest neighbours under the
    filter whenever the index cannot guarantee them.
    """

    def __init__(self, store: PostgresStore, space: str, dim: int) -> None:
        if not _SPACE.match(space):
            raise ValueError(f"invalid vector space name {space!r}")
        if not 1 <= dim <= 2000:  # HNSW's limit for vector
            raise ValueError("dim must be 1..2000")
        self.store = store
        self.space = space
        self.dim = dim
        if not store.has_extension("vector"):
            raise RuntimeError(
                "PostgreSQL has no pgvector: install it (e.g. postgresql-16-pgvector) and "
                "restart tonearm so migration 0100 creates asset_vectors"
            )
        # the index expression and predicate must appear verbatim in queries to be used,
        # so space (checked above) and dim are literals, never parameters
        self._expr = f"(embedding::vector({dim}))"
        with store.transaction() as conn:
            conn.execute(
                f"CREATE INDEX IF NOT EXISTS asset_vectors_hnsw_{space} ON asset_vectors "
                f"USING hnsw ({self._expr} vector_cosine_ops) WHERE space = '{space}'"
            )

    def _vec(self, v: Sequence[float]) -> str:
        if len(v) != self.dim:
            raise ValueError(f"expected {self.dim} values, got {len(v)}")
        return "[" + ",".join(repr(float(x)) for x in v) + "]"

    def upsert(self, asset_id: str, kind: str, vector: Sequence[float]) -> None:
        with self.store.transaction() as conn:
            conn.execute(
                "INSERT INTO asset_vectors (asset_id, space, kind, embedding) "
                "VALUES (?, ?, ?, ?::vector) ON CONFLICT (asset_id, space) DO UPDATE SET "
                "kind = EXCLUDED.kind, embedding = EXCLUDED.embedding",
                (int(asset_id), self.space, kind, self._vec(vector)),
            )

    def delete(self, asset_id: str) -> bool:
        with self.store.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM asset_vectors WHERE asset_id = ? AND space = ?",
                (int(asset_id), self.space),
            )
            return cur.rowcount > 0

    def search(
        self,
        query: Sequence[float],
        k: int = 10,
        *,
        kind: str | None = None,
        exclude: Iterable[str] = (),
        category: str | None = None,
        min_duration: float | None = None,
        max_duration: float | None = None,
    ) -> list[tuple[str, float]]:
        """(asset_id, cosine similarity), best first, under the filters."""
        where = [f"v.space = '{self.space}'"]
        params: list[Any] = []
        if kind:
            where.append("v.kind = ?")
            params.append(kind)
        ex = [int(x) for x in exclude if str(x).isdigit()]
        if ex:
            where.append("v.asset_id <> ALL(?)")
            params.append(ex)
        joins = ""
        if category or min_duration is not None or max_duration is not None:
            joins = " JOIN assets a ON a.asset_id = v.asset_id"
            if category:
                where.append("a.category = ?")
                params.append(category)
            if min_duration is not None:
                where.append("a.duration >= ?")
                params.append(min_duration)
            if max_duration is not None:
                where.append("a.duration <= ?")
                params.append(max_duration)
        q = f"?::vector({self.dim})"
        sql = (
            f"SELECT v.asset_id, 1 - ({self._expr.replace('embedding', 'v.embedding')} <=> {q}) "
            f"FROM asset_vectors v{joins} WHERE {' AND '.join(where)} "
            f"ORDER BY {self._expr.replace('embedding', 'v.embedding')} <=> {q} LIMIT ?"
        )
        vec = self._vec(query)
        args = [vec, *params, vec, k]
        with self.store.transaction() as conn:
            conn.execute(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, 2 * k))}")
            try:
                with conn.raw.transaction():  # savepoint: older pgvector has no such setting
                    conn.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            except psycopg.Error:
                pass
            rows = conn.execute(sql, args).fetchall()
            if len(rows) < k:
                total = conn.execute(
                    f"SELECT COUNT(*) FROM asset_vectors v{joins} WHERE {' AND '.join(where)}",
                    params,
                ).fetchone()[0]
                if total > len(rows):  # the index missed some: exact scan
                    conn.execute("SET LOCAL enable_indexscan = off")
                    conn.execute("SET LOCAL enable_bitmapscan = off")
                    rows = conn.execute(sql, args).fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]


# -- moving an embedded catalog to PostgreSQL ---------------------------------------------------
COPY_TABLES = (
    "assets",
    "analyses",
    "api_keys",
    "api_usage",
    "jobs",
    "webhook_secrets",
    "uploads",
    "audd_callback_urls",
    "audd_streams",
    "audd_stream_events",
    "search_docs",
)


def copy_catalog(src: Any, dst: PostgresStore, batch: int = 500) -> dict[str, int]:
    """Copy every row of ``src`` (a SqliteStore) into ``dst``, keeping ids (asset ids and
    key ids are on the wire and in clients' databases), skipping rows already there.

    Derived tables (SQLite's FTS5 ``search_fts``) are not copied: they are rebuilt from
    the assets. Returns rows copied per table. Identity sequences continue after the
    copied ids."""
    out: dict[str, int] = {}
    for table in COPY_TABLES:
        try:
            src_cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
        except Exception:
            continue
        if not src_cols:
            continue
        dst_cols = {
            r[0]
            for r in dst.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = ? AND table_schema = current_schema()",
                (table,),
            )
        }
        cols = [c for c in src_cols if c in dst_cols]
        if not cols:
            continue
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        ins = f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        n = 0
        offset = 0
        while True:
            rows = src.execute(
                f"SELECT {names} FROM {table} ORDER BY rowid LIMIT ? OFFSET ?", (batch, offset)
            )
            if not rows:
                break
            with dst.transaction() as conn:
                for r in rows:
                    cur = conn.execute(ins, tuple(r))
                    n += max(0, cur.rowcount)
            offset += len(rows)
        ident = dst.identity_column(table)
        if ident and ident in cols:
            dst.execute(
                f"SELECT setval(pg_get_serial_sequence(?, ?), "
                f"GREATEST((SELECT MAX({ident}) FROM {table}), 1))",
                (table, ident),
            )
        out[table] = n
    if dst.has_vector_table():
        out["asset_vectors"] = backfill_vectors(dst)
    return out
