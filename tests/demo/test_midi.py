"""The optional fluidsynth path: MIDI files with exact times, GM songs on the same grid."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from tonearm.demo.synth import SongSpec, song_beats

# the MIDI renderer is a benchmark tool (bench/), not part of the package
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import midi_render as m  # noqa: E402


def _events(smf: bytes) -> list[tuple[float, int, int, int]]:
    """(time_s, status, data1, data2) of channel events in a type-0 file we wrote."""
    assert smf[:4] == b"MThd" and smf[14:18] == b"MTrk"
    ppq = int.from_bytes(smf[12:14], "big")
    i, tick, out = 22, 0, []
    while i < len(smf):
        delta = 0
        while True:
            b = smf[i]
            i += 1
            delta = (delta << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        tick += delta
        st = smf[i]
        if st == 0xFF:
            ln = smf[i + 2]
            i += 3 + ln
            continue
        size = 2 if st & 0xF0 == 0xC0 else 3
        data = smf[i : i + size]
        out.append((tick / (ppq * 2), data[0], data[1], data[2] if size == 3 else 0))
        i += size
    return out


def test_write_midi_places_notes_at_their_times() -> None:
    notes = [m.MidiNote(1.0, 0.5, 60, 100, 0, 4), m.MidiNote(0.25, 0.1, 36, 120, 9)]
    ev = _events(m.write_midi(notes))
    on = [(t, st & 0x0F, p) for t, st, p, v in ev if st & 0xF0 == 0x90]
    off = [(t, st & 0x0F, p) for t, st, p, v in ev if st & 0xF0 == 0x80]
    assert on == [(0.25, 9, 36), (1.0, 0, 60)]
    assert sorted(off) == [(0.35, 9, 36), (1.5, 0, 60)]
    assert (0.0, 0xC0, 4, 0) in ev  # program change for channel 0, none for drums


def test_song_midi_notes_share_the_song_grid() -> None:
    spec = SongSpec(style="jazz", bpm=150, bars=8, seed=2, humanize_ms=10)
    notes, beats, downbeats = m.song_midi_notes(spec)
    b2, d2 = song_beats(spec)
    assert np.array_equal(beats, b2) and np.array_equal(downbeats, d2)
    ride = sorted(n.start_s for n in notes if n.channel == m.DRUM_CHANNEL and n.pitch == m.RIDE)
    assert np.allclose(ride, beats)


def test_render_midi_without_fluidsynth_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(m.shutil, "which", lambda _name: None)
    assert not m.fluidsynth_available()
    with pytest.raises(RuntimeError, match="fluidsynth"):
        m.render_midi([m.MidiNote(0.0, 0.5, 60)])


@pytest.mark.skipif(not m.fluidsynth_available(), reason="fluidsynth + GM soundfont not installed")
def test_fluidsynth_song_has_kicks_on_the_beats() -> None:
    spec = SongSpec(style="edm", bpm=124, bars=4, seed=1, humanize_ms=8, parts=("drums",))
    sig, beats, _ = m.render_song_midi(spec, 22050)
    assert sig.channels == 2 and np.isfinite(sig.samples).all()
    y = sig.mono()
    sr = sig.sr
    for bt in beats:
        a = max(0, int((bt - 0.02) * sr))
        seg = np.abs(y[a : a + int(0.05 * sr)])
        onset_s = (a + int(np.flatnonzero(seg >= 0.25 * seg.max())[0])) / sr
        # GM kick samples take a few ms to rise; note-ons are exact to 0.5 ms
        assert -0.001 <= onset_s - bt <= 0.015
