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

from dataclasses import dataclass

import numpy as np
from numba import njit

from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import FingerprintIndex, decode_key


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


def _hash_hypotheses(
    peaks: fp.Peaks, hyp_ids: list[int], fan_out: int, anchor_stride: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hs, ts, ids = [], [], []
    for i in hyp_ids:
        a, p = HYPOTHESES[i]
        h, t = fp.pair_hashes(peaks, fan_out=fan_out, tempo=a, shift_bands=p)
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
) -> tuple[list[Candidate], int, int]:
    """Best (asset, hypothesis, offset) cells, one per asset, most votes first.

    A cell's votes are the distinct query anchor frames whose hits agree on the offset
    (the harmonics of one note pair match together, and counting them separately would
    let a single coincidence look like a dozen independent agreements), counted with
    the two neighbouring offsets (+-1 frame of jitter).

    Query hashes whose postings outnumber ``max_postings(index)`` are not looked up: a
    pattern that common says little about which song this is, and such hashes cost most
    of a query's work in a large catalog. ``anchor_stride`` > 1 keeps the hashes of every
    ``anchor_stride``-th query frame only (a cheap probe).

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
    n_assets = len(dead)
    n_h = len(HYPOTHESES)
    counts = np.zeros(n_assets * n_h + 1, np.int64)
    for s in sources:
        _count_hits(s.keys, s.lo, s.hi, s.base, s.lut, s.offset, hyp, dead, n_h, counts)
    starts = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=starts[1:])
    n_hits = int(starts[-1])
    n_identity = int(np.count_nonzero(hyp == 0)) if 0 in hyp_ids else len(hashes)
    if n_hits == 0:
        return [], n_identity, 0
    vals = np.empty(n_hits, np.int64)
    fill = starts[:-1].copy()
    for s in sources:
        _scatter_hits(
            s.keys, s.lo, s.hi, s.base, s.lut, s.offset, tq, hyp, _TEMPO, dead, n_h, fill, vals
        )
    best_votes, best_hyp, best_off = _best_cells(vals, starts, n_assets, n_h, max_candidates)
    order = np.argsort(-best_votes, kind="stable")[:max_candidates]
    out: list[Candidate] = []
    for a_idx in order:
        if best_votes[a_idx] <= 0:
            break
        h_id = int(best_hyp[a_idx])
        off = int(best_off[a_idx])
        ah = int(a_idx) * n_h + h_id
        group = vals[starts[ah] : starts[ah + 1]]
        g_off = (group >> TQ_BITS) - _OFFSET_BIAS
        sel = np.abs(g_off - off) <= 1
        q_frames = group[sel] & ((1 << TQ_BITS) - 1)
        span = index.span_frames.get(int(a_idx), 0) + int(q_frames.max() - q_frames.min()) + 1
        repeats = _repeat_hits(group, off, int(best_votes[a_idx]), int(counts[ah]), span)
        out.append(
            Candidate(
                asset_idx=int(a_idx),
                hyp=h_id,
                offset_frames=float(np.median(g_off[sel])),
                votes=int(best_votes[a_idx]),
                q_first=int(q_frames.min()),
                q_last=int(q_frames.max()),
                asset_hits=int(counts[ah]),
                repeat_hits=repeats,
            )
        )
    return out, n_identity, n_hits


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
    base: np.ndarray,
    lut: np.ndarray,
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
            a, _ = decode_key(keys[p], base, lut, offset)
            if a < len(dead) and not dead[a]:
                counts[a * n_h + hy] += 1


@njit(cache=True, nogil=True)
def _scatter_hits(
    keys: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    base: np.ndarray,
    lut: np.ndarray,
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
            a, frame = decode_key(keys[p], base, lut, offset)
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
    order = np.argsort(-bound, kind="mergesort")
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
        m = 0
        prev = np.int64(-1)
        for v in g:
            if v == prev:
                continue
            prev = v
            o = v >> TQ_BITS
            if m > 0 and offs[m - 1] == o:
                cnts[m - 1] += 1
            else:
                offs[m] = o
                cnts[m] = 1
                m += 1
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
        # refresh the leading assets
        v = best_votes[a]
        pos = -1
        for i in range(max_candidates):
            if top_a[i] == a:
                pos = i
                break
        if pos < 0 and v > top[max_candidates - 1]:
            pos = max_candidates - 1
            top_a[pos] = a
        if pos >= 0:
            top[pos] = v
            while pos > 0 and top[pos] > top[pos - 1]:
                top[pos], top[pos - 1] = top[pos - 1], top[pos]
                top_a[pos], top_a[pos - 1] = top_a[pos - 1], top_a[pos]
                pos -= 1
    return best_votes, best_hyp, best_off
