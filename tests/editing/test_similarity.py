"""The similarity string decodes with Audjust's own formula to the matrix we computed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tonearm.core.features.beatsync import BeatFeatures
from tonearm.core.features.ssm import beat_similarity
from tonearm.editing.similarity import decode_similarity, encode_similarity, tri_index


# --- the seed's JavaScript, ported line by line --------------------------------------
def parse_similarity_map_string(s: str, start: float, end: float) -> list[float]:
    # [...s].map((_, i) => (s.charCodeAt(i) - start) / (end - start))
    # (float32 in JS: Float32Array; compared with a tolerance below)
    return [(ord(ch) - start) / (end - start) for ch in s]


def get_diag_index(row: int, col: int) -> int:
    i = max(row, col)
    j = min(row, col)
    return math.floor(((i + 1) * i) / 2 + j)


# --------------------------------------------------------------------------------------


def _matrix(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.random((n, n))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 1.0)
    if n > 1:
        m[0, 1] = m[1, 0] = 0.0
    return m


@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_seed_decoder_recovers_matrix(n: int) -> None:
    m = _matrix(n)
    enc = encode_similarity(m)
    # survives a JSON round trip as a client receives it
    enc = json.loads(json.dumps({"similarity": enc}))["similarity"]
    assert enc["min"] == 32 and enc["max"] == 126
    assert len(enc["data"]) == n * (n + 1) // 2
    matrix = parse_similarity_map_string(enc["data"], enc["min"], enc["max"])
    for i in range(n):
        for j in range(n):
            # rounding is half a level (1/94); an avoided character moves a value one more level
            assert abs(matrix[get_diag_index(i, j)] - m[i, j]) <= 1.5 / 94 + 1e-9
    assert matrix[get_diag_index(0, 0)] == 1.0
    if n > 1:
        assert matrix[get_diag_index(0, 1)] == 0.0


def test_printable_ascii_without_quote_or_backslash() -> None:
    levels = np.linspace(0, 1, 95)
    m = np.zeros((95, 95))
    m[np.arange(95), 0] = levels
    m[0, np.arange(95)] = levels
    data = encode_similarity(m)["data"]
    codes = {ord(c) for c in data}
    assert codes <= set(range(32, 127)) - {34, 92}
    assert '"' not in json.dumps(data)[1:-1] and "\\" not in json.dumps(data)


def test_our_decoder_matches_seed_decoder_and_tri_index() -> None:
    m = _matrix(20, 3)
    enc = encode_similarity(m)
    full = decode_similarity(enc)
    flat = parse_similarity_map_string(enc["data"], 32, 126)
    for i in range(20):
        for j in range(20):
            assert tri_index(i, j) == get_diag_index(i, j)
            assert abs(full[i, j] - flat[get_diag_index(i, j)]) < 1e-6


def test_decode_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        decode_similarity({"data": "ab", "min": 32, "max": 126})  # 2 is not triangular
    with pytest.raises(ValueError):
        decode_similarity({"data": "a", "min": 32, "max": 32})
    with pytest.raises(ValueError):
        decode_similarity({"data": 5, "min": 32, "max": 126})
    with pytest.raises(ValueError):
        encode_similarity(np.zeros((2, 3)))


def _beats(chroma: np.ndarray, logmel: np.ndarray) -> BeatFeatures:
    n = chroma.shape[0]
    return BeatFeatures(
        chroma.astype(np.float32),
        np.zeros((n, 13), np.float32),
        np.ones(n, np.float32),
        logmel.astype(np.float32),
    )


def test_beat_similarity_units_of_the_songs_own_change() -> None:
    rng = np.random.default_rng(3)
    # two alternating sections of 16 beats; beats inside a section vary a little
    sec = np.repeat(np.arange(6) % 2, 16)
    base_c = rng.uniform(0, 1, (2, 12))
    base_m = rng.uniform(-60, -20, (2, 40))
    chroma = base_c[sec] + 0.2 * rng.uniform(0, 1, (len(sec), 12))
    logmel = base_m[sec] + rng.normal(0, 1.5, (len(sec), 40))
    s = beat_similarity(_beats(chroma, logmel))
    assert s.shape == (96, 96) and s.dtype == np.float32
    assert np.allclose(np.diag(s), 1.0) and np.allclose(s, s.T, atol=1e-6)
    i = np.arange(95)
    consecutive = s[i, i + 1][sec[i] == sec[i + 1]]
    # an ordinary beat-to-beat change scores about exp(-1)
    assert 0.25 < np.median(consecutive) < 0.5
    same = s[np.ix_(sec == 0, sec == 0)][~np.eye(48, dtype=bool)]
    other = s[np.ix_(sec == 0, sec == 1)]
    assert np.median(same) > 0.25 and other.max() < 0.05


def test_beat_similarity_steady_and_silent_tracks_stay_alike() -> None:
    rng = np.random.default_rng(4)
    # a drone: differences far under the floors must not be amplified to "unrelated"
    chroma = np.tile(rng.uniform(0, 1, 12), (40, 1)) + 1e-4 * rng.uniform(0, 1, (40, 12))
    logmel = np.tile(rng.uniform(-60, -20, 40), (40, 1)) + rng.normal(0, 0.01, (40, 40))
    assert beat_similarity(_beats(chroma, logmel)).min() > 0.9
    # silent beats (zero chroma) are alike each other and unlike pitched ones
    chroma[:10] = 0.0
    logmel[:10] = -80.0
    s = beat_similarity(_beats(chroma, logmel))
    assert s[:10, :10].min() > 0.9 and s[:10, 10:].max() < 0.1
    assert beat_similarity(_beats(np.zeros((0, 12)), np.zeros((0, 40)))).shape == (0, 0)


def _level_step_song(seed: int = 5, step_db: float = 6.0) -> tuple[BeatFeatures, np.ndarray]:
    """96 beats, quiet / loud / quiet (32 each): the loud beats have ``step_db`` more in the
    lowest 15 of 40 mel bands. Every beat's spectrum varies a lot in detail (5 dB per band,
    zero mean within each group of 5 bands) and little in band level (1 dB), and chroma is
    random, so the 40-band RMS of the step is about an ordinary beat-to-beat change."""
    rng = np.random.default_rng(seed)
    n = 96
    loud = (np.arange(n) // 32) % 2 == 1
    detail = rng.normal(0.0, 5.0, (n, 40))
    detail -= np.repeat(detail.reshape(n, 8, 5).mean(axis=2), 5, axis=1)
    logmel = -40.0 + detail + np.repeat(rng.normal(0.0, 1.0, (n, 8)), 5, axis=1)
    logmel[loud, :15] += step_db
    return _beats(rng.uniform(0, 1, (n, 12)), logmel), loud


def test_beat_similarity_sees_a_low_band_level_step() -> None:
    feats, loud = _level_step_song()
    s = beat_similarity(feats)
    quiet, up = np.flatnonzero(~loud), np.flatnonzero(loud)
    same = s[np.ix_(quiet, quiet)][~np.eye(len(quiet), dtype=bool)]
    across = s[np.ix_(quiet, up)]
    # the full-spectrum distance alone scores the step as an ordinary change (0.35 vs 0.38)
    assert np.median(across) < 0.6 * np.median(same)
    # a song without the step keeps its similarity: only the excess level change counts
    flat, _ = _level_step_song(step_db=0.0)
    s_flat = beat_similarity(flat)
    assert np.median(s_flat[np.ix_(quiet, up)]) > 0.8 * np.median(same)


def test_resize_does_not_cut_across_a_level_step() -> None:
    from tonearm.editing.resize import resize

    feats, loud = _level_step_song()
    sim = decode_similarity(encode_similarity(beat_similarity(feats)))
    best = resize(sim, np.arange(97) * 0.5, 32.0)[0]  # 48 s of 120 bpm beats to 32 s
    assert best.cuts
    # the beat before each cut and the beat after it have the same bass level
    assert all(loud[b - 1] == loud[a] for b, a in best.cuts), best.segments_beats
