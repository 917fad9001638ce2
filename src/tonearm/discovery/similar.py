"""Similar music and similar sound effects: services under the AudioScape routes and CLI.

Scores are ``clip(cosine, 0, 1)`` of L2-normalized embeddings from one model: comparable
across queries of the same model. Similar SFX of the aisfx model are re-scored in the
library-whitened space with query expansion (discovery.sfx_rank) once the library holds
enough sounds. ``dedupe`` drops the results that are the same recording as the seed
(discovery.duplicates: time alignment for SFX, the audio fingerprint for music);
:func:`dedupe_threshold` remains the plain-score threshold of ``bench/similarity.py``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.catalog.decoding import decode_audio
from tonearm.core.audio.limits import Purpose
from tonearm.discovery import sfx_metric
from tonearm.discovery.embeddings import (
    ANALYSIS_NAME,
    asset_vector,
    audio_embedding_model,
    pack,
)
from tonearm.discovery.index import Filters, SearchResult, get_index
from tonearm.discovery.search_index import TrackFilters
from tonearm.discovery.sfx_rank import MIN_FIT, library_space, rerank_rows, rerank_scores
from tonearm.storage.base import Analysis, Asset

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.discovery")

# near-duplicate thresholds (score at or above = duplicate), per model family. Measured by
# ``bench/similarity.py --parts dup --quick``: 68 clips (synthesized UCS-style SFX + labelled
# real SFX from Debian packages) and their MP3-128, -6 dB, 22.05 kHz and 30 ms-trimmed copies
# vs different clips of the same label. The best-F1 threshold: aisfx 0.925 (copy recall
# 0.98, precision 0.91), DSP 0.95 (recall 0.96, precision 0.95). Precision is understated:
# the real set holds true duplicates under different names (splash.wav / splash.ogg).
# The music models were not measured separately; they use the DSP figure.
DEDUPE_THRESHOLDS = {
    "aisfx-ismir2022": 0.93,
    "dsp-stats": 0.95,
    "music-aisfx+dsp": 0.95,
    "dsp-music": 0.95,
}
DEFAULT_DEDUPE = 0.95


def dedupe_threshold(model_id: str) -> float:
    """The ``max_score`` that ``dedupe=true`` stands for, for vectors of ``model_id``."""
    return DEDUPE_THRESHOLDS.get(model_id.split("/")[0], DEFAULT_DEDUPE)


class NotFound(LookupError):
    """No such asset of that kind (or it cannot be embedded)."""


def ensure_embedding(catalog: Catalog, asset: Asset) -> tuple[str, np.ndarray]:
    """(model id, vector) of an asset; computed from its stored file (and saved) when the
    asset was ingested without the ``embedding`` analysis."""
    got = asset_vector(catalog, asset.asset_id)
    if got is not None:
        return got
    from tonearm.catalog.ingest import asset_path

    path = asset_path(catalog, asset)
    if not path.exists():
        raise NotFound(asset.asset_id)
    signal = decode_audio(catalog, path, Purpose.CATALOG_FILE)
    model = audio_embedding_model(catalog, asset.kind)
    v = model.embed(signal)
    data, blob = pack(v, model.model_id)
    catalog.store.put_analysis(Analysis(asset.asset_id, ANALYSIS_NAME, 1, data, blob))
    log.info("asset %s: embedding computed on demand (%s)", asset.asset_id, model.model_id)
    return model.model_id, v


@dataclass
class SimilarPage:
    seed: Asset
    model_id: str
    items: list[tuple[Asset, float]]
    total: int


def similar(
    catalog: Catalog,
    asset_id: str,
    kind: str,
    *,
    limit: int = 20,
    offset: int = 0,
    filters: Filters | None = None,
    max_score: float | None = None,
    dedupe: bool = False,
    extra: TrackFilters | None = None,
    sort: str = "score",
) -> SimilarPage:
    """Assets of ``kind`` most similar to ``asset_id`` (itself excluded), best first.

    ``extra`` (music): the search filters bpm, key, loudness, instrumental, read from the
    search index (:class:`~tonearm.discovery.search_index.TrackFilters`). ``sort``:
    "score" (default), "duration_asc" or "duration_desc" (ties: by score).

    Raises
    ------
    NotFound
        The asset does not exist, is of another kind, or has no audio to embed.
    """
    seed = catalog.store.get_asset(asset_id)
    hidden = filters.hidden if filters is not None else frozenset()
    if seed is None or seed.kind != kind or int(seed.asset_id) in hidden:
        raise NotFound(asset_id)
    model_id, q = ensure_embedding(catalog, seed)
    dedupe = dedupe and max_score is None  # an explicit max_score wins
    if extra is not None and not extra.empty:
        filters = replace(filters or Filters(), hidden=hidden | _failing(catalog, extra))
    idx = get_index(catalog)
    part = idx.parts.get((kind, model_id))
    n_all = len(part.rows) if part is not None else 0
    # the whole filtered list is ranked when it is re-scored, de-duplicated or sorted by
    # another key (exact search)
    full = (
        dedupe
        or sort != "score"
        or (kind == "sfx" and model_id.startswith("aisfx") and n_all >= MIN_FIT)
    )
    res: SearchResult = idx.search(
        kind,
        model_id,
        q,
        limit=max(1, n_all) if full else limit,
        offset=0 if full else offset,
        filters=filters,
        exclude=seed.asset_id,
        max_score=max_score,
        exact=full,
    )
    hits = [(h.asset_id, h.score) for h in res.hits]
    total = res.total
    if full:
        raw = dict(hits)  # plain cosine scores: what the duplicate rule's prefilter reads
        if kind == "sfx" and model_id.startswith("aisfx") and part is not None:
            hits = _reranked_sfx(catalog, idx, model_id, part, seed.asset_id, q, hits, hidden)
        if dedupe:
            dropped = _duplicates_of_seed(catalog, kind, seed.asset_id, raw)
            hits = [h for h in hits if h[0] not in dropped]
            total -= len(dropped)
        if sort != "score":
            dur = {aid: _duration(idx, aid) for aid, _ in hits}
            sign = 1.0 if sort == "duration_asc" else -1.0
            hits.sort(key=lambda h: sign * dur[h[0]])  # stable: ties keep the score order
        hits = hits[offset : offset + limit]
    items: list[tuple[Asset, float]] = []
    stale = 0
    for aid, score in hits:
        a = catalog.store.get_asset(aid)
        if a is None:  # deleted by another process since the last sync
            stale += 1
            continue
        items.append((a, score))
    return SimilarPage(seed, model_id, items, max(0, total - stale))


def _duration(idx: Any, asset_id: str) -> float:
    m = idx.meta.get(int(asset_id))
    return float(m.duration) if m is not None else 0.0


def _failing(catalog: Catalog, extra: TrackFilters) -> frozenset[int]:
    """Music asset ids that do not pass ``extra`` (from the search index)."""
    from tonearm.discovery import text as text_model
    from tonearm.discovery.search_index import get_index as search_index

    sidx = search_index(catalog, text_model.get_text_encoder())
    mask = sidx.allowed(None, None, None, (), extra)
    if mask is None:
        return frozenset()
    return frozenset(int(a) for a in sidx.ids[~mask].tolist())


def _reranked_sfx(
    catalog: Catalog,
    idx: Any,
    model_id: str,
    part: Any,
    seed_id: str,
    q: np.ndarray,
    hits: list[tuple[str, float]],
    hidden: frozenset[int],
) -> list[tuple[str, float]]:
    """``hits`` re-scored in the library-whitened space with query expansion
    (discovery.sfx_rank), blended with the metric learned from the categories of the SFX
    the caller can see (not ``hidden``: other accounts') where it won its validation
    (discovery.sfx_metric), best first; unchanged when the library is too small to fit."""
    ids, m = part.packed()
    space = library_space(catalog.cache, model_id, ids, m)
    if space is None:
        return hits
    sids, z, w = space
    codes = idx.category_codes(part)
    seen = sfx_metric.visible(sids, hidden)
    z_seen = z[seen]
    choice = sfx_metric.library_choice(
        catalog.cache, model_id, sids, m, codes, seen, lambda rows: rerank_rows(z_seen, rows)
    )
    keep = sids != (int(seed_id) if seed_id.isdigit() else -1)
    scores = sfx_metric.scores(choice, q, rerank_scores(w.apply(q), z[keep]), keep)
    row = {int(k): i for i, k in enumerate(sids[keep].tolist())}
    out = [(aid, float(scores[row[int(aid)]])) for aid, _ in hits if int(aid) in row]
    out.sort(key=lambda h: (-round(h[1], 6), int(h[0])))
    return out


def _duplicates_of_seed(
    catalog: Catalog, kind: str, seed_id: str, raw: dict[str, float]
) -> set[str]:
    """Assets among ``raw`` (asset id -> plain cosine score to the seed) that are the same
    recording as the seed (discovery.duplicates: alignment and waveform for SFX, the
    fingerprint both ways for music)."""
    from tonearm.discovery import duplicates as dd

    if kind == "music":
        cands = {h.asset_id for per in dd.music_hits_of(catalog, seed_id) for h in per}
        return {b for b in cands & set(raw) if dd.music_pair(catalog, seed_id, b)}
    return {
        aid
        for aid, cos in raw.items()
        if cos >= dd.SFX_PREFILTER and dd.sfx_pair(catalog, seed_id, aid, cos)[0]
    }


def mir_of(catalog: Catalog, asset_id: str) -> dict[str, Any]:
    a = catalog.store.get_analysis(asset_id, "mir")
    return dict(a.data) if a else {}


# -- duplicate groups and category suggestions -------------------------------------------------
def duplicate_groups(
    catalog: Catalog, kind: str = "sfx", threshold: float | None = None, k: int = 20
) -> list[list[tuple[str, float]]]:
    """Groups of duplicates (discovery.duplicates: the same recording; complete linkage).
    ``threshold``: group by embedding score >= threshold instead (complete linkage too).

    Returns
    -------
    list of groups, largest first; each a list of (asset_id, best score to another member).
    """
    from tonearm.discovery import duplicates

    return duplicates.duplicate_groups(catalog, kind, k=k, threshold=threshold)


VOTE_TEMPERATURE = 0.05


@dataclass
class CategorySuggestion:
    category: str
    subcategory: str | None
    confidence: float  # share of neighbour similarity voting for it, in [0, 1]
    neighbours: int


def suggest_category(catalog: Catalog, asset_id: str, k: int = 10) -> list[CategorySuggestion]:
    """UCS category suggestions for an SFX from its ``k`` nearest labelled neighbours.

    Each labelled neighbour votes for its (category, subcategory) with weight
    ``exp((score - 1) / VOTE_TEMPERATURE)``; the confidence is the vote share times
    ``exp((best score - 1) / 0.1)`` (0.90 for a 0.99 neighbour, 0.37 for 0.90). Returns
    the candidates, best first (empty if no labelled neighbours).
    """
    seed = catalog.store.get_asset(asset_id)
    if seed is None or seed.kind != "sfx":
        raise NotFound(asset_id)
    model_id, q = ensure_embedding(catalog, seed)
    idx = get_index(catalog)
    labelled = [c for c in idx.codes if c]  # any category known to the index
    if not labelled:
        return []
    res = idx.search(
        "sfx", model_id, q, limit=k, exclude=seed.asset_id, filters=Filters(categories=labelled)
    )
    votes: dict[tuple[str, str | None], float] = {}
    best: dict[tuple[str, str | None], float] = {}
    names: dict[str, str] = {}
    n = 0
    for h in res.hits:
        a = catalog.store.get_asset(h.asset_id)
        if a is None or not a.category:
            continue
        n += 1
        key = (a.category.strip().upper(), (a.subcategory or "").strip().upper() or None)
        names[key[0]] = a.category
        # sharp weighting: one near-identical neighbour outweighs several loose ones
        votes[key] = votes.get(key, 0.0) + float(np.exp((h.score - 1.0) / VOTE_TEMPERATURE))
        best[key] = max(best.get(key, 0.0), h.score)
    total = sum(votes.values())
    # the vote share, discounted when even the closest voter is not that close: a clip
    # unlike anything labelled gets a low confidence, whoever wins the vote
    out = [
        CategorySuggestion(
            cat, sub, round(v / total * float(np.exp((best[(cat, sub)] - 1.0) / 0.1)), 3), n
        )
        for (cat, sub), v in sorted(votes.items(), key=lambda kv: -kv[1])
    ]
    return out
