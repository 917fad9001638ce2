"""Short-time spectra and filterbanks (pure numpy/scipy: no numba, no librosa at import).

Frames are centred: frame ``t`` covers samples around ``t * hop``, so frame times are
``t * hop / sr`` seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def frame_rate(sr: int, fps: float) -> tuple[int, float]:
    """Integer hop (samples) closest to ``sr / fps`` and the actual frame rate it gives."""
    hop = max(1, int(round(sr / fps)))
    return hop, sr / hop


def stft_frames(y: np.ndarray, n_fft: int, hop: int, block: int = 2048) -> Iterator[np.ndarray]:
    """Magnitude spectrogram in blocks of ``block`` frames (see :func:`stft_magnitude`).

    Yields
    ------
    np.ndarray, shape (<= block, n_fft // 2 + 1), float32
    """
    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    yp = np.pad(y, (pad, pad + hop))
    n_frames = 1 + len(y) // hop
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, n_fft), strides=(yp.strides[0] * hop, yp.strides[0])
    )
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    for a in range(0, n_frames, block):
        yield np.abs(np.fft.rfft(frames[a : a + block] * win, axis=1)).astype(np.float32)


def stft_magnitude(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Magnitude spectrogram with a Hann window, centred frames.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
    n_fft, hop : int
        Window length and hop in samples.

    Returns
    -------
    np.ndarray, shape (n_frames, n_fft // 2 + 1), float32
        ``n_frames = 1 + n_samples // hop``.
    """
    y = np.asarray(y, dtype=np.float32)
    pad = n_fft // 2
    yp = np.pad(y, (pad, pad + hop))
    n_frames = 1 + len(y) // hop
    frames = np.lib.stride_tricks.as_strided(
        yp, shape=(n_frames, n_fft), strides=(yp.strides[0] * hop, yp.strides[0])
    )
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    out = np.empty((n_frames, n_fft // 2 + 1), dtype=np.float32)
    block = 4096  # bounded temporary memory for long files
    for a in range(0, n_frames, block):
        spec = np.fft.rfft(frames[a : a + block] * win, axis=1)
        out[a : a + block] = np.abs(spec)
    return out


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def triangular_filterbank(
    centers_hz: np.ndarray, sr: int, n_fft: int, *, norm: bool = False
) -> np.ndarray:
    """Triangular filters whose edges are the neighbouring centres.

    Parameters
    ----------
    centers_hz : np.ndarray, shape (n_bands + 2,)
        Band edges/centres in Hz, increasing; band ``b`` peaks at ``centers_hz[b + 1]``.

    Returns
    -------
    np.ndarray, shape (n_fft // 2 + 1, n_bands), float32
    """
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    n_bands = len(centers_hz) - 2
    fb = np.zeros((len(freqs), n_bands), dtype=np.float32)
    bin_hz = sr / n_fft
    for b in range(n_bands):
        lo, mid, hi = centers_hz[b], centers_hz[b + 1], centers_hz[b + 2]
        # keep narrow low bands from vanishing between bins
        mid_lo = max(mid - lo, bin_hz)
        hi_mid = max(hi - mid, bin_hz)
        up = (freqs - (mid - mid_lo)) / mid_lo
        down = ((mid + hi_mid) - freqs) / hi_mid
        fb[:, b] = np.maximum(0.0, np.minimum(up, down))
        if norm and fb[:, b].sum() > 0:
            fb[:, b] /= fb[:, b].sum()
    return fb


def log_filterbank(
    sr: int, n_fft: int, *, bands_per_octave: int = 12, fmin: float = 30.0, fmax: float = 16000.0
) -> np.ndarray:
    """Logarithmically spaced triangular filters, shape (n_fft // 2 + 1, n_bands).

    Bands that would fall into the same FFT bin are merged (as madmom's filterbank does),
    so the low end is not dominated by duplicated bins.
    """
    edges = _log_edges_hz(sr, n_fft, bands_per_octave, fmin, fmax)
    return triangular_filterbank(edges, sr, n_fft)


def _log_edges_hz(
    sr: int, n_fft: int, bands_per_octave: int, fmin: float, fmax: float
) -> np.ndarray:
    fmax = min(fmax, sr / 2.0)
    n = int(np.floor(np.log2(fmax / fmin) * bands_per_octave))
    centers = fmin * 2.0 ** (np.arange(n + 1) / bands_per_octave)
    bins = np.unique(np.round(centers / (sr / n_fft)).astype(int))
    bins = bins[(bins > 0) & (bins < n_fft // 2)]
    return np.asarray(bins * (sr / n_fft), dtype=np.float64)


def log_band_centres_hz(
    sr: int, n_fft: int, *, bands_per_octave: int = 12, fmin: float = 30.0, fmax: float = 16000.0
) -> np.ndarray:
    """Centre frequency (Hz) of each :func:`log_filterbank` band, shape (n_bands,)."""
    return _log_edges_hz(sr, n_fft, bands_per_octave, fmin, fmax)[1:-1]


def mel_filterbank(
    sr: int, n_fft: int, n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Area-normalized mel filters, shape (n_fft // 2 + 1, n_mels)."""
    fmax = sr / 2.0 if fmax is None else fmax
    m = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    return triangular_filterbank(mel_to_hz(m), sr, n_fft, norm=True)


def chroma_filterbank(
    sr: int, n_fft: int, *, fmin: float = 55.0, fmax: float = 5000.0
) -> np.ndarray:
    """Map FFT bins to 12 pitch classes (C=0), shape (n_fft // 2 + 1, 12).

    Each bin in [fmin, fmax] goes to its nearest pitch class with a triangular weight over
    the distance (in semitones) to that pitch.
    """
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    fb = np.zeros((len(freqs), 12), dtype=np.float32)
    ok = (freqs >= fmin) & (freqs <= fmax)
    midi = 69.0 + 12.0 * np.log2(np.maximum(freqs[ok], 1e-6) / 440.0)
    nearest = np.round(midi)
    w = np.clip(1.0 - 2.0 * np.abs(midi - nearest), 0.0, 1.0)
    idx = np.nonzero(ok)[0]
    fb[idx, (nearest.astype(int) % 12)] = w
    return fb


def dct_ii(n_in: int, n_out: int) -> np.ndarray:
    """Orthonormal DCT-II matrix, shape (n_in, n_out) (for MFCCs: ``log_mel @ D``)."""
    k = np.arange(n_out)[None, :]
    n = np.arange(n_in)[:, None]
    d = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    d[:, 0] /= np.sqrt(2.0)
    return d.astype(np.float32)
