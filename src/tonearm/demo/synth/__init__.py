"""Synthesizer: music with known beat times, sound effects and simple test signals.

Pure numpy/scipy, deterministic by seed, fast enough to render a demo catalog in seconds.
Used by the demo catalog and by tests (beat tracking, recognition, search, similarity).

>>> from tonearm.demo.synth import SongSpec, render_song, render_sfx
>>> sig, beat_times_s, downbeat_times_s = render_song(SongSpec(style="rock", bpm=140, bars=8))
>>> door = render_sfx("DOORS", "SLAM", seed=3)

Optional realism: ``bench/midi_render.py`` renders the same songs (same grid and
harmony) with General MIDI instruments through the fluidsynth CLI when it is installed.
"""

from tonearm.demo.synth.basic import NOISE_COLORS, click_track, midi_to_hz, noise, tone
from tonearm.demo.synth.sfx import SFX_CATEGORIES, SfxCategory, render_sfx
from tonearm.demo.synth.song import (
    PARTS,
    STYLES,
    SongSpec,
    StyleInfo,
    beat_grid_s,
    render_song,
    song_beats,
    song_sections,
)

__all__ = [
    "NOISE_COLORS",
    "PARTS",
    "SFX_CATEGORIES",
    "STYLES",
    "SfxCategory",
    "SongSpec",
    "StyleInfo",
    "beat_grid_s",
    "click_track",
    "midi_to_hz",
    "noise",
    "render_sfx",
    "render_song",
    "song_beats",
    "song_sections",
    "tone",
]
