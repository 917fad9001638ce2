"""Audible-sound boundaries: where a clip's sound starts and ends above its noise floor.

Levels are measured on short frames (``frame_s``), the noise floor is estimated from the
quietest frames, and a frame counts as sound when it stands clearly above both the floor
(``floor_margin_db``) and a level relative to the loudest frame (``peak_range_db``). Isolated
blips shorter than ``min_sound_s`` inside silence are ignored, so a hiss crackle or a
single dithering spike does not move the boundaries; a click that *is* the sound still
counts because it is the loudest thing in the clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SoundBounds:
    """Audible span in seconds (``None`` for a silent clip)."""

    start_s: float | None
    end_s: float | None
    noise_floor_db: float | None  # dBFS of the estimated floor


def frame_levels_db(y: np.ndarray, sr: int, frame_s: float, hop_s: float) -> np.ndarray:
    """RMS level per frame in dBFS, shape (n_frames,); frame i covers
    ``[i*hop_s, i*hop_s + frame_s)``."""
    frame = max(1, int(round(frame_s * sr)))
    hop = max(1, int(round(hop_s * sr)))
    n = y.shape[-1]
    if n < frame:
        y = np.pad(y, (0, frame - n))
        n = frame
    n_frames = 1 + (n - frame) // hop
    # cumulative sum of squares: O(n) for any frame length
    c = np.concatenate([[0.0], np.cumsum(np.asarray(y, dtype=np.float64) ** 2)])
    starts = np.arange(n_frames) * hop
    ms = (c[starts + frame] - c[starts]) / frame
    return np.asarray(10 * np.log10(np.maximum(ms, 1e-20)), dtype=np.float64)


def sound_bounds(
    samples: np.ndarray,
    sr: int,
    *,
    frame_s: float = 0.010,
    hop_s: float = 0.005,
    floor_margin_db: float = 12.0,
    peak_range_db: float = 60.0,
    min_sound_s: float = 0.015,
    floor_percentile: float = 5.0,
) -> SoundBounds:
    """Start and end of the audible sound.

    Parameters
    ----------
    samples : np.ndarray, shape (n_channels, n_samples) or (n_samples,)
    sr : int
        Sample rate in Hz.
    frame_s, hop_s : float
        Level frame length and hop in seconds.
    floor_margin_db : float
        Sound must be this far above the estimated noise floor.
    peak_range_db : float
        ... and no more than this far below the loudest frame.
    min_sound_s : float
        Shortest run of loud frames that counts when it is not the loudest part.
    floor_percentile : float
        Percentile of frame levels taken as the noise floor.

    Returns
    -------
    SoundBounds
        ``start_s`` is rounded down and ``end_s`` up to the frame grid, clamped to the clip.
    """
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    duration = x.shape[1] / sr
    if x.size == 0 or not np.any(x):
        return SoundBounds(None, None, None)
    # loudest channel per frame: sound in one channel is sound
    lv = np.max(np.stack([frame_levels_db(ch, sr, frame_s, hop_s) for ch in x]), axis=0)
    peak = float(lv.max())
    floor = float(np.percentile(lv, floor_percentile))
    threshold = max(floor + floor_margin_db, peak - peak_range_db, -100.0)
    if threshold >= peak:  # nothing stands out (steady noise or tone): all of it is "sound"
        return SoundBounds(0.0, round(duration, 4), round(floor, 2))
    loud = lv > threshold
    # drop short runs that are not the peak itself (crackle in the noise)
    min_frames = max(1, int(round(min_sound_s / hop_s)))
    idx = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    runs = list(zip(idx[::2], idx[1::2], strict=True))
    peak_frame = int(np.argmax(lv))
    kept = [(a, b) for a, b in runs if b - a >= min_frames or a <= peak_frame < b]
    first, last = kept[0][0], kept[-1][1] - 1
    start = float(first * hop_s)
    end = float(min(duration, last * hop_s + frame_s))
    return SoundBounds(round(start, 4), round(end, 4), round(floor, 2))
