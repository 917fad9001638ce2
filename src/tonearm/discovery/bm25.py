"""In-memory BM25F keyword ranking over the same fields as the FTS5 table.

SQLite FTS5's ``bm25()`` is evaluated for every matching row: an OR query whose words are
common ("chill", "beat") matches tens of thousands of tracks in a 100k catalog and costs
30-70 ms before anything else is done. The query-time ranking therefore runs on a sparse
term x track matrix of precomputed BM25F term weights (scipy CSC): a query is a sum of a
few columns, about a millisecond. The FTS5 table stays the persisted keyword index.

Column weights (``fts.BM25_WEIGHTS``) scale term frequencies per field (BM25F); k1 = 1.2,
b = 0.75. Tokens are folded (:func:`tonearm.discovery.fts.fold`) and lightly stemmed
(:func:`stem`), the same way for tracks and queries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import sparse

from tonearm.discovery.fts import BM25_WEIGHTS, FTS_COLUMNS

K1 = 1.2
B = 0.75
_TOKEN = re.compile(r"[^\W_]+")
# fields a negation drops a track for, and fields that only demote it
META_COLUMNS = ("name", "genre", "tags", "description")
SOUND_COLUMNS = ("sound",)
LACKS_COLUMNS = ("lacks",)


def stem(word: str) -> str:
    """Light English suffix stripping ("drums" -> "drum", "relaxing" -> "relax")."""
    w = word
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    for suf, min_len in (("ing", 6), ("ed", 5), ("es", 5), ("s", 4)):
        if len(w) >= min_len and w.endswith(suf) and not w.endswith("ss"):
            w = w[: -len(suf)]
            break
    if len(w) > 4 and w.endswith("e"):
        w = w[:-1]
    return w


def stems(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text)]


class KeywordIndex:
    """BM25F over the FTS columns of every track, plus word -> tracks lookups for negation.

    Parameters
    ----------
    rows : sequence of tuple of str
        Per track, the folded column values in ``FTS_COLUMNS`` order (see ``fts.fts_row``).
    """

    def __init__(self, rows: Sequence[Sequence[str]]) -> None:
        n = len(rows)
        self.n = n
        vocab: dict[str, int] = {}
        weights = dict(zip(FTS_COLUMNS, BM25_WEIGHTS, strict=True))
        rank_cols = [i for i, c in enumerate(FTS_COLUMNS) if c not in LACKS_COLUMNS]
        groups = {
            "meta": [FTS_COLUMNS.index(c) for c in META_COLUMNS],
            "sound": [FTS_COLUMNS.index(c) for c in SOUND_COLUMNS],
            "lacks": [FTS_COLUMNS.index(c) for c in LACKS_COLUMNS],
        }
        r_idx: list[int] = []
        t_idx: list[int] = []
        tf_vals: list[float] = []
        lookups: dict[str, tuple[list[int], list[int]]] = {g: ([], []) for g in groups}
        doc_len = np.zeros(n, dtype=np.float64)
        for r, values in enumerate(rows):
            tf: dict[int, float] = {}
            for ci in rank_cols:
                w = weights[FTS_COLUMNS[ci]]
                toks = stems(values[ci])
                doc_len[r] += w * len(toks)
                for t in toks:
                    ti = vocab.setdefault(t, len(vocab))
                    tf[ti] = tf.get(ti, 0.0) + w
            for ti, v in tf.items():
                r_idx.append(r)
                t_idx.append(ti)
                tf_vals.append(v)
            for g, cols in groups.items():
                seen: set[int] = set()
                for ci in cols:
                    for t in stems(values[ci]):
                        seen.add(vocab.setdefault(t, len(vocab)))
                lookups[g][0].extend([r] * len(seen))
                lookups[g][1].extend(seen)
        self.vocab = vocab
        v = len(vocab)
        rr = np.array(r_idx, dtype=np.int64)
        tt = np.array(t_idx, dtype=np.int64)
        tfv = np.array(tf_vals, dtype=np.float64)
        avgdl = float(doc_len.mean()) if n and doc_len.mean() > 0 else 1.0
        norm = K1 * (1 - B + B * doc_len / avgdl)
        weight = tfv * (K1 + 1) / (tfv + norm[rr]) if tfv.size else tfv
        self.matrix = sparse.csc_matrix((weight.astype(np.float32), (rr, tt)), shape=(n, max(v, 1)))
        df = np.bincount(tt, minlength=max(v, 1)).astype(np.float64)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        self.groups: dict[str, sparse.csc_matrix] = {}
        for g, (gr, gt) in lookups.items():
            self.groups[g] = sparse.csc_matrix(
                (np.ones(len(gr), dtype=np.int8), (np.array(gr, dtype=np.int64), gt)),
                shape=(n, max(v, 1)),
            )

    def _cols(self, words: Iterable[str]) -> list[int]:
        out = []
        for w in words:
            for s in stems(w):
                ti = self.vocab.get(s)
                if ti is not None and ti not in out:
                    out.append(ti)
        return out

    def scores(self, words: Iterable[str]) -> np.ndarray | None:
        """BM25F score of every track for any of ``words``, shape (n,); None: no known word."""
        cols = self._cols(words)
        if not cols:
            return None
        sub = self.matrix[:, cols]
        return np.asarray(sub @ self.idf[cols], dtype=np.float64).ravel()

    def coverage(self, words: Iterable[str]) -> np.ndarray | None:
        """Per track, the fraction of the distinct query words (stems) it contains, shape
        (n,); words no track has count in the denominator. None: no known word."""
        wanted = {st for w in words for st in stems(w)}
        cols = self._cols(words)
        if not cols or not wanted:
            return None
        hits = np.bincount(self.matrix[:, cols].indices, minlength=self.n)
        return hits / float(len(wanted))

    def mask_with(self, words: Iterable[str], group: str) -> np.ndarray | None:
        """Bool (n,): rows whose ``group`` fields ("meta", "sound", "lacks") contain any of
        ``words``; None when no track has any of them."""
        cols = self._cols(words)
        if not cols:
            return None
        mask = np.zeros(self.n, dtype=bool)
        mask[self.groups[group][:, cols].indices] = True
        return mask

    def rows_with(self, words: Iterable[str], group: str) -> np.ndarray:
        """Rows whose ``group`` fields ("meta", "sound", "lacks") contain any of ``words``,
        in row order."""
        mask = self.mask_with(words, group)
        return np.zeros(0, dtype=np.int64) if mask is None else np.flatnonzero(mask)


def rank(scores: np.ndarray, allowed: np.ndarray | None, k: int) -> np.ndarray:
    """Rows with a positive score, best first, at most ``k`` (ties: catalog order)."""
    s = scores if allowed is None else np.where(allowed, scores, 0.0)
    hit = np.flatnonzero(s > 0)
    if hit.size > k:
        part = np.argpartition(-s[hit], k - 1)[:k]
        hit = hit[part]
    order = np.lexsort((hit, -s[hit]))
    return hit[order]


__all__ = ["KeywordIndex", "math", "rank", "stem", "stems"]
