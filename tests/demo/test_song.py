"""Songs: beat times are the truth, styles differ, seeds reproduce, sections repeat."""

from __future__ import annotations

import librosa
import numpy as np
import pytest

from tonearm.demo.synth import STYLES, SongSpec, beat_grid_s, render_song

SR = 22050


def _onset_sample(y: np.ndarray, t_s: float, sr: int, window_s: float = 0.02) -> int:
    """First sample near t_s whose magnitude reaches a quarter of the local peak."""
    a = max(0, int(round((t_s - window_s) * sr)))
    b = int(round((t_s + window_s) * sr))
    seg = np.abs(y[a:b])
    return a + int(np.flatnonzero(seg >= 0.25 * seg.max())[0])


def test_edm_kick_onsets_are_exactly_the_returned_beats_with_humanizing() -> None:
    spec = SongSpec(style="edm", bpm=128, bars=8, seed=3, humanize_ms=12, parts=("drums",))
    sig, beats, downbeats = render_song(spec, SR)
    y = sig.mono()
    nominal = np.arange(len(beats)) * 60 / 128
    assert len(beats) == 32 and np.array_equal(downbeats, beats[::4])
    jitter = beats - nominal
    assert np.abs(jitter).max() > 0.01  # humanizing moved beats away from the grid
    for bt in beats:
        assert abs(_onset_sample(y, bt, SR) - bt * SR) <= 2
    # and the nominal grid is measurably wrong where the jitter is large
    moved = np.flatnonzero(np.abs(jitter) > 0.008)
    assert moved.size > 3
    errs = [abs(_onset_sample(y, nominal[i], SR, 0.005) - nominal[i] * SR) for i in moved]
    assert min(errs) > 0.004 * SR


def test_tempo_curve_sets_beat_intervals() -> None:
    spec = SongSpec(style="rock", bars=8, tempo_curve=((0, 90.0), (8, 150.0)), parts=("drums",))
    _, beats, _ = render_song(spec, SR)
    ibi = np.diff(beats)
    assert ibi[0] == pytest.approx(60 / 90, rel=0.02)
    assert ibi[-1] == pytest.approx(60 / 150, rel=0.03)
    assert np.all(np.diff(ibi) < 1e-9)  # strictly accelerating


def test_beat_grid_humanize_is_bounded_and_monotonic() -> None:
    g = beat_grid_s(200, 4, 180, humanize_ms=40, rng=np.random.default_rng(0))
    assert g.shape == (201,)
    assert np.all(np.diff(g) > 0)
    nominal = np.arange(201) * 60 / 180
    assert np.abs(g - nominal).max() <= 0.25 * 60 / 180 + 1e-9
    assert g[-1] == pytest.approx(nominal[-1])


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_puts_onsets_on_its_beats(style: str) -> None:
    sig, beats, downbeats = render_song(
        SongSpec(style=style, bpm=110, bars=8, seed=5, humanize_ms=10), SR
    )
    info = STYLES[style]
    assert sig.channels == 2 and np.isfinite(sig.samples).all()
    assert 0.5 < np.abs(sig.samples).max() <= 0.9
    assert len(beats) == 8 * info.meter and len(downbeats) == 8
    assert sig.duration_s > beats[-1]
    hop = 256
    env = librosa.onset.onset_strength(y=sig.mono(), sr=SR, hop_length=hop)

    def strength(times: np.ndarray) -> float:
        fr = librosa.time_to_frames(times, sr=SR, hop_length=hop)
        return float(np.mean([env[max(0, f - 1) : f + 3].max() for f in fr if f + 3 < env.size]))

    quarter = 60 / 110 / 4
    assert strength(beats) > 1.4 * strength(beats + quarter)


def test_jazz_is_a_waltz_and_meter_can_be_overridden() -> None:
    _, beats, downbeats = render_song(SongSpec(style="jazz", bpm=150, bars=4), SR)
    assert len(beats) == 12 and np.array_equal(downbeats, beats[::3])
    _, beats, downbeats = render_song(SongSpec(style="lofi", bpm=80, bars=4, meter=3), SR)
    assert len(beats) == 12 and np.array_equal(downbeats, beats[::3])


def test_same_seed_same_audio_other_seed_other_audio() -> None:
    spec = SongSpec(style="lofi", bpm=84, bars=4, seed=11, humanize_ms=8, mode="minor", key="E")
    a, ba, _ = render_song(spec, SR)
    b, bb, _ = render_song(spec, SR)
    assert np.array_equal(a.samples, b.samples) and np.array_equal(ba, bb)
    c, bc, _ = render_song(SongSpec(**{**spec.__dict__, "seed": 12}), SR)
    assert not np.array_equal(ba, bc)
    n = min(a.n_samples, c.n_samples)
    assert not np.allclose(a.samples[:, :n], c.samples[:, :n], atol=1e-3)


def _mfcc_stats(y: np.ndarray, sr: int) -> np.ndarray:
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=13)
    return np.concatenate([m.mean(1), m.std(1)])


def test_styles_are_acoustically_distinct() -> None:
    """Nearest neighbour of each render (other keys, tempi, seeds) is mostly its own style."""
    feats, labels = [], []
    variants = (("C", "major", 100, 10), ("A", "minor", 130, 11), ("F#", "minor", 80, 12))
    for style in STYLES:
        for key, mode, bpm, seed in variants:
            spec = SongSpec(style=style, key=key, mode=mode, bpm=bpm, bars=4, seed=seed)
            feats.append(_mfcc_stats(render_song(spec, 16000)[0].mono(), 16000))
            labels.append(style)
    x = np.array(feats)
    x = (x - x.mean(0)) / x.std(0)
    d = np.linalg.norm(x[:, None] - x[None], axis=2)
    np.fill_diagonal(d, np.inf)
    same = [labels[i] == labels[j] for i, j in enumerate(d.argmin(1))]
    assert np.mean(same) >= 0.85


def test_sections_repeat() -> None:
    """Verse 1 and verse 2 sound alike; verse and chorus differ (16 bars: I V C V C O)."""
    spec = SongSpec(style="chiptune", bpm=150, bars=24, seed=2)
    sig, _, downbeats = render_song(spec, SR)
    y = sig.mono()

    def chroma(bar0: int) -> np.ndarray:
        a, b = (int(downbeats[bar0] * SR), int(downbeats[bar0 + 4] * SR))
        return librosa.feature.chroma_stft(y=y[a:b], sr=SR).ravel()

    def sim(u: np.ndarray, v: np.ndarray) -> float:
        n = min(u.size, v.size)
        return float(np.corrcoef(u[:n], v[:n])[0, 1])

    verse1, chorus1, verse2 = chroma(4), chroma(8), chroma(12)
    assert sim(verse1, verse2) > 0.95
    assert sim(verse1, verse2) > sim(verse1, chorus1) + 0.1


def test_major_and_minor_differ_in_third() -> None:
    def chroma_mean(mode: str) -> np.ndarray:
        sig, _, _ = render_song(
            SongSpec(style="folk", key="C", mode=mode, bpm=100, bars=8, seed=1), SR
        )
        return librosa.feature.chroma_cqt(y=sig.mono(), sr=SR).mean(1)

    major, minor = chroma_mean("major"), chroma_mean("minor")
    assert major[4] > major[3]  # E over Eb
    assert minor[3] > minor[4]


def test_parts_mute_instruments() -> None:
    full, _, _ = render_song(SongSpec(style="rock", bars=4, seed=1), SR)
    drums, _, _ = render_song(SongSpec(style="rock", bars=4, seed=1, parts=("drums",)), SR)
    none, _, _ = render_song(SongSpec(style="rock", bars=4, seed=1, parts=()), SR)
    assert not np.array_equal(full.samples, drums.samples)
    assert np.abs(none.samples).max() == 0.0


@pytest.mark.parametrize(
    "spec",
    [
        SongSpec(style="polka"),
        SongSpec(mode="dorian"),
        SongSpec(key="H"),
        SongSpec(bars=0),
        SongSpec(bpm=0),
        SongSpec(parts=("kazoo",)),
        SongSpec(meter=13),
    ],
)
def test_bad_specs_raise_value_error(spec: SongSpec) -> None:
    with pytest.raises(ValueError):
        render_song(spec, SR)
