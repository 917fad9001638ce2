"""Duplicates: complete-linkage groups, time alignment of copies, the music excerpt rule."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings.alignment import align_print, align_score
from tonearm.discovery.duplicates import (
    SFX_WAVE_MIN,
    ExcerptHit,
    complete_linkage,
    music_is_duplicate,
    music_pair_matches,
)

SR = 22050


def test_complete_linkage_does_not_chain() -> None:
    # a~b and b~c but not a~c: single linkage would join all three
    groups = complete_linkage(4, [(0.99, 0, 1), (0.98, 1, 2)])
    assert groups == [[0, 1]]


def test_complete_linkage_joins_cliques() -> None:
    edges = [(0.99, 0, 1), (0.97, 1, 2), (0.96, 0, 2), (0.95, 3, 4)]
    assert complete_linkage(6, edges) == [[0, 1, 2], [3, 4]]


def _knock(seed: int, n_hits: int = 4) -> Signal:
    """A few decaying noise bursts at random times (a different 'take' per seed)."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(1.5 * SR), np.float32)
    t = np.arange(int(0.08 * SR)) / SR
    for start in np.sort(rng.uniform(0.05, 1.3, n_hits)):
        a = int(start * SR)
        burst = rng.standard_normal(t.size) * np.exp(-t / 0.015)
        y[a : a + t.size] += burst[: y.size - a].astype(np.float32)
    return Signal((0.5 * y / np.abs(y).max())[None, :], SR)


def test_align_score_copies_vs_other_takes() -> None:
    a = _knock(1)
    quieter = Signal(a.samples * 0.3, SR)
    resampled = a.resample(16000)
    trimmed = Signal(a.samples[:, int(0.03 * SR) :], SR)
    pa = align_print(a)
    for copy in (quieter, resampled, trimmed):
        assert align_score(pa, align_print(copy)) > 0.95
    other = align_score(pa, align_print(_knock(2)))
    assert other < 0.8


def test_short_sound_inside_a_long_one_is_not_a_copy() -> None:
    a = _knock(3)
    long = Signal(np.concatenate([a.samples, _knock(4).samples, _knock(5).samples], 1), SR)
    assert align_score(align_print(a), align_print(long)) == 0.0


def test_music_rule_needs_consistent_alignment_both_ways() -> None:
    def hits(other: str, offsets: list[float]) -> list[list[ExcerptHit]]:
        starts = [20.0, 50.0, 80.0]
        return [[ExcerptHit(other, s, o, 1.0, 0.9)] for s, o in zip(starts, offsets, strict=True)]

    same = hits("b", [17.0, 47.0, 77.0])  # b starts 3 s later (trimmed copy)
    assert music_pair_matches(same, "b") == 1.0
    scattered = hits("b", [5.0, 90.0, 30.0])  # a shared loop found at random places
    assert music_pair_matches(scattered, "b") < 2 / 3
    assert music_is_duplicate(1.0, 2 / 3)
    assert not music_is_duplicate(1.0, 1 / 3)


def _take(noise_seed: int) -> Signal:
    """The same knock rhythm played again: same hit times, different noise in each hit."""
    rng = np.random.default_rng(noise_seed)
    y = np.zeros(int(1.2 * SR), np.float32)
    t = np.arange(int(0.08 * SR)) / SR
    for start in (0.1, 0.4, 0.7, 0.9):
        a = int(start * SR)
        y[a : a + t.size] += (rng.standard_normal(t.size) * np.exp(-t / 0.015)).astype(np.float32)
    return Signal((0.5 * y / np.abs(y).max())[None, :], SR)


def test_wave_score_tells_a_copy_from_another_take() -> None:
    from tonearm.core.embeddings.alignment import align_best, wave_print, wave_score

    a = _take(1)
    faster = Signal(a.resample(int(SR / 1.02)).samples, SR)  # played 2 % faster
    other = _take(2)
    pa, wa = align_print(a), wave_print(a)
    for copy in (Signal(a.samples * 0.3, SR), a.resample(16000), faster):
        score, speed = align_best(pa, align_print(copy))
        assert score > 0.9
        assert wave_score(wa, wave_print(copy), speed) > SFX_WAVE_MIN
    score, speed = align_best(pa, align_print(other))
    assert score > 0.8  # the same rhythm and timbre: the picture alone cannot tell
    assert wave_score(wa, wave_print(other), speed) < 0.5


def test_music_match_at_another_tempo_must_hold_for_every_excerpt() -> None:
    # two songs on one drum loop: found at their tempo ratio in 2 of 3 excerpts
    loop = [[ExcerptHit("b", s, s * 1.016, 1.016, 0.9)] for s in (20.0, 50.0)] + [[]]
    assert music_pair_matches(loop, "b") < 2 / 3
    faster_copy = [[ExcerptHit("b", s, s * 1.02, 1.02, 0.9)] for s in (20.0, 50.0, 80.0)]
    assert music_pair_matches(faster_copy, "b") == 1.0


def test_a_recording_shorter_than_an_excerpt_is_one_excerpt() -> None:
    """A 7 s jingle: its three excerpts would all be the whole jingle, and being found
    counted 1 of 3 (a copy of it was never a duplicate). Taken once, found is found."""
    from tonearm.discovery.duplicates import MUSIC_EXCERPT_S, excerpt_hits
    from tonearm.recognition import fingerprint as fp
    from tonearm.recognition.index import FingerprintIndex

    rng = np.random.default_rng(3)
    t = np.arange(int(7.0 * SR)) / SR
    y = np.zeros_like(t)
    for k, f in enumerate(rng.uniform(200, 2000, 28)):  # a note every .25 s
        seg = (t >= k * 0.25) & (t < k * 0.25 + 0.22)
        y[seg] += np.sin(2 * np.pi * f * t[seg]) * np.exp(-(t[seg] - k * 0.25) / 0.08)
    jingle = Signal((0.5 * y / np.abs(y).max()).astype(np.float32)[None, :], SR)
    assert jingle.duration_s < MUSIC_EXCERPT_S
    ix = FingerprintIndex()
    for key, s in (("jingle", jingle), ("quieter", Signal(jingle.samples * 0.5, SR))):
        h, tt = fp.fingerprint(s)
        ix.add(key, h, tt)
    hits = excerpt_hits(ix, jingle)
    assert len(hits) == 1
    assert music_pair_matches(hits, "quieter") == 1.0


MENU_CLICK = "/usr/share/games/frozen-bubble/snd/menu_change.ogg"  # frozen-bubble-data


@pytest.mark.skipif(not os.path.exists(MENU_CLICK), reason="frozen-bubble-data not installed")
def test_a_trimmed_high_click_is_a_copy_only_in_the_upper_band() -> None:
    """A real 0.22 s menu click trimmed by 5 % at each end: its 2 kHz wave print keeps too
    little of it to match; the 8 kHz print does (:func:`sfx_wave`), and another click of
    the same game still does not."""
    from tonearm.core.audio.decode import decode
    from tonearm.core.embeddings.alignment import wave_print, wave_print_hi, wave_score
    from tonearm.discovery.duplicates import sfx_wave

    a = decode(MENU_CLICK, isolate=False)
    cut = int(0.05 * a.n_samples)
    trimmed = Signal(a.samples[:, cut:-cut], a.sr)
    other = decode(MENU_CLICK.replace("menu_change", "menu_selected"), isolate=False)

    def hi(b: Signal):  # type: ignore[no-untyped-def]
        return lambda: (wave_print_hi(a), wave_print_hi(b))

    lo = (wave_print(a), wave_print(trimmed))
    assert wave_score(*lo) < SFX_WAVE_MIN  # the low band alone misses it
    assert sfx_wave(lo, hi(trimmed), 1.0) >= SFX_WAVE_MIN
    assert sfx_wave((wave_print(a), wave_print(other)), hi(other), 1.0) < SFX_WAVE_MIN


def _notes(seed: int, dur_s: float) -> np.ndarray:
    """A melody of short decaying tones, a note every .25 s (mono samples at SR)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur_s * SR)) / SR
    y = np.zeros_like(t)
    for k, f in enumerate(rng.uniform(200, 2000, int(dur_s / 0.25) + 1)):
        seg = (t >= k * 0.25) & (t < k * 0.25 + 0.22)
        y[seg] += np.sin(2 * np.pi * f * t[seg]) * np.exp(-(t[seg] - k * 0.25) / 0.08)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def _pair(a: Signal, b: Signal) -> tuple[bool, float]:
    from tonearm.discovery.duplicates import excerpt_hits, music_pair_is_duplicate
    from tonearm.recognition import fingerprint as fp
    from tonearm.recognition.index import FingerprintIndex

    ix = FingerprintIndex()
    for key, s in (("a", a), ("b", b)):
        h, tt = fp.fingerprint(s)
        ix.add(key, h, tt)
    return music_pair_is_duplicate(
        excerpt_hits(ix, a), excerpt_hits(ix, b), "a", "b", (a.duration_s, b.duration_s)
    )


def test_a_trimmed_remnant_is_a_duplicate_but_a_jingle_inside_a_song_is_not() -> None:
    """A 3.6 s remnant of an 11.6 s track (3 s cut at the head, 5 s at the tail) holds
    only one of the track's excerpts, so "both ways" missed it; the same jingle placed
    inside a 40 s song of other notes is found just as wholly, but the song holds far
    more than a trim's worth of other audio."""
    track = _notes(5, 11.6)
    remnant = Signal(track[None, int(3.0 * SR) : int(6.6 * SR)], SR)
    assert 3.0 < remnant.duration_s < 4.0
    dup, _ = _pair(Signal(track[None, :], SR), remnant)
    assert dup
    song = _notes(6, 40.0)
    at = int(15.0 * SR)
    song[at : at + remnant.n_samples] = remnant.samples[0]
    dup, _ = _pair(Signal(song[None, :], SR), remnant)
    assert not dup
    # and a whole 11.6 s jingle inside the song, in both orders of the arguments
    song2 = _notes(7, 40.0)
    song2[at : at + track.size] = track
    assert not _pair(Signal(song2[None, :], SR), Signal(track[None, :], SR))[0]
    assert not _pair(Signal(track[None, :], SR), Signal(song2[None, :], SR))[0]


def test_a_copy_of_a_looping_track_is_a_duplicate_but_two_songs_on_one_loop_are_not() -> None:
    """A track that repeats one 4 s bar note for note: each excerpt matches at every
    repeat and the vote keeps an arbitrary one, so the excerpts of a plain -6 dB copy
    disagreed on the alignment. Two songs over the same bar with different melodies on
    top also match each other's excerpts surely at every repeat, but at each only about
    60 % of an excerpt's anchors line up (the bar's, not the melody's): no repeats are
    taken for them, and they stay apart."""
    bar = _notes(8, 4.0)
    loop = np.tile(bar, 12)
    track = Signal(loop[None, :], SR)
    assert _pair(track, Signal(track.samples * 0.5, SR))[0]
    a = (loop + 0.8 * _notes(11, loop.size / SR)[: loop.size]) / 1.8
    b = (loop + 0.8 * _notes(12, loop.size / SR)[: loop.size]) / 1.8
    assert not _pair(Signal(a[None, :], SR), Signal(b[None, :], SR))[0]
