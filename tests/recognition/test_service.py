"""Recognition service end to end: ingest analyzer -> index -> recognize / scan."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_engine_audio import add_noise, random_song

from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes, ingest_paths
from tonearm.core.audio.encode import encode, encode_mp3
from tonearm.core.audio.signal import Signal
from tonearm.recognition import service
from tonearm.recognition.analyzer import FingerprintAnalyzer
from tonearm.recognition.enterprise import scan_file
from tonearm.recognition.longfile import ScanOptions


@pytest.fixture(scope="module")
def songs() -> list[Signal]:
    return [random_song(seed, 25.0) for seed in (11, 12, 13)]


def _ingest(catalog: Catalog, songs: list[Signal]) -> list[str]:
    ids = []
    for i, s in enumerate(songs):
        out = ingest_bytes(
            catalog,
            encode(s, "wav"),
            filename=f"song{i}.wav",
            kind="music",
            analyzers=select_analyzers(["fingerprint"]),
        )
        assert out.status == "added", out.reason
        ids.append(out.asset_id or "")
    return ids


def test_fingerprint_analyzer_is_registered_default() -> None:
    a = select_analyzers(["fingerprint"])[0]
    assert isinstance(a, FingerprintAnalyzer)
    assert a.default and "music" in a.kinds


def test_ingest_then_recognize(catalog: Catalog, songs) -> None:
    ids = _ingest(catalog, songs)
    analysis = catalog.store.get_analysis(ids[1], "fingerprint")
    assert analysis is not None and analysis.blob and analysis.data["n_hashes"] > 0

    m = service.recognize(catalog, songs[1].slice_s(9.0, 17.0))
    assert len(m) == 1 and m[0].asset_id == ids[1]
    assert abs(m[0].offset_s - 9.0) <= 0.2
    assert 0.5 <= m[0].score <= 1.0

    # a re-encoded noisy phone-quality recording of another song
    q = add_noise(songs[2].slice_s(4.0, 14.0), snr_db=5.0)
    from tonearm.core.audio.decode import decode

    m = service.recognize(catalog, decode(encode_mp3(q, 64), isolate=False))
    assert m and m[0].asset_id == ids[2]

    assert service.recognize(catalog, random_song(99, 8.0)) == []


def test_index_survives_restart_and_rebuilds(catalog: Catalog, songs, settings) -> None:
    ids = _ingest(catalog, songs[:2])
    q = songs[0].slice_s(5.0, 13.0)

    fresh = Catalog.open(settings)  # a new process: loads the persisted index
    try:
        assert service.recognize(fresh, q)[0].asset_id == ids[0]
    finally:
        fresh.close()

    # index files lost: rebuilt from the stored analyses
    shutil.rmtree(catalog.index_dir / "fingerprint")
    fresh = Catalog.open(settings)
    try:
        assert service.recognize(fresh, q)[0].asset_id == ids[0]
        assert len(service.get_index(fresh)) == 2
    finally:
        fresh.close()


def test_remove_and_store_delete(catalog: Catalog, songs) -> None:
    ids = _ingest(catalog, songs[:2])
    service.remove_asset(catalog, ids[0])
    assert service.recognize(catalog, songs[0].slice_s(5.0, 13.0)) == []
    # deleted from the store behind the index's back: never returned
    catalog.store.delete_asset(ids[1])
    assert service.recognize(catalog, songs[1].slice_s(5.0, 13.0)) == []
    assert ids[1] not in service.get_index(catalog)


def test_other_process_ingest_is_seen(catalog: Catalog, songs, settings) -> None:
    _ingest(catalog, songs[:1])
    assert service.recognize(catalog, songs[1].slice_s(2.0, 10.0)) == []  # index now cached
    other = Catalog.open(settings)
    try:
        new_id = _ingest(other, songs[1:2])[0]
    finally:
        other.close()
    assert service.recognize(catalog, songs[1].slice_s(2.0, 10.0))[0].asset_id == new_id


def test_ingest_folder_with_fingerprint_analysis(catalog: Catalog, songs, tmp_path) -> None:
    d = tmp_path / "music"
    d.mkdir()
    for i, s in enumerate(songs):
        (d / f"track{i}.wav").write_bytes(encode(s, "wav"))
    (d / "broken.mp3").write_bytes(b"not audio at all")
    summary = ingest_paths(catalog, [d], kind="music", analyses=["fingerprint"])
    assert len(summary.added) == 3 and len(summary.failed) == 1
    m = service.recognize(catalog, songs[2].slice_s(10.0, 18.0))
    asset = catalog.store.get_asset(m[0].asset_id)
    assert asset is not None and asset.source_path and asset.source_path.endswith("track2.wav")


def test_scan_long_file(catalog: Catalog, songs) -> None:
    ids = _ingest(catalog, songs)
    sr = songs[0].sr
    filler = random_song(500, 15.0).samples[0]
    parts = [
        songs[0].samples[0][: 20 * sr],  # 0-20 s: song0 0-20
        filler,  # 20-35 s: unknown
        songs[2].samples[0][5 * sr : 25 * sr],  # 35-55 s: song2 5-25
    ]
    long = Signal(np.concatenate(parts), sr)
    seen: list[float] = []
    # one long-file scanner (AudD /enterprise/, `tonearm scan`, the Python API)
    body = scan_file(catalog, long, ScanOptions(), base_url="", progress=seen.append)
    hits = body["tracks"]
    assert [h["asset_id"] for h in hits] == [ids[0], ids[2]]
    assert abs(hits[0]["start_seconds"] - 0.0) <= 1.5
    assert abs(hits[0]["end_seconds"] - 20.0) <= 2.5
    assert abs(hits[1]["start_seconds"] - 35.0) <= 2.5
    assert abs(hits[1]["end_seconds"] - 55.0) <= 2.5
    assert abs(hits[1]["song_start_seconds"] - 5.0) <= 2.5
    assert seen and seen[-1] == pytest.approx(1.0) and seen == sorted(seen)

    windows = service.scan_windows(catalog, long, window_s=8.0, hop_s=4.0)
    assert windows[0].start_s == 0.0 and all(w.end_s - w.start_s <= 8.01 for w in windows)
    assert windows[0].matches[0].asset_id == ids[0]


def test_empty_catalog_and_tiny_inputs(catalog: Catalog) -> None:
    assert service.recognize(catalog, Signal(np.zeros(100, np.float32), 8000)) == []
    body = scan_file(catalog, Signal(np.zeros(8000, np.float32), 8000), ScanOptions(), base_url="")
    assert body["tracks"] == []
    assert service.recognize(catalog, random_song(1, 5.0)) == []


def test_refingerprint_after_engine_upgrade(catalog: Catalog, songs) -> None:
    from tonearm.storage.base import Analysis

    ids = _ingest(catalog, songs[:2])
    old = catalog.store.get_analysis(ids[0], "fingerprint")
    assert old is not None
    # simulate an analysis written by an older engine version
    catalog.store.put_analysis(Analysis(ids[0], "fingerprint", 0, {"version": 0}, b"\x00" * 8))
    service.rebuild_index(catalog)
    catalog.cache.pop(service.CACHE_KEY, None)
    assert service.recognize(catalog, songs[0].slice_s(3.0, 11.0)) == []  # stale: skipped
    assert service.refingerprint(catalog) == 1
    assert service.recognize(catalog, songs[0].slice_s(3.0, 11.0))[0].asset_id == ids[0]
    assert service.recognize(catalog, songs[1].slice_s(3.0, 11.0))[0].asset_id == ids[1]
