"""Phase check: on an even pulse the blend's beats follow the spectral flux's phase."""

from __future__ import annotations

import numpy as np

from tonearm.core.features.beats import _decode, even_pulse_phase, half_beat_shift

FPS = 100.0
N = 3000  # 30 s
PERIOD = 50  # 120 BPM
ON = np.arange(25, N - 30, PERIOD)  # the flux's (the music's) beats
OFF = ON[:-1] + PERIOD // 2  # their midpoints


def _peaks(at_on: float, at_off: float) -> np.ndarray:
    x = np.zeros(N)
    for f, g in [(f, at_on) for f in ON] + [(f, at_off) for f in OFF]:
        x[f - 2 : f + 3] = np.maximum(x[f - 2 : f + 3], g * np.array([0.2, 0.6, 1.0, 0.6, 0.2]))
    return x


def _bands(at_off: list[float]) -> np.ndarray:
    """Onsets in every band on the beats (1) and at the midpoints (``at_off``, per band)."""
    return np.stack([_peaks(1.0, g) for g in at_off], axis=1)


def test_blend_on_the_off_beat_moves_to_the_flux_phase() -> None:
    # an even pulse in every band (the drums leave the phase open); the network's half of
    # the blend is twice as strong half a beat off, the flux slightly stronger on the beat:
    # the blend decode sits on the midpoints, the check moves it onto the flux's beats
    flux = _peaks(1.0, 0.9)
    net = _peaks(0.2, 1.0)
    act = (0.5 * (net + flux)).astype(np.float32)
    bands = _bands([1.0, 0.95, 1.05, 1.0])
    without = _decode(act, FPS, bpm_hint=None, kind="blend", bands=bands)
    on_off = np.abs(without.times_s[:, None] * FPS - OFF[None, :]).min(axis=1)
    assert np.median(on_off) <= 1  # the decoder alone picks the network's phase
    beats = _decode(act, FPS, bpm_hint=None, kind="blend", bands=bands, flux=flux)
    err = np.abs(beats.times_s[:, None] * FPS - ON[None, :]).min(axis=1)
    assert np.median(err) <= 1 and len(beats.times_s) >= len(ON) - 2
    assert abs(beats.bpm - 120.0) < 2.0


def test_drums_that_mark_the_beat_keep_the_decoded_phase() -> None:
    frames = OFF.copy()  # decoded half a beat off the flux's stronger peaks
    flux = _peaks(0.9, 1.0)  # stronger at the decoded frames' midpoints (ON)
    # the kick sits on the decoded frames, 0.4 at their midpoints: the drums hold the phase
    bands = np.stack([_peaks(0.4, 1.0), _peaks(1.0, 1.0), _peaks(1.0, 1.0)], axis=1)
    assert np.array_equal(even_pulse_phase(frames, bands, flux), frames)


def test_even_pulse_follows_the_flux_only_when_it_prefers_the_midpoints() -> None:
    bands = _bands([1.0, 1.0, 1.0])
    frames = OFF.copy()
    moved = even_pulse_phase(frames, bands, _peaks(1.0, 0.9))  # flux stronger at ON
    assert np.abs(moved[:, None] - ON[None, :]).min(axis=1).max() <= 1
    kept = even_pulse_phase(frames, bands, _peaks(0.9, 1.0))  # flux stronger on OFF
    assert np.array_equal(kept, frames)
    # fewer than PULSE_MIN_BEATS beats: too little to judge the phase
    assert np.array_equal(even_pulse_phase(frames[:10], bands, _peaks(1.0, 0.9)), frames[:10])


def test_half_beat_shift_adds_ends_inside_the_signal() -> None:
    assert half_beat_shift(np.array([10, 20, 30]), 40).tolist() == [5, 15, 25, 35]
    assert half_beat_shift(np.array([2, 12, 22]), 25).tolist() == [7, 17]
    assert half_beat_shift(np.array([7]), 25).tolist() == [7]
