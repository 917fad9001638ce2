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

from tonearm.discovery import calibration, fts
from tonearm.discovery import text as text_model
from tonearm.discovery.artists import ArtistMatch, normalize_name
from tonearm.discovery.quantized import exact_scores
from tonearm.discovery.query import parse_query
from tonearm.discovery.search_index import (
    CACHE_KEY,
    SearchIndex,
    TrackFilters,
    build_index,
    catalog_signature,
    genre_key,
    get_index,
    invalidate,
    parse_key,
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
    tag_scores,
)
from tonearm.storage.base import ALL_TENANTS

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

DEMOTE = 0.5  # score factor for a track whose audio description matches a negated word
METHODS = ("hybrid", "semantic", "keyword")
SORTS = ("score", "duration_asc", "duration_desc")
# evidence of a track whose metadata says it lacks what the query excludes ("no drums")
LACKS_EVIDENCE = 0.5
# How matches are ordered: "calibrated": by absolute score (ties: the RRF fusion), "rrf":
# by the fusion as before absolute scores (kept for the comparison in bench/search.py)
SCORE_ORDER = "calibrated"


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
    # tonearm extensions: the min_score applied, and the best absolute score of any match
    # before it (None: nothing matched at all)
    min_score: float = 0.0
    best_score: float | None = None
    # asset ids (int64) of every match in order (for benches: see ``asset_ids``)
    matched: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # per stage of this query: [wall ms, CPU ms of the calling thread] (for benches)
    timings: dict[str, list[float]] = field(default_factory=dict)

    @property
    def no_good_match(self) -> bool:
        """No track reaches ``calibration.GOOD_MATCH``: the query matches nothing well."""
        return self.best_score is None or self.best_score < calibration.GOOD_MATCH

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
                # extensions (docs/API.md): absolute scores
                "min_score": self.min_score,
                "best_score": self.best_score,
                "no_good_match": self.no_good_match,
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
    filters: TrackFilters | None = None,
    min_score: float | None = None,
    sort: str = "score",
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
    filters : TrackFilters, optional
        bpm range, keys, loudness range (LUFS), instrumental.
    min_score : float, optional
        Leave out tracks whose absolute score (:mod:`tonearm.discovery.calibration`) is
        below this; default ``calibration.DEFAULT_MIN_SCORE`` (.2); 0 keeps every match.
        Whatever the floor, ``no_good_match`` says when no track reaches .5.
    sort : {"score", "duration_asc", "duration_desc"}
        The order of the matches (ties: by score).
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {SORTS}")
    floor = calibration.DEFAULT_MIN_SCORE if min_score is None else float(min_score)
    clock = _Clock()
    encoder = text_model.get_text_encoder()
    idx = get_index(catalog, encoder)
    clock.lap("index")
    semantic_ok = method != "keyword" and encoder is not None and idx.text_vecs is not None
    pq = parse_query(query)
    allowed = idx.allowed(
        genres, duration_min, duration_max, catalog.store.hidden_asset_ids(tenant), filters
    )

    match: ArtistMatch | None = None
    if recognize_artists:
        match = idx.artist_index.recognize(pq.positive)
    clock.lap("parse")

    rankings: list[tuple[np.ndarray, float | np.ndarray]] = []
    ev = _Evidence(idx.size)
    used_semantic = False
    rest = match.remainder if match else pq.positive
    terms = fts.query_terms(rest)
    if match is not None:
        rows, by_embedding, art = artist_rows(idx, match.name, allowed, vectors=method != "keyword")
        rankings.append((rows, 1.0))
        ev.put("artist", rows, art)
        used_semantic = by_embedding
        clock.lap("artist")
    if match is None or terms:
        weight = 0.5 if match is not None else 1.0  # the artist leads, the words refine
        if semantic_ok and rest.strip():
            assert encoder is not None
            qvec = encoder.encode_query(rest)
            ev.qvec = qvec
            clock.lap("embed")
            rankings.append((semantic_rows(idx, qvec, allowed), weight))
            if method == "hybrid":
                tscore = tag_scores(idx, qvec)
                tagged = tag_rows(idx, qvec, allowed, tscore)
                if tagged.size:
                    rankings.append((tagged, weight))
                    ev.tags = tscore
            used_semantic = True
            clock.lap("semantic")
        if method != "semantic" or not semantic_ok:
            kw_rows = keyword_rows(idx, terms, allowed)
            gate = keyword_gate(idx, terms, kw_rows) if semantic_ok else 1.0
            rankings.append((kw_rows, gate * weight))
            if kw_rows.size and idx.keywords is not None:
                cov = idx.keywords.coverage(terms)
                ev.coverage = None if cov is None else cov * calibration.KEYWORD_EVIDENCE
            if pq.excluded:  # "without drums" also finds tracks whose metadata says so
                lacking = keyword_rows(idx, sorted(pq.excluded), allowed, "lacks")
                rankings.append((lacking, weight * 0.5))
                ev.put("lacks", lacking, np.full(lacking.size, LACKS_EVIDENCE))
            clock.lap("keyword")
    rows, scores = fuse(rankings)
    absolute = ev.scores(idx, rows)
    clock.lap("fuse")
    if idx.size == 0 and encoder is not None and method != "keyword":
        used_semantic = True  # nothing to rank, but this is how it would have been ranked

    if pq.excluded and rows.size:
        assert idx.keywords is not None
        drop = idx.keywords.mask_with(pq.excluded, "meta")
        demote = idx.keywords.mask_with(pq.excluded, "sound")
        if drop is not None:
            keep = ~drop[rows]
            rows, scores, absolute = rows[keep], scores[keep], absolute[keep]
        if demote is not None and rows.size:
            factor = np.where(demote[rows], DEMOTE, 1.0)
            scores, absolute = scores * factor, absolute * factor
    clock.lap("negation")

    best = float(absolute.max()) if absolute.size else None
    if SCORE_ORDER == "calibrated":
        order = np.lexsort((-scores, -np.round(absolute, 4)))
        rows, scores, absolute = rows[order], scores[order], absolute[order]
    else:  # "rrf": the fused rank order (bench comparison)
        order = np.argsort(-scores, kind="stable")
        rows, scores, absolute = rows[order], scores[order], absolute[order]
    keep = absolute >= floor - 1e-9
    rows, absolute = rows[keep], absolute[keep]
    if sort != "score" and rows.size:
        d = idx.durations[rows]
        order = np.argsort(d if sort == "duration_asc" else -d, kind="stable")
        rows, absolute = rows[order], absolute[order]

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
            "score": round(float(absolute[i]), 4),
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
        min_score=round(floor, 4),
        best_score=None if best is None else round(best, 4),
        matched=idx.ids[rows],
        timings=clock.stages,
    )


class _Evidence:
    """What each track has for the query, as probabilities in [0, 1], turned into absolute
    scores of the fused rows (discovery.calibration)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.qvec: np.ndarray | None = None  # the query's text vector: calibrated cosine
        self.coverage: np.ndarray | None = None  # (n,) share of the query's words, weighted
        self.tags: np.ndarray | None = None  # (n,) probability of the tags it names
        self.rowwise: dict[str, np.ndarray] = {}  # artist / lacks evidence per row (n,)

    def put(self, name: str, rows: np.ndarray, values: np.ndarray) -> None:
        full = self.rowwise.setdefault(name, np.zeros(self.n))
        full[rows] = np.maximum(full[rows], values)

    def scores(self, idx: SearchIndex, rows: np.ndarray) -> np.ndarray:
        if not rows.size:
            return np.zeros(0)
        parts: list[np.ndarray | None] = []
        if self.qvec is not None and idx.text_vecs is not None and idx.null_levels is not None:
            cos = exact_scores(idx.text_vecs, np.asarray(self.qvec, dtype=np.float32), rows)
            parts.append(calibration.cosine_score(cos, idx.null_levels))
        for full in (self.coverage, self.tags, *self.rowwise.values()):
            parts.append(None if full is None else full[rows])
        out = calibration.combine(*parts)
        return out if out.size else np.zeros(rows.size)


__all__ = [
    "CACHE_KEY",
    "KEYWORD_GATE",
    "RRF_K",
    "SORTS",
    "SearchIndex",
    "SearchResult",
    "TrackFilters",
    "build_index",
    "catalog_signature",
    "fuse",
    "genre_key",
    "get_index",
    "invalidate",
    "normalize_name",
    "parse_key",
    "search",
    "track_text",
]
