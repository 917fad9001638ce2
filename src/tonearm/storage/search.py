"""The stored keyword index of music (``search_fts`` + ``search_docs``, migration 0006)
and what the in-memory search index reads from the catalog.

On SQLite ``search_fts`` is an FTS5 table; on PostgreSQL a plain table with a generated,
GIN-indexed ``tsvector`` (``migrations_pg/0006``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tonearm.storage.dialect import Dialect, SqlAccess

# the columns of search_fts, in order (rowid = asset_id)
SEARCH_COLUMNS = ("name", "artist", "album", "genre", "tags", "description", "sound", "lacks")


class SearchQueries(SqlAccess):
    """Mixin of :class:`~tonearm.storage.sql.SqlStore`."""

    # -- search_fts ----------------------------------------------------------------------
    def sync_search_docs(self, rows: Mapping[int, tuple[str, Sequence[str]]]) -> int:
        """Make ``search_fts`` hold exactly ``rows`` ({asset_id: (version, column values in
        :data:`SEARCH_COLUMNS` order)}).

        Only rows whose version changed are rewritten. Returns the number of rows written
        or deleted.

        On SQLite a row is replaced by delete + insert (SQLite runs one writer at a time, so
        servers syncing at once simply take turns). On PostgreSQL rows are upserted on
        ``rowid``, so several API servers rebuilding their in-memory index at the same
        moment do not collide on the primary key; rows go in asset-id order, so concurrent
        writers wait for each other instead of deadlocking.
        """
        have = {int(r[0]): r[1] for r in self.execute("SELECT asset_id, version FROM search_docs")}
        stale = sorted(i for i in have if i not in rows)
        changed = sorted((i, v) for i, v in rows.items() if have.get(i) != v[0])
        if not stale and not changed:
            return 0
        cols = ", ".join(SEARCH_COLUMNS)
        marks = ", ".join("?" for _ in SEARCH_COLUMNS)
        with self.transaction() as conn:
            for i in stale:
                conn.execute("DELETE FROM search_fts WHERE rowid = ?", (i,))
                conn.execute("DELETE FROM search_docs WHERE asset_id = ?", (i,))
            if self.dialect is Dialect.POSTGRESQL:
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in SEARCH_COLUMNS)
                conn.executemany(
                    f"INSERT INTO search_fts (rowid, {cols}) VALUES (?, {marks}) "
                    f"ON CONFLICT (rowid) DO UPDATE SET {sets}",
                    [(i, *values) for i, (_, values) in changed],
                )
            else:
                for i, (_, values) in changed:
                    conn.execute("DELETE FROM search_fts WHERE rowid = ?", (i,))
                    conn.execute(
                        f"INSERT INTO search_fts (rowid, {cols}) VALUES (?, {marks})",
                        (i, *values),
                    )
            conn.executemany(
                "INSERT OR REPLACE INTO search_docs (asset_id, version) VALUES (?, ?)",
                [(i, version) for i, (version, _) in changed],
            )
        return len(stale) + len(changed)

    def fts_keyword_search(
        self, expr: str, weights: Iterable[float], limit: int
    ) -> list[tuple[int, float]]:
        """Best ``limit`` (asset_id, bm25) for an FTS5 MATCH expression, best first (bm25:
        lower is better; ``weights`` per :data:`SEARCH_COLUMNS`). SQLite only."""
        w = ", ".join(str(float(x)) for x in weights)
        rows = self.execute(
            f"SELECT rowid, bm25(search_fts, {w}) AS s FROM search_fts "
            "WHERE search_fts MATCH ? ORDER BY s LIMIT ?",
            (expr, limit),
        )
        return [(int(r[0]), float(r[1])) for r in rows]

    def fts_matching_ids(self, expr: str) -> set[int]:
        """Every asset matching an FTS5 MATCH expression. SQLite only."""
        rows = self.execute("SELECT rowid FROM search_fts WHERE search_fts MATCH ?", (expr,))
        return {int(r[0]) for r in rows}

    # -- what the in-memory search index reads ---------------------------------------------
    def kind_maxima(self, kind: str, analyses: Sequence[str]) -> tuple[Any, ...]:
        """(newest updated_at, largest asset_id) of assets of ``kind``, then the newest
        created_at of each analysis in ``analyses``: index lookups, cheap per query."""
        parts = [
            "(SELECT MAX(updated_at) FROM assets WHERE kind = ?)",
            "(SELECT MAX(asset_id) FROM assets WHERE kind = ?)",
            *("(SELECT MAX(created_at) FROM analyses WHERE name = ?)" for _ in analyses),
        ]
        return tuple(self.execute("SELECT " + ", ".join(parts), (kind, kind, *analyses))[0])

    def kind_counts(self, kind: str, analyses: Sequence[str]) -> tuple[int, ...]:
        """(assets of ``kind``, then rows of each analysis in ``analyses``): index scans,
        which only removals need."""
        parts = [
            "(SELECT COUNT(*) FROM assets WHERE kind = ?)",
            *("(SELECT COUNT(*) FROM analyses WHERE name = ?)" for _ in analyses),
        ]
        row = self.execute("SELECT " + ", ".join(parts), (kind, *analyses))[0]
        return tuple(int(x) for x in row)

    def search_fields(self, kind: str) -> list[Any]:
        """The fields search shows and ranks on, of every asset of ``kind``, by asset id;
        rows read like mappings (``asset_id``, ``name`` ... ``thumbnail_url``,
        ``updated_at``)."""
        return self.execute(
            "SELECT asset_id, name, artist, album, genre, bpm, duration, tags, description, "
            "thumbnail_url, updated_at FROM assets WHERE kind = ? ORDER BY asset_id",
            (kind,),
        )
