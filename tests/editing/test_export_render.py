"""Rendering edits: sample-accurate lengths, no clicks at seams, loudness kept, loops."""

from __future__ import annotations

import numpy as np
import pytest

from tonearm.core.audio.signal import Signal
from tonearm.editing.export import credit_cost_export, render_group
from tonearm.editing.render import (
    SegmentError,
    equal_power,
    loudness_lufs,
    render_loop,
    render_segments,
    segments_to_samples,
    stretch_to_length,
)

SR = 22050


def _chord_song(seconds: float = 12.0) -> Signal:
    """A different loud chord every 0.5 s, each with smooth 10 ms edges, so the song has
    no sample steps of its own, but a butt-join in the middle of two chords would click."""
    rng = np.random.default_rng(3)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    beat = int(0.5 * SR)
    edge = int(0.01 * SR)
    env = np.ones(beat)
    env[:edge] = np.sin(0.5 * np.pi * np.arange(edge) / edge) ** 2
    env[-edge:] = env[:edge][::-1]
    for k in range(int(seconds / 0.5)):
        a, b = k * beat, (k + 1) * beat
        f0 = 110 * 2 ** (rng.integers(0, 24) / 12)
        for h in (1, 1.25, 1.5):
            y[a:b] += 0.25 * env * np.sin(2 * np.pi * f0 * h * t[a:b] + rng.uniform(0, 6))
    return Signal(np.stack([y, 0.8 * y]).astype(np.float32), SR)


def _max_jump(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x, axis=-1))))


def test_equal_power_gains() -> None:
    fo, fi = equal_power(100)
    assert np.allclose(fo**2 + fi**2, 1.0, atol=1e-6)
    assert fi[-1] == pytest.approx(1.0) and fo[-1] == pytest.approx(0.0, abs=1e-7)


def test_sample_accurate_length() -> None:
    sig = _chord_song()
    segs = [[0.0, 2.0], [5.25, 7.0], [3.0, 3.5], [9.0, 12.0]]
    out = render_segments(sig, segs)
    expected = sum(round(b * SR) - round(a * SR) for a, b in segs)
    assert out.n_samples == expected
    assert out.channels == 2 and out.sr == SR


def test_no_clicks_at_seams() -> None:
    sig = _chord_song()
    # cut mid-chord into unrelated chords: a plain concatenation jumps hard
    segs = [[0.0, 2.23], [7.61, 9.37], [4.02, 6.0]]
    spans = segments_to_samples(segs, SR, sig.n_samples)
    naive = np.concatenate([sig.samples[:, a:b] for a, b in spans], axis=1)
    out = render_segments(sig, segs, loudness=False)
    within = _max_jump(sig.samples)  # the song's own largest sample step
    assert _max_jump(naive) > 2 * within  # the test signal really would click
    assert _max_jump(out.samples) <= 1.05 * within


def test_untouched_away_from_seams() -> None:
    sig = _chord_song()
    segs = [[0.0, 2.0], [6.0, 8.0]]
    out = render_segments(sig, segs, loudness=False)
    a = int(2.0 * SR)
    f = int(0.02 * SR)
    assert np.array_equal(out.samples[:, : a - f], sig.samples[:, : a - f])
    # from the seam on: exactly the second segment (the landing beat is not faded)
    # (up to where the musical fade-out of an edit that stops before the song's end starts)
    b = int(6.0 * SR)
    assert np.array_equal(out.samples[:, a : a + SR // 2], sig.samples[:, b : b + SR // 2])


def test_loudness_matches_source() -> None:
    sig = _chord_song()
    quiet = Signal(sig.samples * 0.2, SR)  # a quiet stretch of the song
    loud = Signal(np.concatenate([quiet.samples, sig.samples], axis=1), SR)
    src_lufs = loudness_lufs(loud.samples, SR)
    out = render_segments(loud, [[0.0, 6.0], [12.0, 24.0]])  # mostly loud part
    assert src_lufs is not None
    out_lufs = loudness_lufs(out.samples, SR)
    assert out_lufs == pytest.approx(src_lufs, abs=0.5)


def test_segment_errors() -> None:
    sig = _chord_song(4.0)
    with pytest.raises(SegmentError, match="beyond the end"):
        render_segments(sig, [[0.0, 1.0], [3.0, 9.0]])
    with pytest.raises(SegmentError):
        render_segments(sig, [[2.0, 1.0]])
    with pytest.raises(SegmentError):
        render_segments(sig, [[-1.0, 1.0]])
    with pytest.raises(SegmentError):
        render_segments(sig, [])
    # a rounded end a few ms past the audio is accepted (and padded, still sample-accurate)
    out = render_segments(sig, [[0.0, 4.02]], loudness=False)
    assert out.n_samples == round(4.02 * SR)


def test_early_end_fades_out() -> None:
    sig = _chord_song()
    out = render_segments(sig, [[0.0, 5.0]], loudness=False)
    assert np.max(np.abs(out.samples[:, -10:])) < 0.01
    assert np.max(np.abs(out.samples[:, : SR // 2])) > 0.3


def test_loop_wraps_without_a_click() -> None:
    sig = _chord_song()
    out = render_loop(sig, 3.1, 7.3, loudness=False)
    assert out.n_samples == round(7.3 * SR) - round(3.1 * SR)
    twice = np.concatenate([out.samples, out.samples], axis=1)
    within = _max_jump(sig.samples)
    assert _max_jump(twice) <= 1.05 * within
    # at the loop point the end arrives at what precedes the start in the song
    a = round(3.1 * SR)
    assert np.allclose(out.samples[:, -1], sig.samples[:, a - 1], atol=1e-6)
    # a loop from the very start crossfades at its head instead
    head = render_loop(sig, 0.0, 4.0, loudness=False)
    assert _max_jump(np.concatenate([head.samples, head.samples], axis=1)) <= 1.05 * within


def test_exact_length_stretch() -> None:
    sig = _chord_song(6.0)
    target = int(round(6.1 * SR))
    out = stretch_to_length(sig, target)
    assert out.n_samples == target
    with pytest.raises(SegmentError, match="more than 3%"):
        stretch_to_length(sig, int(7.0 * SR))
    g = render_group(sig, [[0.0, 3.0], [3.5, 6.0]], exact_length_s=5.4)
    assert g.n_samples == round(5.4 * SR)


def test_export_credit_cost() -> None:
    assert credit_cost_export(10) == 1
    assert credit_cost_export(60) == 1
    assert credit_cost_export(61) == 2
