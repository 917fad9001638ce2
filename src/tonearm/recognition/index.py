"""The fingerprint index: hash -> (asset, frame), with add, delete and persistence.

Layout (embedded):

- the compacted part (``main``): the assets numbered ``0 .. n_main_assets-1`` laid end to
  end on one timeline (asset ``a`` owns positions ``base[a] .. base[a+1]-1``, one per
  frame of its span); a posting is a timeline position, ``uint32`` while the timeline
  holds < 2^32 frames (~38,000 hours of audio), else ``uint64``. Postings are sorted by
  hash, then position; the bucket directory ``starts[h]`` (hash ``h``'s postings are
  ``main[starts[h]:starts[h+1]]``) makes a lookup two array reads, and a position's asset
  is found through ``lut`` (the asset at every 2^LUT_SHIFT-th position) plus a step or
  two. 4 bytes per posting (8 with the hash bits before), memory-mapped from ``main.npy``.
- recent additions: small per-asset segments of keys ``hash << 43 | (asset_idx -
  n_main_assets) << 20 | frame`` (sorted), merged into ``main`` by ``compact``.
- deleted assets are tombstoned until the next compaction.

Everything can be rebuilt from the stored ``fingerprint`` analyses (the blobs, pair hashes
and anchor frames: unchanged by this layout), and the same rows map one-to-one onto the
shared backends' posting lists (``storage/fingerprints*.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit

from tonearm.recognition import fingerprint as fp
from tonearm.recognition import triplets as tp
from tonearm.recognition.triplets import TripletIndex

LAYOUT = 2  # persisted layout (timeline postings); an index of another layout is rebuilt
ASSET_BITS = 23  # assets added between two compactions (segments), and shared-index numbers
FRAME_BITS = 20
MAX_FRAME = (1 << FRAME_BITS) - 1
LUT_SHIFT = 8  # one ``lut`` entry per 256 timeline positions (~8 s)
_SHIFT_H = np.uint64(ASSET_BITS + FRAME_BITS)
_SHIFT_A = np.uint64(FRAME_BITS)
_MASK_A = np.uint64((1 << ASSET_BITS) - 1)
_MASK_F = np.uint64((1 << FRAME_BITS) - 1)
COMPACT_MIN = 2_000_000  # merge segments into main when they hold more keys than this ...
COMPACT_FRACTION = 0.25  # ... and more than this fraction of main
JOURNAL_MIN = 256  # rewrite manifest.json when the journal holds more entries than this ...
JOURNAL_FRACTION = 0.125  # ... and more than this fraction of the assets
_NONE = np.zeros(0, np.int64)
_GONE = -(1 << 62)  # compaction: a deleted asset's move


class Source(NamedTuple):
    """Where the postings of a batch of query hashes are: ``keys[lo[i]:hi[i]]`` for
    ``hashes[i]``.

    ``keys`` are timeline positions when ``base`` is given (the compacted part: asset =
    the last ``a`` with ``base[a] <= key``, frame = ``key - base[a]``), else ``asset <<
    FRAME_BITS | frame`` in the low bits (segments, shared backends); ``offset`` is added to
    the decoded asset number.
    """

    keys: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    base: np.ndarray = _NONE  # int64, n_assets + 1 (sentinel: the timeline's end)
    lut: np.ndarray = _NONE  # int64
    offset: int = 0

    def decode(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(asset_idx, frame) of some of this source's keys, int64 each."""
        k = np.asarray(keys)
        if len(self.base) == 0:
            k = k.astype(np.uint64)
            return (((k >> _SHIFT_A) & _MASK_A).astype(np.int64) + self.offset), (
                k & _MASK_F
            ).astype(np.int64)
        p = k.astype(np.int64)
        a = np.searchsorted(self.base, p, side="right").astype(np.int64) - 1
        return a + self.offset, p - self.base[a]


@njit(cache=True, nogil=True, inline="always")
def decode_key(
    k: int, base: np.ndarray, lut: np.ndarray, offset: int
) -> tuple[np.int64, np.int64]:  # pragma: no cover - compiled
    """(asset_idx, frame) of one key of a ``Source`` (compiled)."""
    if len(base) == 0:
        a = np.int64((np.uint64(k) >> np.uint64(FRAME_BITS)) & np.uint64((1 << ASSET_BITS) - 1))
        return a + offset, np.int64(np.uint64(k) & np.uint64(MAX_FRAME))
    p = np.int64(k)
    a = lut[p >> LUT_SHIFT]
    while base[a + 1] <= p:
        a += 1
    return a + offset, p - base[a]


def make_keys(hashes: np.ndarray, times: np.ndarray, asset_idx: int) -> np.ndarray:
    """Segment keys ``hash << 43 | asset_idx << 20 | frame`` (frames clipped at MAX_FRAME)."""
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


def timeline(spans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(base, lut) of assets of the given spans (frames) laid end to end."""
    width = np.clip(np.asarray(spans, np.int64), 1, MAX_FRAME + 1)
    base = np.zeros(len(width) + 1, np.int64)
    np.cumsum(width, out=base[1:])
    return base, lut_of(base)


def lut_of(base: np.ndarray) -> np.ndarray:
    """The asset at every 2^LUT_SHIFT-th timeline position (int64)."""
    n_blocks = (int(base[-1]) >> LUT_SHIFT) + 1
    lut = np.searchsorted(base[:-1], np.arange(n_blocks, dtype=np.int64) << LUT_SHIFT, "right")
    return np.maximum(lut - 1, 0).astype(np.int64)


@njit(cache=True, nogil=True)
def _merge(
    main: np.ndarray,
    starts: np.ndarray,
    base: np.ndarray,
    lut: np.ndarray,
    moved: np.ndarray,
    seg: np.ndarray,
    seg_new: np.ndarray,
    new_base: np.ndarray,
    out: np.ndarray,
    out_starts: np.ndarray,
    count_only: bool,
) -> None:  # pragma: no cover - compiled
    """Compaction: per hash, the live postings of ``main`` (moved by ``moved[a]`` positions,
    ``_GONE``: deleted) then those of the segments (``seg``: sorted keys, their assets' new
    numbers ``seg_new[local asset]``, -1: deleted), written to ``out`` from
    ``out_starts[h]`` (``count_only``: only count into ``out_starts[h + 1]``).

    Live assets keep their order, so positions stay sorted within a hash."""
    n_h = len(starts) - 1
    j = 0
    for h in range(n_h):
        w = out_starts[h]
        for i in range(starts[h], starts[h + 1]):
            p = np.int64(main[i])
            a = lut[p >> LUT_SHIFT]
            while base[a + 1] <= p:
                a += 1
            if moved[a] != _GONE:
                if not count_only:
                    out[w] = p + moved[a]
                w += 1
        while j < len(seg) and np.int64(seg[j] >> np.uint64(ASSET_BITS + FRAME_BITS)) == h:
            k = seg[j]
            j += 1
            na = seg_new[np.int64((k >> np.uint64(FRAME_BITS)) & np.uint64((1 << ASSET_BITS) - 1))]
            if na >= 0:
                if not count_only:
                    f = np.int64(k & np.uint64(MAX_FRAME))
                    out[w] = new_base[na] + min(f, new_base[na + 1] - new_base[na] - 1)
                w += 1
        if count_only:
            out_starts[h + 1] = w - out_starts[h]


@njit(cache=True, nogil=True)
def _count_into(hs: np.ndarray, counts: np.ndarray) -> None:  # pragma: no cover - compiled
    for h in hs:
        counts[h] += 1


SPILL_PART_BITS = 6  # the spilled build places its postings in 2^6 hash ranges
_SPILL_POS_BITS = 40  # a spilled posting: low hash bits << 40 | timeline position


@njit(cache=True, nogil=True)
def _place_part(
    spilled: np.ndarray, fill: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Place spilled postings ``low hash << 40 | position`` of one hash range."""
    mask = np.uint64((1 << _SPILL_POS_BITS) - 1)
    for i in range(len(spilled)):
        h = np.int64(spilled[i] >> np.uint64(_SPILL_POS_BITS))
        out[fill[h]] = spilled[i] & mask
        fill[h] += 1


class FingerprintIndex:
    """In-process index; thread-safe; persisted under ``path`` when given."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.asset_ids: list[str | None] = []  # idx -> asset id (None: deleted)
        self.idx_of: dict[str, int] = {}
        self.n_hashes: dict[int, int] = {}
        self.span_frames: dict[int, int] = {}  # last anchor frame + 1, per asset
        self.main: np.ndarray = np.zeros(0, np.uint32)  # timeline positions
        self.starts = np.zeros((1 << fp.HASH_BITS) + 1, np.uint32)
        self.n_main_assets = 0
        self.base, self.lut = timeline(np.zeros(0, np.int64))
        self.segments: list[tuple[str, np.ndarray]] = []  # (file name, keys sorted)
        self._seg_all: np.ndarray | None = None
        self.deleted: set[int] = set()
        self._deleted_arr = np.zeros(0, np.int64)
        self.mtime = 0.0
        self.generation = 0  # of manifest.json; its journal is journal-<generation>.jsonl
        self._journal_n = 0  # entries in the journal
        self._stamp: tuple[int, int] | None = None  # (manifest mtime ns, journal bytes)
        # the speed/pitch-invariant shortlist of the compacted assets (recognition.triplets),
        # rebuilt by every compaction when ``triplets.ENABLED``; None: no shortlist
        self.triplets: TripletIndex | None = None

    # -- size ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.idx_of)

    @property
    def n_keys(self) -> int:
        return int(len(self.main) + sum(len(s) for _, s in self.segments))

    @property
    def nbytes(self) -> int:
        """Memory of everything the index holds: arrays plus ~200 B per asset of metadata."""
        n = int(np.asarray(self.main).nbytes + np.asarray(self.starts).nbytes)
        n += int(self.base.nbytes + self.lut.nbytes) + sum(int(s.nbytes) for _, s in self.segments)
        if self.triplets is not None:
            n += self.triplets.nbytes
        return n + 200 * len(self.asset_ids)

    def __contains__(self, asset_id: str) -> bool:
        return asset_id in self.idx_of

    # -- updates -------------------------------------------------------------------------
    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        """Add (or replace) an asset's hashes."""
        with self.lock:
            if asset_id in self.idx_of:
                self.remove(asset_id)
            if len(self.asset_ids) - self.n_main_assets >= (1 << ASSET_BITS):
                self.compact()
            idx = len(self.asset_ids)
            self.asset_ids.append(asset_id)
            self.idx_of[asset_id] = idx
            self.n_hashes[idx] = int(len(hashes))
            self.span_frames[idx] = int(times.max()) + 1 if len(times) else 0
            keys = np.sort(make_keys(hashes, times, idx - self.n_main_assets))
            name = f"seg-{idx}.npy"
            self.segments.append((name, keys))
            self._seg_all = None
            if self.path is not None:
                self._atomic_save_array(self.path / name, keys)
            if self._should_compact():
                self.compact()
            else:
                self._log(
                    {
                        "op": "add",
                        "idx": idx,
                        "id": asset_id,
                        "n": self.n_hashes[idx],
                        "span": self.span_frames[idx],
                        "seg": name,
                    }
                )

    @classmethod
    def build(
        cls, items: Iterable[tuple[str, np.ndarray, np.ndarray]], spill_dir: Path | None = None
    ) -> FingerprintIndex:
        """A compacted index of (asset id, hashes, anchor frames), in memory ~3x its size
        (bulk loads, benchmarks); with ``spill_dir``, the postings go to files there (8
        bytes each, by hash range) and each range is placed in memory and written to
        ``spill_dir/main.npy``, which the index keeps memory-mapped: RAM ~ the directory
        plus one range. Asset ids must be distinct."""
        if spill_dir is not None:
            return cls._build_spilled(items, spill_dir)
        ix = cls(None)
        parts: list[np.ndarray] = []
        for aid, h, t in items:
            idx = len(ix.asset_ids)
            ix.asset_ids.append(aid)
            ix.idx_of[aid] = idx
            ix.n_hashes[idx] = int(len(h))
            ix.span_frames[idx] = int(t.max()) + 1 if len(t) else 0
            parts.append(make_keys(h, t, idx))
        keys = np.empty(sum(len(p) for p in parts), np.uint64)
        at = 0
        parts.reverse()
        while parts:  # one copy at a time
            p = parts.pop()
            keys[at : at + len(p)] = p
            at += len(p)
        keys.sort()
        ix.segments = [("bulk", keys)]
        ix.compact()
        return ix

    @classmethod
    def _build_spilled(
        cls, items: Iterable[tuple[str, np.ndarray, np.ndarray]], spill_dir: Path
    ) -> FingerprintIndex:
        ix = cls(None)
        spill_dir.mkdir(parents=True, exist_ok=True)
        low_bits = fp.HASH_BITS - SPILL_PART_BITS
        n_parts = 1 << SPILL_PART_BITS
        # postings spilled by hash range, so each range is placed in a buffer of its own
        # size and written out in order: RAM ~1/n_parts of the postings, not all of them
        files = [spill_dir / f"part-{k:03d}.u64" for k in range(n_parts)]
        counts = np.zeros((1 << fp.HASH_BITS) + 1, np.int64)
        widths: list[int] = []
        at = 0
        with contextlib.ExitStack() as stack:
            outs = [stack.enter_context(open(f, "wb")) for f in files]
            for aid, h, t in items:
                idx = len(ix.asset_ids)
                ix.asset_ids.append(aid)
                ix.idx_of[aid] = idx
                ix.n_hashes[idx] = int(len(h))
                span = int(t.max()) + 1 if len(t) else 0
                ix.span_frames[idx] = span
                width = min(max(span, 1), MAX_FRAME + 1)
                keys = np.sort(make_keys(h, t, 0))  # by hash, then frame
                hs = (keys >> _SHIFT_H).astype(np.int64)
                pos = at + np.minimum((keys & _MASK_F).astype(np.int64), width - 1)
                _count_into(hs, counts)
                spilled = ((hs & ((1 << low_bits) - 1)) << _SPILL_POS_BITS) | pos
                cut = np.searchsorted(hs >> low_bits, np.arange(n_parts + 1))
                for k in range(n_parts):
                    if cut[k + 1] > cut[k]:
                        outs[k].write(spilled[cut[k] : cut[k + 1]].astype(np.uint64).tobytes())
                widths.append(width)
                at += width
        base, lut = timeline(np.array(widths, np.int64))
        starts = np.zeros(len(counts), np.int64)
        np.cumsum(counts[:-1], out=starts[1:])
        total = int(starts[-1])
        dtype = np.dtype(np.uint32 if at < (1 << 32) else np.uint64)
        out_path = spill_dir / "main.npy"
        with open(out_path, "wb") as out:
            np.lib.format.write_array_header_2_0(
                out,
                {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": (total,),
                },
            )
            for k, f in enumerate(files):
                h0, h1 = k << low_bits, (k + 1) << low_bits
                region = np.empty(int(starts[h1] - starts[h0]), dtype)
                fill = starts[h0:h1] - starts[h0]
                with open(f, "rb") as part:  # read, not mapped (mapped pages count in RSS)
                    while len(chunk := np.fromfile(part, np.uint64, count=1 << 25)):
                        # assets in order: each hash's positions ascend
                        _place_part(chunk, fill, region)
                out.write(region.tobytes())
                del region
                f.unlink()
        # read-only and memory-mapped, like a loaded index
        ix.main = np.load(out_path, mmap_mode="r")
        ix.starts = starts.astype(np.uint32 if total < (1 << 32) else np.int64)
        ix.base, ix.lut = base, lut
        ix.n_main_assets = len(widths)
        if tp.ENABLED:
            ix.triplets = tp.build(ix.main, ix.starts, int(base[-1]))
        return ix

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
            self._log({"op": "remove", "idx": idx})
            return True

    def _should_compact(self) -> bool:
        seg = sum(len(s) for _, s in self.segments)
        return seg > COMPACT_MIN and seg > COMPACT_FRACTION * len(self.main)

    def compact(self) -> None:
        """Merge segments into main, drop deleted assets, renumber densely."""
        with self.lock:
            live = [i for i, a in enumerate(self.asset_ids) if a is not None]
            renum = np.full(len(self.asset_ids) + 1, -1, np.int64)
            renum[live] = np.arange(len(live))
            spans = np.array([self.span_frames.get(i, 0) for i in live], np.int64)
            new_base, new_lut = timeline(spans)
            n_main = self.n_main_assets
            moved = np.full(n_main + 1, _GONE, np.int64)
            keep = renum[:n_main] >= 0
            moved[:n_main][keep] = new_base[renum[:n_main][keep]] - self.base[:n_main][keep]
            segs = [s for _, s in self.segments]
            seg = segs[0] if len(segs) == 1 else np.sort(np.concatenate(segs)) if segs else None
            if seg is None:
                seg = np.zeros(0, np.uint64)
            seg_new = renum[n_main:]
            total_frames = int(new_base[-1])
            out_starts = np.zeros((1 << fp.HASH_BITS) + 1, np.int64)
            main = np.asarray(self.main)
            starts = np.asarray(self.starts).astype(np.int64)
            args = (main, starts, self.base, self.lut, moved, seg, seg_new, new_base)
            _merge(*args, np.zeros(0, np.uint32), out_starts, True)
            np.cumsum(out_starts, out=out_starts)
            out = np.empty(
                int(out_starts[-1]), np.uint32 if total_frames < (1 << 32) else np.uint64
            )
            _merge(*args, out, out_starts, False)
            del main, seg, segs
            old_segments = [name for name, _ in self.segments if name != "bulk"]
            self.main = out
            self.starts = out_starts.astype(np.uint32 if len(out) < (1 << 32) else np.int64)
            self.base, self.lut = new_base, new_lut
            self.n_main_assets = len(live)
            self.n_hashes = {new: self.n_hashes.get(old, 0) for new, old in enumerate(live)}
            self.span_frames = {new: self.span_frames.get(old, 0) for new, old in enumerate(live)}
            self.asset_ids = [self.asset_ids[i] for i in live]
            self.idx_of = {a: i for i, a in enumerate(self.asset_ids) if a is not None}
            self.segments = []
            self._seg_all = None
            self.deleted = set()
            self._deleted_arr = np.zeros(0, np.int64)
            self.triplets = (
                tp.build(self.main, self.starts, int(self.base[-1])) if tp.ENABLED else None
            )
            if self.path is not None:
                self._atomic_save_array(self.path / "main.npy", self.main)
                self._atomic_save_array(self.path / "starts.npy", self.starts)
                self._atomic_save_array(self.path / "base.npy", self.base)
                self._save_triplets()
                self._save_manifest()
                for name in old_segments:
                    (self.path / name).unlink(missing_ok=True)

    # -- lookup --------------------------------------------------------------------------
    def ranges(self, hashes: np.ndarray) -> tuple[list[Source], np.ndarray]:
        """Where every query hash's entries are, without materializing them.

        Returns
        -------
        sources : list of Source
            ``keys[lo[i]:hi[i]]`` of every source are the stored postings of ``hashes[i]``
            (one source for the compacted main array, one for the recent segments).
        dead : np.ndarray, bool, one per asset index: tombstoned assets to skip.
        """
        h = hashes.astype(np.int64)
        with self.lock:
            main, starts, base, lut = self.main, self.starts, self.base, self.lut
            n_main = self.n_main_assets
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
                Source(
                    np.asarray(main),
                    starts[h].astype(np.int64),
                    starts[h + 1].astype(np.int64),
                    base,
                    lut,
                )
            )
        if len(seg):
            hu = h.astype(np.uint64)
            lo = np.searchsorted(seg, hu << _SHIFT_H).astype(np.int64)
            hi = np.searchsorted(seg, (hu + np.uint64(1)) << _SHIFT_H).astype(np.int64)
            sources.append(Source(seg, lo, hi, offset=n_main))
        return sources, dead

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored occurrence of every query hash.

        Returns
        -------
        owner : np.ndarray, int64 -- index into ``hashes`` of the query hash that matched
        asset_idx : np.ndarray, int64
        frame : np.ndarray, int64 -- anchor frame in the reference
        """
        sources, dead = self.ranges(hashes)
        owners, assets, frames = [], [], []
        for src in sources:
            pos, owner = _expand(src.lo, src.hi)
            a, f = src.decode(src.keys[pos])
            owners.append(owner)
            assets.append(a)
            frames.append(f)
        if not owners:
            z = np.zeros(0, np.int64)
            return z, z, z
        owner, asset, frame = (np.concatenate(x) for x in (owners, assets, frames))
        live = ~dead[np.minimum(asset, len(dead) - 1)] & (asset < len(dead))
        return owner[live], asset[live], frame[live]

    # -- persistence ---------------------------------------------------------------------
    @staticmethod
    def _atomic_save_array(dest: Path, arr: np.ndarray) -> None:
        tmp = dest.with_name(f".tmp-{os.getpid()}-{dest.name}")
        with open(tmp, "wb") as fh:
            np.save(fh, np.ascontiguousarray(arr))
        os.replace(tmp, dest)

    def _journal(self) -> Path:
        assert self.path is not None
        return self.path / f"journal-{self.generation}.jsonl"

    def _log(self, entry: dict[str, object]) -> None:
        """Record one add or remove: a line appended to the journal (cost independent of
        the catalog), and manifest.json rewritten with everything once the journal has
        grown to a fraction of the assets (amortized: a constant per change)."""
        if self.path is None:
            return
        if self._stamp is None or self._journal_n >= max(
            JOURNAL_MIN, JOURNAL_FRACTION * len(self.asset_ids)
        ):
            self._save_manifest()
            return
        # one write per line, led by a newline: a line torn by a crash stays a line of
        # its own, which load() skips (its asset file may exist; the asset does not)
        with open(self._journal(), "a") as fh:
            fh.write("\n" + json.dumps(entry))
        self._journal_n += 1
        self._stamp = self._disk_stamp()

    def _disk_stamp(self) -> tuple[int, int] | None:
        assert self.path is not None
        try:
            m = (self.path / "manifest.json").stat().st_mtime_ns
        except OSError:
            return None
        try:
            j = self._journal().stat().st_size
        except OSError:
            j = -1
        return (m, j)

    def _save_triplets(self) -> None:
        assert self.path is not None
        if self.triplets is None:
            for name in ("triplet-starts.npy", "triplet-post.npy"):
                (self.path / name).unlink(missing_ok=True)
            return
        self._atomic_save_array(self.path / "triplet-starts.npy", self.triplets.starts)
        self._atomic_save_array(self.path / "triplet-post.npy", self.triplets.post)

    def _save_manifest(self) -> None:
        """Checkpoint: everything into a new manifest.json of the next generation (atomic),
        then the previous generation's journal, now included, is removed."""
        if self.path is None:
            return
        old_journal = self._journal()
        m = {
            "version": fp.VERSION,
            "generation": self.generation + 1,
            "asset_ids": self.asset_ids,
            "n_hashes": {str(k): v for k, v in self.n_hashes.items()},
            "span_frames": {str(k): v for k, v in self.span_frames.items()},
            "segments": [name for name, _ in self.segments],
            "deleted": sorted(self.deleted),
            "n_main": int(len(self.main)),
            "layout": LAYOUT,
            "n_main_assets": self.n_main_assets,
        }
        if self.triplets is not None:
            m["triplets"] = {
                "pos_bits": self.triplets.pos_bits,
                "n_main": self.triplets.n_main,
                "n_post": int(len(self.triplets.post)),
            }
        # a journal of that generation left by an index this one replaced is not ours
        (self.path / f"journal-{self.generation + 1}.jsonl").unlink(missing_ok=True)
        tmp = self.path / f".tmp-{os.getpid()}-manifest.json"
        tmp.write_text(json.dumps(m))
        os.replace(tmp, self.path / "manifest.json")
        self.generation += 1
        self._journal_n = 0
        old_journal.unlink(missing_ok=True)
        self.mtime = (self.path / "manifest.json").stat().st_mtime
        self._stamp = self._disk_stamp()

    def _replay(self, journal: Path) -> None:
        """Apply the journal's entries (load); torn or foreign lines are skipped."""
        try:
            lines = journal.read_text().split("\n")
        except FileNotFoundError:
            return
        for line in lines:
            try:
                e = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                continue
            if not isinstance(e, dict):
                continue
            self._journal_n += 1
            idx = int(e["idx"])
            if e["op"] == "add" and idx == len(self.asset_ids):
                try:
                    keys = np.load(self.path / e["seg"])
                except OSError:
                    continue
                self.asset_ids.append(e["id"])
                self.idx_of[e["id"]] = idx
                self.n_hashes[idx] = int(e["n"])
                self.span_frames[idx] = int(e["span"])
                self.segments.append((e["seg"], keys))
            elif e["op"] == "remove" and idx < len(self.asset_ids):
                aid = self.asset_ids[idx]
                if aid is not None:
                    self.idx_of.pop(aid, None)
                    self.asset_ids[idx] = None
                    self.n_hashes.pop(idx, None)
                    self.span_frames.pop(idx, None)
                    self.deleted.add(idx)
        self._deleted_arr = np.array(sorted(self.deleted), np.int64)

    def save(self) -> None:
        """Persist everything (normally done incrementally by add/remove/compact)."""
        if self.path is None:
            return
        with self.lock:
            self.path.mkdir(parents=True, exist_ok=True)
            self._atomic_save_array(self.path / "main.npy", self.main)
            self._atomic_save_array(self.path / "starts.npy", self.starts)
            self._atomic_save_array(self.path / "base.npy", self.base)
            self._save_triplets()
            for name, keys in self.segments:
                self._atomic_save_array(self.path / name, keys)
            self._save_manifest()

    @classmethod
    def load(cls, path: Path) -> FingerprintIndex | None:
        """The index persisted under ``path``; None when absent, stale or unreadable."""
        mf = path / "manifest.json"
        try:
            m = json.loads(mf.read_text())
            if m.get("version") != fp.VERSION or m.get("layout") != LAYOUT:
                return None
            ix = cls(path)
            ix.mtime = mf.stat().st_mtime
            ix.asset_ids = list(m["asset_ids"])
            ix.idx_of = {a: i for i, a in enumerate(ix.asset_ids) if a is not None}
            ix.n_hashes = {int(k): int(v) for k, v in m.get("n_hashes", {}).items()}
            ix.span_frames = {int(k): int(v) for k, v in m.get("span_frames", {}).items()}
            ix.deleted = set(m.get("deleted", []))
            ix._deleted_arr = np.array(sorted(ix.deleted), np.int64)
            ix.n_main_assets = int(m["n_main_assets"])
            if ix.n_main_assets:
                ix.main = np.load(path / "main.npy", mmap_mode="r")
                ix.starts = np.load(path / "starts.npy")
                ix.base = np.load(path / "base.npy")
                ix.lut = lut_of(ix.base)
                if len(ix.main) != m["n_main"] or len(ix.base) != ix.n_main_assets + 1:
                    return None
                ix.triplets = _load_triplets(path, m.get("triplets"), len(ix.main))
            ix.segments = [(name, np.load(path / name)) for name in m.get("segments", [])]
            ix.generation = int(m.get("generation", 0))
            ix._replay(ix._journal())
            ix._stamp = ix._disk_stamp()
            return ix
        except (OSError, ValueError, KeyError, json.JSONDecodeError):
            return None

    def changed_on_disk(self) -> bool:
        """True when another process updated the persisted index since we loaded it."""
        if self.path is None:
            return False
        stamp = self._disk_stamp()
        return stamp is not None and stamp != self._stamp


def _load_triplets(path: Path, meta: object, n_main: int) -> TripletIndex | None:
    """The persisted triplet shortlist when it belongs to this compacted index."""
    if not isinstance(meta, dict) or int(meta.get("n_main", -1)) != n_main:
        return None
    try:
        post = np.load(path / "triplet-post.npy", mmap_mode="r")
        starts = np.load(path / "triplet-starts.npy")
    except OSError:
        return None
    if len(post) != int(meta.get("n_post", -1)):
        return None
    return TripletIndex(starts, post, int(meta["pos_bits"]), n_main)
