"""Catalog-only ingest (fingerprints and analyses, no copy of the original) and originals
kept in the blob store rather than on the ingesting node's disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.assets import delete_asset
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import asset_path, ingest_bytes
from tonearm.cli import _register
from tonearm.cli.common import app
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.recognition import service
from tonearm.settings import Settings
from tonearm.storage.blobs import BLOBS_CACHE_KEY, S3BlobStore

_register()


def _song(seed: int, seconds: float = 12.0, sr: int = 22050) -> Signal:
    """Random notes with harmonics: enough landmarks to fingerprint and recognize."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * sr), np.float32)
    t = np.arange(int(0.25 * sr)) / sr
    for k in range(int(seconds * 4)):
        f = 220.0 * 2 ** (rng.integers(0, 24) / 12)
        note = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3)) * np.exp(-6 * t)
        a = k * len(t)
        y[a : a + len(t)] += 0.3 * note.astype(np.float32)
    return Signal(y, sr)


def _files(root: Path) -> list[Path]:
    return [p for p in (root / "files").rglob("*") if p.is_file()] if root.exists() else []


def _ingest(catalog: Catalog, sig: Signal, name: str = "a.wav") -> str:
    out = ingest_bytes(
        catalog,
        encode(sig, "wav"),
        filename=name,
        kind="music",
        analyzers=select_analyzers(["fingerprint"]),
    )
    assert out.status == "added", out.reason
    return out.asset_id or ""


def test_catalog_only_keeps_fingerprints_not_the_audio(tmp_path: Path) -> None:
    s = Settings(data=tmp_path / "data", keep_originals=False)
    s.ensure_dirs()
    cat = Catalog.open(s)
    try:
        sig = _song(1)
        aid = _ingest(cat, sig)
        asset = cat.store.get_asset(aid)
        assert asset is not None and asset.file_path == ""
        assert _files(s.data) == []  # nothing of the original on disk
        assert cat.store.get_analysis(aid, "fingerprint") is not None
        assert not asset_path(cat, asset).exists()
        assert service.recognize(cat, sig.slice_s(3.0, 9.0))[0].asset_id == aid
        assert delete_asset(cat, asset)
        assert service.recognize(cat, sig.slice_s(3.0, 9.0)) == []
    finally:
        cat.close()


def test_cli_no_keep_original(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "one.wav").write_bytes(encode(_song(2), "wav"))
    data = tmp_path / "data"
    r = CliRunner().invoke(
        app,
        ["ingest", str(src), "--data", str(data), "--analyses", "fingerprint",
         "--no-keep-original", "--json"],
        catch_exceptions=False,
        env={"COLUMNS": "200"},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert json.loads(r.output[r.output.index("{") :])["added"] == 1
    assert _files(data) == []
    cat = Catalog.open(Settings(data=data))
    try:
        (asset,) = list(cat.store.iter_assets())
        assert asset.file_path == "" and cat.store.get_analysis(asset.asset_id, "fingerprint")
    finally:
        cat.close()


@pytest.mark.parametrize("store", ["directory", "s3"])
def test_originals_go_through_the_blob_store(tmp_path: Path, store: str) -> None:
    blob_dir = tmp_path / "blobs"
    kw: dict[str, Any] = {"blob_url": str(blob_dir)} if store == "directory" else {}
    s = Settings(data=tmp_path / "data", **kw)
    s.ensure_dirs()
    cat = Catalog.open(s)
    objects: dict[tuple[str, str], bytes] = {}
    if store == "s3":
        from test_blob_routing import FakeS3

        fake = FakeS3()
        objects = fake.objects
        cat.cache[BLOBS_CACHE_KEY] = S3BlobStore("media", "tonearm", client=fake)
    try:
        sig = _song(3)
        wav = encode(sig, "wav")
        aid = _ingest(cat, sig)
        asset = cat.store.get_asset(aid)
        assert asset is not None and asset.file_path.startswith("files/")
        assert _files(s.data) == []  # not on the ingesting node's disk
        if store == "directory":
            assert (blob_dir / asset.file_path).read_bytes() == wav
        else:
            assert objects[("media", f"tonearm/{asset.file_path}")] == wav
        p = asset_path(cat, asset)  # a local file for decoders (downloaded once from S3)
        assert p.read_bytes() == wav
        delete_asset(cat, asset)
        assert not p.exists()
        if store == "directory":
            assert not (blob_dir / asset.file_path).exists()
        else:
            assert objects == {}
    finally:
        cat.close()


def test_default_layout_unchanged(tmp_path: Path) -> None:
    """Without a blob URL the original lands where it always did: DATA/files/ab/<sha>.wav."""
    s = Settings(data=tmp_path / "data")
    s.ensure_dirs()
    cat = Catalog.open(s)
    try:
        aid = _ingest(cat, _song(4))
        asset = cat.store.get_asset(aid)
        assert asset is not None
        f = s.data / asset.file_path
        assert f.is_file() and f.parent.parent == s.data / "files"
        assert asset_path(cat, asset) == f
    finally:
        cat.close()
