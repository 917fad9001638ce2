"""Boundaries of long-file plays from the song's own peaks (recognition.alignment) and the
power of a fade, on synthetic inputs whose true boundary is known exactly."""

from __future__ import annotations

import numpy as np

from tonearm.recognition import alignment
from tonearm.recognition import fingerprint as fp


def _song_hashes(rng: np.random.Generator, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Random peaks paired like the fingerprint pairs them (anchor band, band and frame
    differences), so song_peaks must rebuild both ends of every pair."""
    t = np.sort(rng.integers(0, n_frames - 70, size=n_frames))
    f1 = rng.integers(10, fp.N_BANDS - 10, size=t.size)
    df = rng.integers(-8, 9, size=t.size)
    dt = rng.integers(fp.DT_MIN, fp.DT_MAX + 1, size=t.size)
    h = (f1 << (fp.DF_BITS + fp.DT_BITS)) | ((df + fp.DF_MAX) << fp.DT_BITS) | dt
    return h.astype(np.uint32), t.astype(np.int32)


def test_song_peaks_rebuilds_anchor_and_target_peaks() -> None:
    h, t = _song_hashes(np.random.default_rng(0), 400)
    song = alignment.song_peaks(h, t)
    f1 = h.astype(np.int64) >> (fp.DF_BITS + fp.DT_BITS)
    df = ((h.astype(np.int64) >> fp.DT_BITS) & alignment.DF_MASK) - fp.DF_MAX
    dt = h.astype(np.int64) & alignment.DT_MASK
    assert song.grid[t, f1].all() and song.grid[t + dt, f1 + df].all()
    assert 0.0 < song.chance < 0.5


def test_crossfade_boundary_from_the_two_songs_presence() -> None:
    """Query peaks: song A's (at its alignment) before the cut at frame 600, song B's after,
    with a 3 s crossfade where both are mixed and some random peaks throughout."""
    rng = np.random.default_rng(1)
    ha, ta = _song_hashes(rng, 3000)
    hb, tb = _song_hashes(rng, 3000)
    a, b = alignment.song_peaks(ha, ta), alignment.song_peaks(hb, tb)
    anchor_a, anchor_b = -1000.0, 300.0  # file frame of each song's frame 0
    cut, half = 600, int(1.5 * fp.FPS)
    qt, qf = [], []
    for frame in range(400, 800):
        for song, anchor, w in ((a, anchor_a, cut - frame), (b, anchor_b, frame - cut)):
            # each song's share of the peaks: 1 outside the fade, linear inside it
            share = float(np.clip(0.5 + w / (2 * half), 0.0, 1.0))
            bands = np.nonzero(song.grid[int(frame - anchor)])[0]
            for band in bands[rng.random(bands.size) < 0.15 * share]:
                qt.append(frame)
                qf.append(float(band))
        qt.append(frame)
        qf.append(float(rng.integers(0, fp.N_BANDS)))
    t, f = np.asarray(qt, float), np.asarray(qf, float)
    order = np.argsort(t, kind="stable")
    t, f = t[order], f[order]
    crossings = []
    for song, anchor, end in ((a, anchor_a, True), (b, anchor_b, False)):
        side = (t < cut - 3 * half) if end else (t > cut + 3 * half)
        found, rate = alignment.best_anchor(song, t[side], f[side], [anchor + 3])
        assert abs(found - anchor) <= 1  # the jitter search finds the true alignment
        hits = alignment.peak_hits(song, t, f, found)
        pres = alignment.presence(hits, rate, song.chance)
        crossings += [alignment.crossing(t, pres, v, end=end) for v in (0.7, 0.3)]
    assert abs(np.mean(crossings) - cut) <= 0.25 * fp.FPS, crossings


def test_fade_midpoint_between_songs_of_different_loudness() -> None:
    """An equal-power crossfade from a loud noise 'song' to one 12 dB quieter: the power
    crosses the mean of the two powers at the fade's midpoint."""
    sr = 8000
    rng = np.random.default_rng(2)
    n = 40 * sr
    x0, x1 = 16 * sr, 24 * sr  # an 8 s fade, midpoint at 20 s
    theta = np.clip((np.arange(n) - x0) / (x1 - x0), 0, 1) * np.pi / 2
    y = rng.standard_normal(n) * np.cos(theta) + 0.25 * rng.standard_normal(n) * np.sin(theta)
    env = alignment.power_envelope_db(y.astype(np.float32), sr)
    mid = alignment.fade_midpoint_s(env, 0.0, 15.0, 25.0)
    assert mid is not None and abs(mid - 20.0) < 0.5, mid
    # two sides of equal loudness: the power says nothing
    same = rng.standard_normal(n).astype(np.float32)
    assert alignment.fade_midpoint_s(alignment.power_envelope_db(same, sr), 0.0, 15, 25) is None


def test_a_fade_midpoint_must_lie_where_both_songs_were_heard() -> None:
    """A 2 s crossfade at 20 s from a quiet song into a loud one whose first 4 s are quiet
    (an intro): the power reaches the mean level only at 24 s, at the end of the stretch
    where both songs' peaks place the fade (18-24 s). That crossing is the intro's end,
    not the fade's midpoint: with ``inside`` it is no midpoint (the peaks decide); a
    crossing well inside the stretch still is one."""
    sr = 8000
    rng = np.random.default_rng(5)
    n = 40 * sr
    t = np.arange(n) / sr
    theta = np.clip((t - 19.0) / 2.0, 0, 1) * np.pi / 2
    loud = np.where(t < 24.0, 0.2, 1.0)  # the incoming song's quiet intro
    y = 0.2 * rng.standard_normal(n) * np.cos(theta) + loud * rng.standard_normal(n) * np.sin(theta)
    env = alignment.power_envelope_db(y.astype(np.float32), sr)
    edge = alignment.fade_midpoint_s(env, 0.0, 18.0, 24.0)
    assert edge is not None and edge > 23.0, edge  # what the power alone says
    assert alignment.fade_midpoint_s(env, 0.0, 18.0, 24.0, inside=True) is None
    quiet_in = np.where(t < 20.0, 0.2, 1.0) * rng.standard_normal(n)
    env = alignment.power_envelope_db(quiet_in.astype(np.float32), sr)
    mid = alignment.fade_midpoint_s(env, 0.0, 17.0, 23.0, inside=True)
    assert mid is not None and abs(mid - 20.0) < 0.5, mid
