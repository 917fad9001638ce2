"""Similar-SFX ranking above plain cosine: library whitening and query expansion.

Measured by ``bench/real_discovery.py --parts sfx`` (397 real SFX from Debian packages, 202
labelled in 18 categories; same-category precision@10):

- max-pooled aisfx vectors (the stored ``aisfx-ismir2022/v2-max``): .383 vs .370 for the
  plain mean-pooled ones;
- **whitening** fitted on the library's own vectors (no labels): centre, project on the
  top :data:`WHITEN_DIMS` principal axes, scale each by ``(variance + eps)^-power``. The
  aisfx vectors share a large common direction and a few dominant axes; whitening lets
  the axes that tell categories apart count;
- **query expansion**: the query moves toward its :data:`QE_K` nearest neighbours in the
  whitened space (weights ``cosine^QE_ALPHA``) and is searched again.

Together .415 (1.12x plain), tuning half .442, held-out half .393 (split by file). A
projection fitted on one half and applied to the other scores lower (held-out .378,
1.08x): the gain comes from adapting to the library searched, which is why it is fitted
on the catalog itself. Below :data:`MIN_FIT` vectors the plain cosine is used.

On a second real set (``--parts sfx2``: 595 clips of five other games, 22 categories) it
scores what plain mean-pooled vectors do (1.02x; held-out .99x, 95 % interval .96-1.03):
the gain depends on the library, and no measured alternative did better there
(bench/results/discovery/NOTES.md, sessions 6 and 7).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from tonearm.core.embeddings.base import l2_normalize

WHITEN_DIMS = 64
WHITEN_POWER = 0.25
WHITEN_EPS = 0.1  # share of the largest variance added to every axis' variance
QE_K = 3
QE_ALPHA = 3.0
MIN_FIT = 100  # vectors needed to fit the whitening
MAX_FIT_ROWS = 5000  # rows sampled to fit it (bounded cost on a large catalog)


@dataclass(frozen=True)
class Whitening:
    """``z = l2_normalize((v - mean) @ proj)``.

    Attributes
    ----------
    mean : np.ndarray, shape (dim,)
    proj : np.ndarray, shape (dim, k)
    """

    mean: np.ndarray
    proj: np.ndarray

    def apply(self, v: np.ndarray) -> np.ndarray:
        """Whitened, L2-normalized rows, shape (..., k)."""
        return l2_normalize((np.asarray(v, np.float32) - self.mean) @ self.proj)


def fit_whitening(
    m: np.ndarray,
    dims: int = WHITEN_DIMS,
    power: float = WHITEN_POWER,
    eps: float = WHITEN_EPS,
    seed: int = 0,
) -> Whitening:
    """PCA whitening of the rows of ``m`` (shape (n, dim); at most :data:`MAX_FIT_ROWS`
    rows, sampled with a fixed seed, are used)."""
    x = np.asarray(m, np.float64)
    if len(x) > MAX_FIT_ROWS:
        x = x[np.random.default_rng(seed).choice(len(x), MAX_FIT_ROWS, replace=False)]
    mu = x.mean(axis=0)
    xc = x - mu
    cov = xc.T @ xc / max(1, len(xc))
    lam, u = np.linalg.eigh(cov)
    lam, u = lam[::-1][:dims], u[:, ::-1][:, :dims]
    scale = (np.maximum(lam, 0) + eps * max(float(lam.max()), 1e-12)) ** power
    return Whitening(mu.astype(np.float32), (u / scale).astype(np.float32))


def expanded_query(
    zq: np.ndarray, z: np.ndarray, k: int = QE_K, alpha: float = QE_ALPHA
) -> np.ndarray:
    """Query expansion: ``zq`` plus its ``k`` nearest rows of ``z`` weighted by
    ``max(cosine, 0)^alpha``, L2-normalized. ``z`` must not contain the query itself."""
    if k <= 0 or len(z) == 0:
        return zq
    s = z @ zq
    kk = min(k, len(z))
    nn = np.argpartition(-s, kk - 1)[:kk]
    w = np.clip(s[nn], 0, 1) ** alpha
    return l2_normalize(zq + (w[:, None] * z[nn]).sum(axis=0))


def rerank_scores(zq: np.ndarray, z: np.ndarray, k: int = QE_K) -> np.ndarray:
    """Scores in [0, 1] of every row of ``z`` (whitened library, query excluded) for the
    whitened query ``zq``, after query expansion."""
    q2 = expanded_query(zq, z, k)
    return np.asarray(np.clip(z @ q2, 0.0, 1.0), dtype=np.float32)


def rerank_rows(z: np.ndarray, rows: np.ndarray, k: int = QE_K) -> np.ndarray:
    """:func:`rerank_scores` of every row of ``z`` for each row in ``rows`` as the query,
    ranked among the other rows (its own score set to 1), shape (len(rows), len(z))."""
    rows = np.asarray(rows, np.int64)
    q = np.arange(len(rows))
    s = z[rows] @ z.T
    s[q, rows] = -np.inf
    kk = min(k, len(z) - 1)
    if kk <= 0:
        q2 = z[rows]
    else:
        nn = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        w = np.clip(np.take_along_axis(s, nn, axis=1), 0, 1) ** QE_ALPHA
        q2 = l2_normalize(z[rows] + np.einsum("qk,qkd->qd", w, z[nn]))
    out = np.clip(q2 @ z.T, 0.0, 1.0).astype(np.float32)
    out[q, rows] = 1.0
    return out


# -- per-catalog cache ---------------------------------------------------------------------------
@dataclass
class _Fitted:
    signature: tuple[int, int, int]
    whitening: Whitening
    ids: np.ndarray
    z: np.ndarray


_LOCK = threading.Lock()


def library_space(
    cache: dict[str, object], model_id: str, ids: np.ndarray, m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, Whitening] | None:
    """(ids, whitened rows, whitening) of a library's vectors, refitted when the set of
    vectors changes; None when there are fewer than :data:`MIN_FIT`."""
    if len(ids) < MIN_FIT:
        return None
    sig = (len(ids), int(ids.sum()) if len(ids) else 0, int(ids[-1]) if len(ids) else 0)
    key = f"sfx_rank:{model_id}"
    with _LOCK:
        got = cache.get(key)
        if isinstance(got, _Fitted) and got.signature == sig:
            return got.ids, got.z, got.whitening
    w = fit_whitening(m)
    fitted = _Fitted(sig, w, ids.copy(), w.apply(m))
    with _LOCK:
        cache[key] = fitted
    return fitted.ids, fitted.z, fitted.whitening
