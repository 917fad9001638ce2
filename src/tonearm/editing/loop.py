"""Seamless loops: a section of about the target length whose end flows into its start.

A loop ``[a, b)`` repeats by jumping from position ``b`` back to position ``a``; it is
seamless when that jump is a good cut in the sense of :mod:`tonearm.editing.resize`:
the beats before ``b`` look like the beats before ``a`` and the beats from ``b`` on look
like the beats from ``a`` on. Every (a, b) pair of about the target length is scored
in one vectorised pass; whole bars are preferred, and the results are spread over the
song (no two loops within two bars of each other at both ends).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tonearm.editing.resize import (
    DURATION_PENALTY_PER_BEAT,
    NEAR_BEATS,
    ResizeInputError,
    check_similarity_fits,
    jump_dissimilarity,
    jump_penalty,
    validate_boundaries,
)

MIN_LOOP_BEATS = 4


@dataclass(frozen=True)
class Loop:
    """A loop over positions ``[start_beat, end_beat)`` of the boundaries."""

    start_beat: int
    end_beat: int
    start_s: float
    end_s: float
    dissimilarity: float
    blended_score: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_audjust(self, sample_rate: int = 44100) -> dict[str, Any]:
        """Audjust-style fields (like a resize result) plus the loop points."""
        return {
            "dissimilarity": float(self.dissimilarity),
            "blendedScore": float(self.blended_score),
            "segmentsBeats": [[self.start_beat, self.end_beat]],
            "segmentsSeconds": [[round(self.start_s, 3), round(self.end_s, 3)]],
            "durationSeconds": round(self.duration_s, 3),
            "loopStartSeconds": round(self.start_s, 3),
            "loopEndSeconds": round(self.end_s, 3),
            "loopStartSample": int(round(self.start_s * sample_rate)),
            "loopEndSample": int(round(self.end_s * sample_rate)),
            "sampleRate": int(sample_rate),
        }


def find_loops(
    sim: np.ndarray,
    boundaries: Any,
    target_s: float,
    *,
    n_results: int = 20,
    context_beats: int = 4,
    tolerance_beats: int = 2,
) -> list[Loop]:
    """Loops of about ``target_s`` seconds, best first.

    Parameters
    ----------
    sim : np.ndarray, shape (n_beats, n_beats)
        Beat self-similarity in [0, 1]; ``n_beats`` is ``len(boundaries)`` or one less.
    boundaries : array-like, shape (n_positions,)
        Beat boundaries in seconds.
    target_s : float
        Wanted loop length in seconds (at most the song's length).

    Returns
    -------
    list of Loop, sorted by ``blended_score`` (closest to 0 first)
    """
    bnd = validate_boundaries(boundaries)
    if not (isinstance(target_s, int | float) and math.isfinite(target_s) and target_s > 0):
        raise ResizeInputError("targetLengthSeconds must be a positive number")
    sim = np.asarray(sim, dtype=np.float32)
    check_similarity_fits(sim.shape[0], len(bnd))
    n = len(bnd)
    song_s = float(bnd[-1] - bnd[0])
    if target_s > song_s:
        raise ResizeInputError(
            f"targetLengthSeconds ({target_s:g}) is longer than the song ({song_s:.2f} s): "
            "a loop is a section of the song"
        )
    beat_s = song_s / (n - 1)
    dis = jump_dissimilarity(sim, n, context_beats)

    a_idx, b_idx = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    length_s = bnd[b_idx] - bnd[a_idx]
    err_beats = np.abs(length_s - target_s) / beat_s
    span = b_idx - a_idx
    ok = (span >= min(MIN_LOOP_BEATS, n - 1)) & (err_beats <= tolerance_beats + 0.5)
    if not ok.any():  # the beats are too coarse for the tolerance: take the closest lengths
        closest = err_beats[span >= 1].min()
        ok = (span >= 1) & (err_beats <= closest + 1e-9)
    # the jump at the loop point goes from b back to a
    cut = dis[b_idx, a_idx]
    cost = cut + jump_penalty(span) + DURATION_PENALTY_PER_BEAT * err_beats
    cost = np.where(ok, cost, np.inf)

    loops: list[Loop] = []
    order = np.argsort(cost, axis=None)
    for f in order:
        a, b = np.unravel_index(int(f), cost.shape)
        c = cost[a, b]
        if not np.isfinite(c) or len(loops) >= n_results:
            break
        if any(
            abs(int(a) - lp.start_beat) <= NEAR_BEATS and abs(int(b) - lp.end_beat) <= NEAR_BEATS
            for lp in loops
        ):
            continue
        loops.append(
            Loop(
                start_beat=int(a),
                end_beat=int(b),
                start_s=float(bnd[a]),
                end_s=float(bnd[b]),
                dissimilarity=float(cut[a, b]),
                blended_score=-float(c),
            )
        )
    return loops
