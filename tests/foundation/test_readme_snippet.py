"""The README's Python snippet works as a plain script (no ``__main__`` guard) and from
stdin (as a notebook runs code: no ``__file__``): ``~`` is expanded, the decoder's child
processes start, and the calls return."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tonearm.catalog.ingest import iter_audio_files
from tonearm.core.audio.encode import encode_mp3, encode_wav
from tonearm.core.audio.signal import Signal

ROOT = Path(__file__).resolve().parents[2]


def _snippet() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```python\n(.*?catalog = Catalog\.open.*?)```", text, re.S)
    assert m, "the README's Python snippet is gone"
    return m.group(1)


def _song(seconds: float, seed: int) -> Signal:
    sr = 22050
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    notes = rng.choice([220.0, 262.0, 294.0, 330.0, 392.0], size=int(seconds * 2) + 1)
    f = notes[(t * 2).astype(int)]
    beat = np.exp(-30 * (t % 0.5))  # a click every 0.5 s: 120 BPM
    x = 0.3 * np.sin(2 * np.pi * f * t) * (0.5 + 0.5 * beat) + 0.05 * rng.standard_normal(t.size)
    return Signal(x[None, :].astype(np.float32), sr)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    music = tmp_path / "music"
    music.mkdir()
    song = _song(30.0, 1)
    (music / "song.wav").write_bytes(encode_wav(song))
    excerpt = Signal(song.samples[:, 5 * song.sr : 15 * song.sr], song.sr)
    (tmp_path / "clip.mp3").write_bytes(encode_mp3(excerpt))
    return tmp_path


@pytest.mark.parametrize("how", ["script", "stdin"])
def test_readme_snippet_runs(home: Path, how: str) -> None:
    code = _snippet() + "\nprint('SNIPPET-DONE', catalog.store.count_assets('music'))\n"
    env = {
        **os.environ,
        "HOME": str(home),
        "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    if how == "script":
        (home / "snippet.py").write_text(code, encoding="utf-8")
        args, stdin = [sys.executable, "snippet.py"], None
    else:
        args, stdin = [sys.executable, "-"], code
    r = subprocess.run(
        args, input=stdin, cwd=home, env=env, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "SNIPPET-DONE 1" in r.stdout, r.stdout + r.stderr[-2000:]  # ~/music was ingested


def test_tilde_is_expanded_and_a_missing_path_says_so(home: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(home))
    files = list(iter_audio_files(["~/music"]))
    assert [f.name for f, _ in files] == ["song.wav"]
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        list(iter_audio_files(["~/nothing-here"]))
