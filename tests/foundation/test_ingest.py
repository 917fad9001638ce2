"""Ingest: idempotent by content hash, atomic per asset, bad files skipped, summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tonearm.catalog.analyzers import AnalysisResult
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes, ingest_paths
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.core.features.analysis_input import AnalysisInput


def _clip(freq: float, seconds: float = 1.0, sr: int = 22050) -> Signal:
    t = np.arange(int(seconds * sr)) / sr
    return Signal(0.3 * np.sin(2 * np.pi * freq * t), sr)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    (d / "a.wav").write_bytes(encode(_clip(300), "wav"))
    (d / "sub" / "b.flac").write_bytes(encode(_clip(500), "flac"))
    (d / "c.ogg").write_bytes(encode(_clip(700), "ogg"))
    (d / "broken.mp3").write_bytes(b"ID3" + b"\x00" * 20 + b"garbage" * 10)
    (d / "empty.wav").write_bytes(b"")
    (d / "notes.txt").write_text("not audio, not even looked at")
    return d


def test_ingest_folder_summary_and_idempotency(catalog: Catalog, folder: Path) -> None:
    s1 = ingest_paths(catalog, [folder], kind="sfx", analyses=[])
    assert len(s1.added) == 3
    assert {Path(f.path).name for f in s1.failed} == {"broken.mp3", "empty.wav"}
    assert all(f.reason for f in s1.failed)
    assert s1.seconds_of_audio == pytest.approx(3.0, abs=0.05)
    s2 = ingest_paths(catalog, [folder], kind="sfx", analyses=[])
    assert len(s2.added) == 0 and len(s2.skipped) == 3
    assert catalog.store.count_assets("sfx") == 3
    # the original bytes are kept under files/
    for a in catalog.store.list_assets():
        assert (catalog.data_dir / a.file_path).is_file()
        assert a.kind == "sfx" and a.duration == pytest.approx(1.0, abs=0.02)


def test_same_content_under_another_name_is_skipped(catalog: Catalog, folder: Path) -> None:
    ingest_paths(catalog, [folder / "a.wav"], kind="music", analyses=[])
    data = (folder / "a.wav").read_bytes()
    o = ingest_bytes(catalog, data, filename="copy.wav", kind="music", analyzers=[])
    assert o.status == "skipped" and o.asset_id == catalog.store.list_assets()[0].asset_id


def test_csv_sidecar_overrides_tags(catalog: Catalog, tmp_path: Path) -> None:
    from mutagen.id3 import ID3, TIT2, TPE1

    d = tmp_path / "m"
    d.mkdir()
    mp3 = d / "song.mp3"
    mp3.write_bytes(encode(_clip(440, 2.0, 44100), "mp3_128"))
    tags = ID3()
    tags.add(TIT2(encoding=3, text="Tagged Title"))
    tags.add(TPE1(encoding=3, text="Tagged Artist"))
    tags.save(mp3)
    csv = tmp_path / "meta.csv"
    csv.write_text("file,artist,genre,bpm\nsong.mp3,Sidecar Artist,Lo-Fi,92\n")
    s = ingest_paths(catalog, [d], kind="music", metadata_csv=csv, analyses=[])
    assert len(s.added) == 1
    a = catalog.store.get_asset(s.added[0].asset_id or "")
    assert a is not None
    assert a.name == "Tagged Title"  # from the tags
    assert a.artist == "Sidecar Artist"  # the sidecar wins
    assert a.genre == "Lo-Fi" and a.bpm == 92.0


def test_failed_analyzer_leaves_nothing_behind(catalog: Catalog) -> None:
    class Exploding:
        name, version, kinds, default = "exploding", 1, frozenset({"music"}), False

        def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
            raise RuntimeError("model crashed")

        def after_commit(self, *a: object) -> None:
            raise AssertionError("must not run")

    data = encode(_clip(440), "wav")
    o = ingest_bytes(catalog, data, filename="x.wav", kind="music", analyzers=[Exploding()])
    assert o.status == "failed" and "model crashed" in (o.reason or "")
    assert catalog.store.count_assets() == 0
    assert not any(p.is_file() for p in catalog.files_dir.rglob("*"))


def test_analyzer_results_are_stored_and_user_metadata_wins(catalog: Catalog) -> None:
    seen: list[str] = []

    class Measure:
        name, version, kinds, default = "measure", 2, frozenset({"music"}), False

        def analyze(self, inp: AnalysisInput, kind: str) -> AnalysisResult:
            return AnalysisResult(
                fields={"bpm": 99.0, "genre": "measured"},
                data={"n": inp.signal.n_samples},
                blob=b"abc",
            )

        def after_commit(self, catalog: Catalog, asset, result) -> None:  # type: ignore[no-untyped-def]
            seen.append(asset.asset_id)

    data = encode(_clip(440), "wav")
    o = ingest_bytes(
        catalog,
        data,
        filename="x.wav",
        kind="music",
        metadata={"genre": "Jazz"},
        analyzers=[Measure()],
    )
    assert o.status == "added" and seen == [o.asset_id]
    a = catalog.store.get_asset(o.asset_id or "")
    assert a is not None and a.bpm == 99.0 and a.genre == "Jazz"
    an = catalog.store.get_analysis(a.asset_id, "measure")
    assert an is not None and an.version == 2 and an.data == {"n": 22050} and an.blob == b"abc"


def test_limits_apply_at_ingest(catalog: Catalog) -> None:
    catalog.settings.max_duration_s = 0.5
    o = ingest_bytes(catalog, encode(_clip(440), "wav"), filename="x.wav", kind="sfx", analyzers=[])
    assert o.status == "failed" and "too_long" in (o.reason or "")


def test_unknown_analysis_name_is_an_error(catalog: Catalog, folder: Path) -> None:
    with pytest.raises(ValueError, match="unknown analyses"):
        ingest_paths(catalog, [folder], kind="sfx", analyses=["no-such-analysis"])


def test_cli_ingest_prints_summary(tmp_path: Path, folder: Path) -> None:
    from tonearm.cli import _register
    from tonearm.cli.common import app

    _register()
    runner = CliRunner()
    data = tmp_path / "cli-data"
    args = ["ingest", str(folder), "--kind", "sfx", "--analyses", "", "--data", str(data)]
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout[r.stdout.index("{") :])
    assert summary["added"] == 3 and len(summary["failed"]) == 2
    r = runner.invoke(app, args)
    assert r.exit_code == 0
    assert "added 0, skipped 3" in r.stdout
    r = runner.invoke(app, ["ingest", str(folder), "--kind", "video", "--data", str(data)])
    assert r.exit_code != 0


def test_music_ingest_resamples_once_and_tracks_beats_once(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every default analyzer reads one AnalysisInput: one 22,050 Hz signal, one beat
    tracking, whose tempo is the catalog bpm, the analyze result's tempo and the search
    words' tempo."""
    import soxr

    import tonearm.core.features.beats as beats_mod
    from tonearm.catalog.analyzers import select_analyzers

    to_22050: list[int] = []
    real_resample, real_stream = soxr.resample, soxr.ResampleStream

    def resample(x, in_rate, out_rate, *a, **kw):  # type: ignore[no-untyped-def]
        if int(out_rate) == 22050:
            to_22050.append(int(in_rate))
        return real_resample(x, in_rate, out_rate, *a, **kw)

    def stream(in_rate, out_rate, *a, **kw):  # type: ignore[no-untyped-def]
        if int(out_rate) == 22050:
            to_22050.append(int(in_rate))
        return real_stream(in_rate, out_rate, *a, **kw)

    tracked: list[int] = []
    real_track = beats_mod.track_beats_spectrogram

    def track(spec, **kw):  # type: ignore[no-untyped-def]
        tracked.append(1)
        return real_track(spec, **kw)

    monkeypatch.setattr(soxr, "resample", resample)
    monkeypatch.setattr(soxr, "ResampleStream", stream)
    monkeypatch.setattr(beats_mod, "track_beats_spectrogram", track)

    sr = 44100  # not the analysis rate: something must resample
    t = np.arange(12 * sr) / sr
    clicks = (np.sin(2 * np.pi * 1000 * t) * (np.mod(t, 0.5) < 0.02)).astype(np.float32)
    tone = 0.2 * np.sin(2 * np.pi * 220 * t)
    sig = Signal(np.stack([clicks + tone, clicks - tone]), sr)
    chosen = [a for a in select_analyzers(None) if "music" in a.kinds]
    assert {"beats", "search_text"} <= {a.name for a in chosen}
    o = ingest_bytes(catalog, encode(sig, "wav"), filename="m.wav", kind="music")
    assert o.status == "added", o.reason
    assert to_22050 == [sr]
    assert tracked == [1]
    a = catalog.store.get_asset(o.asset_id or "")
    beats = catalog.store.get_analysis(o.asset_id or "", "beats")
    words = catalog.store.get_analysis(o.asset_id or "", "search_text")
    assert a is not None and beats is not None and words is not None
    tempo = words.data["features"]["tempo_bpm"]
    assert a.bpm == pytest.approx(120.0, abs=1.0)
    assert a.bpm == round(tempo, 1) and beats.data["tempo"] == int(round(tempo))
