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
# (the score changed to overlap cosine of mean-centred pictures: align-score v2)


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


def _best_lag_corr(a: np.ndarray, b: np.ndarray, min_cover: float, refine: bool = False) -> float:
    """Best correlation of ``a`` and ``b`` (frames x bands) over time lags whose overlap
    covers at least ``min_cover`` of the longer one (minus SLACK_FRAMES).

    Each picture is centred on its own mean; for every lag the products and energies are
    summed over the overlap only (FFT cross-correlation and prefix sums), so this is the
    cosine of the two overlapping parts.
    """
    na, nb = len(a), len(b)
    # a few frames of slack: the audible region of a 100 ms click moves by a frame or two
    # between copies
    need = max(1, min(int(np.ceil(min_cover * max(na, nb))), max(na, nb) - SLACK_FRAMES))
    if min(na, nb) < need:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    n = 1 << int(np.ceil(np.log2(na + nb)))
    fa = np.fft.rfft(a, n, axis=0)
    fb = np.fft.rfft(b, n, axis=0)
    cc = np.fft.irfft((fa * np.conj(fb)).sum(axis=1), n)
    # lag = start of b inside a: lag >= 0 -> cc[lag]; lag < 0 -> cc[n + lag]
    lags = np.arange(-(nb - 1), na)
    dots = cc[lags % n]
    ea = np.concatenate([[0.0], np.cumsum((a * a).sum(axis=1))])
    eb = np.concatenate([[0.0], np.cumsum((b * b).sum(axis=1))])
    a0 = np.maximum(0, lags)
    a1 = np.minimum(na, lags + nb)
    overlap = a1 - a0
    ok = overlap >= need
    if not ok.any():
        return 0.0
    en_a = ea[a1] - ea[a0]
    en_b = eb[a1 - lags] - eb[a0 - lags]
    den = np.sqrt(np.maximum(en_a * en_b, 1e-12))
    r = np.where(ok, dots / den, -1.0)
    k = int(np.argmax(r))
    best = float(r[k])
    if refine and 0 < k < len(r) - 1 and ok[k - 1] and ok[k + 1]:
        # the true delay falls between two samples: a parabola through the peak and its
        # neighbours estimates the correlation at the fractional lag
        y0, y1, y2 = float(r[k - 1]), best, float(r[k + 1])
        curv = y0 - 2 * y1 + y2
        if curv < 0:
            best = min(1.0, y1 - (y0 - y2) ** 2 / (8 * curv))
    return best


def align_best(a: np.ndarray, b: np.ndarray, min_cover: float = MIN_COVER) -> tuple[float, float]:
    """(:func:`align_score`, the speed of ``b`` relative to ``a`` at which it is reached)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0, 1.0
    f = int(np.ceil(max(len(a), len(b)) / MAX_FRAMES))
    if f > 1:  # long clips: coarser frames, same picture (bounded cost)
        a, b = _pool(a, f), _pool(b, f)
    best = max((_best_lag_corr(a, _stretch(b, s), min_cover), s) for s in SPEEDS)
    return best


def align_score(a: np.ndarray, b: np.ndarray, min_cover: float = MIN_COVER) -> float:
    """How well two :func:`align_print` pictures line up: the best correlation in [-1, 1]
    over lags and :data:`SPEEDS` (0 when no alignment covers ``min_cover`` of the longer)."""
    return align_best(a, b, min_cover)[0]


# -- waveform check ----------------------------------------------------------------------------
WAVE_VERSION = 3  # of the wave print (bench caches key on it)
WAVE_SR = 2000
WAVE_MAX_S = 4.0  # of the audible span compared (bounded cost, and speed drift)
WAVE_SPEED_STEP = 0.0005
WAVE_SPEED_SPAN = 0.012  # +- around the speed the picture alignment found


def _audible_wave(signal: Signal, sr: int, max_s: float) -> np.ndarray:
    """Mono at ``sr`` Hz, the audible span (4 ms frames within EDGE_DB of the peak), at most
    ``max_s`` seconds of it, unit RMS. Shape (n,), float32."""
    from tonearm.core.audio.resample import resample

    if not np.any(signal.samples):
        return np.zeros(0, np.float32)
    y = resample(signal.mono(), signal.sr, sr)
    hop = sr // 250  # 4 ms
    n = len(y) // hop
    if n == 0:
        return np.zeros(0, np.float32)
    env = 10 * np.log10(np.maximum((y[: n * hop].reshape(n, hop) ** 2).mean(axis=1), 1e-20))
    loud = np.flatnonzero(env >= env.max() - EDGE_DB)
    y = y[loud[0] * hop : (loud[-1] + 1) * hop][: int(max_s * sr)]
    rms = float(np.sqrt(np.mean(y**2))) if y.size else 0.0
    return (y / rms).astype(np.float32) if rms > 0 else y.astype(np.float32)


def wave_print(signal: Signal) -> np.ndarray:
    """The waveform the copy check compares: mono, 2 kHz, the audible span (frames within
    EDGE_DB of the peak), at most WAVE_MAX_S seconds, unit RMS. Shape (n,), float32."""
    return _audible_wave(signal, WAVE_SR, WAVE_MAX_S)


WAVE_HI_SR = 8000
WAVE_HI_MAX_S = 1.0


def wave_print_hi(signal: Signal) -> np.ndarray:
    """:func:`wave_print` at 8 kHz over at most the first WAVE_HI_MAX_S seconds of the
    audible span: a click or chirp whose energy sits above 1 kHz has almost nothing left in
    the 2 kHz print (a 0.2 s menu click trimmed by 10 ms scored .58 against itself there,
    .96 here). Shape (n,), float32."""
    return _audible_wave(signal, WAVE_HI_SR, WAVE_HI_MAX_S)


def wave_score(a: np.ndarray, b: np.ndarray, speed: float = 1.0, min_cover: float = 0.6) -> float:
    """Best waveform correlation of two :func:`wave_print` over lags and speeds within
    WAVE_SPEED_SPAN of ``speed``: near 1 only when one is the other re-encoded, resampled,
    level-changed, trimmed or played faster; another take of a similar sound (another
    footstep, another engine run) does not line up sample by sample."""
    from scipy.signal import resample as fft_resample

    if len(a) == 0 or len(b) == 0:
        return 0.0

    def at(s: float) -> float:
        # band-limited resampling: linear interpolation would blur the top octave and
        # cost a true copy its sample-level match
        n = max(2, int(round(len(b) / s)))
        bs = b if n == len(b) else np.asarray(fft_resample(b, n), np.float32)
        return _best_lag_corr(a[:, None], bs[:, None], min_cover, refine=True)

    # coarse then fine: the picture alignment's speed is only good to a grid step, and the
    # waveforms line up only within a fraction of a per mille
    coarse = [speed + d for d in np.arange(-WAVE_SPEED_SPAN, WAVE_SPEED_SPAN + 1e-9, 0.002)]
    coarse.append(1.0)
    scored = {round(s, 6): at(s) for s in coarse}
    s0 = max(scored, key=lambda k: scored[k])
    for d in np.arange(-0.0015, 0.0016, WAVE_SPEED_STEP):
        s = round(s0 + d, 6)
        if s not in scored:
            scored[s] = at(s)
    best = max(scored.values())
    return best
