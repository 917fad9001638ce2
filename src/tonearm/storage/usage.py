"""Records of API usage (one row per request, migration 0007) and per-key limit overrides."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tonearm.storage.dialect import SqlRunner

USAGE_COLUMNS = (
    "key_id",
    "ts",
    "request_id",
    "method",
    "endpoint",
    "path",
    "family",
    "status",
    "outcome",
    "error",
    "credits",
    "duration_ms",
)
KEY_LIMIT_COLUMNS = ("tier", "rate_limit_per_min", "monthly_credits")


class UsageRecords(SqlRunner):
    """The ``api_usage`` table and the limit columns of ``api_keys``."""

    def insert_usage(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Write usage rows (mappings with the ``USAGE_COLUMNS``) in one transaction."""
        values = [tuple(r.get(c) for c in USAGE_COLUMNS) for r in rows]
        if not values:
            return 0
        marks = ", ".join("?" for _ in USAGE_COLUMNS)
        with self.transaction() as conn:
            conn.executemany(
                f"INSERT INTO api_usage ({', '.join(USAGE_COLUMNS)}) VALUES ({marks})", values
            )
        return len(values)

    def usage_credits(self, key_id: int, since: str) -> int:
        rows = self.execute(
            "SELECT COALESCE(SUM(credits), 0) FROM api_usage WHERE key_id = ? AND ts >= ?",
            (key_id, since),
        )
        return int(rows[0][0] or 0)

    def oldest_credited_usage(self, key_id: int, since: str) -> str | None:
        """When the oldest request since ``since`` that cost credits was made."""
        rows = self.execute(
            "SELECT MIN(ts) FROM api_usage WHERE key_id = ? AND ts >= ? AND credits > 0",
            (key_id, since),
        )
        return str(rows[0][0]) if rows and rows[0][0] else None

    def usage_by_endpoint(self, key_id: int, since: str) -> list[dict[str, Any]]:
        """Per (method, endpoint, family): requests, errors, credits, avg_ms, max_ms."""
        rows = self.execute(
            "SELECT method, endpoint, family, COUNT(*) AS requests, "
            "SUM(CASE WHEN outcome = 'ok' THEN 0 ELSE 1 END) AS errors, "
            "COALESCE(SUM(credits), 0) AS credits, AVG(duration_ms) AS avg_ms, "
            "MAX(duration_ms) AS max_ms "
            "FROM api_usage WHERE key_id = ? AND ts >= ? "
            "GROUP BY method, endpoint, family ORDER BY requests DESC, endpoint",
            (key_id, since),
        )
        return [dict(r) for r in rows]

    def recent_usage(self, key_id: int, limit: int = 50) -> list[dict[str, Any]]:
        rows = self.execute(
            "SELECT * FROM api_usage WHERE key_id = ? ORDER BY ts DESC, usage_id DESC LIMIT ?",
            (key_id, limit),
        )
        return [dict(r) for r in rows]

    # -- limits of a key --------------------------------------------------------------------
    def key_limits(self, key_id: int) -> tuple[int | None, int | None]:
        """The key's own (rate_limit_per_min, monthly_credits) overrides (None: the tier's)."""
        rows = self.execute(
            "SELECT rate_limit_per_min, monthly_credits FROM api_keys WHERE key_id = ?",
            (key_id,),
        )
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    def set_key_limits(self, key_id: int, fields: Mapping[str, Any]) -> None:
        """Set ``tier``, ``rate_limit_per_min`` and/or ``monthly_credits`` of a key."""
        sets = {k: v for k, v in fields.items() if k in KEY_LIMIT_COLUMNS}
        if not sets:
            return
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE api_keys SET {', '.join(f'{k} = ?' for k in sets)} WHERE key_id = ?",
                [*sets.values(), key_id],
            )
