"""Resize a song to a target length by jumping between beats whose neighbourhoods match.

The song is a path over its beats. Playing straight through is free; a *jump* from
position ``b`` (we have just played beat ``b-1`` and would play beat ``b`` next) to
position ``a`` costs a blend of two dissimilarities:

- the *seam*: how much more the beat heard after the cut differs from the beat heard
  before it (``1 - S[b-1, a]``) than the song's own change at that point (``1 - S[i-1, i]``
  at ``b`` and at ``a``, capped at the song's median beat-to-beat change). A cut between
  equivalent beats then costs nothing, however much consecutive beats differ, and a
  cut at a spot where the song itself changes a lot gets no more slack than an ordinary
  beat change. This is what a listener hears at the cut: with it (and analyze's
  similarity in units of the song's own change) the best candidate's seams measured on
  rendered audio (bench/resize.py, 10 songs) went from a median score of 1.3 with 63 %
  "ordinary" to 0.82 with 82 %, where uncut beats of the same songs score 1.07 with 83 %;
- the *context*: one minus a weighted mean of the self-similarity along the diagonal
  stripe ``S[b+k, a+k]`` for ``k`` in ``[-K, K)``. It is low when the beats just played
  look like the beats that preceded ``a`` *and* the beats about to be played look like
  the beats that would have followed ``b``, so the music after the jump continues the
  music before it over a few beats, not only across the seam; one side matching (e.g.
  the end of a phrase into the start of another section, a transition the song itself
  makes) is accepted at a discount.

Bar position: jumps by a whole number of bars (4 beats) are free, others pay a penalty,
so a cut keeps the downbeat where the song had it.

A dynamic program over (beats output so far, position) finds the cheapest path from
the first beat to the last one whose length is the target, with every segment at least
``min_segment_beats`` long (no stutter of short pieces) and jumps by whole bars
preferred. Jumps may go forward (shortening) or backward (repeating a section, which
lengthens). Twenty genuinely different edits come from re-running the program with the
cut points of the edits already found (and every cut within two bars of them) removed.

Positions index ``boundaries``: a segment ``[a, b]`` plays ``boundaries[a]`` to
``boundaries[b]``; the last boundary is the song's end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from tonearm.editing.similarity import decode_similarity

BEATS_PER_BAR = 4
# Whatever /analyze returns, /resize accepts: analyze takes songs up to 30 minutes, which at
# the tracker's fastest tempo is ~6,500 beats. The similarity string grows as n**2 / 2 (7,500
# beats: ~28 M characters); the search over 6,000 beats takes ~6 s of CPU.
MAX_BEATS = 7500
MAX_DP_CELLS = 12_000_000  # (output time units) x beats: bounds the search's memory
FINE_DP_CELLS = 250_000  # above this many (target beats x beats), search in whole beats
MAX_TARGET_S = 3 * 3600.0

# cost model (dimensionless; a cut between two unrelated beats costs about 1)
CUT_PENALTY = 0.05  # per cut, so that fewer cuts win between equally good edits
OFF_BAR_PENALTY = 0.15  # jump not a whole number of bars
ODD_BEAT_PENALTY = 0.15  # jump by an odd number of beats (half-bar phase flip)
DURATION_PENALTY_PER_BEAT = 0.08
UNITS_PER_BEAT = 2  # time resolution of the search (half a beat)
ONE_SIDED_MATCH = 0.7  # credit for a cut whose context matches on one side only
SEAM_WEIGHT = 0.85  # share of the seam term (beat before vs beat after the cut) in a
# jump's dissimilarity; the rest is the context stripe. Measured on seams of 9 other songs
# than the bench's (supertux2 music) and checked on the bench's: 0.85 and 0.7 are equal
# within noise, the seam alone (1.0) is worse (the stripe's few beats of context count),
# the stripe alone (0.0) left seams about 30 % above the song's own beat changes.
# two edits are the same edit shifted when a cut of one is this close (in beats, at both
# ends) to a cut of the other: anything under two bars counts as the same cut point
NEAR_BEATS = 2 * BEATS_PER_BAR - 1
# Not keeping the real ending (the render fades out) costs more than the worst possible
# cut (dissimilarity 1 plus every penalty), so a fade-out wins only when no path can keep
# the end: the end is kept "unless the target forbids it", never traded for a better cut.
EARLY_END_PENALTY = 1.0 + OFF_BAR_PENALTY + ODD_BEAT_PENALTY + CUT_PENALTY + 0.2


class ResizeInputError(ValueError):
    """Inputs that cannot describe a song (bad similarity string, boundaries, target)."""


# --------------------------------------------------------------------------------------
# similarity string (Audjust encoding: lower triangle with diagonal, row-major)
# --------------------------------------------------------------------------------------


def triangle_size(n_beats: int) -> int:
    """Number of entries of an ``n_beats`` x ``n_beats`` lower triangle with diagonal."""
    return n_beats * (n_beats + 1) // 2


def beats_in_triangle(n_values: int) -> int | None:
    """Inverse of :func:`triangle_size`, or None if ``n_values`` is not triangular."""
    n = int((math.isqrt(8 * n_values + 1) - 1) // 2)
    return n if triangle_size(n) == n_values else None


def decode_similarity_matrix(data: str, vmin: float, vmax: float) -> np.ndarray:
    """Decode Audjust's similarity string into a full symmetric matrix.

    The codec itself is :func:`tonearm.editing.similarity.decode_similarity`; this wraps it
    for resize requests: errors become :class:`ResizeInputError`, values are clipped.

    Returns
    -------
    np.ndarray, shape (n_beats, n_beats), float32 in [0, 1]
    """
    try:
        m = decode_similarity({"data": data, "min": vmin, "max": vmax})
    except ValueError as e:
        raise ResizeInputError(str(e)) from e
    if m.shape[0] == 0:
        raise ResizeInputError("similarity data is not a lower triangle")
    return np.clip(m, 0.0, 1.0, out=m)


# --------------------------------------------------------------------------------------
# jump costs
# --------------------------------------------------------------------------------------


def stripe_weights(context_beats: int) -> np.ndarray:
    """Weights for offsets ``k = -K .. K-1``: the beats either side of the cut count most."""
    k = np.arange(-context_beats, context_beats)
    dist = np.where(k < 0, -k - 1, k)  # 0 for the two beats touching the cut
    # the two beats touching the cut predict an audible seam best (measured: bench/resize.py)
    return (1.0 / (1.0 + 1.5 * dist)).astype(np.float64)


def jump_dissimilarity(
    sim: np.ndarray,
    n_positions: int,
    context_beats: int = 4,
    seam_weight: float = SEAM_WEIGHT,
) -> np.ndarray:
    """Dissimilarity of jumping from position ``b`` to position ``a`` for every pair:
    ``seam_weight * seam + (1 - seam_weight) * context`` (see the module docstring).

    Parameters
    ----------
    sim : np.ndarray, shape (n_beats, n_beats)
        Beat self-similarity in [0, 1]. ``n_beats`` may be ``n_positions`` or one less
        (when the last boundary is only the end of the last beat).
    n_positions : int
        Number of boundaries.
    context_beats : int
        Half-width ``K`` of the compared stripe, in beats.
    seam_weight : float
        Weight in [0, 1] of the seam term (the beat before the cut vs the beat after it).

    Returns
    -------
    np.ndarray, shape (n_positions, n_positions), float32 in [0, 1]
        ``out[b, a]``; the diagonal is 0.
    """
    n = n_positions
    nb = sim.shape[0]
    big = np.zeros((n + 2 * context_beats, n + 2 * context_beats), dtype=np.float32)
    valid = np.zeros_like(big)
    o = context_beats
    big[o : o + nb, o : o + nb] = sim
    valid[o : o + nb, o : o + nb] = 1.0
    # past side (k < 0: the beats just played vs the beats before the landing) and future
    # side (k >= 0: the beats that would have come vs the beats that will come)
    num = np.zeros((2, n, n), dtype=np.float32)
    den = np.zeros((2, n, n), dtype=np.float32)
    for w, k in zip(
        stripe_weights(context_beats), range(-context_beats, context_beats), strict=True
    ):
        sl = slice(o + k, o + k + n)
        side = 0 if k < 0 else 1
        num[side] += np.float32(w) * big[sl, sl]
        den[side] += np.float32(w) * valid[sl, sl]
    with np.errstate(invalid="ignore", divide="ignore"):
        both = np.where(den.sum(0) > 0, num.sum(0) / np.maximum(den.sum(0), 1e-12), 0.0)
        side_mean = np.where(den > 0, num / np.maximum(den, 1e-12), 0.0)
    # Either side matching alone already makes the transition one the song itself makes
    # (a phrase end into another section's start); both sides matching is stronger
    # evidence, so a one-sided match is discounted.
    sim_cut = np.maximum(both, ONE_SIDED_MATCH * side_mean.max(axis=0))
    del num, den, both, side_mean, big, valid
    out = (1.0 - seam_weight) * (1.0 - sim_cut)
    # seam: out[b, a] += w * (1 - S[b-1, a]); b = 0 (nothing played yet) and landings
    # beyond the matrix count as unrelated
    seam = np.ones((n, n), dtype=np.float32)
    rows = min(nb, n - 1)
    seam[1 : rows + 1, :nb] -= sim[:rows, :nb]
    # relative to the change the song itself makes into b and into a (own[i] = 1 - S[i-1, i]),
    # at most its median change, rescaled so an unrelated pair still costs 1
    own = np.ones(n, dtype=np.float32)
    into = np.arange(1, min(nb, n))
    own[into] = 1.0 - sim[into - 1, into]
    cap = np.float32(np.median(own[into])) if len(into) else np.float32(1.0)
    own = np.minimum(own, cap)
    ref = 0.5 * (own[:, None] + own[None, :])
    seam -= ref
    np.maximum(seam, 0.0, out=seam)
    seam /= np.maximum(1.0 - ref, np.float32(1e-3))
    del ref
    out += np.float32(seam_weight) * seam
    out = out.astype(np.float32, copy=False)
    np.fill_diagonal(out, 0.0)
    return out


# --------------------------------------------------------------------------------------
# edits
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Edit:
    """One candidate: segments of the original that, joined, make the new audio."""

    segments_beats: list[tuple[int, int]]
    segments_seconds: list[tuple[float, float]]
    duration_s: float
    dissimilarity: float
    blended_score: float
    cut_dissimilarities: list[float] = field(default_factory=list)

    @property
    def cuts(self) -> list[tuple[int, int]]:
        """Jumps as (from position, to position)."""
        s = self.segments_beats
        return [(s[i][1], s[i + 1][0]) for i in range(len(s) - 1)]

    def to_audjust(self) -> dict[str, Any]:
        return {
            "dissimilarity": float(self.dissimilarity),
            "blendedScore": float(self.blended_score),
            "segmentsBeats": [[int(a), int(b)] for a, b in self.segments_beats],
            "segmentsSeconds": [[round(a, 3), round(b, 3)] for a, b in self.segments_seconds],
            "durationSeconds": round(float(self.duration_s), 3),
        }


@dataclass
class _Graph:
    src: np.ndarray  # (E,) jump sources
    dst: np.ndarray  # (E,)
    cost: np.ndarray  # (E,) full cost (dissimilarity + penalties)


def jump_penalty(offset_beats: np.ndarray) -> np.ndarray:
    """Bar-position penalty for jumps by ``offset_beats`` (whole bars are free)."""
    off = np.abs(offset_beats)
    return np.where(off % BEATS_PER_BAR != 0, OFF_BAR_PENALTY, 0.0) + np.where(
        off % 2 != 0, ODD_BEAT_PENALTY, 0.0
    )


def _candidate_jumps(
    dis: np.ndarray,
    boundaries: np.ndarray,
    skip_s: float,
    min_jump: int,
    top_k: int = 5,  # 8 searched 30 % longer for the same seams (bench/resize.py)
) -> tuple[np.ndarray, np.ndarray]:
    """Jumps worth considering: each source's best forward and backward targets, plus
    from every position, the landings about ``skip_s`` seconds later (earlier when
    negative): the single cut that fixes the length. Measured in seconds, not in median
    beats, so songs whose beats vary in length get their single cut too."""
    n = dis.shape[0]
    idx = np.arange(n, dtype=np.int32)
    off = idx[None, :] - idx[:, None]  # (b, a) -> a - b
    cost = (dis + jump_penalty(off)).astype(np.float32)
    # never from the very end (after the last decay) nor onto it
    allowed = np.abs(off) >= min_jump
    allowed[0, :] = False
    allowed[n - 1, :] = False
    allowed[:, n - 1] = False
    cost[~allowed] = np.inf
    del allowed
    keep = np.zeros((n, n), dtype=bool)
    for sign in (1, -1):
        c = np.where(off * sign > 0, cost, np.float32(np.inf))
        k = min(top_k, n - 1)
        if k <= 0:
            continue
        part = np.argpartition(c, k - 1, axis=1)[:, :k]
        rows = np.repeat(np.arange(n), k)
        cols = part.ravel()
        ok = np.isfinite(c[rows, cols])
        keep[rows[ok], cols[ok]] = True
    land = np.searchsorted(boundaries, boundaries + skip_s)
    for d in range(-2, 3):
        a = land + d
        ok = (a >= 0) & (a < n) & (np.abs(a - idx) >= min_jump)
        keep[idx[ok], a[ok]] = True
    keep &= np.isfinite(cost)
    src, dst = np.nonzero(keep)
    return src, dst


def _build_graph(src: np.ndarray, dst: np.ndarray, cost: np.ndarray) -> _Graph:
    order = np.argsort(src, kind="stable")  # sequential reads of g in the kernel
    return _Graph(src[order], dst[order], cost[order])


@njit(cache=True)
def _solve_kernel(
    src: np.ndarray,
    dst: np.ndarray,
    cost: np.ndarray,
    units: np.ndarray,
    e_max: int,
    min_seg: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - jitted
    n = units.shape[0]
    g = np.full((e_max + 1, n), np.inf)
    h = np.full((e_max + 1, n), np.inf)
    from_h = np.zeros((e_max + 1, n), dtype=np.bool_)
    h_edge = np.full((e_max + 1, n), -1, dtype=np.int32)
    h[0, 0] = 0.0
    for e in range(1, e_max + 1):
        for i in range(1, n):
            w = units[i] - units[i - 1]
            if e >= w:
                g[e, i] = g[e - w, i - 1]
            if i >= min_seg:
                span = units[i] - units[i - min_seg]
                if e >= span:
                    f = h[e - span, i - min_seg]
                    if f < g[e, i]:
                        g[e, i] = f
                        from_h[e, i] = True
        for k in range(src.shape[0]):
            gv = g[e, src[k]]
            if gv == np.inf:
                continue
            v = gv + cost[k]
            if v < h[e, dst[k]]:
                h[e, dst[k]] = v
                h_edge[e, dst[k]] = k
    return g, h, from_h, h_edge


def _solve(
    graph: _Graph, units: np.ndarray, e_max: int, min_seg: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Forward DP over (time units output, position). ``g[e, i]``: best cost at position
    ``i`` after ``e`` time units of output, inside a segment at least ``min_seg`` beats
    long (so it may jump). ``h[e, a]``: best cost having just landed on ``a`` (or started,
    ``h[0, 0]``). Playing beat ``i`` costs nothing and takes ``units[i+1] - units[i]``.
    Returns (g, h, from_h, h_edge)."""
    return _solve_kernel(
        graph.src.astype(np.int64),
        graph.dst.astype(np.int64),
        graph.cost.astype(np.float64),
        units.astype(np.int64),
        e_max,
        min_seg,
    )


@njit(cache=True)
def _backtrack_kernel(
    src: np.ndarray,
    units: np.ndarray,
    from_h: np.ndarray,
    h_edge: np.ndarray,
    e: int,
    i: int,
    min_seg: int,
) -> np.ndarray:  # pragma: no cover - jitted
    """Segments as rows (start, end), last segment first; zero rows if no path."""
    out = np.zeros((from_h.shape[0] + 1, 2), dtype=np.int64)
    n_out = 0
    seg_end = i
    # each step plays a beat or takes a jump; zero-unit beats can make a path longer
    # than e_max + n steps, never longer than this
    for _ in range(4 * (from_h.shape[0] + 1) * (from_h.shape[1] + 1)):
        if from_h[e, i]:
            e -= units[i] - units[i - min_seg]
            i -= min_seg
            out[n_out, 0] = i  # the segment started here, in h[e, i]
            out[n_out, 1] = seg_end
            n_out += 1
            if e == 0 and i == 0:
                return out[:n_out]
            k = h_edge[e, i]
            if k < 0:
                return out[:0]
            i = src[k]
            seg_end = i
        else:
            e -= units[i] - units[i - 1]
            i -= 1
            if e < 0 or i < 0:
                return out[:0]
    return out[:0]


def _backtrack(
    graph: _Graph,
    units: np.ndarray,
    from_h: np.ndarray,
    h_edge: np.ndarray,
    e: int,
    i: int,
    min_seg: int,
) -> list[tuple[int, int]] | None:
    """Segments (start, end) of the best path ending in state g[e, i]."""
    rows = _backtrack_kernel(
        graph.src.astype(np.int64), units.astype(np.int64), from_h, h_edge, e, i, min_seg
    )
    if len(rows) == 0:
        return None
    return [(int(a), int(b)) for a, b in rows[::-1]]


def time_units(boundaries: np.ndarray, unit_s: float) -> np.ndarray:
    """Boundary times on an integer grid of ``unit_s``, non-decreasing.

    Rounding each absolute time (not each beat length) keeps the error of any segment's
    length within one unit, however many beats it spans. Two boundaries closer than a
    unit may share a grid point (a beat of zero units): forcing the grid to increase
    instead would add a unit per short beat, a drift that made 2x edits of songs whose
    tracker switched to double time seconds too short."""
    return np.round((boundaries - boundaries[0]) / unit_s).astype(np.int64)


def _min_segment_beats(target_beats: float, n_beats: int) -> int:
    if target_beats < 32:
        m = 4
    elif target_beats < 96:
        m = 8
    else:
        m = 16
    return max(1, min(m, int(target_beats) // 2, n_beats // 2))


def _describe(
    segments: list[tuple[int, int]],
    boundaries: np.ndarray,
    dis: np.ndarray,
    target_s: float,
    beat_s: float,
) -> Edit:
    n = len(boundaries)
    secs = [(float(boundaries[a]), float(boundaries[b])) for a, b in segments]
    dur = float(sum(b - a for a, b in secs))
    cut_dis = [float(dis[segments[k][1], segments[k + 1][0]]) for k in range(len(segments) - 1)]
    offsets = np.array(
        [segments[k + 1][0] - segments[k][1] for k in range(len(segments) - 1)], dtype=np.int64
    )
    bar_pen = float(jump_penalty(offsets).sum()) if len(offsets) else 0.0
    dissimilarity = float(sum(cut_dis))
    err_beats = abs(dur - target_s) / beat_s
    keeps_end = segments[-1][1] == n - 1
    shortest = min(b - a for a, b in segments)
    blended = -(
        dissimilarity
        + bar_pen
        + CUT_PENALTY * len(cut_dis)
        + DURATION_PENALTY_PER_BEAT * err_beats
        + (0.0 if keeps_end else EARLY_END_PENALTY)
        + (0.1 if shortest < BEATS_PER_BAR and len(segments) > 1 else 0.0)
    )
    return Edit(
        segments_beats=list(segments),
        segments_seconds=secs,
        duration_s=dur,
        dissimilarity=dissimilarity,
        blended_score=float(blended),
        cut_dissimilarities=cut_dis,
    )


def validate_boundaries(boundaries: Any) -> np.ndarray:
    """Boundaries as a float array: finite, non-negative, strictly increasing, >= 2."""
    try:
        arr = np.asarray(boundaries, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ResizeInputError("boundaries must be an array of numbers (seconds)") from e
    if arr.ndim != 1 or len(arr) < 2:
        raise ResizeInputError("boundaries must be an array of at least 2 beat times")
    if len(arr) > MAX_BEATS + 1:
        raise ResizeInputError(f"too many boundaries (at most {MAX_BEATS})")
    if not np.all(np.isfinite(arr)) or arr[0] < 0:
        raise ResizeInputError("boundaries must be finite, non-negative seconds")
    if np.any(np.diff(arr) <= 0):
        raise ResizeInputError("boundaries must be strictly increasing")
    return arr


def check_similarity_fits(n_sim_beats: int, n_boundaries: int) -> None:
    if n_sim_beats not in (n_boundaries, n_boundaries - 1):
        raise ResizeInputError(
            f"similarity data describes {n_sim_beats} beats but there are "
            f"{n_boundaries} boundaries (expected {triangle_size(n_boundaries)} or "
            f"{triangle_size(n_boundaries - 1)} values)"
        )


def resize(
    sim: np.ndarray,
    boundaries: Any,
    target_s: float,
    *,
    n_results: int = 20,
    context_beats: int = 4,
    tolerance_beats: int = 2,
) -> list[Edit]:
    """Candidate edits of about ``target_s`` seconds, best first.

    Parameters
    ----------
    sim : np.ndarray, shape (n_beats, n_beats)
        Beat self-similarity in [0, 1]; ``n_beats`` is ``len(boundaries)`` or one less.
    boundaries : array-like, shape (n_positions,)
        Beat boundaries in seconds; the last one is the end of the song.
    target_s : float
        Target duration in seconds.
    n_results : int
        How many different edits to return (fewer when the song does not allow them).
    context_beats : int
        Beats either side of a cut compared in the self-similarity matrix.
    tolerance_beats : int
        Accepted distance from the target, in beats.

    Returns
    -------
    list of Edit, sorted by ``blended_score`` (best, closest to 0, first)
    """
    bnd = validate_boundaries(boundaries)
    if not (isinstance(target_s, int | float) and math.isfinite(target_s) and target_s > 0):
        raise ResizeInputError("targetLengthSeconds must be a positive number")
    if target_s > MAX_TARGET_S:
        raise ResizeInputError(f"targetLengthSeconds must be at most {MAX_TARGET_S:g}")
    sim = np.asarray(sim, dtype=np.float32)
    check_similarity_fits(sim.shape[0], len(bnd))
    n = len(bnd)
    end = n - 1
    beat_s = float(np.median(np.diff(bnd)))
    # half-beat resolution, or whole beats when the search would be too large
    upb = UNITS_PER_BEAT
    if (target_s / beat_s + tolerance_beats) * n > FINE_DP_CELLS:
        upb = 1  # long song and long target: whole beats keep it well under a second
    if (target_s / beat_s + tolerance_beats) * upb * n > MAX_DP_CELLS:
        longest = MAX_DP_CELLS / n * beat_s - tolerance_beats * beat_s
        raise ResizeInputError(
            f"targetLengthSeconds is too long for a song of {end} beats (at most {longest:.0f} s)"
        )
    unit_s = beat_s / upb
    units = time_units(bnd, unit_s)
    dis = jump_dissimilarity(sim, n, context_beats)

    # the DP counts output time in units of half a beat; segments play whole beats
    target_beats = target_s / beat_s
    target_units = target_s / unit_s
    tol_units = tolerance_beats * upb
    lo = max(1, int(math.floor(target_units - tol_units)))
    hi = int(math.ceil(target_units + tol_units))
    e_max = hi
    min_seg = _min_segment_beats(target_beats, end)
    min_jump = min(BEATS_PER_BAR, max(1, end // 4))

    src, dst = _candidate_jumps(dis, bnd, float(bnd[-1] - bnd[0] - target_s), min_jump)
    base_cost = dis[src, dst] + jump_penalty(dst - src) + CUT_PENALTY
    alive = np.ones(len(src), dtype=bool)

    edits: list[Edit] = []
    seen: set[tuple[tuple[int, int], ...]] = set()
    window = np.arange(lo, min(hi, e_max) + 1)
    dur_pen = DURATION_PENALTY_PER_BEAT * np.abs(window - target_units) / upb
    # big problems (long songs lengthened a lot) take several paths per DP run
    work = len(src) * e_max
    per_run = int(np.clip(math.ceil(work * n_results / 5e7), 1, 8))
    chosen_cuts: list[tuple[int, int]] = []

    def near_chosen(cuts: list[tuple[int, int]]) -> bool:
        return any(
            abs(b - cb) <= NEAR_BEATS and abs(a - ca) <= NEAR_BEATS
            for b, a in cuts
            for cb, ca in chosen_cuts
        )

    runs = 0
    while len(edits) < n_results and runs < n_results + 10:
        runs += 1
        graph = _build_graph(src[alive], dst[alive], base_cost[alive])
        g, h, from_h, h_edge = _solve(graph, units, e_max, min_seg)
        # terminal states: the real end (preferred) or, as a fallback, anywhere (fade-out)
        term: list[tuple[float, int, int]] = []
        for k, e_end in enumerate(window):
            c = g[e_end, end] + dur_pen[k]
            if np.isfinite(c):
                term.append((float(c), int(e_end), end))
        early = g[window, :end].copy()
        early[:, :min_seg] = np.inf
        for f in np.argsort(early, axis=None)[:8]:
            r, i_end = (int(x) for x in np.unravel_index(f, early.shape))
            c = early[r, i_end]
            if np.isfinite(c):
                term.append((float(c + EARLY_END_PENALTY + dur_pen[r]), int(window[r]), i_end))
        term.sort()
        accepted = 0
        for _c, e, i in term:
            segs = _backtrack(graph, units, from_h, h_edge, e, i, min_seg)
            if segs is None or tuple(segs) in seen:
                continue
            cuts = [(segs[k][1], segs[k + 1][0]) for k in range(len(segs) - 1)]
            if accepted and near_chosen(cuts):
                continue
            seen.add(tuple(segs))
            edits.append(_describe(segs, bnd, dis, target_s, beat_s))
            chosen_cuts.extend(cuts)
            accepted += 1
            if accepted >= per_run or len(edits) >= n_results:
                break
        if not accepted:
            break
        # diversity: forbid every jump within two bars of the cuts used so far
        for b, a in chosen_cuts:
            near = (np.abs(src - b) <= NEAR_BEATS) & (np.abs(dst - a) <= NEAR_BEATS)
            alive &= ~near
    if not edits:
        # too short to keep both ends: the first target_s of the song
        k = int(np.searchsorted(bnd, bnd[0] + target_s))
        k = min(max(k, 1), end)
        edits.append(_describe([(0, k)], bnd, dis, target_s, beat_s))
    edits.sort(key=lambda x: -x.blended_score)
    return edits


def credit_cost_resize(target_s: float) -> int:
    """Audjust's price: 4 credits per started target minute, at least 1."""
    from tonearm.editing.credits import resize_cost

    return resize_cost(target_s)
