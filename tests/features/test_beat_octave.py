"""Tempo octave in a near tie: BeatNet's beat activation picks a tempo or its double."""

from __future__ import annotations

import numpy as np

from tonearm.core.features.beats import estimate_tempo

FPS = 100.0
N_FRAMES = 6000  # 60 s


def pulses(period: int, amps: list[float]) -> np.ndarray:
    """An activation with a 3-frame-wide pulse every ``period`` frames, heights cycling ``amps``."""
    a = np.zeros(N_FRAMES)
    k = np.arange(-4, 5)
    g = np.exp(-0.5 * (k / 1.5) ** 2)
    for j, t in enumerate(range(20, N_FRAMES - 5, period)):
        a[t + k] += amps[j % len(amps)] * g
    return a + 0.02


def tempo(act: np.ndarray, net: np.ndarray | None = None) -> float:
    return estimate_tempo(act, FPS, preferred_bpm=135.0, third_penalty=0.3, net=net)


# Pulses every 35 frames (171 BPM) that alternate loud and soft: the autocorrelation scores
# 171 and 86 BPM within a few per cent of each other, like DearJonDoe and DirtyLove on LMMS.
SLOW_NET = pulses(70, [1.0])  # the network fires on every other pulse: 86 BPM
FAST_NET = pulses(35, [1.0])  # on every pulse: 171 BPM


def test_a_near_tie_goes_to_the_level_the_network_beats_at() -> None:
    near_fast = pulses(35, [1.0, 0.5])  # 171 ahead by ~8 %
    near_slow = pulses(35, [1.0, 0.4])  # 86 ahead by ~3 %
    assert abs(tempo(near_fast) - 171.4) < 2 and abs(tempo(near_slow) - 85.7) < 1
    assert abs(tempo(near_fast, SLOW_NET) - 85.7) < 1
    assert abs(tempo(near_slow, FAST_NET) - 171.4) < 2
    # the network agreeing with the estimate keeps it
    assert abs(tempo(near_fast, FAST_NET) - 171.4) < 2
    assert abs(tempo(near_slow, SLOW_NET) - 85.7) < 1


def test_a_clear_octave_is_not_overruled_by_the_network() -> None:
    clear = pulses(35, [1.0, 0.7])  # 171 ahead by ~20 %
    assert abs(tempo(clear, SLOW_NET) - 171.4) < 2
    flat = pulses(70, [1.0])  # 86 BPM, nothing at 171
    assert abs(tempo(flat, FAST_NET) - 85.7) < 1
