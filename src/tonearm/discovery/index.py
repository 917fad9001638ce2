"""Vector index of asset embeddings: exact numpy search on small or heavily filtered sets,
usearch HNSW above :data:`EXACT_MAX` vectors; persisted under ``catalog.index_dir``.

The stored ``embedding`` analyses are the source of truth; the index is a derived cache,
kept in ``catalog.cache`` and brought up to date before every query from three cheap
signals of the store (largest analyses rowid, asset count, newest ``updated_at``), so an
ingest by another process (``tonearm ingest`` while the server runs) is seen too.

Filters (kind, categories, subcategories, duration range) are applied as a boolean mask
*before* exact search; with HNSW the query over-fetches by the inverse selectivity and
widens until enough results pass, falling back to exact search over the mask.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.core.embeddings import cosine_to_score, from_blob

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.discovery")

ANALYSIS = "embedding"
CACHE_KEY = "discovery.index"
# below this many candidate vectors, exact search; bench/similarity.py --parts latency at 10k
# 512-d vectors on a busy 2-core box: HNSW p95 1.0 ms, recall@20 0.999; exact p95 77 ms
EXACT_MAX = 4096
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
# 100k clustered 512-d vectors (the set of bench/similarity.py --parts latency):
# ef 96 -> recall@20 0.875, p95 4.7 ms; ef 256 -> recall@20 0.985, p95 2.3 ms
HNSW_EXPANSION_SEARCH = 256


@dataclass
class Filters:
    """Result filters. Category names compare case-insensitively."""

    categories: list[str] | None = None
    subcategories: list[str] | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    # asset ids left out (other accounts' assets); searched in process, not in pgvector
    hidden: frozenset[int] = frozenset()


@dataclass
class Hit:
    asset_id: str
    score: float


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int  # how many assets pass the filters (and max_score), seed excluded


@dataclass
class _Part:
    """Vectors of one (kind, model)."""

    kind: str
    model_id: str
    dim: int
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    _ids: np.ndarray | None = None
    _matrix: np.ndarray | None = None
    hnsw: Any = None  # usearch Index over the same keys, or None
    hnsw_dirty: bool = True
    # filter columns aligned with packed(): duration, category code, subcategory code
    _cols: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def upsert(self, key: int, v: np.ndarray) -> None:
        self.rows[key] = v
        self._ids = self._matrix = None
        self._cols = None
        if self.hnsw is not None:
            if self.hnsw.contains(key):
                self.hnsw.remove(key)
            self.hnsw.add(key, v)

    def remove(self, key: int) -> None:
        if self.rows.pop(key, None) is not None:
            self._ids = self._matrix = None
            self._cols = None
            if self.hnsw is not None and self.hnsw.contains(key):
                self.hnsw.remove(key)

    def packed(self) -> tuple[np.ndarray, np.ndarray]:
        if self._ids is None or self._matrix is None:
            keys = sorted(self.rows)
            self._ids = np.asarray(keys, dtype=np.int64)
            self._matrix = (
                np.stack([self.rows[k] for k in keys])
                if keys
                else np.zeros((0, self.dim), dtype=np.float32)
            )
        return self._ids, self._matrix

    def ensure_hnsw(self) -> None:
        from usearch.index import Index

        if self.hnsw is not None or len(self.rows) < EXACT_MAX:
            return
        ids, m = self.packed()
        idx = Index(
            ndim=self.dim,
            metric="ip",
            dtype="f32",
            connectivity=HNSW_CONNECTIVITY,
            expansion_add=HNSW_EXPANSION_ADD,
            expansion_search=HNSW_EXPANSION_SEARCH,
        )
        idx.add(ids, m)
        self.hnsw = idx
        self.hnsw_dirty = True


@dataclass
class _Meta:
    kind: str
    duration: float
    category: int  # code in VectorIndex.codes (lower-cased name; "" = none)
    subcategory: int


class VectorIndex:
    """All embedding vectors of a catalog, per (kind, model), plus filterable metadata."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.parts: dict[tuple[str, str], _Part] = {}
        self.where: dict[int, tuple[str, str]] = {}  # asset -> its part
        self.meta: dict[int, _Meta] = {}
        self.last_rowid = 0
        self.last_updated = ""
        self.asset_count = -1
        self.seen: dict[
            int, int
        ] = {}  # asset -> rowid of the embedding row applied (-1: from disk)
        self.loaded_rowid = 0  # rows up to this rowid came from the saved index
        self.codes: dict[str, int] = {"": 0}
        self.lock = threading.RLock()

    def _code(self, name: str) -> int:
        c = self.codes.get(name)
        if c is None:
            c = self.codes[name] = len(self.codes)
        return c

    # -- syncing with the store -----------------------------------------------------------
    # Three cheap signals (largest analyses rowid, asset count, newest updated_at) in one
    # statement say whether anything changed. New vectors come by rowid; on PostgreSQL a
    # transaction can commit *after* one with a larger rowid (ids are taken at insert, not
    # at commit), so whenever the signals move, the number of stored embeddings is also
    # compared with what this index has seen, and a mismatch reconciles by (asset, rowid).
    def _signals(self) -> tuple[int, int, str]:
        return self.catalog.store.change_signals()

    def _meta_row(self, r: Any) -> None:
        self.meta[int(r["asset_id"])] = _Meta(
            r["kind"],
            float(r["duration"] or 0.0),
            self._code((r["category"] or "").strip().lower()),
            self._code((r["subcategory"] or "").strip().lower()),
        )

    def _fetch_meta(self, keys: list[int]) -> None:
        """Metadata of assets whose vector arrived before their row was seen."""
        for r in self.catalog.store.asset_meta_of(keys):
            self._meta_row(r)
        for part in self.parts.values():
            part._cols = None

    def _apply_rows(self, rows: list[Any]) -> None:
        missing = [int(r["asset_id"]) for r in rows if int(r["asset_id"]) not in self.meta]
        if missing:
            self._fetch_meta(missing)
        for r in rows:
            key = int(r["asset_id"])
            self.seen[key] = int(r["rowid"])
            m = self.meta.get(key)
            if m is None or r["blob"] is None:  # asset gone meanwhile, or no vector
                continue
            data = json.loads(r["data"] or "{}")
            self._place(key, m.kind, str(data.get("model", "")), from_blob(r["blob"]))

    def _reconcile(self) -> None:
        """Compare (asset, rowid) of every stored embedding with what was seen; fetch the
        missed or replaced ones, drop the deleted ones."""
        st = self.catalog.store
        stored = st.analysis_rowids(ANALYSIS)
        want = [
            k
            for k, rid in stored.items()
            if (old := self.seen.get(k)) is None
            or (old != rid and (old >= 0 or rid > self.loaded_rowid))
        ]
        for key in [k for k in self.seen if k not in stored]:
            self.seen.pop(key, None)
            where = self.where.pop(key, None)
            if where is not None:
                self.parts[where].remove(key)
        if want:
            self._apply_rows(st.analysis_rows(ANALYSIS, want))

    def sync(self) -> bool:
        """Apply store changes since the last sync; True when anything changed."""
        with self.lock:
            rowid, count, updated = self._signals()
            if (rowid, count, updated) == (self.last_rowid, self.asset_count, self.last_updated):
                return False
            st = self.catalog.store
            # loaded from disk (asset_count -1): every asset's metadata
            meta_rows = st.asset_meta(None if self.asset_count < 0 else self.last_updated)
            new_rows = st.analysis_rows_after(ANALYSIS, self.last_rowid, rowid)
            full = self.asset_count < 0
            for r in meta_rows:
                self._meta_row(r)
            if meta_rows:
                for part in self.parts.values():
                    part._cols = None
            if full:  # loaded from disk: vectors of assets deleted since the save
                for key in [k for k in self.where if k not in self.meta]:
                    self._drop(key)
            self._apply_rows(new_rows)
            if count != len(self.meta) or count < self.asset_count:
                alive = st.asset_ids()
                for key in [k for k in self.meta if k not in alive]:
                    self._drop(key)
            n_stored = st.count_analyses(ANALYSIS)
            if n_stored != len(self.seen):
                self._reconcile()
            self.last_rowid, self.asset_count, self.last_updated = rowid, count, updated
            return True

    def _place(self, key: int, kind: str, model_id: str, v: np.ndarray) -> None:
        where = (kind, model_id)
        old = self.where.get(key)
        if old is not None and old != where:
            self.parts[old].remove(key)
        part = self.parts.get(where)
        if part is None:
            part = self.parts[where] = _Part(kind, model_id, int(v.shape[0]))
        if v.shape[0] != part.dim:
            log.warning("asset %s: embedding dim %d != %d, skipped", key, v.shape[0], part.dim)
            return
        part.upsert(key, v.astype(np.float32))
        self.where[key] = where

    def _drop(self, key: int) -> None:
        self.meta.pop(key, None)
        self.seen.pop(key, None)
        where = self.where.pop(key, None)
        if where is not None:
            self.parts[where].remove(key)

    def add(self, asset_id: str, kind: str, model_id: str, v: np.ndarray) -> None:
        """Record a just-committed vector without waiting for the next sync."""
        with self.lock:
            key = int(asset_id)
            if key not in self.meta:
                self.sync()
                return
            self._place(key, kind, model_id, v)

    def remove(self, asset_id: str) -> None:
        with self.lock:
            self._drop(int(asset_id))

    # -- querying -------------------------------------------------------------------------
    def _columns(self, part: _Part, ids: np.ndarray) -> tuple[np.ndarray, ...]:
        if part._cols is None:
            metas = [self.meta.get(int(k)) for k in ids]
            part._cols = (
                np.array([m.duration if m else math.nan for m in metas], dtype=np.float64),
                np.array([m.category if m else -1 for m in metas], dtype=np.int64),
                np.array([m.subcategory if m else -1 for m in metas], dtype=np.int64),
            )
        return part._cols

    def category_codes(self, part: _Part) -> np.ndarray:
        """Category code of each row of ``part.packed()`` (0: none, -1: unknown asset); equal
        codes are equal names, case-insensitively."""
        with self.lock:
            ids, _ = part.packed()
            return self._columns(part, ids)[1]

    def _mask(self, part: _Part, ids: np.ndarray, f: Filters, exclude: int | None) -> np.ndarray:
        if ids.size == 0:
            return np.zeros(0, dtype=bool)
        dur, cat, sub = self._columns(part, ids)
        ok = cat >= 0  # asset still known
        if f.min_duration is not None:
            ok &= dur >= f.min_duration
        if f.max_duration is not None:
            ok &= dur <= f.max_duration
        if f.categories:
            wanted = [self.codes.get(c.strip().lower(), -2) for c in f.categories]
            ok &= np.isin(cat, wanted)
        if f.subcategories:
            wanted = [self.codes.get(c.strip().lower(), -2) for c in f.subcategories]
            ok &= np.isin(sub, wanted)
        if exclude is not None:
            ok &= ids != exclude
        if f.hidden:
            ok &= ~np.isin(ids, np.fromiter(f.hidden, dtype=np.int64))
        return ok

    def search(
        self,
        kind: str,
        model_id: str,
        query: np.ndarray,
        *,
        limit: int,
        offset: int = 0,
        filters: Filters | None = None,
        exclude: str | None = None,
        max_score: float | None = None,
        exact: bool = False,
    ) -> SearchResult:
        """Nearest assets to ``query`` by cosine, best first, with paging.

        Parameters
        ----------
        kind, model_id : str
            Which vectors to search (only vectors of the query's model are comparable).
        query : np.ndarray, shape (dim,)
            L2-normalized query vector.
        limit, offset : int
            Page of the ranked, filtered list.
        filters : Filters, optional
        exclude : str, optional
            Asset id left out (the seed).
        max_score : float, optional
            Results with ``score >= max_score`` are dropped (near-duplicates).
        exact : bool
            Force brute force (the benchmark's baseline).
        """
        f = filters or Filters()
        if not exact and max_score is None and not f.hidden and self.uses_pgvector():
            try:
                return self._pgvector(kind, model_id, query, limit, offset, f, exclude)
            except Exception as e:  # never worse than the in-process index
                log.warning("pgvector search failed (%s); in-process index used", e)
        with self.lock:
            part = self.parts.get((kind, model_id))
            if part is None or not part.rows:
                return SearchResult([], 0)
            ids, m = part.packed()
            ex = int(exclude) if exclude is not None and str(exclude).isdigit() else None
            mask = self._mask(part, ids, f, ex)
            n_pass = int(mask.sum())
            need = offset + limit
            q = np.asarray(query, dtype=np.float32)
            if n_pass == 0:
                return SearchResult([], 0)
            if not exact:
                part.ensure_hnsw()
            use_hnsw = (
                not exact
                and part.hnsw is not None
                and n_pass > EXACT_MAX
                and max_score is None  # total needs every score then: exact is as cheap
            )
            if use_hnsw:
                hits = self._hnsw(part, q, ids, mask, need, n_pass)
                if hits is not None:
                    return SearchResult(hits[offset:need], n_pass)
            sub_ids = ids[mask]
            scores = cosine_to_score(m[mask] @ q)
            if max_score is not None:
                # compare the score as clients see it (4 decimals), so "at or above" holds
                keep = np.round(scores, 4) < max_score
                sub_ids, scores = sub_ids[keep], scores[keep]
            total = int(sub_ids.size)
            top = np.argpartition(-scores, need - 1)[:need] if need < total else np.arange(total)
            # ties broken by asset id for stable paging
            order = top[np.lexsort((sub_ids[top], -scores[top]))]
            page = order[offset:need]
            return SearchResult([Hit(str(int(sub_ids[i])), float(scores[i])) for i in page], total)

    def uses_pgvector(self) -> bool:
        """Search in PostgreSQL (pgvector HNSW) rather than in process: on PostgreSQL with
        the ``vector`` extension (migration 0100), unless ``settings.vector_search`` is
        "memory". Near-duplicate cuts (``max_score``) and exact baselines stay in process."""
        if self.catalog.settings.vector_search.lower() == "memory":
            return False
        return self.catalog.store.has_vector_table()

    def _pgvector(
        self,
        kind: str,
        model_id: str,
        query: np.ndarray,
        limit: int,
        offset: int,
        f: Filters,
        exclude: str | None,
    ) -> SearchResult:
        q = np.asarray(query, dtype=np.float32)
        ex = int(exclude) if exclude is not None and str(exclude).isdigit() else None
        known: int | None = None
        with self.lock:  # the synced in-process metadata counts the filtered rows cheaply
            part = self.parts.get((kind, model_id))
            if part is not None and part.rows:
                ids, _ = part.packed()
                known = int(self._mask(part, ids, f, ex).sum())
        rows, total = self.catalog.store.nearest_vectors(
            model_id,
            q.tolist(),
            offset + limit,
            kind=kind,
            exclude=ex,
            categories=f.categories,
            subcategories=f.subcategories,
            min_duration=f.min_duration,
            max_duration=f.max_duration,
            total=known,
            ef_search=self.catalog.settings.pg_ef_search,
        )
        hits = [Hit(a, float(cosine_to_score(c))) for a, c in rows[offset:]]
        return SearchResult(hits, total)

    def _hnsw(
        self,
        part: _Part,
        q: np.ndarray,
        ids: np.ndarray,
        mask: np.ndarray,
        need: int,
        n_pass: int,
    ) -> list[Hit] | None:
        selectivity = n_pass / max(1, ids.size)
        k = min(ids.size, max(need * 2, int(math.ceil((need + 1) / selectivity * 1.5)), 32))
        while True:
            res = part.hnsw.search(q, k)
            keys = np.asarray(res.keys, dtype=np.int64)
            dist = np.asarray(res.distances, dtype=np.float64)
            pos = np.clip(np.searchsorted(ids, keys), 0, ids.size - 1)
            ok = (ids[pos] == keys) & mask[pos]
            scores = cosine_to_score(1.0 - dist[ok])
            hits = [Hit(str(int(a)), float(b)) for a, b in zip(keys[ok], scores, strict=True)]
            if len(hits) >= need or k >= ids.size:
                return hits if len(hits) >= min(need, n_pass) else None
            if k >= ids.size // 4:  # widening this far: exact over the mask is cheaper
                return None
            k = min(ids.size, k * 4)

    # -- persistence ----------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Write every part (vectors, ids, HNSW graph) and a manifest under ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        with self.lock:
            manifest: dict[str, Any] = {
                "last_rowid": self.last_rowid,
                "store": store_identity(self.catalog),
                "parts": [],
            }
            for i, ((kind, model_id), part) in enumerate(sorted(self.parts.items())):
                ids, m = part.packed()
                stem = f"part{i}"
                np.save(directory / f"{stem}.ids.npy", ids)
                np.save(directory / f"{stem}.vectors.npy", m)
                has_hnsw = part.hnsw is not None
                if has_hnsw:
                    part.hnsw.save(str(directory / f"{stem}.usearch"))
                manifest["parts"].append(
                    {
                        "kind": kind,
                        "model": model_id,
                        "dim": part.dim,
                        "stem": stem,
                        "n": int(ids.size),
                        "hnsw": has_hnsw,
                    }
                )
            tmp = directory / "manifest.json.tmp"
            tmp.write_text(json.dumps(manifest, indent=1))
            tmp.replace(directory / "manifest.json")

    def load(self, directory: Path) -> bool:
        """Load a saved index; False when none or unreadable (then :meth:`sync` rebuilds)."""
        from usearch.index import Index

        mf = directory / "manifest.json"
        if not mf.exists():
            return False
        try:
            manifest = json.loads(mf.read_text())
            if manifest.get("store") != store_identity(self.catalog):
                # saved from another database (a copy to PostgreSQL, another schema, a
                # data directory pointed at a new catalog): its ids mean other assets
                log.info("vector index in %s is of another database: rebuilding", directory)
                return False
            parts: dict[tuple[str, str], _Part] = {}
            where: dict[int, tuple[str, str]] = {}
            for p in manifest["parts"]:
                ids = np.load(directory / f"{p['stem']}.ids.npy")
                m = np.load(directory / f"{p['stem']}.vectors.npy")
                if ids.size != p["n"] or m.shape != (p["n"], p["dim"]):
                    raise ValueError(f"{p['stem']}: size mismatch")
                part = _Part(p["kind"], p["model"], int(p["dim"]))
                part.rows = {int(k): m[i] for i, k in enumerate(ids.tolist())}
                if p.get("hnsw"):
                    idx = Index(
                        ndim=part.dim,
                        metric="ip",
                        dtype="f32",
                        connectivity=HNSW_CONNECTIVITY,
                        expansion_add=HNSW_EXPANSION_ADD,
                        expansion_search=HNSW_EXPANSION_SEARCH,
                    )
                    idx.load(str(directory / f"{p['stem']}.usearch"))
                    if len(idx) != ids.size:
                        raise ValueError(f"{p['stem']}: HNSW size mismatch")
                    part.hnsw = idx
                parts[(p["kind"], p["model"])] = part
                for k in part.rows:
                    where[k] = (p["kind"], p["model"])
        except Exception as e:
            log.warning("vector index in %s unreadable (%s): rebuilding", directory, e)
            return False
        with self.lock:
            self.parts, self.where = parts, where
            # vectors up to last_rowid are loaded; metadata is re-read by the next sync
            self.last_rowid = self.loaded_rowid = int(manifest["last_rowid"])
            self.seen = dict.fromkeys(where, -1)
            self.asset_count = -1
            self.last_updated = ""
            self.meta = {}
        # replaced/deleted rows since the save are caught by sync (new rowids, asset count)
        return True


def store_identity(catalog: Catalog) -> str:
    """Which database a saved index was built from (backend, address, schema)."""
    return catalog.store.identity()


def index_dir(catalog: Catalog) -> Path:
    return catalog.index_dir / "vectors"


def get_index(catalog: Catalog) -> VectorIndex:
    """The catalog's vector index, loaded from disk or rebuilt once per process, synced."""
    idx = catalog.cache.get(CACHE_KEY)
    if idx is None:
        idx = VectorIndex(catalog)
        loaded = idx.load(index_dir(catalog))
        catalog.cache[CACHE_KEY] = idx
        if loaded:
            log.info("vector index loaded from %s", index_dir(catalog))
    idx.sync()
    return idx


def rebuild_index(catalog: Catalog, save: bool = True) -> VectorIndex:
    """Drop the derived index and rebuild it from the stored analyses."""
    idx = VectorIndex(catalog)
    idx.sync()
    for part in idx.parts.values():
        part.ensure_hnsw()
    catalog.cache[CACHE_KEY] = idx
    if save:
        idx.save(index_dir(catalog))
    return idx
