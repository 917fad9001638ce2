"""Ingest analyzers of discovery: ``mir`` (level and trim fields) and ``embedding``."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.catalog.analyzers import AnalysisResult
from tonearm.core.audio.bounds import sound_bounds
from tonearm.core.audio.loudness import integrated_loudness, true_peak_dbtp
from tonearm.core.audio.signal import Signal
from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.core.features.onset import ANALYSIS_SR
from tonearm.discovery.embeddings import ANALYSIS_NAME, audio_embedding_model, pack

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset

log = logging.getLogger("tonearm.discovery")


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(float(x), nd)


def mir_fields(signal: Signal) -> dict[str, float | None]:
    """The MIR fields of one clip (all may be ``None``; see the core functions)."""
    b = sound_bounds(signal.samples, signal.sr)
    return {
        "duration": round(signal.duration_s, 3),
        "true_peak_dbtp": _r(true_peak_dbtp(signal.samples, signal.sr), 2),
        "loudness_lufs": _r(integrated_loudness(signal.samples, signal.sr), 2),
        "sound_start_sec": _r(b.start_s, 3),
        "sound_end_sec": _r(b.end_s, 3),
        "noise_floor_db": _r(b.noise_floor_db, 1),
    }


class MirAnalyzer:
    """duration, true_peak_dbtp (BS.1770-4), loudness_lufs, sound_start_sec/sound_end_sec."""

    name = "mir"
    version = 1
    kinds = frozenset({"music", "sfx"})
    default = True

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
        return AnalysisResult(data=mir_fields(AnalysisInput.of(inp).signal))

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None:
        return None


class EmbeddingAnalyzer:
    """One L2-normalized audio vector per asset, from the model in use for its kind."""

    name = ANALYSIS_NAME
    version = 1
    kinds = frozenset({"music", "sfx"})
    default = True

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
        inp = AnalysisInput.of(inp)
        model = audio_embedding_model(None, kind)
        # music: the 22,050 Hz mono signal the beat and search analyzers read (the music
        # model works at that rate); sfx keeps the file's own rate
        v = model.embed(inp.at_rate(ANALYSIS_SR) if kind == "music" else inp.signal)
        return self.result_for(v, model.model_id)

    # bulk ingest runs the model itself, batched across files (catalog/bulk.py)
    def batch_model(self, kind: str) -> Any:
        """The embedding model this analyzer uses for ``kind``."""
        return audio_embedding_model(None, kind)

    def result_for(self, v: np.ndarray, model_id: str) -> AnalysisResult:
        """The stored analysis of a finished vector (``ValueError`` if it is not finite)."""
        if not np.all(np.isfinite(v)):
            raise ValueError("embedding is not finite")
        data, blob = pack(v, model_id)
        return AnalysisResult(data=data, blob=blob)

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None:
        from tonearm.core.embeddings import from_blob
        from tonearm.discovery.embeddings import record_models_status
        from tonearm.discovery.index import CACHE_KEY

        record_models_status(catalog)
        idx = catalog.cache.get(CACHE_KEY)
        if idx is not None and result.blob is not None:
            idx.add(asset.asset_id, asset.kind, str(result.data["model"]), from_blob(result.blob))


ANALYZERS = [MirAnalyzer(), EmbeddingAnalyzer()]
