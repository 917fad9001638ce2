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
   - keyword: SQLite FTS5 BM25 over the same fields (:mod:`tonearm.discovery.fts`).
   Without the text model, keywords alone answer and ``search_method`` is "text".

The per-track data (metadata, text vectors, audio vectors) lives in memory in a
:class:`SearchIndex` cached in ``catalog.cache``; it is rebuilt when the catalog changes
(checked per query with a few indexed SQL aggregates). Text vectors are also cached on disk
(``index/search_text_vectors.npz``) keyed by a hash of each track's text, so a rebuild only
embeds tracks whose text changed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.discovery import bm25, fts
from tonearm.discovery import text as text_model
from tonearm.discovery.artists import ArtistIndex, ArtistMatch, normalize_name
from tonearm.discovery.bm25 import KeywordIndex
from tonearm.discovery.describe import audio_words
from tonearm.discovery.quantized import VectorTable
from tonearm.discovery.query import parse_query

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.discovery.text import TextEncoder

log = logging.getLogger("tonearm.search")

CACHE_KEY = "discovery.search"
TEXT_VECTORS_FILE = "search_text_vectors.npz"
SEARCH_TEXT_ANALYSIS = "search_text"
EMBEDDING_ANALYSIS = "embedding"

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
DEMOTE = 0.5  # score factor for a track whose audio description matches a negated word
AGGREGATE_MAX = 20
FREEZE_MIN_TRACKS = 20_000  # index at least this big: gc.freeze() after building it
COUNT_TTL_S = 1.0  # PostgreSQL: row counts (removals) rechecked at most this often
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


def genre_key(genre: str) -> str:
    """ "Lo-Fi", "lofi", "LO FI" -> "lofi": how genre filters compare."""
    return re.sub(r"[^0-9a-z]", "", fts.fold(genre))


def genre_keys(genre: str | None) -> frozenset[str]:
    """Keys of a genre field that may list several ("Rock / Indie")."""
    if not genre:
        return frozenset()
    parts = [genre, *re.split(r"[/,;|]", genre)]
    return frozenset(k for k in (genre_key(p) for p in parts) if k)


def track_text(fields: dict[str, Any], words: Sequence[str]) -> str:
    """The sentence a track is embedded as: its metadata, then what its audio sounds like."""
    parts: list[str] = []
    name = (fields.get("name") or "").strip()
    if name:
        parts.append(name.replace("_", " "))
    if fields.get("artist"):
        parts.append(f"by {fields['artist']}")
    if fields.get("album"):
        parts.append(f"from the album {fields['album']}")
    head = " ".join(parts)
    out = [head + "." if head else ""]
    if fields.get("genre"):
        out.append(f"Genre: {fields['genre']}.")
    if fields.get("tags"):
        out.append(f"Tags: {fields['tags']}.")
    if fields.get("description"):
        out.append(str(fields["description"]).strip())
    if words:
        out.append("Sounds " + ", ".join(words) + ".")
    return " ".join(o for o in out if o)


def _split_negations(fields: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Metadata with what it says a track lacks ("no drums") moved out of its text, so that
    "without drums" does not drop it and "drums" does not find it; returns (fields, lacks)."""
    out = dict(fields)
    lacks: list[str] = []
    for col in ("name", "tags", "description"):
        v = fields.get(col)
        if not v:
            continue
        pq = parse_query(str(v))
        if pq.negated:
            out[col] = pq.positive
            lacks += [w for w in pq.negated if w not in lacks]
    return out, lacks


# -- the in-memory index ---------------------------------------------------------------------
@dataclass
class SearchIndex:
    """Every music track of the catalog, as the search needs it.

    Arrays are aligned by row; ``row_of`` maps asset_id -> row.
    """

    signature: tuple[Any, ...]
    model: str | None
    ids: np.ndarray  # (n,) int64 asset ids
    names: list[str]
    artists: list[str]
    albums: list[str]
    genres: list[str]
    bpms: list[float | None]
    durations: np.ndarray  # (n,) float64 seconds
    thumbnails: list[str]
    row_of: dict[int, int]
    genre_rows: dict[str, np.ndarray]
    artist_rows: dict[str, np.ndarray]
    artist_index: ArtistIndex
    text_vecs: np.ndarray | None = None  # (n, 384) float32, unit rows
    audio_vecs: np.ndarray | None = None  # (n, d) float32, unit rows (zeros where missing)
    audio_ok: np.ndarray | None = None  # (n,) bool
    texts: list[str] = field(default_factory=list)
    keywords: KeywordIndex | None = None
    # derived in __post_init__: int8-accelerated tables over the vectors, and per-row codes
    # of the artist and the (album, artist) for counting matches without a Python loop
    text_table: VectorTable | None = field(init=False, default=None)
    audio_table: VectorTable | None = field(init=False, default=None)
    artist_code: np.ndarray = field(init=False, repr=False)  # (n,) int32, -1: none
    album_code: np.ndarray = field(init=False, repr=False)  # (n,) int32, -1: none
    artist_names: list[str] = field(init=False, repr=False)
    album_keys: list[tuple[str, str]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.text_vecs is not None:
            self.text_table = VectorTable(self.text_vecs)
        if self.audio_vecs is not None:
            self.audio_table = VectorTable(self.audio_vecs)
        codes: dict[Any, int] = {}
        self.artist_code = np.array(
            [codes.setdefault(a, len(codes)) if a else -1 for a in self.artists], dtype=np.int32
        ).reshape(-1)
        self.artist_names = list(codes)
        codes = {}
        self.album_code = np.array(
            [
                codes.setdefault((al, ar), len(codes)) if al else -1
                for al, ar in zip(self.albums, self.artists, strict=True)
            ],
            dtype=np.int32,
        ).reshape(-1)
        self.album_keys = list(codes)

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])

    def allowed(self, genres: Sequence[str] | None, dmin: float | None, dmax: float | None):
        """Boolean mask (n,) of rows passing the filters, or None when nothing is filtered."""
        mask: np.ndarray | None = None
        if genres:
            mask = np.zeros(self.size, dtype=bool)
            for g in genres:
                rows = self.genre_rows.get(genre_key(g))
                if rows is not None:
                    mask[rows] = True
        if dmin is not None or dmax is not None:
            m = np.ones(self.size, dtype=bool)
            if dmin is not None:
                m &= self.durations >= dmin
            if dmax is not None:
                m &= self.durations <= dmax
            mask = m if mask is None else mask & m
        return mask


def catalog_signature(store: Any, counts: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
    """Changes whenever a music asset or a search-relevant analysis is added, changed or
    removed: the newest change times and ids (index lookups) and the row counts (index
    scans, for removals; ``counts`` reuses ones from :func:`_row_counts`)."""
    maxima = store.execute(
        "SELECT (SELECT MAX(updated_at) FROM assets WHERE kind = 'music'), "
        "(SELECT MAX(asset_id) FROM assets WHERE kind = 'music'), "
        "(SELECT MAX(created_at) FROM analyses WHERE name = ?), "
        "(SELECT MAX(created_at) FROM analyses WHERE name = ?)",
        (SEARCH_TEXT_ANALYSIS, EMBEDDING_ANALYSIS),
    )[0]
    return (*tuple(maxima), *(counts if counts is not None else _row_counts(store)))


def _row_counts(store: Any) -> tuple[Any, ...]:
    row = store.execute(
        "SELECT (SELECT COUNT(*) FROM assets WHERE kind = 'music'), "
        "(SELECT COUNT(*) FROM analyses WHERE name = ?), "
        "(SELECT COUNT(*) FROM analyses WHERE name = ?)",
        (SEARCH_TEXT_ANALYSIS, EMBEDDING_ANALYSIS),
    )[0]
    return tuple(row)


def _text_hash(model: str, text: str) -> bytes:
    return hashlib.sha1(f"{model}\n{text}".encode()).digest()


def _text_vectors(catalog: Catalog, encoder: TextEncoder, texts: list[str]) -> np.ndarray:
    """Vectors of ``texts``, reusing the on-disk cache; only new texts are embedded."""
    path = catalog.index_dir / TEXT_VECTORS_FILE
    cached: dict[bytes, np.ndarray] = {}
    try:
        with np.load(path) as z:
            if int(z["dim"]) == encoder.dim:
                cached = dict(zip((bytes(k) for k in z["keys"]), z["vecs"], strict=True))
    except (OSError, KeyError, ValueError):
        cached = {}
    keys = [_text_hash(encoder.name, t) for t in texts]
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    todo = []
    for i, k in enumerate(keys):
        v = cached.get(k)
        if v is None:
            todo.append(i)
        else:
            out[i] = v
    if todo:
        t0 = time.perf_counter()
        out[todo] = encoder.encode([texts[i] for i in todo])
        log.info("embedded %d track texts in %.1f s", len(todo), time.perf_counter() - t0)
        catalog.index_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys, dtype="S20"), vecs=out, dim=np.array(encoder.dim))
        tmp.replace(path)
    return out


def _audio_vectors(store: Any, row_of: dict[int, int], n: int):
    """(vectors (n, d), ok (n,)) of the most common embedding model among music tracks."""
    per_model: dict[str, list[tuple[int, bytes]]] = {}
    for r in store.execute(
        "SELECT asset_id, data, blob FROM analyses WHERE name = ?", (EMBEDDING_ANALYSIS,)
    ):
        row = row_of.get(int(r[0]))
        if row is None or r[2] is None:
            continue
        try:
            model = str(json.loads(r[1] or "{}").get("model", ""))
        except ValueError:
            continue
        per_model.setdefault(model, []).append((row, r[2]))
    if not per_model:
        return None, None
    best = max(per_model.values(), key=len)
    dim = len(best[0][1]) // 4
    vecs = np.zeros((n, dim), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    for row, blob in best:
        v = np.frombuffer(blob, dtype="<f4")
        if v.shape[0] != dim:
            continue
        norm = float(np.linalg.norm(v))
        if norm > 0:
            vecs[row] = v / norm
            ok[row] = True
    return vecs, ok


def build_index(catalog: Catalog, encoder: TextEncoder | None) -> SearchIndex:
    """Read every music track (and its analyses), sync the FTS table, embed new texts."""
    store = catalog.store
    signature = catalog_signature(store)
    rows = store.execute(
        "SELECT asset_id, name, artist, album, genre, bpm, duration, tags, description, "
        "thumbnail_url, updated_at FROM assets WHERE kind = 'music' ORDER BY asset_id"
    )
    described: dict[int, tuple[dict[str, Any], str]] = {}
    for r in store.execute(
        "SELECT asset_id, data, created_at FROM analyses WHERE name = ?", (SEARCH_TEXT_ANALYSIS,)
    ):
        try:
            described[int(r[0])] = (json.loads(r[1] or "{}").get("features") or {}, r[2])
        except ValueError:
            continue

    n = len(rows)
    ids = np.zeros(n, dtype=np.int64)
    durations = np.zeros(n, dtype=np.float64)
    names: list[str] = []
    artists: list[str] = []
    albums: list[str] = []
    genres: list[str] = []
    bpms: list[float | None] = []
    thumbs: list[str] = []
    texts: list[str] = []
    fts_rows: dict[int, tuple[str, tuple[str, ...]]] = {}
    genre_rows: dict[str, list[int]] = {}
    artist_rows: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        d = dict(r)
        aid = int(d["asset_id"])
        ids[i] = aid
        durations[i] = float(d["duration"] or 0.0)
        feats, made = described.get(aid, ({}, ""))
        bpm = d["bpm"] if d["bpm"] else (feats.get("tempo_bpm") or None)
        words = audio_words(feats, d["bpm"])
        names.append(d["name"] or "")
        artists.append(d["artist"] or "")
        albums.append(d["album"] or "")
        genres.append(d["genre"] or "")
        bpms.append(round(float(bpm), 1) if bpm else None)
        thumbs.append(d["thumbnail_url"] or "")
        texts.append(track_text(d, words))
        lexical, lacks = _split_negations(d)
        fts_rows[aid] = (f"{d['updated_at']}|{made}", fts.fts_row(lexical, words, lacks))
        for k in genre_keys(d["genre"]):
            genre_rows.setdefault(k, []).append(i)
        if d["artist"]:
            artist_rows.setdefault(d["artist"], []).append(i)
    fts.sync(store, fts_rows)
    keywords = KeywordIndex([fts_rows[int(a)][1] for a in ids])
    row_of = {int(a): i for i, a in enumerate(ids)}
    audio_vecs, audio_ok = _audio_vectors(store, row_of, n)
    text_vecs = _text_vectors(catalog, encoder, texts) if encoder is not None and n else None
    return SearchIndex(
        signature=signature,
        model=encoder.name if encoder is not None else None,
        ids=ids,
        names=names,
        artists=artists,
        albums=albums,
        genres=genres,
        bpms=bpms,
        durations=durations,
        thumbnails=thumbs,
        row_of=row_of,
        genre_rows={k: np.array(v, dtype=np.int64) for k, v in genre_rows.items()},
        artist_rows={k: np.array(v, dtype=np.int64) for k, v in artist_rows.items()},
        artist_index=ArtistIndex(list(artist_rows)),
        text_vecs=text_vecs,
        audio_vecs=audio_vecs,
        audio_ok=audio_ok,
        texts=texts,
        keywords=keywords,
    )


def _state(catalog: Catalog) -> dict[str, Any]:
    state: dict[str, Any] = catalog.cache.setdefault(
        CACHE_KEY, {"lock": threading.Lock(), "index": None, "dirty": False}
    )
    return state


def invalidate(catalog: Catalog) -> None:
    """Mark the search index stale (it is rebuilt on the next query)."""
    _state(catalog)["dirty"] = True


def _change_marker(store: Any) -> tuple[Any, ...] | None:
    """What this thread's connection has seen: other connections' commits (data_version)
    and its own writes (total_changes). Unchanged marker: nothing was written since."""
    conn_of = getattr(store, "_conn", None)
    if conn_of is None:
        return None
    conn = conn_of()
    version = conn.execute("PRAGMA data_version").fetchone()[0]
    return (id(conn), version, conn.total_changes)


def get_index(catalog: Catalog, encoder: TextEncoder | None) -> SearchIndex:
    """The current index, rebuilt first if the catalog or the text model changed.

    On SQLite the change check (:func:`catalog_signature`, a few indexed aggregates) only
    runs when this thread's database connection has seen a write since its last check. On
    PostgreSQL (no such connection-local marker) it runs on every query, but the row counts
    in it, which only removals change, are recounted at most every ``COUNT_TTL_S``: added
    and changed tracks are seen at once, removed ones within a second.
    """
    state = _state(catalog)
    model = encoder.name if encoder is not None else None
    markers: dict[int, Any] = state.setdefault("markers", {})
    tid = threading.get_ident()
    idx: SearchIndex | None = state["index"]
    marker = _change_marker(catalog.store)
    if (
        idx is not None
        and idx.model == model
        and not state["dirty"]
        and marker is not None
        and markers.get(tid) == marker
    ):
        return idx
    if marker is not None:
        sig = catalog_signature(catalog.store)
    else:  # PostgreSQL: counting 100k rows per query costs tens of ms; recount each second
        counted = state.get("counts")
        now = time.monotonic()
        if counted is None or now - counted[0] > COUNT_TTL_S:
            counted = state["counts"] = (now, _row_counts(catalog.store))
        sig = catalog_signature(catalog.store, counted[1])
    if idx is None or idx.signature != sig or idx.model != model or state["dirty"]:
        with state["lock"]:
            idx = state["index"]
            counts = _row_counts(catalog.store)
            state["counts"] = (time.monotonic(), counts)
            sig = catalog_signature(catalog.store, counts)
            if idx is None or idx.signature != sig or idx.model != model or state["dirty"]:
                state["dirty"] = False
                t0 = time.perf_counter()
                idx = build_index(catalog, encoder)
                state["index"] = idx
                if idx.size >= FREEZE_MIN_TRACKS:
                    # hundreds of thousands of long-lived objects: a full collection would
                    # scan them all (about 280 ms at 100k tracks, measured) in the middle
                    # of some query; frozen, collections only look at newer objects
                    gc.collect()
                    gc.freeze()
                log.info("search index: %d tracks in %.2f s", idx.size, time.perf_counter() - t0)
    markers[tid] = _change_marker(catalog.store)
    assert idx is not None
    return idx


# -- ranking ---------------------------------------------------------------------------------
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
) -> np.ndarray | None:
    use = members if ok is None else members[ok[members]]
    if use.size == 0:
        return None
    c = table.vecs[use].mean(axis=0)
    norm = float(np.linalg.norm(c))
    if norm == 0:
        return None
    mask = ok if allowed is None else (allowed if ok is None else ok & allowed)
    rows, _ = table.top(c / norm, ARTIST_NEIGHBOURS, mask)
    return rows


def artist_rows(
    idx: SearchIndex, name: str, allowed: np.ndarray | None, *, vectors: bool = True
) -> tuple[np.ndarray, bool]:
    """Tracks that sound like ``name``: (rows best first, found by embeddings?).

    Audio-embedding centroid of the artist's tracks when they have embeddings; else the
    centroid of their text vectors; else (no model at all) their own tracks and then the
    tracks sharing their genres.
    """
    members = idx.artist_rows.get(name, np.zeros(0, dtype=np.int64))
    if vectors and idx.audio_table is not None:
        rows = _centroid_rows(idx.audio_table, idx.audio_ok, members, allowed)
        if rows is not None:
            return rows, True
    if vectors and idx.text_table is not None:
        rows = _centroid_rows(idx.text_table, None, members, allowed)
        if rows is not None:
            return rows, True
    keys = sorted({k for m in members.tolist() for k in genre_keys(idx.genres[m])})
    cand = np.concatenate(
        [members.astype(np.int64), *(idx.genre_rows[k] for k in keys if k in idx.genre_rows)]
    )
    if allowed is not None and cand.size:
        cand = cand[allowed[cand]]
    _, first = np.unique(cand, return_index=True)  # each row once, where it first appears
    return cand[np.sort(first)][:ARTIST_NEIGHBOURS], False


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
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}")
    clock = _Clock()
    encoder = text_model.get_text_encoder()
    idx = get_index(catalog, encoder)
    clock.lap("index")
    semantic_ok = method != "keyword" and encoder is not None and idx.text_vecs is not None
    pq = parse_query(query)
    allowed = idx.allowed(genres, duration_min, duration_max)

    match: ArtistMatch | None = None
    if recognize_artists:
        match = idx.artist_index.recognize(pq.positive)
    clock.lap("parse")

    rankings: list[tuple[np.ndarray, float]] = []
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


__all__ = [
    "SearchIndex",
    "SearchResult",
    "build_index",
    "get_index",
    "invalidate",
    "normalize_name",
    "search",
    "track_text",
]
