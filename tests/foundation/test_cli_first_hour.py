"""The CLI pieces a new user reaches for: --version, keys list --json, assets list/delete/
stats, ingest --json with the new ids, recognize - (stdin), a changelog."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tonearm import __version__
from tonearm.cli import _register
from tonearm.cli.common import app
from tonearm.core.audio.encode import encode_wav
from tonearm.core.audio.signal import Signal

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _run(*args: str, input: bytes | None = None) -> str:
    _register()
    r = runner.invoke(app, list(args), input=input, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.stdout


def _wav(tmp: Path, seed: int) -> Path:
    sr = 22050
    rng = np.random.default_rng(seed)
    t = np.arange(20 * sr) / sr
    f = rng.choice([220.0, 330.0, 440.0, 550.0], size=41)[(t * 2).astype(int)]
    x = 0.3 * np.sin(2 * np.pi * f * t) + 0.05 * rng.standard_normal(t.size)
    p = tmp / f"song{seed}.wav"
    p.write_bytes(encode_wav(Signal(x[None, :].astype(np.float32), sr)))
    return p


def test_version() -> None:
    assert _run("--version").strip() == f"tonearm {__version__}"


def test_changelog_has_an_unreleased_section() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in text
    assert re.search(r"^## \[Unreleased\]\n\n### Added\n", text, re.M)


def test_keys_ingest_assets_recognize(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    _run("keys", "create", "--name", "ci", "--data", data)
    keys = json.loads(_run("keys", "list", "--json", "--data", data))["keys"]
    assert [k["name"] for k in keys] == ["ci"] and "key" not in keys[0]

    song = _wav(tmp_path, 1)
    other = _wav(tmp_path, 2)
    summary = json.loads(
        _run("ingest", str(song), str(other), "--json", "--data", data, "--analyses", "fingerprint")
    )
    ids = summary["asset_ids"]
    assert summary["added"] == 2 and len(ids) == 2 and all(ids)
    assert {a["asset_id"] for a in summary["added_assets"]} == set(ids)

    rows = [json.loads(x) for x in _run("assets", "list", "--json", "--data", data).splitlines()]
    assert sorted(r["asset_id"] for r in rows) == sorted(ids)
    stats = json.loads(_run("assets", "stats", "--json", "--data", data))
    assert stats["assets"]["music"] == 2 and stats["analyses"]["fingerprint"] == 2

    # bulk ingest commits files in the order its workers finish: find each by its path
    by_name = {Path(a["path"]).name: a["asset_id"] for a in summary["added_assets"]}
    song_id, other_id = by_name[song.name], by_name[other.name]
    row = json.loads(_run("recognize", "-", "--json", "--data", data, input=song.read_bytes()))
    assert row["file"] == "-" and row["asset_id"] == song_id

    _run("assets", "delete", other_id, "--data", data)
    stats = json.loads(_run("assets", "stats", "--json", "--data", data))
    assert stats["assets"]["music"] == 1
