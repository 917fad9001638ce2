"""Ingest analyzer ``search_text``: what the audio says, for natural-language search.

Stores :func:`tonearm.discovery.describe.audio_features` and the musicnn tag probabilities
(:func:`tonearm.discovery.describe.audio_tags`; ``{}`` where the tagger cannot run) of every
music track (analysis ``search_text``: ``{"features": {...}, "tags": {...}}``); the search
index turns them into words together with the track's bpm. :func:`backfill` computes it for
tracks ingested before this analyzer was registered, and adds the tags to rows stored
before the tagger (version 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tonearm.catalog.analyzers import AnalysisResult
from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.discovery.describe import audio_features, audio_tags

if TYPE_CHECKING:
    from collections.abc import Callable

    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset

ANALYSIS_NAME = "search_text"


class SearchTextAnalyzer:
    name = ANALYSIS_NAME
    version = 2  # 2: musicnn tags
    kinds = frozenset({"music"})
    default = True

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
        return AnalysisResult(data={"features": audio_features(inp), "tags": audio_tags(inp)})

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None:
        from tonearm.discovery.search import invalidate

        invalidate(catalog)


ANALYZERS = [SearchTextAnalyzer()]


def backfill(
    catalog: Catalog,
    *,
    on_progress: Callable[[str, str], Any] | None = None,
) -> int:
    """Compute ``search_text`` for every music asset that lacks it, or whose row predates
    the tagger (no ``tags``) while the tagger can run here; returns how many.

    Assets whose file cannot be decoded are reported through ``on_progress(asset_id,
    "failed: ...")`` and skipped.
    """
    import json

    from tonearm.catalog.decoding import decode_audio
    from tonearm.catalog.ingest import asset_path
    from tonearm.core.audio.limits import Purpose
    from tonearm.core.embeddings.musicnn import musicnn_available
    from tonearm.storage.base import Analysis

    store = catalog.store
    have = store.analysis_asset_ids(ANALYSIS_NAME)
    if musicnn_available()[0]:
        for r in store.analysis_rows(ANALYSIS_NAME):
            try:
                untagged = "tags" not in json.loads(r["data"] or "{}")
            except ValueError:
                untagged = True
            if untagged:
                have.discard(int(r["asset_id"]))
    done = 0
    for asset in store.iter_assets("music"):
        if int(asset.asset_id) in have:
            continue
        try:
            sig = decode_audio(catalog, asset_path(catalog, asset), Purpose.CATALOG_FILE)
            inp = AnalysisInput.of(sig)
            data = {"features": audio_features(inp), "tags": audio_tags(inp)}
        except Exception as e:  # one bad file must not stop the rest
            if on_progress:
                on_progress(asset.asset_id, f"failed: {e}")
            continue
        store.put_analysis(
            Analysis(asset.asset_id, ANALYSIS_NAME, SearchTextAnalyzer.version, data)
        )
        done += 1
        if on_progress:
            on_progress(asset.asset_id, "ok")
    if done:
        from tonearm.discovery.search import invalidate

        invalidate(catalog)
    return done
