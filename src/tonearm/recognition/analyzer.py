"""Ingest analyzer ``fingerprint``: landmark hashes stored as the analysis blob, then indexed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tonearm.catalog.analyzers import AnalysisResult
from tonearm.core.features.analysis_input import AnalysisInput
from tonearm.recognition import fingerprint as fp

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.base import Asset


class FingerprintAnalyzer:
    name = "fingerprint"
    version = fp.VERSION
    kinds = frozenset({"music", "sfx"})
    default = True
    # all it reads: the mono signal at the fingerprint rate (bulk ingest decodes straight
    # to it when no other analyzer runs)
    mono_sr = fp.SR

    def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
        inp = AnalysisInput.of(inp)
        hashes, times = fp.fingerprint(inp.signal)
        return AnalysisResult(
            data={
                "version": fp.VERSION,
                "n_hashes": int(len(hashes)),
                "fps": fp.FPS,
                "duration_s": round(inp.duration_s, 3),
            },
            blob=fp.pack(hashes, times),
        )

    def after_commit(self, catalog: Catalog, asset: Asset, result: AnalysisResult) -> None:
        from tonearm.recognition.service import index_asset

        if result.blob is None:
            return
        from tonearm.storage.fingerprints import FingerprintIndexUnavailable

        try:
            index_asset(catalog, asset.asset_id, result.blob)
        except FingerprintIndexUnavailable:
            # the shared index is down: undo the ingest and report it, so the client's retry
            # ingests again (a kept asset would be skipped as "already in catalog" and never
            # become recognizable)
            catalog.store.delete_asset(asset.asset_id)
            raise


ANALYZERS = [FingerprintAnalyzer()]
