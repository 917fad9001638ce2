"""Loudness (ITU-R BS.1770-4 / EBU R128 integrated, LUFS) and true peak (dBTP).

- Integrated loudness: libebur128 through ``pyebur128`` (K-weighting, 400 ms blocks with 75 %
  overlap, absolute -70 LUFS and relative -10 LU gates; histogram mode, so memory stays flat
  on hours-long files). Clips shorter than :data:`MIN_LOUDNESS_S` get ``None``: a single
  gated block says little about how loud a sound is perceived (and AudioScape's own docs say
  "short clips have no reliable LUFS"); digital silence gets ``None`` too.
- True peak: BS.1770-4 Annex 2, in float: 4x oversampling (2x at 96 kHz and above, 1x at
  192 kHz) with a 48-taps-per-phase Kaiser-windowed sinc, max |x| over all channels. Each
  phase is one convolution; blocks that provably cannot exceed the peak found so far
  (their input peak times the filter's L1 gain) are skipped.
"""

from __future__ import annotations

import math

import numpy as np

MIN_LOUDNESS_S = 3.0
_CHUNK = 1 << 18  # input frames per loudness block: bounded memory on long files
_TAPS_PER_PHASE = 48
_TP_BLOCK = 1 << 13  # input frames per true-peak block (a quiet block is skipped)


def oversampling_factor(sr: int) -> int:
    """Per BS.1770-4 Annex 2: 4x up to 96 kHz, 2x up to 192 kHz, then 1x."""
    if sr < 96000:
        return 4
    if sr < 192000:
        return 2
    return 1


def _interpolator(factor: int) -> np.ndarray:
    from scipy.signal import firwin

    n = factor * _TAPS_PER_PHASE
    # cutoff at the original Nyquist: every factor-th tap is a sinc zero, so the original
    # samples pass unchanged (true peak >= sample peak); gain = factor keeps unity passband
    h = firwin(n + 1, 1.0 / factor, window=("kaiser", 9.0)) * factor
    return np.asarray(h, dtype=np.float64)


def true_peak(samples: np.ndarray, sr: int) -> float:
    """Maximum true-peak level as a linear amplitude.

    Parameters
    ----------
    samples : np.ndarray, shape (n_channels, n_samples) or (n_samples,)
        Float samples, full scale = 1.0.
    sr : int
        Sample rate in Hz.

    Returns
    -------
    float
        Linear true peak (``0.0`` for silence). Use :func:`to_dbtp` for dBTP.
    """
    x = np.atleast_2d(np.asarray(samples))
    if x.size == 0:
        return 0.0
    factor = oversampling_factor(sr)
    n = x.shape[1]
    # |x| is exact in the input's own precision: no float64 copy of the whole file
    sample_peak = float(np.max(np.abs(x)))
    if factor == 1 or sample_peak == 0.0:
        return sample_peak
    h = _interpolator(factor)
    phases = [h[p::factor] for p in range(factor)]
    half = len(h) // factor + 1  # input samples of filter support on each side
    delay = (len(h) - 1) // 2  # the filter's group delay, in output samples
    # |y| <= gain * max|x| over the filter's support: a block whose inputs (with their
    # margins) are below best / gain cannot raise the peak and is skipped, exactly
    gain = max(float(np.sum(np.abs(hp))) for hp in phases)
    blocks = [
        (a, min(n, a + _TP_BLOCK), max(0, a - half), min(n, a + _TP_BLOCK + half))
        for a in range(0, n, _TP_BLOCK)
    ]
    bounds = [gain * float(np.max(np.abs(x[:, lo:hi]))) for _a, _b, lo, hi in blocks]
    best = sample_peak
    for i in np.argsort(bounds)[::-1]:  # loudest first: best rises fast, the rest is skipped
        if bounds[i] <= best:
            break
        a, b, lo, hi = blocks[i]
        # output j = p + factor*k of the oversampled signal is phase p's convolution at k;
        # keep this block's outputs only (the edges belong to its neighbours)
        start = (a - lo) * factor + delay
        stop = (b - lo) * factor + delay
        for c in range(x.shape[0]):
            xc = np.asarray(x[c, lo:hi], dtype=np.float64)
            for p, hp in enumerate(phases):
                k0, k1 = -(-(start - p) // factor), -(-(stop - p) // factor)
                y = np.convolve(xc, hp)[k0:k1]
                if y.size:
                    best = max(best, float(np.max(np.abs(y))))
    return best


def to_dbtp(linear: float) -> float | None:
    """20 log10 of a linear peak; ``None`` for silence."""
    return None if linear <= 0.0 else 20.0 * math.log10(linear)


def true_peak_dbtp(samples: np.ndarray, sr: int) -> float | None:
    """True peak in dBTP (``None`` for digital silence). See :func:`true_peak`."""
    return to_dbtp(true_peak(samples, sr))


def _channel_types(n_channels: int) -> list[int]:
    import pyebur128 as e

    ct = e.ChannelType
    if n_channels == 5:  # L R C Ls Rs
        order = [ct.LEFT, ct.RIGHT, ct.CENTER, ct.LEFT_SURROUND, ct.RIGHT_SURROUND]
    elif n_channels == 6:  # WAV / SMPTE 5.1: L R C LFE Ls Rs (LFE is not measured)
        order = [ct.LEFT, ct.RIGHT, ct.CENTER, ct.UNUSED, ct.LEFT_SURROUND, ct.RIGHT_SURROUND]
    else:  # mono, stereo, other layouts: every channel weighted 1.0
        order = [ct.LEFT] * n_channels
    return [int(c) for c in order]


def integrated_loudness(
    samples: np.ndarray, sr: int, min_duration_s: float = MIN_LOUDNESS_S
) -> float | None:
    """Integrated loudness in LUFS (BS.1770-4 gating), or ``None``.

    Parameters
    ----------
    samples : np.ndarray, shape (n_channels, n_samples) or (n_samples,)
    sr : int
        Sample rate in Hz.
    min_duration_s : float
        Shorter clips return ``None`` (not enough blocks to be meaningful).

    Returns
    -------
    float or None
        LUFS; ``None`` for short clips and for signals entirely below the -70 LUFS gate.
    """
    import pyebur128 as e

    x = np.atleast_2d(np.asarray(samples))
    n_ch, n = x.shape
    if n == 0 or n / sr < min_duration_s:
        return None
    mode_i = (1 << 2) | int(e.MeasurementMode.MODE_M) | int(e.MeasurementMode.MODE_HISTOGRAM)
    state = e.R128State(n_ch, sr, mode_i)
    for i, t in enumerate(_channel_types(n_ch)):
        state.set_channel(i, t)
    for a in range(0, n, _CHUNK):
        # float64 frames, interleaved, one block at a time (no copy of the whole file)
        block = np.ascontiguousarray(x[:, a : a + _CHUNK].T, dtype=np.float64).reshape(-1)
        state.add_frames(block, block.size // n_ch)
    lufs = float(e.get_loudness_global(state))
    return lufs if math.isfinite(lufs) else None
