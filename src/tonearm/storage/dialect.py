"""What the SQL stores share below the statements: the dialect, connections, helpers.

Statements are written once, in SQLite's dialect with ``?`` placeholders; the PostgreSQL
connection (:mod:`tonearm.storage.pgconn`) rewrites them. Where the two databases really
differ (an upsert that must keep SQLite's "a replaced row is a new row"), the statement
asks the :class:`Dialect`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol


def utcnow() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def split_sql(sql: str) -> list[str]:
    """Statements of a migration file (no semicolons inside literals in our migrations)."""
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def migration_files(folder: str) -> list[tuple[int, str, str]]:
    """(version, name, sql) of every ``NNNN_*.sql`` in ``storage/<folder>``, in order."""
    out = []
    for entry in resources.files("tonearm.storage").joinpath(folder).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text()))
    return sorted(out)


def apply_migrations(
    run: Callable[..., Any],
    files: Iterable[tuple[int, str, str]],
    mark: str,
    available: set[str] | None = None,
) -> int:
    """Apply the ``files`` not yet in ``schema_migrations`` through ``run(sql[, params])``
    (inside the caller's transaction; ``mark``: the driver's placeholder); returns the
    schema version. With ``available`` (extensions), a file whose first line is
    ``-- requires: EXT`` waits until the extension is available."""
    run(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {r[0] for r in run("SELECT version FROM schema_migrations").fetchall()}
    for version, name, text in files:
        if version in done:
            continue
        first = text.splitlines()[0] if text else ""
        if available is not None and first.startswith("-- requires:"):
            needs = {e.strip() for e in first.split(":", 1)[1].split(",")}
            if not needs <= available:
                continue  # optional feature; applied once the extension is there
        for stmt in split_sql(text):
            run(stmt)
        run(f"INSERT INTO schema_migrations VALUES ({mark}, {mark}, {mark})",
            (version, name, utcnow()))  # fmt: skip
    row = run("SELECT MAX(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0) if row else 0


def is_row_id(asset_id: object) -> bool:
    """A numeric string that fits a signed 64-bit integer key (both databases')."""
    s = str(asset_id)
    return s.isascii() and s.isdigit() and len(s) <= 19 and int(s) < 2**63


class Dialect(StrEnum):
    """Which database runs the statements; compares equal to its name ("sqlite")."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"

    def upsert(
        self, table: str, cols: Sequence[str], key: Sequence[str], *, new_rowid: bool = False
    ) -> str:
        """INSERT that replaces the row with the same ``key``. ``new_rowid``: the table has
        an identity ``rowid`` on PostgreSQL, and a replaced row takes a new one there too,
        as SQLite's ``INSERT OR REPLACE`` (delete, insert) gives it."""
        names = ", ".join(cols)
        marks = ", ".join("?" for _ in cols)
        if self is Dialect.SQLITE:
            return f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})"
        sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
        return (
            f"INSERT INTO {table} ({names}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {sets}"
            + (", rowid = DEFAULT" if new_rowid else "")
        )


class Cursor(Protocol):
    """The ``sqlite3.Cursor`` subset the stores use (PostgreSQL: ``pgconn.PgCursor``)."""

    @property
    def rowcount(self) -> int: ...
    @property
    def lastrowid(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """What ``transaction()`` yields: ``sqlite3.Connection`` or ``pgconn.PgConn``."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...
    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any: ...


class SqlRunner:
    """Base of the record mixins: the two calls they use (defined by the stores)."""

    if TYPE_CHECKING:

        def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Any]: ...

        def transaction(self) -> AbstractContextManager[Any]: ...


class SqlAccess(ABC):
    """Running statements: what every query module of ``storage/`` builds on."""

    dialect: Dialect

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Any]:
        """One write transaction; yields a :class:`Conn`, rolled back on any exception."""

    @abstractmethod
    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """Run one statement outside a transaction; rows read like ``sqlite3.Row``."""

    def in_chunks(self, sql: str, ids: Sequence[int], params: Sequence[Any] = ()) -> list[Any]:
        """``sql`` with ``{marks}`` standing for ``?, ?, ...`` run per 500 ids (the
        parameters are ``params`` then the chunk), rows concatenated."""
        out: list[Any] = []
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            marks = ", ".join("?" for _ in chunk)
            out += self.execute(sql.format(marks=marks), [*params, *chunk])
        return out
