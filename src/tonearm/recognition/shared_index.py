"""Recognition's view of a shared fingerprint index (Redis Cluster or PostgreSQL).

``service.get_index`` returns a ``SharedIndex`` instead of the embedded memory-mapped index
when ``settings.fingerprint_index`` names a shared backend. It offers what matching reads
from the embedded index (``ranges``, ``lookup``, ``asset_ids``, ``span_frames``, ``len``),
built from the backend's postings: a posting ``asset_idx << 32 | frame`` becomes the key
layout of ``recognition/index.py``'s segments (``asset_idx << FRAME_BITS | frame``), so voting runs
unchanged on either. There is no per-node state to rebuild: every read goes to the engine.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import ASSET_BITS, FRAME_BITS, MAX_FRAME, Source
from tonearm.storage.fingerprints import FRAME_MASK, IDX_SHIFT, SharedFingerprintIndex

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.recognition")
BACKENDS = ("local", "redis", "postgres")
_open_lock = threading.Lock()


class SharedIndex:
    """A shared backend behind the embedded index's surface."""

    path = None

    def __init__(self, backend: SharedFingerprintIndex) -> None:
        self.backend = backend
        self.lock = backend.lock
        self.asset_ids = backend.asset_ids
        self.span_frames = backend.span_frames

    def __repr__(self) -> str:
        return f"SharedIndex({self.backend!r})"

    def __len__(self) -> int:
        return len(self.backend)

    def __contains__(self, asset_id: object) -> bool:
        return asset_id in self.backend

    @property
    def n_keys(self) -> int:
        return self.backend.n_keys

    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        self.backend.add(asset_id, hashes, times)

    def remove(self, asset_id: str) -> bool:
        return bool(self.backend.remove(asset_id))

    def changed_on_disk(self) -> bool:
        return False

    def compact(self) -> None:
        compact = getattr(self.backend, "compact", None)
        if compact is not None:
            compact()

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.backend.lookup(hashes)

    def ranges(self, hashes: np.ndarray) -> tuple[list[Source], np.ndarray]:
        """As ``FingerprintIndex.ranges``: one source holding every fetched posting in the
        embedded key layout, and the assets to skip (removed or not yet committed)."""
        raw, lo, hi, alive = self.backend.postings(hashes)
        if len(alive) > (1 << ASSET_BITS):
            raise OverflowError(
                f"shared index numbers {len(alive)} assets; the key layout holds "
                f"{1 << ASSET_BITS} (recognition/index.py ASSET_BITS)"
            )
        # in place: a full query at 10k songs fetches ~100M postings (800 MB)
        frame = raw & FRAME_MASK
        np.minimum(frame, np.uint64(MAX_FRAME), out=frame)
        keys = raw >> IDX_SHIFT
        keys <<= np.uint64(FRAME_BITS)
        keys |= frame
        del frame
        return [Source(keys, lo, hi)], ~alive


def open_backend(catalog: Catalog) -> SharedFingerprintIndex:
    """The shared backend ``catalog.settings`` names (not cached: see ``shared_index``)."""
    from tonearm.storage.fingerprints import namespace_for

    s = catalog.settings
    kind = s.fingerprint_index
    timeout = float(s.fingerprint_timeout_s)
    if kind == "redis":
        from tonearm.storage.fingerprints_redis import RedisFingerprintIndex

        url = s.fingerprint_redis_url or s.redis_url
        if not url:
            raise ValueError(
                "TONEARM_FINGERPRINT_INDEX=redis needs TONEARM_FINGERPRINT_REDIS_URL "
                "(any node of the Redis Cluster, e.g. redis://10.0.0.5:7000)"
            )
        return RedisFingerprintIndex(url, namespace_for(s, catalog.store), timeout_s=timeout)
    if kind == "postgres":
        from tonearm.storage.fingerprints_pg import PgFingerprintIndex

        return PgFingerprintIndex(catalog.store, timeout_s=timeout)
    raise ValueError(f"fingerprint_index must be one of {BACKENDS}, got {kind!r}")


def _backfill(catalog: Catalog, backend: Any, *, clear: bool) -> None:
    """Fill the shared index from the store's ``fingerprint`` analyses (switching an
    existing catalog to a shared backend, or a rebuild)."""
    if clear:
        backend.clear()
    batch: list[tuple[str, np.ndarray, np.ndarray]] = []
    n = 0
    for a in catalog.store.iter_analyses(fp.ANALYSIS_NAME):
        if a.blob is None or a.data.get("version") != fp.VERSION:
            continue
        h, t = fp.unpack(a.blob)
        batch.append((str(a.asset_id), h, t))
        if len(batch) >= 64:
            backend.add_many(batch)
            n += len(batch)
            batch = []
    if batch:
        backend.add_many(batch)
        n += len(batch)
    backend.mark_initialized()
    if n:
        log.info("shared fingerprint index %r: %d assets loaded from the store", backend, n)


def shared_index(catalog: Catalog, cache_key: str) -> SharedIndex:
    """The catalog's shared index, opened once per process. The first node to meet an
    empty, never-filled namespace loads the store's fingerprints into it."""
    ix = catalog.cache.get(cache_key)
    if isinstance(ix, SharedIndex):
        return ix
    with _open_lock:
        ix = catalog.cache.get(cache_key)
        if isinstance(ix, SharedIndex):
            return ix
        backend = open_backend(catalog)
        if not backend.initialized:
            _backfill(catalog, backend, clear=False)
        ix = SharedIndex(backend)
        catalog.cache[cache_key] = ix
        return ix


def rebuild_shared(catalog: Catalog, cache_key: str) -> SharedIndex:
    """Empty the shared index and load it again from the store's analyses."""
    ix = shared_index(catalog, cache_key)
    _backfill(catalog, ix.backend, clear=True)
    return ix
