"""The similarity string decodes with Audjust's own formula to the matrix we computed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tonearm.editing.similarity import decode_similarity, encode_similarity, tri_index


# --- the seed's JavaScript, ported line by line --------------------------------------
def parse_similarity_map_string(s: str, start: float, end: float) -> list[float]:
    # [...s].map((_, i) => (s.charCodeAt(i) - start) / (end - start))
    # (float32 in JS: Float32Array; compared with a tolerance below)
    return [(ord(ch) - start) / (end - start) for ch in s]


def get_diag_index(row: int, col: int) -> int:
    i = max(row, col)
    j = min(row, col)
    return math.floor(((i + 1) * i) / 2 + j)


# --------------------------------------------------------------------------------------


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.random((n, n))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 1.0)
    if n > 1:
        m[0, 1] = m[1, 0] = 0.0
    return m


@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_seed_decoder_recovers_matrix(n: int) -> None:
    m = _matrix(n)
    enc = encode_similarity(m)
    # survives a JSON round trip as a client receives it
    enc = json.loads(json.dumps({"similarity": enc}))["similarity"]
    assert enc["min"] == 32 and enc["max"] == 126
    assert len(enc["data"]) == n * (n + 1) // 2
    matrix = parse_similarity_map_string(enc["data"], enc["min"], enc["max"])
    for i in range(n):
        for j in range(n):
            # rounding is half a level (1/94); an avoided character moves a value one more level
            assert abs(matrix[get_diag_index(i, j)] - m[i, j]) <= 1.5 / 94 + 1e-9
    assert matrix[get_diag_index(0, 0)] == 1.0
    if n > 1:
        assert matrix[get_diag_index(0, 1)] == 0.0


def test_printable_ascii_without_quote_or_backslash() -> None:
    levels = np.linspace(0, 1, 95)
    m = np.zeros((95, 95))
    m[np.arange(95), 0] = levels
    m[0, np.arange(95)] = levels
    data = encode_similarity(m)["data"]
    codes = {ord(c) for c in data}
    assert codes <= set(range(32, 127)) - {34, 92}
    assert '"' not in json.dumps(data)[1:-1] and "\\" not in json.dumps(data)


def test_our_decoder_matches_seed_decoder_and_tri_index() -> None:
    m = _matrix(20, 3)
    enc = encode_similarity(m)
    full = decode_similarity(enc)
    flat = parse_similarity_map_string(enc["data"], 32, 126)
    for i in range(20):
        for j in range(20):
            assert tri_index(i, j) == get_diag_index(i, j)
            assert abs(full[i, j] - flat[get_diag_index(i, j)]) < 1e-6


def test_decode_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        decode_similarity({"data": "ab", "min": 32, "max": 126})  # 2 is not triangular
    with pytest.raises(ValueError):
        decode_similarity({"data": "a", "min": 32, "max": 32})
    with pytest.raises(ValueError):
        decode_similarity({"data": 5, "min": 32, "max": 126})
    with pytest.raises(ValueError):
        encode_similarity(np.zeros((2, 3)))
