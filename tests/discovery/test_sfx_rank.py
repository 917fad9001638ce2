"""Similar-SFX re-scoring: library whitening and query expansion (discovery.sfx_rank)."""

from __future__ import annotations

import numpy as np

from tonearm.core.embeddings.base import l2_normalize
from tonearm.discovery import sfx_rank


def _library(
    seed: int = 0, loud: float = 15.0, n_per: int = 40, dim: int = 96
) -> tuple[np.ndarray, np.ndarray]:
    """Clustered vectors plus a common offset and a few loud axes unrelated to the clusters
    (level, length... in real embeddings): plain cosine is dominated by them."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(4), n_per)
    centers = rng.standard_normal((4, dim))
    m = 3.0 + centers[labels] + 0.5 * rng.standard_normal((len(labels), dim))
    m[:, :8] += loud * rng.standard_normal((len(labels), 8))
    return l2_normalize(m.astype(np.float32)), labels


def _precision(sims: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    out = []
    for i in range(len(labels)):
        s = sims[i].copy()
        s[i] = -np.inf
        out.append(np.mean(labels[np.argsort(-s)[:k]] == labels[i]))
    return float(np.mean(out))


def test_whitening_beats_plain_cosine_under_a_common_direction() -> None:
    m, labels = _library()
    w = sfx_rank.fit_whitening(m, dims=16)
    z = w.apply(m)
    assert z.shape == (len(m), 16)
    assert np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    assert _precision(z @ z.T, labels) > _precision(m @ m.T, labels)


def test_rerank_scores_are_bounded_and_expansion_moves_toward_neighbours() -> None:
    m, labels = _library(seed=1, loud=0.0)
    z = sfx_rank.fit_whitening(m, dims=16).apply(m)
    q, rest, rest_labels = z[0], z[1:], labels[1:]
    s = sfx_rank.rerank_scores(q, rest)
    assert s.shape == (len(rest),) and s.min() >= 0.0 and s.max() <= 1.0
    q2 = sfx_rank.expanded_query(q, rest)
    same = rest[rest_labels == labels[0]].mean(axis=0)
    assert float(q2 @ same) >= float(q @ same)
    assert np.allclose(sfx_rank.expanded_query(q, rest, k=0), q)


def test_library_space_refits_only_when_the_vectors_change() -> None:
    m, _ = _library(seed=2)
    ids = np.arange(len(m), dtype=np.int64)
    cache: dict[str, object] = {}
    assert sfx_rank.library_space(cache, "x", ids[:10], m[:10]) is None  # too few to fit
    a = sfx_rank.library_space(cache, "x", ids, m)
    b = sfx_rank.library_space(cache, "x", ids, m)
    assert a is not None and b is not None and a[2] is b[2]
    c = sfx_rank.library_space(cache, "x", ids[:-1], m[:-1])
    assert c is not None and c[2] is not a[2]
