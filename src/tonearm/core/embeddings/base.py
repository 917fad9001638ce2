"""The one small protocol every audio embedding model implements.

A model maps one decoded :class:`~tonearm.core.audio.signal.Signal` to one L2-normalized
float32 vector. Vectors are only comparable between the same ``model_id``; the vector index
keeps models apart, and ``tonearm reindex`` recomputes vectors after a model change.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from tonearm.core.audio.signal import Signal


@runtime_checkable
class AudioEmbedder(Protocol):
    """An audio embedding model.

    Attributes
    ----------
    model_id : str
        Stable identifier, stored beside every vector (e.g. ``"aisfx-ismir2022/v1"``).
    dim : int
        Length of the vectors it returns.
    """

    model_id: str
    dim: int

    def embed(self, signal: Signal) -> np.ndarray:
        """One vector for the whole clip, shape (dim,), float32, L2 norm 1 (or all zeros
        for digital silence)."""
        ...


def l2_normalize(v: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """``v / ||v||`` along the last axis, float32; an all-zero row stays zero."""
    v = np.asarray(v, dtype=np.float32)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.where(n > eps, v / np.maximum(n, eps), 0.0).astype(np.float32)


def to_blob(v: np.ndarray) -> bytes:
    """Little-endian float32 bytes of a vector (the ``embedding`` analysis blob)."""
    return np.asarray(v, dtype="<f4").tobytes()


def from_blob(b: bytes) -> np.ndarray:
    """Inverse of :func:`to_blob`: shape (dim,), float32."""
    return np.frombuffer(b, dtype="<f4").astype(np.float32)


def cosine_to_score(cos: np.ndarray | float) -> np.ndarray:
    """Map cosine similarity to the wire ``score`` in [0, 1] (higher = more similar).

    Negative cosines (opposite directions) are 0: "not similar" needs no finer grading, and
    a fixed mapping keeps scores comparable across queries.
    """
    return np.clip(np.asarray(cos, dtype=np.float64), 0.0, 1.0)
