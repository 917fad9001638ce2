"""Optional realism: the same songs as General MIDI, rendered by the fluidsynth CLI.

Needs the ``fluidsynth`` program and a GM soundfont (Debian: ``fluidsynth`` and
``fluid-soundfont-gm``). Nothing else in tonearm depends on this module; check
:func:`fluidsynth_available` first. Notes are placed at absolute times (tempo fixed at
120 BPM, 960 ticks per quarter: 0.52 ms resolution), so the beat times of the song's grid
(tempo curves and humanizing included) carry over to the rendered audio unchanged.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tonearm.core.audio.signal import Signal
from tonearm.demo.synth.song import SongSpec, _Ctx, _melody, _prepare, _section_groups

SOUNDFONT_PATHS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)
TICKS_PER_QUARTER = 960
_US_PER_QUARTER = 500_000  # 120 BPM: 1920 ticks per second
TICKS_PER_S = TICKS_PER_QUARTER * 1_000_000 // _US_PER_QUARTER
DRUM_CHANNEL = 9
# GM drum keys
KICK, SIDE_STICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT, CRASH, RIDE, SHAKER = (
    36, 37, 38, 39, 42, 44, 46, 49, 51, 70,
)  # fmt: skip


@dataclass(frozen=True)
class MidiNote:
    """One note: start and length in seconds, MIDI pitch 0-127, velocity 1-127, channel
    0-15 (9 is drums) and a GM program (0-127, ignored on the drum channel)."""

    start_s: float
    duration_s: float
    pitch: int
    velocity: int = 96
    channel: int = 0
    program: int = 0


def find_soundfont(soundfont: str | os.PathLike[str] | None = None) -> Path | None:
    """The soundfont to use: ``soundfont`` if it exists, else the first GM one installed."""
    for cand in ([soundfont] if soundfont else []) + list(SOUNDFONT_PATHS):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def fluidsynth_available(soundfont: str | os.PathLike[str] | None = None) -> bool:
    """True when the fluidsynth CLI and a GM soundfont are both installed."""
    return shutil.which("fluidsynth") is not None and find_soundfont(soundfont) is not None


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(notes: list[MidiNote]) -> bytes:
    """A type-0 Standard MIDI File with ``notes`` at their absolute times."""
    events: list[tuple[int, int, bytes]] = []  # (tick, order, bytes); note-offs sort first
    programs: dict[int, int] = {}
    for nt in notes:
        if nt.channel != DRUM_CHANNEL:
            programs.setdefault(nt.channel, nt.program)
        on = max(0, int(round(nt.start_s * TICKS_PER_S)))
        off = max(on + 1, int(round((nt.start_s + nt.duration_s) * TICKS_PER_S)))
        p, v, ch = int(np.clip(nt.pitch, 0, 127)), int(np.clip(nt.velocity, 1, 127)), nt.channel
        events.append((on, 1, bytes([0x90 | ch, p, v])))
        events.append((off, 0, bytes([0x80 | ch, p, 0])))
    head = [(0, -2, b"\xff\x51\x03" + _US_PER_QUARTER.to_bytes(3, "big"))]
    head += [(0, -1, bytes([0xC0 | ch, prog & 0x7F])) for ch, prog in sorted(programs.items())]
    track = bytearray()
    last = 0
    for tick, _, data in head + sorted(events, key=lambda e: (e[0], e[1])):
        track += _vlq(tick - last) + data
        last = tick
    track += b"\x00\xff\x2f\x00"
    return (
        b"MThd" + struct.pack(">IHHH", 6, 0, 1, TICKS_PER_QUARTER)
        + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)
    )  # fmt: skip


def render_midi(
    midi: bytes | list[MidiNote],
    sr: int = 22050,
    *,
    soundfont: str | os.PathLike[str] | None = None,
    gain: float = 0.6,
    timeout_s: float = 120.0,
) -> Signal:
    """Render MIDI through the fluidsynth CLI into a stereo :class:`Signal`.

    Parameters
    ----------
    midi : bytes or list of MidiNote
        A Standard MIDI File, or notes (written with :func:`write_midi`).
    sr : int
        Output sample rate in Hz.

    Raises
    ------
    RuntimeError
        fluidsynth or a soundfont is missing, or rendering failed.
    """
    exe = shutil.which("fluidsynth")
    sf2 = find_soundfont(soundfont)
    if exe is None or sf2 is None:
        raise RuntimeError(
            "render_midi needs the fluidsynth program and a GM soundfont "
            "(Debian: apt-get install fluidsynth fluid-soundfont-gm)"
        )
    data = midi if isinstance(midi, bytes) else write_midi(midi)
    with tempfile.TemporaryDirectory(prefix="tonearm-midi-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid.write_bytes(data)
        cmd = [exe, "-n", "-i", "-q", "-g", str(gain), "-r", str(sr), "-F", str(wav),
               "-O", "float", "-T", "wav", str(sf2), str(mid)]  # fmt: skip
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"fluidsynth took longer than {timeout_s:g} s") from e
        if proc.returncode != 0 or not wav.is_file():
            msg = proc.stderr.decode("utf-8", "replace").strip()[-300:]
            raise RuntimeError(f"fluidsynth failed ({proc.returncode}): {msg}")
        y, file_sr = sf.read(str(wav), dtype="float32", always_2d=True)
    return Signal(y.T, int(file_sr))


# ---------------------------------------------------------------- GM arrangements

# style -> (chords program, bass program, melody program)
GM_PROGRAMS = {
    "lofi": (4, 33, 0),  # electric piano, fingered bass, piano
    "edm": (89, 38, 81),  # warm pad, synth bass, saw lead
    "rock": (30, 33, 29),  # distortion guitar, fingered bass, overdriven guitar
    "ambient": (88, 89, 11),  # new-age pad, warm pad, vibraphone
    "orchestral": (48, 43, 61),  # strings, contrabass, brass section
    "chiptune": (80, 38, 80),  # square lead, synth bass, square lead
    "jazz": (0, 32, 11),  # piano, acoustic bass, vibraphone
    "folk": (24, 32, 73),  # nylon guitar, acoustic bass, flute
}
_DRUMS = {  # style -> (kick positions, snare positions, hat step, hat key) in one 4/4 bar
    "lofi": ((0.0, 1.75, 2.5), (1.0, 3.0), 0.5, HAT),
    "edm": ((0.0, 1.0, 2.0, 3.0), (1.0, 3.0), 0.5, OPEN_HAT),
    "rock": ((0.0, 2.0, 2.5), (1.0, 3.0), 0.5, HAT),
    "orchestral": ((), (), 0.0, 0),
    "chiptune": ((0.0, 2.0), (1.0, 3.0), 0.5, HAT),
    "jazz": ((0.0,), (), 1.0, RIDE),
    "folk": ((), (), 0.5, SHAKER),
    "ambient": ((), (), 0.0, 0),
}


def _note(
    ctx: _Ctx, pos: float, length: float, pitch: int, vel: int, ch: int, prog: int
) -> MidiNote:
    return MidiNote(ctx.t(pos), ctx.dur(pos, length), pitch, vel, ch, prog)


def song_midi_notes(spec: SongSpec) -> tuple[list[MidiNote], np.ndarray, np.ndarray]:
    """A General MIDI arrangement of ``spec`` on the same grid, sections and harmony as
    :func:`~tonearm.demo.synth.song.render_song`.

    Returns
    -------
    notes : list of MidiNote
    beat_times_s, downbeat_times_s : np.ndarray
        As :func:`render_song` returns them.
    """
    ctx = _prepare(spec, 22050)
    M = ctx.meter
    style = ctx.spec.style
    p_chords, p_bass, p_lead = GM_PROGRAMS[style]
    kicks, snares, hat_step, hat = _DRUMS[style]
    notes: list[MidiNote] = []
    for bar, sec in enumerate(ctx.sections):
        b0 = bar * M
        quiet = sec in ("intro", "outro")
        if ctx.on("drums") and STYLES_WITH_DRUMS.get(style, True):
            if not (quiet and style != "edm"):
                for p in kicks:
                    if p < M:
                        notes.append(_note(ctx, b0 + p, 0.25, KICK, 110, DRUM_CHANNEL, 0))
                for p in snares:
                    if p < M:
                        notes.append(_note(ctx, b0 + p, 0.25, SNARE, 100, DRUM_CHANNEL, 0))
            if hat_step and (not quiet or style == "edm"):
                k = 0.0
                while k < M - 1e-9:
                    v = 80 if abs(k - round(k)) < 1e-9 else 60
                    pos = b0 + k + (0.5 if style == "edm" else 0.0)
                    notes.append(_note(ctx, pos, 0.2, hat, v, DRUM_CHANNEL, 0))
                    k += hat_step
            if style == "orchestral" and (sec != "intro" or bar % 2 == 0):
                notes.append(_note(ctx, b0, 0.9, 47, 110, 3, 47))  # timpani on a channel
            if style == "rock" and (bar == 0 or ctx.sections[bar - 1] != sec):
                notes.append(_note(ctx, b0, 1.0, CRASH, 100, DRUM_CHANNEL, 0))
        if ctx.on("chords"):
            voicing = ctx.chords7[bar] if style in ("lofi", "jazz") else ctx.chords[bar]
            if style == "rock":
                r = ctx.roots[bar] - 12
                step = 0.5 if sec in ("intro", "verse") else float(M)
                k = 0.0
                while k < M - 1e-9:
                    for iv in (0, 7, 12):
                        notes.append(_note(ctx, b0 + k, step * 0.9, r + iv, 100, 0, p_chords))
                    k += step
            elif style in ("chiptune", "folk"):
                tones = sorted(ctx.chords[bar]) + [ctx.chords[bar][0] + 12]
                step = 0.25 if style == "chiptune" else 0.5
                for i in range(int(M / step)):
                    nn = tones[i % len(tones)] + (12 if style == "chiptune" else 0)
                    notes.append(_note(ctx, b0 + i * step, step, nn, 70, 0, p_chords))
            else:
                for nn in voicing:
                    notes.append(_note(ctx, b0, M, nn, 64, 0, p_chords))
        if ctx.on("bass") and not (quiet and style in ("lofi", "chiptune")):
            r = ctx.roots[bar] - 24 if style != "ambient" else ctx.tonic - 24
            if style in ("rock", "chiptune"):
                for i in range(M * 2):
                    notes.append(_note(ctx, b0 + i * 0.5, 0.45, r, 96, 1, p_bass))
            elif style == "edm":
                for i in range(M):
                    notes.append(_note(ctx, b0 + i + 0.5, 0.45, r, 100, 1, p_bass))
            elif style == "jazz":
                for i, nn in enumerate([r, *[t - 24 for t in ctx.chords7[bar][1:]]][:M]):
                    notes.append(_note(ctx, b0 + i, 0.95, nn, 96, 1, p_bass))
            else:
                notes.append(_note(ctx, b0, M, r, 90, 1, p_bass))
    if ctx.on("melody"):
        rhythms = [[(0.0, 1.0), (1.0, 1.0), (2.0, 2.0)], [(0.0, 1.5), (1.5, 0.5), (2.0, 1.0)],
                   [(0.0, 0.5), (0.5, 0.5), (1.0, 1.0), (2.0, 2.0)]]  # fmt: skip
        rhythms = [[(p, min(ln, M - p)) for p, ln in r if p < M] for r in rhythms]
        for sec, bars in _section_groups(ctx):
            if sec in ("verse", "chorus"):
                for pos, ln, nn in _melody(ctx, sec, bars, rhythms, 65, 84):
                    notes.append(_note(ctx, pos, ln, nn, 90, 2, p_lead))
    beats = ctx.grid[:-1].copy()
    return notes, beats, beats[::M].copy()


STYLES_WITH_DRUMS = {"ambient": False}


def render_song_midi(
    spec: SongSpec, sr: int = 22050, *, soundfont: str | os.PathLike[str] | None = None
) -> tuple[Signal, np.ndarray, np.ndarray]:
    """:func:`render_song`'s counterpart through fluidsynth (GM instruments).

    Returns the stereo signal (peak -1 dBFS) and the same beat and downbeat times as
    :func:`song_midi_notes`. Raises ``RuntimeError`` when fluidsynth is unavailable.
    """
    notes, beats, downbeats = song_midi_notes(spec)
    sig = render_midi(notes, sr, soundfont=soundfont)
    peak = float(np.abs(sig.samples).max()) or 1.0
    return Signal(sig.samples * (0.89 / peak), sig.sr), beats, downbeats
