"""Embedded backend: SQLite in WAL mode with versioned migrations."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tonearm.storage.dialect import (
    Dialect,
    apply_migrations,
    is_row_id,
    migration_files,
    split_sql,
    utcnow,
)
from tonearm.storage.sql import SqlStore

__all__ = ["SqliteStore", "migrations", "utcnow"]

# kept for imports of the old names
_split_sql = split_sql
_is_row_id = is_row_id


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every file in storage/migrations, in order."""
    return migration_files("migrations")


class SqliteStore(
    SqlStore,
):
    """Store on one SQLite file. One connection per thread; writes serialized by a lock."""

    dialect = Dialect.SQLITE

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self.migrate()

    def __repr__(self) -> str:
        return f"SqliteStore({self.path})"

    # -- connections ---------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
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

    def execute(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        return self._conn().execute(sql, tuple(params)).fetchall()

    def change_marker(self) -> tuple[Any, ...]:
        """What this thread's connection has seen: other connections' commits
        (``PRAGMA data_version``) and its own writes (``total_changes``)."""
        conn = self._conn()
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        return (id(conn), version, conn.total_changes)

    def identity(self) -> str:
        return f"sqlite://{self.path.resolve()}"

    def migrate(self) -> int:
        """Apply pending migrations; returns the schema version."""
        with self.transaction() as conn:
            return apply_migrations(conn.execute, migrations(), "?")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
