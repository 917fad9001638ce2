"""Seamless loops on a song with known structure: the loop's end flows into its start."""

from __future__ import annotations

import numpy as np
import pytest
from demo_song import (
    StructuredSong,
    beat_chroma_similarity,
    render_structured_song,
)

from tonearm.editing.loop import find_loops
from tonearm.editing.render import render_loop
from tonearm.editing.resize import ResizeInputError


@pytest.fixture(scope="module")
def song() -> StructuredSong:
    return render_structured_song(sr=16000)


@pytest.fixture(scope="module")
def sim(song: StructuredSong) -> np.ndarray:
    return beat_chroma_similarity(song.signal, song.boundaries_s)


@pytest.mark.parametrize("target_s", [8.0, 32.0])
def test_loop_points_flow(song: StructuredSong, sim: np.ndarray, target_s: float) -> None:
    loops = find_loops(sim, song.boundaries_s, target_s)
    assert loops
    best = loops[0]
    a, b = best.start_beat, best.end_beat
    lab = [*song.labels, ("end", 0)]
    # jumping from b back to a continues the music: same beat either side of the loop point
    assert lab[b] == lab[a] or lab[b - 1] == lab[a - 1], (a, b)
    assert (b - a) % 4 == 0, "whole bars"
    assert abs(best.duration_s - target_s) <= 2 * song.beat_s
    assert best.dissimilarity < 0.2
    d = best.to_audjust(44100)
    assert d["loopStartSample"] == round(song.boundaries_s[a] * 44100)
    assert d["loopEndSample"] == round(song.boundaries_s[b] * 44100)
    assert d["segmentsBeats"] == [[a, b]]
    # different loops are different places, sorted best first
    starts = [(lp.start_beat, lp.end_beat) for lp in loops]
    assert len(set(starts)) == len(starts)
    scores = [lp.blended_score for lp in loops]
    assert scores == sorted(scores, reverse=True)


def test_rendered_loop_is_seamless(song: StructuredSong, sim: np.ndarray) -> None:
    best = find_loops(sim, song.boundaries_s, 8.0)[0]
    out = render_loop(song.signal, best.start_s, best.end_s, loudness=False)
    twice = np.concatenate([out.samples, out.samples], axis=1)
    step = float(np.max(np.abs(np.diff(song.signal.samples, axis=1))))
    assert float(np.max(np.abs(np.diff(twice, axis=1)))) <= 1.05 * step
    n = out.n_samples
    assert n == round(best.end_s * song.signal.sr) - round(best.start_s * song.signal.sr)


def test_loop_bad_inputs(song: StructuredSong, sim: np.ndarray) -> None:
    with pytest.raises(ResizeInputError):
        find_loops(sim, song.boundaries_s, 500.0)  # longer than the song
    with pytest.raises(ResizeInputError):
        find_loops(sim, song.boundaries_s, 0.0)
    with pytest.raises(ResizeInputError):
        find_loops(sim[:10, :10], song.boundaries_s, 8.0)
