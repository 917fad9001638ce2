"""Building blocks: oscillators, noise, envelopes, filters and test signals.

Every function is pure and deterministic given its ``rng``/``seed``. Signals are mono
float32 arrays of shape ``(n_samples,)`` unless a docstring says otherwise.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft
from scipy import signal as sps

from tonearm.core.audio.signal import Signal

NOISE_COLORS = ("white", "pink", "brown", "blue", "violet")


def n_samples_for(duration_s: float, sr: int) -> int:
    """Number of samples covering ``duration_s`` seconds at ``sr`` Hz (at least 0)."""
    return max(0, int(round(duration_s * sr)))


def midi_to_hz(note: float | np.ndarray) -> float | np.ndarray:
    """Frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(note, dtype=np.float64) - 69.0) / 12.0)


def phase_cycles(freq_hz: float | np.ndarray, n: int, sr: int) -> np.ndarray:
    """Running phase in cycles, shape (n,), for a constant or per-sample frequency."""
    f = np.broadcast_to(np.asarray(freq_hz, dtype=np.float64), (n,))
    return np.cumsum(f) / sr - f[0] / sr if n else np.zeros(0)


def osc(
    kind: str, freq_hz: float | np.ndarray, duration_s: float, sr: int, *, duty: float = 0.5
) -> np.ndarray:
    """Oscillator: ``sine``, ``saw``, ``square``, ``pulse`` (with ``duty``), ``triangle``.

    Parameters
    ----------
    freq_hz : float or np.ndarray, shape (n_samples,)
        Constant frequency or a per-sample frequency track (glides, vibrato).

    Returns
    -------
    np.ndarray, shape (n_samples,), float32, in [-1, 1].
    """
    n = n_samples_for(duration_s, sr)
    ph = phase_cycles(freq_hz, n, sr)
    frac = ph - np.floor(ph)
    if kind == "sine":
        y = np.sin(2 * np.pi * ph)
    elif kind == "saw":
        y = 2.0 * frac - 1.0
    elif kind == "square":
        y = np.where(frac < 0.5, 1.0, -1.0)
    elif kind == "pulse":
        y = np.where(frac < duty, 1.0, -1.0)
    elif kind == "triangle":
        y = 4.0 * np.abs(frac - 0.5) - 1.0
    else:
        raise ValueError(f"unknown oscillator {kind!r}")
    return y.astype(np.float32)


def tone(
    freq_hz: float,
    duration_s: float,
    sr: int = 22050,
    *,
    amplitude: float = 0.5,
    kind: str = "sine",
) -> Signal:
    """A steady tone as a mono :class:`Signal` (for tests)."""
    return Signal(amplitude * osc(kind, freq_hz, duration_s, sr), sr)


def noise_array(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Coloured noise, shape (n,), float32, normalised to unit peak.

    ``white`` (flat), ``pink`` (-3 dB/oct), ``brown`` (-6 dB/oct), ``blue`` (+3 dB/oct),
    ``violet`` (+6 dB/oct); shaped in the frequency domain so any ``n`` is exact.
    """
    if color not in NOISE_COLORS:
        raise ValueError(f"unknown noise color {color!r}; one of {NOISE_COLORS}")
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    if color == "white":
        w = rng.standard_normal(n)
    else:
        # shape a slightly longer block of FFT-friendly length (prime lengths are slow)
        m = sp_fft.next_fast_len(n, real=True)
        spec = sp_fft.rfft(rng.standard_normal(m))
        f = np.arange(spec.size, dtype=np.float64)
        f[0] = 1.0
        exponent = {"pink": -0.5, "brown": -1.0, "blue": 0.5, "violet": 1.0}[color]
        spec *= f**exponent
        spec[0] = 0.0
        w = sp_fft.irfft(spec, m)[:n]
    peak = float(np.max(np.abs(w))) or 1.0
    return (w / peak).astype(np.float32)


def noise(
    duration_s: float,
    sr: int = 22050,
    color: str = "white",
    *,
    seed: int = 0,
    amplitude: float = 0.5,
) -> Signal:
    """Coloured noise as a mono :class:`Signal` of peak ``amplitude`` (for tests)."""
    rng = np.random.default_rng(seed)
    return Signal(amplitude * noise_array(n_samples_for(duration_s, sr), color, rng), sr)


def click_track(
    beat_times_s: np.ndarray,
    duration_s: float,
    sr: int = 22050,
    *,
    click_hz: float = 1000.0,
    click_s: float = 0.02,
    amplitude: float = 0.8,
    accent_every: int = 0,
) -> Signal:
    """Short decaying sine clicks starting exactly at ``beat_times_s``.

    Parameters
    ----------
    beat_times_s : np.ndarray, shape (n_beats,)
        Click onsets in seconds; those outside [0, duration_s) are dropped.
    accent_every : int
        If > 0, every n-th click (from the first) is an octave higher, as a downbeat.

    Returns
    -------
    Signal, mono, ``duration_s`` long.
    """
    n = n_samples_for(duration_s, sr)
    y = np.zeros(n, dtype=np.float32)
    m = n_samples_for(click_s, sr)
    t = np.arange(m) / sr
    env = np.exp(-t / (click_s / 5.0))
    low = (np.sin(2 * np.pi * click_hz * t) * env).astype(np.float32)
    high = (np.sin(2 * np.pi * 2 * click_hz * t) * env).astype(np.float32)
    for i, bt in enumerate(np.asarray(beat_times_s, dtype=np.float64)):
        a = int(round(bt * sr))
        if a < 0 or a >= n:
            continue
        c = high if accent_every and i % accent_every == 0 else low
        b = min(n, a + m)
        y[a:b] += amplitude * c[: b - a]
    return Signal(y, sr)


# ---------------------------------------------------------------- envelopes


def adsr(
    n: int, sr: int, attack_s: float, decay_s: float, sustain: float, release_s: float
) -> np.ndarray:
    """Linear-attack, exponential-decay ADSR envelope of exactly ``n`` samples, float32.

    The release happens inside the ``n`` samples (the note's sounding length).
    """
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    t = np.arange(n) / sr
    a = max(attack_s, 1.0 / sr)
    env = np.where(
        t < a,
        t / a,
        sustain + (1.0 - sustain) * np.exp(-(t - a) / max(decay_s, 1e-4)),
    )
    rel_n = min(n, n_samples_for(release_s, sr))
    if rel_n > 0:
        env[n - rel_n :] *= np.linspace(1.0, 0.0, rel_n)
    return env.astype(np.float32)


def exp_decay(n: int, sr: int, decay_s: float, attack_s: float = 0.001) -> np.ndarray:
    """Percussive envelope: short linear attack then ``exp(-t/decay_s)``, float32."""
    return adsr(n, sr, attack_s, decay_s, 0.0, min(0.005, n / sr / 4))


# ---------------------------------------------------------------- filters


@lru_cache(maxsize=512)
def _butter(kind: str, order: int, cutoff: tuple[float, ...], sr: int) -> np.ndarray:
    nyq = sr / 2.0
    wn = [min(max(c / nyq, 1e-4), 0.999) for c in cutoff]
    return sps.butter(order, wn if len(wn) > 1 else wn[0], btype=kind, output="sos")


def lowpass(x: np.ndarray, cutoff_hz: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth low-pass (causal), same shape and dtype float32."""
    return sps.sosfilt(_butter("lowpass", order, (float(cutoff_hz),), sr), x).astype(np.float32)


def highpass(x: np.ndarray, cutoff_hz: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth high-pass (causal), float32."""
    return sps.sosfilt(_butter("highpass", order, (float(cutoff_hz),), sr), x).astype(np.float32)


def bandpass(x: np.ndarray, low_hz: float, high_hz: float, sr: int, order: int = 2) -> np.ndarray:
    """Butterworth band-pass (causal), float32."""
    sos = _butter("bandpass", order, (float(low_hz), float(high_hz)), sr)
    return sps.sosfilt(sos, x).astype(np.float32)


def sweep_filter(
    x: np.ndarray, cutoffs_hz: np.ndarray, sr: int, kind: str = "lowpass", block: int = 512
) -> np.ndarray:
    """Time-varying filter: blockwise Butterworth with carried state.

    ``cutoffs_hz`` holds one cutoff per block of ``block`` samples (extra values ignored,
    missing ones repeat the last).
    """
    out = np.empty_like(x, dtype=np.float32)
    zi = np.zeros((1, 2))
    n_blocks = (x.size + block - 1) // block
    for i in range(n_blocks):
        c = float(cutoffs_hz[min(i, len(cutoffs_hz) - 1)])
        sos = _butter(kind, 2, (round(c, -1) or 10.0,), sr)
        seg = x[i * block : (i + 1) * block]
        y, zi = sps.sosfilt(sos, seg, zi=zi)
        out[i * block : i * block + seg.size] = y
    return out


def soft_clip(x: np.ndarray, drive: float = 1.0) -> np.ndarray:
    """tanh saturation normalised so a full-scale input stays near full scale."""
    return (np.tanh(drive * x) / np.tanh(max(drive, 1e-6))).astype(np.float32)


def normalize_peak(x: np.ndarray, peak: float = 0.89) -> np.ndarray:
    """Scale so the absolute peak is ``peak`` (silence stays silence)."""
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (peak / m)).astype(np.float32) if m > 0 else x.astype(np.float32)


def add_at(buf: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``buf`` (last axis) from sample ``start``, cropping at both ends."""
    n = buf.shape[-1]
    if start >= n or start + x.shape[-1] <= 0:
        return
    a = max(0, start)
    skip = a - start
    b = min(n, start + x.shape[-1])
    buf[..., a:b] += gain * x[..., skip : skip + (b - a)]
