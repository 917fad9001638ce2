"""Audjust's compressed self-similarity string.

The matrix is symmetric, so only the lower triangle with the diagonal is sent, row by row:
cell (i, j), j <= i, is character ``(i + 1) * i / 2 + j``. Each character's code maps
linearly to a value: ``(code - min) / (max - min)``. We use ``min = 32`` and ``max = 126``
(all printable ASCII, as Audjust does) and never emit ``"`` (34) or ``\\`` (92): those two
levels round to their neighbour, which changes a value by at most 1/94 but keeps the string
free of characters that need escaping anywhere it is pasted (JSON, JS/Python literals,
shells, CSV).
"""

from __future__ import annotations

from typing import Any

import numpy as np

CODE_MIN = 32
CODE_MAX = 126
_AVOID = (34, 92)


def _code_table() -> np.ndarray:
    """For each level 0..94 (code - CODE_MIN), the code we emit."""
    codes = np.arange(CODE_MIN, CODE_MAX + 1)
    for bad in _AVOID:
        codes[bad - CODE_MIN] = bad + 1  # nearest neighbour above; both are 1 level away
    return codes


_TABLE = _code_table()


def tri_index(row: int, col: int) -> int:
    """Index of cell (row, col) in the lower-triangle string (the seed's getDiagIndex)."""
    i, j = max(row, col), min(row, col)
    return (i + 1) * i // 2 + j


def encode_similarity(matrix: np.ndarray) -> dict[str, Any]:
    """Encode a square similarity matrix with values in [0, 1].

    Parameters
    ----------
    matrix : np.ndarray, shape (n, n)
        Similarities in [0, 1] (clipped); only the lower triangle is read.

    Returns
    -------
    dict
        ``{"data": str of n * (n + 1) / 2 characters, "min": 32, "max": 126}``.
    """
    m = np.clip(np.asarray(matrix, dtype=np.float64), 0.0, 1.0)
    n = m.shape[0]
    if m.ndim != 2 or m.shape[1] != n:
        raise ValueError(f"need a square matrix, got shape {m.shape}")
    rows, cols = np.tril_indices(n)  # row-major: (0,0) (1,0) (1,1) (2,0) ... as tri_index
    levels = np.rint(m[rows, cols] * (CODE_MAX - CODE_MIN)).astype(np.int64)
    data = _TABLE[levels].astype(np.uint8).tobytes().decode("ascii")
    return {"data": data, "min": CODE_MIN, "max": CODE_MAX}


def decode_similarity(sim: dict[str, Any]) -> np.ndarray:
    """The full symmetric matrix back from ``{"data", "min", "max"}``, shape (n, n), float32.

    Raises
    ------
    ValueError
        If the string length is not a triangular number or min/max are unusable.
    """
    data = sim.get("data")
    lo, hi = sim.get("min"), sim.get("max")
    if (
        not isinstance(data, str)
        or not isinstance(lo, int | float)
        or not isinstance(hi, int | float)
    ):
        raise ValueError("similarity must have a string 'data' and numeric 'min' and 'max'")
    if hi <= lo:
        raise ValueError("similarity 'max' must be greater than 'min'")
    k = len(data)
    n = int((np.sqrt(8 * k + 1) - 1) / 2)
    if n * (n + 1) // 2 != k:
        raise ValueError(f"similarity data has {k} characters, not a triangular number")
    try:
        codes = np.frombuffer(data.encode("latin-1"), dtype=np.uint8).astype(np.float32)
    except UnicodeEncodeError:
        codes = np.array([ord(c) for c in data], dtype=np.float32)
    vals = (codes - float(lo)) / float(hi - lo)
    out = np.zeros((n, n), dtype=np.float32)
    rows, cols = np.tril_indices(n)
    out[rows, cols] = vals
    out[cols, rows] = vals
    return out
