"""Render short songs in several styles, with the exact beat times as ground truth.

A song is a grid of beats (tempo, optional tempo curve, optional humanized timing), cut
into 4-bar sections (intro / verse / chorus / outro, verse and chorus alternating so songs
repeat themselves), each section with its own chord progression from the key and mode and
its own seeded melody. A style decides which instruments play what on that grid.

The beat times returned are where the beat events were actually placed (after
humanizing), so they are the truth for beat trackers, not the nominal grid.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import signal as sps

from tonearm.core.audio.signal import Signal
from tonearm.demo.synth import instruments as ins
from tonearm.demo.synth.basic import (
    add_at,
    highpass,
    lowpass,
    n_samples_for,
    noise_array,
    normalize_peak,
    soft_clip,
)
from tonearm.demo.synth.theory import chord, pick_progressions, pitch_class, scale_note

PARTS = ("drums", "bass", "chords", "melody", "fx")


@dataclass(frozen=True)
class StyleInfo:
    """What a style is, for catalogs and tests."""

    name: str
    genre: str
    meter: int  # default beats per bar
    bpm_range: tuple[float, float]
    drums: bool
    description: str
    moods: tuple[str, ...] = ()


STYLES: dict[str, StyleInfo] = {
    s.name: s
    for s in (
        StyleInfo("lofi", "Lo-Fi", 4, (60, 92), True,
                  "dusty swung beat, mellow electric-piano seventh chords, vinyl crackle",
                  ("chill", "relaxed", "study", "nostalgic")),
        StyleInfo("edm", "EDM", 4, (118, 132), True,
                  "four-on-the-floor kick, offbeat saw bass, sidechain pumping supersaw chords",
                  ("energetic", "club", "dance", "uplifting")),
        StyleInfo("rock", "Rock", 4, (96, 168), True,
                  "distorted power chords, driving eighth-note bass, backbeat drums",
                  ("aggressive", "driving", "powerful", "gritty")),
        StyleInfo("ambient", "Ambient", 4, (60, 80), False,
                  "slow evolving pads, soft bells, no drums, long reverb",
                  ("calm", "dreamy", "spacious", "meditative")),
        StyleInfo("orchestral", "Orchestral", 4, (66, 112), True,
                  "string section, brass melody, timpani and pizzicato",
                  ("epic", "cinematic", "heroic", "dramatic")),
        StyleInfo("chiptune", "Chiptune", 4, (128, 180), True,
                  "8-bit square-wave lead, fast arpeggios, triangle bass, noise drums",
                  ("playful", "retro", "video game", "upbeat")),
        StyleInfo("jazz", "Jazz", 3, (100, 176), True,
                  "swinging jazz waltz: ride cymbal, walking bass, piano comping",
                  ("sophisticated", "smooth", "swing", "lounge")),
        StyleInfo("folk", "Folk", 4, (76, 120), False,
                  "fingerpicked acoustic guitar, flute melody, warm and organic",
                  ("warm", "pastoral", "gentle", "acoustic")),
    )
}  # fmt: skip


@dataclass(frozen=True)
class SongSpec:
    """What to render.

    Attributes
    ----------
    style : str
        One of :data:`STYLES`.
    bpm : float
        Tempo in beats per minute (60-180 sounds right for every style).
    meter : int or None
        Beats per bar (3 or 4); ``None`` takes the style's default.
    key, mode : str
        Tonic (``"C"``, ``"F#"``, ``"Bb"``...) and ``"major"`` or ``"minor"``.
    bars : int
        Length in bars (4-bar sections; a remainder lengthens the last section).
    seed : int
        Everything random (progressions, melodies, noise, humanizing) derives from it.
    humanize_ms : float
        Standard deviation of per-beat timing jitter in milliseconds (clipped to 3 sigma
        and to a quarter of the beat); the returned beat times include it.
    tempo_curve : tuple of (bar, bpm) or None
        Tempo anchors (bar position, may be fractional) with linear interpolation in
        between and constant beyond; overrides ``bpm``.
    parts : tuple of str or None
        Parts that play, from :data:`PARTS`; ``None``: all the style uses.
    lead_in_s, tail_s : float
        Silence before the first beat; room after the last bar for decays.
    """

    style: str = "edm"
    bpm: float = 120.0
    meter: int | None = None
    key: str = "C"
    mode: str = "major"
    bars: int = 16
    seed: int = 0
    humanize_ms: float = 0.0
    tempo_curve: tuple[tuple[float, float], ...] | None = None
    parts: tuple[str, ...] | None = None
    lead_in_s: float = 0.0
    tail_s: float = 1.5


def beat_grid_s(
    n_beats: int,
    meter: int,
    bpm: float,
    *,
    tempo_curve: tuple[tuple[float, float], ...] | None = None,
    humanize_ms: float = 0.0,
    lead_in_s: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Beat times in seconds, shape (n_beats + 1,): the beats plus the end of the last one.

    Tempo is evaluated per beat (at its bar position ``k / meter``) from ``tempo_curve``
    if given, else constant ``bpm``. Humanizing jitters each beat but the last boundary.
    """
    k = np.arange(n_beats)
    if tempo_curve:
        pts = sorted(tempo_curve)
        bpm_k = np.interp(k / meter, [p[0] for p in pts], [p[1] for p in pts])
    else:
        bpm_k = np.full(n_beats, float(bpm))
    if np.any(bpm_k <= 0):
        raise ValueError("tempo must be positive")
    ibi = 60.0 / bpm_k
    t = lead_in_s + np.concatenate([[0.0], np.cumsum(ibi)])
    if humanize_ms > 0 and n_beats > 0:
        rng = rng or np.random.default_rng(0)
        sd = humanize_ms / 1000.0
        j = np.clip(rng.normal(0.0, sd, n_beats), -3 * sd, 3 * sd)
        j = np.clip(j, -0.25 * ibi, 0.25 * ibi)
        if lead_in_s <= 0:
            j[0] = max(j[0], 0.0)
        t[:-1] = t[:-1] + j
        t[0] = max(t[0], 0.0)
    return t


def _sub_seed(seed: int, *labels: object) -> np.random.Generator:
    tag = zlib.crc32("/".join(str(x) for x in labels).encode())
    return np.random.default_rng([seed & 0xFFFFFFFF, tag])


@dataclass
class _Ctx:
    """Everything a style renderer needs: the grid, harmony, sections and the mix bus."""

    spec: SongSpec
    sr: int
    meter: int
    grid: np.ndarray  # (n_beats + 1,) seconds
    sections: list[str]  # per bar
    chords: list[list[int]]  # per bar, MIDI notes (triads)
    chords7: list[list[int]]  # per bar, seventh chords
    roots: list[int]  # per bar, MIDI root in octave 3 (48-59)
    tonic: int  # MIDI tonic in octave 4
    parts: frozenset[str]
    swing: float = 0.0
    swing_unit: float = 0.5
    buses: dict[str, np.ndarray] = field(default_factory=dict)
    _cache: dict[tuple[object, ...], np.ndarray] = field(default_factory=dict)

    @property
    def n_bars(self) -> int:
        return len(self.sections)

    def t(self, pos_beats: float) -> float:
        """Seconds of a position in beats from the start (swing applied to off-positions)."""
        i = int(np.floor(pos_beats + 1e-9))
        frac = pos_beats - i
        if self.swing and frac > 1e-6:
            u = self.swing_unit
            idx = round(frac / u)
            if abs(frac - idx * u) < 1e-6 and idx % 2 == 1:
                frac += self.swing * u / 3.0
        i = min(max(i, 0), len(self.grid) - 2)
        return float(self.grid[i] + frac * (self.grid[i + 1] - self.grid[i]))

    def dur(self, pos_beats: float, length_beats: float) -> float:
        return max(0.01, self.t(pos_beats + length_beats) - self.t(pos_beats))

    def beat_s(self, bar: int) -> float:
        b = bar * self.meter
        return float(self.grid[b + 1] - self.grid[b])

    def bus(self, name: str) -> np.ndarray:
        if name not in self.buses:
            n = n_samples_for(self.grid[-1] + self.spec.tail_s, self.sr)
            self.buses[name] = np.zeros((2, n), dtype=np.float32)
        return self.buses[name]

    def add(
        self, x: np.ndarray, pos_beats: float, *, bus: str, gain: float = 1.0, pan: float = 0.0
    ) -> None:
        """Mix mono ``x`` at beat position ``pos_beats`` (absolute) with pan -1..1."""
        b = self.bus(bus)
        start = int(round(self.t(pos_beats) * self.sr))
        lg, rg = np.cos((pan + 1) * np.pi / 4), np.sin((pan + 1) * np.pi / 4)
        add_at(b[0], x, start, gain * lg * np.sqrt(2))
        add_at(b[1], x, start, gain * rg * np.sqrt(2))

    def voice(self, fn: Callable[..., np.ndarray], *args: object, **kw: object) -> np.ndarray:
        """Cached call of a deterministic voice (sections repeat, so notes do too)."""
        key = (fn.__name__, args, tuple(sorted(kw.items())))
        if key not in self._cache:
            self._cache[key] = fn(*args, **kw)
        return self._cache[key]

    def on(self, part: str) -> bool:
        return part in self.parts

    def rng(self, *labels: object) -> np.random.Generator:
        return _sub_seed(self.spec.seed, *labels)


def _sections(bars: int) -> list[str]:
    """Section label per bar: 4-bar phrases, intro/outro around alternating verse/chorus."""
    n_phr = max(1, bars // 4)
    if n_phr == 1:
        labels = ["verse"]
    elif n_phr == 2:
        labels = ["verse", "chorus"]
    elif n_phr == 3:
        labels = ["intro", "verse", "chorus"]
    else:
        mid = ["verse" if i % 2 == 0 else "chorus" for i in range(n_phr - 2)]
        labels = ["intro", *mid, "outro"]
    out: list[str] = []
    for i, lab in enumerate(labels):
        out += [lab] * (4 if i < len(labels) - 1 else bars - 4 * (len(labels) - 1))
    return out


def _melody(
    ctx: _Ctx,
    section: str,
    bars: list[int],
    rhythms: list[list[tuple[float, float]]],
    low: int,
    high: int,
) -> list[tuple[float, float, int]]:
    """Seeded melody for one section instance: (pos_beats, length_beats, midi) events.

    The same section label gets the same rhythm and contour every time it recurs, so
    songs repeat; strong positions land on chord tones, others walk the scale.
    """
    rng = ctx.rng("melody", section)
    mode = ctx.spec.mode
    deg = int(rng.integers(7, 12))
    out: list[tuple[float, float, int]] = []
    pattern_idx = [int(rng.integers(len(rhythms))) for _ in range(4)]
    steps = rng.choice([-2, -1, -1, 1, 1, 2, 0, 3, -3], size=64)
    si = 0
    for j, bar in enumerate(bars):
        rh = rhythms[pattern_idx[j % 4]]
        tones = {n % 12 for n in ctx.chords[bar]}
        for pos, length in rh:
            strong = abs(pos - round(pos)) < 1e-6 and int(round(pos)) % 2 == 0
            deg += int(steps[si % steps.size])
            si += 1
            note = scale_note(ctx.tonic, mode, deg)
            if strong:
                for d in (0, 1, -1, 2, -2):
                    if scale_note(ctx.tonic, mode, deg + d) % 12 in tones:
                        deg += d
                        break
                note = scale_note(ctx.tonic, mode, deg)
            while note > high:
                deg -= 7
                note = scale_note(ctx.tonic, mode, deg)
            while note < low:
                deg += 7
                note = scale_note(ctx.tonic, mode, deg)
            out.append((bar * ctx.meter + pos, length, note))
    return out


def _section_groups(ctx: _Ctx) -> list[tuple[str, list[int]]]:
    groups: list[tuple[str, list[int]]] = []
    for bar, lab in enumerate(ctx.sections):
        if (
            groups
            and groups[-1][0] == lab
            and len(groups[-1][1])
            < 4 + (ctx.n_bars % 4 if bar >= ctx.n_bars - ctx.n_bars % 4 - 4 else 0)
        ):
            groups[-1][1].append(bar)
        else:
            groups.append((lab, [bar]))
    return groups


def _reverb(x: np.ndarray, sr: int, decay_s: float, wet: float, seed: int) -> np.ndarray:
    """Cheap stereo reverb: convolution with decaying noise (different per channel)."""
    rng = np.random.default_rng(seed)
    n = n_samples_for(decay_s * 1.5, sr)
    t = np.arange(n) / sr
    env = np.exp(-t / (decay_s / 6.9)) * (1 - np.exp(-t / 0.01))
    out = x.copy()
    for ch in range(x.shape[0]):
        ir = lowpass(rng.standard_normal(n).astype(np.float32), 5000.0, sr) * env
        ir /= np.sqrt(np.sum(ir**2)) or 1.0
        out[ch] += wet * sps.fftconvolve(x[ch], ir)[: x.shape[1]].astype(np.float32)
    return out


def _pump(ctx: _Ctx, depth: float = 0.75, release_s: float = 0.18) -> np.ndarray:
    """Sidechain gain curve: ducks after every beat, shape (n_samples,)."""
    n = ctx.bus("_sc").shape[1]
    del ctx.buses["_sc"]
    g = np.ones(n, dtype=np.float32)
    m = n_samples_for(release_s * 3, ctx.sr)
    curve = (1 - depth * np.exp(-np.arange(m) / (release_s * ctx.sr))).astype(np.float32)
    for bt in ctx.grid[:-1]:
        a = int(round(bt * ctx.sr))
        b = min(n, a + m)
        if a < n:
            g[a:b] = np.minimum(g[a:b], curve[: b - a])
    return g


# ---------------------------------------------------------------- styles


def _style_lofi(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("lofi-drums")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("drums") and sec != "intro":
            for p in (0.0, 1.75 if M == 4 else 1.5, 2.5) if M == 4 else (0.0, 1.5):
                ctx.add(ins.kick(sr, velocity=0.8, decay_s=0.22, punch=0.7), b0 + p, bus="drums")
            for p in range(1, M, 2):
                ctx.add(ins.snare(sr, rng, velocity=0.45, decay_s=0.09), b0 + p, bus="drums")
            for k in range(M * 2):
                v = 0.35 if k % 2 == 0 else 0.2
                ctx.add(ins.hihat(sr, rng, velocity=v), b0 + k * 0.5, bus="drums", pan=0.3)
        if ctx.on("chords"):
            notes = ctx.chords7[bar]
            for i, nn in enumerate(notes):
                x = ctx.voice(ins.sine_keys, nn, ctx.beat_s(bar) * M * 1.05, sr, velocity=0.22)
                ctx.add(x, b0 + 0.03 * i, bus="keys", pan=-0.2 + 0.15 * i)
        if ctx.on("bass") and sec != "intro":
            r = ctx.roots[bar] - 12
            for p, ln in ((0.0, 1.5), (2.5, 1.0)) if M == 4 else ((0.0, 2.0),):
                x = ctx.voice(
                    ins.synth_voice,
                    r,
                    ctx.dur(b0 + p, ln),
                    sr,
                    wave="sine",
                    velocity=0.55,
                    decay_s=0.6,
                    sustain=0.6,
                )
                ctx.add(x, b0 + p, bus="bass")
    if ctx.on("melody"):
        rhythms = [
            [(0.0, 1.0), (1.5, 0.5), (2.0, 1.5)],
            [(0.5, 0.5), (1.0, 1.0), (3.0, 1.0)],
            [(0.0, 2.0), (2.5, 1.0)],
            [(1.0, 0.5), (1.5, 0.5), (2.0, 2.0)],
        ]
        rhythms = [[(p, ln) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec in ("chorus", "verse"):
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 67, 84):
                    x = ctx.voice(ins.piano, nn, ctx.dur(pos, ln) + 0.3, sr, velocity=0.25)
                    ctx.add(x, pos, bus="lead", pan=0.25)


def _style_edm(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("edm-drums")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        full = sec in ("verse", "chorus")
        if ctx.on("drums"):
            for p in range(M):
                ctx.add(ctx.voice(ins.kick, sr, velocity=1.0), b0 + p, bus="drums")
                if full:
                    ctx.add(
                        ins.hihat(sr, rng, velocity=0.25, open_=True),
                        b0 + p + 0.5,
                        bus="drums",
                        pan=0.2,
                    )
            if full:
                for p in range(1, M, 2):
                    ctx.add(ins.clap(sr, rng, velocity=0.7), b0 + p, bus="drums")
                if sec == "chorus":
                    for k in range(M * 4):
                        ctx.add(
                            ins.hihat(sr, rng, velocity=0.18), b0 + k * 0.25, bus="drums", pan=-0.3
                        )
        if ctx.on("bass") and full:
            r = ctx.roots[bar] - 12
            for p in range(M):
                x = ctx.voice(
                    ins.synth_voice,
                    r,
                    ctx.dur(b0 + p + 0.5, 0.45),
                    sr,
                    wave="saw",
                    velocity=0.45,
                    cutoff_hz=700.0,
                    attack_s=0.03,
                    decay_s=0.15,
                    sustain=0.5,
                )
                ctx.add(x, b0 + p + 0.5, bus="music")
        if ctx.on("chords"):
            cut = 2200.0 if sec == "chorus" else 1100.0
            for i, nn in enumerate(ctx.chords[bar]):
                x = ctx.voice(
                    ins.synth_voice,
                    nn,
                    ctx.dur(b0, M),
                    sr,
                    wave="saw",
                    detune_cents=14.0,
                    cutoff_hz=cut,
                    attack_s=0.01,
                    sustain=0.8,
                    decay_s=0.4,
                    velocity=0.16,
                )
                ctx.add(x, b0, bus="music", pan=(-0.5, 0.0, 0.5)[i % 3])
    if ctx.on("melody"):
        for _sec, bars in _section_groups(ctx):
            if _sec != "chorus":
                continue
            for bar in bars:
                tones = sorted(ctx.chords[bar]) + [ctx.chords[bar][0] + 12]
                for k in range(M * 4):
                    nn = tones[k % len(tones)] + 12
                    x = ctx.voice(
                        ins.synth_voice,
                        nn,
                        ctx.dur(0, 0.22),
                        sr,
                        wave="square",
                        velocity=0.12,
                        cutoff_hz=3500.0,
                        decay_s=0.08,
                        sustain=0.3,
                    )
                    ctx.add(x, bar * M + k * 0.25, bus="music", pan=0.3 if k % 2 else -0.3)
    if "music" in ctx.buses:
        ctx.buses["music"] *= _pump(ctx)[np.newaxis, :]


def _style_rock(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("rock-drums")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("drums"):
            kicks = (0.0, 2.0, 2.5) if M == 4 else (0.0,)
            for p in kicks:
                ctx.add(ins.kick(sr, velocity=0.95, decay_s=0.2, punch=1.2), b0 + p, bus="drums")
            for p in range(1, M, 2) if M == 4 else (1, 2):
                ctx.add(ins.snare(sr, rng, velocity=0.95, decay_s=0.16), b0 + p, bus="drums")
            for k in range(M * 2):
                if sec == "chorus":
                    x = ins.ride(sr, rng, velocity=0.35 if k % 2 == 0 else 0.25)
                else:
                    x = ins.hihat(sr, rng, velocity=0.5 if k % 2 == 0 else 0.3)
                ctx.add(x, b0 + k * 0.5, bus="drums", pan=0.25)
            if bar == 0 or ctx.sections[bar - 1] != sec:
                ctx.add(ins.ride(sr, rng, velocity=0.7), b0, bus="drums", pan=-0.4)
        r = ctx.roots[bar]
        if ctx.on("chords"):
            if sec in ("verse", "intro"):
                for k in range(M * 2):
                    x = ctx.voice(
                        ins.power_chord, r - 12, ctx.dur(0, 0.45), sr, palm_mute=True, velocity=0.8
                    )
                    ctx.add(x, b0 + k * 0.5, bus="gtr", pan=-0.6)
                    ctx.add(x, b0 + k * 0.5, bus="gtr", pan=0.6, gain=0.8)
            else:
                for p, ln in ((0.0, 1.5), (1.5, 2.5)) if M == 4 else ((0.0, 3.0),):
                    x = ctx.voice(ins.power_chord, r - 12, ctx.dur(b0 + p, ln), sr, velocity=0.9)
                    ctx.add(x, b0 + p, bus="gtr", pan=-0.6)
                    ctx.add(x, b0 + p, bus="gtr", pan=0.6, gain=0.85)
        if ctx.on("bass"):
            for k in range(M * 2):
                x = ctx.voice(
                    ins.synth_voice,
                    r - 24,
                    ctx.dur(0, 0.45),
                    sr,
                    wave="saw",
                    cutoff_hz=700.0,
                    velocity=0.6,
                    decay_s=0.2,
                    sustain=0.6,
                )
                ctx.add(x, b0 + k * 0.5, bus="bass")
    if ctx.on("melody"):
        rhythms = [
            [(0.0, 1.0), (1.0, 1.0), (2.0, 2.0)],
            [(0.0, 0.5), (0.5, 0.5), (1.0, 3.0)],
            [(0.0, 1.5), (1.5, 0.5), (2.0, 1.0), (3.0, 1.0)],
        ]
        rhythms = [[(p, ln) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec == "chorus":
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 64, 81):
                    x = ctx.voice(
                        ins.synth_voice,
                        nn,
                        ctx.dur(pos, ln),
                        sr,
                        wave="saw",
                        cutoff_hz=3000.0,
                        vibrato_hz=5.5,
                        vibrato_cents=20.0,
                        velocity=0.5,
                        sustain=0.9,
                    )
                    ctx.add(soft_clip(x, 4.0) * 0.25, pos, bus="lead", pan=0.1)


def _style_ambient(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("chords") and bar % 2 == 0:
            ln = min(2 * M, (ctx.n_bars - bar) * M)
            for i, nn in enumerate(ctx.chords[bar]):
                x = ctx.voice(
                    ins.synth_voice,
                    nn,
                    ctx.dur(b0, ln) + 1.5,
                    sr,
                    wave="saw",
                    detune_cents=9.0,
                    cutoff_hz=900.0,
                    attack_s=1.8,
                    decay_s=2.0,
                    sustain=0.9,
                    release_s=1.5,
                    velocity=0.14,
                )
                ctx.add(x, b0, bus="pad", pan=(-0.6, 0.0, 0.6)[i % 3])
        if ctx.on("bass") and bar % 4 == 0:
            ln = min(4 * M, (ctx.n_bars - bar) * M)
            x = ctx.voice(
                ins.synth_voice,
                ctx.tonic - 24,
                ctx.dur(b0, ln) + 1.0,
                sr,
                wave="sine",
                attack_s=2.0,
                sustain=1.0,
                release_s=2.0,
                velocity=0.35,
            )
            ctx.add(x, b0, bus="pad")
        if ctx.on("melody") and sec != "intro":
            rng = ctx.rng("bells", sec, bar % 4)
            pent = (0, 2, 4, 7, 9) if ctx.spec.mode == "major" else (0, 3, 5, 7, 10)
            for p in range(M):
                if rng.random() < 0.55:
                    nn = ctx.tonic + 12 + pent[int(rng.integers(5))] + 12 * int(rng.integers(2))
                    x = ctx.voice(ins.sine_keys, nn, 2.5, sr, velocity=0.12)
                    ctx.add(x, b0 + p, bus="bells", pan=float(rng.uniform(-0.7, 0.7)))
    if ctx.on("fx"):
        n = ctx.bus("pad").shape[1]
        wind = noise_array(n, "pink", ctx.rng("air"))
        lfo = 0.5 + 0.5 * np.sin(2 * np.pi * np.arange(n) / sr / 9.0)
        ctx.buses["air"] = np.stack([wind * lfo * 0.03, np.roll(wind, 4000) * lfo * 0.03])


def _style_orchestral(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("orch")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("chords"):
            for i, nn in enumerate(ctx.chords[bar]):
                x = ctx.voice(
                    ins.additive,
                    nn,
                    ctx.dur(b0, M) + 0.3,
                    sr,
                    harmonics=ins.STRINGS_HARMONICS,
                    attack_s=0.25,
                    release_s=0.3,
                    velocity=0.16,
                    vibrato_cents=10.0,
                )
                ctx.add(x, b0, bus="strings", pan=(-0.5, 0.0, 0.5)[i % 3])
        if ctx.on("bass"):
            r = ctx.roots[bar] - 12
            if sec == "verse":
                for p in range(M):
                    x = ctx.voice(
                        ins.pluck,
                        r,
                        0.6,
                        sr,
                        seed=r,
                        velocity=0.7,
                        brightness=0.2,
                    )
                    ctx.add(x, b0 + p, bus="strings", pan=-0.2)
            else:
                x = ctx.voice(
                    ins.additive,
                    r,
                    ctx.dur(b0, M) + 0.3,
                    sr,
                    harmonics=ins.STRINGS_HARMONICS,
                    attack_s=0.15,
                    velocity=0.3,
                )
                ctx.add(x, b0, bus="strings", pan=0.3)
        if ctx.on("drums"):
            if sec != "intro" or bar % 2 == 0:
                ctx.add(
                    ctx.voice(
                        ins.timpani,
                        ctx.tonic
                        - 24
                        + (ctx.roots[bar] - ctx.tonic) % 12
                        - (12 if (ctx.roots[bar] - ctx.tonic) % 12 > 7 else 0),
                        sr,
                        velocity=0.9,
                    ),
                    b0,
                    bus="perc",
                )
            if sec == "chorus":
                ctx.add(
                    ctx.voice(ins.timpani, ctx.tonic - 17, sr, velocity=0.6), b0 + M - 1, bus="perc"
                )
            if bar + 1 < ctx.n_bars and ctx.sections[bar + 1] != sec:
                for k in range(8):  # roll into the next section
                    v = 0.25 + 0.06 * k
                    ctx.add(
                        ins.timpani(ctx.tonic - 24, sr, velocity=v, decay_s=0.4),
                        b0 + M - 1 + k / 8,
                        bus="perc",
                    )
            del rng
            rng = ctx.rng("orch", bar)
    if ctx.on("melody"):
        rhythms = [
            [(0.0, 2.0), (2.0, 1.0), (3.0, 1.0)],
            [(0.0, 1.5), (1.5, 0.5), (2.0, 2.0)],
            [(0.0, 3.0), (3.0, 1.0)],
            [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (3.0, 1.0)],
        ]
        rhythms = [[(p, min(ln, M - p)) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec == "chorus":
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 60, 76):
                    x = ctx.voice(
                        ins.additive,
                        nn,
                        ctx.dur(pos, ln) + 0.15,
                        sr,
                        harmonics=ins.BRASS_HARMONICS,
                        attack_s=0.05,
                        velocity=0.22,
                        bright_attack=0.08,
                        vibrato_cents=6.0,
                    )
                    ctx.add(x, pos, bus="brass", pan=0.2)
            elif sec == "verse":
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 72, 88):
                    x = ctx.voice(
                        ins.additive,
                        nn,
                        ctx.dur(pos, ln) + 0.1,
                        sr,
                        harmonics=ins.FLUTE_HARMONICS,
                        attack_s=0.06,
                        velocity=0.18,
                    )
                    ctx.add(x, pos, bus="brass", pan=-0.3)


def _style_chiptune(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("chip-drums")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("drums") and sec != "intro":
            for p in range(0, M, 2):
                ctx.add(ctx.voice(ins.chip_kick, sr), b0 + p, bus="chip")
            for p in range(1, M, 2):
                ctx.add(ins.chip_noise(sr, rng, velocity=1.0, decay_s=0.09), b0 + p, bus="chip")
            for k in range(M * 2):
                ctx.add(
                    ins.chip_noise(sr, rng, velocity=0.35, decay_s=0.015), b0 + k * 0.5, bus="chip"
                )
        if ctx.on("bass"):
            r = ctx.roots[bar] - 12
            for k in range(M * 2):
                nn = r + (12 if k % 2 else 0)
                x = ctx.voice(
                    ins.synth_voice,
                    nn,
                    ctx.dur(0, 0.45),
                    sr,
                    wave="triangle",
                    velocity=0.5,
                    sustain=1.0,
                    release_s=0.005,
                )
                ctx.add(x, b0 + k * 0.5, bus="chip")
        if ctx.on("chords"):
            tones = sorted(ctx.chords[bar])
            tones = tones + [tones[0] + 12]
            for k in range(M * 4):
                nn = tones[k % len(tones)] + 12
                x = ctx.voice(
                    ins.synth_voice,
                    nn,
                    ctx.dur(0, 0.24),
                    sr,
                    wave="pulse",
                    duty=0.125,
                    velocity=0.12,
                    sustain=1.0,
                    release_s=0.005,
                )
                ctx.add(x, b0 + k * 0.25, bus="chip", pan=-0.3)
    if ctx.on("melody"):
        rhythms = [
            [(0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (2.0, 0.5), (2.5, 0.5), (3.0, 1.0)],
            [(0.0, 1.5), (1.5, 0.5), (2.0, 2.0)],
            [(0.0, 0.25), (0.25, 0.25), (0.5, 0.5), (1.0, 0.5), (1.5, 0.5), (2.0, 2.0)],
        ]
        rhythms = [[(p, ln) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec in ("verse", "chorus"):
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 69, 88):
                    x = ctx.voice(
                        ins.synth_voice,
                        nn,
                        ctx.dur(pos, ln) * 0.9,
                        sr,
                        wave="square" if sec == "chorus" else "pulse",
                        duty=0.25,
                        velocity=0.2,
                        sustain=0.8,
                        decay_s=0.2,
                        vibrato_hz=6.0,
                        vibrato_cents=15.0,
                    )
                    ctx.add(x, pos, bus="chip", pan=0.2)


def _style_jazz(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("jazz-drums")
    walk = ctx.rng("walk")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("drums"):
            for p in range(M):
                ctx.add(
                    ins.ride(sr, rng, velocity=0.45 if p == 0 else 0.35),
                    b0 + p,
                    bus="drums",
                    pan=0.4,
                )
            ctx.add(ins.ride(sr, rng, velocity=0.25), b0 + 1.5, bus="drums", pan=0.4)
            for p in range(1, M) if M == 3 else (1, 3):
                ctx.add(ins.hihat(sr, rng, velocity=0.25), b0 + p, bus="drums", pan=-0.2)
            ctx.add(ins.kick(sr, velocity=0.35, decay_s=0.25), b0, bus="drums")
        if ctx.on("bass"):
            tones = ctx.chords7[bar]
            nxt = ctx.roots[(bar + 1) % ctx.n_bars] - 24
            line = [ctx.roots[bar] - 24]
            for _ in range(M - 2):
                line.append(tones[int(walk.integers(1, len(tones)))] - 24)
            line.append(nxt + int(walk.choice([-1, 1, 2, -2])))
            for p, nn in enumerate(line[:M]):
                x = ctx.voice(
                    ins.pluck,
                    nn,
                    ctx.dur(b0 + p, 1.0) + 0.05,
                    sr,
                    seed=nn,
                    velocity=0.8,
                    brightness=0.1,
                )
                ctx.add(x, b0 + p, bus="bass")
        if ctx.on("chords"):
            comp: tuple[float, ...] = (1.0, 2.5) if M == 3 else (0.5, 2.0, 3.5)
            if sec == "intro":
                comp = (0.0,)
            for pc in comp:
                for i, nn in enumerate(ctx.chords7[bar]):
                    x = ctx.voice(ins.piano, nn, ctx.dur(b0 + pc, 0.8), sr, velocity=0.16)
                    ctx.add(x, b0 + pc, bus="piano", pan=-0.3 + 0.1 * i)
    if ctx.on("melody"):
        rhythms = [
            [(0.0, 1.0), (1.0, 0.5), (1.5, 1.5)],
            [(0.5, 0.5), (1.0, 2.0)],
            [(0.0, 0.5), (0.5, 0.5), (1.0, 0.5), (1.5, 0.5), (2.0, 1.0)],
        ]
        rhythms = [[(p, ln) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec in ("verse", "chorus"):
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 65, 82):
                    x = ctx.voice(
                        ins.additive,
                        nn,
                        ctx.dur(pos, ln),
                        sr,
                        harmonics=(1.0, 0.35, 0.3, 0.1, 0.12, 0.05),
                        attack_s=0.03,
                        velocity=0.22,
                        vibrato_cents=15.0,
                        vibrato_hz=5.0,
                    )
                    ctx.add(x, pos, bus="lead", pan=0.2)


def _style_folk(ctx: _Ctx) -> None:
    sr, M = ctx.sr, ctx.meter
    rng = ctx.rng("folk")
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        if ctx.on("chords"):
            tones = sorted(ctx.chords[bar])
            pattern = [ctx.roots[bar] - 12, tones[1], tones[2], tones[0] + 12, tones[2], tones[1]]
            for k in range(M * 2):
                nn = pattern[k % len(pattern)]
                x = ctx.voice(
                    ins.pluck,
                    nn,
                    1.2,
                    sr,
                    seed=nn + 1000,
                    velocity=0.6 if k % 2 == 0 else 0.45,
                    brightness=0.55,
                )
                ctx.add(x, b0 + k * 0.5, bus="gtr", pan=-0.2)
        if ctx.on("drums") and sec == "chorus":
            for k in range(M * 2):
                nz = highpass(noise_array(n_samples_for(0.08, sr), "white", rng), 5000.0, sr)
                env = np.exp(-np.arange(nz.size) / sr / 0.025)
                ctx.add(nz * env * (0.25 if k % 2 else 0.15), b0 + k * 0.5, bus="gtr", pan=0.5)
    if ctx.on("melody"):
        rhythms = [
            [(0.0, 1.0), (1.0, 1.0), (2.0, 2.0)],
            [(0.0, 1.5), (1.5, 0.5), (2.0, 1.0)],
            [(0.0, 2.0), (2.0, 1.0), (3.0, 1.0)],
        ]
        rhythms = [[(p, min(ln, M - p)) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec in ("verse", "chorus"):
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 67, 86):
                    x = ctx.voice(
                        ins.additive,
                        nn,
                        ctx.dur(pos, ln) + 0.1,
                        sr,
                        harmonics=ins.FLUTE_HARMONICS,
                        attack_s=0.05,
                        velocity=0.25,
                        vibrato_cents=14.0,
                    )
                    ctx.add(x, pos, bus="lead", pan=0.3)


_RENDERERS: dict[str, Callable[[_Ctx], None]] = {
    "lofi": _style_lofi,
    "edm": _style_edm,
    "rock": _style_rock,
    "ambient": _style_ambient,
    "orchestral": _style_orchestral,
    "chiptune": _style_chiptune,
    "jazz": _style_jazz,
    "folk": _style_folk,
}


def _master(ctx: _Ctx) -> np.ndarray:
    sr = ctx.sr
    style = ctx.spec.style
    mix = np.zeros_like(ctx.bus("_mix"))
    del ctx.buses["_mix"]
    for x in ctx.buses.values():
        mix += x
    if style == "lofi":
        mix = np.stack([lowpass(c, 3800.0, sr) for c in mix])
        mix = _reverb(mix, sr, 1.2, 0.25, ctx.spec.seed)
        if ctx.on("fx"):
            n = mix.shape[1]
            rng = ctx.rng("vinyl")
            hiss = highpass(noise_array(n, "pink", rng), 1500.0, sr) * 0.02
            crackle = np.zeros(n, dtype=np.float32)
            pops = rng.integers(0, max(1, n), size=int(n / sr * 6))
            crackle[pops] = rng.uniform(0.05, 0.25, pops.size) * rng.choice([-1, 1], pops.size)
            crackle = highpass(crackle, 2000.0, sr)
            mix += (hiss + crackle)[np.newaxis, :]
    elif style in ("ambient", "orchestral"):
        mix = _reverb(
            mix,
            sr,
            4.0 if style == "ambient" else 2.2,
            0.6 if style == "ambient" else 0.35,
            ctx.spec.seed,
        )
    elif style in ("jazz", "folk"):
        mix = _reverb(mix, sr, 1.0, 0.2, ctx.spec.seed)
    elif style == "rock":
        mix = soft_clip(mix * 0.8, 1.5)
    elif style == "chiptune":
        mix = np.round(mix * 24) / 24  # coarse quantisation: the 8-bit grit
    mix = np.stack([highpass(c, 25.0, sr) for c in mix])
    return normalize_peak(mix, 0.89)


_SWING = {"lofi": (0.6, 0.25), "jazz": (1.0, 0.5)}  # (amount, unit in beats)


def _prepare(spec: SongSpec, sr: int) -> _Ctx:
    """Validate ``spec`` and lay out its grid, sections and harmony (no audio yet)."""
    if spec.style not in _RENDERERS:
        raise ValueError(f"unknown style {spec.style!r}; one of {sorted(_RENDERERS)}")
    if spec.mode not in ("major", "minor"):
        raise ValueError("mode must be 'major' or 'minor'")
    info = STYLES[spec.style]
    meter = spec.meter or info.meter
    if meter not in (2, 3, 4, 5, 6, 7):
        raise ValueError(f"unsupported meter {meter}")
    if spec.bars < 1:
        raise ValueError("bars must be >= 1")
    spec = replace(spec, meter=meter)
    grid = beat_grid_s(
        spec.bars * meter,
        meter,
        spec.bpm,
        tempo_curve=spec.tempo_curve,
        humanize_ms=spec.humanize_ms,
        lead_in_s=spec.lead_in_s,
        rng=_sub_seed(spec.seed, "grid"),
    )
    tonic = 60 + pitch_class(spec.key)
    if tonic > 65:
        tonic -= 12
    sections = _sections(spec.bars)
    prog_a, prog_b = pick_progressions(spec.mode, _sub_seed(spec.seed, "progressions"))
    chords, chords7, roots = [], [], []
    bar_in_sec = 0
    for bar, sec in enumerate(sections):
        bar_in_sec = bar_in_sec + 1 if bar and sections[bar - 1] == sec else 0
        prog = prog_b if sec == "chorus" else prog_a
        deg = prog[bar_in_sec % len(prog)]
        if sec == "outro" and bar == len(sections) - 1:
            deg = 0
        c = chord(tonic, spec.mode, deg)
        c7 = chord(tonic, spec.mode, deg, sevenths=True)
        if c[0] > tonic + 7:  # keep chords around middle C
            c, c7 = [n - 12 for n in c], [n - 12 for n in c7]
        chords.append(c)
        chords7.append(c7)
        roots.append(48 + (c[0] - 48) % 12)
    parts = frozenset(PARTS if spec.parts is None else spec.parts)
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    ctx = _Ctx(spec, sr, meter, grid, sections, chords, chords7, roots, tonic, parts)
    ctx.swing, ctx.swing_unit = _SWING.get(spec.style, (0.0, 0.5))
    return ctx


def song_beats(spec: SongSpec) -> tuple[np.ndarray, np.ndarray]:
    """The beat and downbeat times in seconds that :func:`render_song` would return,
    without rendering audio (cheap: for ground truth files)."""
    ctx = _prepare(spec, 8000)
    beats = ctx.grid[:-1].copy()
    return beats, beats[:: ctx.meter].copy()


def song_sections(spec: SongSpec) -> list[str]:
    """Section label per bar (``intro``, ``verse``, ``chorus``, ``outro``)."""
    return _sections(spec.bars)


def render_song(spec: SongSpec, sr: int = 22050) -> tuple[Signal, np.ndarray, np.ndarray]:
    """Render a song.

    Parameters
    ----------
    spec : SongSpec
    sr : int
        Sample rate in Hz (22050 or 44100 are typical).

    Returns
    -------
    signal : Signal
        Stereo, shape (2, n_samples), peak -1 dBFS; length = last beat end + ``tail_s``.
    beat_times_s : np.ndarray, shape (bars * meter,)
        Onset time in seconds of every beat, humanizing included.
    downbeat_times_s : np.ndarray, shape (bars,)
        The first beat of every bar.

    Raises
    ------
    ValueError
        Unknown style, mode, key or part; bars < 1; tempo <= 0; unsupported meter.
    """
    ctx = _prepare(spec, sr)
    _RENDERERS[ctx.spec.style](ctx)
    mix = _master(ctx)
    beats = ctx.grid[:-1].copy()
    return Signal(mix, sr), beats, beats[:: ctx.meter].copy()
