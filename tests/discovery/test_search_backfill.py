"""The search_text analyzer: stored at ingest, or computed later for older tracks."""

from __future__ import annotations

from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.core.audio.encode import encode_wav
from tonearm.core.audio.signal import Signal
from tonearm.discovery.search import get_index, search
from tonearm.discovery.search_analyzer import ANALYSIS_NAME, SearchTextAnalyzer, backfill


def test_backfill_describes_tracks_ingested_without_it(catalog: Catalog, tone: Signal) -> None:
    out = ingest_bytes(catalog, encode_wav(tone), filename="drone.wav", kind="music", analyzers=[])
    assert out.status == "added" and out.asset_id
    assert catalog.store.get_analysis(out.asset_id, ANALYSIS_NAME) is None
    idx = get_index(catalog, None)
    assert idx.texts[0] == "drone."  # nothing known but the name yet
    seen: list[tuple[str, str]] = []
    assert backfill(catalog, on_progress=lambda a, s: seen.append((a, s))) == 1
    assert seen == [(out.asset_id, "ok")]
    a = catalog.store.get_analysis(out.asset_id, ANALYSIS_NAME)
    assert a is not None and a.data["features"]["centroid_hz"] > 0
    assert backfill(catalog) == 0  # idempotent
    # the index picks the new words up on the next query
    assert "Sounds" in get_index(catalog, None).texts[0]


def test_backfill_reports_unreadable_files(catalog: Catalog, tone: Signal) -> None:
    out = ingest_bytes(catalog, encode_wav(tone), filename="gone.wav", kind="music", analyzers=[])
    assert out.asset_id
    asset = catalog.store.get_asset(out.asset_id)
    assert asset is not None
    (catalog.data_dir / asset.file_path).write_bytes(b"not audio")
    seen: list[tuple[str, str]] = []
    assert backfill(catalog, on_progress=lambda a, s: seen.append((a, s))) == 0
    assert seen and seen[0][1].startswith("failed")


def test_analyzer_is_for_music_only() -> None:
    a = SearchTextAnalyzer()
    assert a.name == ANALYSIS_NAME and a.kinds == frozenset({"music"}) and a.default


def test_empty_catalog_answers_empty(catalog: Catalog) -> None:
    res = search(catalog, "anything at all")
    assert res.total == 0 and res.tracks == [] and res.artists == [] and res.albums == []
