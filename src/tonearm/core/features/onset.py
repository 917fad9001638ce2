"""Onset strength (beat activation) from a log-frequency spectral flux."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonearm.core.features.spectral import (
    chroma_filterbank,
    frame_rate,
    log_band_centres_hz,
    log_filterbank,
    mel_filterbank,
    stft_frames,
)

ANALYSIS_SR = 22050  # everything beat-related runs at this rate (fast, enough bandwidth)
LOG_FMIN_HZ = 30.0  # range of the log-frequency bands of Spectrogram.logspec
LOG_FMAX_HZ = 11000.0


@dataclass(frozen=True)
class Spectrogram:
    """The spectral views every beat analysis needs, computed in one STFT pass.

    The full STFT is never held in memory (a long file would need gigabytes): each block of
    frames is projected onto the filterbanks and dropped.

    Attributes
    ----------
    logspec : np.ndarray, shape (n_frames, n_bands), float32
        ``log10(1 + magnitude @ log_filterbank)``, 12 bands per octave from 30 Hz.
    chroma : np.ndarray, shape (n_frames, 12), float32
        Power per pitch class.
    mel : np.ndarray, shape (n_frames, 40), float32
        Power per mel band.
    energy : np.ndarray, shape (n_frames,), float32
        Total power per frame.
    sr, hop, n_fft : int
    fps : float
        Frames per second (``sr / hop``).
    """

    logspec: np.ndarray
    chroma: np.ndarray
    mel: np.ndarray
    energy: np.ndarray
    sr: int
    hop: int
    n_fft: int
    fps: float


def spectrogram(y: np.ndarray, sr: int, fps: float = 100.0) -> Spectrogram:
    """Log-frequency spectrogram of mono ``y`` (shape (n_samples,)) at about ``fps`` frames/s."""
    hop, fps_actual = frame_rate(sr, fps)
    n_fft = 1 << int(np.ceil(np.log2(sr * 0.046)))  # ~46 ms window
    fb = log_filterbank(sr, n_fft, bands_per_octave=12, fmin=LOG_FMIN_HZ, fmax=LOG_FMAX_HZ)
    cfb = chroma_filterbank(sr, n_fft)
    mfb = mel_filterbank(sr, n_fft, n_mels=40, fmin=30.0)
    parts: dict[str, list[np.ndarray]] = {"log": [], "chroma": [], "mel": [], "energy": []}
    for mag in stft_frames(y, n_fft, hop):
        power = mag * mag
        parts["log"].append(np.log10(1.0 + mag @ fb).astype(np.float32))
        parts["chroma"].append((power @ cfb).astype(np.float32))
        parts["mel"].append((power @ mfb).astype(np.float32))
        parts["energy"].append(power.sum(axis=1, dtype=np.float32))
    return Spectrogram(
        np.concatenate(parts["log"]),
        np.concatenate(parts["chroma"]),
        np.concatenate(parts["mel"]),
        np.concatenate(parts["energy"]),
        sr,
        hop,
        n_fft,
        fps_actual,
    )


def logspec_band_centres_hz(spec: Spectrogram) -> np.ndarray:
    """Centre frequency (Hz) of each column of ``spec.logspec``, shape (n_bands,)."""
    return log_band_centres_hz(
        spec.sr, spec.n_fft, bands_per_octave=12, fmin=LOG_FMIN_HZ, fmax=LOG_FMAX_HZ
    )


def _max3_over_bands(x: np.ndarray) -> np.ndarray:
    """Maximum over each band and its two neighbours (axis 1), edges clamped."""
    out = x.copy()
    np.maximum(out[:, 1:], x[:, :-1], out=out[:, 1:])
    np.maximum(out[:, :-1], x[:, 1:], out=out[:, :-1])
    return out


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of a 1-D array, edges padded with the edge values."""
    width = max(1, int(width))
    if width == 1:
        return x.astype(np.float64)
    left = width // 2
    xp = np.pad(x.astype(np.float64), (left, width - 1 - left), mode="edge")
    c = np.concatenate([[0.0], np.cumsum(xp)])
    return (c[width:] - c[:-width]) / width


def superflux(logspec: np.ndarray, lag: int = 2, max_bins: int = 3) -> np.ndarray:
    """SuperFlux onset strength (Böck & Widmer 2013), shape (n_frames,).

    Positive differences against a frequency-max-filtered spectrum ``lag`` frames back, so
    vibrato and slow glides do not count as onsets.
    """
    ref = _max3_over_bands(logspec) if max_bins == 3 else logspec
    diff = np.zeros_like(logspec)
    diff[lag:] = logspec[lag:] - ref[:-lag]
    return np.maximum(diff, 0.0).sum(axis=1).astype(np.float32)


def beat_activation(flux: np.ndarray, fps: float) -> np.ndarray:
    """Normalize an onset strength to a beat activation in [0, 1], shape (n_frames,).

    Subtracts a moving average (~0.25 s) so sustained loud passages do not read as one long
    onset, then scales by a high percentile so a few huge hits do not flatten the rest.
    """
    f = flux.astype(np.float64)
    w = max(3, int(round(0.25 * fps)) | 1)
    f = np.maximum(f - moving_average(f, w), 0.0)
    f = moving_average(f, 3)  # tolerate a frame of onset jitter
    scale = np.percentile(f, 99.0) if f.size else 0.0
    if scale <= 0:
        return np.zeros_like(f, dtype=np.float32)
    return np.clip(f / scale, 0.0, 1.0).astype(np.float32)
