"""The aisfx sound-effects CNN (Ma & Lerch, ISMIR 2022), pretrained on UCS-labelled libraries.

The wheel carries its checkpoint; we load only the embedding trunk (the per-dataset
classifier heads are not needed) on CPU. Input: log-mel windows of 100 frames (~2.32 s at
44.1 kHz, hop 1024); output: one 512-d vector per window, pooled here into one vector per clip.

Short clips: a clip shorter than one window is zero-padded with silence to a full window, which
is what the model's own pre-processing did in training (its ``blocking`` pads with zeros); the
trunk max-pools over time, so where the padding sits does not matter. Clips are not looped:
looping would turn one gunshot into a burst and make it closer to machine-gun fire than to
other single shots.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings.base import l2_normalize

AISFX_SR = 44100
N_FFT = 2048
HOP = 1024
N_MELS = 96
WINDOW_FRAMES = 100  # ~2.32 s
SPEC_MAX = 9.457798957824707  # the paper's min-max normalization constant ("original")


class ModelUnavailable(RuntimeError):
    """The model cannot be loaded here (torch or aisfx missing, or a broken checkpoint)."""


def aisfx_available() -> tuple[bool, str]:
    """(available, reason) without importing torch."""
    for mod in ("torch", "aisfx"):
        try:
            found = importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError, AttributeError):  # blocked or half-installed
            found = False
        if not found:
            return False, f"python package {mod!r} is not installed"
    return True, "ok"


def log_mel(y: np.ndarray) -> np.ndarray:
    """The model's input features for a mono 44.1 kHz signal.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)

    Returns
    -------
    np.ndarray, shape (n_frames, 96), float32, roughly in [0, 1].
    """
    import librosa

    peak = float(np.max(np.abs(y))) if y.size else 0.0
    y = y / peak if peak > 0 else y  # the package's librosa front end peak-normalizes too
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    mel = librosa.feature.melspectrogram(
        y=y,
        sr=AISFX_SR,
        n_fft=N_FFT,
        hop_length=HOP,
        win_length=N_FFT,
        n_mels=N_MELS,
        fmin=0.0,
        fmax=AISFX_SR / 2,
        htk=True,
        norm=1.0,
        power=2.0,
    )
    spec = np.log10(mel * 10000.0 + 1.0) / SPEC_MAX
    return np.ascontiguousarray(spec.T, dtype=np.float32)


def windows(spec: np.ndarray, hop_frames: int, max_windows: int) -> np.ndarray:
    """Cut features into model windows.

    Parameters
    ----------
    spec : np.ndarray, shape (n_frames, n_mels)
    hop_frames : int
        Hop between windows, in frames.
    max_windows : int
        Upper bound; beyond it, windows are taken evenly over the clip (bounded cost for
        long files).

    Returns
    -------
    np.ndarray, shape (n_windows, WINDOW_FRAMES, n_mels), float32; a short clip gives one
    zero-padded window, the tail of a long one a final window aligned to its end.
    """
    n = spec.shape[0]
    if n <= WINDOW_FRAMES:
        out = np.zeros((1, WINDOW_FRAMES, spec.shape[1]), dtype=np.float32)
        out[0, :n] = spec
        return out
    starts = list(range(0, n - WINDOW_FRAMES + 1, hop_frames))
    if starts[-1] != n - WINDOW_FRAMES:
        starts.append(n - WINDOW_FRAMES)  # cover the tail instead of dropping it
    if len(starts) > max_windows:
        idx = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
        starts = [starts[i] for i in idx]
    return np.stack([spec[s : s + WINDOW_FRAMES] for s in starts]).astype(np.float32)


@dataclass
class _Trunk:
    net: Any  # torch.nn.Module
    torch: Any


_LOCK = threading.Lock()
_TRUNK: _Trunk | None = None


def _checkpoint_path() -> Path:
    spec = importlib.util.find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable("python package 'aisfx' is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models" / "checkpoint.pth"


def load_trunk() -> _Trunk:
    """Load the embedding trunk once per process (thread-safe). Raises ModelUnavailable."""
    global _TRUNK
    with _LOCK:
        if _TRUNK is not None:
            return _TRUNK
        ok, why = aisfx_available()
        if not ok:
            raise ModelUnavailable(why)
        try:
            import torch
            from aisfx.models.cnn2d import EmbeddingNet

            # local file shipped inside the installed wheel: trusted, and it pickles numpy
            # scalars, which weights_only=True refuses
            weights, _datasets = torch.load(
                _checkpoint_path(), map_location="cpu", weights_only=False
            )
            net = EmbeddingNet("max", 3, 1, 64)
            prefix = "embedding_net."
            net.load_state_dict(
                {k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)}
            )
            net.eval()
        except ModelUnavailable:
            raise
        except Exception as e:  # missing small deps, broken checkpoint, ...
            raise ModelUnavailable(f"cannot load aisfx: {type(e).__name__}: {e}") from e
        _TRUNK = _Trunk(net=net, torch=torch)
        return _TRUNK


def audible(signal: Signal, margin_s: float = 0.02) -> Signal:
    """The clip cut to its audible region (:func:`~tonearm.core.audio.bounds.sound_bounds`)
    plus ``margin_s`` each side; the clip itself when it is silent or all sound.

    Leading and trailing silence or room tone would otherwise fill whole model windows
    and pull the pooled vector of a short sound toward "silence".
    """
    from tonearm.core.audio.bounds import sound_bounds

    b = sound_bounds(signal.samples, signal.sr)
    if b.start_s is None or b.end_s is None:
        return signal
    a = max(0, int((b.start_s - margin_s) * signal.sr))
    e = min(signal.n_samples, int(np.ceil((b.end_s + margin_s) * signal.sr)))
    if a == 0 and e == signal.n_samples or e - a < 64:
        return signal
    return Signal(signal.samples[:, a:e], signal.sr)


def window_embeddings(
    signal: Signal, *, hop_frames: int = 50, max_windows: int = 32, batch: int = 16
) -> np.ndarray:
    """Per-window aisfx vectors, shape (n_windows, 512), float32 (not normalized)."""
    trunk = load_trunk()
    y = signal.mono()
    if signal.sr != AISFX_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, signal.sr, AISFX_SR)
    w = windows(log_mel(y), hop_frames, max_windows)
    torch = trunk.torch
    outs = []
    # one intra-op thread: this small CNN runs ~10x faster than with 2 threads on a busy
    # machine (OpenMP workers spin against other processes), and a server gets its
    # parallelism from concurrent requests instead
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for i in range(0, len(w), batch):
                outs.append(trunk.net(torch.from_numpy(w[i : i + batch])).numpy())
    finally:
        torch.set_num_threads(threads)
    return np.concatenate(outs).astype(np.float32)


class AisfxEmbedder:
    """aisfx windows (hop 1.16 s, at most 32) pooled into one L2-normalized 512-d vector.

    ``pool="mean"`` (``aisfx-ismir2022/v1``) averages the windows; ``pool="max"``
    (``aisfx-ismir2022/v2-max``, the SFX default) keeps each feature's strongest window.
    Measured by ``bench/real_discovery.py --parts sfx`` (397 real SFX, 18 categories):
    same-category precision@10 .370 (mean) vs .383 (max); trimming the clip to its audible
    region before pooling made both worse (.351 / .350), so clips are not trimmed.
    """

    dim = 512

    def __init__(self, hop_frames: int = 50, max_windows: int = 32, pool: str = "mean") -> None:
        if pool not in ("mean", "max"):
            raise ValueError(f"pool must be mean or max, got {pool!r}")
        self.hop_frames = hop_frames
        self.max_windows = max_windows
        self.pool = pool
        self.model_id = "aisfx-ismir2022/v1" if pool == "mean" else "aisfx-ismir2022/v2-max"

    def load(self) -> None:
        load_trunk()

    def embed(self, signal: Signal) -> np.ndarray:
        if not np.any(signal.samples):
            return np.zeros(self.dim, dtype=np.float32)
        w = window_embeddings(signal, hop_frames=self.hop_frames, max_windows=self.max_windows)
        return l2_normalize(w.max(axis=0) if self.pool == "max" else w.mean(axis=0))
