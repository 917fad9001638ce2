"""Median-filter harmonic/percussive separation of a magnitude spectrogram (Fitzgerald, 2010).

The same result, bit for bit, as ``librosa.decompose.hpss(S, kernel_size=k)`` on a real
magnitude spectrogram (margin 1, power 2, soft masks), several times faster: scipy's
median filter over a 2-D array with a (1, k) or (k, 1) footprint takes its generic N-d
path, while one row at a time it takes the 1-D running-median path (same values, same
``reflect`` edges).
"""

from __future__ import annotations

import numpy as np


def median_filter_axis(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Running median of ``size`` values along one axis of a 2-D array, ``reflect`` edges.

    Parameters
    ----------
    x : np.ndarray, shape (n_rows, n_cols)
    size : int
        Filter length, in cells.
    axis : int
        0: along each column; 1: along each row.

    Returns
    -------
    np.ndarray, same shape and dtype as ``x``; equal to
    ``scipy.ndimage.median_filter(x, size=(1, size) or (size, 1), mode="reflect")``.
    """
    from scipy.ndimage import median_filter

    rows = x if axis == 1 else x.T
    if rows.shape[1] < 64:  # short rows: one call beats a Python loop over them
        return median_filter(x, size=(1, size) if axis == 1 else (size, 1), mode="reflect")
    out = np.empty(rows.shape, dtype=x.dtype)
    for i in range(rows.shape[0]):
        out[i] = median_filter(np.ascontiguousarray(rows[i]), size=size, mode="reflect")
    return out if axis == 1 else out.T


def hpss(mag: np.ndarray, kernel_size: int = 31) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive parts of a magnitude spectrogram.

    Parameters
    ----------
    mag : np.ndarray, shape (n_bins, n_frames)
        Magnitudes (real, >= 0), frequency on axis 0 as librosa lays them out.
    kernel_size : int
        Median filter length in frames (harmonic) and in bins (percussive).

    Returns
    -------
    harmonic, percussive : np.ndarray, shape (n_bins, n_frames)
        ``mag`` times soft masks (Wiener, power 2) that sum to one in each cell.
    """
    import librosa

    harm = median_filter_axis(mag, kernel_size, axis=1)
    perc = median_filter_axis(mag, kernel_size, axis=0)
    mask_harm = librosa.util.softmask(harm, perc, power=2.0, split_zeros=True)
    mask_perc = librosa.util.softmask(perc, harm, power=2.0, split_zeros=True)
    return mag * mask_harm, mag * mask_perc
