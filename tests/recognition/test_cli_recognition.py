"""``tonearm recognize`` (batch, JSON lines) and ``tonearm scan``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from audd_testkit import SR, build_catalog, excerpt
from typer.testing import CliRunner

from tonearm.catalog.context import Catalog
from tonearm.cli import _register
from tonearm.cli.common import app
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.settings import Settings


def test_recognize_batch_and_scan(catalog: Catalog, settings: Settings, tmp_path: Path) -> None:
    songs = build_catalog(catalog, [(51, 20.0, {"artist": "Cli"}), (52, 20.0, {})])
    a, b = list(songs.songs)
    files = {
        "a.mp3": excerpt(songs.songs[a], 8.0, 6.0, "mp3_128"),
        "b.wav": excerpt(songs.songs[b], 2.0, 5.0),
        "noise.wav": encode(
            Signal((0.2 * np.random.default_rng(3).standard_normal(5 * SR)).astype(np.float32), SR),
            "wav",
        ),
        "broken.mp3": b"ID3 but not really audio" * 10,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    _register()
    runner = CliRunner()
    args = [
        "recognize",
        *(str(tmp_path / n) for n in files),
        "--json",
        "--data",
        str(settings.data),
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 1  # one file could not be decoded
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert [Path(x["file"]).name for x in rows] == list(files)
    ra, rb, rn, rx = rows
    assert ra["asset_id"] == a and ra["title"] == "Song 51" and ra["artist"] == "Cli"
    assert ra["source"] == "/music/song51.wav"
    assert abs(ra["offset_sec"] - 8.0) <= 0.5 and 0 < ra["score"] <= 1
    assert rb["asset_id"] == b and abs(rb["offset_sec"] - 2.0) <= 0.5
    assert rn["asset_id"] is None and rn["title"] is None
    assert rx["asset_id"] is None and "error" in rx
    assert set(ra) >= {"file", "asset_id", "title", "artist", "source", "offset_sec", "score"}

    human = runner.invoke(app, ["recognize", str(tmp_path / "a.mp3"), "--data", str(settings.data)])
    assert human.exit_code == 0 and "Song 51" in human.stdout

    mix = np.concatenate([songs.songs[a][: 14 * SR], songs.songs[b][4 * SR :]])
    (tmp_path / "mix.mp3").write_bytes(encode(Signal(mix, SR), "mp3_128"))
    s = runner.invoke(
        app, ["scan", str(tmp_path / "mix.mp3"), "--json", "--data", str(settings.data)]
    )
    assert s.exit_code == 0, s.output
    doc = json.loads(s.stdout.strip().splitlines()[-1])
    assert [t["asset_id"] for t in doc["tracks"]] == [a, b]
    assert (
        abs(doc["tracks"][0]["start_sec"]) <= 1.5 and abs(doc["tracks"][1]["start_sec"] - 14) <= 1.5
    )
    assert abs(doc["tracks"][1]["song_start_sec"] - 4) <= 1.5
    assert doc["duration_sec"] == pytest.approx(len(mix) / SR, abs=0.1)

    # one code path: the CLI reports exactly what AudD's /enterprise/ scanner reports
    from tonearm.catalog.context import Catalog
    from tonearm.recognition.enterprise import scan_path
    from tonearm.recognition.longfile import ScanOptions

    cat = Catalog.open(settings)
    try:
        body = scan_path(cat, tmp_path / "mix.mp3", ScanOptions(), base_url="")
    finally:
        cat.close()
    api = [(t["asset_id"], t["start_seconds"], t["end_seconds"]) for t in body["tracks"]]
    cli = [(t["asset_id"], t["start_sec"], t["end_sec"]) for t in doc["tracks"]]
    assert cli == api
