"""Scale-out backend: PostgreSQL behind the same :class:`SqlStore` as SQLite.

The statements are :class:`~tonearm.storage.sql.SqlStore`'s, written in SQLite's dialect;
:class:`~tonearm.storage.pgconn.PgConn` rewrites them for PostgreSQL. This module holds
what only PostgreSQL has: the connection pool per store, migrations under an advisory
lock, the pgvector mirror of embeddings (:mod:`tonearm.storage.pgvector`) and moving an
embedded catalog here (:mod:`tonearm.storage.pgcopy`).

Connections: at most ``pool_size`` per process (:class:`~tonearm.storage.pgconn.PgPool`),
autocommit outside ``transaction()``. A thread inside ``transaction()`` keeps its
connection, and ``execute()`` on that thread uses it, so reads inside a transaction see
its writes (as on SQLite).

Migrations: ``storage/migrations_pg/NNNN_*.sql``, the same version numbers as the SQLite
ones, applied under an advisory lock so N servers starting at once migrate once. A file
whose first line is ``-- requires: EXT`` is applied only when that extension is available.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql as pgsql

from tonearm.storage.base import Analysis
from tonearm.storage.dialect import Conn, Dialect, apply_migrations, migration_files
from tonearm.storage.pgconn import PgConn, PgCursor, PgPool, Row
from tonearm.storage.pgcopy import COPY_TABLES, copy_catalog
from tonearm.storage.pgvector import (
    MAX_HNSW_DIM,
    PG_EF_SEARCH,
    PgVectorIndex,
    backfill_vectors,
    pgvector_search,
    put_vector,
    vector_space,
)
from tonearm.storage.sql import SqlStore

__all__ = [
    "COPY_TABLES",
    "MAX_HNSW_DIM",
    "PG_EF_SEARCH",
    "PgConn",
    "PgCursor",
    "PgPool",
    "PgVectorIndex",
    "PostgresStore",
    "Row",
    "backfill_vectors",
    "copy_catalog",
    "pgvector_search",
    "split_schema",
    "vector_space",
]

MIGRATE_LOCK = 0x70_6E_65_61_72_6D  # advisory lock id for migrations ("tonearm"-ish)


def pg_migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in storage/migrations_pg, in order."""
    return migration_files("migrations_pg")


class PostgresStore(
    SqlStore,
):
    """Store on PostgreSQL. ``schema`` (optional) isolates a catalog in its own schema."""

    dialect = Dialect.POSTGRESQL

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
        self.pool = PgPool(url, schema, pool_size, pool_timeout_s, connect_timeout_s)
        self._local = threading.local()  # the connection of a transaction open on a thread
        self._pk: dict[str, tuple[str, ...]] = {}
        self._ident: dict[str, str | None] = {}
        self._vectors: bool | None = None
        self.migrate()

    def __repr__(self) -> str:
        u = urlsplit(self.url)
        return f"PostgresStore({u.hostname}:{u.port or 5432}{u.path}, schema={self.schema})"

    def identity(self) -> str:
        u = urlsplit(self.url)
        return f"postgresql://{u.hostname}:{u.port or 5432}{u.path}#{self.schema}"

    # -- connections ---------------------------------------------------------------------
    @contextmanager
    def _acquire(self) -> Iterator[psycopg.Connection[Any]]:
        current: psycopg.Connection[Any] | None = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self.pool.acquire() as conn:
            yield conn

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
            version = apply_migrations(raw.execute, pg_migrations(), "%s", available)
        self._pk.clear()
        self._ident.clear()
        self._vectors = None
        return version

    def has_vector_table(self) -> bool:
        """Whether pgvector's ``asset_vectors`` exists (migration 0100, the extension)."""
        if self._vectors is None:
            with self._acquire() as raw:
                r = raw.execute("SELECT to_regclass('asset_vectors') IS NOT NULL").fetchone()
            self._vectors = bool(r and r[0])
        return self._vectors

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
        self.pool.close()

    def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests, teardown)."""
        if not self.schema:
            raise ValueError("no schema to drop")
        self.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(self.schema))
            )

    # -- vectors -------------------------------------------------------------------------
    def _analysis_written(self, conn: Conn, a: Analysis) -> None:
        if a.name == "embedding" and self.has_vector_table():
            assert isinstance(conn, PgConn)
            put_vector(conn, a)  # same transaction: pgvector never lags the analyses

    # pgvector HNSW, exact under selective filters (the query's length is the space's dim)
    nearest_vectors = pgvector_search


def split_schema(url: str) -> tuple[str, str | None]:
    """``postgresql://...?schema=name`` -> (the URL without it, "name")."""
    from urllib.parse import parse_qsl, urlencode, urlunsplit

    u = urlsplit(url)
    q = parse_qsl(u.query, keep_blank_values=True)
    schema = next((v for k, v in q if k == "schema"), None)
    rest = urlencode([(k, v) for k, v in q if k != "schema"])
    return urlunsplit((u.scheme, u.netloc, u.path, rest, u.fragment)), schema
