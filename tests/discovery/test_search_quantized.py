"""The int8 first pass of the semantic ranking returns exactly what exact float32 does."""

from __future__ import annotations

import numpy as np

from tonearm.discovery.quantized import EXACT_MAX, VectorTable, exact_scores, quantize


def _unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_quantize_round_trip_error_is_small() -> None:
    v = _unit(np.random.default_rng(0), 50, 384)
    q8, scale = quantize(v)
    assert q8.dtype == np.int8 and scale.shape == (50,)
    assert np.abs(q8 / scale[:, None] - v).max() < 0.004


def test_top_matches_exact_ranking_on_a_large_table() -> None:
    rng = np.random.default_rng(1)
    n = EXACT_MAX * 3
    vecs = _unit(rng, n, 384)
    table = VectorTable(vecs)
    assert table.q8 is not None  # the int8 pass is used at this size
    for i in range(5):
        q = vecs[i * 7] + 0.5 * _unit(rng, 1, 384)[0]
        q /= np.linalg.norm(q)
        rows, sims = table.top(q, 300)
        exact = vecs.astype(np.float64) @ q.astype(np.float64)
        want = np.lexsort((np.arange(n), -exact))[:300]
        assert rows.tolist() == want.tolist()
        assert np.allclose(sims, exact[rows], atol=1e-5)


def test_top_respects_the_allowed_mask_and_small_tables_are_exact() -> None:
    rng = np.random.default_rng(2)
    vecs = _unit(rng, 100, 16)
    table = VectorTable(vecs)
    assert table.q8 is None
    allowed = np.zeros(100, dtype=bool)
    allowed[[3, 50, 97]] = True
    rows, sims = table.top(vecs[50], 10, allowed)
    assert rows[0] == 50 and set(rows.tolist()) == {3, 50, 97}
    assert np.isclose(sims[0], 1.0, atol=1e-5)
    rows, _ = table.top(vecs[0], 10, np.zeros(100, dtype=bool))
    assert rows.size == 0


def test_exact_scores_equal_the_matrix_product() -> None:
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 500, 64)
    q = vecs[10]
    assert np.allclose(exact_scores(vecs, q), vecs @ q, atol=1e-5)
    rows = np.array([499, 0, 10])
    assert np.allclose(exact_scores(vecs, q, rows), vecs[rows] @ q, atol=1e-5)
