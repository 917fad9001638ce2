"""Nearest rows of a large unit-vector matrix in a few milliseconds: int8 pass, exact rescoring.

Search compares a query with every track (100k x 384 float32 text vectors are 150 MB; a
BLAS matrix-vector product over them costs 5-20 ms of CPU and, on a busy machine, far more
wall time because BLAS splits it over threads that wait for cores). Here every row is also
kept as int8 with its own scale (a quarter of the memory), a single-threaded numba kernel
(it releases the GIL: concurrent requests run meanwhile) scores all rows from those (about
1 ms at 100k x 384), and only the best ``2 * k`` rows are rescored exactly in float32 (also
on the calling thread: see :func:`exact_scores`). The int8 error on a cosine is below
0.003, far smaller than the gap between rank ``k`` and rank ``2k`` in practice, so the rows
returned and their order are those of the exact product (checked in tests). Below
``EXACT_MAX`` rows everything is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EXACT_MAX = 4096  # at most this many rows: exact float32 scores, no int8 pass


@njit(cache=True, nogil=True, boundscheck=False)
def _dot_i8(mat: np.ndarray, q: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    n, d = mat.shape
    for r in range(n):
        acc = np.int32(0)
        for j in range(d):
            acc += np.int16(mat[r, j]) * np.int16(q[j])
        out[r] = acc


@njit(cache=True, nogil=True, boundscheck=False)
def _dot_rows_f32(
    mat: np.ndarray, rows: np.ndarray, q: np.ndarray, out: np.ndarray
) -> None:  # pragma: no cover
    d = mat.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        acc = np.float32(0)
        for j in range(d):
            acc += mat[r, j] * q[j]
        out[i] = acc


def exact_scores(mat: np.ndarray, q: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """float32 dot products of ``q`` with ``mat``'s rows (all, or ``rows``), on this thread.

    Not ``mat @ q``: BLAS splits a product over its threads, and on a busy machine a query
    then waits for the slowest of them (tens of ms of wall time for a millisecond of work).
    """
    rows = np.arange(mat.shape[0], dtype=np.int64) if rows is None else rows
    out = np.empty(rows.shape[0], dtype=np.float32)
    if rows.size:
        _dot_rows_f32(mat, np.ascontiguousarray(rows, dtype=np.int64), q, out)
    return out


def quantize(vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int8 rows, per-row scale): ``row ~= int8_row / scale``."""
    peak = np.abs(vecs).max(axis=1) if vecs.size else np.zeros(vecs.shape[0])
    scale = np.where(peak > 0, 127.0 / np.maximum(peak, 1e-12), 1.0).astype(np.float32)
    q = np.rint(vecs * scale[:, None]).clip(-127, 127).astype(np.int8)
    return np.ascontiguousarray(q), scale


class VectorTable:
    """Unit rows (float32) with their int8 copy; cosine top-k against a query vector.

    Parameters
    ----------
    vecs : ndarray (n, d) float32
        Unit-length rows (zero rows never rank: pass ``ok`` to exclude them).
    """

    def __init__(self, vecs: np.ndarray) -> None:
        self.vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        self.n = int(self.vecs.shape[0])
        self.q8: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        if self.n > EXACT_MAX:
            self.q8, self.scale = quantize(self.vecs)

    def approx(self, query: np.ndarray) -> np.ndarray:
        """Approximate cosine of every row (exact below ``EXACT_MAX`` rows), shape (n,)."""
        q = np.ascontiguousarray(query, dtype=np.float32)
        if self.q8 is None or self.scale is None:
            return exact_scores(self.vecs, q)
        (qq,), (qs,) = quantize(q[None, :])
        raw = np.empty(self.n, dtype=np.int32)
        _dot_i8(self.q8, qq, raw)
        return raw.astype(np.float32) / (self.scale * qs)

    def top(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, exact cosine) of the ``k`` rows most similar to ``query``, best first
        (ties: lower row first), among rows where ``allowed`` (bool mask) is True."""
        sims = self.approx(query)
        if allowed is not None:
            sims = np.where(allowed, sims, -np.inf)
        exact_pass = self.q8 is None
        cand = _top(sims, k if exact_pass else 2 * k)
        if cand.size == 0:
            return cand, np.zeros(0, dtype=np.float32)
        if exact_pass:
            return cand, sims[cand].astype(np.float32)
        exact = exact_scores(self.vecs, np.ascontiguousarray(query, dtype=np.float32), cand)
        order = np.lexsort((cand, -exact))[:k]
        return cand[order], exact[order]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Rows of the ``k`` highest finite scores, best first (ties: lower row first)."""
    finite = np.flatnonzero(np.isfinite(scores))
    k = min(k, int(finite.size))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = finite[np.argpartition(-scores[finite], k - 1)[:k]] if k < finite.size else finite
    return part[np.lexsort((part, -scores[part]))]


__all__ = ["EXACT_MAX", "VectorTable", "exact_scores", "quantize"]
