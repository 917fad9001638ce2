"""Pulse check: an even fast drum pulse is not halved; off-beats and backbeats are left alone."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.core.features.beats import MAX_BPM, pulse_level, pulse_midpoint_ratios, track_beats

SR = 22050


def drum_pulse(bpm: float, duration_s: float, *, accent: float, backbeat: float) -> np.ndarray:
    """The same kick, snare noise, 700 Hz tick and hat on every beat at ``bpm``.

    Every other beat also gets a 250 Hz tone of gain ``accent`` (between the drum bands:
    a bass line that moves at half the tempo) and snare gain ``backbeat``.
    """
    rng = np.random.default_rng(0)
    n = int(0.12 * SR)
    t = np.arange(n) / SR
    noise = rng.standard_normal(n)
    kick = np.sin(2 * np.pi * (60 + 60 * np.exp(-t / 0.02)) * t) * np.exp(-t / 0.05)
    snare = np.convolve(noise, [1, 0, -1], "same") * np.exp(-t / 0.04) * 0.3
    hat = np.diff(noise, 2, prepend=[0, 0]) * np.exp(-t / 0.015) * 0.15
    tick = np.sin(2 * np.pi * 700 * t) * np.exp(-t / 0.04) * 0.3
    bass = np.sin(2 * np.pi * 250 * t) * np.exp(-t / 0.08)
    y = np.zeros(int(duration_s * SR), dtype=np.float32)
    for k, s in enumerate(np.arange(0.1, duration_s - 0.2, 60.0 / bpm)):
        i = int(s * SR)
        m = min(n, len(y) - i)
        hit = kick + hat + tick + (snare if k % 2 == 0 else backbeat * snare)
        if k % 2 == 0:
            hit = hit + accent * bass
        y[i : i + m] += 0.3 * hit[:m].astype(np.float32)
    return y


@pytest.mark.parametrize("activation", ["dsp", "auto"])
def test_an_even_fast_drum_pulse_is_not_halved(activation: str) -> None:
    # every drum band hits every beat at 200 BPM; the bass note every other beat and the
    # octave prior (centred at 135) would pull the estimate to 100
    b = track_beats(drum_pulse(200.0, 30.0, accent=1.0, backbeat=1.0), SR, activation=activation)
    assert abs(b.bpm - 200.0) / 200.0 < 0.04


def test_a_backbeat_keeps_the_slower_level() -> None:
    # the snare three times as loud every other beat: a backbeat at 100 BPM, not 200
    b = track_beats(drum_pulse(200.0, 30.0, accent=1.0, backbeat=3.0), SR, activation="dsp")
    assert abs(b.bpm - 100.0) / 100.0 < 0.04


def _bands(frames: np.ndarray, at_mid: list[float], n_frames: int) -> np.ndarray:
    """Two bands with peaks of 1 at ``frames`` and ``at_mid[b]`` at their midpoints."""
    bands = np.zeros((n_frames, len(at_mid)))
    mids = ((frames[:-1] + frames[1:]) // 2).astype(np.int64)
    for b, g in enumerate(at_mid):
        bands[frames, b] = 1.0
        bands[mids, b] = g
    return bands


def test_pulse_level_doubles_only_an_even_pulse_in_range() -> None:
    fps = 100.0
    frames = np.arange(20, 3000, 60)  # 100 BPM
    n = 3100
    r = pulse_midpoint_ratios(frames, _bands(frames, [1.0, 0.5], n))
    assert r == pytest.approx([1.0, 0.5])
    assert pulse_level(frames, _bands(frames, [1.0, 0.95], n), fps) == pytest.approx(200.0)
    # an off-beat: weaker at the midpoints in one band
    assert pulse_level(frames, _bands(frames, [1.0, 0.6], n), fps) == 0.0
    # an accent of the midpoints' own (a backbeat, or beats half a beat off)
    mids = _bands(frames, [1.0, 1.0], n)
    mids[((frames[:-1] + frames[1:]) // 2), 1] = 2.0
    mids = mids / mids.max(axis=0)
    assert pulse_level(frames, mids, fps) == 0.0
    # the double would be faster than the tracker's range
    fast = np.arange(20, 3000, 26)  # 231 BPM doubled
    assert 2 * 60 * fps / 26 > MAX_BPM
    assert pulse_level(fast, _bands(fast, [1.0, 1.0], n), fps) == 0.0
    # too few beats to say, or one band only
    assert pulse_level(frames[:10], _bands(frames[:10], [1.0, 1.0], n), fps) == 0.0
    assert pulse_level(frames, _bands(frames, [1.0], n), fps) == 0.0
