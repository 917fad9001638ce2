"""pgvector: embeddings mirrored into ``asset_vectors`` (migration 0100) and searched with
HNSW in PostgreSQL, exact under selective filters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from tonearm.storage.base import Analysis
from tonearm.storage.pgconn import PgConn, PgStore

_SPACE = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
MAX_HNSW_DIM = 2000  # pgvector's HNSW limit for ``vector``
# hnsw.ef_search for /similar (settings.pg_ef_search). 10k songs, pgvector 0.6.2
# (bench/load.py --vector-recall): 40 and 256 both give recall@10 0.997 unfiltered, 1.0
# under a 1-in-8 duration filter (the exact fallback); 256 matches the in-process index,
# whose recall needs it at 100k
PG_EF_SEARCH = 256


def vector_space(model_id: str) -> str:
    """The ``asset_vectors.space`` of an embedding model (a safe SQL literal)."""
    import hashlib

    return "m" + hashlib.sha1(model_id.encode()).hexdigest()[:16]


def _vector_literal(v: Sequence[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in v) + "]"


def put_vector(conn: PgConn, a: Analysis) -> None:
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


def backfill_vectors(store: PgStore) -> int:
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
                put_vector(conn, a)
                n += 1


def pgvector_search(
    store: PgStore,
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
    ef_search: int = PG_EF_SEARCH,
) -> tuple[list[tuple[str, float]], int]:
    """The ``need`` nearest (asset_id, cosine) under the filters, best first (ties by id),
    and how many vectors pass the filters. HNSW (cosine, per space) with pgvector's
    iterative scan; when the index returns fewer rows than pass the filters, the same query
    runs as an exact scan, so a selective filter never loses true neighbours. ``total``
    (how many rows pass the filters), when the caller knows it, saves a COUNT.
    ``ef_search``: HNSW candidates per query (at least; twice ``need`` when more)."""
    dim = len(query)
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
        conn.execute(f"SET LOCAL hnsw.ef_search = {max(ef_search, min(1000, 2 * need))}")
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

    def __init__(self, store: PgStore, space: str, dim: int) -> None:
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
