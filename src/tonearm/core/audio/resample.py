"""Sample-rate conversion with soxr."""

from __future__ import annotations

import numpy as np
import soxr


def resample(y: np.ndarray, sr_in: int, sr_out: int, quality: str = "HQ") -> np.ndarray:
    """Resample ``y`` from ``sr_in`` to ``sr_out`` Hz.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,) or (n_channels, n_samples)
    sr_in, sr_out : int
        Rates in Hz.
    quality : str
        soxr quality recipe ("QQ", "LQ", "MQ", "HQ", "VHQ").

    Returns
    -------
    np.ndarray, float32, same leading shape as ``y``.
    """
    y = np.asarray(y, dtype=np.float32)
    if sr_in == sr_out:
        return y
    if y.ndim == 1:
        return np.asarray(soxr.resample(y, sr_in, sr_out, quality=quality), dtype=np.float32)
    # soxr wants (frames, channels)
    out = soxr.resample(np.ascontiguousarray(y.T), sr_in, sr_out, quality=quality)
    return np.ascontiguousarray(np.asarray(out, dtype=np.float32).T)
