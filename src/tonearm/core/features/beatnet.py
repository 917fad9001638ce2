"""Trained beat activation: BeatNet's CRNN (Heydari, Cwitkowitz & Duan 2021), optional.

The weights ship inside the ``BeatNet`` wheel on PyPI (CC BY 4.0: attribution, commercial use
allowed). Only its network definition and checkpoints are used: BeatNet's own front end
(madmom), decoders (madmom's DBN, a particle filter) and audio I/O (pyaudio, librosa) are not
imported. The input features are computed here in numpy, matching the ones the network was
trained on (madmom's ``LogarithmicFilterbank``, 24 bands per octave from 30 Hz to 17 kHz, of a
64 ms Hann STFT at 50 frames/s, ``log10(1 + x)``, stacked with its positive first difference).

Install: ``pip install --no-deps BeatNet`` (it pins an ancient numba and wants madmom and
pyaudio, none of which are needed here) plus ``torch``. Without them
:func:`beatnet_available` is False and beat tracking uses the spectral-flux activation.
"""

from __future__ import annotations

import functools
import importlib.util
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
    """True when ``torch`` and the ``BeatNet`` package (its checkpoints) can be imported."""
    return (
        importlib.util.find_spec("torch") is not None
        and importlib.util.find_spec("BeatNet") is not None
    )


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


@functools.lru_cache(maxsize=3)
def load_model(checkpoint: int = DEFAULT_CHECKPOINT) -> Any:
    """BeatNet's CRNN with a checkpoint from the wheel, on CPU, in eval mode."""
    import torch
    from BeatNet.model import BDA  # the package __init__ is empty: no madmom, no pyaudio

    model = BDA(272, 150, 2, "cpu")
    state = torch.load(checkpoint_path(checkpoint), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


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
    import torch

    if sr != BEATNET_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, sr, BEATNET_SR, quality="MQ")
    feats = beatnet_features(y)
    if len(feats) == 0:
        z = np.zeros(0, dtype=np.float32)
        return z, z
    model = load_model(checkpoint)
    with torch.inference_mode():
        x = torch.from_numpy(feats)
        # the layers of BDA.forward, with a fresh LSTM state per call (BDA keeps its state
        # between calls, which would leak one song into the next)
        h = x.unsqueeze(1)  # (T, 1, 272)
        h = torch.nn.functional.max_pool1d(torch.relu(model.conv1(h)), 2)
        h = model.linear0(h.reshape(h.shape[0], -1)).unsqueeze(0)  # (1, T, 150)
        h, _ = model.lstm(h)
        probs = torch.softmax(model.linear(h)[0], dim=1).numpy()  # (T, 3)
    return probs[:, 0].astype(np.float32), probs[:, 1].astype(np.float32)
