"""The fingerprint index behind recognition, and the shared (scale-out) backends' common core.

``FingerprintIndex`` is what matching needs from an index: the postings of a batch of
hashes, adding an asset's hashes, removing an asset, and its size. Hashes are opaque
``uint64`` values; a posting is ``(asset_idx, frame)``. The embedded default is the
memory-mapped index of ``recognition/index.py`` (one copy per data directory); the shared
backends keep one index for every API server and worker:

- ``fingerprints_redis.RedisFingerprintIndex``: Redis Cluster (or one Redis), a string of
  packed postings per hash, read with pipelined ``MGET``s; sharding is the cluster's.
- ``fingerprints_pg.PgFingerprintIndex``: PostgreSQL, a hash-partitioned table of posting
  lists next to the catalog's tables (distributable by ``hash`` with Citus).

A shared backend numbers assets itself (``asset_idx``: never reused, so a node can cache
what it learnt about an index forever). An asset becomes visible in one atomic step after
all its postings are written (its row / registry entry), and disappears in one step when
removed (a tombstone, with a generation counter that tells every node to refresh its set of
removed assets). Postings of removed assets stay until the next ``compact()`` and are
skipped by every lookup. Every call that reaches the engine either answers within
``timeout_s`` or raises ``FingerprintIndexUnavailable``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

FRAME_MASK = np.uint64(0xFFFFFFFF)
IDX_SHIFT = np.uint64(32)
POSTING_DTYPE = np.dtype("<u8")  # one posting on the wire / at rest: asset_idx << 32 | frame


class FingerprintIndexUnavailable(RuntimeError):
    """The shared index's engine did not answer (down, restarting, timed out)."""


@runtime_checkable
class FingerprintIndex(Protocol):
    """What recognition needs from a fingerprint index (local or shared)."""

    def __len__(self) -> int:
        """Live assets."""
        ...

    def __contains__(self, asset_id: object) -> bool: ...

    @property
    def n_keys(self) -> int:
        """Postings of the live assets (approximately, for a shared index)."""
        ...

    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        """Add (or replace) an asset's hashes; visible to every reader once it returns."""
        ...

    def remove(self, asset_id: str) -> bool:
        """Remove an asset; False when it was not there."""
        ...

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every live posting of every query hash: (owner, asset_idx, frame), int64 each,
        ``owner`` indexing ``hashes``."""
        ...


@dataclass(frozen=True)
class AssetEntry:
    """What a shared index knows about one of its asset numbers (immutable once written)."""

    asset_id: str
    span_frames: int  # last anchor frame + 1
    n_hashes: int


def encode_postings(asset_idx: int, times: np.ndarray) -> np.ndarray:
    """Postings of one asset, ``asset_idx << 32 | frame`` as little-endian uint64."""
    t = np.asarray(times).astype(np.uint64) & FRAME_MASK
    return ((np.uint64(asset_idx) << IDX_SHIFT) | t).astype(POSTING_DTYPE)


def group_by_hash(
    hashes: np.ndarray, postings: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(distinct hashes as uint64, their postings concatenated in hash order, start offsets)
    so the postings of ``uniq[i]`` are ``postings[starts[i]:starts[i+1]]``."""
    h = np.asarray(hashes).astype(np.uint64)
    order = np.argsort(h, kind="stable")
    hs, ps = h[order], np.asarray(postings)[order]
    uniq, first = np.unique(hs, return_index=True)
    starts = np.append(first, len(hs)).astype(np.int64)
    return uniq, ps, starts


def namespace_for(settings: Any, store: Any) -> str:
    """The shared index's namespace: ``settings.fingerprint_namespace`` when set, else one
    derived from the metadata store, so every node of one catalog (same PostgreSQL database
    and schema) meets in the same index and two catalogs never mix."""
    explicit = getattr(settings, "fingerprint_namespace", None)
    if explicit:
        return str(explicit)
    if getattr(store, "dialect", "sqlite") == "postgresql":
        from urllib.parse import urlsplit

        u = urlsplit(store.url)
        ident = f"pg:{u.hostname}:{u.port or 5432}{u.path}:{store.schema or 'public'}"
    else:
        ident = f"sqlite:{settings.db_path.resolve()}"
    return hashlib.sha1(ident.encode()).hexdigest()[:16]


class _IdxView(Sequence[str | None]):
    """``asset_ids[idx]`` of a shared index (None: unknown or removed)."""

    def __init__(self, owner: SharedFingerprintIndex) -> None:
        self._o = owner

    def __len__(self) -> int:
        return self._o._idx_bound()

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        e = self._o._entry(int(i))
        return e.asset_id if e is not None else None

    def __iter__(self) -> Iterator[str | None]:
        return (self[i] for i in range(len(self)))


class _SpanView:
    """``span_frames.get(idx, default)`` of a shared index."""

    def __init__(self, owner: SharedFingerprintIndex) -> None:
        self._o = owner

    def get(self, i: int, default: int = 0) -> int:
        e = self._o._entry(int(i))
        return e.span_frames if e is not None else default

    def __getitem__(self, i: int) -> int:
        e = self._o._entry(int(i))
        if e is None:
            raise KeyError(i)
        return e.span_frames


class SharedFingerprintIndex:
    """Common core of the shared backends: a per-process cache of asset entries and removed
    assets (kept coherent by the engine's generation counter), and lookups assembled from
    the backend's raw posting lists.

    Subclasses implement the engine primitives (``_fetch``, ``_entries``, ``_dead_since``,
    ``_write``, ``_register``, ``_unregister``, ``__len__``, ``n_keys``, ``clear``...).
    """

    timeout_s: float = 5.0

    def __init__(self) -> None:
        self.lock = threading.RLock()  # API parity with the local index (writers)
        self._cache_lock = threading.Lock()
        self._known: dict[int, AssetEntry] = {}
        self._dead: set[int] = set()
        self._dead_arr = np.zeros(0, np.int64)
        self._gen = -1
        self._max_idx = 0
        self._alive = np.zeros(1024, bool)
        self.asset_ids = _IdxView(self)
        self.span_frames = _SpanView(self)

    # -- engine primitives ----------------------------------------------------------------
    def _fetch(self, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Raw postings of distinct hashes (uint64, sorted): (postings uint64, where each
        hash's postings start in them, how many, the engine's current generation); the
        postings of ``uniq[i]`` are ``postings[first[i]:first[i] + count[i]]``."""
        raise NotImplementedError

    def _entries(self, idxs: list[int]) -> dict[int, AssetEntry]:
        """Entries of the given asset numbers that are registered and live."""
        raise NotImplementedError

    def _dead_all(self) -> set[int]:
        """Every removed asset number whose postings may still be stored."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __contains__(self, asset_id: object) -> bool:
        raise NotImplementedError

    @property
    def n_keys(self) -> int:
        raise NotImplementedError

    @property
    def initialized(self) -> bool:
        """Whether this namespace was ever filled (from the store, or by a first ingest)."""
        raise NotImplementedError

    def mark_initialized(self) -> None:
        raise NotImplementedError

    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        raise NotImplementedError

    def add_many(self, items: list[tuple[str, np.ndarray, np.ndarray]]) -> list[int]:
        """Add (or replace) several assets; returns their numbers."""
        raise NotImplementedError

    def remove(self, asset_id: str) -> bool:
        raise NotImplementedError

    def clear(self) -> None:
        """Drop every asset and posting of this namespace (asset numbers keep counting)."""
        raise NotImplementedError

    # bulk loads (a migration, a benchmark): reserve numbers, write postings, then register
    # the assets, which makes them visible at once
    def reserve(self, n: int) -> np.ndarray:
        """Reserve ``n`` asset numbers (int64, increasing, not necessarily consecutive)."""
        raise NotImplementedError

    def write_postings(self, uniq: np.ndarray, postings: np.ndarray, starts: np.ndarray) -> None:
        """Append ``postings[starts[i]:starts[i+1]]`` to hash ``uniq[i]`` (invisible until
        their assets are registered)."""
        raise NotImplementedError

    def register(self, entries: list[tuple[int, AssetEntry]]) -> None:
        """Make reserved numbers live assets (replacing live assets of the same ids)."""
        raise NotImplementedError

    # -- cache ----------------------------------------------------------------------------
    def _reset_cache(self) -> None:
        with self._cache_lock:
            self._known = {}
            self._dead = set()
            self._dead_arr = np.zeros(0, np.int64)
            self._gen = -1
            self._max_idx = 0
            self._alive = np.zeros(1024, bool)

    def _idx_bound(self) -> int:
        return self._max_idx + 1

    def _entry(self, idx: int) -> AssetEntry | None:
        if idx in self._dead:
            return None
        e = self._known.get(idx)
        if e is None:
            e = self._entries([idx]).get(idx)
            if e is not None:
                with self._cache_lock:
                    self._mark({idx: e})
        return e

    def _mark(self, found: dict[int, AssetEntry]) -> None:
        """Record live entries (caller holds ``_cache_lock``)."""
        self._known.update(found)
        top = max(found)
        if top >= len(self._alive):
            grown = np.zeros(max(top + 1, 2 * len(self._alive)), bool)
            grown[: len(self._alive)] = self._alive
            self._alive = grown
        self._alive[np.fromiter(found.keys(), np.int64, len(found))] = True
        self._max_idx = max(self._max_idx, top)

    def _refresh(self, gen: int, idxs: np.ndarray) -> np.ndarray:
        """Bring the cache up to date for generation ``gen`` and asset numbers ``idxs``
        (distinct); returns ``alive`` (bool, one per asset number, at least up to the largest
        of ``idxs``). Entries never change once written, so only the removed set and numbers
        never seen before cost a round trip."""
        if gen != self._gen:
            dead = self._dead_all()
            with self._cache_lock:
                self._dead = dead
                self._dead_arr = np.array(sorted(dead), np.int64)
                for d in dead:
                    self._known.pop(d, None)
                live = self._dead_arr[self._dead_arr < len(self._alive)]
                self._alive[live] = False
                self._gen = gen
        unknown = [int(i) for i in idxs if int(i) not in self._known and int(i) not in self._dead]
        if unknown:
            found = self._entries(unknown)
            if found:
                with self._cache_lock:
                    self._mark(found)
        top = int(idxs.max()) if len(idxs) else 0
        alive = self._alive
        if top >= len(alive):  # numbers not (yet) registered: invisible
            alive = np.zeros(top + 1, bool)
            alive[: len(self._alive)] = self._alive
        return alive

    # -- reads ----------------------------------------------------------------------------
    def postings(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Raw postings of a batch of hashes without filtering them.

        Returns
        -------
        postings : np.ndarray, uint64 -- ``asset_idx << 32 | frame``
        lo, hi : np.ndarray, int64, one per query hash -- ``postings[lo[i]:hi[i]]`` are
            those of ``hashes[i]``
        alive : np.ndarray, bool, one per asset number -- False: removed or not yet visible
        """
        h = np.asarray(hashes).astype(np.uint64)
        if len(h) == 0:
            z = np.zeros(0, np.int64)
            return np.zeros(0, np.uint64), z, z, np.zeros(1, bool)
        uniq, inv = np.unique(h, return_inverse=True)
        raw, first, counts, gen = self._fetch(uniq)
        # distinct asset numbers without sorting the (possibly 100M) postings
        idxs = (
            np.flatnonzero(np.bincount((raw >> IDX_SHIFT).astype(np.int64)))
            if len(raw)
            else np.zeros(0, np.int64)
        )
        alive = self._refresh(gen, idxs)
        inv = inv.reshape(-1)
        lo = first[inv].astype(np.int64)
        return raw, lo, lo + counts[inv], alive

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raw, lo, hi, alive = self.postings(hashes)
        counts = hi - lo
        total = int(counts.sum())
        if total == 0:
            z = np.zeros(0, np.int64)
            return z, z, z
        owner = np.repeat(np.arange(len(lo)), counts)
        first = np.cumsum(counts) - counts
        pos = np.arange(total) - np.repeat(first, counts) + np.repeat(lo, counts)
        p = raw[pos]
        asset = (p >> IDX_SHIFT).astype(np.int64)
        frame = (p & FRAME_MASK).astype(np.int64)
        ok = asset < len(alive)
        ok[ok] = alive[asset[ok]]
        return owner[ok].astype(np.int64), asset[ok], frame[ok]

    def changed_on_disk(self) -> bool:
        return False  # nothing to reload: every read goes to the engine
