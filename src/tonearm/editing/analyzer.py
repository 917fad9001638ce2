"""Ingest analyzer ``beats`` (music): tempo, beat boundaries and the self-similarity string,
stored per asset so a catalog track can be resized without re-analysis.

The analysis data is Audjust's ``result`` object without ``features`` (``similarity`` is
null for files over 30 minutes); the 13 per-beat
feature values are kept as a float16 blob (``stored_result(..., raw_features=True)``).
The asset's ``bpm`` field is set from the tempo (user-given metadata wins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.catalog.analyzers import AnalysisResult
from tonearm.core.features.analysis_input import AnalysisInput

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset

ANALYSIS_NAME = "beats"


class BeatsAnalyzer:
    """Beats, tempo (asset ``bpm``) and beat self-similarity of music."""

    name = ANALYSIS_NAME
    # 2: end boundary, similarity in units of the song's own beat change; 3: band-level steps
    version = 3
    kinds = frozenset({"music"})
    default = True

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
        from tonearm.editing.analyze import (
            MAX_SIMILARITY_DURATION_S,
            analyze_signal,
            result_object,
        )

        # very long files (DJ mixes, recordings of a whole show) keep beats and tempo only
        inp = AnalysisInput.of(inp)
        a = analyze_signal(inp, similarity=inp.duration_s <= MAX_SIMILARITY_DURATION_S)
        data = result_object(a, raw_features=False)
        blob = np.ascontiguousarray(a.raw_features, dtype="<f2").tobytes()
        fields: dict[str, Any] = {"bpm": round(a.bpm, 1)} if a.bpm > 0 else {}
        return AnalysisResult(fields=fields, data=data, blob=blob)

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None:
        return None


def stored_result(
    catalog: Catalog, asset_id: str, *, raw_features: bool = False
) -> dict[str, Any] | None:
    """Audjust's ``result`` object for a catalog asset from its stored ``beats`` analysis,
    or None if the asset was not analyzed."""
    a = catalog.store.get_analysis(asset_id, ANALYSIS_NAME)
    if a is None:
        return None
    out = dict(a.data)
    if raw_features and a.blob:
        n = len(out.get("boundaries", []))
        feats = np.frombuffer(a.blob, dtype="<f2").astype(np.float32).reshape(n, -1)
        out["features"] = [[round(float(v), 3) for v in row] for row in feats]
    return out


ANALYZERS = [BeatsAnalyzer()]
