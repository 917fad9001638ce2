"""The aisfx sound-effects CNN (Ma & Lerch, ISMIR 2022), pretrained on UCS-labelled libraries.

The wheel carries its checkpoint; we load only the embedding trunk (the per-dataset
classifier heads are not needed) on CPU. Input: log-mel windows of 100 frames (~2.32 s at
44.1 kHz, hop 1024); output: one 512-d vector per window, pooled here into one vector per clip.

Short clips: a clip shorter than one window is zero-padded with silence to a full window, which
is what the model's own pre-processing did in training (its ``blocking`` pads with zeros). The
clip starts the window: where it sits does move its vector (the padded steps and the window's
edges take part in the max over time; a 2-frame shift gives a median cosine of .97, the clip
at the window's end .85-.90), but averaging shifted or placed copies ranked no better on real
SFX (bench/results/discovery/NOTES.md, session 8). Clips are not looped:
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


_LOCK = threading.RLock()
_TRUNK: _Trunk | None = None
_DEVICE_NETS: dict[str, Any] = {}


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
            # channels-last convolutions: 20-25 % less CPU per window; the vectors move by
            # < 1e-6 (summation order), no neighbour changes (bench/results/ingest/NOTES.md)
            net = net.to(memory_format=torch.channels_last)
        except ModelUnavailable:
            raise
        except Exception as e:  # missing small deps, broken checkpoint, ...
            raise ModelUnavailable(f"cannot load aisfx: {type(e).__name__}: {e}") from e
        _TRUNK = _Trunk(net=net, torch=torch)
        return _TRUNK


def model_windows(signal: Signal, *, hop_frames: int = 50, max_windows: int = 32) -> np.ndarray:
    """The model's input windows of a clip (the CPU half of :func:`window_embeddings`).

    Returns
    -------
    np.ndarray, shape (n_windows, WINDOW_FRAMES, N_MELS), float32 (see :func:`windows`).
    """
    y = signal.mono()
    if signal.sr != AISFX_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, signal.sr, AISFX_SR)
    return windows(log_mel(y), hop_frames, max_windows)


def _net_on(device: str) -> Any:
    """The trunk on ``device`` ("cpu", "cuda", "cuda:1", "mps"), moved there once."""
    trunk = load_trunk()
    if device == "cpu":
        return trunk.net
    with _LOCK:
        net = _DEVICE_NETS.get(device)
        if net is None:
            import copy

            net = copy.deepcopy(trunk.net).to(device)
            net.eval()
            _DEVICE_NETS[device] = net
        return net


def run_windows(w: np.ndarray, *, batch: int = 16, device: str = "cpu") -> np.ndarray:
    """Model vectors of input windows, shape (n_windows, 512), float32 (not normalized).

    Parameters
    ----------
    w : np.ndarray, shape (n_windows, WINDOW_FRAMES, N_MELS)
        From :func:`model_windows`; windows of several clips may be stacked (bulk ingest
        batches them across files).
    batch : int
        Windows per forward pass.
    device : str
        torch device ("cpu" default; "cuda" or "mps" where available).
    """
    trunk = load_trunk()
    net = _net_on(device)
    torch = trunk.torch
    if len(w) == 0:
        return np.zeros((0, 512), dtype=np.float32)
    outs = []
    # one intra-op thread: this small CNN runs ~10x faster than with 2 threads on a busy
    # machine (OpenMP workers spin against other processes), and a server gets its
    # parallelism from concurrent requests instead
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            for i in range(0, len(w), batch):
                x = torch.from_numpy(np.ascontiguousarray(w[i : i + batch]))
                if device != "cpu":
                    x = x.to(device)
                outs.append(net(x).float().cpu().numpy())
    finally:
        torch.set_num_threads(threads)
    return np.concatenate(outs).astype(np.float32)


def window_embeddings(
    signal: Signal, *, hop_frames: int = 50, max_windows: int = 32, batch: int = 16
) -> np.ndarray:
    """Per-window aisfx vectors, shape (n_windows, 512), float32 (not normalized)."""
    load_trunk()
    w = model_windows(signal, hop_frames=hop_frames, max_windows=max_windows)
    return run_windows(w, batch=batch)


@dataclass
class PendingEmbedding:
    """An embedding whose model half is still to run: bulk ingest computes the windows in a
    worker process and runs the model over many files' windows at once (:func:`finish`).

    Attributes
    ----------
    windows : np.ndarray, shape (n_windows, WINDOW_FRAMES, N_MELS), float32
        Model input.
    rest : np.ndarray or None, shape (k,)
        Already weighted part appended after the model block (music: the DSP blocks).
    w_model : float
        Weight of the pooled, L2-normalized model block.
    pool : {"mean", "max"}
        How the window vectors are pooled (see :class:`AisfxEmbedder`).
    """

    windows: np.ndarray
    rest: np.ndarray | None = None
    w_model: float = 1.0
    pool: str = "mean"


def finish(p: PendingEmbedding, window_vectors: np.ndarray) -> np.ndarray:
    """The final L2-normalized vector from the model's window vectors, shape (dim,)."""
    w = np.asarray(window_vectors, dtype=np.float32)
    v = l2_normalize(w.max(axis=0) if p.pool == "max" else w.mean(axis=0))
    if p.rest is None:
        return v
    return l2_normalize(np.concatenate([p.w_model * v, p.rest]))


def complete(p: np.ndarray | PendingEmbedding, *, device: str = "cpu") -> np.ndarray:
    """Run the model half of a :class:`PendingEmbedding` (a finished vector passes through)."""
    if isinstance(p, PendingEmbedding):
        return finish(p, run_windows(p.windows, device=device))
    return p


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

    def prepare(self, signal: Signal) -> np.ndarray | PendingEmbedding:
        """The CPU half: the model windows (or the finished vector of digital silence)."""
        if not np.any(signal.samples):
            return np.zeros(self.dim, dtype=np.float32)
        return PendingEmbedding(
            model_windows(signal, hop_frames=self.hop_frames, max_windows=self.max_windows),
            pool=self.pool,
        )

    def embed(self, signal: Signal) -> np.ndarray:
        return complete(self.prepare(signal))
