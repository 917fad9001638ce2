"""``tonearm resize``: analyze, resize and export in one command."""

from __future__ import annotations

from pathlib import Path

import pytest
from demo_song import render_structured_song
from typer.testing import CliRunner

from tonearm.cli import _register
from tonearm.cli.common import app
from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode


@pytest.fixture(scope="module")
def song_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    song = render_structured_song(form="IABABO", bars_per_section=4, sr=22050)
    p = tmp_path_factory.mktemp("cli") / "song.wav"
    p.write_bytes(encode(song.signal, "wav"))
    return p


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    _register()
    return CliRunner()


def test_resize_shorter(runner: CliRunner, song_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "short.wav"
    r = runner.invoke(
        app, ["resize", str(song_file), "--target", "25", "-o", str(out), "--data", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert "edit #1 of" in r.output and "cut at" in r.output
    sig = decode(out, isolate=False)
    assert abs(sig.duration_s - 25) <= 1.0  # within two beats at 120 bpm


def test_resize_loop_exact(runner: CliRunner, song_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "loop.wav"
    r = runner.invoke(
        app, ["resize", str(song_file), "--target", "8.1", "--loop", "--exact", "-o", str(out)]
    )
    assert r.exit_code == 0, r.output
    assert "loop points:" in r.output
    sig = decode(out, isolate=False)
    assert sig.n_samples == round(8.1 * sig.sr)


def test_resize_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"not audio at all")
    r = runner.invoke(app, ["resize", str(bad), "--target", "10"])
    assert r.exit_code == 1
    r = runner.invoke(app, ["resize", str(bad), "--target", "10", "-o", str(tmp_path / "o.xyz")])
    assert r.exit_code == 2
