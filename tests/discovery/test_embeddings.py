"""Audio embeddings: shape and normalization, near-duplicate copies are nearest, short
clips, and the DSP-only fallback when the model cannot load (torch-less install)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings import aisfx_model, audio_embedder
from tonearm.core.embeddings.aisfx_model import WINDOW_FRAMES, AisfxEmbedder, windows
from tonearm.core.embeddings.base import from_blob, to_blob
from tonearm.core.embeddings.dsp import DspEmbedder
from tonearm.demo.synth.sfx import render_sfx

CLIPS = [("IMPACTS", "METAL"), ("WHOOSHES", "WHOOSH"), ("USER INTERFACE", "BEEP"),
         ("DOORS", "KNOCK"), ("ALARMS", "SIREN"), ("WATER", "SPLASH")]  # fmt: skip


@pytest.fixture(scope="module")
def clips() -> list[Signal]:
    return [render_sfx(c, s, seed=i, sr=44100) for i, (c, s) in enumerate(CLIPS)]


def _variants(sig: Signal) -> list[Signal]:
    """Gain-changed, MP3 re-encoded, resampled and trimmed copies of a clip."""
    y = sig.samples
    return [
        Signal(y * 0.3, sig.sr),
        decode(encode(sig, "mp3_128"), isolate=False),
        sig.resample(22050),
        Signal(y[:, int(0.01 * sig.sr) :], sig.sr),
    ]


def _check_model(model: object, clips: list[Signal]) -> None:
    vecs = np.stack([model.embed(c) for c in clips])  # type: ignore[attr-defined]
    assert vecs.shape == (len(clips), model.dim)  # type: ignore[attr-defined]
    assert vecs.dtype == np.float32
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    for i, c in enumerate(clips[:2]):
        for v in _variants(c):
            q = model.embed(v)  # type: ignore[attr-defined]
            sims = vecs @ q
            assert int(np.argmax(sims)) == i, f"copy of clip {i} nearest to {np.argmax(sims)}"


def test_aisfx_embedding_shape_and_near_copies(clips: list[Signal]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("aisfx")
    _check_model(AisfxEmbedder(), clips)


def test_dsp_embedding_shape_and_near_copies(clips: list[Signal]) -> None:
    _check_model(DspEmbedder(), clips)


def test_short_clip_is_one_padded_window_and_silence_is_zero() -> None:
    spec = np.ones((30, 96), dtype=np.float32)
    w = windows(spec, hop_frames=50, max_windows=32)
    assert w.shape == (1, WINDOW_FRAMES, 96)
    assert np.all(w[0, :30] == 1) and np.all(w[0, 30:] == 0)  # zero (silence) padded
    long = windows(np.ones((1000, 96), dtype=np.float32), hop_frames=50, max_windows=8)
    assert long.shape == (8, WINDOW_FRAMES, 96)
    tiny = Signal(np.sin(np.arange(200) / 3.0).astype(np.float32) * 0.5, 44100)  # 4.5 ms
    v = DspEmbedder().embed(tiny)
    assert np.isfinite(v).all() and np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert not np.any(DspEmbedder().embed(Signal(np.zeros(44100, np.float32), 44100)))


def test_blob_round_trip() -> None:
    v = np.random.default_rng(0).standard_normal(7).astype(np.float32)
    assert np.array_equal(from_blob(to_blob(v)), v)


def test_fallback_to_dsp_when_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A torch-less install: the loader raises; the DSP model stands in and says why."""
    from tonearm.core import embeddings

    def no_model() -> None:
        raise aisfx_model.ModelUnavailable("python package 'torch' is not installed")

    monkeypatch.setattr(aisfx_model, "load_trunk", no_model)
    embeddings._choose.cache_clear()
    try:
        for kind, model_id in (("sfx", "dsp-stats/v1"), ("music", "dsp-music/v1")):
            c = audio_embedder(kind, "auto")
            assert c.fallback and "torch" in c.reason
            assert c.embedder.model_id == model_id
        with pytest.raises(aisfx_model.ModelUnavailable):
            audio_embedder("sfx", "model")
        assert audio_embedder("sfx", "dsp").embedder.model_id == "dsp-stats/v1"
        with pytest.raises(ValueError):
            audio_embedder("sfx", "bogus")
    finally:
        embeddings._choose.cache_clear()


def test_music_embedding_normalized() -> None:
    from tonearm.demo.synth.song import SongSpec, render_song

    sig, _, _ = render_song(SongSpec(style="edm", bpm=124, key="A", mode="minor", bars=4, seed=1))
    v = audio_embedder("music", "dsp").embedder.embed(sig)
    assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
    assert np.isfinite(v).all()


def test_without_torch_in_a_fresh_process(tmp_path: Path) -> None:
    """Import-blocked torch (as on a torch-less install): the analyzer still embeds, with the
    DSP model, and the status says fallback and why."""
    code = textwrap.dedent(
        """
        import importlib.abc, json, sys

        class NoTorch(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "aisfx"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoTorch())
        import numpy as np
        from tonearm.core.audio.signal import Signal
        from tonearm.discovery.analyzer import EmbeddingAnalyzer
        from tonearm.discovery.embeddings import models_status
        sig = Signal(np.sin(np.arange(44100) / 7.0).astype(np.float32) * 0.3, 44100)
        r = EmbeddingAnalyzer().analyze(sig, "sfx")
        print(json.dumps({"data": r.data, "status": models_status()}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "TONEARM_AUDIO_EMBEDDING"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["data"] == {"model": "dsp-stats/v1", "dim": DspEmbedder.dim}
    sfx_status = got["status"]["sfx"]
    assert sfx_status["status"] == "fallback" and "torch" in sfx_status["reason"]
    assert got["status"]["music"]["model"] == "dsp-music/v1"
