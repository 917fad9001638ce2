"""The in-memory search index: every music track as search needs it, rebuilt when the
catalog changes.

The per-track data (metadata, text vectors, audio vectors) lives in memory in a
:class:`SearchIndex` cached in ``catalog.cache``; it is rebuilt when the catalog changes
(checked per query with a few indexed aggregates, :meth:`Store.kind_maxima`). Text vectors
are also cached on disk (``index/search_text_vectors.npz``) keyed by a hash of each track's
text, so a rebuild only embeds tracks whose text changed. Building the index also syncs the
stored keyword table (:func:`tonearm.discovery.fts.sync`).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.discovery import calibration, fts
from tonearm.discovery.artists import ArtistIndex
from tonearm.discovery.bm25 import KeywordIndex
from tonearm.discovery.describe import audio_words, tag_word_probs, tag_words
from tonearm.discovery.quantized import VectorTable
from tonearm.discovery.query import parse_query

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.discovery.text import TextEncoder
    from tonearm.storage.base import Store

log = logging.getLogger("tonearm.search")

CACHE_KEY = "discovery.search"
TEXT_VECTORS_FILE = "search_text_vectors.npz"
SEARCH_TEXT_ANALYSIS = "search_text"
EMBEDDING_ANALYSIS = "embedding"
ANALYSES = (SEARCH_TEXT_ANALYSIS, EMBEDDING_ANALYSIS)  # the analyses the index reads
MIR_ANALYSIS = "mir"  # loudness for the filter
# confident tag words that mean a voice is heard (describe.TAG_WORDS)
VOCAL_WORDS = frozenset({"vocals", "female vocals", "male vocals", "choir", "rap"})
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"DB": "C#", "EB": "D#", "GB": "F#", "AB": "G#", "BB": "A#", "CB": "B", "FB": "E"}


def key_name(value: Any) -> str | None:
    """A key's tonic as one of :data:`PITCH_CLASSES` ("Eb", "e flat", "D#" -> "D#"; "E#" ->
    "F"), or None when ``value`` is not a key name."""
    if not isinstance(value, str):
        return None
    v = value.strip().upper().replace(" FLAT", "B").replace(" SHARP", "#")
    v = v.replace("♭", "B").replace("♯", "#")
    if v in PITCH_CLASSES:
        return v
    if v in _FLATS:
        return _FLATS[v]
    if len(v) == 2 and v[1] == "#" and v[0] in "EB":
        return {"E": "F", "B": "C"}[v[0]]
    return None


FREEZE_MIN_TRACKS = 20_000  # index at least this big: gc.freeze() after building it
COUNT_TTL_S = 1.0  # PostgreSQL: row counts (removals) rechecked at most this often
# The musicnn tag words join each track's text (False: the DSP words only, as before the
# tagger; kept for the comparison in bench/search.py)
USE_TAGS = True
# Where the tag words go in the sentence a track is embedded as (they always reach the
# keyword index and the tag ranking): "always" into every track's sentence; "undescribed"
# only into the sentences of tracks without an artist, album or genre of their own. Kept
# for the comparison in bench/search.py --tag-sentence: "undescribed" wins on tracks whose
# metadata names what they sound like and loses where it does not (an artist name alone).
TAG_SENTENCE = "always"


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
    # musicnn tags as a matrix: probability (n, t) of each tag word (t,), and the words'
    # text vectors (t, 384) for the tag ranking (search_ranking.tag_rows)
    tag_probs: np.ndarray | None = None
    tag_names: list[str] = field(default_factory=list)
    tag_vecs: np.ndarray | None = None
    # (m50, m95) of the best-hit cosines meaningless queries get on this library: what
    # calibrates the text-vector cosine to an absolute score (discovery.calibration)
    null_levels: tuple[float, float] | None = None
    # per row, from the search_text analysis: key ("C", "F#"), mode ("major"/"minor"),
    # loudness (dBFS RMS, or LUFS when the mir analysis has it), instrumental (a tag said
    # so: "no vocals" or "instrumental" above its confidence); None/NaN where unknown
    keys: list[str | None] = field(default_factory=list)
    modes: list[str | None] = field(default_factory=list)
    loudness: np.ndarray | None = None  # (n,) float64, NaN: unknown
    instrumental: np.ndarray | None = None  # (n,) int8: 1 yes, 0 no (vocals), -1 unknown
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

    def allowed(
        self,
        genres: Sequence[str] | None,
        dmin: float | None,
        dmax: float | None,
        hidden: Collection[int] = (),
        extra: TrackFilters | None = None,
    ):
        """Boolean mask (n,) of rows passing the filters, or None when nothing is filtered.
        ``hidden``: asset ids left out (other accounts' assets); ``extra``: the tonearm
        filters (bpm, key, loudness, instrumental)."""
        mask: np.ndarray | None = None
        if extra is not None and not extra.empty:
            mask = self._extra_mask(extra)
        if hidden:
            mask = ~np.isin(self.ids, np.fromiter(hidden, dtype=np.int64))
        if genres:
            g_mask = np.zeros(self.size, dtype=bool)
            for g in genres:
                rows = self.genre_rows.get(genre_key(g))
                if rows is not None:
                    g_mask[rows] = True
            mask = g_mask if mask is None else mask & g_mask
        if dmin is not None or dmax is not None:
            m = np.ones(self.size, dtype=bool)
            if dmin is not None:
                m &= self.durations >= dmin
            if dmax is not None:
                m &= self.durations <= dmax
            mask = m if mask is None else mask & m
        return mask

    def _extra_mask(self, f: TrackFilters) -> np.ndarray:
        m = np.ones(self.size, dtype=bool)
        if f.bpm_min is not None or f.bpm_max is not None:
            bpm = np.array([b if b else np.nan for b in self.bpms], dtype=np.float64)
            with np.errstate(invalid="ignore"):  # NaN (unknown tempo) never passes
                if f.bpm_min is not None:
                    m &= bpm >= f.bpm_min
                if f.bpm_max is not None:
                    m &= bpm <= f.bpm_max
        if f.keys:
            k = np.zeros(self.size, dtype=bool)
            for tonic, mode in f.keys:
                k |= np.array(
                    [
                        kk == tonic and (mode is None or mo == mode)
                        for kk, mo in zip(self.keys, self.modes, strict=True)
                    ],
                    dtype=bool,
                ).reshape(-1)
            m &= k
        if f.loudness_min is not None or f.loudness_max is not None:
            lv = self.loudness if self.loudness is not None else np.full(self.size, np.nan)
            with np.errstate(invalid="ignore"):
                if f.loudness_min is not None:
                    m &= lv >= f.loudness_min
                if f.loudness_max is not None:
                    m &= lv <= f.loudness_max
        if f.instrumental is not None:
            inst = self.instrumental
            if inst is None:
                inst = np.full(self.size, -1, dtype=np.int8)
            m &= inst == (1 if f.instrumental else 0)
        return m


def parse_key(text: str) -> tuple[str, str | None] | None:
    """ "A minor", "F# major", "Eb", "c#m", "Bbmin" -> (tonic, mode or None); None when it
    is not a key."""
    t = " ".join(str(text).strip().split())
    m = re.fullmatch(r"(?i)([a-g](?:[#b♯♭]| sharp| flat)?)\s*(major|maj|minor|min|m)?", t)
    if m is None:
        return None
    tonic = key_name(m.group(1))
    if tonic is None:
        return None
    mode = m.group(2)
    if mode is None:
        return tonic, None
    return tonic, "major" if mode.lower().startswith("maj") else "minor"


@dataclass(frozen=True)
class TrackFilters:
    """The tonearm search/similar filters beyond AudioScape's genres and duration.

    A track whose value is unknown (no tempo, no key, no loudness, no tags) never passes a
    filter on that value.
    """

    bpm_min: float | None = None
    bpm_max: float | None = None
    keys: tuple[tuple[str, str | None], ...] = ()  # (tonic as in PITCH_CLASSES, mode|None)
    loudness_min: float | None = None  # LUFS
    loudness_max: float | None = None
    instrumental: bool | None = None

    @property
    def empty(self) -> bool:
        return (
            self.bpm_min is None
            and self.bpm_max is None
            and not self.keys
            and self.loudness_min is None
            and self.loudness_max is None
            and self.instrumental is None
        )


def catalog_signature(store: Store, counts: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
    """Changes whenever a music asset or a search-relevant analysis is added, changed or
    removed: the newest change times and ids (index lookups) and the row counts (index
    scans, for removals; ``counts`` reuses ones from :func:`_row_counts`)."""
    maxima = store.kind_maxima("music", ANALYSES)
    return (*maxima, *(counts if counts is not None else _row_counts(store)))


def _row_counts(store: Store) -> tuple[Any, ...]:
    return store.kind_counts("music", ANALYSES)


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


def _audio_vectors(
    store: Store, row_of: dict[int, int], n: int
) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    """(vectors (n, d), ok (n,)) of the most common embedding model among music tracks."""
    per_model: dict[str, list[tuple[int, bytes]]] = {}
    for r in store.analysis_rows(EMBEDDING_ANALYSIS):
        row = row_of.get(int(r["asset_id"]))
        if row is None or r["blob"] is None:
            continue
        try:
            model = str(json.loads(r["data"] or "{}").get("model", ""))
        except ValueError:
            continue
        per_model.setdefault(model, []).append((row, bytes(r["blob"])))
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
    rows = store.search_fields("music")
    described: dict[int, tuple[dict[str, Any], list[str], str]] = {}
    probs_of: dict[int, dict[str, float]] = {}
    for r in store.analysis_rows(SEARCH_TEXT_ANALYSIS):
        try:
            data = json.loads(r["data"] or "{}")
        except ValueError:
            continue
        tags = tag_words(data.get("tags")) if USE_TAGS else []
        described[int(r["asset_id"])] = (data.get("features") or {}, tags, r["created_at"])
        if USE_TAGS and data.get("tags"):
            probs_of[int(r["asset_id"])] = tag_word_probs(data["tags"])

    # loudness for the filter: integrated LUFS of the mir analysis (written at ingest with
    # search_text, so the signature's search_text maxima see it change)
    lufs_of: dict[int, float] = {}
    for r in store.analysis_rows(MIR_ANALYSIS):
        try:
            v = json.loads(r["data"] or "{}").get("loudness_lufs")
        except (ValueError, AttributeError):
            continue
        if isinstance(v, int | float) and np.isfinite(v):
            lufs_of[int(r["asset_id"])] = float(v)

    n = len(rows)
    ids = np.zeros(n, dtype=np.int64)
    keys: list[str | None] = []
    modes: list[str | None] = []
    loudness = np.full(n, np.nan)
    instrumental = np.full(n, -1, dtype=np.int8)
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
        feats, tagged, made = described.get(aid, ({}, [], ""))
        keys.append(key_name(feats.get("key")))
        modes.append(feats.get("mode") if feats.get("mode") in ("major", "minor") else None)
        loudness[i] = lufs_of.get(aid, np.nan)
        if aid in probs_of:  # tagged: vocal unless no confident tag says voice
            instrumental[i] = 0 if any(w in VOCAL_WORDS for w in tagged) else 1
        bpm = d["bpm"] if d["bpm"] else (feats.get("tempo_bpm") or None)
        plain = audio_words(feats, d["bpm"])
        words = plain + [w for w in tagged if w not in plain]
        names.append(d["name"] or "")
        artists.append(d["artist"] or "")
        albums.append(d["album"] or "")
        genres.append(d["genre"] or "")
        bpms.append(round(float(bpm), 1) if bpm else None)
        thumbs.append(d["thumbnail_url"] or "")
        described_by_metadata = any(d[c] for c in ("artist", "album", "genre"))
        if TAG_SENTENCE == "undescribed" and described_by_metadata:
            texts.append(track_text(d, plain))
        else:
            texts.append(track_text(d, words))
        lexical, lacks = _split_negations(d)
        sync_key = f"{d['updated_at']}|{made}|{len(tagged)}"
        fts_rows[aid] = (sync_key, fts.fts_row(lexical, words, lacks))
        for k in genre_keys(d["genre"]):
            genre_rows.setdefault(k, []).append(i)
        if d["artist"]:
            artist_rows.setdefault(d["artist"], []).append(i)
    fts.sync(store, fts_rows)
    keywords = KeywordIndex([fts_rows[int(a)][1] for a in ids])
    row_of = {int(a): i for i, a in enumerate(ids)}
    audio_vecs, audio_ok = _audio_vectors(store, row_of, n)
    text_vecs = _text_vectors(catalog, encoder, texts) if encoder is not None and n else None
    tag_names = sorted({w for p in probs_of.values() for w in p})
    tag_probs = tag_vecs = None
    if tag_names:
        col = {w: c for c, w in enumerate(tag_names)}
        tag_probs = np.zeros((n, len(tag_names)), dtype=np.float32)
        for aid, p in probs_of.items():
            row = row_of.get(aid)
            if row is not None:
                for w, v in p.items():
                    tag_probs[row, col[w]] = v
        if encoder is not None:
            tag_vecs = encoder.encode(tag_names)
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
        tag_probs=tag_probs,
        tag_names=tag_names,
        tag_vecs=tag_vecs,
        null_levels=_null_levels(encoder, text_vecs),
        keys=keys,
        modes=modes,
        loudness=loudness,
        instrumental=instrumental,
    )


def _null_levels(
    encoder: TextEncoder | None, text_vecs: np.ndarray | None
) -> tuple[float, float] | None:
    """(m50, m95) of the null best hits on this library (discovery.calibration)."""
    if encoder is None or text_vecs is None or not text_vecs.shape[0]:
        return None
    null = calibration.null_vectors(encoder)
    return calibration.cosine_levels(calibration.null_best_hits(text_vecs, null))


def _state(catalog: Catalog) -> dict[str, Any]:
    state: dict[str, Any] = catalog.cache.setdefault(
        CACHE_KEY, {"lock": threading.Lock(), "index": None, "dirty": False}
    )
    return state


def invalidate(catalog: Catalog) -> None:
    """Mark the search index stale (it is rebuilt on the next query)."""
    _state(catalog)["dirty"] = True


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
    marker = catalog.store.change_marker()
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
    markers[tid] = catalog.store.change_marker()
    assert idx is not None
    return idx
