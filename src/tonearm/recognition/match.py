"""Matching: query hashes under a few tempo/pitch hypotheses, offset-consistent voting.

For each hypothesis (tempo ``a``, pitch shift ``p`` bands) the query's peaks are mapped
into the reference's frame of reference (time differences x a, bands - p) and hashed;
every hit ``(asset, ref_frame)`` of a query hash anchored at query frame ``tq`` votes for
the alignment ``offset = ref_frame - a * tq``. A true match piles its votes onto one
(asset, hypothesis, offset) cell; chance hits spread over all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import FingerprintIndex


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


@dataclass
class QueryStats:
    n_hashes: int  # query hashes under the identity hypothesis
    n_candidates: int  # index hits over all hypotheses evaluated
    n_hyps: int


def _hash_hypotheses(
    peaks: fp.Peaks, hyp_ids: list[int], fan_out: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hs, ts, ids = [], [], []
    for i in hyp_ids:
        a, p = HYPOTHESES[i]
        h, t = fp.pair_hashes(peaks, fan_out=fan_out, tempo=a, shift_bands=p)
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
) -> tuple[list[Candidate], int, int]:
    """Best (asset, hypothesis, offset) cells, one per asset, most votes first.

    Returns (candidates, n_query_hashes, n_index_hits).
    """
    hashes, tq, hyp = _hash_hypotheses(peaks, hyp_ids, fan_out)
    if len(hashes) == 0:
        return [], 0, 0
    owner, asset, frame = index.lookup(hashes)
    n_hits = len(owner)
    if n_hits == 0:
        return [], len(hashes), 0
    h_of = hyp[owner]
    tempo = _TEMPO[h_of]
    t_q = tq[owner]
    offset = frame - np.rint(t_q * tempo).astype(np.int64)
    n_h = len(HYPOTHESES)
    ah_counts = np.bincount(asset * n_h + h_of)
    key = ((asset * n_h + h_of) << OFFSET_BITS) + (offset + _OFFSET_BIAS)
    # one vote per (cell, query anchor frame): the harmonics of one note pair match
    # together, and counting them separately would let a single coincidence look like
    # a dozen independent agreements
    full = np.sort((key << TQ_BITS) | (t_q & ((1 << TQ_BITS) - 1)))
    distinct = np.ones(len(full), bool)
    distinct[1:] = full[1:] != full[:-1]
    skey = full[distinct] >> TQ_BITS
    edge = np.flatnonzero(np.diff(skey)) + 1
    first_pos = np.concatenate(([0], edge))
    uniq = skey[first_pos]
    counts = np.diff(np.concatenate((first_pos, [len(skey)])))
    # tolerate +-1 frame of jitter: a cell's score includes its two neighbours
    smooth = counts.copy()
    nxt = np.zeros(len(uniq), bool)
    nxt[:-1] = uniq[1:] == uniq[:-1] + 1
    smooth[:-1] += np.where(nxt[:-1], counts[1:], 0)
    smooth[1:] += np.where(nxt[:-1], counts[:-1], 0)
    cell_ah = uniq >> OFFSET_BITS
    # best cell per (asset): candidates among the overall strongest cells
    n_top = min(len(uniq), 64 * max_candidates)
    top = np.argpartition(-smooth, n_top - 1)[:n_top] if n_top < len(uniq) else np.arange(len(uniq))
    top = top[np.argsort(-smooth[top], kind="stable")]
    seen: set[int] = set()
    best: list[int] = []
    for b_ in top:
        a_idx = int(cell_ah[b_]) // n_h
        if a_idx in seen:
            continue
        seen.add(a_idx)
        best.append(int(b_))
        if len(best) >= max_candidates:
            break
    out: list[Candidate] = []
    for b in best:
        k = int(uniq[b])
        a_idx, h_id = divmod(k >> OFFSET_BITS, n_h)
        off = (k & ((1 << OFFSET_BITS) - 1)) - _OFFSET_BIAS
        sel = (key >= k - 1) & (key <= k + 1)
        q_frames = t_q[sel]
        out.append(
            Candidate(
                asset_idx=int(a_idx),
                hyp=int(h_id),
                offset_frames=float(np.median(offset[sel])) if sel.any() else float(off),
                votes=int(smooth[b]),
                q_first=int(q_frames.min()) if len(q_frames) else 0,
                q_last=int(q_frames.max()) if len(q_frames) else 0,
                asset_hits=int(ah_counts[int(cell_ah[b])]),
            )
        )
    n_identity = int(np.count_nonzero(hyp == 0)) if 0 in hyp_ids else len(hashes)
    return out, n_identity, n_hits
