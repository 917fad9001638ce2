"""`tonearm reindex` also describes (tags) music tracks stored before the search tagger."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.cli import _register
from tonearm.cli.common import app
from tonearm.core.audio.encode import encode_wav
from tonearm.core.audio.signal import Signal
from tonearm.discovery import search_analyzer
from tonearm.storage.base import Analysis


def test_reindex_tags_tracks_stored_before_the_tagger(
    catalog: Catalog, tone: Signal, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = ingest_bytes(catalog, encode_wav(tone), filename="old.wav", kind="music", analyzers=[])
    assert out.asset_id
    catalog.store.put_analysis(
        Analysis(out.asset_id, search_analyzer.ANALYSIS_NAME, 1, {"features": {"rms_dbfs": -9}})
    )
    monkeypatch.setattr(search_analyzer, "audio_tags", lambda inp: {"MTT_musicnn": {"harp": 0.8}})
    monkeypatch.setattr("tonearm.core.embeddings.musicnn.musicnn_available", lambda: (True, "ok"))
    _register()
    r = CliRunner().invoke(app, ["reindex", "--data", str(catalog.data_dir)])
    assert r.exit_code == 0, r.output
    assert "search words: 1 tracks described" in r.output
    a = catalog.store.get_analysis(out.asset_id, search_analyzer.ANALYSIS_NAME)
    assert a is not None and a.data["tags"] == {"MTT_musicnn": {"harp": 0.8}}
