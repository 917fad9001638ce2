"""Similar music and similar sound effects: services under the AudioScape routes and CLI.

Scores are ``clip(cosine, 0, 1)`` of L2-normalized embeddings from one model: comparable
across queries of the same model. ``dedupe`` uses :func:`dedupe_threshold`, measured per
model by ``bench/similarity.py`` (re-encoded, trimmed, gain-changed and resampled copies
score above it; different sounds of the same category below).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.catalog.decoding import decode_audio
from tonearm.core.audio.limits import Purpose
from tonearm.discovery.embeddings import (
    ANALYSIS_NAME,
    asset_vector,
    audio_embedding_model,
    pack,
)
from tonearm.discovery.index import Filters, SearchResult, get_index
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
) -> SimilarPage:
    """Assets of ``kind`` most similar to ``asset_id`` (itself excluded), best first.

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
    if max_score is None and dedupe:
        max_score = dedupe_threshold(model_id)
    idx = get_index(catalog)
    res: SearchResult = idx.search(
        kind,
        model_id,
        q,
        limit=limit,
        offset=offset,
        filters=filters,
        exclude=seed.asset_id,
        max_score=max_score,
    )
    items: list[tuple[Asset, float]] = []
    stale = 0
    for h in res.hits:
        a = catalog.store.get_asset(h.asset_id)
        if a is None:  # deleted by another process since the last sync
            stale += 1
            continue
        items.append((a, h.score))
    return SimilarPage(seed, model_id, items, max(0, res.total - stale))


def mir_of(catalog: Catalog, asset_id: str) -> dict[str, Any]:
    a = catalog.store.get_analysis(asset_id, "mir")
    return dict(a.data) if a else {}


# -- near-duplicate groups and category suggestions ----------------------------------------
def _find(parent: dict[int, int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def duplicate_groups(
    catalog: Catalog, kind: str = "sfx", threshold: float | None = None, k: int = 20
) -> list[list[tuple[str, float]]]:
    """Groups of near-duplicates (connected components of pairs scoring >= threshold).

    Returns
    -------
    list of groups, largest first; each a list of (asset_id, best score to another member).
    """
    idx = get_index(catalog)
    groups: list[list[tuple[str, float]]] = []
    for (pkind, model_id), part in list(idx.parts.items()):
        if pkind != kind or not part.rows:
            continue
        thr = dedupe_threshold(model_id) if threshold is None else threshold
        ids, m = part.packed()
        parent = {int(i): int(i) for i in ids}
        best: dict[int, float] = {}

        for row, key in enumerate(ids.tolist()):
            res = idx.search(kind, model_id, m[row], limit=k, exclude=str(key))
            for h in res.hits:
                if h.score < thr:
                    break
                other = int(h.asset_id)
                parent[_find(parent, key)] = _find(parent, other)
                best[key] = max(best.get(key, 0.0), h.score)
                best[other] = max(best.get(other, 0.0), h.score)
        comp: dict[int, list[int]] = {}
        for key in best:
            comp.setdefault(_find(parent, key), []).append(key)
        for members in comp.values():
            if len(members) > 1:
                groups.append([(str(x), round(best[x], 4)) for x in sorted(members)])
    groups.sort(key=lambda g: (-len(g), g[0][0]))
    return groups


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
