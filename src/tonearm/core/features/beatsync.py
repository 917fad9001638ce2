"""Beat-synchronous features: chroma, MFCC and loudness averaged between beat boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonearm.core.features.onset import Spectrogram
from tonearm.core.features.spectral import dct_ii


@dataclass(frozen=True)
class BeatFeatures:
    """Per-segment features; segment ``i`` spans ``boundaries[i]`` to ``boundaries[i + 1]``
    (the last to the end of the audio).

    Attributes
    ----------
    chroma : np.ndarray, shape (n_segments, 12), float32
        Pitch-class energy, each row scaled to max 1 (C = 0).
    mfcc : np.ndarray, shape (n_segments, 13), float32
        Mel-frequency cepstral coefficients (timbre), c0 included.
    loudness : np.ndarray, shape (n_segments,), float32
        Mean log energy, scaled to [0, 1] over the track.
    logmel : np.ndarray, shape (n_segments, n_mels), float32
        Mean log-mel spectrum in dB (floored 80 dB under the track's loudest band).
    """

    chroma: np.ndarray
    mfcc: np.ndarray
    loudness: np.ndarray
    logmel: np.ndarray

    def raw_vectors(self) -> np.ndarray:
        """The 13-value per-beat vectors of Audjust's ``raw_features``: 12 chroma values and
        the loudness, all in [0, 1]. Shape (n_segments, 13), float32."""
        return np.concatenate([self.chroma, self.loudness[:, None]], axis=1).astype(np.float32)


def _segment_means(x: np.ndarray, starts: np.ndarray, n_frames: int) -> np.ndarray:
    """Mean of rows of ``x`` (n_frames, d) over [starts[i], starts[i+1]), empty spans take
    the nearest frame."""
    starts = np.clip(starts, 0, max(n_frames - 1, 0))
    ends = np.append(starts[1:], n_frames)
    ends = np.maximum(ends, starts + 1)
    c = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0, dtype=np.float64)])
    ends = np.minimum(ends, n_frames)
    counts = np.maximum(ends - starts, 1)[:, None]
    return ((c[ends] - c[starts]) / counts).astype(np.float32)


def beat_features(spec: Spectrogram, boundaries_s: np.ndarray) -> BeatFeatures:
    """Features of each segment between consecutive ``boundaries_s`` (seconds, increasing).

    Parameters
    ----------
    spec : Spectrogram
        The spectrogram the beats were tracked on.
    boundaries_s : np.ndarray, shape (n_segments,)

    Returns
    -------
    BeatFeatures
    """
    n_frames = spec.logspec.shape[0]
    starts = np.round(np.asarray(boundaries_s) * spec.fps).astype(np.int64)
    if len(starts) == 0:
        z = np.zeros((0, 12), np.float32)
        return BeatFeatures(
            z,
            np.zeros((0, 13), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, spec.mel.shape[1]), np.float32),
        )
    chroma = _segment_means(spec.chroma, starts, n_frames)
    chroma = chroma / np.maximum(chroma.max(axis=1, keepdims=True), 1e-10)
    logmel = np.log10(1e-8 + spec.mel)
    mfcc = _segment_means(logmel @ dct_ii(spec.mel.shape[1], 13), starts, n_frames)
    db = 10.0 * np.log10(1e-10 + spec.mel)
    if db.size:
        np.maximum(db, float(db.max()) - 80.0, out=db)
    mel_db = _segment_means(db, starts, n_frames)
    energy = _segment_means(np.log10(1e-8 + spec.energy[:, None]), starts, n_frames)
    e = energy[:, 0]
    lo, hi = float(np.percentile(e, 1)), float(e.max())
    loud = np.clip((e - lo) / (hi - lo), 0.0, 1.0) if hi > lo else np.ones_like(e)
    # silent segments have no pitch: flat zero chroma rather than amplified noise
    chroma[loud <= 0.0] = 0.0
    return BeatFeatures(chroma.astype(np.float32), mfcc, loud.astype(np.float32), mel_db)
