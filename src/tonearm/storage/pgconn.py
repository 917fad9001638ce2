"""PostgreSQL connections that run the stores' statements, written in SQLite's dialect.

Statements use ``?`` placeholders, as on SQLite. :class:`PgConn` runs them on PostgreSQL:

- ``?`` becomes ``%s`` (and a literal ``%`` is doubled); ``LIMIT -1`` becomes ``LIMIT ALL``;
- ``INSERT OR IGNORE`` becomes ``INSERT ... ON CONFLICT DO NOTHING``;
- ``INSERT OR REPLACE INTO t (cols)`` becomes an upsert on ``t``'s primary key;
- an ``INSERT`` into a table with an identity key gets ``RETURNING`` so ``cursor.lastrowid``
  works as on sqlite3;
- rows read like ``sqlite3.Row``: ``row[0]``, ``row["name"]``, ``dict(row)``, ``row.keys()``.

:class:`PgPool` bounds the connections of a process. A connection that broke (server
restart) is dropped and the next call opens a new one, so requests fail cleanly while
PostgreSQL is away and recover when it is back.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import lru_cache
from typing import Any, Protocol

import psycopg
from psycopg import sql as pgsql


class Schema(Protocol):
    """What :class:`PgConn` asks about tables (cached by the store)."""

    def primary_key(self, table: str) -> tuple[str, ...]: ...
    def identity_column(self, table: str) -> str | None: ...


class PgStore(Schema, Protocol):
    """What the pgvector and copy modules use of ``PostgresStore`` (typed here, so they
    need not import the store that imports them)."""

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Any]: ...
    def transaction(self) -> AbstractContextManager[PgConn]: ...
    def has_extension(self, name: str) -> bool: ...
    def has_vector_table(self) -> bool: ...


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

    def __init__(self, raw: psycopg.Connection[Any], store: Schema) -> None:
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


class PgPool:
    """At most ``size`` connections (PostgreSQL's max_connections is shared by every API
    server and worker); a thread waits up to ``timeout_s`` for one. Connections are in
    autocommit mode, with ``search_path`` set to ``schema`` (created when missing)."""

    def __init__(
        self,
        url: str,
        schema: str | None = None,
        size: int = 8,
        timeout_s: float = 30.0,
        connect_timeout_s: int = 5,
    ) -> None:
        self.url = url
        self.schema = schema
        self.size = max(1, size)
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.size)

    def connect(self) -> psycopg.Connection[Any]:
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
    def acquire(self) -> Iterator[psycopg.Connection[Any]]:
        """An idle or new connection; back to the pool when idle, closed when broken."""
        if not self._slots.acquire(timeout=self.timeout_s):
            raise psycopg.OperationalError(
                f"no free database connection in {self.timeout_s:g} s "
                f"(pool of {self.size}; raise TONEARM_DB_POOL_SIZE)"
            )
        conn: psycopg.Connection[Any] | None = None
        try:
            with self._lock:
                while self.idle and conn is None:
                    c = self.idle.pop()
                    if c.closed or c.broken:
                        with suppress(Exception):
                            c.close()
                    else:
                        conn = c
            if conn is None:
                conn = self.connect()
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
                        self.idle.append(conn)
                else:
                    with suppress(Exception):
                        conn.close()
            self._slots.release()

    def close(self) -> None:
        """Close the idle connections (ones in use close when they come back broken)."""
        with self._lock:
            conns, self.idle = self.idle, []
        for c in conns:
            with suppress(Exception):
                c.close()
