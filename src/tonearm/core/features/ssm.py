"""Beat-by-beat self-similarity."""

from __future__ import annotations

import numpy as np

from tonearm.core.features.beatsync import BeatFeatures


def similarity_features(feats: BeatFeatures, context: int = 2) -> np.ndarray:
    """Vectors whose cosine similarity says how alike two beats (and what follows) sound.

    Harmony (chroma) and timbre (MFCC without c0, so loudness alone does not dominate) are
    z-scored per dimension over the track, weighted equally, and each beat is stacked with
    the next ``context - 1`` beats so similar beats also lead into similar material (what
    a cut between them needs).

    Returns
    -------
    np.ndarray, shape (n_segments, 25 * context), float32
    """
    n = feats.chroma.shape[0]
    if n == 0:
        return np.zeros((0, 25 * context), np.float32)
    parts = []
    for block in (feats.chroma, feats.mfcc[:, 1:], feats.loudness[:, None]):
        b = block.astype(np.float64)
        sd = b.std(axis=0)
        b = (b - b.mean(axis=0)) / np.where(sd > 1e-9, sd, 1.0)
        parts.append(b / np.sqrt(b.shape[1]))
    x = np.concatenate(parts, axis=1)
    stacked = [x]
    for c in range(1, context):
        shifted = np.concatenate([x[c:], np.repeat(x[-1:], c, axis=0)], axis=0)
        stacked.append(shifted)
    return np.concatenate(stacked, axis=1).astype(np.float32)


def self_similarity(vectors: np.ndarray) -> np.ndarray:
    """Cosine self-similarity clipped to [0, 1], shape (n, n), float32, diagonal 1.

    Negative cosine (anti-correlated after z-scoring) counts as completely dissimilar.
    """
    v = np.asarray(vectors, dtype=np.float64)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    u = v / np.where(norm > 1e-12, norm, 1.0)
    s = np.clip(u @ u.T, 0.0, 1.0)
    np.fill_diagonal(s, 1.0)
    return s.astype(np.float32)
