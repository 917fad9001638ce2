"""Instrument voices: one note (or one hit) in, a mono float32 array out.

Voices are deliberately cheap (a few vectorised numpy operations per note) so that a
whole demo catalog renders in seconds. Pitched voices take a MIDI note number; every
voice takes ``duration_s`` (sounding length, release included) and ``sr`` in Hz.
"""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from tonearm.demo.synth.basic import (
    adsr,
    bandpass,
    exp_decay,
    highpass,
    lowpass,
    midi_to_hz,
    n_samples_for,
    noise_array,
    osc,
    soft_clip,
)


def _hz(note: float) -> float:
    return float(midi_to_hz(note))


# ---------------------------------------------------------------- drums


def kick(
    sr: int, *, velocity: float = 1.0, decay_s: float = 0.28, punch: float = 1.0
) -> np.ndarray:
    """Kick drum: a sine sweeping ~150 -> 48 Hz with a short click at the very start."""
    n = n_samples_for(decay_s * 1.6, sr)
    t = np.arange(n) / sr
    f = 48.0 + 110.0 * punch * np.exp(-t / 0.035)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay_s)
    click = np.exp(-t / 0.002) * 0.5
    return (velocity * (body + click)).astype(np.float32)


def snare(
    sr: int, rng: np.random.Generator, *, velocity: float = 1.0, decay_s: float = 0.12
) -> np.ndarray:
    """Snare: band-passed noise burst over a 185 Hz tone."""
    n = n_samples_for(decay_s * 2.5, sr)
    t = np.arange(n) / sr
    nz = bandpass(noise_array(n, "white", rng), 1200.0, min(9000.0, sr * 0.45), sr)
    body = 0.5 * np.sin(2 * np.pi * 185.0 * t) * np.exp(-t / 0.05)
    y = 0.9 * nz * np.exp(-t / decay_s) + body
    return (velocity * y).astype(np.float32)


def hihat(
    sr: int, rng: np.random.Generator, *, velocity: float = 1.0, open_: bool = False
) -> np.ndarray:
    """Hi-hat: high-passed noise, closed (30 ms) or open (250 ms)."""
    decay_s = 0.25 if open_ else 0.03
    n = n_samples_for(decay_s * 3, sr)
    y = highpass(noise_array(n, "white", rng), min(7000.0, sr * 0.3), sr, order=2)
    return (velocity * 0.6 * y * exp_decay(n, sr, decay_s)).astype(np.float32)


def clap(sr: int, rng: np.random.Generator, *, velocity: float = 1.0) -> np.ndarray:
    """Hand clap: three quick noise bursts then a short tail, band-passed around 1.5 kHz."""
    n = n_samples_for(0.25, sr)
    t = np.arange(n) / sr
    env = np.zeros(n)
    for k, off in enumerate((0.0, 0.011, 0.022)):
        tt = t - off
        env += np.where(tt >= 0, np.exp(-np.maximum(tt, 0) / (0.006 if k < 2 else 0.07)), 0.0)
    y = bandpass(noise_array(n, "white", rng), 900.0, 2600.0, sr) * env
    return (velocity * 1.4 * y).astype(np.float32)


def rim(sr: int, *, velocity: float = 1.0) -> np.ndarray:
    """Rim shot / side stick: a very short 1.7 kHz + 800 Hz ping."""
    n = n_samples_for(0.06, sr)
    t = np.arange(n) / sr
    y = (np.sin(2 * np.pi * 1700 * t) + 0.6 * np.sin(2 * np.pi * 820 * t)) * np.exp(-t / 0.012)
    return (velocity * 0.6 * y).astype(np.float32)


def ride(sr: int, rng: np.random.Generator, *, velocity: float = 1.0) -> np.ndarray:
    """Ride cymbal: metallic inharmonic partials plus band-passed noise, long tail."""
    n = n_samples_for(0.6, sr)
    t = np.arange(n) / sr
    partials = sum(np.sin(2 * np.pi * f * t) for f in (3150.0, 4270.0, 5130.0, 6660.0))
    nz = bandpass(noise_array(n, "white", rng), 4000.0, min(10000.0, sr * 0.45), sr)
    y = (0.08 * partials + 0.4 * nz) * np.exp(-t / 0.25)
    return (velocity * y).astype(np.float32)


def timpani(note: float, sr: int, *, velocity: float = 1.0, decay_s: float = 1.0) -> np.ndarray:
    """Timpani: low drum partials (1, 1.5, 1.98) with a soft mallet thump."""
    n = n_samples_for(decay_s * 2.0, sr)
    t = np.arange(n) / sr
    f0 = _hz(note)
    y = np.zeros(n)
    for ratio, amp, dec in ((1.0, 1.0, decay_s), (1.5, 0.5, decay_s * 0.6), (1.98, 0.3, 0.3)):
        y += amp * np.sin(2 * np.pi * f0 * ratio * t) * np.exp(-t / dec)
    y += 0.4 * np.exp(-t / 0.01) * np.sin(2 * np.pi * 70 * t)
    return (velocity * 0.7 * y).astype(np.float32)


def chip_noise(
    sr: int, rng: np.random.Generator, *, velocity: float = 1.0, decay_s: float = 0.06
) -> np.ndarray:
    """8-bit noise-channel drum: sample-and-hold noise (coarse, 'crunchy') with a fast decay."""
    n = n_samples_for(decay_s * 3, sr)
    hold = max(1, sr // 11000)
    steps = rng.choice([-1.0, 1.0], size=n // hold + 1)
    y = np.repeat(steps, hold)[:n] * exp_decay(n, sr, decay_s)
    return (velocity * 0.5 * y).astype(np.float32)


def chip_kick(sr: int, *, velocity: float = 1.0) -> np.ndarray:
    """8-bit kick: a square wave diving from 220 to 50 Hz."""
    n = n_samples_for(0.12, sr)
    t = np.arange(n) / sr
    f = 50.0 + 170.0 * np.exp(-t / 0.02)
    ph = np.cumsum(f) / sr
    y = np.where((ph % 1.0) < 0.5, 1.0, -1.0) * exp_decay(n, sr, 0.05)
    return (velocity * 0.6 * y).astype(np.float32)


# ---------------------------------------------------------------- pitched voices


def sine_keys(note: float, duration_s: float, sr: int, *, velocity: float = 1.0) -> np.ndarray:
    """Electric-piano-like keys: FM bell (ratio 1:1, decaying index) with a soft decay."""
    n = n_samples_for(duration_s, sr)
    t = np.arange(n) / sr
    f = _hz(note)
    index = 1.8 * np.exp(-t / 0.25)
    y = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t))
    y += 0.2 * np.sin(2 * np.pi * 2 * f * t) * np.exp(-t / 0.4)
    return (velocity * y * adsr(n, sr, 0.004, 0.9, 0.25, 0.08)).astype(np.float32)


def piano(note: float, duration_s: float, sr: int, *, velocity: float = 1.0) -> np.ndarray:
    """Piano-ish: a few slightly inharmonic decaying partials (higher ones decay faster)."""
    n = n_samples_for(duration_s, sr)
    t = np.arange(n) / sr
    f = _hz(note)
    y = np.zeros(n)
    for k in range(1, 7):
        fk = f * k * np.sqrt(1 + 0.0004 * k * k)
        if fk >= sr / 2:
            break
        y += (0.7**k) * np.sin(2 * np.pi * fk * t) * np.exp(-t * (1.2 + 0.8 * k))
    return (velocity * y * adsr(n, sr, 0.002, 2.0, 1.0, 0.06)).astype(np.float32)


def pluck(
    note: float,
    duration_s: float,
    sr: int,
    *,
    seed: int = 0,
    velocity: float = 1.0,
    brightness: float = 0.5,
) -> np.ndarray:
    """Karplus-Strong plucked string (acoustic guitar / harp), vectorised with ``lfilter``.

    The excitation noise comes from ``seed``, so equal notes sound equal (and cache).
    """
    rng = np.random.default_rng(seed)
    n = n_samples_for(duration_s, sr)
    period = max(2, int(round(sr / _hz(note))))
    burst = np.zeros(n)
    b = min(n, period)
    burst[:b] = rng.uniform(-1, 1, b)
    if brightness < 1.0:
        burst[:b] = lowpass(burst[:b], 1500 + 8000 * brightness, sr, order=1)
    a = np.zeros(period + 2)
    a[0] = 1.0
    loss = 0.996
    a[period] = -loss * 0.5
    a[period + 1] = -loss * 0.5
    y = sps.lfilter([1.0], a, burst)
    y *= adsr(n, sr, 0.0005, 10.0, 1.0, 0.05)
    return (velocity * 0.8 * y / (np.max(np.abs(y)) or 1.0)).astype(np.float32)


def synth_voice(
    note: float,
    duration_s: float,
    sr: int,
    *,
    wave: str = "saw",
    velocity: float = 1.0,
    detune_cents: float = 0.0,
    cutoff_hz: float | None = None,
    attack_s: float = 0.005,
    decay_s: float = 0.3,
    sustain: float = 0.7,
    release_s: float = 0.05,
    duty: float = 0.5,
    vibrato_hz: float = 0.0,
    vibrato_cents: float = 0.0,
) -> np.ndarray:
    """Subtractive synth voice: 1-2 detuned oscillators, optional low-pass, ADSR.

    Used for saw bass, supersaw leads, pads (long attack), chiptune square/pulse
    (``cutoff_hz=None``) and triangle bass.
    """
    n = n_samples_for(duration_s, sr)
    f = _hz(note)
    if vibrato_hz > 0 and vibrato_cents > 0:
        t = np.arange(n) / sr
        freq: float | np.ndarray = f * 2 ** (
            vibrato_cents / 1200 * np.sin(2 * np.pi * vibrato_hz * t)
        )
    else:
        freq = f
    y = osc(wave, freq, duration_s, sr, duty=duty)
    if detune_cents:
        y = 0.5 * (
            y + osc(wave, np.asarray(freq) * 2 ** (detune_cents / 1200), duration_s, sr, duty=duty)
        )
    if cutoff_hz is not None:
        y = lowpass(y, cutoff_hz, sr)
    return (velocity * y * adsr(n, sr, attack_s, decay_s, sustain, release_s)).astype(np.float32)


def additive(
    note: float,
    duration_s: float,
    sr: int,
    *,
    harmonics: tuple[float, ...],
    velocity: float = 1.0,
    attack_s: float = 0.08,
    release_s: float = 0.15,
    vibrato_hz: float = 5.0,
    vibrato_cents: float = 12.0,
    bright_attack: float = 0.0,
) -> np.ndarray:
    """Additive voice (strings, brass, flute, organ): given harmonic amplitudes.

    ``bright_attack`` > 0 makes upper harmonics swell with the attack (brass "blat").
    """
    n = n_samples_for(duration_s, sr)
    t = np.arange(n) / sr
    f0 = _hz(note)
    vib = 2 ** (vibrato_cents / 1200 * np.sin(2 * np.pi * vibrato_hz * t)) if vibrato_cents else 1.0
    ph = 2 * np.pi * f0 * np.cumsum(np.broadcast_to(vib, (n,))) / sr
    y = np.zeros(n)
    env_bright = 1.0 - np.exp(-t / max(bright_attack, 1e-3)) if bright_attack else None
    for k, amp in enumerate(harmonics, start=1):
        if f0 * k >= sr / 2 or amp == 0:
            continue
        h = amp * np.sin(k * ph)
        if env_bright is not None and k > 2:
            h = h * env_bright
        y += h
    return (velocity * y * adsr(n, sr, attack_s, 0.5, 0.85, release_s)).astype(np.float32)


STRINGS_HARMONICS = tuple(1.0 / k for k in range(1, 13))
BRASS_HARMONICS = (1.0, 0.9, 0.75, 0.6, 0.5, 0.42, 0.35, 0.28, 0.22, 0.17, 0.13, 0.1)
FLUTE_HARMONICS = (1.0, 0.25, 0.1, 0.04)
ORGAN_HARMONICS = (1.0, 0.7, 0.0, 0.5, 0.0, 0.3, 0.0, 0.25)


def power_chord(
    note: float,
    duration_s: float,
    sr: int,
    *,
    velocity: float = 1.0,
    drive: float = 6.0,
    palm_mute: bool = False,
) -> np.ndarray:
    """Distorted guitar power chord (root, fifth, octave of detuned saws through tanh)."""
    n = n_samples_for(duration_s, sr)
    y = np.zeros(n, dtype=np.float32)
    for iv, det in ((0, 0.0), (7, 4.0), (12, -3.0)):
        y += synth_voice(
            note + iv + det / 100, duration_s, sr, wave="saw", sustain=1.0, decay_s=1.0
        )
    y = soft_clip(0.4 * y, drive)
    y = lowpass(y, 2400.0 if palm_mute else 4200.0, sr, order=2)
    env = adsr(n, sr, 0.003, 0.08 if palm_mute else 1.2, 0.2 if palm_mute else 0.75, 0.04)
    return (velocity * 0.6 * y * env).astype(np.float32)
