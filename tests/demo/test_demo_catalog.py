"""The demo catalog and ``tonearm demo``: contents, idempotency, the kept key, serving."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import verify_key
from tonearm.cli.common import app
from tonearm.core.audio.decode import decode
from tonearm.demo.catalog import (
    build_demo_catalog,
    music_items,
    sfx_items,
    staging_dir,
)
from tonearm.settings import Settings


def _cli() -> CliRunner:
    from tonearm.cli import _register

    if not any(c.name == "demo" or getattr(c.callback, "__name__", "") == "demo"
               for c in app.registered_commands):  # fmt: skip
        _register()
    return CliRunner()


def test_demo_plan_is_varied_enough_for_search_and_similarity() -> None:
    music, sfx = music_items(), sfx_items()
    assert len(music) >= 40 and len(sfx) >= 60
    assert len({m.file for m in music}) == len(music)
    assert len({s.file for s in sfx}) == len(sfx)
    artists = Counter(m.meta["artist"] for m in music)
    assert len(artists) >= 8 and min(artists.values()) >= 3
    assert len({m.meta["genre"] for m in music}) >= 6
    bpms = [m.meta["bpm"] for m in music]
    assert min(bpms) <= 64 and max(bpms) >= 176
    assert {m.truth["spec"]["mode"] for m in music} == {"major", "minor"}
    assert {m.truth["spec"]["meter"] for m in music} == {3, 4}
    assert all(m.meta["description"] and m.meta["tags"] and m.meta["album"] for m in music)
    cats = Counter(s.meta["category"] for s in sfx)
    assert len(cats) >= 10
    assert {"IMPACTS", "WHOOSHES", "FOOTSTEPS", "USER INTERFACE", "EXPLOSIONS", "AMBIENCE"} <= set(
        cats
    )
    assert all(s.meta["creator_name"] and s.meta["creator_id"] for s in sfx)
    dups = [s for s in sfx if "duplicate_of" in s.truth]
    files = {s.file for s in sfx}
    assert len(dups) >= 4 and all(d.truth["duplicate_of"] in files for d in dups)
    assert {d.truth["edit"] for d in dups} == {"mp3", "trim", "gain"}
    # deterministic plan
    assert [m.meta for m in music_items()] == [m.meta for m in music]


def test_near_duplicates_stay_near() -> None:
    by_file = {s.file: s for s in sfx_items()}
    dups = [s for s in by_file.values() if "duplicate_of" in s.truth]
    assert {d.truth["edit"] for d in dups} == {"gain", "trim", "mp3"}  # each edit is checked
    for d in dups:
        orig = by_file[d.truth["duplicate_of"]].render().mono()
        copy = d.render().mono()
        if d.truth["edit"] == "gain":
            assert np.abs(copy).max() > np.abs(orig).max()
            ratio = copy[np.abs(orig) > 1e-3] / orig[np.abs(orig) > 1e-3]
            assert np.allclose(ratio, ratio[0], rtol=1e-4)
        elif d.truth["edit"] == "trim":
            assert 0 < copy.size < orig.size
            i = int(np.flatnonzero(np.abs(orig) > 1e-4)[0]) + int(0.03 * 44100)
            assert np.array_equal(copy, orig[i : i + copy.size])
        else:
            assert np.array_equal(copy, orig)  # the change is the MP3 encode


def test_small_build_ingests_with_metadata_and_second_build_adds_nothing(
    catalog: Catalog,
) -> None:
    stages: list[tuple[str, int, int]] = []
    first = build_demo_catalog(catalog, lambda *a: stages.append(a), limit=2)
    assert first.failed == []
    assert (first.music_added, first.sfx_added) == (2, 3)  # 2 sfx + the MP3 copy of the first
    assert {s for s, _, _ in stages} == {"render music", "render sfx", "ingest music", "ingest sfx"}
    assert ("ingest sfx", 3, 3) in stages

    music = catalog.store.list_assets("music")
    assert len(music) == 2
    m = music[0]
    assert m.artist == "Velvet Cassette" and m.album and m.genre == "Lo-Fi" and m.bpm == 72
    assert m.description and "lo-fi" in m.description.lower() and m.tags
    assert 25 < m.duration < 60
    sfx = catalog.store.list_assets("sfx")
    assert {a.category for a in sfx} == {"IMPACTS"}
    assert all(a.creator_id and a.creator_name and a.subcategory for a in sfx)

    truth = json.loads((staging_dir(catalog) / "truth.json").read_text())
    song = truth["music"][next(iter(truth["music"]))]
    beats = np.array(song["beat_times_s"])
    assert beats.size == song["meter"] * song["spec"]["bars"]
    assert song["downbeat_times_s"] == song["beat_times_s"][:: song["meter"]]

    again = build_demo_catalog(catalog, limit=2)
    assert again.added == 0 and again.rendered == 0
    assert (again.music_skipped, again.sfx_skipped) == (2, 3)
    assert catalog.store.count_assets() == 5


def test_staged_files_decode_to_what_was_planned(catalog: Catalog) -> None:
    build_demo_catalog(catalog, limit=1, analyses=[])
    root = staging_dir(catalog)
    song = decode(root / "music" / music_items()[0].file)
    assert song.sr == 22050 and song.channels == 2
    click = decode(root / "sfx" / sfx_items()[0].file)
    assert click.sr == 44100 and click.channels == 1


@pytest.mark.slow
def test_full_build(tmp_path: Path) -> None:
    """The whole demo catalog (no analyzers, to stay quick): counts, then idempotent."""
    s = Settings(data=tmp_path / "data")
    s.ensure_dirs()
    c = Catalog.open(s)
    try:
        first = build_demo_catalog(c, analyses=[])
        assert first.failed == []
        assert c.store.count_assets("music") >= 40
        assert c.store.count_assets("sfx") >= 60
        second = build_demo_catalog(c, analyses=[])
        assert second.added == 0 and second.rendered == 0
        assert c.store.count_assets() == first.added
    finally:
        c.close()


def test_cli_demo_no_serve_prints_key_and_keeps_it(tmp_path: Path) -> None:
    runner = _cli()
    data = tmp_path / "demo"
    args = ["demo", "--no-serve", "--data", str(data), "--limit", "1", "--analyses", ""]
    r1 = runner.invoke(app, args)
    assert r1.exit_code == 0, r1.output
    keyfile = data / "demo_api_key.txt"
    key = keyfile.read_text().strip()
    assert f"demo API key: {key}" in r1.output
    assert "http://127.0.0.1:8000/docs" in r1.output

    r2 = runner.invoke(app, args)
    assert r2.exit_code == 0, r2.output
    assert f"demo API key: {key}" in r2.output  # reused, not a new key
    assert "0 added now" in r2.output

    c = Catalog.open(Settings(data=data))
    try:
        assert verify_key(c.store, key) is not None
        assert len(c.store.list_keys()) == 1
        c.store.revoke_key("demo")
    finally:
        c.close()
    r3 = runner.invoke(app, args)  # a revoked kept key is replaced by a working one
    assert r3.exit_code == 0, r3.output
    new_key = keyfile.read_text().strip()
    assert new_key != key and f"demo API key: {new_key}" in r3.output


def test_cli_demo_rejects_unknown_analyzer(tmp_path: Path) -> None:
    r = _cli().invoke(
        app, ["demo", "--no-serve", "--data", str(tmp_path), "--limit", "1", "--analyses", "nope"]
    )
    assert r.exit_code == 2


def test_demo_catalog_is_served(tmp_path: Path) -> None:
    from tonearm.api.app import create_app

    data = tmp_path / "demo"
    assert _cli().invoke(app, ["demo", "--no-serve", "--data", str(data), "--limit", "1",
                               "--analyses", ""]).exit_code == 0  # fmt: skip
    key = (data / "demo_api_key.txt").read_text().strip()
    c = Catalog.open(Settings(data=data))
    try:
        with TestClient(create_app(catalog=c)) as client:
            assert client.get("/healthz").status_code == 200
            docs = client.get("/docs")
            assert docs.status_code == 200 and "swagger" in docs.text.lower()
            assert client.get("/openapi.json").json()["paths"]
        assert verify_key(c.store, key) is not None
    finally:
        c.close()


def test_cli_demo_serves_with_the_key_in_the_banner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tonearm.cli.core as core

    calls: list[tuple[Settings, str, int, list[str]]] = []
    monkeypatch.setattr(
        core,
        "serve_catalog",
        lambda s, host, port, banner=None: calls.append((s, host, port, banner or [])),
    )
    data = tmp_path / "demo"
    r = _cli().invoke(
        app,
        ["demo", "--data", str(data), "--port", "8765", "--host", "127.0.0.1", "--limit", "1",
         "--analyses", ""],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    (settings, host, port, banner) = calls[0]
    key = (data / "demo_api_key.txt").read_text().strip()
    assert settings.data == data and (host, port) == ("127.0.0.1", 8765)
    assert any(key in line for line in banner)
