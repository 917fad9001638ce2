"""Shared fingerprint index on PostgreSQL: hash-partitioned posting lists (migration 0010).

Tables live in the catalog's own database and schema (the ``PostgresStore``'s), so the
namespace is the catalog. Reads are one ``hash = ANY(...)`` query on the partitioned
``fingerprint_postings`` (binary transfer) plus one read of the generation; an asset's
postings and its ``fingerprint_assets`` row are written in one transaction, so every node
sees it at commit, and a removal is one transaction (tombstone + generation bump). Nothing
here is specific to one PostgreSQL server: with Citus, ``fingerprint_postings`` distributed
by ``hash`` shards the postings across workers unchanged (see docs/DEPLOY.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import psycopg

from tonearm.storage.fingerprints import (
    AssetEntry,
    FingerprintIndexUnavailable,
    SharedFingerprintIndex,
    encode_postings,
    group_by_hash,
)

WRITE_ATTEMPTS = 3
COMPACT_RANGES = 64  # compaction works through the hash space in this many slices
WRITE_TIMEOUT_FACTOR = 6  # an ingest's write may take this many query timeouts (big COPYs)
COMPACT_TIMEOUT_S = 600.0  # maintenance and bulk loads: bounded, but not by query latency


# One index probe per query hash, each in the one partition that can hold it (a nested loop
# with run-time partition pruning; OFFSET 0 keeps the planner from flattening it into a hash
# join). ``hash = ANY(array)`` instead scans every partition, sequentially at this size:
# 5-10x slower at 3k query hashes on 2M stored ones.
_LOOKUP = (
    "SELECT u.h, p.postings FROM unnest(%s::bigint[]) AS u(h), "
    "LATERAL (SELECT postings FROM fingerprint_postings f WHERE f.hash = u.h OFFSET 0) p"
)


def _signed(u: np.ndarray) -> list[int]:
    """uint64 hashes as the BIGINT values stored (two's complement)."""
    return np.asarray(u, np.uint64).view(np.int64).tolist()


class PgFingerprintIndex(SharedFingerprintIndex):
    """Shared fingerprint index in the tables of ``store`` (a ``PostgresStore``)."""

    def __init__(self, store: Any, timeout_s: float = 5.0) -> None:
        super().__init__()
        if getattr(store, "dialect", None) != "postgresql":
            raise ValueError(
                "TONEARM_FINGERPRINT_INDEX=postgres keeps fingerprints next to the catalog: "
                "it needs TONEARM_DATABASE_URL=postgresql://..."
            )
        self.store = store
        self.timeout_s = timeout_s
        # n_keys as of this node's last read of the state row (None: read it): refreshed
        # by every lookup (which reads the generation anyway) and dropped by this node's
        # writes, so asking for it (recognition does, on every query) costs no round trip
        self._n_keys: int | None = None

    def __repr__(self) -> str:
        return f"PgFingerprintIndex({self.store!r})"

    @contextmanager
    def _tx(
        self, isolation: str | None = None, timeout_s: float | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """One transaction with a statement timeout (``timeout_s``, default the index's);
        engine failures become FingerprintIndexUnavailable."""
        try:
            with self.store.transaction() as conn:
                raw: psycopg.Connection[Any] = conn.raw
                if isolation:
                    raw.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
                raw.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (str(int((timeout_s or self.timeout_s) * 1000)),),
                )
                yield raw
        except (psycopg.OperationalError, psycopg.InterfaceError) as e:
            raise FingerprintIndexUnavailable(f"postgresql: {type(e).__name__}: {e}") from e

    def _state(self, col: str) -> Any:
        with self._tx() as raw:
            row = raw.execute(f"SELECT {col} FROM fingerprint_state WHERE id = 1").fetchone()
        return row[0] if row else 0

    # -- size -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._state("live"))

    def __contains__(self, asset_id: object) -> bool:
        with self._tx() as raw:
            row = raw.execute(
                "SELECT 1 FROM fingerprint_assets WHERE asset_id = %s AND NOT deleted",
                (str(asset_id),),
            ).fetchone()
        return row is not None

    @property
    def n_keys(self) -> int:
        n = self._n_keys
        if n is None:
            n = int(self._state("n_keys"))
            self._n_keys = n
        return n

    @property
    def initialized(self) -> bool:
        return bool(self._state("initialized"))

    def mark_initialized(self) -> None:
        with self._tx() as raw:
            raw.execute("UPDATE fingerprint_state SET initialized = TRUE WHERE id = 1")

    # -- reads ----------------------------------------------------------------------------
    def _fetch(self, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        with self._tx() as raw:
            gen_row = raw.execute(
                "SELECT gen, n_keys FROM fingerprint_state WHERE id = 1"
            ).fetchone()
            cur = raw.cursor(binary=True)
            cur.execute(_LOOKUP, (_signed(uniq),))
            rows = cur.fetchall()
        gen = int(gen_row[0]) if gen_row else 0
        self._n_keys = int(gen_row[1]) if gen_row else 0
        counts = np.zeros(len(uniq), np.int64)
        if not rows:
            return np.zeros(0, np.uint64), counts.copy(), counts, gen
        row_h = np.array([r[0] for r in rows], np.int64).view(np.uint64)
        pos = np.searchsorted(uniq, row_h)
        lens = np.fromiter((len(r[1]) >> 3 for r in rows), np.int64, len(rows))
        np.add.at(counts, pos, lens)
        order = np.argsort(pos, kind="stable")
        raw_bytes = b"".join(rows[i][1] for i in order)  # grouped by hash, in uniq's order
        return np.frombuffer(raw_bytes, "<u8"), np.cumsum(counts) - counts, counts, gen

    def _entries(self, idxs: list[int]) -> dict[int, AssetEntry]:
        with self._tx() as raw:
            rows = raw.execute(
                "SELECT asset_idx, asset_id, span_frames, n_hashes FROM fingerprint_assets "
                "WHERE asset_idx = ANY(%s::bigint[]) AND NOT deleted",
                (idxs,),
            ).fetchall()
        return {int(r[0]): AssetEntry(str(r[1]), int(r[2]), int(r[3])) for r in rows}

    def _dead_all(self) -> set[int]:
        with self._tx() as raw:
            rows = raw.execute("SELECT asset_idx FROM fingerprint_assets WHERE deleted").fetchall()
        return {int(r[0]) for r in rows}

    # -- writes ---------------------------------------------------------------------------
    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        self.add_many([(str(asset_id), hashes, times)])

    def add_many(
        self, items: list[tuple[str, np.ndarray, np.ndarray]], *, merged: bool = False
    ) -> list[int]:
        """Add (or replace) assets in one transaction; returns their numbers. ``merged``
        writes one row per hash for the whole batch (bulk loads) instead of one per asset."""
        if not items:
            return []
        last: Exception | None = None
        for _ in range(WRITE_ATTEMPTS):
            try:
                return self._add_once(items, merged)
            except psycopg.errors.UniqueViolation as e:  # a concurrent add of the same id
                last = e
            except FingerprintIndexUnavailable as e:  # nothing committed: safe to redo
                last = e
        assert last is not None
        raise last

    def _add_once(self, items: list[tuple[str, np.ndarray, np.ndarray]], merged: bool) -> list[int]:
        with self._tx(timeout_s=WRITE_TIMEOUT_FACTOR * self.timeout_s) as raw:
            idxs = [
                int(r[0])
                for r in raw.execute(
                    "SELECT nextval('fingerprint_asset_idx') FROM generate_series(1, %s)",
                    (len(items),),
                ).fetchall()
            ]
            ids = [str(a) for a, _, _ in items]
            gone = raw.execute(
                "UPDATE fingerprint_assets SET deleted = TRUE "
                "WHERE asset_id = ANY(%s) AND NOT deleted RETURNING n_hashes",
                (ids,),
            ).fetchall()
            with raw.cursor().copy(
                "COPY fingerprint_postings (hash, asset_idx, postings) FROM STDIN"
            ) as cp:
                if merged:
                    h = np.concatenate([np.asarray(x[1]).astype(np.uint64) for x in items])
                    p = np.concatenate(
                        [encode_postings(i, x[2]) for i, x in zip(idxs, items, strict=True)]
                    )
                    self._copy_rows(cp, h, p, -idxs[0])
                else:
                    for idx, (_, h, t) in zip(idxs, items, strict=True):
                        self._copy_rows(cp, np.asarray(h), encode_postings(idx, t), idx)
            with raw.cursor().copy(
                "COPY fingerprint_assets (asset_idx, asset_id, span_frames, n_hashes) FROM STDIN"
            ) as cp:
                for idx, (aid, h, t) in zip(idxs, items, strict=True):
                    span = int(np.max(t)) + 1 if len(t) else 0
                    cp.write_row((idx, str(aid), span, int(len(h))))
            added = sum(int(len(x[1])) for x in items)
            raw.execute(
                "UPDATE fingerprint_state SET live = live + %s, n_keys = n_keys + %s, "
                "gen = gen + %s WHERE id = 1",
                (len(items) - len(gone), added - sum(int(r[0]) for r in gone), int(bool(gone))),
            )
        self._n_keys = None
        return idxs

    def reserve(self, n: int) -> np.ndarray:
        with self._tx() as raw:
            rows = raw.execute(
                "SELECT nextval('fingerprint_asset_idx') FROM generate_series(1, %s)", (n,)
            ).fetchall()
        return np.sort(np.array([int(r[0]) for r in rows], np.int64))

    def write_postings(self, uniq: np.ndarray, postings: np.ndarray, starts: np.ndarray) -> None:
        data = np.ascontiguousarray(postings, "<u8").tobytes()
        with (
            self._tx(timeout_s=COMPACT_TIMEOUT_S) as raw,
            raw.cursor().copy(
                "COPY fingerprint_postings (hash, asset_idx, postings) FROM STDIN"
            ) as cp,
        ):
            key = 0  # a merged row: one per hash and bulk write (callers write a hash once)
            for h, lo, hi in zip(
                _signed(uniq), starts[:-1].tolist(), starts[1:].tolist(), strict=True
            ):
                cp.write_row((h, key, data[8 * lo : 8 * hi]))

    def register(self, entries: list[tuple[int, AssetEntry]]) -> None:
        with self._tx(timeout_s=COMPACT_TIMEOUT_S) as raw:
            gone = raw.execute(
                "UPDATE fingerprint_assets SET deleted = TRUE "
                "WHERE asset_id = ANY(%s) AND NOT deleted RETURNING n_hashes",
                ([e.asset_id for _, e in entries],),
            ).fetchall()
            with raw.cursor().copy(
                "COPY fingerprint_assets (asset_idx, asset_id, span_frames, n_hashes) FROM STDIN"
            ) as cp:
                for idx, e in entries:
                    cp.write_row((idx, e.asset_id, e.span_frames, e.n_hashes))
            added = sum(e.n_hashes for _, e in entries)
            raw.execute(
                "UPDATE fingerprint_state SET live = live + %s, n_keys = n_keys + %s, "
                "gen = gen + %s WHERE id = 1",
                (len(entries) - len(gone), added - sum(int(r[0]) for r in gone), int(bool(gone))),
            )
        self._n_keys = None

    @staticmethod
    def _copy_rows(cp: Any, hashes: np.ndarray, postings: np.ndarray, row_key: int) -> None:
        uniq, post, starts = group_by_hash(hashes, postings)
        data = np.ascontiguousarray(post, "<u8").tobytes()
        for h, lo, hi in zip(_signed(uniq), starts[:-1].tolist(), starts[1:].tolist(), strict=True):
            cp.write_row((h, row_key, data[8 * lo : 8 * hi]))

    def remove(self, asset_id: str) -> bool:
        with self._tx() as raw:
            rows = raw.execute(
                "UPDATE fingerprint_assets SET deleted = TRUE "
                "WHERE asset_id = %s AND NOT deleted RETURNING n_hashes",
                (str(asset_id),),
            ).fetchall()
            if rows:
                raw.execute(
                    "UPDATE fingerprint_state SET gen = gen + 1, live = live - %s, "
                    "n_keys = n_keys - %s WHERE id = 1",
                    (len(rows), sum(int(r[0]) for r in rows)),
                )
        self._n_keys = None
        return bool(rows)

    def clear(self) -> None:
        """Drop every posting and asset (rebuilds, tests). Asset numbers keep counting up,
        so no node's cache can mistake a new asset for an old one."""
        with self._tx() as raw:
            raw.execute("TRUNCATE fingerprint_postings, fingerprint_assets")
            raw.execute(
                "UPDATE fingerprint_state SET gen = gen + 1, live = 0, n_keys = 0, "
                "initialized = FALSE WHERE id = 1"
            )
        self._n_keys = None
        self._reset_cache()

    def compact(self) -> int:
        """Merge each hash's rows into one and drop removed assets' postings, one slice of
        the hash space per transaction (REPEATABLE READ: rows added meanwhile are neither
        read nor deleted, and stay as they are). Returns the postings dropped."""
        dead = self._dead_all()
        dead_arr = np.array(sorted(dead), np.int64)
        dropped = 0
        edges = np.linspace(-(2**63), 2**63, COMPACT_RANGES + 1)
        for k in range(COMPACT_RANGES):
            lo = int(edges[k])
            hi = int(edges[k + 1]) if k + 1 < COMPACT_RANGES else 2**63 - 1
            with self._tx("REPEATABLE READ", timeout_s=COMPACT_TIMEOUT_S) as raw:
                cur = raw.cursor(binary=True)
                cur.execute(
                    "SELECT hash, asset_idx, postings FROM fingerprint_postings "
                    "WHERE hash >= %s AND hash <= %s ORDER BY hash",
                    (lo, hi),
                )
                rows = cur.fetchall()
                if not rows:
                    continue
                merged: dict[int, list[bytes]] = {}
                for h, _, p in rows:
                    merged.setdefault(int(h), []).append(bytes(p))
                raw.execute(
                    "DELETE FROM fingerprint_postings WHERE (hash, asset_idx) IN "
                    "(SELECT * FROM unnest(%s::bigint[], %s::bigint[]))",
                    ([int(r[0]) for r in rows], [int(r[1]) for r in rows]),
                )
                with raw.cursor().copy(
                    "COPY fingerprint_postings (hash, asset_idx, postings) FROM STDIN"
                ) as cp:
                    for h, parts in merged.items():
                        p = np.frombuffer(b"".join(parts), "<u8")
                        if len(dead_arr):
                            keep = ~np.isin((p >> np.uint64(32)).astype(np.int64), dead_arr)
                            dropped += int(len(p) - keep.sum())
                            p = p[keep]
                        if len(p):
                            cp.write_row((h, 0, p.tobytes()))
        if len(dead_arr):
            with self._tx(timeout_s=COMPACT_TIMEOUT_S) as raw:
                raw.execute(
                    "DELETE FROM fingerprint_assets WHERE deleted AND asset_idx = ANY(%s)",
                    (dead_arr.tolist(),),
                )
        return dropped
