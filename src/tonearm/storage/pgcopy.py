"""Moving an embedded (SQLite) catalog to PostgreSQL, ids kept."""

from __future__ import annotations

from typing import Any

from tonearm.storage.pgconn import PgStore
from tonearm.storage.pgvector import backfill_vectors

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


def copy_catalog(src: Any, dst: PgStore, batch: int = 500) -> dict[str, int]:
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
