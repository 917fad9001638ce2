"""Natural-language music search over the catalog.

How a query is answered (:func:`search`):

1. Negations are split off (:mod:`tonearm.discovery.query`): "chill beats, no vocals" looks
   for "chill beats instrumental" and drops tracks whose metadata mentions vocals (tracks
   whose *audio description* matches a negated word are demoted instead).
2. A catalog artist named in the query (:mod:`tonearm.discovery.artists`) turns the query
   into "music that sounds like them": tracks ranked by audio-embedding similarity to the
   centroid of that artist's tracks (other artists included); ``matched_artist`` is set.
3. Otherwise two rankings are fused by reciprocal rank fusion (RRF, k = 60):
   - semantic: the query's all-MiniLM-L6-v2 vector against one vector per track, made from
     a text of its metadata *and* the words its audio supports (tempo, energy, brightness,
     mode, texture: :mod:`tonearm.discovery.describe`), so thinly tagged tracks are found;
   - keyword: SQLite FTS5 BM25 over the same fields (:mod:`tonearm.discovery.fts`);
   - tags: when the query is close to some musicnn tag words ("solo piano" -> piano),
     tracks by those tags' probabilities (:func:`~tonearm.discovery.search_ranking.tag_rows`).
   Without the text model, keywords alone answer and ``search_method`` is "text".

The index of every track (:mod:`tonearm.discovery.search_index`) is built in memory and
rebuilt when the catalog changes; the rankings and their fusion are in
:mod:`tonearm.discovery.search_ranking`; this module answers a request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.discovery import fts
from tonearm.discovery import text as text_model
from tonearm.discovery.artists import ArtistMatch, normalize_name
from tonearm.discovery.query import parse_query
from tonearm.discovery.search_index import (
    CACHE_KEY,
    SearchIndex,
    build_index,
    catalog_signature,
    genre_key,
    get_index,
    invalidate,
    track_text,
)
from tonearm.discovery.search_ranking import (
    KEYWORD_GATE,
    RRF_K,
    aggregates,
    artist_rows,
    fuse,
    keyword_gate,
    keyword_rows,
    semantic_rows,
    tag_rows,
)
from tonearm.storage.base import ALL_TENANTS

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

DEMOTE = 0.5  # score factor for a track whose audio description matches a negated word
METHODS = ("hybrid", "semantic", "keyword")


# -- helpers ---------------------------------------------------------------------------------
class _Clock:
    """Wall and thread-CPU milliseconds per stage of one query (for benches)."""

    def __init__(self) -> None:
        self.stages: dict[str, list[float]] = {}
        self._w = time.perf_counter()
        self._c = time.thread_time()

    def lap(self, stage: str) -> None:
        w, c = time.perf_counter(), time.thread_time()
        acc = self.stages.setdefault(stage, [0.0, 0.0])
        acc[0] += (w - self._w) * 1000
        acc[1] += (c - self._c) * 1000
        self._w, self._c = w, c


# -- the service -----------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What a search found: one page of tracks plus counts over every matched track."""

    tracks: list[dict[str, Any]]
    artists: list[dict[str, Any]]
    albums: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    search_method: str  # "semantic" | "text"
    matched_artist: str | None
    # asset ids (int64) of every match in order (for benches: see ``asset_ids``)
    matched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # per stage of this query: [wall ms, CPU ms of the calling thread] (for benches)
    timings: dict[str, list[float]] = field(default_factory=dict)

    @property
    def asset_ids(self) -> list[str]:
        """Every matched asset id, best first (not only the page)."""
        return [str(a) for a in self.matched.tolist()]

    def to_wire(self) -> dict[str, Any]:
        return {
            "tracks": self.tracks,
            "artists": self.artists,
            "albums": self.albums,
            "meta": {
                "total": self.total,
                "limit": self.limit,
                "offset": self.offset,
                "search_method": self.search_method,
                "matched_artist": self.matched_artist,
            },
        }


def search(
    catalog: Catalog,
    query: str,
    *,
    limit: int = 20,
    offset: int = 0,
    genres: Sequence[str] | None = None,
    duration_min: float | None = None,
    duration_max: float | None = None,
    method: str = "hybrid",
    recognize_artists: bool = True,
    tenant: str | None = ALL_TENANTS,
) -> SearchResult:
    """Search the catalog's music with a plain-language query.

    Parameters
    ----------
    query : str
        A mood, genre, description or artist name ("dark cinematic tension", "like Nova
        Drift", "chill lo-fi, no vocals").
    limit, offset : int
        The page of tracks returned.
    genres : list of str, optional
        Keep tracks whose genre is one of these (case, spaces and punctuation ignored).
    duration_min, duration_max : float, optional
        Keep tracks at least / at most this long, in seconds.
    method : {"hybrid", "semantic", "keyword"}
        hybrid (default) fuses semantic and keyword rankings; the others use one ranking
        (for comparison in benchmarks). Without the text model every method is keyword.
    tenant : str or None
        Whose tracks: the shared catalog plus this account's (None: the shared catalog
        only); ``ALL_TENANTS`` (default): every track.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    clock = _Clock()
    encoder = text_model.get_text_encoder()
    idx = get_index(catalog, encoder)
    clock.lap("index")
    semantic_ok = method != "keyword" and encoder is not None and idx.text_vecs is not None
    pq = parse_query(query)
    allowed = idx.allowed(
        genres, duration_min, duration_max, catalog.store.hidden_asset_ids(tenant)
    )

    match: ArtistMatch | None = None
    if recognize_artists:
        match = idx.artist_index.recognize(pq.positive)
    clock.lap("parse")

    rankings: list[tuple[np.ndarray, float | np.ndarray]] = []
    used_semantic = False
    rest = match.remainder if match else pq.positive
    terms = fts.query_terms(rest)
    if match is not None:
        rows, by_embedding = artist_rows(idx, match.name, allowed, vectors=method != "keyword")
        rankings.append((rows, 1.0))
        used_semantic = by_embedding
        clock.lap("artist")
    if match is None or terms:
        weight = 0.5 if match is not None else 1.0  # the artist leads, the words refine
        if semantic_ok and rest.strip():
            assert encoder is not None
            qvec = encoder.encode_query(rest)
            clock.lap("embed")
            rankings.append((semantic_rows(idx, qvec, allowed), weight))
            tagged = tag_rows(idx, qvec, allowed) if method == "hybrid" else None
            if tagged is not None and tagged.size:
                rankings.append((tagged, weight))
            used_semantic = True
            clock.lap("semantic")
        if method != "semantic" or not semantic_ok:
            kw_rows = keyword_rows(idx, terms, allowed)
            gate = keyword_gate(idx, terms, kw_rows) if semantic_ok else 1.0
            rankings.append((kw_rows, gate * weight))
            if pq.excluded:  # "without drums" also finds tracks whose metadata says so
                lacking = keyword_rows(idx, sorted(pq.excluded), allowed, "lacks")
                rankings.append((lacking, weight * 0.5))
            clock.lap("keyword")
    rows, scores = fuse(rankings)
    clock.lap("fuse")
    if idx.size == 0 and encoder is not None and method != "keyword":
        used_semantic = True  # nothing to rank, but this is how it would have been ranked

    if pq.excluded and rows.size:
        assert idx.keywords is not None
        drop = idx.keywords.mask_with(pq.excluded, "meta")
        demote = idx.keywords.mask_with(pq.excluded, "sound")
        if drop is not None:
            keep = ~drop[rows]
            rows, scores = rows[keep], scores[keep]
        if demote is not None and rows.size:
            scores = scores * np.where(demote[rows], DEMOTE, 1.0)
            order = np.argsort(-scores, kind="stable")
            rows, scores = rows[order], scores[order]
    clock.lap("negation")

    total = int(rows.size)
    page = range(offset, min(offset + limit, total))
    tracks = [
        {
            "asset_id": str(int(idx.ids[rows[i]])),
            "name": idx.names[rows[i]],
            "artist": idx.artists[rows[i]],
            "album": idx.albums[rows[i]],
            "duration": round(float(idx.durations[rows[i]]), 3),
            "genre": idx.genres[rows[i]],
            "bpm": idx.bpms[rows[i]],
            "score": round(float(scores[i]), 4),
            "thumbnail_url": idx.thumbnails[rows[i]],
        }
        for i in page
    ]
    artists, albums = aggregates(idx, rows)
    clock.lap("page")
    return SearchResult(
        tracks=tracks,
        artists=artists,
        albums=albums,
        total=total,
        limit=limit,
        offset=offset,
        search_method="semantic" if used_semantic else "text",
        matched_artist=match.name if match else None,
        matched=idx.ids[rows],
        timings=clock.stages,
    )


__all__ = [
    "CACHE_KEY",
    "KEYWORD_GATE",
    "RRF_K",
    "SearchIndex",
    "SearchResult",
    "build_index",
    "catalog_signature",
    "fuse",
    "genre_key",
    "get_index",
    "invalidate",
    "normalize_name",
    "search",
    "track_text",
]
