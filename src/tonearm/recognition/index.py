"""The fingerprint index: hash -> (asset, frame), with add, delete and persistence.

Layout (embedded): one sorted ``uint64`` array of keys ``hash << 42 | asset_idx << 20 |
frame`` (8 bytes per hash, memory-mapped from ``main.npy``), plus a bucket directory
``starts[h]`` so a lookup is two array reads, plus small append-only segments for assets
added since the last compaction. Deleted assets are tombstoned until the next compaction.
Everything can be rebuilt from the stored ``fingerprint`` analyses (the blobs), and the
same rows map one-to-one onto a PostgreSQL table ``fingerprints(hash int, asset_id bigint,
frame int)`` with an index on ``hash``.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from tonearm.recognition import fingerprint as fp

ASSET_BITS = 22
FRAME_BITS = 20
MAX_FRAME = (1 << FRAME_BITS) - 1
_SHIFT_H = np.uint64(ASSET_BITS + FRAME_BITS)
_SHIFT_A = np.uint64(FRAME_BITS)
_MASK_A = np.uint64((1 << ASSET_BITS) - 1)
_MASK_F = np.uint64((1 << FRAME_BITS) - 1)
COMPACT_MIN = 2_000_000  # merge segments into main when they hold more keys than this ...
COMPACT_FRACTION = 0.25  # ... and more than this fraction of main


def make_keys(hashes: np.ndarray, times: np.ndarray, asset_idx: int) -> np.ndarray:
    t = np.minimum(times.astype(np.uint64), np.uint64(MAX_FRAME))
    return ((hashes.astype(np.uint64) << _SHIFT_H) | (np.uint64(asset_idx) << _SHIFT_A) | t).astype(
        np.uint64
    )


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions lo[i]..hi[i]-1 for every i, and which i each came from."""
    counts = (hi - lo).astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(lo)), counts)
    first = np.cumsum(counts) - counts
    pos = np.arange(total) - np.repeat(first, counts) + np.repeat(lo.astype(np.int64), counts)
    return pos, owner


class FingerprintIndex:
    """In-process index; thread-safe; persisted under ``path`` when given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.asset_ids: list[str | None] = []  # idx -> asset id (None: deleted)
        self.idx_of: dict[str, int] = {}
        self.n_hashes: dict[int, int] = {}
        self.span_frames: dict[int, int] = {}  # last anchor frame + 1, per asset
        self.main: np.ndarray = np.zeros(0, np.uint64)
        self.starts = np.zeros((1 << fp.HASH_BITS) + 1, np.int64)
        self.segments: list[tuple[str, np.ndarray]] = []  # (file name, keys sorted)
        self._seg_all: np.ndarray | None = None
        self.deleted: set[int] = set()
        self._deleted_arr = np.zeros(0, np.int64)
        self.mtime = 0.0

    # -- size ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.idx_of)

    @property
    def n_keys(self) -> int:
        return int(len(self.main) + sum(len(s) for _, s in self.segments))

    def __contains__(self, asset_id: str) -> bool:
        return asset_id in self.idx_of

    # -- updates -------------------------------------------------------------------------
    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        """Add (or replace) an asset's hashes."""
        with self.lock:
            if asset_id in self.idx_of:
                self.remove(asset_id)
            idx = len(self.asset_ids)
            if idx >= (1 << ASSET_BITS):
                self.compact()
                idx = len(self.asset_ids)
            self.asset_ids.append(asset_id)
            self.idx_of[asset_id] = idx
            self.n_hashes[idx] = int(len(hashes))
            self.span_frames[idx] = int(times.max()) + 1 if len(times) else 0
            keys = np.sort(make_keys(hashes, times, idx))
            name = f"seg-{idx}.npy"
            self.segments.append((name, keys))
            self._seg_all = None
            if self.path is not None:
                self._atomic_save_array(self.path / name, keys)
            if self._should_compact():
                self.compact()
            else:
                self._save_manifest()

    def remove(self, asset_id: str) -> bool:
        with self.lock:
            idx = self.idx_of.pop(asset_id, None)
            if idx is None:
                return False
            self.asset_ids[idx] = None
            self.n_hashes.pop(idx, None)
            self.span_frames.pop(idx, None)
            self.deleted.add(idx)
            self._deleted_arr = np.array(sorted(self.deleted), np.int64)
            self._save_manifest()
            return True

    def _should_compact(self) -> bool:
        seg = sum(len(s) for _, s in self.segments)
        return seg > COMPACT_MIN and seg > COMPACT_FRACTION * len(self.main)

    def compact(self) -> None:
        """Merge segments into main, drop deleted assets, renumber densely."""
        with self.lock:
            parts = [np.asarray(self.main)] + [s for _, s in self.segments]
            allkeys: np.ndarray = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
            live = [(i, a) for i, a in enumerate(self.asset_ids) if a is not None]
            remap = np.full(max(1, len(self.asset_ids)), -1, np.int64)
            for new, (old, _) in enumerate(live):
                remap[old] = new
            a_old = ((allkeys >> _SHIFT_A) & _MASK_A).astype(np.int64)
            new_a = remap[a_old] if len(allkeys) else a_old
            keep = new_a >= 0
            allkeys = allkeys[keep]
            new_a = new_a[keep].astype(np.uint64)
            allkeys = (allkeys & ~(_MASK_A << _SHIFT_A)) | (new_a << _SHIFT_A)
            allkeys.sort()
            old_segments = [name for name, _ in self.segments]
            self.main = allkeys
            self.n_hashes = {new: self.n_hashes.get(old, 0) for new, (old, _) in enumerate(live)}
            self.span_frames = {
                new: self.span_frames.get(old, 0) for new, (old, _) in enumerate(live)
            }
            self.asset_ids = [a for _, a in live]
            self.idx_of = {a: i for i, a in enumerate(self.asset_ids) if a is not None}
            self.segments = []
            self._seg_all = None
            self.deleted = set()
            self._deleted_arr = np.zeros(0, np.int64)
            self._build_starts()
            if self.path is not None:
                self._atomic_save_array(self.path / "main.npy", self.main)
                self._save_manifest()
                for name in old_segments:
                    (self.path / name).unlink(missing_ok=True)

    def _build_starts(self) -> None:
        edges = np.arange((1 << fp.HASH_BITS) + 1, dtype=np.uint64) << _SHIFT_H
        starts = np.searchsorted(self.main, edges)
        # uint32 halves the fixed-size directory while main has < 4 G entries
        self.starts = starts.astype(np.uint32 if len(self.main) < (1 << 32) else np.int64)

    # -- lookup --------------------------------------------------------------------------
    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored occurrence of every query hash.

        Returns
        -------
        owner : np.ndarray, int64 -- index into ``hashes`` of the query hash that matched
        asset_idx : np.ndarray, int64
        frame : np.ndarray, int64 -- anchor frame in the reference
        """
        h = hashes.astype(np.int64)
        with self.lock:
            main, starts = self.main, self.starts
            if self._seg_all is None:
                segs = [s for _, s in self.segments]
                self._seg_all = np.sort(np.concatenate(segs)) if segs else np.zeros(0, np.uint64)
            seg = self._seg_all
            deleted = self._deleted_arr
        keys_parts, owner_parts = [], []
        if len(main):
            pos, owner = _expand(starts[h].astype(np.int64), starts[h + 1].astype(np.int64))
            keys_parts.append(np.asarray(main[pos]))
            owner_parts.append(owner)
        if len(seg):
            hu = h.astype(np.uint64)
            lo = np.searchsorted(seg, hu << _SHIFT_H)
            hi = np.searchsorted(seg, (hu + np.uint64(1)) << _SHIFT_H)
            pos, owner = _expand(lo, hi)
            keys_parts.append(seg[pos])
            owner_parts.append(owner)
        if not keys_parts:
            z = np.zeros(0, np.int64)
            return z, z, z
        keys = np.concatenate(keys_parts)
        owner = np.concatenate(owner_parts)
        asset = ((keys >> _SHIFT_A) & _MASK_A).astype(np.int64)
        frame = (keys & _MASK_F).astype(np.int64)
        if len(deleted):
            live = ~np.isin(asset, deleted)
            owner, asset, frame = owner[live], asset[live], frame[live]
        return owner, asset, frame

    def ranges(
        self, hashes: np.ndarray
    ) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
        """Where every query hash's entries are, without materializing them.

        Returns
        -------
        sources : list of (keys uint64, lo int64, hi int64)
            ``keys[lo[i]:hi[i]]`` are the stored keys of ``hashes[i]`` (one source for the
            compacted main array, one for the recent segments).
        dead : np.ndarray, bool, one per asset index: tombstoned assets to skip.
        """
        h = hashes.astype(np.int64)
        with self.lock:
            main, starts = self.main, self.starts
            if self._seg_all is None:
                segs = [s for _, s in self.segments]
                self._seg_all = np.sort(np.concatenate(segs)) if segs else np.zeros(0, np.uint64)
            seg = self._seg_all
            dead = np.zeros(max(1, len(self.asset_ids)), bool)
            if len(self._deleted_arr):
                dead[self._deleted_arr] = True
        sources = []
        if len(main):
            sources.append(
                (
                    np.asarray(main).view(np.uint64),
                    starts[h].astype(np.int64),
                    starts[h + 1].astype(np.int64),
                )
            )
        if len(seg):
            hu = h.astype(np.uint64)
            lo = np.searchsorted(seg, hu << _SHIFT_H).astype(np.int64)
            hi = np.searchsorted(seg, (hu + np.uint64(1)) << _SHIFT_H).astype(np.int64)
            sources.append((seg, lo, hi))
        return sources, dead

    # -- persistence ---------------------------------------------------------------------
    @staticmethod
    def _atomic_save_array(dest: Path, arr: np.ndarray) -> None:
        tmp = dest.with_name(f".tmp-{os.getpid()}-{dest.name}")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr))
        os.replace(tmp, dest)

    def _save_manifest(self) -> None:
        if self.path is None:
            return
        m = {
            "version": fp.VERSION,
            "asset_ids": self.asset_ids,
            "n_hashes": {str(k): v for k, v in self.n_hashes.items()},
            "span_frames": {str(k): v for k, v in self.span_frames.items()},
            "segments": [name for name, _ in self.segments],
            "deleted": sorted(self.deleted),
            "n_main": int(len(self.main)),
        }
        tmp = self.path / f".tmp-{os.getpid()}-manifest.json"
        tmp.write_text(json.dumps(m))
        os.replace(tmp, self.path / "manifest.json")
        self.mtime = (self.path / "manifest.json").stat().st_mtime

    def save(self) -> None:
        """Persist everything (normally done incrementally by add/remove/compact)."""
        if self.path is None:
            return
        with self.lock:
            self.path.mkdir(parents=True, exist_ok=True)
            self._atomic_save_array(self.path / "main.npy", self.main)
            for name, keys in self.segments:
                self._atomic_save_array(self.path / name, keys)
            self._save_manifest()

    @classmethod
    def load(cls, path: Path) -> FingerprintIndex | None:
        """The index persisted under ``path``; None when absent, stale or unreadable."""
        mf = path / "manifest.json"
        try:
            m = json.loads(mf.read_text())
            if m.get("version") != fp.VERSION:
                return None
            ix = cls(path)
            ix.mtime = mf.stat().st_mtime
            ix.asset_ids = list(m["asset_ids"])
            ix.idx_of = {a: i for i, a in enumerate(ix.asset_ids) if a is not None}
            ix.n_hashes = {int(k): int(v) for k, v in m.get("n_hashes", {}).items()}
            ix.span_frames = {int(k): int(v) for k, v in m.get("span_frames", {}).items()}
            ix.deleted = set(m.get("deleted", []))
            ix._deleted_arr = np.array(sorted(ix.deleted), np.int64)
            if m.get("n_main", 0):
                ix.main = np.load(path / "main.npy", mmap_mode="r")
                if len(ix.main) != m["n_main"]:
                    return None
            ix._build_starts()
            ix.segments = [(name, np.load(path / name)) for name in m.get("segments", [])]
            return ix
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None

    def changed_on_disk(self) -> bool:
        """True when another process updated the persisted index since we loaded it."""
        if self.path is None:
            return False
        try:
            return (self.path / "manifest.json").stat().st_mtime != self.mtime
        except OSError:
            return False
