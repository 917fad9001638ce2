"""MIR fields: loudness and true peak against EBU Tech 3341 signals (synthesized from the
spec), sound bounds against a noise floor, and the ``mir`` analyzer's output."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.core.audio.bounds import sound_bounds
from tonearm.core.audio.loudness import integrated_loudness, true_peak_dbtp
from tonearm.core.audio.signal import Signal
from tonearm.discovery.analyzer import MirAnalyzer

SR = 48000


def sine(freq_hz: float, level_dbfs: float, dur_s: float, phase_deg: float = 0.0) -> np.ndarray:
    t = np.arange(int(round(dur_s * SR)))
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq_hz * t / SR + np.deg2rad(phase_deg))


def stereo(*segments: tuple[float, float]) -> np.ndarray:
    """1 kHz stereo sine, (level dBFS, seconds) segments back to back (EBU 3341 cases 1-5)."""
    x = np.concatenate([sine(1000, lv, d) for lv, d in segments])
    return np.stack([x, x])


# EBU Tech 3341 (2016), table 1: expected integrated loudness -23.0 (+-0.1) LUFS, except 2
@pytest.mark.parametrize(
    ("case", "segments", "expected"),
    [
        (1, [(-23, 20)], -23.0),
        (2, [(-33, 20)], -33.0),
        (3, [(-36, 10), (-23, 60), (-36, 10)], -23.0),
        (4, [(-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)], -23.0),
        (5, [(-26, 20), (-20, 20.1), (-26, 20)], -23.0),
    ],
)
def test_ebu3341_integrated_loudness(case: int, segments: list, expected: float) -> None:
    lufs = integrated_loudness(stereo(*segments), SR)
    assert lufs is not None
    assert abs(lufs - expected) <= 0.1, f"case {case}: {lufs}"


def test_ebu3341_case6_five_channels() -> None:
    # L, R at -28 dBFS, C at -24 dBFS, Ls, Rs at -30 dBFS (surround weighted 1.41)
    lr, c, s = sine(1000, -28, 20), sine(1000, -24, 20), sine(1000, -30, 20)
    lufs = integrated_loudness(np.stack([lr, lr, c, s, s]), SR)
    assert lufs is not None and abs(lufs - (-23.0)) <= 0.1


def _faded(x: np.ndarray, fade_s: float = 0.02) -> np.ndarray:
    # the spec's signals are stationary sines; a hard onset would add a real (Gibbs) overshoot
    n = int(fade_s * SR)
    w = 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / n)
    y = x.copy()
    y[:n] *= w
    y[-n:] *= w[::-1]
    return y


# EBU Tech 3341 true-peak cases 15-19: sines at fs/4, fs/6, fs/8 with phase offsets so the
# samples miss the peaks; expected within +0.2 / -0.4 dB
@pytest.mark.parametrize(
    ("case", "freq", "phase", "peak_db", "sample_peak_below_db"),
    [
        (15, SR / 4, 0.0, -6.0, 0.0),
        (16, SR / 4, 45.0, -6.0, 3.0),
        (17, SR / 6, 60.0, -6.0, 1.2),
        (18, SR / 8, 67.5, -6.0, 0.6),
        (19, SR / 4, 45.0, 3.0, 3.0),
    ],
)
def test_ebu3341_true_peak(
    case: int, freq: float, phase: float, peak_db: float, sample_peak_below_db: float
) -> None:
    x = _faded(sine(freq, peak_db, 1.0, phase))
    sample_peak_db = 20 * np.log10(np.max(np.abs(x)))
    assert sample_peak_db <= peak_db - sample_peak_below_db + 0.01  # the test has teeth
    tp = true_peak_dbtp(np.stack([x, x]), SR)
    assert tp is not None
    assert peak_db - 0.4 <= tp <= peak_db + 0.2, f"case {case}: {tp}"


def test_true_peak_other_rates_and_silence() -> None:
    for sr in (44100, 96000):
        t = np.arange(sr) / sr
        x = 0.5 * np.sin(2 * np.pi * sr / 4 * 0.9 * t + 0.7)
        tp = true_peak_dbtp(x, sr)
        assert tp is not None and abs(tp - 20 * np.log10(0.5)) < 0.2
    assert true_peak_dbtp(np.zeros((2, 1000)), 44100) is None
    assert true_peak_dbtp(np.zeros((1, 0)), 44100) is None


def test_true_peak_is_the_max_of_the_whole_oversampled_signal() -> None:
    """Skipping quiet blocks and convolving phase by phase give the maximum of the plain
    4x (2x) oversampled signal: a lone click in a quiet file, an intersample over across
    a block edge, several rates and channel counts."""
    from scipy.signal import upfirdn

    from tonearm.core.audio.loudness import _interpolator, oversampling_factor, true_peak

    rng = np.random.default_rng(7)
    for sr, n_ch, n in [(44100, 2, 100_000), (48000, 1, 40_001), (96000, 2, 30_000)]:
        x = (0.01 * rng.standard_normal((n_ch, n))).astype(np.float32)
        at = (1 << 13) - 1  # the last sample of the first block and the first of the next
        x[-1, at : at + 2] = 0.9  # an over between two equal samples
        x[0, n // 2] = -0.95  # a lone click: the loudest sample
        factor = oversampling_factor(sr)
        full = upfirdn(_interpolator(factor), x.astype(np.float64), up=factor, axis=1)
        want = float(np.max(np.abs(full)))
        assert want > 0.95 + 1e-3  # the oversampled peak is above every sample
        assert true_peak(x, sr) == pytest.approx(want, rel=1e-12, abs=0)


def test_loudness_null_for_short_clips_and_silence() -> None:
    assert integrated_loudness(stereo((-20, 1.0)), SR) is None  # too short to be meaningful
    assert integrated_loudness(np.zeros((2, SR * 5)), SR) is None  # all below the gate
    assert integrated_loudness(stereo((-20, 3.5)), SR) is not None


def test_sound_bounds_with_noise_floor() -> None:
    rng = np.random.default_rng(3)
    sr = 44100
    y = 0.002 * rng.standard_normal(3 * sr)  # about -54 dBFS hiss
    body = np.sin(2 * np.pi * 300 * np.arange(sr) / sr) * np.exp(-np.arange(sr) / (0.2 * sr))
    y[int(0.8 * sr) : int(1.8 * sr)] += 0.6 * body
    y[int(2.5 * sr)] += 0.05  # a one-sample crackle in the tail: not sound
    b = sound_bounds(y, sr)
    assert b.start_s is not None and b.end_s is not None
    assert abs(b.start_s - 0.8) <= 0.015
    # the decay falls under the hiss roughly 12 dB above the floor later; it must end
    # before the crackle and well after the attack
    assert 1.0 < b.end_s < 2.0
    assert b.noise_floor_db is not None and -60 < b.noise_floor_db < -48


def test_sound_bounds_edge_cases() -> None:
    sr = 44100
    assert sound_bounds(np.zeros(sr), sr).start_s is None
    click = np.zeros(sr)
    click[sr // 2] = 0.9
    b = sound_bounds(click, sr)
    assert b.start_s is not None and b.end_s is not None
    assert b.start_s <= 0.5 <= b.end_s and b.end_s - b.start_s < 0.05
    full = 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    b = sound_bounds(full, sr)
    assert b.start_s == 0.0 and b.end_s == pytest.approx(1.0, abs=0.01)


def test_mir_analyzer_fields() -> None:
    sr = 44100
    x = np.concatenate([np.zeros(sr // 2), 0.5 * np.sin(2 * np.pi * 440 * np.arange(sr) / sr)])
    r = MirAnalyzer().analyze(Signal(np.stack([x, x]), sr), "sfx")
    d = r.data
    assert set(d) >= {
        "duration",
        "true_peak_dbtp",
        "loudness_lufs",
        "sound_start_sec",
        "sound_end_sec",
    }
    assert d["duration"] == pytest.approx(1.5, abs=1e-3)
    assert d["true_peak_dbtp"] == pytest.approx(-6.02, abs=0.1)
    assert d["loudness_lufs"] is None  # 1.5 s clip
    assert d["sound_start_sec"] == pytest.approx(0.5, abs=0.01)
