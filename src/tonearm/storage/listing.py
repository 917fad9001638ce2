"""Browsing the catalog: filtered pages of assets and facet counts (the web UI)."""

from __future__ import annotations

from typing import Any

from tonearm.storage.base import Asset
from tonearm.storage.dialect import SqlAccess


class ListingQueries(SqlAccess):
    """Mixin of :class:`~tonearm.storage.sql.SqlStore`."""

    @staticmethod
    def _asset(row: Any) -> Asset:  # provided by SqlStore
        raise NotImplementedError

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
        tenant: str | None = "*",
    ) -> tuple[list[Asset], int]:
        """One page of the assets passing every filter given, by asset id, and how many
        pass. ``q``: a substring of the name or tags (case-insensitive; ``%``/``_`` are
        dropped, never wildcards). ``tenant``: only the shared catalog and that account's
        assets ("*": all)."""
        where: list[str] = []
        params: list[Any] = []
        if tenant != "*":
            if tenant is None:
                where.append("tenant IS NULL")
            else:
                where.append("(tenant IS NULL OR tenant = ?)")
                params.append(tenant)
        if min_duration is not None:
            where.append("duration >= ?")
            params.append(min_duration)
        if max_duration is not None:
            where.append("duration <= ?")
            params.append(max_duration)
        for col, val in (
            ("kind", kind),
            ("genre", genre),
            ("category", category),
            ("subcategory", subcategory),
        ):
            if val:
                where.append(f"{col} = ?")
                params.append(val)
        if q:
            where.append("(LOWER(name) LIKE ? OR LOWER(COALESCE(tags, '')) LIKE ?)")
            like = "%" + q.lower().replace("%", "").replace("_", "") + "%"
            params += [like, like]
        cond = (" WHERE " + " AND ".join(where)) if where else ""
        total = int(self.execute(f"SELECT COUNT(*) FROM assets{cond}", params)[0][0])
        rows = self.execute(
            f"SELECT * FROM assets{cond} ORDER BY asset_id LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [self._asset(r) for r in rows], total

    def genre_counts(self, kind: str = "music") -> list[tuple[str, int]]:
        """(genre, assets) of ``kind`` with a genre, by genre."""
        rows = self.execute(
            "SELECT genre, COUNT(*) FROM assets WHERE kind = ? AND genre IS NOT NULL "
            "GROUP BY genre ORDER BY genre",
            (kind,),
        )
        return [(str(r[0]), int(r[1])) for r in rows]

    def category_counts(self, kind: str = "sfx") -> list[tuple[str, str | None, int]]:
        """(category, subcategory, assets) of ``kind`` with a category, in order."""
        rows = self.execute(
            "SELECT category, subcategory, COUNT(*) FROM assets WHERE kind = ? "
            "AND category IS NOT NULL GROUP BY category, subcategory "
            "ORDER BY category, subcategory",
            (kind,),
        )
        return [(str(r[0]), r[1], int(r[2])) for r in rows]

    def asset_sources(self) -> dict[str, tuple[str, str, str]]:
        """source path -> (asset id, stored file, created_at) of every asset ingested from
        a path (bulk ingest skips the files it already has)."""
        rows = self.execute(
            "SELECT source_path, asset_id, file_path, created_at FROM assets "
            "WHERE source_path IS NOT NULL"
        )
        return {str(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in rows}
