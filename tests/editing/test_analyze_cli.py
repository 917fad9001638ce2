"""``tonearm analyze FILE...``: one JSON result per line, the same object as the API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from tonearm.core.audio.encode import encode
from tonearm.demo.synth.basic import click_track


def test_cli_analyze_json_batch(tmp_path: Path) -> None:
    from tonearm.cli import _register
    from tonearm.cli.common import app

    _register()
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(encode(click_track(np.arange(0.5, 10, 0.5), 10.5, 22050), "wav"))
    b.write_bytes(encode(click_track(np.arange(0.5, 10, 0.6), 10.5, 22050), "wav"))
    r = CliRunner().invoke(app, ["analyze", str(a), str(b), "--json", "--raw-features"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["file"] for x in lines] == [str(a), str(b)]
    assert [x["tempo"] for x in lines] == [120, 100]
    for x in lines:
        n = len(x["boundaries"])
        assert len(x["features"]) == n and len(x["similarity"]["data"]) == n * (n + 1) // 2


def test_cli_analyze_bad_file(tmp_path: Path) -> None:
    from tonearm.cli import _register
    from tonearm.cli.common import app

    _register()
    bad = tmp_path / "notes.txt"
    bad.write_text("not audio")
    r = CliRunner().invoke(app, ["analyze", str(bad)])
    assert r.exit_code == 1
