"""Where exactly a play begins and ends, at the resolution of the fingerprint's frames.

Once a play's song, speed and position are known, every spectral peak of the file near a
boundary can be checked against the song's own peaks at the aligned time: a peak the song
has there is a *hit*. The song's peaks are rebuilt from its stored fingerprint hashes (each
hash names its anchor peak and its target peak), so no reference audio is needed.

Hits per query peak run at the song's own rate ``r`` (0.3-0.6 on clean audio) while the song
plays and at the chance rate ``r0`` (a few %) when it does not. Each peak's evidence is
normalized to ``(hit - r0) / (r - r0)`` (0 absent, 1 present, expected); the boundary between
the outgoing side and the incoming side is the time that maximizes the evidence for the
outgoing side before it and the incoming side after it. A side that is not a catalog play
(a song not in the catalog, silence) counts as 0.5 everywhere, so a lone start or end is
where the song's presence crosses half its own rate. In an equal-power crossfade both songs
are half present at its midpoint, which is where the boundary lands.

Pure functions over arrays (frames of ``fingerprint.HOP`` samples at ``fingerprint.SR``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonearm.recognition import fingerprint as fp

DT_MASK = (1 << fp.DT_BITS) - 1
DF_MASK = (1 << fp.DF_BITS) - 1
TIME_TOL_FRAMES = 1  # a query peak hits a song peak within this many frames...
BAND_TOL = 1  # ...and this many bands
JITTER_FRAMES = 4  # the play's alignment is searched this far either way
CHANCE_MIN = 0.01


@dataclass
class SongPeaks:
    """A song's own spectral peaks as a dilated occupancy grid.

    Attributes
    ----------
    grid : np.ndarray, shape (n_frames, N_BANDS), bool
        True where the song has a peak within ``TIME_TOL_FRAMES`` frames and ``BAND_TOL``
        bands.
    chance : float
        Share of the grid that is True: the hit rate of unrelated audio.
    """

    grid: np.ndarray
    chance: float

    @property
    def n_frames(self) -> int:
        return int(self.grid.shape[0])


def song_peaks(hashes: np.ndarray, t_anchor: np.ndarray) -> SongPeaks:
    """The peaks a song's fingerprint hashes were made from.

    Parameters
    ----------
    hashes : np.ndarray, shape (m,), uint32
        Hashes as :func:`tonearm.recognition.fingerprint.pair_hashes` packs them (anchor
        band, band difference, frame difference).
    t_anchor : np.ndarray, shape (m,), int
        Anchor frame of each hash.
    """
    h = hashes.astype(np.int64)
    t = t_anchor.astype(np.int64)
    f1 = h >> (fp.DF_BITS + fp.DT_BITS)
    df = ((h >> fp.DT_BITS) & DF_MASK) - fp.DF_MAX
    dt = h & DT_MASK
    ts = np.concatenate([t, t + dt])
    fs = np.concatenate([f1, f1 + df])
    ok = (fs >= 0) & (fs < fp.N_BANDS) & (ts >= 0)
    ts, fs = ts[ok], fs[ok]
    n = int(ts.max()) + 1 if ts.size else 1
    grid = np.zeros((n, fp.N_BANDS), dtype=bool)
    for dtt in range(-TIME_TOL_FRAMES, TIME_TOL_FRAMES + 1):
        for dff in range(-BAND_TOL, BAND_TOL + 1):
            tt, ff = ts + dtt, fs + dff
            k = (tt >= 0) & (tt < n) & (ff >= 0) & (ff < fp.N_BANDS)
            grid[tt[k], ff[k]] = True
    return SongPeaks(grid, max(CHANCE_MIN, float(grid.mean())))


def peak_hits(
    song: SongPeaks,
    t_frames: np.ndarray,
    f_bands: np.ndarray,
    anchor_frames: float,
    speed: float = 1.0,
    shift_bands: float = 0.0,
) -> np.ndarray:
    """Which query peaks the song has at the aligned place.

    Parameters
    ----------
    t_frames : np.ndarray, shape (n,)
        Query peak frames (file frames).
    f_bands : np.ndarray, shape (n,)
        Query peak bands.
    anchor_frames : float
        File frame where the song's frame 0 lies (the play's alignment).
    speed : float
        The file plays the song this many times faster.
    shift_bands : float
        The file's pitch is this many bands above the song's.

    Returns
    -------
    np.ndarray, shape (n,), bool
    """
    tr = np.rint((t_frames - anchor_frames) * speed).astype(np.int64)
    fr = np.rint(f_bands - shift_bands).astype(np.int64)
    ok = (tr >= 0) & (tr < song.n_frames) & (fr >= 0) & (fr < fp.N_BANDS)
    out = np.zeros(t_frames.shape, dtype=bool)
    out[ok] = song.grid[tr[ok], fr[ok]]
    return out


SWITCH_GAIN = 1.15  # another alignment must explain this many times more hits to win
OTHER_OCCURRENCE_S = 2.0  # two alignments further apart: a repeat's two occurrences (closer:
# one alignment's jitter, a quantized speed's)


def best_anchor(
    song: SongPeaks,
    t_frames: np.ndarray,
    f_bands: np.ndarray,
    anchors: list[float],
    speed: float = 1.0,
    shift_bands: float = 0.0,
    prefer: float | None = None,
) -> tuple[float, float]:
    """The alignment under which the most query peaks hit (each candidate of ``anchors``
    searched +-``JITTER_FRAMES``); returns (anchor frames, hit rate). A section heard twice
    in the song fits two alignments equally well (within ``SWITCH_GAIN``): then the
    candidate ``prefer`` (frames) wins if it is among them and lies at another occurrence
    (``OTHER_OCCURRENCE_S`` from the other), else the one that puts the song's start
    latest in the file (the earlier song position: songs are mostly played
    from their start, and the audio cannot tell the two apart)."""
    if t_frames.size == 0 or not anchors:
        return (anchors[0] if anchors else 0.0), 0.0
    found: list[tuple[float, float]] = []
    for a0 in anchors:
        best = (a0, -1.0)
        for j in range(-JITTER_FRAMES, JITTER_FRAMES + 1):
            r = float(peak_hits(song, t_frames, f_bands, a0 + j, speed, shift_bands).mean())
            if r > best[1]:
                best = (a0 + j, r)
        found.append(best)
    top = max(r for _, r in found)
    tied = [(a0, x) for a0, x in zip(anchors, found, strict=True) if x[1] * SWITCH_GAIN >= top]
    latest = max((x for _, x in tied), key=lambda x: x[0])
    chosen = [x for a0, x in tied if prefer is not None and abs(a0 - prefer) < 0.5]
    if chosen and abs(chosen[0][0] - latest[0]) > OTHER_OCCURRENCE_S * fp.FPS:
        return chosen[0]
    return latest


def presence(hits: np.ndarray, rate: float, chance: float) -> np.ndarray:
    """Per-peak evidence that the song plays: 0 at the chance rate, 1 at its own rate."""
    span = max(1e-3, rate - chance)
    return (hits.astype(np.float64) - chance) / span


PRESENT = 0.7  # presence above this: the song is clearly playing...
HEARD = 0.3  # ...above this: it can still be heard (the tail of a fade)


def crossing(t_frames: np.ndarray, presence_: np.ndarray, level: float, *, end: bool) -> float:
    """Where a song's per-peak presence crosses ``level`` for good: the end (``end``: the
    split maximizing presence above ``level`` before it and below after it) or the start.

    Parameters
    ----------
    t_frames : np.ndarray, shape (n,)
        Peak frames, sorted ascending, n >= 1.
    presence_ : np.ndarray, shape (n,)
        Per-peak presence (:func:`presence`).

    Returns
    -------
    float
        A frame between two peaks (or just outside the first/last one).
    """
    ev = presence_ - level if end else level - presence_
    score = np.concatenate([[0.0], np.cumsum(ev)])
    i = int(np.argmax(score))
    if i == 0:
        return float(t_frames[0])
    if i == t_frames.size:
        return float(t_frames[-1]) + 1.0
    return 0.5 * float(t_frames[i - 1] + t_frames[i])


LEVEL_DB = 4.5  # two sides this much apart in loudness: the energy places the fade
POWER_HOP_S = 0.1
POWER_SMOOTH_S = 0.5


def power_envelope_db(y: np.ndarray, sr: int) -> np.ndarray:
    """Short-time power (dB) every ``POWER_HOP_S``, smoothed over ``POWER_SMOOTH_S``.

    Parameters
    ----------
    y : np.ndarray, shape (n,)
    sr : int
        Sample rate, Hz.

    Returns
    -------
    np.ndarray, shape (n // hop,)
    """
    hop = max(1, int(POWER_HOP_S * sr))
    n = y.size // hop
    if n == 0:
        return np.zeros(0)
    p = np.mean(y[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1)
    k = max(1, int(round(POWER_SMOOTH_S / POWER_HOP_S)))
    p = np.convolve(p, np.ones(k) / k, mode="same")
    return 10.0 * np.log10(p + 1e-12)


FADE_EDGE_S = 0.3  # (inside) a midpoint this close to the search range's ends is none


def fade_midpoint_s(
    power_db: np.ndarray, t0_s: float, a_s: float, b_s: float, *, inside: bool = False
) -> float | None:
    """Where a fade between two sides of different loudness is half way, in seconds.

    An equal-power crossfade of two songs of powers Pa and Pb has power
    Pa cos^2 + Pb sin^2, which is (Pa + Pb) / 2 exactly at its midpoint whatever the two
    powers; so the midpoint is where the power crosses that level, looked for between
    ``a_s`` and ``b_s`` (the stretch where both songs are heard), with Pa the median power
    of the 6 s before it and Pb of the 6 s after. None when the two sides are within
    ``LEVEL_DB`` of each other (the power says nothing then).

    ``inside``: the midpoint must lie inside ``a_s``..``b_s`` (both songs' peaks were
    heard around it): a level crossing within ``FADE_EDGE_S`` of either end is a quiet or
    loud passage of one song outside the fade (music dynamics), None.

    Parameters
    ----------
    power_db : np.ndarray, shape (m,)
        :func:`power_envelope_db` of audio starting at ``t0_s``.
    """
    i = lambda t: int(round((t - t0_s) / POWER_HOP_S))  # noqa: E731
    ia, ib = max(0, i(a_s)), min(power_db.size, i(b_s))
    k = int(6.0 / POWER_HOP_S)
    before, after = power_db[max(0, ia - k) : ia], power_db[ib : ib + k]
    if ib - ia < 2 or before.size < k // 3 or after.size < k // 3:
        return None
    pa, pb = float(np.median(before)), float(np.median(after))
    if abs(pa - pb) < LEVEL_DB:
        return None
    mid = 10.0 * np.log10(0.5 * (10 ** (pa / 10) + 10 ** (pb / 10)))
    ev = (power_db[ia:ib] - mid) * np.sign(pa - pb)  # > 0: still the first side's level
    score = np.concatenate([[0.0], np.cumsum(ev)])
    j = int(np.argmax(score))
    edge = int(round(FADE_EDGE_S / POWER_HOP_S))
    if inside and (j < edge or j > ib - ia - edge):
        return None
    return t0_s + (ia + j) * POWER_HOP_S


# -- the fade from the songs' own audio ---------------------------------------------------
# Where the catalog keeps a song's audio, its gain in the file can be measured directly:
# the file's spectrum projected on the song's own, aligned to the sample. Another song or
# noise is uncorrelated with it, so the projection measures the song's gain whatever else
# plays and however loud: the fade's midpoint (half the song's power) is where the gain
# curve says, not where one song's peaks start to win over the other's.
FIT_N_FFT = 512  # 64 ms at 8 kHz
FIT_HOP = 256
FIT_LAG_S = 0.25  # the play's alignment (a few fingerprint frames) is refined this far either way
FIT_MIN_CORR = 0.3  # the aligned song must explain this much of the file on its own side
FIT_LAG_CANDIDATES = 8  # phase-transform peaks checked by correlation for the best lag
FIT_TIE = 1e-6  # fits explaining as much to rounding (relative): a tie
FIT_BLOCK_S = 0.5  # a one-sided fit's midpoint is checked against the file block by block
FIT_ABSENT_Z = 8.0  # a block where the song at its own side's gain would project this many
# chance deviations, but projects less than half that: the song is not there


def placed_song(
    song: np.ndarray, sr: int, anchor_s: float, speed: float, a_s: float, n: int, first: int = 0
) -> np.ndarray:
    """The song's audio where the file plays it: ``n`` samples from file time ``a_s``.

    Parameters
    ----------
    song : np.ndarray, shape (m,)
        The song's own PCM at ``sr`` Hz (from its sample ``first``: a stretch of it,
        silent outside).
    anchor_s : float
        File time of the song's t=0.
    speed : float
        The file plays the song this many times faster (pitch moving with it).

    Returns
    -------
    np.ndarray, shape (n,), float32; zeros where the song has no audio.
    """
    import soxr

    s0 = (a_s - anchor_s) * speed
    i0 = int(np.floor(s0 * sr)) - 64
    i1 = int(np.ceil((s0 + n / sr * speed) * sr)) + 64
    seg = np.zeros(max(0, i1 - i0), np.float32)
    lo, hi = max(first, i0), min(first + song.size, i1)
    if hi > lo:
        seg[lo - i0 : hi - i0] = song[lo - first : hi - first]
    if abs(speed - 1.0) > 1e-6 and seg.size:
        seg = np.asarray(soxr.resample(seg, sr * speed, sr), np.float32)
    off = int(round((a_s - (anchor_s + i0 / sr / speed)) * sr))
    out = np.zeros(n, np.float32)
    src = seg[max(0, off) : max(0, off) + n]
    out[: src.size] = src
    return out


def fine_lag(x: np.ndarray, r: np.ndarray, max_lag: int) -> tuple[int, float]:
    """(lag L in samples, normalized correlation) with ``x[i] ~ r[i - L]`` best, |L| <=
    ``max_lag`` (``x`` and ``r`` of one length). The phase transform (sharp for music
    whatever its spectrum) proposes its highest peaks; the one whose correlation is
    highest wins: it weighs every frequency bin alike, so bins with little of the song
    can outvote those where its energy is."""
    m = r.size
    n = x.size + m
    # a search wider than the stretch (a play far off its speed line) is as wide as it
    max_lag = min(max_lag, m - 1)
    cr = np.fft.rfft(x, n) * np.conj(np.fft.rfft(r, n))
    c = np.fft.irfft(cr / (np.abs(cr) + 1e-9), n)
    dots = np.fft.irfft(cr, n)  # x . (r shifted by L), every lag
    lags = np.r_[np.arange(0, max_lag + 1), np.arange(-max_lag, 0)]
    cl = c[lags]
    peak = (cl >= np.roll(cl, 1)) & (cl >= np.roll(cl, -1))
    cands = np.nonzero(peak)[0]
    cands = cands[np.argsort(cl[cands])[::-1][:FIT_LAG_CANDIDATES]]
    e_x = float(np.sum(x.astype(np.float64) ** 2))
    e_r = np.r_[0.0, np.cumsum(r.astype(np.float64) ** 2)]  # energy of r[:k]
    best = (0, -np.inf)
    for lag in (int(v) for v in lags[cands]):
        # r shifted by lag, the part shifted out dropped
        kept = e_r[m - lag] if lag >= 0 else e_r[m] - e_r[-lag]
        den = float(np.sqrt(e_x * kept))
        corr = float(dots[lag]) / den if den > 0 else 0.0
        if corr > best[1]:
            best = (lag, corr)
    return best


FIT_DRIFT_MAX = 0.01  # a speed refined further than this (relative) from the play's: not trusted


def refined_speed(
    x: np.ndarray,
    r: np.ndarray,
    sr: int,
    speed: float,
    anchor_s: float,
    a_s: float,
    starts: tuple[int, int],
    length: int,
    max_lag: int,
) -> tuple[float, float]:
    """The speed and alignment at which the song placed in ``r`` plays in ``x``, from
    the lags of two stretches (a placed song whose speed is off drifts linearly).

    Parameters
    ----------
    x, r : np.ndarray, shape (n,)
        The file and the song placed at ``speed`` and ``anchor_s`` (file seconds of the
        song's t=0; :func:`placed_song`), both from file time ``a_s``, at ``sr`` Hz.
    starts : (int, int)
        The two stretches' first samples in ``x``, each ``length`` samples; the song's
        alignment is taken from the second (nearest where it is needed).
    max_lag : int
        Each stretch's lag is searched this far either way (samples).

    Returns
    -------
    (speed, anchor_s) : (float, float)
        Refined so the placed song stays on the file; the inputs unchanged when either
        stretch does not line up (:data:`FIT_MIN_CORR`) or the speed would move more
        than :data:`FIT_DRIFT_MAX`.
    """
    lags, centres_s = [], []
    for i in starts:
        lag, corr = fine_lag(x[i : i + length], r[i : i + length], max_lag)
        if corr < FIT_MIN_CORR:
            return speed, anchor_s
        lags.append(lag)
        centres_s.append(a_s + (i + length / 2) / sr)
    if centres_s[1] == centres_s[0]:
        return speed, anchor_s
    # x(t) ~ r(t - L(t)/sr): the song's time at file time t is
    # (t - anchor_s - L(t)/sr) * speed, L linear between the stretches' centres
    slope = (lags[1] - lags[0]) / sr / (centres_s[1] - centres_s[0])  # s of lag per s
    new_speed = speed * (1.0 - slope)
    if abs(new_speed / speed - 1.0) > FIT_DRIFT_MAX:
        return speed, anchor_s
    t1 = centres_s[1]
    song_s = (t1 - anchor_s - lags[1] / sr) * speed
    return new_speed, t1 - song_s / new_speed


def _stft(x: np.ndarray) -> np.ndarray:
    m = max(0, (x.size - FIT_N_FFT) // FIT_HOP + 1)
    idx = np.arange(FIT_N_FFT)[None, :] + FIT_HOP * np.arange(m)[:, None]
    spec = np.fft.rfft(x[idx] * np.hanning(FIT_N_FFT), axis=1)
    return spec[:, 8:200]  # 125 Hz - 3.1 kHz at 8 kHz: where both songs have energy


def fade_fit_s(
    x: np.ndarray,
    out_ref: np.ndarray | None,
    in_ref: np.ndarray | None,
    sr: int,
    edges: tuple[bool, bool] = (False, False),
    own_s: float = 0.0,
) -> float | None:
    """Where a fade is half way (seconds from ``x``'s start), from the songs' own audio.

    The file ``x`` is modelled as ``GA cos(th(t)) out_ref + GB sin(th(t)) in_ref`` (plus
    anything uncorrelated: another song, noise), with ``th`` rising linearly from 0 to
    pi/2 over a fade of length X centred on the midpoint m (X = 0: a cut); m and X are the
    pair that explains the most of ``x``, GA and GB (each song's level) solved for each.
    One side may be None (a song not in the catalog, silence): its term is left out.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        The file around the boundary, at ``sr`` Hz.
    out_ref, in_ref : np.ndarray, shape (n,) or None
        The outgoing and incoming songs' audio placed where the file plays them
        (:func:`placed_song`, aligned to the sample).
    edges : (bool, bool)
        ``x`` starts (ends) where the file does: the midpoint may lie at that edge (the
        song plays from the file's first sample, or to its last); otherwise it stays
        half a second inside ``x``.
    own_s : float
        With one song only: this many seconds at its own edge of ``x`` are known to play
        it (its alignment was checked there). Past them, the midpoint stays before the
        first block the song evidently does not explain (:func:`absent_from_s`).

    Returns
    -------
    float or None
        None when neither song explains its own side of ``x`` (no audio evidence).
    """
    xs = _stft(x)
    n = xs.shape[0]
    if n < 16:
        return None
    t = (np.arange(n) * FIT_HOP + FIT_N_FFT / 2) / sr
    refs: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = []
    for r in (out_ref, in_ref):
        if r is None:
            refs.append(None)
            continue
        rs = _stft(r)
        refs.append((np.sum(np.real(xs * np.conj(rs)), 1), np.sum(np.abs(rs) ** 2, 1), rs))
    a, b = refs
    ab = np.sum(np.real(a[2] * np.conj(b[2])), 1) if a is not None and b is not None else None
    inner = t[(t >= t[0] + 0.5) & (t <= t[-1] - 0.5)]
    ends = [e for e, ok in ((0.0, edges[0]), (x.size / sr, edges[1])) if ok]
    if inner.size == 0:
        return None

    def fit(ms: np.ndarray, fades: np.ndarray) -> tuple[float, float, float]:
        rows = []  # the gain of each midpoint, for each fade
        for fade in fades:
            d = t[None, :] - ms[:, None]  # rows: midpoints; columns: frames
            if fade <= 0.0:
                th = np.where(d < 0, 0.0, np.pi / 2)
            else:
                th = np.clip(np.pi / 4 + d * (np.pi / 2) / fade, 0.0, np.pi / 2)
            c, s = np.cos(th), np.sin(th)
            if a is not None and b is not None and ab is not None:
                h11, h22, h12 = (c**2) @ a[1], (s**2) @ b[1], (c * s) @ ab
                v1, v2 = c @ a[0], s @ b[0]
                det = h11 * h22 - h12**2
                ok = det > 1e-12
                den = np.where(ok, det, 1.0)
                ga = np.where(ok, (v1 * h22 - v2 * h12) / den, 0.0)
                gb = np.where(ok, (v2 * h11 - v1 * h12) / den, 0.0)
                gain = np.where((ga > 0) & (gb > 0), ga * v1 + gb * v2, -np.inf)
            elif a is not None:
                v1, h11 = c @ a[0], (c**2) @ a[1]
                gain = np.where(v1 > 0, v1**2 / np.maximum(h11, 1e-12), -np.inf)
            else:
                assert b is not None
                v2, h22 = s @ b[0], (s**2) @ b[1]
                gain = np.where(v2 > 0, v2**2 / np.maximum(h22, 1e-12), -np.inf)
            rows.append(gain)
        g = np.asarray(rows)  # (fades, midpoints)
        best = float(np.max(g))
        if not np.isfinite(best):
            return -np.inf, 0.0, 0.0
        if a is None or b is None:
            # one song only: where its audio is silent (before its first sample, a silent
            # intro) every midpoint further out explains the file as well; the audio shows
            # no fade there, so the boundary goes to the nearest midpoint on the song's side
            # that explains as much
            near = np.nonzero(np.any(g >= best - FIT_TIE * abs(best), axis=0))[0]
            j = int(near[-1] if a is None else near[0])
            f = int(np.argmax(g[:, j]))
        else:
            f, j = (int(v) for v in np.unravel_index(int(np.argmax(g)), g.shape))
        return float(g[f, j]), float(ms[j]), float(fades[f])

    # coarse (0.2 s, 2 s fades), then to the frame and a quarter second around the best
    coarse = np.sort(np.r_[inner[:: max(1, int(round(0.2 * sr / FIT_HOP)))], ends])
    g, m, fade = fit(coarse, np.arange(0.0, 10.5, 2.0))
    if not np.isfinite(g):
        return None
    inner = np.sort(np.r_[inner, ends])
    near = inner[np.abs(inner - m) <= 0.3]
    g, m, fade = fit(near, np.unique(np.clip(fade + np.arange(-1.0, 1.1, 0.25), 0.0, None)))
    if not np.isfinite(g):
        return None
    if (a is None) != (b is None) and own_s > 0.0:
        # a quiet tail of the song's own (an outro) explains so little of the file that a
        # midpoint past where the song stopped costs nothing: the file's blocks say where
        side = a if a is not None else b
        assert side is not None
        absent = absent_from_s(xs, side[2], t, own_s, end=a is not None)
        if absent is not None:
            m = min(m, absent) if a is not None else max(m, absent)
    return m


def absent_from_s(
    xs: np.ndarray, rs: np.ndarray, t: np.ndarray, own_s: float, *, end: bool
) -> float | None:
    """Where a song that plays on one side of a window evidently stops (``end``) or
    starts playing (seconds from the window's start), from the file's spectrum ``xs``
    and the placed song's ``rs`` (frames x bins, frame centres ``t`` in seconds).

    The song's gain is measured on its own side (the first ``own_s`` seconds, or the
    last for a start); past it, block by block (:data:`FIT_BLOCK_S`), the song at that
    gain would project on the file ``E`` (its energy times the gain), while a file that
    does not contain it projects zero with a deviation ``sd`` (sum of
    ``|xs|^2 |rs|^2 / 2``, square-rooted). The first block with ``E >= FIT_ABSENT_Z sd``
    whose projection is under ``E / 2`` (nearer absent than present, 4 deviations off
    were the song there) is one the song, had it played there, could not have failed
    to explain: the song is gone from its middle on. Blocks where the song's own audio
    is too quiet to tell (a fade into noise) say nothing.

    Returns
    -------
    float or None
        The first such block's centre (its last for a start), or None.
    """
    if not end:  # a start: the same, read from the window's end backwards
        got = absent_from_s(xs[::-1], rs[::-1], t[-1] + t[0] - t[::-1], own_s, end=True)
        return None if got is None else float(t[-1] + t[0] - got)
    proj = np.sum(np.real(xs * np.conj(rs)), 1)
    energy = np.sum(np.abs(rs) ** 2, 1)
    var = np.sum(np.abs(xs) ** 2 * np.abs(rs) ** 2, 1) / 2.0
    own = t < t[0] + own_s
    if energy[own].sum() <= 0.0:
        return None
    gain = float(proj[own].sum() / energy[own].sum())
    if gain <= 0.0:
        return None
    hop_s = float(t[1] - t[0]) if t.size > 1 else 1.0
    k = max(1, int(round(FIT_BLOCK_S / hop_s)))
    for i in range(int(np.argmin(own)) if not own.all() else t.size, t.size - k + 1, k):
        sl = slice(i, i + k)
        sd = float(np.sqrt(var[sl].sum()))
        e = gain * float(energy[sl].sum())
        if sd > 0.0 and e >= FIT_ABSENT_Z * sd and float(proj[sl].sum()) < e / 2.0:
            return float(t[sl].mean())
    return None
