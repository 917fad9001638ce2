"""What derived indexes (vector index, search index) read to follow the catalog: analyses
by ``rowid`` (the order they were written in), asset metadata, cheap change signals.

Rows read like mappings and like tuples (``sqlite3.Row`` / :class:`pgconn.Row`).
PostgreSQL with pgvector also answers nearest-neighbour queries itself
(:meth:`~tonearm.storage.postgres.PostgresStore.nearest_vectors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tonearm.storage.dialect import SqlAccess

ANALYSIS_ROW = "SELECT rowid, asset_id, data, blob, created_at FROM analyses"
META_ROW = "SELECT asset_id, kind, duration, category, subcategory FROM assets"


class VectorQueries(SqlAccess):
    """Mixin of :class:`~tonearm.storage.sql.SqlStore`."""

    def analysis_rows(self, name: str, asset_ids: Sequence[int] | None = None) -> list[Any]:
        """(rowid, asset_id, data (JSON text), blob, created_at) of analysis ``name``, of
        every asset or of ``asset_ids``."""
        if asset_ids is None:
            return self.execute(f"{ANALYSIS_ROW} WHERE name = ?", (name,))
        return self.in_chunks(
            f"{ANALYSIS_ROW} WHERE name = ? AND asset_id IN ({{marks}})", asset_ids, (name,)
        )

    def analysis_rows_after(self, name: str, after: int, upto: int) -> list[Any]:
        """Rows of analysis ``name`` with ``after < rowid <= upto``, by rowid."""
        return self.execute(
            f"{ANALYSIS_ROW} WHERE name = ? AND rowid > ? AND rowid <= ? ORDER BY rowid",
            (name, after, upto),
        )

    def analysis_rowids(self, name: str) -> dict[int, int]:
        """{asset_id: rowid} of analysis ``name``."""
        rows = self.execute("SELECT asset_id, rowid FROM analyses WHERE name = ?", (name,))
        return {int(r[0]): int(r[1]) for r in rows}

    def analysis_asset_ids(self, name: str) -> set[int]:
        """The assets that have analysis ``name``."""
        rows = self.execute("SELECT asset_id FROM analyses WHERE name = ?", (name,))
        return {int(r[0]) for r in rows}

    def count_analyses(self, name: str) -> int:
        return int(self.execute("SELECT COUNT(*) FROM analyses WHERE name = ?", (name,))[0][0])

    def change_signals(self) -> tuple[int, int, str]:
        """(largest analyses rowid, assets, newest asset updated_at): one statement that
        moves whenever an analysis or an asset is written or an asset removed."""
        row = self.execute(
            "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM analyses), "
            "(SELECT COUNT(*) FROM assets), (SELECT COALESCE(MAX(updated_at), '') FROM assets)"
        )[0]
        return int(row[0]), int(row[1]), str(row[2])

    def asset_meta(self, updated_since: str | None = None) -> list[Any]:
        """(asset_id, kind, duration, category, subcategory) of every asset, or of those
        updated at or after ``updated_since`` (at: same-millisecond writes)."""
        if updated_since is None:
            return self.execute(META_ROW)
        return self.execute(f"{META_ROW} WHERE updated_at >= ?", (updated_since,))

    def asset_meta_of(self, asset_ids: Sequence[int]) -> list[Any]:
        """:meth:`asset_meta` rows of ``asset_ids``."""
        return self.in_chunks(f"{META_ROW} WHERE asset_id IN ({{marks}})", asset_ids)

    def asset_ids(self) -> set[int]:
        return {int(r[0]) for r in self.execute("SELECT asset_id FROM assets")}

    def has_vector_table(self) -> bool:
        """Whether the database answers nearest-neighbour queries (pgvector)."""
        return False

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
    ) -> tuple[list[tuple[str, float]], int]:
        """The ``need`` nearest (asset_id, cosine) under the filters, best first, and how
        many vectors pass them; only where :meth:`has_vector_table`."""
        raise NotImplementedError(f"{self.dialect} has no vector search")
