"""A speed/pitch-invariant triplet shortlist beside the pair index.

A triplet is an anchor peak and the first two (in time) of the targets its pair hashes
chose: (a, b, c). Its key holds what survives a tempo change and a pitch shift:

- ``df1 = band_b - band_a``, ``df2 = band_c - band_a`` (rounded bands, as in the pair
  hash): a pitch shift moves every band by the same amount (log frequency);
- ``rq = floor(16 dt_b / dt_c)``: a tempo change scales both time differences alike;
- ``fa = band_a // 12`` (4-semitone cells) and ``ld = floor(log(dt_c) / log 1.1)``: not
  invariant, but the search range is bounded (pitch +-1 semitone, tempo 0.95-1.05), so the
  query looks up the one or two cells its range covers and the key stays selective.

Reference triplets come from the stored pair hashes themselves (each anchor's first two
targets in time), so the triplet index is derived from the compacted pair index without
re-fingerprinting. A posting is the anchor's position on the pair index's timeline with the
key's low bits in the word's spare high bits (checked on lookup): 4 bytes per triplet.

A query emits every pair of targets of every anchor (its reference counterpart kept only
the first two of its own), with the neighbouring key cells where a value lies near a cell
edge; the hits vote for (asset, alignment) cells that do not depend on the tempo to within
+-8 frames, so one pass finds the few songs worth an exact vote under the hypotheses near
their tempo, whatever the tempo and pitch of the excerpt.
bench/results/recognition_scale/session11/README.md
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from numba import njit

from tonearm.recognition import fingerprint as fp

ENABLED = False  # build the shortlist at every compaction (FingerprintIndex.compact)
KEY_BITS = 28  # fa 4 | ld 6 | rq 4 | df1 7 | df2 7
MIN_DIR_BITS = 16
# the most common keys, holding this share of all triplets, are not indexed: they say
# little about which song this is, cost most of the reads, and the index fits 2 MB/h
DROP_SHARE = 0.35
RQ_CELLS = 16
LD_BASE = 1.1  # gap cells of 10 %
FA_CELL = 12  # bands per anchor-band cell (4 semitones)
# query-side search range and tolerance
TEMPO_MIN, TEMPO_MAX = 0.95, 1.05
SHIFT_MAX_BANDS = 4  # +-1 semitone (3 bands) and a band of slack
DF_TOL = 0.15  # a band difference within this of a rounding edge looks up both roundings
RQ_TOL = 0.03  # a gap ratio within this of a cell edge looks up both cells
QUERY_FAN_OUT = 8
QUERY_FIRST = 3  # pairs among an anchor's first this many chosen targets (in time)
# the Hough over (asset, alignment at the query's centre): cells of 16 frames, two phases
CELL_SHIFT = 4
# a fine pass over the shortlist's hits finds the tempo (these, alignment cells of 4 frames)
TEMPI = np.linspace(TEMPO_MIN, TEMPO_MAX, 9)
LUT_SHIFT = 8  # index.LUT_SHIFT (not imported: the index imports this module)


@dataclass
class TripletIndex:
    """Triplet postings of the compacted pair index's assets.

    Attributes
    ----------
    starts : np.ndarray, shape (2^dir_bits + 1,), int64
        Postings of directory cell ``d`` are ``post[starts[d]:starts[d+1]]``.
    post : np.ndarray, shape (n,), uint32
        ``check << pos_bits | timeline position`` (``check``: the key's low bits).
    pos_bits : int
        Bits of a timeline position; the key's ``32 - pos_bits`` low bits are the check.
    n_main : int
        Postings of the pair index it was built from (to detect a stale copy).
    """

    starts: np.ndarray
    post: np.ndarray
    pos_bits: int
    n_main: int

    @property
    def check_bits(self) -> int:
        return KEY_BITS - self.dir_bits

    @property
    def dir_bits(self) -> int:
        return int(len(self.starts) - 1).bit_length() - 1

    @property
    def nbytes(self) -> int:
        return int(np.asarray(self.starts).nbytes + np.asarray(self.post).nbytes)


def geometry(timeline_frames: int) -> tuple[int, int] | None:
    """(pos_bits, dir_bits) for a timeline of that many frames; None: too long for 4 bytes."""
    pos_bits = max(1, int(max(1, timeline_frames) - 1).bit_length())
    check_bits = min(KEY_BITS - MIN_DIR_BITS, 32 - pos_bits)
    if check_bits < 0:
        return None
    return pos_bits, KEY_BITS - check_bits


def _ld_cell(dt: np.ndarray | float) -> np.ndarray:
    return np.floor(np.log(np.maximum(dt, 1.0)) / math.log(LD_BASE) + 1e-9).astype(np.int64)


@njit(cache=True, nogil=True)
def _pack_key(fa: int, ld: int, rq: int, df1: int, df2: int) -> np.int64:  # pragma: no cover
    return np.int64(
        (fa << 24) | (ld << 18) | (rq << 14) | ((df1 + fp.DF_MAX) << 7) | (df2 + fp.DF_MAX)
    )


@njit(cache=True, nogil=True)
def _ref_triplets(
    sorted_keys: np.ndarray, ld_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Triplet keys and anchor positions from pair postings sorted by ``pos << 21 | band
    << 13 | dt << 7 | df + 63`` (an anchor's targets in time order, then band)."""
    n = len(sorted_keys)
    keys = np.empty(n, np.int64)
    pos = np.empty(n, np.int64)
    m = 0
    i = 0
    while i < n:
        g = sorted_keys[i] >> np.int64(13)  # (pos, band) of the anchor
        j = i + 1
        while j < n and (sorted_keys[j] >> np.int64(13)) == g:
            j += 1
        if j - i >= 2:
            kb = sorted_keys[i]
            kc = sorted_keys[i + 1]
            band = (kb >> np.int64(13)) & np.int64(0xFF)
            dtb = (kb >> np.int64(7)) & np.int64(0x3F)
            dtc = (kc >> np.int64(7)) & np.int64(0x3F)
            dfb = (kb & np.int64(0x7F)) - fp.DF_MAX
            dfc = (kc & np.int64(0x7F)) - fp.DF_MAX
            rq = min(RQ_CELLS - 1, (RQ_CELLS * dtb) // max(1, dtc))
            keys[m] = _pack_key(band // FA_CELL, ld_of[dtc], rq, dfb, dfc)
            pos[m] = g >> np.int64(8)
            m += 1
        i = j
    return keys[:m], pos[:m]


def ref_triplets_of_pairs(
    hashes: np.ndarray, positions: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Reference triplets of pair postings (any order).

    Parameters
    ----------
    hashes : np.ndarray, shape (n,), uint32
        Pair hashes (``fp.pair_hashes``).
    positions : np.ndarray, shape (n,), int
        Each pair's anchor position (a frame, or a position on the index timeline).

    Returns
    -------
    keys : np.ndarray, shape (m,), int64 -- 28-bit triplet keys
    positions : np.ndarray, shape (m,), int64 -- the anchors' positions
    """
    h = np.asarray(hashes).astype(np.int64)
    band = h >> (fp.DF_BITS + fp.DT_BITS)
    df = (h >> fp.DT_BITS) & ((1 << fp.DF_BITS) - 1)
    dt = h & ((1 << fp.DT_BITS) - 1)
    k = (np.asarray(positions).astype(np.int64) << 21) | (band << 13) | (dt << 7) | df
    k.sort()
    return _ref_triplets(k, _LD_OF)


_LD_OF = _ld_cell(np.arange(1 << fp.DT_BITS, dtype=np.float64))


@njit(cache=True, nogil=True)
def _pairs_before(
    main: np.ndarray, starts: np.ndarray, cursor: np.ndarray, p1: int, out: np.ndarray
) -> int:  # pragma: no cover - compiled
    """Pair postings from each hash's ``cursor`` up to timeline position ``p1``, as ``pos
    << 21 | band << 13 | dt << 7 | df`` keys (hash bits reordered: an anchor's targets sort
    by time); count only when ``out`` is empty, else fill it and move ``cursor`` past them.

    A hash's positions ascend (``FingerprintIndex``), so consecutive calls with a growing
    ``p1`` read every posting once: the build is linear in the index, not in its square."""
    m = 0
    fill = len(out) > 0
    for hsh in range(len(starts) - 1):
        j = cursor[hsh]
        b = starts[hsh + 1]
        if j >= b or np.int64(main[j]) >= p1:
            continue
        low = np.int64((hsh >> fp.DT_BITS) & ((1 << fp.DF_BITS) - 1))
        low |= np.int64(hsh & ((1 << fp.DT_BITS) - 1)) << np.int64(7)
        low |= np.int64(hsh >> (fp.DF_BITS + fp.DT_BITS)) << np.int64(13)
        while j < b:
            p = np.int64(main[j])
            if p >= p1:
                break
            if fill:
                out[m] = (p << np.int64(21)) | low
            m += 1
            j += 1
        if fill:
            cursor[hsh] = j
    return m


def build(
    main: np.ndarray, starts: np.ndarray, timeline_frames: int, chunk_postings: int = 1 << 25
) -> TripletIndex | None:
    """The triplet index of a compacted pair index (``FingerprintIndex.main`` / ``starts``).

    The pair postings are read back by timeline range, ~``chunk_postings`` keys a range,
    each posting once over all ranges (:func:`_pairs_before`); the triplets are sorted
    packed (key << 32 | position), so RAM stays ~12 bytes per triplet plus 8 x
    ``chunk_postings``. None when the timeline is too long for 4-byte triplet postings.
    """
    geo = geometry(timeline_frames)
    if geo is None:
        return None
    pos_bits, dir_bits = geo
    check_bits = KEY_BITS - dir_bits
    main = np.asarray(main)
    st = np.asarray(starts).astype(np.int64)
    n_chunks = max(1, -(-len(main) // chunk_postings))
    step = -(-max(1, timeline_frames) // n_chunks)
    parts = []
    cursor = st[:-1].copy()  # each hash's first posting not read yet
    for c in range(n_chunks):
        p1 = timeline_frames if c == n_chunks - 1 else (c + 1) * step
        n = _pairs_before(main, st, cursor, p1, np.zeros(0, np.int64))
        buf = np.empty(n, np.int64)
        _pairs_before(main, st, cursor, p1, buf)
        buf.sort()
        k, p = _ref_triplets(buf, _LD_OF)
        del buf
        parts.append((k << 32) | p)  # key, then position: sorts by (cell, posting)
        del k, p
    packed = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    del parts
    packed.sort()  # in place: ~8 bytes per triplet, plus 4 for the output
    cut = _common_cut(packed, DROP_SHARE)
    counts = np.zeros((1 << dir_bits) + 1, np.int64)
    post = np.empty(len(packed), np.uint32)
    m = _place(packed, cut, check_bits, pos_bits, counts, post)
    del packed
    np.cumsum(counts, out=counts)  # now the directory: cell d's postings start at counts[d]
    out_starts = counts.astype(np.uint32 if m < (1 << 32) else np.int64)
    return TripletIndex(out_starts, post[:m].copy(), pos_bits, int(len(main)))


@njit(cache=True, nogil=True)
def _run_lengths(packed: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """How many keys (``packed >> 32``) hold each number of triplets (index: count)."""
    hist = np.zeros(64, np.int64)
    i = 0
    n = len(packed)
    while i < n:
        k = packed[i] >> 32
        j = i + 1
        while j < n and (packed[j] >> 32) == k:
            j += 1
        c = j - i
        if c >= len(hist):
            h2 = np.zeros(2 * c, np.int64)
            h2[: len(hist)] = hist
            hist = h2
        hist[c] += 1
        i = j
    return hist


def _common_cut(packed: np.ndarray, share: float) -> int:
    """Keys with at least this many triplets are dropped: the fewest whole keys, most
    common first, that hold ``share`` of all triplets (no key when ``share`` <= 0)."""
    if share <= 0 or len(packed) == 0:
        return 1 << 62
    hist = _run_lengths(packed)
    weight = hist * np.arange(len(hist))
    above = np.cumsum(weight[::-1])[::-1]  # triplets in keys with count >= c
    ok = np.flatnonzero(above >= share * len(packed))
    return int(ok[-1]) if len(ok) else 1 << 62


@njit(cache=True, nogil=True)
def _place(
    packed: np.ndarray,
    cut: int,
    check_bits: int,
    pos_bits: int,
    counts: np.ndarray,
    post: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Postings of the keys with fewer than ``cut`` triplets, in (cell, posting) order, and
    the count of every directory cell (``counts[cell + 1]``). Returns how many."""
    m = 0
    i = 0
    n = len(packed)
    cmask = (np.int64(1) << np.int64(check_bits)) - 1
    while i < n:
        k = packed[i] >> 32
        j = i + 1
        while j < n and (packed[j] >> 32) == k:
            j += 1
        if j - i < cut:
            d = k >> np.int64(check_bits)
            counts[d + 1] += j - i
            for r in range(i, j):
                p = packed[r] & np.int64(0xFFFFFFFF)
                post[m] = np.uint32(((k & cmask) << np.int64(pos_bits)) | p)
                m += 1
        i = j
    return m


@njit(cache=True, nogil=True)
def _query_triplets(
    t: np.ndarray, f: np.ndarray, strength: np.ndarray, window: int, fan_out: int, first: int
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Every anchor's ``fan_out`` strongest targets in the zone widened to the tempo range,
    every pair of them in (time, band) order: rows (anchor, b, c)."""
    n = len(t)
    dt_lo = int(math.floor(fp.DT_MIN * TEMPO_MIN))
    dt_hi = int(math.ceil(fp.DT_MAX * TEMPO_MAX))
    out = np.empty((n * fan_out * (fan_out - 1) // 2, 3), np.int64)
    cand = np.empty(window, np.int64)
    chosen = np.empty(window, np.bool_)
    sel = np.empty(fan_out, np.int64)
    m = 0
    for i in range(n):
        fa = np.rint(f[i])
        nc = 0
        for k in range(1, window + 1):
            j = i + k
            if j >= n:
                break
            dt = t[j] - t[i]
            if dt < dt_lo or dt > dt_hi or abs(np.rint(f[j]) - fa) > fp.DF_MAX:
                continue
            cand[nc] = j
            nc += 1
        fp.strongest_targets(strength, cand, nc, fan_out, chosen)
        ns = 0
        for c in range(nc):
            if chosen[c]:
                sel[ns] = cand[c]
                ns += 1
        # candidates come in peak order (time, then band): so do the pairs
        ns = min(ns, first)
        for x in range(ns):
            for y in range(x + 1, ns):
                out[m, 0] = i
                out[m, 1] = sel[x]
                out[m, 2] = sel[y]
                m += 1
    return out[:m], out[:m, 0].copy()


def _roundings(d: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) integer candidates of a difference of two rounded bands."""
    lo = np.floor(d)
    frac = d - lo
    r = np.rint(d)
    both = (frac > tol) & (frac < 1.0 - tol)
    return np.where(both, lo, r).astype(np.int64), np.where(both, lo + 1, r).astype(np.int64)


def query_keys(peaks: fp.Peaks) -> tuple[np.ndarray, np.ndarray]:
    """Triplet keys a query looks up (every cell its tempo/pitch range can reach).

    Returns
    -------
    keys : np.ndarray, shape (m,), int64
    t_anchor : np.ndarray, shape (m,), int64 -- query anchor frame of every key
    """
    n = len(peaks.t)
    if n < 3:
        z = np.zeros(0, np.int64)
        return z, z
    window = fp.target_window(peaks, fp.DT_MAX * TEMPO_MAX)
    t = np.ascontiguousarray(peaks.t, dtype=np.int64)
    f = np.ascontiguousarray(peaks.f, dtype=np.float64)
    rows, _ = _query_triplets(
        t, f, np.ascontiguousarray(peaks.strength, np.float32), window, QUERY_FAN_OUT, QUERY_FIRST
    )
    if len(rows) == 0:
        z = np.zeros(0, np.int64)
        return z, z
    a, b, c = rows[:, 0], rows[:, 1], rows[:, 2]
    fa = np.rint(f[a])
    d1 = f[b] - f[a]
    d2 = f[c] - f[a]
    dtb = (t[b] - t[a]).astype(np.float64)
    dtc = (t[c] - t[a]).astype(np.float64)
    dims = [
        _roundings(d1, DF_TOL),
        _roundings(d2, DF_TOL),
        (
            np.clip(np.floor(RQ_CELLS * (dtb / dtc - RQ_TOL)), 0, RQ_CELLS - 1).astype(np.int64),
            np.clip(np.floor(RQ_CELLS * (dtb / dtc + RQ_TOL)), 0, RQ_CELLS - 1).astype(np.int64),
        ),
        (
            (np.maximum(fa - SHIFT_MAX_BANDS, 0) // FA_CELL).astype(np.int64),
            (np.minimum(fa + SHIFT_MAX_BANDS, fp.N_BANDS - 1) // FA_CELL).astype(np.int64),
        ),
        (_ld_cell(dtc * TEMPO_MIN - 0.5), _ld_cell(dtc * TEMPO_MAX + 0.5)),
    ]
    keys, who = _expand_keys(
        np.stack([x[0] for x in dims], 1),
        np.stack([x[1] for x in dims], 1),
    )
    ok = (np.abs(d1) <= fp.DF_MAX + 1) & (np.abs(d2) <= fp.DF_MAX + 1)
    keep = ok[who]
    return keys[keep], t[a][who[keep]]


@njit(cache=True, nogil=True)
def _expand_keys(
    lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Every key in the box lo..hi (columns df1, df2, rq, fa, ld), and its row."""
    n = len(lo)
    total = 0
    for i in range(n):
        c = 1
        for k in range(5):
            c *= hi[i, k] - lo[i, k] + 1
        total += c
    keys = np.empty(total, np.int64)
    who = np.empty(total, np.int64)
    m = 0
    for i in range(n):
        d1lo = max(lo[i, 0], -fp.DF_MAX)
        d1hi = min(hi[i, 0], fp.DF_MAX)
        d2lo = max(lo[i, 1], -fp.DF_MAX)
        d2hi = min(hi[i, 1], fp.DF_MAX)
        for d1 in range(d1lo, d1hi + 1):
            for d2 in range(d2lo, d2hi + 1):
                for rq in range(lo[i, 2], hi[i, 2] + 1):
                    for fa in range(lo[i, 3], hi[i, 3] + 1):
                        for ld in range(lo[i, 4], min(hi[i, 4], 63) + 1):
                            keys[m] = _pack_key(fa, ld, rq, d1, d2)
                            who[m] = i
                            m += 1
    return keys[:m], who[:m]


@njit(cache=True, nogil=True)
def _lookup(
    starts: np.ndarray,
    post: np.ndarray,
    pos_bits: int,
    check_bits: int,
    keys: np.ndarray,
    tq: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """(timeline position, query frame) of every posting whose key equals a query key."""
    cap = 4096
    pos = np.empty(cap, np.int64)
    qf = np.empty(cap, np.int64)
    m = 0
    pmask = (np.int64(1) << np.int64(pos_bits)) - 1
    cmask = (np.int64(1) << np.int64(check_bits)) - 1
    for i in range(len(keys)):
        d = keys[i] >> np.int64(check_bits)
        chk = keys[i] & cmask
        for j in range(starts[d], starts[d + 1]):
            v = np.int64(post[j])
            if (v >> np.int64(pos_bits)) != chk:
                continue
            if m == cap:
                cap *= 2
                pos2 = np.empty(cap, np.int64)
                qf2 = np.empty(cap, np.int64)
                pos2[:m] = pos[:m]
                qf2[:m] = qf[:m]
                pos, qf = pos2, qf2
            pos[m] = v & pmask
            qf[m] = tq[i]
            m += 1
    return pos[:m], qf[:m]


@dataclass
class Shortlisted:
    asset_idx: int
    votes: int  # distinct query anchors in its best alignment cell
    tempo: float  # the tempo of its best fine cell (query vs reference)


@njit(cache=True, nogil=True)
def _coarse_votes(
    pos: np.ndarray,
    qf: np.ndarray,
    tc: int,
    base: np.ndarray,
    lut: np.ndarray,
    lut_shift: int,
    dead: np.ndarray,
    min_votes: int,
    tab_key: np.ndarray,
    tab_state: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Distinct query anchors per (asset, alignment of the query's centre) cell, 16-frame
    cells in two phases, from hits ordered by query frame (an anchor is counted once per
    cell: each cell remembers the last anchor it counted).

    ``tab_key`` (all -1) / ``tab_state`` are an open-addressing table of a power-of-two
    size >= 4 x hits, left all -1 / 0 again on return (only the slots used are reset).
    Returns the asset of every hit (-1: dead) and every asset's best cell votes (0 for
    the assets with fewer than ``min_votes`` hits)."""
    n = len(pos)
    mask = np.uint64(len(tab_key) - 1)
    used = np.empty(2 * n, np.int64)
    n_used = 0
    asset = np.empty(n, np.int64)
    n_assets = len(base) - 1
    best = np.zeros(n_assets, np.int32)
    n_hits = np.zeros(n_assets, np.int32)
    for i in range(n):
        p = pos[i]
        a = lut[p >> lut_shift]
        while a + 1 < len(base) and base[a + 1] <= p:
            a += 1
        if a < 0 or a >= n_assets or (a < len(dead) and dead[a]):
            asset[i] = -1
            continue
        asset[i] = a
        n_hits[a] += 1
    for i in range(n):
        a = asset[i]
        # an asset with fewer hits than min_votes cannot reach it in a cell: its hits
        # stay out of the table (most of a large catalog's assets, and most hits)
        if a < 0 or n_hits[a] < min_votes:
            continue
        p = pos[i]
        local = max(0, p + (tc - qf[i]) - base[a] + (1 << 12))
        for ph in range(2):
            cell = (a << 22) | (((local + ph * 8) >> 4) << 1) | ph
            h = np.int64((np.uint64(cell) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32) & mask)
            while tab_key[h] != -1 and tab_key[h] != cell:
                h = (h + 1) & np.int64(mask)
            if tab_key[h] == -1:
                tab_key[h] = cell
                used[n_used] = h
                n_used += 1
            st = tab_state[h]
            if (st >> 32) != qf[i] + 1:  # state: (last anchor + 1) << 32 | count
                st = ((qf[i] + 1) << 32) | ((st & 0xFFFFFFFF) + 1)
                tab_state[h] = st
                if (st & 0xFFFFFFFF) > best[a]:
                    best[a] = st & 0xFFFFFFFF
    for k in range(n_used):
        tab_key[used[k]] = -1
        tab_state[used[k]] = 0
    return asset, best


_tables = threading.local()
TABLE_KEEP = 1 << 22  # slots of the vote table a thread keeps (48 MB); larger: a fresh one


def _table(n_hits: int) -> tuple[np.ndarray, np.ndarray]:
    """An empty vote table (keys -1, states 0) for ``n_hits`` hits."""
    size = 1 << 12
    while size < 4 * n_hits:
        size <<= 1
    got = getattr(_tables, "value", None)
    if got is not None and len(got[0]) >= size:
        return got
    fresh = (np.full(size, -1, np.int64), np.zeros(size, np.int64))
    if size <= TABLE_KEEP:
        _tables.value = fresh
    return fresh


def shortlist(
    tix: TripletIndex,
    base: np.ndarray,
    lut: np.ndarray,
    dead: np.ndarray,
    peaks: fp.Peaks,
    *,
    max_assets: int = 4,
    min_votes: int = 3,
) -> tuple[list[Shortlisted], int]:
    """The assets whose triplets line up with the query's, best first, and their tempo.

    Parameters
    ----------
    tix : TripletIndex
    base, lut : np.ndarray, int64 -- the pair index's timeline (``FingerprintIndex``)
    dead : np.ndarray, bool -- tombstoned assets (skipped)
    peaks : fp.Peaks -- query peaks

    Returns
    -------
    (shortlist, postings read)
    """
    keys, tq = query_keys(peaks)  # in query-frame order, which the vote relies on
    if len(keys) == 0 or len(tix.post) == 0:
        return [], 0
    pos, qf = _lookup(
        np.asarray(tix.starts), np.asarray(tix.post), tix.pos_bits, tix.check_bits, keys, tq
    )
    n_read = len(pos)
    if n_read == 0:
        return [], 0
    tc = int(peaks.t[0] + peaks.t[-1]) // 2
    # the alignment of the query's centre moves by at most 5 % x half the query (<= 8
    # frames for 10 s) over the tempo range: 16-frame cells, two phases
    asset_of, best = _coarse_votes(
        pos, qf, tc, base, lut, LUT_SHIFT, dead, min_votes, *_table(n_read)
    )
    hit = np.unique(asset_of[asset_of >= 0])
    v = best[hit]
    order = np.argsort(-v, kind="stable")[:max_assets]
    out = []
    for k in order:
        if v[k] < min_votes:
            break
        a = int(hit[k])
        sel = asset_of == a
        p, q = pos[sel], qf[sel]
        tempo, top_v = 1.0, -1
        for tmp in TEMPI:
            off = p - np.rint(tmp * q).astype(np.int64)
            for ph in (0, 2):
                u = np.unique((((off + ph) >> 2) << 12) | (q & 0xFFF))
                _, c = np.unique(u >> 12, return_counts=True)
                if len(c) and int(c.max()) > top_v:
                    top_v, tempo = int(c.max()), float(tmp)
        out.append(Shortlisted(a, int(v[k]), tempo))
    return out, n_read
