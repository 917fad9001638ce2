"""Sound effects in UCS-style categories, deterministic by seed.

Each category has its own way of making sound (modal partials for impacts, swept noise
for whooshes, step sequences for footsteps, pure tones for UI...), so categories are
acoustically distinct; variants inside a category share the recipe and differ by seeded
parameters (pitch, length, brightness, count), so they sound alike. Clips get a seeded
amount of leading and trailing silence, so sound start/end detection has work to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.demo.synth.basic import (
    add_at,
    bandpass,
    exp_decay,
    highpass,
    lowpass,
    n_samples_for,
    noise_array,
    normalize_peak,
    osc,
    sweep_filter,
)

Rng = np.random.Generator


@dataclass(frozen=True)
class SfxCategory:
    """A UCS-style category: its name, UCS CatShort, and subcategories with descriptions."""

    name: str
    cat_short: str
    subcategories: dict[str, str]


def _t(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _modal(
    freqs: list[float], decays: list[float], amps: list[float], dur_s: float, sr: int
) -> np.ndarray:
    n = n_samples_for(dur_s, sr)
    t = _t(n, sr)
    y = np.zeros(n)
    for f, d, a in zip(freqs, decays, amps, strict=True):
        if f < sr / 2:
            y += a * np.sin(2 * np.pi * f * t) * np.exp(-t / d)
    return y.astype(np.float32)


def _burst(n: int, sr: int, rng: Rng, decay_s: float, color: str = "white") -> np.ndarray:
    return noise_array(n, color, rng) * exp_decay(n, sr, decay_s)


# ---------------------------------------------------------------- recipes


def _impact_metal(rng: Rng, sr: int) -> np.ndarray:
    f0 = rng.uniform(300, 700)
    ratios = [1.0, 2.76, 5.4, 8.93, 13.3]
    dur = rng.uniform(1.2, 2.5)
    y = _modal(
        [f0 * r * rng.uniform(0.98, 1.02) for r in ratios],
        [dur * 0.5, dur * 0.35, dur * 0.25, dur * 0.15, dur * 0.1],
        [1.0, 0.7, 0.5, 0.35, 0.25],
        dur,
        sr,
    )
    n = y.size
    y += 0.6 * highpass(_burst(n, sr, rng, 0.008), 2000.0, sr)
    return y


def _impact_wood(rng: Rng, sr: int) -> np.ndarray:
    f0 = rng.uniform(180, 420)
    dur = rng.uniform(0.25, 0.5)
    y = _modal([f0, f0 * 2.3, f0 * 4.1], [0.06, 0.03, 0.015], [1.0, 0.5, 0.3], dur, sr)
    y += 0.4 * bandpass(_burst(y.size, sr, rng, 0.01), 500.0, 3000.0, sr)
    return y


def _impact_punch(rng: Rng, sr: int) -> np.ndarray:
    n = n_samples_for(rng.uniform(0.3, 0.5), sr)
    t = _t(n, sr)
    f = rng.uniform(55, 80) + 90 * np.exp(-t / 0.02)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.08)
    slap = bandpass(_burst(n, sr, rng, 0.02), 300.0, 2500.0, sr)
    return (body + 0.7 * slap).astype(np.float32)


def _whoosh(rng: Rng, sr: int, short: bool = False) -> np.ndarray:
    dur = rng.uniform(0.35, 0.6) if short else rng.uniform(0.9, 1.8)
    n = n_samples_for(dur, sr)
    t = _t(n, sr) / dur
    peak = rng.uniform(0.4, 0.65)
    env = np.where(t < peak, (t / peak) ** 2, ((1 - t) / (1 - peak)) ** 1.5)
    lo, hi = (1500.0, 7000.0) if short else (300.0, 2500.0)
    centre = lo + (hi - lo) * np.sin(np.pi * np.clip(t, 0, 1)) ** 2
    x = noise_array(n, "pink" if not short else "white", rng)
    block = 256
    y = sweep_filter(x, centre[::block], sr, kind="lowpass", block=block)
    y = highpass(y, lo * 0.4, sr)
    return (y * env).astype(np.float32)


def _footsteps(rng: Rng, sr: int, surface: str) -> np.ndarray:
    n_steps = int(rng.integers(3, 7))
    interval = rng.uniform(0.45, 0.6)
    n = n_samples_for(interval * n_steps + 0.4, sr)
    y = np.zeros(n, dtype=np.float32)
    for k in range(n_steps):
        start = int((k * interval + rng.uniform(-0.03, 0.03) + 0.02) * sr)
        if surface == "GRAVEL":
            m = n_samples_for(0.16, sr)
            grains = np.zeros(m, dtype=np.float32)
            for _ in range(40):
                g = n_samples_for(rng.uniform(0.002, 0.006), sr)
                p = int(rng.integers(0, m - g))
                grains[p : p + g] += rng.uniform(-1, 1) * np.hanning(g).astype(np.float32)
            step = bandpass(grains + 0.3 * noise_array(m, "white", rng), 800.0, 6000.0, sr)
            step *= exp_decay(m, sr, 0.07)
        elif surface == "WOOD":
            f0 = rng.uniform(140, 220)
            step = _modal([f0, f0 * 2.1], [0.05, 0.02], [1.0, 0.4], 0.2, sr)
            step += 0.2 * bandpass(_burst(step.size, sr, rng, 0.01), 400.0, 2000.0, sr)
        else:  # CONCRETE: heel then toe, dull scuff
            m = n_samples_for(0.18, sr)
            heel = bandpass(_burst(m, sr, rng, 0.015), 150.0, 2500.0, sr)
            toe = np.zeros(m, dtype=np.float32)
            add_at(
                toe, bandpass(_burst(m // 2, sr, rng, 0.01), 300.0, 4000.0, sr), int(0.06 * sr), 0.6
            )
            step = heel + toe
        add_at(y, step * rng.uniform(0.7, 1.0), start)
    return y


def _ui_click(rng: Rng, sr: int) -> np.ndarray:
    n = n_samples_for(rng.uniform(0.03, 0.08), sr)
    t = _t(n, sr)
    f = rng.uniform(2500, 5000)
    y = np.sin(2 * np.pi * f * t) * np.exp(-t / 0.004)
    if rng.random() < 0.5:  # double click
        y2 = np.zeros(n)
        add_at(y2, y[: n // 2] * 0.7, n // 2)
        y = y + y2
    return y.astype(np.float32)


def _ui_beep(rng: Rng, sr: int) -> np.ndarray:
    f = float(rng.choice([660.0, 880.0, 1000.0, 1200.0]))
    dur = rng.uniform(0.08, 0.25)
    n = n_samples_for(dur, sr)
    env = np.minimum(1.0, np.minimum(np.arange(n), n - 1 - np.arange(n)) / (0.004 * sr))
    return (osc("sine", f, dur, sr) * env).astype(np.float32)


def _ui_notification(rng: Rng, sr: int) -> np.ndarray:
    base = 72 + int(rng.integers(0, 7))
    steps = [0, 4, 7] if rng.random() < 0.5 else [0, 7, 12]
    gap = rng.uniform(0.08, 0.14)
    n = n_samples_for(gap * len(steps) + 0.6, sr)
    y = np.zeros(n, dtype=np.float32)
    for i, s in enumerate(steps):
        f = 440 * 2 ** ((base + s - 69) / 12)
        m = _modal([f, 2 * f, 3 * f], [0.25, 0.12, 0.06], [1.0, 0.3, 0.1], 0.6, sr)
        add_at(y, m, int(i * gap * sr))
    return y


def _explosion(rng: Rng, sr: int, large: bool) -> np.ndarray:
    dur = rng.uniform(2.5, 4.0) if large else rng.uniform(0.8, 1.4)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    rumble = lowpass(noise_array(n, "brown", rng), 300.0 if large else 800.0, sr, order=2)
    rumble /= np.max(np.abs(rumble)) or 1.0
    crack = highpass(_burst(n, sr, rng, 0.05), 800.0, sr)
    boom = np.sin(2 * np.pi * (35 + 40 * np.exp(-t / 0.1)) * t) * np.exp(-t / 0.4)
    env = (1 - np.exp(-t / 0.005)) * np.exp(-t / (dur / 3.5))
    y = rumble * env + 0.5 * crack + 0.6 * boom
    if large:  # falling debris
        for _ in range(int(rng.integers(8, 20))):
            p = int(rng.uniform(0.4, 0.9) * n)
            m = n_samples_for(0.05, sr)
            add_at(y, bandpass(_burst(m, sr, rng, 0.01), 1000.0, 5000.0, sr) * 0.15, p)
    return y.astype(np.float32)


def _ambience_wind(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(6.0, 12.0)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    gust = 0.55 + 0.45 * np.sin(
        2 * np.pi * rng.uniform(0.08, 0.2) * t + rng.uniform(0, 6)
    ) * np.sin(2 * np.pi * rng.uniform(0.03, 0.07) * t)
    centre = 300 + 900 * gust
    y = sweep_filter(noise_array(n, "pink", rng), centre[::512], sr, kind="lowpass")
    return (y * gust).astype(np.float32)


def _ambience_rain(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(6.0, 12.0)
    n = n_samples_for(dur, sr)
    bed = bandpass(noise_array(n, "pink", rng), 400.0, 8000.0, sr) * 0.4
    drops = np.zeros(n, dtype=np.float32)
    k = int(dur * rng.uniform(150, 300))
    pos = rng.integers(0, n, k)
    drops[pos] = rng.uniform(0.2, 1.0, k) * rng.choice([-1, 1], k)
    drops = bandpass(drops, 2000.0, 9000.0, sr)
    return (bed + drops).astype(np.float32)


def _ambience_room(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(5.0, 10.0)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    hum_f = float(rng.choice([50.0, 60.0]))
    hum = sum(0.3 / k * np.sin(2 * np.pi * hum_f * k * t) for k in (1, 2, 3))
    air = lowpass(noise_array(n, "brown", rng), 600.0, sr)
    y = 0.25 * hum + air / (np.max(np.abs(air)) or 1.0)
    return (0.15 * y).astype(np.float32)  # room tone is quiet on purpose


def _water_drip(rng: Rng, sr: int) -> np.ndarray:
    n_drops = int(rng.integers(3, 8))
    n = n_samples_for(n_drops * 0.45 + 0.3, sr)
    y = np.zeros(n, dtype=np.float32)
    for k in range(n_drops):
        m = n_samples_for(0.06, sr)
        t = _t(m, sr)
        f0 = rng.uniform(700, 1400)
        f = f0 * (1 + 1.5 * t / t[-1])  # drops rise in pitch (bubble resonance)
        d = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.015)
        add_at(y, d.astype(np.float32), int((k * 0.45 + rng.uniform(0, 0.1)) * sr))
    return y


def _water_splash(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(0.8, 1.5)
    n = n_samples_for(dur, sr)
    y = bandpass(_burst(n, sr, rng, dur / 4), 500.0, 7000.0, sr)
    for _ in range(int(rng.integers(15, 35))):
        m = n_samples_for(0.04, sr)
        t = _t(m, sr)
        f = rng.uniform(400, 1500) * (1 + t / t[-1])
        b = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.01) * 0.3
        add_at(y, b.astype(np.float32), int(rng.uniform(0.05, 0.8) * n))
    return y


def _water_stream(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(5.0, 9.0)
    n = n_samples_for(dur, sr)
    y = bandpass(noise_array(n, "white", rng), 600.0, 4000.0, sr) * 0.3
    for _ in range(int(dur * 60)):
        m = n_samples_for(0.03, sr)
        t = _t(m, sr)
        f = rng.uniform(500, 2000) * (1 + 0.8 * t / t[-1])
        b = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.008) * rng.uniform(0.1, 0.4)
        add_at(y, b.astype(np.float32), int(rng.integers(0, n)))
    return y


def _door_creak(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(1.0, 2.2)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    rate = rng.uniform(25, 60) * (1 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t))
    ph = np.cumsum(rate) / sr
    pulses = (np.diff(np.floor(ph), prepend=0) > 0).astype(np.float32)
    y = np.zeros(n, dtype=np.float32)
    for f0 in (rng.uniform(500, 900), rng.uniform(1300, 1900)):
        res = _modal([f0], [0.02], [1.0], 0.08, sr)
        y += np.convolve(pulses, res)[:n].astype(np.float32)
    env = np.sin(np.pi * t / dur) ** 0.5
    return (y * env).astype(np.float32)


def _door_slam(rng: Rng, sr: int) -> np.ndarray:
    y = _impact_wood(rng, sr)
    n = n_samples_for(0.9, sr)
    out = np.zeros(n, dtype=np.float32)
    add_at(out, y * 1.0, 0)
    thump = lowpass(_burst(n, sr, rng, 0.12, "brown"), 200.0, sr)
    out += thump / (np.max(np.abs(thump)) or 1.0) * 0.8
    rattle = _modal([rng.uniform(2000, 3000)], [0.05], [0.2], 0.3, sr)
    add_at(out, rattle, int(0.03 * sr))
    return out


def _door_knock(rng: Rng, sr: int) -> np.ndarray:
    k = int(rng.integers(2, 5))
    gap = rng.uniform(0.16, 0.25)
    n = n_samples_for(k * gap + 0.3, sr)
    y = np.zeros(n, dtype=np.float32)
    f0 = rng.uniform(150, 250)
    for i in range(k):
        knock = _modal([f0, f0 * 1.9, f0 * 3.2], [0.05, 0.03, 0.015], [1.0, 0.5, 0.3], 0.25, sr)
        add_at(y, knock, int(i * gap * sr))
    return y


def _gunshot(rng: Rng, sr: int, n_shots: int = 1, interval_s: float = 0.1) -> np.ndarray:
    tail = rng.uniform(0.5, 0.9)
    n = n_samples_for(interval_s * (n_shots - 1) + tail, sr)
    y = np.zeros(n, dtype=np.float32)
    for k in range(n_shots):
        m = n_samples_for(tail, sr)
        t = _t(m, sr)
        crack = highpass(_burst(m, sr, rng, 0.006), 1500.0, sr) * 1.5
        body = lowpass(_burst(m, sr, rng, 0.08, "pink"), 1200.0, sr)
        boom = np.sin(2 * np.pi * 90 * t) * np.exp(-t / 0.05)
        add_at(y, (crack + body + 0.5 * boom).astype(np.float32), int(k * interval_s * sr))
    return y


def _magic_sparkle(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(1.2, 2.5)
    n = n_samples_for(dur, sr)
    y = np.zeros(n, dtype=np.float32)
    for _ in range(int(dur * rng.uniform(25, 45))):
        f = rng.uniform(2500, 8000)
        ping = _modal([f, f * 2.01], [0.08, 0.04], [1.0, 0.3], 0.25, sr)
        add_at(y, ping * rng.uniform(0.1, 0.4), int(rng.uniform(0, 0.85) * n))
    t = _t(n, sr)
    return (y * (1 - t / dur * 0.7)).astype(np.float32)


def _magic_spell(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(1.5, 3.0)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    base = rng.uniform(300, 500)
    rise = 2 ** (1.5 * t / dur)
    y = np.zeros(n)
    for r in (1.0, 1.25, 1.5, 2.0):
        f = base * r * rise * (1 + 0.004 * np.sin(2 * np.pi * 6 * t))
        y += np.sin(2 * np.pi * np.cumsum(f) / sr)
    trem = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(8, 14) * t)
    env = np.minimum(1, t / (dur * 0.3)) * np.minimum(1, (dur - t) / 0.3)
    shimmer = highpass(noise_array(n, "white", rng), 6000.0, sr) * 0.15
    return ((y / 4 * trem + shimmer) * env).astype(np.float32)


def _alarm_siren(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(3.0, 6.0)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    lo, hi = rng.uniform(550, 700), rng.uniform(1200, 1500)
    f = lo + (hi - lo) * (0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(0.25, 0.5) * t))
    ph = np.cumsum(f) / sr
    y = np.sin(2 * np.pi * ph) + 0.3 * np.sin(6 * np.pi * ph)
    return (0.7 * y).astype(np.float32)


def _alarm_buzzer(rng: Rng, sr: int) -> np.ndarray:
    k = int(rng.integers(3, 7))
    on, off = rng.uniform(0.15, 0.3), rng.uniform(0.1, 0.2)
    n = n_samples_for(k * (on + off), sr)
    y = np.zeros(n, dtype=np.float32)
    f = rng.uniform(380, 520)
    beep = lowpass(osc("square", f, on, sr), 4000.0, sr) * 0.5
    for i in range(k):
        add_at(y, beep, int(i * (on + off) * sr))
    return y


def _alarm_bell(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(2.0, 4.0)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    f0 = rng.uniform(1800, 2600)
    y = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(2 * np.pi * f0 * 2.7 * t)
    hammer = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(14, 20) * t))
    return (0.5 * y * hammer).astype(np.float32)


def _electric_zap(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(0.3, 0.9)
    n = n_samples_for(dur, sr)
    y = np.zeros(n, dtype=np.float32)
    for _ in range(int(rng.integers(5, 14))):
        m = n_samples_for(rng.uniform(0.01, 0.05), sr)
        add_at(y, highpass(noise_array(m, "white", rng), 3000.0, sr), int(rng.uniform(0, 0.9) * n))
    t = _t(n, sr)
    buzz = osc("saw", rng.uniform(100, 140), dur, sr) * 0.3 * np.exp(-t / (dur / 2))
    return (y + buzz).astype(np.float32)


def _electric_hum(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(3.0, 6.0)
    f0 = float(rng.choice([50.0, 60.0])) * 2
    y = lowpass(osc("saw", f0, dur, sr), 2500.0, sr)
    n = y.size
    flick = 0.8 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * _t(n, sr))
    return (0.5 * y * flick).astype(np.float32)


def _bird_chirp(rng: Rng, sr: int) -> np.ndarray:
    k = int(rng.integers(3, 9))
    n = n_samples_for(k * 0.18 + 0.3, sr)
    y = np.zeros(n, dtype=np.float32)
    f_hi = rng.uniform(3000, 5000)
    for i in range(k):
        m = n_samples_for(rng.uniform(0.05, 0.1), sr)
        t = _t(m, sr)
        f = f_hi * (1 - 0.4 * t / t[-1]) * (1 + 0.05 * np.sin(2 * np.pi * 60 * t))
        c = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.hanning(m)
        add_at(y, c.astype(np.float32), int((i * 0.18 + rng.uniform(0, 0.04)) * sr))
    return y


def _engine(rng: Rng, sr: int) -> np.ndarray:
    dur = rng.uniform(3.0, 6.0)
    n = n_samples_for(dur, sr)
    t = _t(n, sr)
    rpm = rng.uniform(25, 45) * (1 + 0.5 * np.clip(t / dur * 1.5 - 0.25, 0, 1))
    ph = np.cumsum(rpm) / sr
    pulses = np.exp(-((ph % 1.0) * 12)) - 0.1
    y = lowpass(pulses.astype(np.float32), 700.0, sr)
    y += 0.1 * lowpass(noise_array(n, "pink", rng), 1500.0, sr)
    return y


# category -> (CatShort, {subcategory: (description, recipe)})
_RECIPES: dict[str, tuple[str, dict[str, tuple[str, Callable[[Rng, int], np.ndarray]]]]] = {
    "IMPACTS": ("IMPT", {
        "METAL": ("metal hit with a bright ringing tail", _impact_metal),
        "WOOD": ("short hollow wooden knock", _impact_wood),
        "PUNCH": ("body punch, low thump with a slap", _impact_punch),
    }),
    "WHOOSHES": ("WHSH", {
        "WHOOSH": ("airy swelling whoosh pass-by", lambda r, s: _whoosh(r, s)),
        "SWISH": ("fast bright swish, like a blade or a whip", lambda r, s: _whoosh(r, s, True)),
    }),
    "FOOTSTEPS": ("FEET", {
        "CONCRETE": ("shoe footsteps on concrete", lambda r, s: _footsteps(r, s, "CONCRETE")),
        "GRAVEL": ("crunchy footsteps on gravel", lambda r, s: _footsteps(r, s, "GRAVEL")),
        "WOOD": ("footsteps on a hollow wooden floor", lambda r, s: _footsteps(r, s, "WOOD")),
    }),
    "USER INTERFACE": ("UI", {
        "CLICK": ("tiny interface click", _ui_click),
        "BEEP": ("clean sine beep", _ui_beep),
        "NOTIFICATION": ("pleasant ascending notification chime", _ui_notification),
    }),
    "EXPLOSIONS": ("EXPL", {
        "LARGE": ("big explosion with deep rumble and debris", lambda r, s: _explosion(r, s, True)),
        "SMALL": ("small blast, short and punchy", lambda r, s: _explosion(r, s, False)),
    }),
    "AMBIENCE": ("AMB", {
        "WIND": ("gusting wind ambience", _ambience_wind),
        "RAIN": ("steady rain ambience with droplets", _ambience_rain),
        "ROOM TONE": ("quiet room tone with electrical hum", _ambience_room),
    }),
    "WATER": ("WATR", {
        "DRIP": ("water drops dripping", _water_drip),
        "SPLASH": ("splash into water with bubbles", _water_splash),
        "STREAM": ("babbling brook, flowing water", _water_stream),
    }),
    "DOORS": ("DOOR", {
        "CREAK": ("creaking door hinge", _door_creak),
        "SLAM": ("door slamming shut", _door_slam),
        "KNOCK": ("knocking on a wooden door", _door_knock),
    }),
    "GUNS": ("GUN", {
        "PISTOL": ("single pistol shot", _gunshot),
        "AUTOMATIC": ("automatic rifle burst",
                      lambda r, s: _gunshot(r, s, int(r.integers(4, 9)), r.uniform(0.07, 0.11))),
    }),
    "MAGIC": ("MAGC", {
        "SPARKLE": ("glittering magical sparkle", _magic_sparkle),
        "SPELL": ("rising shimmering spell cast", _magic_spell),
    }),
    "ALARMS": ("ALRM", {
        "SIREN": ("wailing siren", _alarm_siren),
        "BUZZER": ("harsh repeating buzzer", _alarm_buzzer),
        "BELL": ("ringing alarm bell", _alarm_bell),
    }),
    "ELECTRICITY": ("ELEC", {
        "ZAP": ("electric zap with crackling sparks", _electric_zap),
        "HUM": ("electrical mains hum and buzz", _electric_hum),
    }),
    "BIRDS": ("BIRD", {
        "SONGBIRD": ("songbird chirping", _bird_chirp),
    }),
    "VEHICLES": ("VEH", {
        "ENGINE": ("engine idling and revving", _engine),
    }),
}  # fmt: skip

SFX_CATEGORIES: dict[str, SfxCategory] = {
    name: SfxCategory(name, short, {sub: desc for sub, (desc, _) in subs.items()})
    for name, (short, subs) in _RECIPES.items()
}


def render_sfx(
    category: str,
    subcategory: str | None = None,
    seed: int = 0,
    sr: int = 44100,
    *,
    lead_s: float | None = None,
    tail_s: float | None = None,
    peak: float | None = None,
) -> Signal:
    """Render one sound effect.

    Parameters
    ----------
    category, subcategory : str
        A key of :data:`SFX_CATEGORIES` and one of its subcategories (case-insensitive;
        ``None`` picks one by seed).
    seed : int
        Variant: pitch, length, counts, noise all derive from it.
    sr : int
        Sample rate in Hz.
    lead_s, tail_s : float, optional
        Silence before and after the sound; by default seeded (0-0.6 s and 0-1.0 s,
        sometimes exactly 0), so sound start/end detection has something to find.
    peak : float, optional
        Peak amplitude; by default seeded between -12 and -1 dBFS (quiet room tone lower).

    Returns
    -------
    Signal
        Mono, shape (1, n_samples).
    """
    cat = category.strip().upper()
    if cat not in _RECIPES:
        raise ValueError(f"unknown SFX category {category!r}; one of {sorted(_RECIPES)}")
    subs = _RECIPES[cat][1]
    rng = np.random.default_rng([seed & 0xFFFFFFFF, sum(map(ord, cat))])
    if subcategory is None:
        sub = sorted(subs)[int(rng.integers(len(subs)))]
    else:
        sub = subcategory.strip().upper()
        if sub not in subs:
            raise ValueError(f"unknown subcategory {subcategory!r} of {cat}; one of {sorted(subs)}")
    body = subs[sub][1](rng, sr)
    if peak is None:
        peak = 10 ** (rng.uniform(-12, -1) / 20)
        if sub == "ROOM TONE":
            peak *= 0.15
    body = normalize_peak(body, peak)
    if lead_s is None:
        lead_s = 0.0 if rng.random() < 0.25 else float(rng.uniform(0.02, 0.6))
    if tail_s is None:
        tail_s = 0.0 if rng.random() < 0.2 else float(rng.uniform(0.05, 1.0))
    out = np.concatenate([
        np.zeros(n_samples_for(lead_s, sr), dtype=np.float32),
        body,
        np.zeros(n_samples_for(tail_s, sr), dtype=np.float32),
    ])  # fmt: skip
    return Signal(out, sr)
