"""What the audio says about itself: measurements on synthesized audio with known answers,
and the words search uses for them."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.core.audio.signal import Signal
from tonearm.demo.synth.song import SongSpec, render_song
from tonearm.discovery.describe import (
    _MAJOR,
    _MINOR,
    audio_features,
    audio_words,
    estimate_key,
    tempo_words,
)

SR = 22050


def chord_pad(notes_hz: list[float], seconds: float = 6.0) -> Signal:
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in notes_hz)
    return Signal((0.2 * y / len(notes_hz)).astype(np.float32), SR)


def clicks(bpm: float, seconds: float = 8.0) -> Signal:
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    rng = np.random.default_rng(0)
    period = int(SR * 60 / bpm)
    burst = (rng.normal(size=400) * np.exp(-np.arange(400) / 60)).astype(np.float32)
    for start in range(0, y.size - 400, period):
        y[start : start + 400] += burst
    return Signal(0.5 * y / np.abs(y).max(), SR)


@pytest.mark.parametrize("tonic", [0, 3, 7, 9])
def test_estimate_key_recovers_the_profiles(tonic: int) -> None:
    names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
    assert estimate_key(np.roll(_MAJOR, tonic))[:2] == (names[tonic], "major")
    assert estimate_key(np.roll(_MINOR, tonic))[:2] == (names[tonic], "minor")


def test_estimate_key_flat_chroma_has_no_key() -> None:
    assert estimate_key(np.ones(12)) == ("", "", 0.0)
    assert estimate_key(np.full(12, np.nan)) == ("", "", 0.0)


@pytest.mark.parametrize(("style", "key"), [("orchestral", "C"), ("ambient", "A")])
def test_major_and_minor_songs(style: str, key: str) -> None:
    # the same style, tempo and tonic, only the mode differs. (Mode is right for about 70%
    # of the demo pieces: relative major/minor is the usual confusion.)
    for mode in ("major", "minor"):
        spec = SongSpec(style=style, bpm=96, key=key, mode=mode, bars=4, seed=3)
        f = audio_features(render_song(spec)[0])
        assert (f["key"], f["mode"]) == (key, mode), f


def test_percussive_versus_sustained() -> None:
    pad = audio_features(chord_pad([220.0, 277.2, 329.6]))
    hits = audio_features(clicks(150))
    assert hits["percussive_ratio"] > 0.5 > pad["percussive_ratio"]
    assert hits["onset_rate_hz"] > pad["onset_rate_hz"]
    assert "beatless" in audio_words(pad)
    assert "percussive" in audio_words(hits)


def test_brightness() -> None:
    dark = audio_features(chord_pad([110.0, 138.6, 164.8]))
    bright = audio_features(chord_pad([2637.0, 3520.0, 4186.0]))
    assert bright["centroid_hz"] > 4 * dark["centroid_hz"]
    assert "dark timbre" in audio_words(dark)
    assert "bright timbre" in audio_words(bright)


def test_loud_busy_versus_quiet_sparse() -> None:
    rock, _, _ = render_song(SongSpec(style="rock", bpm=160, key="E", mode="minor", bars=4))
    quiet = chord_pad([220.0, 261.6, 329.6])
    quiet = Signal(quiet.samples * 0.1, SR)
    assert "intense" in audio_words(audio_features(rock), 160)
    assert "calm" in audio_words(audio_features(quiet), 62)


def test_tempo_estimate_of_a_click_track() -> None:
    f = audio_features(clicks(120, seconds=12))
    # allow the usual half/double-tempo ambiguity
    assert min(abs(f["tempo_bpm"] - x) for x in (60, 120, 240)) < 6, f["tempo_bpm"]


@pytest.mark.parametrize(
    ("bpm", "word"),
    [(60, "slow"), (79.9, "slow"), (90, "mid-tempo"), (120, "upbeat"), (170, "fast")],
)
def test_tempo_words(bpm: float, word: str) -> None:
    assert word in tempo_words(bpm)


def test_catalog_bpm_wins_over_the_estimate() -> None:
    f = {"rms_dbfs": -20.0, "tempo_bpm": 170.0}
    assert "slow" in audio_words(f, 70)
    assert "fast" in audio_words(f)


def test_silence_and_tiny_inputs() -> None:
    for sig in (Signal(np.zeros(SR * 3, dtype=np.float32), SR), Signal(np.zeros(10), SR)):
        f = audio_features(sig)
        assert f["rms_dbfs"] == -120.0 and f["mode"] == ""
        assert audio_words(f) == []
    assert audio_words({}) == []


def test_words_never_negate() -> None:
    # "without drums" must never match or miss a track because of its description words
    for sig in (chord_pad([220.0, 261.6, 329.6]), clicks(150)):
        for w in audio_words(audio_features(sig), 100):
            assert not w.startswith(("no ", "not ", "without ")), w


def test_long_input_is_excerpted() -> None:
    long = Signal(np.tile(clicks(100, 10).samples, (1, 30)), SR)  # 5 minutes
    f = audio_features(long, max_s=20)
    assert f["onset_rate_hz"] > 0
