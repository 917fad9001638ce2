"""Matching: query hashes under a few tempo/pitch hypotheses, offset-consistent voting.

For each hypothesis (tempo ``a``, pitch shift ``p`` bands) the query's peaks are mapped
into the reference's frame of reference (time differences x a, bands - p) and hashed;
every hit ``(asset, ref_frame)`` of a query hash anchored at query frame ``tq`` votes for
the alignment ``offset = ref_frame - a * tq``. A true match piles its votes onto one
(asset, hypothesis, offset) cell; chance hits spread over all of them.

Voting is compiled (numba) and never sorts all hits: hits are bucketed by (asset,
hypothesis) with a counting sort, every bucket gets a cheap upper bound of its best
cell's votes (hits in two adjacent 8-frame offset bins), and only buckets whose bound can
still reach the leading assets are evaluated exactly, best bound first. The result is
the same as exhaustive voting (up to ties) at a fraction of the cost.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit

from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import (
    FRAME_BITS,
    LUT_SHIFT,
    FingerprintIndex,
    Source,
    _expand,
    decode_key,
)


def _hypotheses() -> list[tuple[float, float]]:
    """(tempo, shift_bands): identity first, then tempo-only, pitch-only and speed lines.

    Grid steps keep the worst-case residual under half a quantization step: tempo steps
    of 1.25 % move a 63-frame pair by <= 0.4 frame, pitch steps of 1/4 semitone move a
    peak by <= 0.375 band.
    """
    bps = fp.BANDS_PER_SEMITONE
    hyps: list[tuple[float, float]] = [(1.0, 0.0)]
    for a in (0.95, 0.9625, 0.975, 0.9875, 1.0125, 1.025, 1.0375, 1.05):
        hyps.append((a, 0.0))  # tempo only (time-stretch)
    for s in (-1.0, -0.75, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0):
        hyps.append((1.0, s * bps))  # pitch only, semitones
    for a in (0.97, 0.98, 0.99, 1.01, 1.02, 1.03):
        hyps.append((a, 12 * bps * float(np.log2(a))))  # speed: pitch moves with tempo
    return hyps


HYPOTHESES = _hypotheses()
# a query hash with more postings than CAP_FACTOR x the mean posting list (and at least
# CAP_MIN) is skipped (0: never)
CAP_FACTOR = 0.0
CAP_MIN = 256


def max_postings(index: FingerprintIndex) -> int:
    """Postings above which a query hash is not looked up (0: no cap)."""
    if CAP_FACTOR <= 0:
        return 0
    mean = index.n_keys / float(1 << fp.HASH_BITS)
    return int(max(CAP_MIN, CAP_FACTOR * mean))


_TEMPO = np.array([a for a, _ in HYPOTHESES])
OFFSET_BITS = 22
TQ_BITS = 12
_OFFSET_BIAS = 1 << (OFFSET_BITS - 1)


@dataclass
class Candidate:
    asset_idx: int
    hyp: int
    offset_frames: float  # reference frame aligned with query frame 0
    votes: int
    q_first: int  # first / last query frame with a consistent vote
    q_last: int
    asset_hits: int = 0  # all hits of this asset under this hypothesis (any offset)
    repeat_hits: int = 0  # hits of other cells that stand out as repeats of the passage


@dataclass
class QueryStats:
    n_hashes: int  # query hashes under the identity hypothesis
    n_candidates: int  # index hits over all hypotheses evaluated
    n_hyps: int


_hashed = threading.local()


def _hyp_hashes(peaks: fp.Peaks, i: int, fan_out: int) -> tuple[np.ndarray, np.ndarray]:
    """``fp.pair_hashes`` of ``peaks`` under hypothesis ``i``, kept for the last query
    of this thread (a query's passes hash the same hypotheses again)."""
    memo: tuple[fp.Peaks, dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]] | None
    memo = getattr(_hashed, "memo", None)
    if memo is None or memo[0] is not peaks:
        memo = (peaks, {})
        _hashed.memo = memo
    got = memo[1].get((i, fan_out))
    if got is None:
        a, p = HYPOTHESES[i]
        got = fp.pair_hashes(peaks, fan_out=fan_out, tempo=a, shift_bands=p)
        memo[1][(i, fan_out)] = got
    return got


def _hash_hypotheses(
    peaks: fp.Peaks, hyp_ids: list[int], fan_out: int, anchor_stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hs, ts, ids = [], [], []
    for i in hyp_ids:
        h, t = _hyp_hashes(peaks, i, fan_out)
        if anchor_stride > 1:  # a probe: the hashes of every ``anchor_stride``-th frame
            keep = t % anchor_stride == 0
            h, t = h[keep], t[keep]
        # one vote per distinct (hash, anchor) so a repeated pattern cannot stuff the ballot
        hs.append(h)
        ts.append(t)
        ids.append(np.full(len(h), i, np.int64))
    if not hs:
        z = np.zeros(0, np.int64)
        return z.astype(np.uint32), z, z
    return np.concatenate(hs), np.concatenate(ts).astype(np.int64), np.concatenate(ids)


def vote(
    index: FingerprintIndex,
    peaks: fp.Peaks,
    hyp_ids: list[int],
    *,
    fan_out: int = fp.QUERY_FAN_OUT,
    max_candidates: int = 5,
    anchor_stride: int = 1,
    rarest: float = 1.0,
    budget: int = 0,
) -> tuple[list[Candidate], int, int]:
    """Best (asset, hypothesis, offset) cells, one per asset, most votes first.

    A cell's votes are the distinct query anchor frames whose hits agree on the offset
    (the harmonics of one note pair match together, and counting them separately would
    let a single coincidence look like a dozen independent agreements), counted with
    the two neighbouring offsets (+-1 frame of jitter).

    Query hashes whose postings outnumber ``max_postings(index)`` are not looked up: a
    pattern that common says little about which song this is, and such hashes cost most
    of a query's work in a large catalog. ``anchor_stride`` > 1 keeps the hashes of every
    ``anchor_stride``-th query frame only (a cheap probe); ``rarest`` < 1 keeps that
    share of every hypothesis' query hashes, those with the fewest postings, and
    ``budget`` > 0 stops every hypothesis' rarest hashes at that many postings
    (``rarest_hashes``).

    Returns (candidates, n_query_hashes, n_index_hits).
    """
    hashes, tq, hyp = _hash_hypotheses(peaks, hyp_ids, fan_out, anchor_stride)
    if len(hashes) == 0:
        return [], 0, 0
    sources, dead = index.ranges(hashes)
    cap = max_postings(index)
    if cap > 0 and sources:
        per_hash = sum((s.hi - s.lo for s in sources), np.zeros(len(hashes), np.int64))
        common = per_hash > cap
        if common.any():
            sources = [s._replace(hi=np.where(common, s.lo, s.hi)) for s in sources]
    if (rarest < 1.0 or budget > 0) and sources:
        per_hash = sum((s.hi - s.lo for s in sources), np.zeros(len(hashes), np.int64))
        drop = ~rarest_hashes(per_hash, hyp, rarest, budget)
        if drop.any():
            for k, s in enumerate(sources):
                sources[k] = s._replace(hi=np.where(drop, s.lo, s.hi))
    n_assets = len(dead)
    n_identity = int(np.count_nonzero(hyp == 0)) if 0 in hyp_ids else len(hashes)
    best_votes = np.zeros(n_assets, np.int64)
    best_hyp = np.zeros(n_assets, np.int64)
    best_off = np.zeros(n_assets, np.int64)
    # the compacted part (one timeline of assets) and keyed sources (segments, shared
    # backends) hold disjoint assets: each finds its own leading assets exactly
    timeline = [s for s in sources if len(s.base)]
    keyed = [s for s in sources if not len(s.base)]
    tl = _TimelineVote(timeline[0], tq, hyp, dead, max_candidates) if timeline else None
    kv = _KeyedVote(keyed, tq, hyp, dead, max_candidates) if keyed else None
    n_hits = (tl.n_hits if tl else 0) + (kv.n_hits if kv else 0)
    if n_hits == 0:
        return [], n_identity, 0
    for part in (tl, kv):
        if part is not None:
            won = part.best_votes > best_votes
            best_votes[won] = part.best_votes[won]
            best_hyp[won] = part.best_hyp[won]
            best_off[won] = part.best_off[won]
    order = np.argsort(-best_votes, kind="stable")[:max_candidates]
    out: list[Candidate] = []
    for a_idx in order:
        if best_votes[a_idx] <= 0:
            break
        h_id = int(best_hyp[a_idx])
        off = int(best_off[a_idx])
        on_timeline = tl is not None and int(a_idx) < tl.n_assets
        group = (tl if on_timeline else kv).group(int(a_idx), h_id)  # type: ignore[union-attr]
        out.append(_candidate(index, group, int(a_idx), h_id, off, int(best_votes[a_idx])))
    return out, n_identity, n_hits


def rarest_hashes(
    per_hash: np.ndarray, hyp: np.ndarray, share: float = 1.0, budget: int = 0
) -> np.ndarray:
    """Which query hashes to look up: per hypothesis, the rarest ones (fewest postings
    first), at most ``share`` of those with postings and, with ``budget`` > 0, while
    their postings add up to at most ``budget``.

    A rare hash says more about which song this is than a common one, and costs less to
    look up: a fixed budget keeps the cost of a pass flat as the catalog grows (it then
    covers a smaller share of the query), while a small catalog's pass reads the same
    hashes as without it.

    Parameters
    ----------
    per_hash : np.ndarray, shape (m,), int
        Postings of every query hash.
    hyp : np.ndarray, shape (m,), int
        Hypothesis of every query hash (a wrong hypothesis maps real pairs onto unusual,
        rare hashes: ranked over all hypotheses at once they would crowd out the right
        one's, so every hypothesis is ranked on its own).

    Returns
    -------
    keep : np.ndarray, shape (m,), bool
    """
    n = len(per_hash)
    keep = np.ones(n, bool)
    if n == 0 or (share >= 1.0 and budget <= 0):
        return keep
    bounds = np.concatenate(([0], np.flatnonzero(hyp[1:] != hyp[:-1]) + 1, [n]))
    if len(np.unique(hyp[bounds[:-1]])) == len(bounds) - 1:  # each hypothesis in one run
        _rarest_runs(
            per_hash.astype(np.int64),
            bounds.astype(np.int64),
            float(share),
            int(budget),
            keep,
        )
        return keep
    # hashes absent from the index cost nothing and cannot vote: the share is of the rest
    order = np.lexsort((per_hash, hyp))
    h_sorted = hyp[order]
    p_sorted = per_hash[order]
    first = np.searchsorted(h_sorted, h_sorted, side="left")
    n_absent = np.bincount(hyp, weights=per_hash == 0).astype(np.int64)[h_sorted]
    rank = np.arange(n) - first - n_absent  # among the hashes with postings
    n_of = np.bincount(hyp)[h_sorted] - n_absent
    out = rank >= np.ceil(share * n_of)
    if budget > 0:
        c = np.cumsum(p_sorted)
        cum = c - (c[first] - p_sorted[first])  # within the hypothesis, inclusive
        out |= cum > budget
    keep[order[out]] = False
    return keep


@njit(cache=True, nogil=True)
def _rarest_runs(
    per_hash: np.ndarray, bounds: np.ndarray, share: float, budget: int, keep: np.ndarray
) -> None:  # pragma: no cover - compiled
    """``rarest_hashes`` when every hypothesis is one run ``bounds[k]:bounds[k+1]``: a
    stable sort per run instead of one over all the query's hashes."""
    for k in range(len(bounds) - 1):
        s0 = bounds[k]
        s1 = bounds[k + 1]
        order = np.argsort(per_hash[s0:s1], kind="mergesort")
        n_absent = 0
        for j in range(s0, s1):
            if per_hash[j] == 0:
                n_absent += 1
        lim = np.ceil(share * (s1 - s0 - n_absent))
        cum = 0
        for r in range(s1 - s0):
            j = s0 + order[r]
            cum += per_hash[j]
            if r - n_absent >= lim or (budget > 0 and cum > budget):
                keep[j] = False


def vote_assets(
    index: FingerprintIndex,
    peaks: fp.Peaks,
    hyp_ids: list[int],
    assets: list[int],
    *,
    fan_out: int = fp.QUERY_FAN_OUT,
    max_candidates: int = 5,
) -> list[Candidate]:
    """``vote`` restricted to a few assets: their candidates, exactly as ``vote`` finds
    them (votes, cell, hits, repeats), from only their postings.

    On the compacted timeline an asset's postings of one hash are one run of positions
    (``base[a] .. base[a+1]``), found by binary search: the cost follows the query and
    the number of assets, not the catalog. Segment and shared-backend postings are
    filtered by asset instead.
    """
    hashes, tq, hyp = _hash_hypotheses(peaks, hyp_ids, fan_out)
    live = [a for a in sorted(set(assets)) if 0 <= a < len(index.asset_ids)]
    if len(hashes) == 0 or not live:
        return []
    sources, dead = index.ranges(hashes)
    wanted = np.array([a for a in live if not dead[a]], np.int64)
    if len(wanted) == 0:
        return []
    n_q = len(hashes)
    parts: list[np.ndarray] = []  # (query hash, local asset << FRAME_BITS | frame) keys
    owners: list[np.ndarray] = []
    for s in sources:
        if len(s.base):
            # the compacted assets (0 .. len(base) - 2) are a prefix of the sorted wanted
            w = wanted[wanted < len(s.base) - 1]
            pos, owner = _runs_of(s.keys, s.lo, s.hi, s.base[w], s.base[w + 1])
            a_loc = np.searchsorted(s.base[w], pos, side="right") - 1
            frame = pos - s.base[w][a_loc]
        else:
            pos, owner = _expand(s.lo, s.hi)
            a_all, frame = s.decode(s.keys[pos])
            keep = np.isin(a_all, wanted)
            owner, frame = owner[keep], frame[keep]
            a_loc = np.searchsorted(wanted, a_all[keep])
        parts.append((a_loc.astype(np.uint64) << np.uint64(FRAME_BITS)) | frame.astype(np.uint64))
        owners.append(owner)
    owner = np.concatenate(owners)
    order = np.argsort(owner, kind="stable")
    keys = np.concatenate(parts)[order]
    bounds = np.searchsorted(owner[order], np.arange(n_q + 1))
    src = Source(keys, bounds[:-1].astype(np.int64), bounds[1:].astype(np.int64))
    kv = _KeyedVote([src], tq, hyp, np.zeros(len(wanted), bool), max_candidates)
    if kv.n_hits == 0:
        return []
    order_a = np.argsort(-kv.best_votes, kind="stable")[:max_candidates]
    out: list[Candidate] = []
    for a_loc in order_a:
        if kv.best_votes[a_loc] <= 0:
            break
        a_idx = int(wanted[a_loc])
        out.append(
            _candidate(
                index,
                kv.group(int(a_loc), int(kv.best_hyp[a_loc])),
                a_idx,
                int(kv.best_hyp[a_loc]),
                int(kv.best_off[a_loc]),
                int(kv.best_votes[a_loc]),
            )
        )
    return out


def _candidate(
    index: FingerprintIndex, group: np.ndarray, a_idx: int, h_id: int, off: int, votes: int
) -> Candidate:
    g_off = (group >> TQ_BITS) - _OFFSET_BIAS
    sel = np.abs(g_off - off) <= 1
    q_frames = group[sel] & ((1 << TQ_BITS) - 1)
    span = index.span_frames.get(a_idx, 0) + int(q_frames.max() - q_frames.min()) + 1
    return Candidate(
        asset_idx=a_idx,
        hyp=h_id,
        offset_frames=float(np.median(g_off[sel])),
        votes=votes,
        q_first=int(q_frames.min()),
        q_last=int(q_frames.max()),
        asset_hits=len(group),
        repeat_hits=_repeat_hits(group, off, votes, len(group), span),
    )


@njit(cache=True, nogil=True)
def _runs_of(
    keys: np.ndarray, lo: np.ndarray, hi: np.ndarray, a_lo: np.ndarray, a_hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Positions in [a_lo[k], a_hi[k]) (sorted, disjoint runs) among every hash's sorted
    postings ``keys[lo[i]:hi[i]]``, by binary search, and the hash each came from.

    One pass: the search for the next run starts where the previous one ended, and a
    hash's search stops at the end of its postings."""
    cap = 1024
    pos = np.empty(cap, np.int64)
    own = np.empty(cap, np.int64)
    m = 0
    n_a = len(a_lo)
    for i in range(len(lo)):
        j = lo[i]
        end = hi[i]
        for k in range(n_a):
            if j >= end:
                break
            # first posting >= a_lo[k] in [j, end)
            x, y = j, end
            while x < y:
                mid = (x + y) >> 1
                if keys[mid] < a_lo[k]:
                    x = mid + 1
                else:
                    y = mid
            j = x
            if j >= end or keys[j] >= a_hi[k]:
                continue
            while j < end and keys[j] < a_hi[k]:
                if m == cap:
                    cap *= 2
                    pos2 = np.empty(cap, np.int64)
                    own2 = np.empty(cap, np.int64)
                    pos2[:m] = pos[:m]
                    own2[:m] = own[:m]
                    pos, own = pos2, own2
                pos[m] = keys[j]
                own[m] = i
                m += 1
                j += 1
    return pos[:m], own[:m]


class _KeyedVote:
    """Voting over sources whose keys carry the asset (segments, shared backends): hits
    bucketed by (asset, hypothesis)."""

    def __init__(
        self,
        sources: list[Source],
        tq: np.ndarray,
        hyp: np.ndarray,
        dead: np.ndarray,
        max_candidates: int,
    ) -> None:
        n_assets = len(dead)
        n_h = len(HYPOTHESES)
        self.n_h = n_h
        counts = np.zeros(n_assets * n_h + 1, np.int64)
        for s in sources:
            _count_hits(s.keys, s.lo, s.hi, s.offset, hyp, dead, n_h, counts)
        starts = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        self.n_hits = int(starts[-1])
        self.starts = starts
        vals = np.empty(self.n_hits, np.int64)
        if self.n_hits == 0:
            self.vals = vals
            self.best_votes = self.best_hyp = self.best_off = np.zeros(n_assets, np.int64)
            return
        fill = starts[:-1].copy()
        for s in sources:
            _scatter_hits(s.keys, s.lo, s.hi, s.offset, tq, hyp, _TEMPO, dead, n_h, fill, vals)
        self.vals = vals
        self.best_votes, self.best_hyp, self.best_off = _best_cells(
            vals, starts, n_assets, n_h, max_candidates
        )

    def group(self, a_idx: int, h_id: int) -> np.ndarray:
        """Every hit of one asset under one hypothesis, ``(offset + bias) << TQ_BITS | tq``."""
        ah = a_idx * self.n_h + h_id
        return self.vals[self.starts[ah] : self.starts[ah + 1]]


class _TimelineVote:
    """Voting on the compacted part's timeline without finding any posting's asset.

    A hit at timeline position ``p`` from a query hash anchored at ``tq`` under tempo
    ``a`` lands at ``g = p - rint(a * tq)`` (+ a pad keeping it >= 0): for asset ``x``
    and offset ``o`` that is ``base[x] + o``, so a cell of (asset, offset) is a cell of
    ``g``, and the hits are bucketed by (hypothesis, block of 2^BLOCK_SHIFT of ``g``)
    with no lookup at all. Each bucket gets the upper bound of ``_group_bounds`` (hits
    of two neighbouring assets may share a ``g``: that only loosens it); only buckets
    that can still reach the leading assets are evaluated, and only their hits are
    mapped to assets (through the position table), so the result is that of the keyed
    voting, exactly.
    """

    def __init__(
        self, src: Source, tq: np.ndarray, hyp: np.ndarray, dead: np.ndarray, max_candidates: int
    ) -> None:
        self.src = src
        self.n_assets = len(src.base) - 1
        cols = np.unique(hyp)
        self.col_of = {int(h): i for i, h in enumerate(cols)}
        col = np.searchsorted(cols, hyp).astype(np.int64)
        self.shift = np.rint(tq * _TEMPO[hyp]).astype(np.int64)
        self.max_shift = int(self.shift.max()) if len(self.shift) else 0
        self.pad = self.max_shift + 1
        self.n_blocks = ((int(src.base[-1]) + self.pad) >> BLOCK_SHIFT) + 1
        counts = np.zeros(len(cols) * self.n_blocks, np.int64)
        _count_tl(src.keys, src.lo, src.hi, self.pad - self.shift, col, self.n_blocks, counts)
        starts = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(counts, out=starts[1:])
        self.starts = starts
        self.n_hits = int(starts[-1])
        # valid until this thread's next timeline vote: ``vote`` is done with it by then
        vals = _scratch_vals(self.n_hits)
        fill = starts[:-1].copy()
        _scatter_tl(
            src.keys, src.lo, src.hi, self.pad - self.shift, tq, col, self.n_blocks, fill, vals
        )
        self.vals = vals
        self.cols = cols
        self.best_votes, self.best_hyp, self.best_off = _best_cells_tl(
            vals,
            starts,
            self.n_blocks,
            cols.astype(np.int64),
            _TEMPO,
            self.pad,
            src.base,
            src.lut,
            dead,
            max_candidates,
        )

    def group(self, a_idx: int, h_id: int) -> np.ndarray:
        """Every hit of one asset under one hypothesis, ``(offset + bias) << TQ_BITS | tq``."""
        return _gather_tl(
            self.vals,
            self.starts,
            self.col_of[h_id] * self.n_blocks,
            self.n_blocks,
            a_idx,
            float(_TEMPO[h_id]),
            self.pad,
            self.max_shift,
            self.src.base,
            self.src.lut,
        )


def _repeat_hits(group: np.ndarray, off: int, votes: int, asset_hits: int, span: int) -> int:
    """Hits of the winning (asset, hypothesis) that belong to other strong cells.

    Looped music plays the excerpt's passage again elsewhere in the song: those cells
    collect real votes, not chance ones, and must not count as background. A cell is a
    repeat when it stands well above the chance level and holds a good share of the
    winner's votes.
    """
    bg = 3.0 * max(0, asset_hits - votes) / max(1.0, float(span))
    need = max(REPEAT_SHARE * votes, bg + 4.0 * np.sqrt(bg) + 3.0)
    d_off = (np.unique(group) >> TQ_BITS) - _OFFSET_BIAS  # distinct (offset, anchor)
    uo, uc = np.unique(d_off, return_counts=True)
    sm = uc.copy()
    adj = uo[1:] == uo[:-1] + 1
    sm[1:] += np.where(adj, uc[:-1], 0)
    sm[:-1] += np.where(adj, uc[1:], 0)
    strong = uo[(sm >= need) & (np.abs(uo - off) > 2)]
    if len(strong) == 0:
        return 0
    g_off = (group >> TQ_BITS) - _OFFSET_BIAS
    near = np.zeros(len(group), bool)
    for o in strong:
        near |= np.abs(g_off - o) <= 1
    near &= np.abs(g_off - off) > 1
    return int(np.count_nonzero(near))


REPEAT_SHARE = 0.3
_TQ_MASK = (1 << TQ_BITS) - 1


@njit(cache=True, nogil=True)
def _count_hits(
    keys: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    offset: int,
    hyp: np.ndarray,
    dead: np.ndarray,
    n_h: int,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """counts[asset * n_h + hyp] += hits of every query hash."""
    for i in range(len(lo)):
        hy = hyp[i]
        for p in range(lo[i], hi[i]):
            a, _ = decode_key(keys[p], _NO_BASE, _NO_BASE, offset)
            if a < len(dead) and not dead[a]:
                counts[a * n_h + hy] += 1


@njit(cache=True, nogil=True)
def _scatter_hits(
    keys: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    offset: int,
    tq: np.ndarray,
    hyp: np.ndarray,
    tempo: np.ndarray,
    dead: np.ndarray,
    n_h: int,
    fill: np.ndarray,
    vals: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Bucket every hit by (asset, hypothesis) as ``(offset + bias) << TQ_BITS | tq``."""
    for i in range(len(lo)):
        hy = hyp[i]
        t = tq[i]
        shift = np.int64(np.rint(t * tempo[hy]))
        tbits = t & _TQ_MASK
        for p in range(lo[i], hi[i]):
            a, frame = decode_key(keys[p], _NO_BASE, _NO_BASE, offset)
            if a >= len(dead) or dead[a]:
                continue
            c = a * n_h + hy
            vals[fill[c]] = ((frame - shift + _OFFSET_BIAS) << TQ_BITS) | tbits
            fill[c] += 1


_BOUND_SHIFT = 3  # offsets binned by 8 frames for the upper bound
_BOUND_BINS = 1024  # hashed bins (collisions only loosen the bound)


@njit(cache=True, nogil=True)
def _group_bounds(vals: np.ndarray, starts: np.ndarray) -> np.ndarray:  # pragma: no cover
    """Upper bound of the best cell's votes in every (asset, hypothesis) group: the most
    hits in two adjacent 8-frame offset bins (a cell and its two neighbours span at most
    two bins, and distinct anchors are at most the hits)."""
    n_c = len(starts) - 1
    bound = np.zeros(n_c, np.int64)
    hist = np.zeros(_BOUND_BINS, np.int64)
    mask = _BOUND_BINS - 1
    for c in range(n_c):
        s0 = starts[c]
        s1 = starts[c + 1]
        if s1 - s0 < 2:
            bound[c] = s1 - s0
            continue
        for p in range(s0, s1):
            hist[(vals[p] >> (TQ_BITS + _BOUND_SHIFT)) & mask] += 1
        best = 0
        for p in range(s0, s1):
            b = (vals[p] >> (TQ_BITS + _BOUND_SHIFT)) & mask
            x = hist[b] + max(hist[(b + 1) & mask], hist[(b - 1) & mask])
            if x > best:
                best = x
        for p in range(s0, s1):
            hist[(vals[p] >> (TQ_BITS + _BOUND_SHIFT)) & mask] = 0
        bound[c] = best
    return bound


@njit(cache=True, nogil=True, inline="always")
def _votes_per_cell(
    keys: np.ndarray, cells: np.ndarray, votes: np.ndarray
) -> int:  # pragma: no cover - compiled
    """Sorted hit keys ``(cell << TQ_BITS) | tq`` -> each cell's number of distinct query
    frames, written to ``cells`` / ``votes`` (in key order); returns how many cells."""
    m = 0
    prev = np.int64(-1)
    for v in keys:
        if v == prev:
            continue
        prev = v
        cell = v >> TQ_BITS
        if m > 0 and cells[m - 1] == cell:
            votes[m - 1] += 1
        else:
            cells[m] = cell
            votes[m] = 1
            m += 1
    return m


@njit(cache=True, nogil=True, inline="always")
def _lift_leader(
    top: np.ndarray,
    top_a: np.ndarray,
    a: int | np.int64,
    votes: int | np.int64,
    max_candidates: int,
) -> None:  # pragma: no cover - compiled
    """Asset ``a``'s best votes rose to ``votes``: keep ``top`` (descending) and ``top_a``,
    the leading assets' votes and indices, in place."""
    pos = -1
    for i in range(max_candidates):
        if top_a[i] == a:
            pos = i
            break
    if pos < 0 and votes > top[max_candidates - 1]:
        pos = max_candidates - 1
        top_a[pos] = a
    if pos >= 0:
        top[pos] = votes
        while pos > 0 and top[pos] > top[pos - 1]:
            top[pos], top[pos - 1] = top[pos - 1], top[pos]
            top_a[pos], top_a[pos - 1] = top_a[pos - 1], top_a[pos]
            pos -= 1


@njit(cache=True, nogil=True)
def _best_cells(
    vals: np.ndarray, starts: np.ndarray, n_assets: int, n_h: int, max_candidates: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Per asset: the (hypothesis, offset) cell with the most smoothed votes (ties: lowest
    hypothesis, then lowest offset), exact for the ``max_candidates`` best assets.

    Groups are evaluated in decreasing order of an upper bound of their votes and the
    search stops once no remaining group can enter the top ``max_candidates`` assets, so
    only a handful of the (asset, hypothesis) groups are sorted. Evaluated groups are
    sorted in place."""
    best_votes = np.zeros(n_assets, np.int64)
    best_hyp = np.zeros(n_assets, np.int64)
    best_off = np.zeros(n_assets, np.int64)
    bound = _group_bounds(vals, starts)
    order = _by_bound(bound)
    top = np.zeros(max_candidates, np.int64)  # best votes of the leading assets, descending
    top_a = np.full(max_candidates, -1, np.int64)
    offs = np.empty(0, np.int64)
    cnts = np.empty(0, np.int64)
    for c in order:
        if bound[c] == 0 or bound[c] < top[max_candidates - 1]:
            break
        s0 = starts[c]
        s1 = starts[c + 1]
        g = vals[s0:s1]
        g.sort()
        if len(offs) < s1 - s0:
            offs = np.empty(s1 - s0, np.int64)
            cnts = np.empty(s1 - s0, np.int64)
        # distinct (offset, tq) -> votes per offset
        m = _votes_per_cell(g, offs, cnts)
        a = c // n_h
        h = c - a * n_h
        for k in range(m):
            sm = cnts[k]
            if k > 0 and offs[k - 1] == offs[k] - 1:
                sm += cnts[k - 1]
            if k + 1 < m and offs[k + 1] == offs[k] + 1:
                sm += cnts[k + 1]
            o = offs[k] - _OFFSET_BIAS
            if sm > best_votes[a] or (
                sm == best_votes[a] and (h < best_hyp[a] or (h == best_hyp[a] and o < best_off[a]))
            ):
                best_votes[a] = sm
                best_hyp[a] = h
                best_off[a] = o
        _lift_leader(top, top_a, a, best_votes[a], max_candidates)
    return best_votes, best_hyp, best_off


# -- voting on the timeline ---------------------------------------------------------------
_NO_BASE = np.zeros(0, np.int64)
BLOCK_SHIFT = 14  # timeline buckets of 2^14 frames (~9 min)
_BINS = 1 << (BLOCK_SHIFT - _BOUND_SHIFT)  # 8-frame bins in one bucket
_ASSET_SHIFT = OFFSET_BITS + TQ_BITS
_TL_TQ_BITS = 20  # timeline bucket values keep the whole query frame
_TL_TQ_MASK = (1 << _TL_TQ_BITS) - 1


@njit(cache=True, nogil=True)
def _count_tl(
    keys: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    move: np.ndarray,
    col: np.ndarray,
    n_blocks: int,
    counts: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """counts[col * n_blocks + block(g)] += 1 for every hit, ``g = position + move``."""
    for i in range(len(lo)):
        row = col[i] * n_blocks
        m = move[i]
        for p in range(lo[i], hi[i]):
            counts[row + ((np.int64(keys[p]) + m) >> BLOCK_SHIFT)] += 1


@njit(cache=True, nogil=True)
def _scatter_tl(
    keys: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    move: np.ndarray,
    tq: np.ndarray,
    col: np.ndarray,
    n_blocks: int,
    fill: np.ndarray,
    vals: np.ndarray,
) -> None:  # pragma: no cover - compiled
    """Bucket every hit as ``g << _TL_TQ_BITS | tq``."""
    for i in range(len(lo)):
        row = col[i] * n_blocks
        m = move[i]
        tbits = tq[i] & _TL_TQ_MASK
        for p in range(lo[i], hi[i]):
            g = np.int64(keys[p]) + m
            c = row + (g >> BLOCK_SHIFT)
            vals[fill[c]] = (g << _TL_TQ_BITS) | tbits
            fill[c] += 1


_scratch = threading.local()
# a thread keeps the buffer of its largest timeline vote up to this many hits (8 bytes
# each, 512 MB at most; a 10 s query reads ~5 M at 10k songs, ~47 M on average at 100k): a
# fresh buffer per query takes a page fault every 512 hits, in the scatter's random order
# (bench/results/recognition_scale/README.md, session 9)
SCRATCH_KEEP_HITS = 1 << 26
# what all threads together may keep (a server's thread pool has dozens of threads): past
# it a vote takes a fresh buffer, as without keeping, so memory stays bounded
SCRATCH_KEEP_BYTES = 2 * 8 * SCRATCH_KEEP_HITS
_kept = {"bytes": 0}
_kept_lock = threading.Lock()


def _release(nbytes: int) -> None:
    with _kept_lock:
        _kept["bytes"] -= nbytes


def kept_scratch_bytes() -> int:
    """Bytes of vote buffers all threads keep now (at most ``SCRATCH_KEEP_BYTES``)."""
    with _kept_lock:
        return _kept["bytes"]


def _scratch_vals(n: int) -> np.ndarray:
    """An int64 buffer of ``n`` (uninitialized), this thread's kept one when it fits and
    the threads' shared budget allows keeping it."""
    buf: np.ndarray | None = getattr(_scratch, "vals", None)
    if buf is not None and len(buf) >= n:
        return buf[:n]
    if n > SCRATCH_KEEP_HITS:
        return np.empty(n, np.int64)
    size = min(max(n, 2 * len(buf) if buf is not None else 0, 1 << 16), SCRATCH_KEEP_HITS)
    with _kept_lock:
        if _kept["bytes"] + 8 * size > SCRATCH_KEEP_BYTES:
            return np.empty(n, np.int64)
        _kept["bytes"] += 8 * size
    new = np.empty(size, np.int64)
    # the budget is given back when the buffer is freed (replaced, or its thread ended)
    weakref.finalize(new, _release, 8 * size)
    _scratch.vals = new
    return new[:n]


@njit(cache=True, nogil=True)
def _bucket_bounds(
    vals: np.ndarray, starts: np.ndarray, n_blocks: int
) -> np.ndarray:  # pragma: no cover
    """``_group_bounds`` of the timeline buckets: the most hits in two adjacent 8-frame
    bins of ``g``, the bins at a bucket's edges completed by its neighbour's (a cell
    counts its neighbouring frames, which may lie in the next bucket)."""
    n_c = len(starts) - 1
    first = np.zeros(n_c, np.int64)  # hits in a bucket's first / last 8-frame bin
    last = np.zeros(n_c, np.int64)
    for c in range(n_c):
        for p in range(starts[c], starts[c + 1]):
            b = (vals[p] >> (_TL_TQ_BITS + _BOUND_SHIFT)) & (_BINS - 1)
            if b == 0:
                first[c] += 1
            elif b == _BINS - 1:
                last[c] += 1
    bound = np.zeros(n_c, np.int64)
    hist = np.zeros(_BINS, np.int64)
    for c in range(n_c):
        s0 = starts[c]
        s1 = starts[c + 1]
        if s1 == s0:
            continue
        blk = c % n_blocks
        left = last[c - 1] if blk > 0 else 0
        right = first[c + 1] if blk < n_blocks - 1 else 0
        for p in range(s0, s1):
            hist[(vals[p] >> (_TL_TQ_BITS + _BOUND_SHIFT)) & (_BINS - 1)] += 1
        best = 0
        for p in range(s0, s1):
            b = (vals[p] >> (_TL_TQ_BITS + _BOUND_SHIFT)) & (_BINS - 1)
            lo_n = hist[b - 1] if b > 0 else left
            hi_n = hist[b + 1] if b < _BINS - 1 else right
            x = hist[b] + max(lo_n, hi_n)
            if x > best:
                best = x
        for p in range(s0, s1):
            hist[(vals[p] >> (_TL_TQ_BITS + _BOUND_SHIFT)) & (_BINS - 1)] = 0
        bound[c] = best
    return bound


@njit(cache=True, nogil=True, inline="always")
def _asset_at(p: int | np.int64, base: np.ndarray, lut: np.ndarray) -> np.int64:  # pragma: no cover
    a = lut[p >> LUT_SHIFT]
    while base[a + 1] <= p:
        a += 1
    return a


@njit(cache=True, nogil=True)
def _by_bound(bound: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """The buckets with a bound > 0, highest bound first and ties in bucket order:
    ``np.argsort(-bound, kind="mergesort")`` without its zeros, by a counting sort (the
    bounds are small integers; there is one bucket per hypothesis and 9 minutes of
    catalog, far more than a comparison sort should handle per query)."""
    top = 0
    for b in bound:
        if b > top:
            top = b
    at = np.zeros(top + 2, np.int64)  # at[top - b + 1]: buckets with bound b
    for b in bound:
        if b > 0:
            at[top - b + 1] += 1
    for k in range(1, top + 2):
        at[k] += at[k - 1]
    order = np.empty(at[top + 1], np.int64)
    for c in range(len(bound)):
        b = bound[c]
        if b > 0:
            order[at[top - b]] = c
            at[top - b] += 1
    return order


@njit(cache=True, nogil=True)
def _best_cells_tl(
    vals: np.ndarray,
    starts: np.ndarray,
    n_blocks: int,
    cols: np.ndarray,
    tempo: np.ndarray,
    pad: int,
    base: np.ndarray,
    lut: np.ndarray,
    dead: np.ndarray,
    max_candidates: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """``_best_cells`` on timeline buckets: per asset, the best (hypothesis, offset) cell,
    exact for the ``max_candidates`` best assets. Buckets are evaluated best bound first;
    an evaluated bucket's hits (and its neighbours' hits one frame past its edges) are
    mapped to (asset, offset) and its cells counted as ``_best_cells`` counts them."""
    n_assets = len(dead)
    best_votes = np.zeros(n_assets, np.int64)
    best_hyp = np.zeros(n_assets, np.int64)
    best_off = np.zeros(n_assets, np.int64)
    bound = _bucket_bounds(vals, starts, n_blocks)
    order = _by_bound(bound)
    top = np.zeros(max_candidates, np.int64)
    top_a = np.full(max_candidates, -1, np.int64)
    buf = np.empty(0, np.int64)
    touched = np.empty(0, np.int64)
    for c in order:
        if bound[c] == 0 or bound[c] < top[max_candidates - 1]:
            break
        blk = c % n_blocks
        h = cols[c // n_blocks]
        a_tempo = tempo[h]
        g0 = np.int64(blk) << BLOCK_SHIFT
        g1 = g0 + (1 << BLOCK_SHIFT)
        lo_c = starts[c - 1] if blk > 0 else starts[c]
        hi_c = starts[c + 2] if blk < n_blocks - 1 else starts[c + 1]
        if len(buf) < hi_c - lo_c:
            buf = np.empty(hi_c - lo_c, np.int64)
            touched = np.empty(hi_c - lo_c, np.int64)
        # (asset - a0, offset + bias, tq) of the hits with g in [g0 - 1, g1]
        m = 0
        a0 = np.int64(-1)
        for p in range(lo_c, hi_c):
            v = vals[p]
            g = v >> _TL_TQ_BITS
            if g < g0 - 1 or g > g1:
                continue
            t = v & _TL_TQ_MASK
            pos = g - pad + np.int64(np.rint(t * a_tempo))
            a = _asset_at(pos, base, lut)
            if dead[a]:
                continue
            if a0 < 0:
                a0 = max(np.int64(0), _asset_at(max(np.int64(0), g0 - 1 - pad), base, lut))
            o = g - pad - base[a] + _OFFSET_BIAS
            buf[m] = ((a - a0) << _ASSET_SHIFT) | (o << TQ_BITS) | (t & _TQ_MASK)
            m += 1
        if m == 0:
            continue
        g_sorted = np.sort(buf[:m])
        # distinct (asset, offset, tq) -> votes per (asset, offset)
        k = _votes_per_cell(g_sorted, buf, touched)
        for j in range(k):
            cell = buf[j]
            a = a0 + (cell >> OFFSET_BITS)
            o = (cell & ((1 << OFFSET_BITS) - 1)) - _OFFSET_BIAS
            g = base[a] + o + pad
            if g < g0 or g >= g1:  # a cell of the neighbouring bucket
                continue
            sm = touched[j]
            if j > 0 and buf[j - 1] == cell - 1:
                sm += touched[j - 1]
            if j + 1 < k and buf[j + 1] == cell + 1:
                sm += touched[j + 1]
            if sm > best_votes[a] or (
                sm == best_votes[a] and (h < best_hyp[a] or (h == best_hyp[a] and o < best_off[a]))
            ):
                best_votes[a] = sm
                best_hyp[a] = h
                best_off[a] = o
                _lift_leader(top, top_a, a, best_votes[a], max_candidates)
    return best_votes, best_hyp, best_off


@njit(cache=True, nogil=True)
def _gather_tl(
    vals: np.ndarray,
    starts: np.ndarray,
    row: int,
    n_blocks: int,
    asset: int,
    a_tempo: float,
    pad: int,
    max_shift: int,
    base: np.ndarray,
    lut: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled
    """Every hit of ``asset`` in one hypothesis' buckets (from ``row``), as
    ``(offset + bias) << TQ_BITS | tq``."""
    g_lo = base[asset] + pad - max_shift
    g_hi = base[asset + 1] - 1 + pad
    b_lo = max(np.int64(0), g_lo >> BLOCK_SHIFT)
    b_hi = min(np.int64(n_blocks - 1), g_hi >> BLOCK_SHIFT)
    out = np.empty(starts[row + b_hi + 1] - starts[row + b_lo], np.int64)
    m = 0
    for p in range(starts[row + b_lo], starts[row + b_hi + 1]):
        v = vals[p]
        g = v >> _TL_TQ_BITS
        if g < g_lo or g > g_hi:
            continue
        t = v & _TL_TQ_MASK
        pos = g - pad + np.int64(np.rint(t * a_tempo))
        if pos < base[asset] or pos >= base[asset + 1]:
            continue
        out[m] = ((g - pad - base[asset] + _OFFSET_BIAS) << TQ_BITS) | (t & _TQ_MASK)
        m += 1
    return out[:m]
