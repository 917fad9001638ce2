"""DSP-only audio embedding (no torch): timbre, spectral shape, harmony and rhythm statistics.

Every block of statistics is L2-normalized on its own and then weighted, so that no block
dominates by its units; the whole vector is then L2-normalized. The input is peak-normalized
first, so a gain change leaves the vector unchanged.
"""

from __future__ import annotations

import warnings

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings.base import l2_normalize

DSP_SR = 22050
N_FFT = 2048
HOP = 512
N_MELS = 64
N_MFCC = 20
MIN_SAMPLES = N_FFT  # shorter clips are zero-padded to one analysis frame

# block weights (relative importance in the cosine); timbre first, as in SFX libraries
WEIGHTS = {
    "mfcc_mean": 1.0,
    "mfcc_std": 0.7,
    "mfcc_delta_std": 0.4,
    "mel_shape": 1.0,
    "spectral": 0.6,
    "chroma": 0.5,
    "rhythm": 0.5,
    "envelope": 0.5,
}


def _block(v: np.ndarray, weight: float) -> np.ndarray:
    return weight * l2_normalize(np.nan_to_num(np.asarray(v, dtype=np.float32)))


def prepare(y: np.ndarray, sr: int) -> np.ndarray:
    """Mono float32 at :data:`DSP_SR`, peak-normalized, at least :data:`MIN_SAMPLES` long."""
    from tonearm.core.audio.resample import resample

    y = resample(np.asarray(y, dtype=np.float32), sr, DSP_SR)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0:
        y = y / peak
    if y.size < MIN_SAMPLES:
        y = np.pad(y, (0, MIN_SAMPLES - y.size))
    return y.astype(np.float32)


def dsp_features(y: np.ndarray) -> np.ndarray:
    """Weighted, block-normalized statistics of a prepared signal.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Output of :func:`prepare` (mono, :data:`DSP_SR` Hz, peak 1).

    Returns
    -------
    np.ndarray, shape (DSP_DIM,), float32, not yet globally normalized.
    """
    import librosa

    S = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=S, sr=DSP_SR, n_mels=N_MELS)
    log_mel = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    # weight frames by loudness so silence padding and tails do not dilute the statistics
    frame_db = log_mel.max(axis=0)
    w = np.clip(frame_db - (frame_db.max() - 60.0), 0.0, None)
    w = w / w.sum() if w.sum() > 0 else np.full_like(w, 1.0 / max(1, w.size))

    def wmean(x: np.ndarray) -> np.ndarray:
        return np.asarray(x @ w, dtype=np.float64)

    def wstd(x: np.ndarray) -> np.ndarray:
        m = wmean(x)
        return np.sqrt(np.maximum(((x - m[:, None]) ** 2) @ w, 0.0))

    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)[1:]  # c0 is level, not timbre
    d_mfcc = np.diff(mfcc, axis=1) if mfcc.shape[1] > 1 else np.zeros_like(mfcc)
    mel_shape = wmean(log_mel)
    mel_shape = mel_shape - mel_shape.mean()

    freqs = librosa.fft_frequencies(sr=DSP_SR, n_fft=N_FFT)
    P = S / np.maximum(S.sum(axis=0, keepdims=True), 1e-12)
    centroid = freqs @ P
    spread = np.sqrt(np.maximum(((freqs[:, None] - centroid) ** 2 * P).sum(axis=0), 0))
    flatness = librosa.feature.spectral_flatness(S=np.sqrt(S))[0]
    rolloff = librosa.feature.spectral_rolloff(S=np.sqrt(S), sr=DSP_SR, roll_percent=0.85)[0]
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0]
    nyq = DSP_SR / 2
    spec_rows = np.stack(
        [centroid / nyq, spread / nyq, rolloff / nyq, flatness, zcr[: centroid.size]]
    )
    spectral = np.concatenate([wmean(spec_rows), wstd(spec_rows)])

    with warnings.catch_warnings():  # noise-like clips have no pitch to estimate tuning from
        warnings.simplefilter("ignore", UserWarning)
        chroma = librosa.feature.chroma_stft(S=S, sr=DSP_SR, n_chroma=12, tuning=0.0)
    chroma_v = np.concatenate([wmean(chroma), wstd(chroma)])

    onset = librosa.onset.onset_strength(S=log_mel, sr=DSP_SR)
    rhythm = _onset_periodicity(onset)

    rms = np.sqrt(S.sum(axis=0) / N_FFT)
    env = _envelope_shape(rms)

    parts = [
        _block(wmean(mfcc), WEIGHTS["mfcc_mean"]),
        _block(wstd(mfcc), WEIGHTS["mfcc_std"]),
        _block(d_mfcc.std(axis=1), WEIGHTS["mfcc_delta_std"]),
        _block(mel_shape, WEIGHTS["mel_shape"]),
        _block(spectral, WEIGHTS["spectral"]),
        _block(chroma_v, WEIGHTS["chroma"]),
        _block(rhythm, WEIGHTS["rhythm"]),
        _block(env, WEIGHTS["envelope"]),
    ]
    return np.concatenate(parts).astype(np.float32)


def _onset_periodicity(onset: np.ndarray, n_bins: int = 16) -> np.ndarray:
    """Autocorrelation of the onset envelope sampled on a log lag grid (~0.05-3 s), shape
    (n_bins,): how periodic the sound is, and at what rate."""
    o = onset - onset.mean()
    lags = np.unique(np.geomspace(2, 130, n_bins).astype(int))
    out = np.zeros(n_bins, dtype=np.float64)
    denom = float(o @ o)
    if denom <= 0 or o.size < 4:
        return out
    for i, lag in enumerate(lags):
        if lag < o.size:
            out[i] = float(o[:-lag] @ o[lag:]) / denom
    return out


def _envelope_shape(rms: np.ndarray, n_points: int = 16) -> np.ndarray:
    """Loudness contour resampled to ``n_points`` (attack/decay shape), in dB re. the peak."""
    db = 20 * np.log10(np.maximum(rms / max(float(rms.max()), 1e-12), 1e-4))
    x = np.linspace(0, 1, db.size) if db.size > 1 else np.array([0.0])
    return np.interp(np.linspace(0, 1, n_points), x, db if db.size > 1 else np.repeat(db, 1)) / 80


DSP_DIM = 19 + 19 + 19 + N_MELS + 10 + 24 + 16 + 16


class DspEmbedder:
    """MFCC, spectral-shape, chroma, rhythm and envelope statistics; works without torch."""

    model_id = "dsp-stats/v1"
    dim = DSP_DIM

    def embed(self, signal: Signal) -> np.ndarray:
        y = prepare(signal.mono(), signal.sr)
        if not np.any(y):
            return np.zeros(self.dim, dtype=np.float32)
        return l2_normalize(dsp_features(y))
