"""The resize search on a song with known structure (intro, A B A B, outro; 120 bpm).

Beats sound alike exactly when they share a label (section, beat in the 4-bar pattern),
so a cut is at a section-equivalent point when the beats either side of it match.
"""

from __future__ import annotations

import numpy as np
import pytest
from demo_song import (
    StructuredSong,
    beat_chroma_similarity,
    render_structured_song,
)

from tonearm.editing.analyze import analyze_signal
from tonearm.editing.resize import (
    Edit,
    ResizeInputError,
    beats_in_triangle,
    credit_cost_resize,
    decode_similarity_matrix,
    jump_dissimilarity,
    resize,
)
from tonearm.editing.resize_service import inputs_from_analysis
from tonearm.editing.similarity import encode_similarity


@pytest.fixture(scope="module")
def song() -> StructuredSong:
    return render_structured_song(sr=16000)


@pytest.fixture(scope="module")
def sim(song: StructuredSong) -> np.ndarray:
    return beat_chroma_similarity(song.signal, song.boundaries_s)


def _labels(song: StructuredSong) -> list[tuple[str, int]]:
    return [*song.labels, ("end", 0)]


def _seamless(song: StructuredSong, b: int, a: int) -> bool:
    lab = _labels(song)
    return lab[b] == lab[a] or lab[b - 1] == lab[a - 1]


def _check_edit(song: StructuredSong, e: Edit, target_s: float) -> None:
    n = len(song.boundaries_s)
    assert e.segments_beats[0][0] == 0, "keeps the real beginning"
    assert e.segments_beats[-1][1] == n - 1, "keeps the real ending"
    assert abs(e.duration_s - target_s) <= 2 * song.beat_s + 1e-6
    for (a, b), (sa, sb) in zip(e.segments_beats, e.segments_seconds, strict=True):
        assert b > a
        assert sa == pytest.approx(song.boundaries_s[a]) and sb == pytest.approx(
            song.boundaries_s[b]
        )
    assert e.duration_s == pytest.approx(sum(b - a for a, b in e.segments_seconds))


# targets that the structure allows with section-equivalent cuts (the song is 144 beats
# + a 1 s tail = 73 s; sections repeat every 16 beats)
@pytest.mark.parametrize("target_s", [25.0, 41.0, 57.0])
def test_shorten_keeps_ends_and_cuts_at_equivalent_points(
    song: StructuredSong, sim: np.ndarray, target_s: float
) -> None:
    edits = resize(sim, song.boundaries_s, target_s)
    best = edits[0]
    _check_edit(song, best, target_s)
    assert best.cuts, "shortening needs at least one cut"
    for b, a in best.cuts:
        assert _seamless(song, b, a), (b, a, best.segments_beats)
        assert (a - b) % 4 == 0, "jumps by whole bars"
    assert best.dissimilarity < 0.2
    assert best.duration_s < song.signal.duration_s


@pytest.mark.parametrize("target_s", [105.0, 137.0])
def test_lengthen_repeats_sections(song: StructuredSong, sim: np.ndarray, target_s: float) -> None:
    edits = resize(sim, song.boundaries_s, target_s)
    best = edits[0]
    _check_edit(song, best, target_s)
    assert any(a < b for b, a in best.cuts), "lengthening jumps back (repeats)"
    for b, a in best.cuts:
        assert _seamless(song, b, a), (b, a, best.segments_beats)
    assert best.dissimilarity < 0.2


def test_twenty_genuinely_different_candidates(song: StructuredSong, sim: np.ndarray) -> None:
    edits = resize(sim, song.boundaries_s, 41.0)
    assert len(edits) == 20
    keys = {tuple(e.segments_beats) for e in edits}
    assert len(keys) == 20
    # no candidate is another shifted by less than two bars: every pair differs in a cut
    for i, x in enumerate(edits):
        for y in edits[i + 1 :]:
            if not x.cuts or not y.cuts:
                continue
            same = all(
                any(abs(b - cb) < 8 and abs(a - ca) < 8 for cb, ca in y.cuts) for b, a in x.cuts
            ) and len(x.cuts) == len(y.cuts)
            assert not same, (x.segments_beats, y.segments_beats)
    scores = [e.blended_score for e in edits]
    assert scores == sorted(scores, reverse=True), "best (closest to 0) first"
    assert all(s <= 0 for s in scores)
    # the good ones are really good: most of the list is made of seamless cuts
    good = [e for e in edits if all(_seamless(song, b, a) for b, a in e.cuts)]
    assert len(good) >= 8


def test_segments_not_too_short(song: StructuredSong, sim: np.ndarray) -> None:
    for target in (25.0, 105.0):
        edits = resize(sim, song.boundaries_s, target)[:10]
        assert edits, target
        for e in edits:
            assert min(b - a for a, b in e.segments_beats) >= 4


def test_whole_song_target_needs_no_cut(song: StructuredSong, sim: np.ndarray) -> None:
    best = resize(sim, song.boundaries_s, song.signal.duration_s)[0]
    assert best.segments_beats == [(0, len(song.boundaries_s) - 1)]
    assert best.dissimilarity == 0.0


def test_very_short_target_falls_back_to_the_start(song: StructuredSong, sim: np.ndarray) -> None:
    edits = resize(sim, song.boundaries_s, 1.0)
    assert edits
    assert edits[0].segments_beats[0][0] == 0
    assert edits[0].duration_s <= 1.0 + 2 * song.beat_s


def test_similarity_string_round_trip() -> None:
    rng = np.random.default_rng(1)
    m = rng.uniform(0, 1, (9, 9))
    m = (m + m.T) / 2
    s = encode_similarity(m)["data"]
    assert len(s) == 9 * 10 // 2
    d = decode_similarity_matrix(s, 32, 126)
    # one level step at most: the encoder never emits '"' or '\\' (next level instead)
    assert np.allclose(d, m, atol=1.5 / 94 + 1e-6)
    # the seed's getDiagIndex: cell (i, j) is character (i+1)*i/2 + j
    i, j = 6, 2
    assert (ord(s[(i + 1) * i // 2 + j]) - 32) / 94 == pytest.approx(d[i, j])
    assert beats_in_triangle(45) == 9 and beats_in_triangle(44) is None


def test_bad_inputs() -> None:
    sim = np.ones((5, 5), dtype=np.float32)
    with pytest.raises(ResizeInputError):
        resize(sim, [0, 1, 2, 3, 4], -3)
    with pytest.raises(ResizeInputError):
        resize(sim, [0, 1, 2, 3, 4, 5, 6, 7], 3)  # similarity for 5 beats, 8 boundaries
    with pytest.raises(ResizeInputError):
        resize(sim, [0, 2, 1, 3, 4], 3)  # not increasing
    with pytest.raises(ResizeInputError):
        resize(sim, [0, 1, 2, float("nan"), 4], 3)
    with pytest.raises(ResizeInputError):
        decode_similarity_matrix("abcd", 32, 126)  # 4 is not triangular


@pytest.fixture(scope="module")
def analyzed(song: StructuredSong) -> tuple[np.ndarray, np.ndarray, list[tuple[str, int]]]:
    """The song through the real analyze service (tracked beats, wire-quantized similarity):
    (similarity, boundaries, label of each boundary from the nearest true beat)."""
    a = analyze_signal(song.signal)
    sim, bounds = inputs_from_analysis(a, song.signal.duration_s)
    sim = decode_similarity_matrix(encode_similarity(sim)["data"], 32, 126)
    true = np.round(bounds / song.beat_s).astype(int)
    assert np.max(np.abs(bounds[:-1] - true[:-1] * song.beat_s)) < 0.05, "beats tracked"
    lab = _labels(song)
    return sim, bounds, [lab[min(t, len(lab) - 1)] for t in true]


def _seamless_at(labels: list[tuple[str, int]], b: int, a: int) -> bool:
    return labels[b] == labels[a] or labels[b - 1] == labels[a - 1]


@pytest.mark.parametrize("target_s", [25.0, 33.0, 41.0, 49.0, 57.0, 105.0, 137.0])
def test_analyzed_song_cuts_where_the_music_continues(
    analyzed: tuple[np.ndarray, np.ndarray, list[tuple[str, int]]], target_s: float
) -> None:
    # End to end (analyze -> resize), with targets that force cuts between sections with
    # the same rhythm and timbre but other chords: every cut of the best edit must join
    # equivalent beats (same section and place in its 4-bar pattern on one side).
    sim, bounds, labels = analyzed
    best = resize(sim, bounds, target_s)[0]
    n = len(bounds)
    assert best.segments_beats[0][0] == 0 and best.segments_beats[-1][1] == n - 1
    assert abs(best.duration_s - target_s) <= 2 * 0.5 + 1e-6
    assert best.cuts
    for b, a in best.cuts:
        assert _seamless_at(labels, b, a), (b, a, labels[b - 1], labels[a], best.segments_beats)
        assert (a - b) % 4 == 0, "jumps by whole bars"


def test_seam_cost_separates_equivalent_from_other_beats(
    analyzed: tuple[np.ndarray, np.ndarray, list[tuple[str, int]]],
) -> None:
    # Jumps by whole bars: those between equivalent beats must cost less than those that
    # are not (so the search's preference is not luck: most such jumps are not
    # equivalent, e.g. A into B at the same place in the pattern). Not every pair: notes
    # ring into the next beats, so equivalent beats after different sections differ.
    sim, bounds, labels = analyzed
    n = len(bounds)
    dis = jump_dissimilarity(sim, n)
    good, bad = [], []
    for b in range(9, n - 9):
        for a in range(9, n - 9):
            if a != b and (a - b) % 4 == 0:
                (good if _seamless_at(labels, b, a) else bad).append(dis[b, a])
    assert len(bad) > len(good) > 50
    g, x = np.asarray(good), np.asarray(bad)
    assert np.mean(g[:, None] < x[None, :]) > 0.8  # a random good jump beats a random bad one
    assert np.median(g) < 0.5 * np.median(x)


def test_credit_cost() -> None:
    assert credit_cost_resize(30) == 4
    assert credit_cost_resize(60) == 4
    assert credit_cost_resize(61) == 8
    assert credit_cost_resize(0.5) == 4
