"""Absolute search scores: the raw evidence for a track (text-vector cosine, the share of
the query's words it contains, the probability of the tags the query names) mapped to
[0, 1] so that a score means the same thing for every query of a library.

The cosine is calibrated against a null distribution measured on the library itself:
``NULL_QUERIES`` phrases of random vocabulary words (queries that mean nothing in
particular) are embedded once per process, and the best-hit cosine each gets on the
library is kept (:func:`null_best_hits`). A track's cosine ``s`` then scores

    0                                  if s <= median of the null best hits (m50),
    1 - 0.5 ** ((s - m50) / (m95 - m50)) otherwise,

so a cosine equal to the best hit of only 5 % of meaningless queries (m95) scores .5,
each further step of the same size halves the distance to 1, and nothing reaches 1.
A track holding every word of the query counts ``KEYWORD_EVIDENCE`` (1), a part of them
that share of it. Evidence of the kinds is combined as independent signals (noisy-OR). A query
whose best track stays below ``GOOD_MATCH`` (.5) matches nothing well; tracks below
``DEFAULT_MIN_SCORE`` (.2) are not returned unless the request asks for a lower floor.
"""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np

NULL_QUERIES = 256
NULL_SEED = 0
NULL_WORDS = (2, 4)  # words per null phrase (inclusive)
GOOD_MATCH = 0.5  # a result at least this good is a real match (meta.no_good_match)
# the default min_score: below it a track is about as close as a random-word query's best
# hit (cosine ~1/3 of the way from the null median to m95); higher floors cut relevant
# tracks of real queries (bench notes: floors .2-.5 compared)
DEFAULT_MIN_SCORE = 0.2
# the quantile of the null best hits that scores GOOD_MATCH: random vocabulary words include
# music words ("tuba symphony"), so the null's top percent holds real queries; .95 (bench
# notes: bench/results/discovery/NOTES.md, .90/.95/.99 compared)
NULL_HIGH_Q = 0.95
# a track holding every word of the query, on that evidence alone; .75 was measured against
# 1.0 (bench notes): no better on the tuning halves, worse held out
KEYWORD_EVIDENCE = 1.0
MIN_SPREAD = 0.02  # floor of m95 - m50 (a tiny library's null can be degenerate)
# Everyday words, used as the null vocabulary when the encoder has no tokenizer vocabulary
# (test doubles); the real model draws from its own WordPiece vocabulary.
FALLBACK_WORDS = [
    "table",
    "window",
    "river",
    "paper",
    "invoice",
    "garden",
    "kitchen",
    "doctor",
    "ticket",
    "bridge",
    "engine",
    "letter",
    "market",
    "cable",
    "winter",
    "bottle",
    "office",
    "mountain",
    "school",
    "pencil",
    "coffee",
    "street",
    "camera",
    "harbour",
    "blanket",
    "ladder",
    "mirror",
    "onion",
    "printer",
    "rabbit",
    "saddle",
    "tennis",
    "tunnel",
    "wallet",
    "yellow",
    "planet",
    "copper",
    "lemon",
    "forest",
    "ocean",
    "silver",
    "number",
    "animal",
    "button",
    "carpet",
    "chicken",
    "dollar",
    "energy",
    "family",
    "history",
    "island",
    "jacket",
    "language",
    "machine",
    "question",
]

_null_cache: dict[str, np.ndarray] = {}


def vocabulary_words(encoder: Any) -> list[str]:
    """Whole, alphabetic words (3+ letters) of the encoder's tokenizer vocabulary, sorted;
    :data:`FALLBACK_WORDS` when it has none."""
    tok = getattr(getattr(encoder, "model", None), "tokenizer", None)
    vocab = getattr(tok, "get_vocab", None)
    words: list[str] = []
    if callable(vocab):
        try:
            words = sorted(w for w in vocab() if re.fullmatch(r"[a-z]{3,}", w))
        except Exception:  # any tokenizer trouble: the fixed words do
            words = []
    return words if len(words) >= 100 else list(FALLBACK_WORDS)


def null_phrases(words: list[str], n: int = NULL_QUERIES, seed: int = NULL_SEED) -> list[str]:
    """``n`` phrases of 2-4 words drawn at random (fixed seed) from ``words``."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(words) for _ in range(rng.randint(*NULL_WORDS))) for _ in range(n)]


def null_vectors(encoder: Any) -> np.ndarray:
    """Unit vectors of the null phrases, shape (NULL_QUERIES, dim); once per model."""
    key = str(getattr(encoder, "name", "")) + f"|{NULL_QUERIES}|{NULL_SEED}"
    got = _null_cache.get(key)
    if got is None:
        got = np.asarray(encoder.encode(null_phrases(vocabulary_words(encoder))), np.float32)
        _null_cache[key] = got
    return got


def null_best_hits(text_vecs: np.ndarray, null_vecs: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Best-hit cosine of each null query over the library, sorted, shape (q,).

    Parameters
    ----------
    text_vecs : np.ndarray, shape (n, d)
        Unit track text vectors.
    null_vecs : np.ndarray, shape (q, d)
        Unit null query vectors.
    """
    best = np.full(null_vecs.shape[0], -1.0, dtype=np.float32)
    for i in range(0, text_vecs.shape[0], chunk):
        np.maximum(best, (text_vecs[i : i + chunk] @ null_vecs.T).max(axis=0), out=best)
    return np.sort(best)


def cosine_levels(null_best: np.ndarray) -> tuple[float, float]:
    """(m50, m95): the median and the ``NULL_HIGH_Q`` quantile of the null best hits."""
    m50 = float(np.quantile(null_best, 0.5))
    high = float(np.quantile(null_best, NULL_HIGH_Q))
    return m50, max(high, m50 + MIN_SPREAD)


def cosine_score(cos: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    """Calibrated score in [0, 1) of cosines (any shape): see the module docstring."""
    m50, high = levels
    steps = np.maximum(np.asarray(cos, dtype=np.float64) - m50, 0.0) / (high - m50)
    return 1.0 - np.power(0.5, steps)


def combine(*evidence: np.ndarray | None) -> np.ndarray:
    """Noisy-OR of per-row probabilities (arrays of one shape; None ignored)."""
    miss: np.ndarray | None = None
    for e in evidence:
        if e is None:
            continue
        m = 1.0 - np.clip(np.asarray(e, dtype=np.float64), 0.0, 1.0)
        miss = m if miss is None else miss * m
    if miss is None:
        return np.zeros(0)
    return 1.0 - miss


__all__ = [
    "GOOD_MATCH",
    "NULL_QUERIES",
    "combine",
    "cosine_levels",
    "cosine_score",
    "null_best_hits",
    "null_phrases",
    "null_vectors",
    "vocabulary_words",
]
