"""Synthesized test songs for the recognition engine: random, non-repeating note sequences.

Non-repeating on purpose: a timecode is only well defined when no passage repeats.
"""

from __future__ import annotations

import numpy as np

from tonearm.core.audio.signal import Signal

SR = 22050


def random_song(seed: int, duration_s: float = 30.0, sr: int = SR) -> Signal:
    """Plucked notes and chords with harmonics, a noise hi-hat, random rhythm."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(duration_s * sr) + sr, np.float32)
    t = 0.0
    while t < duration_s:
        d = float(rng.uniform(0.12, 0.45))
        n = int(d * 1.6 * sr)
        s = int(t * sr)
        tt = np.arange(n) / sr
        env = np.exp(-tt * rng.uniform(3, 9)).astype(np.float32)
        for _ in range(int(rng.integers(1, 4))):
            f0 = 110.0 * 2 ** (int(rng.integers(0, 40)) / 12)
            tone = sum(
                (0.6**h) * np.sin(2 * np.pi * f0 * (h + 1) * tt + rng.uniform(0, 6.28))
                for h in range(4)
            )
            y[s : s + n] += (0.15 * env * tone).astype(np.float32)[: len(y) - s]
        if rng.random() < 0.5:
            m = min(int(0.05 * sr), len(y) - s)
            y[s : s + m] += 0.05 * rng.standard_normal(m).astype(np.float32)
        t += d
    return Signal(y[: int(duration_s * sr)], sr)


def add_noise(sig: Signal, snr_db: float, seed: int = 0) -> Signal:
    y = sig.samples[0]
    noise = np.random.default_rng(seed).standard_normal(len(y)).astype(np.float32)
    noise *= np.sqrt(np.mean(y**2) / np.mean(noise**2)) * 10 ** (-snr_db / 20)
    return Signal(y + noise, sig.sr)
