"""Trained beat activation: BeatNet's CRNN (Heydari, Cwitkowitz & Duan 2021), optional.

The weights ship inside the ``BeatNet`` wheel on PyPI (CC BY 4.0: attribution, commercial use
allowed). Only its checkpoints are used, read without torch (:func:`load_state_dict`: a
``.pt`` file is a zip of a pickle and raw storages) and run by a numpy port of its network
(:func:`crnn_forward`: a 10-tap convolution over bands, max pooling, a linear layer, two LSTM
layers, softmax; equal to torch's to ~1e-5). BeatNet's own code, front end (madmom), decoders
and audio I/O are never imported, so there is no torch import on the first call.
The input features are computed here in numpy, matching the ones the network was trained on
(madmom's ``LogarithmicFilterbank``, 24 bands per octave from 30 Hz to 17 kHz, of a 64 ms
Hann STFT at 50 frames/s, ``log10(1 + x)``, stacked with its positive first difference).

Install: ``pip install --no-deps BeatNet`` (it pins an ancient numba and wants madmom,
pyaudio and torch, none of which are needed here). Without it
:func:`beatnet_available` is False and beat tracking uses the spectral-flux activation.
"""

from __future__ import annotations

import collections
import functools
import importlib.util
import io
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

BEATNET_SR = 22050
BEATNET_FPS = 50.0
HOP = int(20 * 0.001 * BEATNET_SR)  # 441 samples
WIN = int(64 * 0.001 * BEATNET_SR)  # 1411 samples
# which of the three checkpoints: 1 was trained without GTZAN, 2 without Ballroom,
# 3 without the Rock Corpus (each one's held-out set). 1 tracked best on bench/beats.py's sets.
DEFAULT_CHECKPOINT = 1


def beatnet_available() -> bool:
    """True when the ``BeatNet`` wheel (its checkpoints) is installed; torch is not needed."""
    return importlib.util.find_spec("BeatNet") is not None


def checkpoint_path(checkpoint: int = DEFAULT_CHECKPOINT) -> Path:
    """Path of a BeatNet checkpoint inside the installed wheel (no download)."""
    spec = importlib.util.find_spec("BeatNet")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("BeatNet is not installed: pip install --no-deps BeatNet")
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "models" / f"model_{int(checkpoint)}_weights.pt"
    if not path.is_file():
        raise FileNotFoundError(f"BeatNet checkpoint missing: {path}")
    return path


def _log_frequencies(bands_per_octave: int, fmin: float, fmax: float, fref: float = 440.0):
    left = np.floor(np.log2(fmin / fref) * bands_per_octave)
    right = np.ceil(np.log2(fmax / fref) * bands_per_octave)
    f = fref * 2.0 ** (np.arange(left, right) / bands_per_octave)
    f = f[np.searchsorted(f, fmin) :]
    return f[: np.searchsorted(f, fmax, "right")]


@functools.lru_cache(maxsize=1)
def filterbank() -> np.ndarray:
    """madmom's normalized triangular log filterbank for BeatNet's STFT, shape (705, 136).

    A port of ``madmom.audio.filters.LogarithmicFilterbank(num_bands=24, fmin=30,
    fmax=17000, norm_filters=True, unique_filters=True)`` on madmom's bin frequencies
    (``k * sr / (2 * n_bins)``), so the features match what the network saw in training.
    """
    n_bins = WIN >> 1
    bin_f = np.fft.fftfreq(n_bins * 2, 1.0 / BEATNET_SR)[:n_bins]
    freqs = _log_frequencies(24, 30.0, 17000.0)
    idx = np.clip(bin_f.searchsorted(freqs), 1, n_bins - 1)
    idx -= (freqs - bin_f[idx - 1]) < (bin_f[idx] - freqs)
    bins = np.unique(idx)
    fb = np.zeros((n_bins, len(bins) - 2))
    for band in range(len(bins) - 2):
        start, center, stop = (int(b) for b in bins[band : band + 3])
        if stop - start < 2:
            center, stop = start, start + 1
        data = np.zeros(stop - start)
        c = center - start
        data[:c] = np.linspace(0, 1, c, endpoint=False)
        data[c:] = np.linspace(1, 0, stop - center, endpoint=False)
        data /= data.sum()
        fb[start:stop, band] = np.maximum(fb[start:stop, band], data)
    return fb.astype(np.float32)


def beatnet_features(y: np.ndarray) -> np.ndarray:
    """BeatNet's input features of mono 22050 Hz audio, shape (n_frames, 272), float32.

    Frames are centred on multiples of the 441-sample hop (zero padded at the edges), so
    frame ``i`` describes time ``i / 50`` s.
    """
    y = np.asarray(y, dtype=np.float32)
    n_frames = int(np.ceil(len(y) / HOP)) if len(y) else 0
    fb = filterbank()
    out = np.zeros((n_frames, 2 * fb.shape[1]), dtype=np.float32)
    if n_frames == 0:
        return out
    left = WIN // 2
    pad = np.zeros(left + n_frames * HOP + WIN, dtype=np.float32)
    pad[left : left + len(y)] = y
    window = np.hanning(WIN).astype(np.float32)
    n_bins = WIN >> 1
    block = 2048  # frames per FFT block: bounded memory on long files
    for b0 in range(0, n_frames, block):
        b1 = min(n_frames, b0 + block)
        starts = np.arange(b0, b1) * HOP
        frames = pad[starts[:, None] + np.arange(WIN)[None, :]] * window
        mag = np.abs(np.fft.rfft(frames, axis=1))[:, :n_bins].astype(np.float32)
        out[b0:b1, : fb.shape[1]] = np.log10(1.0 + mag @ fb)
    spec = out[:, : fb.shape[1]]
    out[1:, fb.shape[1] :] = np.maximum(spec[1:] - spec[:-1], 0.0)
    return out


class _RestrictedUnpickler(pickle.Unpickler):
    """Reads a ``torch.save`` state dict's pickle without torch: only the four globals a
    state dict of float tensors uses are allowed, and tensors come back as numpy arrays
    viewing the archive's raw little-endian storages."""

    def __init__(self, data: bytes, storages: Callable[[str, str], np.ndarray]) -> None:
        super().__init__(io.BytesIO(data))
        self._storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) in (
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_tensor"),
        ):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(
            f"checkpoint refers to {module}.{name}: not a plain state dict"
        )

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, _numel = pid[:5]
        return self._storages(str(key), str(storage_type))


_STORAGE_DTYPES: dict[str, np.dtype[Any]] = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
}


def _rebuild_tensor(
    storage: np.ndarray, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> np.ndarray:
    n = storage.itemsize
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * n for s in stride)
    )
    return np.array(view)  # a copy: contiguous, independent of the storage


def load_state_dict(path: Path | str) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save``d state dict (zip format) as numpy arrays, without torch.

    A ``.pt`` file is a zip of ``<name>/data.pkl`` (the pickled dict, its tensors as
    persistent references) and ``<name>/data/<key>`` (each storage's raw bytes). Only
    plain float/int tensors are accepted; anything else in the pickle raises
    ``pickle.UnpicklingError`` (no arbitrary code runs).
    """
    with zipfile.ZipFile(path) as z:
        pkl = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError(f"{path} is not a torch zip checkpoint")
        prefix = pkl[0][: -len("data.pkl")]

        def storage(key: str, kind: str) -> np.ndarray:
            return np.frombuffer(z.read(f"{prefix}data/{key}"), dtype=_STORAGE_DTYPES[kind])

        state = _RestrictedUnpickler(z.read(pkl[0]), storage).load()
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    return {str(k): np.asarray(v) for k, v in state.items()}


@functools.lru_cache(maxsize=3)
def load_weights(checkpoint: int = DEFAULT_CHECKPOINT) -> dict[str, np.ndarray]:
    """BeatNet's CRNN weights from a checkpoint inside the wheel, float32 numpy arrays."""
    state = load_state_dict(checkpoint_path(checkpoint))
    missing = [k for k in _WEIGHT_NAMES if k not in state]
    if missing:
        raise ValueError(f"BeatNet checkpoint {checkpoint} lacks {missing}")
    return {k: state[k].astype(np.float32) for k in _WEIGHT_NAMES}


_WEIGHT_NAMES = [
    "conv1.weight",
    "conv1.bias",
    "linear0.weight",
    "linear0.bias",
    "linear.weight",
    "linear.bias",
] + [f"lstm.{w}_l{i}" for i in range(2) for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]


def _lstm_layer(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One unidirectional LSTM layer (torch's gate order i, f, g, o), zero initial state.

    Parameters
    ----------
    x : np.ndarray, shape (T, n_in)
    w_ih : (4 n, n_in), w_hh : (4 n, n), b : (4 n,)
        torch's weights, ``b`` the sum of its two biases.

    Returns
    -------
    np.ndarray, shape (T, n), float32
    """
    n = w_hh.shape[1]
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: with the i, f, o rows halved (exact in floating
    # point) one tanh over all four gates serves each step
    scale = np.full((4 * n, 1), 0.5, dtype=np.float32)
    scale[2 * n : 3 * n] = 1.0
    gates_x = np.asarray(x, dtype=np.float32) @ (w_ih * scale).T + b * scale[:, 0]
    w_hh_t = np.ascontiguousarray((w_hh * scale).T, dtype=np.float32)
    h: np.ndarray = np.zeros(n, dtype=np.float32)
    c = np.zeros(n, dtype=np.float32)
    tc = np.empty(n, dtype=np.float32)
    g = np.empty(4 * n, dtype=np.float32)
    out = np.empty((len(x), n), dtype=np.float32)
    for t in range(len(x)):
        np.dot(h, w_hh_t, out=g)
        g += gates_x[t]
        np.tanh(g, out=g)
        # c = f c + i g with i = (1 + g_i) / 2, f = (1 + g_f) / 2
        c *= g[n : 2 * n] + 1.0
        c += (g[:n] + 1.0) * g[2 * n : 3 * n]
        c *= 0.5
        np.tanh(c, out=tc)
        h = (g[3 * n :] + 1.0) * 0.5 * tc
        out[t] = h
    return out


def crnn_forward(feats: np.ndarray, w: dict[str, np.ndarray]) -> np.ndarray:
    """BeatNet's BDA network in numpy: features (T, 272) -> softmax (T, 3) (beat, downbeat,
    none), each frame's LSTM state carried from the first frame of the call."""
    x = np.asarray(feats, dtype=np.float32)
    k = w["conv1.weight"]  # (2, 1, 10): two channels of a 10-tap convolution over bands
    taps = k.shape[2]
    win = np.lib.stride_tricks.sliding_window_view(x, taps, axis=1)  # (T, 263, 10)
    conv = np.einsum("tbk,ck->tcb", win, k[:, 0, :]) + w["conv1.bias"][None, :, None]
    conv = np.maximum(conv, 0.0)
    half = conv.shape[2] // 2
    pooled = np.maximum(conv[:, :, 0 : 2 * half : 2], conv[:, :, 1 : 2 * half : 2])  # (T,2,131)
    h = pooled.reshape(len(x), -1) @ w["linear0.weight"].T + w["linear0.bias"]
    for layer in range(2):
        h = _lstm_layer(
            h,
            w[f"lstm.weight_ih_l{layer}"],
            w[f"lstm.weight_hh_l{layer}"],
            w[f"lstm.bias_ih_l{layer}"] + w[f"lstm.bias_hh_l{layer}"],
        )
    logits = h @ w["linear.weight"].T + w["linear.bias"]
    logits = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


def beatnet_activation(
    y: np.ndarray, sr: int, *, checkpoint: int = DEFAULT_CHECKPOINT
) -> tuple[np.ndarray, np.ndarray]:
    """Beat and downbeat activations of mono audio at 50 frames/s.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono samples.
    sr : int
        Sample rate in Hz (resampled to 22050 Hz if different).

    Returns
    -------
    beat, downbeat : np.ndarray, shape (n_frames,), float32
        Probability per frame (``BEATNET_FPS`` frames/s) that a beat that is not a downbeat,
        and a downbeat, starts there (softmax outputs; their sum is "any beat").
    """
    if sr != BEATNET_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, sr, BEATNET_SR, quality="MQ")
    feats = beatnet_features(y)
    if len(feats) == 0:
        z = np.zeros(0, dtype=np.float32)
        return z, z
    probs = crnn_forward(feats, load_weights(checkpoint))
    return probs[:, 0].copy(), probs[:, 1].copy()
