"""Test-signal helpers: exact click positions, noise colours, tones."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.demo.synth import NOISE_COLORS, click_track, noise, tone


def test_click_track_onsets_are_sample_exact() -> None:
    sr = 22050
    beats = np.array([0.0, 0.5, 1.013, 1.5001, 2.25])
    sig = click_track(beats, 3.0, sr)
    y = sig.mono()
    assert sig.sr == sr and sig.n_samples == 3 * sr
    for bt in beats:
        a = int(round(bt * sr))
        assert y[a - 1] == 0.0 or a == 0
        # sine clicks start at phase 0, so the first non-zero sample is right after onset
        nz = np.flatnonzero(np.abs(y[a : a + 20]) > 1e-6)
        assert nz.size and nz[0] <= 1


def test_click_track_drops_beats_outside_and_accents() -> None:
    sr = 8000
    sig = click_track(np.array([-1.0, 0.25, 0.75, 5.0]), 1.0, sr, accent_every=2)
    y = sig.mono()
    assert sig.duration_s == pytest.approx(1.0)
    spec_a = np.abs(np.fft.rfft(y[2000:2160]))
    spec_b = np.abs(np.fft.rfft(y[6000:6160]))
    freqs = np.fft.rfftfreq(160, 1 / sr)
    # accents count over the given beats: index 0 (dropped) and 2 (0.75 s) are accents
    assert freqs[spec_b.argmax()] == pytest.approx(2 * freqs[spec_a.argmax()], rel=0.1)


def _slope_db_per_octave(y: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / sr)
    bands = [(100 * 2**k, 100 * 2 ** (k + 1)) for k in range(6)]
    p = [10 * np.log10(spec[(f >= lo) & (f < hi)].mean()) for lo, hi in bands]
    return float(np.polyfit(np.arange(len(p)), p, 1)[0])


@pytest.mark.parametrize(
    ("color", "slope"), [("white", 0), ("pink", -3), ("brown", -6), ("blue", 3), ("violet", 6)]
)
def test_noise_colours_have_their_spectral_slope(color: str, slope: float) -> None:
    sig = noise(4.0, 22050, color, seed=1)
    assert np.max(np.abs(sig.samples)) == pytest.approx(0.5, rel=1e-4)
    assert _slope_db_per_octave(sig.mono(), 22050) == pytest.approx(slope, abs=1.0)


def test_noise_is_deterministic_and_rejects_unknown_colour() -> None:
    a, b = noise(1.0, 8000, "pink", seed=3), noise(1.0, 8000, "pink", seed=3)
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, noise(1.0, 8000, "pink", seed=4).samples)
    assert set(NOISE_COLORS) >= {"white", "pink", "brown"}
    with pytest.raises(ValueError):
        noise(1.0, 8000, "purple")


def test_tone_frequency() -> None:
    sig = tone(440.0, 1.0, 22050)
    spec = np.abs(np.fft.rfft(sig.mono()))
    assert np.fft.rfftfreq(sig.n_samples, 1 / 22050)[spec.argmax()] == pytest.approx(440, abs=1)
