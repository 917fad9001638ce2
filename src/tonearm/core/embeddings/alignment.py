"""Time-aligned comparison of two short clips: is one a copy of the other?

An embedding says two sounds are alike; two different takes of a door knock are alike
too. A copy (re-encoded, resampled, trimmed, level-changed, slightly sped up) also lines up
with its original frame by frame over most of its length. :func:`align_print` is a small
log-mel picture of the audible region; :func:`align_score` is the best Pearson correlation
of two such pictures over time lags and a few speed ratios, counting only alignments where
the overlap covers most of the longer clip (a short sound inside a long one is not a copy).
Both are level-independent (per-clip dB re its own peak) and rate-independent (16 kHz).
"""

from __future__ import annotations

import numpy as np

from tonearm.core.audio.signal import Signal

ALIGN_SR = 16000
N_FFT = 512
HOP = 64  # 4 ms: a 100 ms click still has 25 frames of fine structure
N_MELS = 32
RANGE_DB = 60.0  # floor of the picture, below the clip's peak
EDGE_DB = 45.0  # leading / trailing frames quieter than this (re the peak) are cut
SPEEDS = (1 / 1.03, 1 / 1.02, 1 / 1.01, 1.0, 1.01, 1.02, 1.03)  # tape-speed copies
MIN_COVER = 0.8  # the overlap must cover this share of the longer clip
SLACK_FRAMES = 8  # ~30 ms
MAX_FRAMES = 300  # longer pictures are compared on pooled frames
VERSION = 3  # of the picture (bench caches key on it)


def align_print(signal: Signal) -> np.ndarray:
    """The clip's log-mel picture over its audible region.

    Returns
    -------
    np.ndarray, shape (n_frames, N_MELS), float32, in dB re the clip's peak cell, floored
    at ``-RANGE_DB``; hop 4 ms. Empty (0 frames) for digital silence.
    """
    import librosa

    from tonearm.core.audio.resample import resample

    if not np.any(signal.samples):
        return np.zeros((0, N_MELS), np.float32)
    y = signal.mono()
    if signal.sr != ALIGN_SR:
        y = resample(y, signal.sr, ALIGN_SR)
    if y.size < N_FFT:
        y = np.pad(y, (0, N_FFT - y.size))
    mel = librosa.feature.melspectrogram(
        y=y.astype(np.float32), sr=ALIGN_SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS,
        fmin=100.0, fmax=7600.0,
    )  # fmt: skip
    db = 10 * np.log10(np.maximum(mel, 1e-12))
    db = np.maximum(db - db.max(), -RANGE_DB)
    # the audible span: frames within EDGE_DB of the loudest one (relative to the clip's
    # own peak, so a gain change, a trim of the silence or a re-encode moves it little)
    loud = np.flatnonzero(db.max(axis=0) >= -EDGE_DB)
    db = db[:, loud[0] : loud[-1] + 1]
    return np.ascontiguousarray(db.T, dtype=np.float32)


def _pool(p: np.ndarray, f: int) -> np.ndarray:
    """Mean of every ``f`` consecutive frames."""
    n = len(p) // f
    return p[: n * f].reshape(n, f, -1).mean(axis=1) if n else p[:1]


def _stretch(p: np.ndarray, speed: float) -> np.ndarray:
    """``p`` played ``speed`` times faster (frames resampled by linear interpolation)."""
    if speed == 1.0 or len(p) < 2:
        return p
    n = max(2, int(round(len(p) / speed)))
    x = np.linspace(0, len(p) - 1, n)
    i = np.floor(x).astype(int)
    j = np.minimum(i + 1, len(p) - 1)
    w = (x - i)[:, None]
    return ((1 - w) * p[i] + w * p[j]).astype(np.float32)


def _best_lag_corr(a: np.ndarray, b: np.ndarray, min_cover: float) -> float:
    """Best Pearson correlation of ``a`` and ``b`` (frames x bands) over time lags whose
    overlap covers at least ``min_cover`` of the longer one."""
    na, nb = len(a), len(b)
    # a few frames of slack: the audible region of a 100 ms click moves by a frame or two
    # between copies
    need = max(1, min(int(np.ceil(min_cover * max(na, nb))), max(na, nb) - SLACK_FRAMES))
    if min(na, nb) < need:
        return 0.0
    best = -1.0
    # lag = start of b relative to a
    for lag in range(-(nb - need), na - need + 1):
        a0, a1 = max(0, lag), min(na, lag + nb)
        if a1 - a0 < need:
            continue
        x = a[a0:a1].ravel()
        y = b[a0 - lag : a1 - lag].ravel()
        x = x - x.mean()
        y = y - y.mean()
        d = float(np.sqrt((x @ x) * (y @ y)))
        if d > 0:
            best = max(best, float(x @ y) / d)
    return best


def align_score(a: np.ndarray, b: np.ndarray, min_cover: float = MIN_COVER) -> float:
    """How well two :func:`align_print` pictures line up: the best correlation in [-1, 1]
    over lags and :data:`SPEEDS` (0 when no alignment covers ``min_cover`` of the longer)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    f = int(np.ceil(max(len(a), len(b)) / MAX_FRAMES))
    if f > 1:  # long clips: coarser frames, same picture (bounded cost)
        a, b = _pool(a, f), _pool(b, f)
    return max(_best_lag_corr(a, _stretch(b, s), min_cover) for s in SPEEDS)
