"""Ranking search results on the in-memory index: semantic, keyword and artist rankings,
their reciprocal rank fusion, and the artist/album aggregates of a result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tonearm.discovery import bm25
from tonearm.discovery.quantized import VectorTable
from tonearm.discovery.search_index import SearchIndex, genre_keys

RRF_K = 60
# How much a keyword-ranked track counts in the fusion: "row": the fraction of the query's
# words it contains ("spooky haunted forest" matched only on "forest" is a third of a
# keyword match, while the semantic ranking saw the whole query); "none": plain RRF
# (kept for the ablation in bench/search.py).
KEYWORD_GATE = "row"
MAX_CANDIDATES = 1000  # per ranking; also the most a query can report in meta.total
SEM_MIN_SIM = 0.15  # a semantic neighbour must be at least this close (cosine) ...
SEM_WINDOW = 0.30  # ... and within this of the best one
ARTIST_NEIGHBOURS = 200
# The tag ranking: the query's MiniLM vector against each tag word's; the tags at least
# TAG_QUERY_SIM close (at most TAG_QUERY_TOP of them) rank tracks by their probability,
# weighted by how close each tag is; rows below TAG_MIN_PROB are left out. USE_TAG_RANKING
# False: no tag ranking (the comparison in bench/search.py).
USE_TAG_RANKING = True
TAG_QUERY_SIM = 0.5
TAG_QUERY_TOP = 3
TAG_MIN_PROB = 0.1
AGGREGATE_MAX = 20


def semantic_rows(
    idx: SearchIndex, qvec: np.ndarray, allowed: np.ndarray | None, *, cutoff: bool = True
) -> np.ndarray:
    """Rows by cosine of the track text vectors to ``qvec``, best first."""
    assert idx.text_table is not None
    rows, sims = idx.text_table.top(qvec, MAX_CANDIDATES, allowed)
    if cutoff and rows.size:
        floor = max(SEM_MIN_SIM, float(sims[0]) - SEM_WINDOW)
        rows = rows[sims >= floor]
    return rows


def tag_scores(idx: SearchIndex, qvec: np.ndarray) -> np.ndarray | None:
    """Per row (n,), the probability of the tags the query names (weighted by how close
    each is to the query); None when it names none."""
    if not USE_TAG_RANKING or idx.tag_vecs is None or idx.tag_probs is None:
        return None
    sims = idx.tag_vecs @ np.asarray(qvec, dtype=np.float32)
    pick = np.argsort(-sims)[:TAG_QUERY_TOP]
    pick = pick[sims[pick] >= TAG_QUERY_SIM]
    if pick.size == 0:
        return None
    w = sims[pick] / sims[pick].sum()
    return np.asarray(idx.tag_probs[:, pick] @ w, dtype=np.float64)


def tag_rows(
    idx: SearchIndex, qvec: np.ndarray, allowed: np.ndarray | None, score: np.ndarray | None = None
) -> np.ndarray:
    """Rows by the probability of the tags the query names (empty when it names none);
    ``score``: :func:`tag_scores` when already computed."""
    if score is None:
        score = tag_scores(idx, qvec)
    if score is None:
        return np.zeros(0, dtype=np.int64)
    ok = score >= TAG_MIN_PROB
    if allowed is not None:
        ok &= allowed
    rows = np.flatnonzero(ok)
    return rows[np.argsort(-score[rows], kind="stable")][:MAX_CANDIDATES]


def keyword_rows(
    idx: SearchIndex, terms: list[str], allowed: np.ndarray | None, group: str | None = None
) -> np.ndarray:
    """Rows by BM25F for any of ``terms``, best first; with ``group`` ("lacks"): the rows
    whose fields of that group contain one of them, in catalog order."""
    kw = idx.keywords
    if kw is None or not terms:
        return np.zeros(0, dtype=np.int64)
    if group is not None:
        rows = kw.rows_with(terms, group)
        return rows if allowed is None else rows[allowed[rows]]
    scores = kw.scores(terms)
    if scores is None:
        return np.zeros(0, dtype=np.int64)
    return bm25.rank(scores, allowed, MAX_CANDIDATES)


def _centroid_rows(
    table: VectorTable, ok: np.ndarray | None, members: np.ndarray, allowed: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    use = members if ok is None else members[ok[members]]
    if use.size == 0:
        return None
    c = table.vecs[use].mean(axis=0)
    norm = float(np.linalg.norm(c))
    if norm == 0:
        return None
    mask = ok if allowed is None else (allowed if ok is None else ok & allowed)
    rows, sims = table.top(c / norm, ARTIST_NEIGHBOURS, mask)
    return rows, sims


def artist_rows(
    idx: SearchIndex, name: str, allowed: np.ndarray | None, *, vectors: bool = True
) -> tuple[np.ndarray, bool, np.ndarray]:
    """Tracks that sound like ``name``: (rows best first, found by embeddings?, evidence).

    Audio-embedding centroid of the artist's tracks when they have embeddings; else the
    centroid of their text vectors; else (no model at all) their own tracks and then the
    tracks sharing their genres. ``evidence`` (per returned row, in [0, 1]): 1 for the
    artist's own tracks, else the cosine to the centroid clipped to [0, 1] (the scale of
    similar music), or .5 for a track that only shares a genre.
    """
    members = idx.artist_rows.get(name, np.zeros(0, dtype=np.int64))
    own = np.zeros(idx.size, dtype=bool)
    own[members] = True
    for table, ok in ((idx.audio_table, idx.audio_ok), (idx.text_table, None)):
        if vectors and table is not None:
            got = _centroid_rows(table, ok, members, allowed)
            if got is not None:
                rows, sims = got
                return rows, True, np.where(own[rows], 1.0, np.clip(sims, 0.0, 1.0))
    keys = sorted({k for m in members.tolist() for k in genre_keys(idx.genres[m])})
    cand = np.concatenate(
        [members.astype(np.int64), *(idx.genre_rows[k] for k in keys if k in idx.genre_rows)]
    )
    if allowed is not None and cand.size:
        cand = cand[allowed[cand]]
    _, first = np.unique(cand, return_index=True)  # each row once, where it first appears
    rows = cand[np.sort(first)][:ARTIST_NEIGHBOURS]
    return rows, False, np.where(own[rows], 1.0, 0.5)


def keyword_gate(idx: SearchIndex, terms: list[str], rows: np.ndarray) -> np.ndarray | float:
    """Weight of each keyword-ranked row in the fusion (:data:`KEYWORD_GATE`)."""
    if KEYWORD_GATE == "none" or idx.keywords is None or not rows.size:
        return 1.0
    cov = idx.keywords.coverage(terms)
    if cov is None:
        return 1.0
    return cov[rows]


def fuse(
    rankings: Sequence[tuple[np.ndarray, float | np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted reciprocal rank fusion: (rows best first, score in (0, 1]).

    A row at 0-based rank ``r`` of a ranking with weight ``w`` (one number, or one per row)
    gets ``w / (RRF_K + r + 1)``; scores are divided by what a row ranked first in every
    ranking at full weight would get. Ties: lower row first.
    """
    parts = []
    full = 0.0
    for r, w in rankings:
        wa = np.broadcast_to(np.asarray(w, dtype=np.float64), (len(r),))
        if len(r) and float(wa.max()) > 0:
            parts.append((np.asarray(r, dtype=np.int64), wa))
            full += float(np.max(w))
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    rows = np.concatenate([r for r, _ in parts])
    contrib = np.concatenate([w / (RRF_K + 1.0 + np.arange(r.size)) for r, w in parts])
    uniq, inverse = np.unique(rows, return_inverse=True)
    acc = np.bincount(inverse, weights=contrib, minlength=uniq.size)
    order = np.lexsort((uniq, -acc))
    keep = acc[order] > 0
    return uniq[order][keep], acc[order][keep] / (full / (RRF_K + 1))


def _groups(codes: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """(code, count) of the codes of matched rows (best first; -1: none): most rows first,
    then the one ranked best first."""
    ranks = np.flatnonzero(codes >= 0)
    if ranks.size == 0:
        return []
    uniq, first, counts = np.unique(codes[ranks], return_index=True, return_counts=True)
    order = np.lexsort((ranks[first], -counts))[:limit]
    return list(zip(uniq[order].tolist(), counts[order].tolist(), strict=True))


def aggregates(
    idx: SearchIndex, rows: np.ndarray
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Artists and albums of every matched track: most tracks first, then best ranked."""
    artists = [
        {"name": idx.artist_names[c], "track_count": k}
        for c, k in _groups(idx.artist_code[rows], AGGREGATE_MAX)
    ]
    albums = [
        {"name": idx.album_keys[c][0], "artist": idx.album_keys[c][1], "track_count": k}
        for c, k in _groups(idx.album_code[rows], AGGREGATE_MAX)
    ]
    return artists, albums
