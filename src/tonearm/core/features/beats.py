"""Beat tracking: spectral-flux activation decoded by a tempo-aware dynamic Bayesian network.

The model is the bar-pointer DBN of madmom's ``DBNBeatTrackingProcessor`` (Krebs, Böck &
Widmer 2015) restricted to one beat per cycle, written as a semi-Markov chain: a state is
(beat interval in frames); within a beat the phase advances deterministically, so the
Viterbi recursion only needs the frames where beats fall::

    D[t, k] = r[t] + prior[k] + max_j ( D[t - L_j, j] + log A[j, k] )

with ``L_j`` the interval of tempo state ``j``, ``r`` the beat log-odds of the activation
and ``A`` madmom's tempo transition ``exp(-lambda * |L_k / L_j - 1|)``. Because every
interval is at least ``L_min`` frames, ``L_min`` consecutive frames depend only on earlier
ones and are computed in one vectorized numpy step: no numba, no compile on first call.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from tonearm.core.features.onset import (
    ANALYSIS_SR,
    Spectrogram,
    beat_activation,
    logspec_band_centres_hz,
    spectrogram,
    superflux,
)

# Tempo range and tempo-change stiffness: madmom's DBN defaults.
MIN_BPM = 55.0
MAX_BPM = 215.0
TRANSITION_LAMBDA = 100.0
# The rest was tuned on bench/beats.py's synth + midi sets (24 pieces) and checked against
# its real-recording set (agreement with madmom):
PREFERRED_BPM = 115.0  # centre of the decoder's own tempo prior when no estimate is given
TEMPO_PRIOR_WEIGHT = 4.0  # per-beat pull of the DBN towards the global estimate
OCTAVE_SIGMA = 1.0  # spread (octaves) of the estimate's octave prior
# Octave prior of the global tempo estimate per activation, (centre BPM, octaves), chosen
# on all four sets of bench/beats.py (lmms, musescore, real, midi; bench/beat_tune.py):
# 115 BPM halved most songs at 170-200 BPM. Centred at 135, the remaining level errors
# split evenly between double and half. A check that re-decoded each song at x2, x1/2,
# x3/2, x2/3 and kept the level with the most beat-vs-midpoint contrast lost F on 3 of
# the 4 sets with either activation, and is not used.
TEMPO_PRIOR = {"dsp": (135.0, 0.7), "beatnet": (135.0, 1.0), "blend": (135.0, 1.0)}
# Weight of BeatNet's downbeat salience in the global tempo estimate (0: beat activation
# alone). 0.5-0.7 fixed 3:2 and x2 errors on our MIDI renders and LMMS and changed nothing
# on real songs or MuseScore; 0.3 lost the MIDI fix, 1.0+ halved a tempo-ramp piece
# (bench/results/beats/NOTES.md).
DOWNBEAT_WEIGHT = 0.5
HALF_PENALTY = 0.2  # strong periodicity at half the interval argues for the faster level
# Strong periodicity at two thirds of the interval argues against it: in duple or triple
# metre the pulse divides the beat into halves or thirds, never into 2/3, so a candidate
# there sits at 3/2 of the true beat (a 3-3-2 figure heard as the beat) or at 4/3. Per
# activation: 0.2-0.5 fixed two LMMS songs' 2:3 and 4:3 tempos and one real song's with
# BeatNet; 0.6 lost a MIDI piece; on the spectral flux alone it doubled a real song.
THIRD_PENALTY = {"dsp": 0.0, "beatnet": 0.3, "blend": 0.3}
LOW_BANDS = 16  # the lowest 16 bands (one FFT bin each, up to ~370 Hz): kick and bass
LOW_WEIGHT = 0.5  # extra weight of their flux in the activation
# Constant shift of the reported beats. Centred STFT frames put the flux maximum at the
# onset: the median signed error is +1.6 ms on synthesized pieces and -0.7 ms against
# madmom on real recordings (bench/beats.py), so no correction is applied.
LATENCY_S = 0.0
# Slow attacks (bowed strings, brass, organ) sound late: such a note's spectral flux peaks
# 20-60 ms after it starts, and the peak is wider. The beats move earlier by a lag read off
# the mean width at half height of the flux peaks at the beats: 0 up to 35 ms (drums,
# piano, plucks: 30-34 ms), 28 ms at 44 ms, 40 ms from 57 ms on. Synthetic tones with
# 60-150 ms attacks (44-66 ms wide) sound 22-34 ms late, MuseScore's string and brass
# renders 25-60 ms (bench/results/beats/NOTES.md, session 10).
ATTACK_WIDTH_S = (0.035, 0.044, 0.057)
ATTACK_LAG_S = (0.0, 0.028, 0.040)
MIN_DURATION_S = 1.0
# metre_level's margin (autocorrelation units). Off (inf): at 0.05-0.2 it halved correct
# tempos on LMMS and real songs more often than it fixed wrong ones (bench/results/beats)
METRE_MARGIN = float("inf")  # shorter audio has no beats (two beats at most, no tempo)
# Swing check (swing_phase): a run of SWING_WINDOW beats moves to the onset 1/3 of an
# interval later when the activation there is SWING_RATIO times the one at 2/3 and at least
# SWING_MIN_REL of the one at the beats (bench/results/beats/NOTES.md, session 7).
SWING_WINDOW = 16
SWING_RATIO = 2.0
SWING_MIN_REL = 0.65
# Detour check (phase_detours): beats that drift half a beat off the grid of the
# DETOUR_FIT beats before them for at least DETOUR_MIN_OFF beats, and come back onto it
# for DETOUR_SIDE beats within DETOUR_MAX_RUN beats, are replaced by that grid
# (bench/results/beats/NOTES.md, session 8).
DETOUR_FIT = 16
DETOUR_MIN_OFF = 8
DETOUR_SIDE = 8
DETOUR_MAX_RUN = 96
DETOUR_MAX_DRIFT = 0.005
# End check (phase_ends): an intro or outro of at least DETOUR_MIN_OFF beats, at most
# ENDS_MAX_RUN beats and ENDS_MAX_FRAC of the song, half a beat off the steady grid of the
# ENDS_SIDE beats next to it, is put onto that grid (bench/results/beats/NOTES.md, session 9).
ENDS_SIDE = 32
ENDS_MAX_RUN = 96
ENDS_MAX_FRAC = 0.3
# Pulse check (pulse_level): the decoded beats' midpoints are beats too when every band
# with onsets (kick, low-mid, snare, hats) is as strong there as at the beats, within
# PULSE_MIDPOINT_RATIO either way: an off-beat is weaker than its beat in at least one
# band. Then the decoder runs again at twice the tempo, if that is at most MAX_BPM
# (bench/results/beats/NOTES.md, session 11).
PULSE_BANDS_HZ = ((0.0, 160.0), (370.0, 1500.0), (1500.0, 4500.0), (5300.0, 11000.0))
PULSE_MIDPOINT_RATIO = 0.85
PULSE_MIN_LEVEL = 0.1  # a band's mean activation at the beats below this: no onsets there
PULSE_MIN_BEATS = 16
# Phase check (even_pulse_phase), blend activation only: where every band with onsets is
# about as strong at the beats' midpoints as at the beats (ratios within PHASE_EVEN_RANGE),
# the drums do not say which phase holds the beat and BeatNet's half of the blend decides
# it; then the beats move half a beat when the spectral flux is stronger at the midpoints
# (bench/results/beats/NOTES.md, session 11 phase).
PHASE_EVEN_RANGE = (0.8, 1.25)


@dataclass(frozen=True)
class Beats:
    """Beat tracking result.

    Attributes
    ----------
    times_s : np.ndarray, shape (n_beats,), float64
        Beat times in seconds, increasing.
    bpm : float
        Tempo in beats per minute (from the median beat interval; 0 if < 2 beats).
    activation : np.ndarray, shape (n_frames,), float32
        The beat activation the tracker decoded, in [0, 1].
    fps : float
        Frame rate of ``activation``.
    """

    times_s: np.ndarray
    bpm: float
    activation: np.ndarray
    fps: float


def _log_odds(act: np.ndarray, floor: float = 0.03, obs_lambda: float = 16.0) -> np.ndarray:
    a = floor + (1.0 - 2.0 * floor) * act.astype(np.float64)
    return np.log(a) - np.log((1.0 - a) / (obs_lambda - 1.0))


def decode_beats(
    act: np.ndarray,
    fps: float,
    *,
    min_bpm: float = MIN_BPM,
    max_bpm: float = MAX_BPM,
    transition_lambda: float = TRANSITION_LAMBDA,
    preferred_bpm: float = PREFERRED_BPM,
    prior_weight: float = 0.5,
    threshold: float = 0.05,
) -> np.ndarray:
    """Most likely beat frames for a beat activation.

    Parameters
    ----------
    act : np.ndarray, shape (n_frames,)
        Beat activation in [0, 1].
    fps : float
        Frames per second of ``act``.
    min_bpm, max_bpm : float
        Tempo range of the state space.
    transition_lambda : float
        Tempo change stiffness (higher: steadier tempo).
    preferred_bpm, prior_weight : float
        Log-normal tempo prior per beat, ``-w * log2(bpm / preferred) ** 2``, settling
        octave ambiguity towards the tempo most listeners tap.
    threshold : float
        Only the span between the first and last frame whose activation exceeds it is
        decoded (no beats in leading or trailing silence).

    Returns
    -------
    np.ndarray, shape (n_beats,), int64
        Frame indices of the beats.
    """
    act = np.asarray(act, dtype=np.float64)
    above = np.nonzero(act > threshold)[0]
    if above.size < 2:
        return np.zeros(0, dtype=np.int64)
    first, last = int(above[0]), int(above[-1]) + 1
    seg = act[first:last]
    T = len(seg)
    lmin = max(1, int(np.floor(60.0 * fps / max_bpm)))
    lmax = int(np.ceil(60.0 * fps / min_bpm))
    if lmin > T:
        return np.array([first + int(np.argmax(seg))], dtype=np.int64)
    L = np.arange(lmin, lmax + 1)
    K = len(L)
    ratio = L[None, :] / L[:, None] - 1.0  # [from j, to k]
    logA = -transition_lambda * np.abs(ratio)
    logA -= np.log(np.exp(logA).sum(axis=1, keepdims=True))
    bpm = 60.0 * fps / L
    prior = -prior_weight * np.log2(bpm / preferred_bpm) ** 2
    r = _log_odds(seg)

    D = np.full((T, K), -np.inf)
    psi = np.full((T, K), -1, dtype=np.int32)
    ks = np.arange(K)
    init = -np.log(K)
    for t0 in range(0, T, lmin):
        t = np.arange(t0, min(t0 + lmin, T))
        src = t[:, None] - L[None, :]  # (B, K): frame of the previous beat per tempo j
        prev = np.where(src >= 0, D[np.maximum(src, 0), ks[None, :]], -np.inf)
        cand = prev[:, :, None] + logA[None, :, :]  # (B, j, k)
        best_j = np.argmax(cand, axis=1)  # (B, k)
        best = np.take_along_axis(cand, best_j[:, None, :], axis=1)[:, 0, :]
        # a first beat may sit anywhere within the first interval of its tempo
        start = np.where(t[:, None] < L[None, :], init, -np.inf)
        use_start = start > best
        D[t] = np.where(use_start, start, best) + r[t][:, None] + prior[None, :]
        psi[t] = np.where(use_start, -1, best_j)

    # the last beat lies within one interval of the end
    tail = np.arange(T)[:, None] >= (T - L[None, :])
    scores = np.where(tail, D, -np.inf)
    flat = int(np.argmax(scores))
    t_last, k_last = divmod(flat, K)
    out: list[int] = [t_last]
    cur_t, cur_k = t_last, k_last
    while True:
        j = int(psi[cur_t, cur_k])
        if j < 0:
            break
        cur_t -= int(L[j])
        cur_k = j
        out.append(cur_t)
    return np.asarray(out[::-1], dtype=np.int64) + first


def estimate_tempo(
    act: np.ndarray,
    fps: float,
    *,
    min_bpm: float = MIN_BPM,
    max_bpm: float = MAX_BPM,
    preferred_bpm: float = PREFERRED_BPM,
    octave_sigma: float = 1.0,
    downbeat: np.ndarray | None = None,
    downbeat_weight: float | None = None,
    third_penalty: float = 0.0,
) -> float:
    """Global tempo (BPM) from the activation's autocorrelation over the whole signal.

    Each candidate interval scores the autocorrelation at its first four multiples (a beat
    level is supported by the bar-level periodicities above it), weighted by a log-normal
    prior around ``preferred_bpm`` with ``octave_sigma`` octaves of spread.

    ``downbeat`` (shape (n_frames,), BeatNet's downbeat probability) adds its own salience,
    times ``downbeat_weight`` (default ``DOWNBEAT_WEIGHT``): the network marks bar starts
    on the true beat grid, which settles 3:2 and double/half choices that the beat
    activation alone leaves nearly tied. ``third_penalty`` weighs the periodicity at 2/3
    of each candidate's interval against it (see ``THIRD_PENALTY``).
    """
    lmin = int(np.floor(60.0 * fps / max_bpm))
    lmax = int(np.ceil(60.0 * fps / min_bpm))
    if len(act) < 2 * lmax:
        return 0.0
    fine = np.linspace(lmin, lmax, 8 * (lmax - lmin + 1))
    bpm = 60.0 * fps / fine
    kw = {"preferred_bpm": preferred_bpm, "octave_sigma": octave_sigma}
    score = tempo_salience(act, fps, bpm, third_penalty=third_penalty, **kw)
    weight = DOWNBEAT_WEIGHT if downbeat_weight is None else downbeat_weight
    if downbeat is not None and weight > 0 and len(downbeat) == len(act) and np.any(downbeat > 0):
        score = score + weight * tempo_salience(
            downbeat, fps, bpm, third_penalty=third_penalty, **kw
        )
    return float(bpm[int(np.argmax(score))])


def tempo_salience(
    act: np.ndarray,
    fps: float,
    bpm: np.ndarray,
    *,
    preferred_bpm: float = PREFERRED_BPM,
    octave_sigma: float = 1.0,
    half_penalty: float | None = None,
    third_penalty: float = 0.0,
) -> np.ndarray:
    """How well each tempo in ``bpm`` explains the activation (see :func:`estimate_tempo`)."""
    if half_penalty is None:
        half_penalty = HALF_PENALTY
    a = np.asarray(act, dtype=np.float64)
    a = a - a.mean()
    n = len(a)
    lags = 60.0 * fps / np.asarray(bpm, dtype=np.float64)
    top = int(np.ceil(4 * lags.max())) + 2
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    spec = np.fft.rfft(a, nfft)
    ac = np.fft.irfft(spec * np.conj(spec), nfft)[: min(top, n)]
    ac = ac / max(ac[0], 1e-12)
    idx = np.arange(len(ac))
    score = np.zeros_like(lags)
    for m, w in ((1, 1.0), (2, 0.5), (3, 0.33), (4, 0.25)):
        score += w * np.interp(m * lags, idx, ac, right=0.0)
    # strong periodicity at half the interval means the beat is probably that faster level
    score -= half_penalty * np.maximum(np.interp(lags / 2, idx, ac), 0.0)
    score -= third_penalty * np.maximum(np.interp(2 * lags / 3, idx, ac), 0.0)
    weight = np.exp(-0.5 * (np.log2(np.asarray(bpm) / preferred_bpm) / octave_sigma) ** 2)
    return np.asarray(np.maximum(score, 0.0) * weight)


def _refine(frames: np.ndarray, act: np.ndarray) -> np.ndarray:
    """Sub-frame beat positions by a parabola through the activation around each frame."""
    f = frames.astype(np.float64)
    i = np.clip(frames, 1, len(act) - 2)
    a, b, c = act[i - 1].astype(np.float64), act[i].astype(np.float64), act[i + 1]
    denom = a - 2 * b + c
    ok = (denom < 0) & (b >= a) & (b >= c)
    delta = np.where(ok, 0.5 * (a - c) / np.where(ok, denom, 1.0), 0.0)
    return f + np.clip(delta, -0.5, 0.5)


TEMPO_CHANGE_RATIO = 1.1  # local tempo spread (90th / 10th percentile) that counts as a change


def local_tempo(times_s: np.ndarray, beats_per_window: int = 8) -> np.ndarray:
    """Tempo (BPM) around each beat: the median interval of ``beats_per_window`` beats.

    Returns shape (max(n_beats - beats_per_window, 0),); empty for fewer beats.
    """
    ibi = np.diff(np.asarray(times_s, dtype=np.float64))
    if len(ibi) < beats_per_window:
        return np.zeros(0)
    win = np.lib.stride_tricks.sliding_window_view(ibi, beats_per_window)
    return np.asarray(60.0 / np.median(win, axis=1))


def tempo_changes(times_s: np.ndarray, ratio: float = TEMPO_CHANGE_RATIO) -> bool:
    """Whether the tempo of a beat sequence changes (a ramp, a new section's tempo).

    True when the 90th percentile of :func:`local_tempo` is more than ``ratio`` times its
    10th percentile; False for fewer than 16 beats (too short to tell).
    """
    lt = local_tempo(times_s)
    if len(lt) < 8:
        return False
    lo, hi = np.percentile(lt, [10, 90])
    return bool(hi > ratio * lo)


ACTIVATIONS = ("auto", "dsp", "beatnet", "blend")
# What track_beats decodes unless told otherwise. On bench/beats.py's sets the blend beat
# the spectral flux alone on real recordings (agreement with madmom), LMMS and MuseScore
# renders, and lost on our fluidsynth MIDI renders (half of them without drums).
DEFAULT_ACTIVATION = "auto"


def default_activation() -> str:
    """The activation a default :func:`track_beats` call runs here (shown by /healthz)."""
    return activation_kind(DEFAULT_ACTIVATION)


def activation_kind(requested: str = "auto") -> str:
    """The activation :func:`track_beats` uses for ``requested``.

    "auto" is "blend" (BeatNet's CRNN averaged with the spectral flux) when the ``BeatNet``
    wheel (its checkpoints; torch is not needed) is installed, else "dsp" (the spectral flux
    alone).
    """
    if requested not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, not {requested!r}")
    if requested != "auto":
        return requested
    from tonearm.core.features.beatnet import beatnet_available

    return "blend" if beatnet_available() else "dsp"


def dsp_activation(spec: Spectrogram) -> np.ndarray:
    """Spectral-flux beat activation of a :class:`Spectrogram`, shape (n_frames,), in [0, 1]."""
    flux = superflux(spec.logspec)
    # kick drums and bass notes carry the beat more often than the hi-hats: count the
    # lowest bands' flux again (the first ~2 octaves above 30 Hz)
    low = superflux(spec.logspec[:, :LOW_BANDS])
    if low.max() > 0 and flux.max() > 0:
        flux = flux / np.percentile(flux, 99) + LOW_WEIGHT * low / np.percentile(low, 99)
    return beat_activation(flux, spec.fps)


def trained_activation(y: np.ndarray, sr: int, n_frames: int, fps: float) -> np.ndarray:
    """BeatNet's "any beat" probability (beat + downbeat) resampled to ``n_frames`` at ``fps``.

    Shape (n_frames,), float32, in [0, 1]. Requires the optional ``BeatNet`` wheel.
    """
    return trained_activations(y, sr, n_frames, fps)[0]


def trained_activations(
    y: np.ndarray, sr: int, n_frames: int, fps: float
) -> tuple[np.ndarray, np.ndarray]:
    """BeatNet's "any beat" and "downbeat" probabilities at ``fps``, each (n_frames,) float32."""
    from tonearm.core.features.beatnet import BEATNET_FPS, beatnet_activation

    beat, down = beatnet_activation(y, sr)
    if beat.size == 0:
        z = np.zeros(n_frames, dtype=np.float32)
        return z, z.copy()
    t = np.arange(n_frames) / fps
    t50 = np.arange(len(beat)) / BEATNET_FPS
    p = np.interp(t, t50, beat + down, right=0.0).astype(np.float32)
    d = np.interp(t, t50, down, right=0.0).astype(np.float32)
    return p, d


def _autocorrelation(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    a = a - a.mean()
    n = len(a)
    nfft = 1 << int(np.ceil(np.log2(2 * max(n, 1))))
    spec = np.fft.rfft(a, nfft)
    ac = np.fft.irfft(spec * np.conj(spec), nfft)[:n]
    return np.asarray(ac / max(float(ac[0]), 1e-12))


def metre_level(
    tempo_bpm: float, downbeat: np.ndarray, fps: float, *, margin: float | None = None
) -> float:
    """The metrical level (``tempo_bpm``, its half or its double) whose bars fit the downbeats.

    A bar holds 3 or 4 beats: each candidate scores the downbeat activation's
    autocorrelation at 3 and 4 of its beat intervals (the better one), and another level
    replaces ``tempo_bpm`` only when it scores ``margin`` more.
    """
    if margin is None:
        margin = METRE_MARGIN
    if tempo_bpm <= 0 or len(downbeat) < 4 or not np.any(downbeat > 0):
        return tempo_bpm
    ac = _autocorrelation(downbeat)
    idx = np.arange(len(ac))

    def bar_fit(bpm: float) -> float:
        lag = 60.0 * fps / bpm
        return float(max(np.interp(m * lag, idx, ac, right=0.0) for m in (3, 4)))

    best, best_fit = tempo_bpm, bar_fit(tempo_bpm)
    for cand in (tempo_bpm / 2, tempo_bpm * 2):
        if MIN_BPM <= cand <= MAX_BPM:
            fit = bar_fit(cand)
            if fit > best_fit + margin:
                best, best_fit = cand, fit
    return best


def pulse_bands(spec: Spectrogram) -> np.ndarray:
    """Onset activation per band of ``PULSE_BANDS_HZ``, shape (n_frames, n_bands), in [0, 1]."""
    centres = logspec_band_centres_hz(spec)
    cols = []
    for lo, hi in PULSE_BANDS_HZ:
        sel = (centres >= lo) & (centres < hi)
        if not np.any(sel):
            cols.append(np.zeros(len(spec.logspec), dtype=np.float32))
            continue
        cols.append(beat_activation(superflux(spec.logspec[:, sel]), spec.fps))
    return np.stack(cols, axis=1)


def pulse_midpoint_ratios(
    frames: np.ndarray, bands: np.ndarray, *, half_width: int = 2, min_level: float | None = None
) -> np.ndarray:
    """How strong the beats' midpoints are relative to the beats, per band.

    Parameters
    ----------
    frames : np.ndarray, shape (n_beats,), int
        Beat frames.
    bands : np.ndarray, shape (n_frames, n_bands)
        Onset activation per band (:func:`pulse_bands`).
    half_width : int
        Each beat and midpoint takes the band's maximum within this many frames.
    min_level : float, optional
        Bands whose mean at the beats is below it (default ``PULSE_MIN_LEVEL``) are left out.

    Returns
    -------
    np.ndarray, shape (n_bands_with_onsets,)
        Each band's mean at the midpoints over its mean at the beats; empty for fewer than
        two beats.
    """
    if min_level is None:
        min_level = PULSE_MIN_LEVEL
    if len(frames) < 2 or bands.ndim != 2 or len(bands) < 2 * half_width + 1:
        return np.zeros(0)
    f = np.asarray(frames, dtype=np.float64)
    beats, mids = f[:-1], 0.5 * (f[:-1] + f[1:])
    ratios = []
    for b in range(bands.shape[1]):
        x = bands[:, b]
        at_beats = _peak_near(x, beats, half_width)[1].mean()
        if at_beats >= min_level:
            ratios.append(_peak_near(x, mids, half_width)[1].mean() / at_beats)
    return np.asarray(ratios, dtype=np.float64)


def pulse_level(
    frames: np.ndarray, bands: np.ndarray, fps: float, *, ratio: float | None = None
) -> float:
    """The tempo (BPM) the decoder should run at again, or 0 to keep the decoded beats.

    Twice the decoded tempo when, over at least ``PULSE_MIN_BEATS`` beats, every band with
    onsets (at least two) is as strong at the beats' midpoints as at the beats, within a
    factor ``ratio`` (default ``PULSE_MIDPOINT_RATIO``) either way
    (:func:`pulse_midpoint_ratios`), and the double is at most ``MAX_BPM``. Midpoints
    weaker in some band are off-beats; stronger in some band, they carry an accent of
    their own (a backbeat, or beats decoded half a beat off), not an even faster pulse.
    """
    if ratio is None:
        ratio = PULSE_MIDPOINT_RATIO
    if len(frames) < PULSE_MIN_BEATS:
        return 0.0
    double = 2.0 * 60.0 * fps / float(np.median(np.diff(frames)))
    if double > MAX_BPM:
        return 0.0
    r = pulse_midpoint_ratios(frames, bands)
    if len(r) < 2 or r.min() < ratio or r.max() > 1.0 / ratio:
        return 0.0
    return double


def half_beat_shift(frames: np.ndarray, n_frames: int) -> np.ndarray:
    """Beats moved half a beat later: the midpoints of ``frames``, plus one before the first
    and one after the last (half the neighbouring interval away) where they fall inside
    ``n_frames``.

    Parameters
    ----------
    frames : np.ndarray, shape (n_beats,)
        Beat frames, increasing.
    n_frames : int
        Length of the activation the frames index.

    Returns
    -------
    np.ndarray, shape (n_beats - 1 .. n_beats + 1,), int64
        ``frames`` itself (as int64) for fewer than two beats.
    """
    f = np.asarray(frames, dtype=np.float64)
    if len(f) < 2:
        return f.astype(np.int64)
    mids = 0.5 * (f[:-1] + f[1:])
    first = f[0] - 0.5 * (f[1] - f[0])
    last = f[-1] + 0.5 * (f[-1] - f[-2])
    out = np.concatenate([[first] if first >= 0 else [], mids, [last] if last < n_frames else []])
    return np.round(out).astype(np.int64)


def even_pulse_phase(
    frames: np.ndarray,
    bands: np.ndarray,
    flux: np.ndarray,
    *,
    even_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """The beats of a blend decode, moved half a beat when the drums leave the phase open
    and the spectral flux prefers the midpoints.

    Parameters
    ----------
    frames : np.ndarray, shape (n_beats,), int
        Decoded beat frames.
    bands : np.ndarray, shape (n_frames, n_bands)
        Onset activation per band (:func:`pulse_bands`).
    flux : np.ndarray, shape (n_frames,)
        The spectral-flux beat activation (:func:`dsp_activation`).
    even_range : (float, float), optional
        Midpoint/beat ratios (:func:`pulse_midpoint_ratios`) that count as an even pulse;
        default ``PHASE_EVEN_RANGE``.

    Returns
    -------
    np.ndarray, shape (n_beats',), int64
        :func:`half_beat_shift` of ``frames`` when at least ``PULSE_MIN_BEATS`` beats, at
        least two bands with onsets, every such band's ratio within ``even_range`` and the
        flux's ratio above 1; otherwise ``frames``.

    Notes
    -----
    An even pulse in every band (constant eighths in each drum and the bass) makes the
    beats and their midpoints look alike; the blend then follows BeatNet's phase, which on
    such songs can sit half a beat off the whole way. The flux alone keeps the phase of the
    accents it hears, slightly louder on the beat.
    """
    lo, hi = PHASE_EVEN_RANGE if even_range is None else even_range
    if len(frames) < PULSE_MIN_BEATS or len(flux) != len(bands):
        return frames
    r = pulse_midpoint_ratios(frames, bands)
    if len(r) < 2 or r.min() < lo or r.max() > hi:
        return frames
    rf = pulse_midpoint_ratios(frames, np.asarray(flux)[:, None], min_level=0.0)
    if len(rf) == 0 or rf[0] <= 1.0:
        return frames
    return half_beat_shift(frames, len(flux))


def _peak_near(act: np.ndarray, pos: np.ndarray, half_width: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame and value of the activation's maximum within ``half_width`` frames of each ``pos``."""
    idx = np.clip(np.round(pos).astype(np.int64), half_width, len(act) - half_width - 1)
    win = np.stack([act[idx + k] for k in range(-half_width, half_width + 1)])
    best = np.argmax(win, axis=0)
    return idx + best - half_width, np.take_along_axis(win, best[None, :], axis=0)[0]


def swing_phase(
    frames: np.ndarray,
    act: np.ndarray,
    *,
    window: int = SWING_WINDOW,
    ratio: float = SWING_RATIO,
    min_rel: float = SWING_MIN_REL,
) -> np.ndarray:
    """Move beats that sit on a swung off-beat back onto the beat.

    Swung eighths are long-short: onsets at 0 and about 2/3 of each beat. A decoder locked
    to the swung off-beat has them at 0 and 1/3 of its own interval instead, so the check is
    asymmetric and straight or triplet rhythms (onsets at 1/3 and 2/3 alike) never trigger
    it: over a sliding run of ``window`` beats, when the activation 1/3 of an interval after
    the beats is ``ratio`` times the one at 2/3 and at least ``min_rel`` of the one at the
    beats, those beats move to the activation peak 1/3 of an interval later.

    Parameters
    ----------
    frames : np.ndarray, shape (n_beats,), int
        Decoded beat frames, increasing.
    act : np.ndarray, shape (n_frames,)
        The activation they were decoded from.

    Returns
    -------
    np.ndarray, shape (n_out,), int64
        Beat frames, increasing (``frames`` itself when nothing moves).
    """
    n = len(frames)
    if n < 4 or len(act) < 16:
        return frames
    f = frames.astype(np.float64)
    ibi = np.diff(f)
    ibi = np.append(ibi, ibi[-1])
    a = np.asarray(act, dtype=np.float64)
    at0 = _peak_near(a, f, 2)[1]
    at13 = _peak_near(a, f + ibi / 3, 2)[1]
    at23 = _peak_near(a, f + 2 * ibi / 3, 2)[1]
    box = np.ones(min(window, n)) / min(window, n)
    m0, m13, m23 = (np.convolve(x, box, mode="same") for x in (at0, at13, at23))
    move = (m13 > ratio * m23) & (m13 > min_rel * m0)
    # only runs of at least half a window: a fill or a triplet figure moves nothing
    edges = np.diff(np.concatenate([[0], move.astype(np.int8), [0]]))
    for start, stop in zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0], strict=True):
        if stop - start < min(window, n) // 2:
            move[start:stop] = False
    if not move.any():
        return frames
    out = frames.astype(np.int64).copy()
    out[move] = _peak_near(a, f[move] + ibi[move] / 3, 3)[0]
    return _joined(out, float(np.median(ibi)))


def _joined(frames: np.ndarray, period: float) -> np.ndarray:
    """Beat frames (int) after runs were moved, sorted and unique, without the second of
    two beats closer than 0.3 ``period`` (frames): where a moved run meets an unmoved one
    two beats can land on one onset."""
    out = np.unique(frames)
    return out[np.concatenate([[True], np.diff(out) > 0.3 * period])]


def _wrap_phase(x: np.ndarray) -> np.ndarray:
    """Phases (in beats) wrapped to [-0.5, 0.5)."""
    return np.asarray((x + 0.5) % 1.0 - 0.5)


def _drifts(r: np.ndarray, start: int, max_drift: float) -> np.ndarray:
    """Per beat j, the slope (beats of phase per beat) of ``r`` (phases off a grid, in
    [-0.5, 0.5)) over beats ``start`` .. j - 1, where they sit near the off-beat; 0 where
    fewer than 8 beats, or a slope beyond ``max_drift`` (not a drift but another tempo)."""
    y = np.asarray(r, dtype=np.float64) % 1.0  # the off-beat (+-0.5) in one piece at 0.5
    x = np.arange(len(y), dtype=np.float64)
    m = np.zeros(len(y))
    m[start:] = 1.0
    m[np.abs(y - 0.5) > 0.25] = 0.0  # not near the off-beat: not part of the detour
    terms = (np.ones_like(x), x, y, x * x, x * y)
    sums = [np.concatenate([[0.0], np.cumsum(m * v)]) for v in terms]
    n, sx, sy, sxx, sxy = (c[:-1] for c in sums)  # over beats < j
    den = n * sxx - sx * sx
    slope = np.where((n >= 8) & (den > 0), (n * sxy - sx * sy) / np.where(den > 0, den, 1.0), 0.0)
    return np.where(np.abs(slope) <= max_drift, slope, 0.0)


def _first_return(
    r: np.ndarray, drift: np.ndarray, lo: int, hi: int, width: int, on_tol: float
) -> int | None:
    """First j in [lo, hi] from which ``width`` phases of ``r`` sit within ``on_tol`` of the
    grid, moved by ``drift[j]`` per beat (``None`` if there is none)."""
    k = np.arange(len(r))
    for j in range(lo, hi + 1):
        w = slice(j, j + width)
        if (np.abs(_wrap_phase(r[w] - drift[j] * k[w])) < on_tol).all():
            return j
    return None


def phase_detours(
    frames: np.ndarray,
    act: np.ndarray,
    *,
    fit: int = DETOUR_FIT,
    min_off: int = DETOUR_MIN_OFF,
    side: int = DETOUR_SIDE,
    max_run: int = DETOUR_MAX_RUN,
    steady_tol: float = 0.12,
    on_tol: float = 0.15,
    off_min: float = 0.4,
    return_tol: float = 0.2,
    gap: int = 4,
    tempo_tol: float = 0.02,
    max_drift: float = DETOUR_MAX_DRIFT,
) -> np.ndarray:
    """Put back onto the grid beats that wander half a beat off it for a while and return.

    The decoder sometimes slides onto the off-beat for a section (its activation leans to
    off-beat hi-hats or bass there) and slides back later. Neither activation says which
    phase is right, but the beats around the detour do: where ``fit`` beats keep a steady
    grid, the beats that follow drift to at least ``off_min`` of an interval off it for
    ``min_off`` beats or more, and then sit within ``on_tol`` of the same grid again for
    ``side`` beats (all within ``max_run`` beats, a whole number of intervals after the
    last beat before the detour, within ``return_tol``; the grid moved by the detour's own
    phase drift, at most ``max_drift`` beats per beat), the detour is replaced by
    evenly spaced beats between the two sides, each at the activation's peak within 3
    frames. Only the grid on both sides is trusted, so a song whose phase moves slowly
    over minutes, or that never comes back, is left alone.

    Parameters
    ----------
    frames : np.ndarray, shape (n_beats,), int
        Decoded beat frames, increasing.
    act : np.ndarray, shape (n_frames,)
        The activation they were decoded from.

    Returns
    -------
    np.ndarray, shape (n_out,), int64
        Beat frames, increasing (``frames`` itself when nothing moves).
    """
    n = len(frames)
    if n < fit + min_off + side:
        return frames
    f = frames.astype(np.float64)
    period = float(np.median(np.diff(f)))
    # unwrapped phase against one period: constant on a steady grid, a +-0.5 step where
    # the beats move to the off-beat
    phase = (f - f[0]) / period - np.arange(n)
    idx = np.arange(n)
    a = np.asarray(act, dtype=np.float64)
    parts: list[np.ndarray] = []
    kept_from = 0

    def grid_before(at: int) -> np.ndarray | None:
        """Line (slope, offset) through the phase of the ``fit`` beats before ``at``, if
        they keep a steady grid at the song's tempo (not themselves a slide)."""
        if at - fit < kept_from:
            return None
        coef = np.polyfit(idx[at - fit : at], phase[at - fit : at], 1)
        resid = phase[at - fit : at] - np.polyval(coef, idx[at - fit : at])
        ok = np.max(np.abs(resid)) <= steady_tol and abs(coef[0]) <= tempo_tol
        return coef if ok else None

    s = fit
    while s < n - side - 1:
        coef = grid_before(s)
        if coef is None or abs(_wrap_phase(phase[s] - np.polyval(coef, s))) < on_tol:
            s += 1
            continue
        # the first beat off the grid; a slide may have begun a few beats earlier, inside
        # the fitted window: take the grid from before it
        s0 = s - gap if grid_before(s - gap) is not None else s
        coef = grid_before(s0)
        assert coef is not None
        r = _wrap_phase(phase[s0:] - np.polyval(coef, idx[s0:]))
        first_off = s - s0
        # the grid's tempo is only as good as ``fit`` beats make it; over a long detour the
        # side that came back can sit off its extrapolation. The detour's own beats keep
        # the song's tempo (half a beat off): their phase drift up to beat j corrects it.
        # (the last ``gap`` beats before j may be sliding back: not part of the fit)
        drift = _drifts(r, first_off + gap, max_drift)
        drift = np.concatenate([np.zeros(gap), drift[: len(r) - gap]])
        end = _first_return(
            r, drift, first_off + 1, min(len(r) - side - gap, max_run), gap + side, on_tol
        )
        if end is None or int(np.sum(np.abs(r[:end]) > off_min)) < min_off:
            s += 1
            continue
        # the side that came back, after the few beats that may still be sliding
        stop = s0 + end + gap + side - 1
        before, after = f[s0 - 1], f[stop]
        beats = (after - before) / (period * (1.0 + coef[0] + drift[end]))
        m = int(round(beats))
        # both sides and the grid between them keep one tempo: a slow slide from one phase
        # to the other is not a detour and back
        before_ibi = (before - f[s0 - fit]) / (fit - 1)
        after_ibi = (after - f[stop - side + 1]) / (side - 1)
        grid_ibi = (after - before) / max(m, 1)
        if (
            abs(beats - m) > return_tol
            or m < 2
            or abs(after_ibi / before_ibi - 1.0) > tempo_tol
            or abs(grid_ibi / before_ibi - 1.0) > tempo_tol
            or abs(grid_ibi / after_ibi - 1.0) > tempo_tol
        ):
            s += 1
            continue
        # against the grid through both sides (not the one extrapolated from before,
        # whose slope is only as good as 16 beats make it), the detour must still sit
        # half a beat off
        off = np.abs(_wrap_phase((f[s0:stop] - before) / grid_ibi)) > off_min
        if int(np.sum(off)) < min_off:
            s += 1
            continue
        grid = before + grid_ibi * np.arange(1, m)
        parts += [f[kept_from:s0], _peak_near(a, grid, 3)[0].astype(np.float64)]
        kept_from = stop
        s = stop + fit
    if not parts:
        return frames
    return _joined(np.round(np.concatenate([*parts, f[kept_from:]])).astype(np.int64), period)


def _fix_start(
    f: np.ndarray,
    act: np.ndarray,
    *,
    side: int,
    min_off: int,
    max_run: int,
    max_frac: float,
    steady_tol: float,
    off_min: float,
    off_frac: float,
    half_min: float,
    tempo_tol: float,
) -> np.ndarray:
    """:func:`phase_ends` for the start of ``f`` (float frames); ``f`` itself if nothing moves."""
    n = len(f)
    idx = np.arange(n, dtype=np.float64)
    for e in range(min_off, min(max_run, int(max_frac * n), n - side) + 1):
        # the steady grid from beat e on
        coef = np.polyfit(idx[e : e + side], f[e : e + side], 1)
        period = float(coef[0])
        if period <= 0:
            continue
        resid = f[e : e + side] - np.polyval(coef, idx[e : e + side])
        if np.max(np.abs(resid)) > steady_tol * period:
            continue
        t_e = float(np.polyval(coef, e))
        r = _wrap_phase((f[:e] - t_e) / period)
        if int(np.sum(np.abs(r) > off_min)) < max(min_off, off_frac * e):
            continue
        # on the off-beat itself, not a swung or 2:3 offset (a swing lock's majority)
        if float(np.median(np.abs(r))) < half_min:
            continue
        # at the grid's tempo, only half a beat off (not another tempo or a free intro)
        if abs(float(np.median(np.diff(f[: e + 1]))) / period - 1.0) > tempo_tol:
            continue
        # the grid holds for twice the run: the song's grid, not a section of its own
        # (a long detour whose first side looks like an intro)
        long = max(side, 2 * e)
        if e + long > n:
            continue
        k = idx[e : e + long]
        if np.max(np.abs(f[e : e + long] - np.polyval(np.polyfit(k, f[e : e + long], 1), k))) > (
            steady_tol * period
        ):
            continue
        # back to half a beat before the first decoded beat (the off-beat lock's first
        # beat is half a beat after the song's)
        grid = t_e - period * np.arange(e + 1, 0, -1)
        grid = grid[grid >= max(0.0, f[0] - 0.6 * period)]
        return np.concatenate([_peak_near(act, grid, 3)[0].astype(np.float64), f[e:]])
    return f


def phase_ends(
    frames: np.ndarray,
    act: np.ndarray,
    *,
    side: int = ENDS_SIDE,
    min_off: int = DETOUR_MIN_OFF,
    max_run: int = ENDS_MAX_RUN,
    max_frac: float = ENDS_MAX_FRAC,
    steady_tol: float = 0.12,
    off_min: float = 0.4,
    off_frac: float = 0.75,
    half_min: float = 0.45,
    tempo_tol: float = 0.02,
) -> np.ndarray:
    """Put an intro or outro that sits half a beat off the song's grid onto that grid.

    The one-sided case of :func:`phase_detours`: the decoder locks an intro (or an outro)
    to the off-beat and slides onto the beat only where the song proper starts (or leaves
    it where it ends), so the detour has no second side. Where the ``side`` beats after
    the first ``e`` beats keep a steady grid, and at least ``off_frac`` of those ``e``
    beats (and ``min_off``) sit more than ``off_min`` of an interval off it at the same
    tempo, with a median offset of at least ``half_min`` (on the off-beat itself, not a
    swung one), the ``e`` beats are replaced by that grid extended back to the start, each
    at the activation's peak within 3 frames; the same at the end. The run is at most
    ``max_run`` beats and ``max_frac`` of the song, and the grid next to it must hold for
    twice its length: a song whose majority sits on the off-beat, or a long detour whose
    first side looks like an intro, is left alone rather than moved onto a wrong grid.

    Parameters
    ----------
    frames : np.ndarray, shape (n_beats,), int
        Decoded beat frames, increasing.
    act : np.ndarray, shape (n_frames,)
        The activation they were decoded from.

    Returns
    -------
    np.ndarray, shape (n_out,), int64
        Beat frames, increasing (``frames`` itself when nothing moves).
    """
    n = len(frames)
    if n < min_off + side:
        return frames
    a = np.asarray(act, dtype=np.float64)
    f = frames.astype(np.float64)
    kw: dict[str, Any] = {
        "side": side,
        "min_off": min_off,
        "max_run": max_run,
        "max_frac": max_frac,
        "steady_tol": steady_tol,
        "off_min": off_min,
        "off_frac": off_frac,
        "half_min": half_min,
        "tempo_tol": tempo_tol,
    }
    f = _fix_start(f, a, **kw)
    last = float(len(a) - 1)  # the end, as the start of the reversed song
    f = last - _fix_start((last - f)[::-1], a[::-1], **kw)[::-1]
    if len(f) == n and np.array_equal(f, frames):
        return frames
    out = np.unique(np.round(f).astype(np.int64))
    return _joined(out, float(np.median(np.diff(out))))


def flux_peak_width_s(flux: np.ndarray, times_s: np.ndarray, fps: float) -> float:
    """Mean full width at half maximum (s) of the activation's peaks at the beats.

    Parameters
    ----------
    flux : np.ndarray, shape (n_frames,)
        A beat activation (the spectral flux of :func:`dsp_activation`), in [0, 1].
    times_s : np.ndarray, shape (n_beats,)
        Beat times in seconds; each beat's peak is the maximum within 2 frames of it.
    fps : float
        Frame rate of ``flux``.

    Returns
    -------
    float
        0.0 when fewer than 8 beats have a peak of at least 0.1.
    """
    a = np.asarray(flux, dtype=np.float64)
    c = np.round(np.asarray(times_s) * fps).astype(np.int64)
    c = c[(c >= 20) & (c < len(a) - 20)]
    if c.size == 0:
        return 0.0
    peak, value = _peak_near(a, c, 2)
    keep = value >= 0.1
    peak, half = peak[keep], 0.5 * value[keep]
    if peak.size < 8:
        return 0.0
    width = np.zeros(peak.size)
    for side in (-1, 1):
        # frames from the peak to the last one above half height, plus the interpolated
        # fraction of the next frame (at most 15 frames)
        k = np.arange(1, 16)
        above = a[peak[:, None] + side * k[None, :]] > half[:, None]
        n = np.argmin(np.concatenate([above, np.zeros((peak.size, 1), bool)], axis=1), axis=1)
        inner = a[peak + side * n]
        outer = a[peak + side * (n + 1)]
        width += n + (inner - half) / np.maximum(inner - outer, 1e-9)
    return float(np.mean(width) / fps)


def attack_lag_s(width_s: float) -> float:
    """How late slow attacks put the beats, from :func:`flux_peak_width_s` (s, >= 0)."""
    return float(np.interp(width_s, ATTACK_WIDTH_S, ATTACK_LAG_S))


def track_beats_spectrogram(
    spec: Spectrogram,
    *,
    y: np.ndarray | None = None,
    activation: str = DEFAULT_ACTIVATION,
    bpm_hint: float | None = None,
    **kwargs: float,
) -> Beats:
    """Beats from a precomputed :class:`Spectrogram` (shared with other features).

    Parameters
    ----------
    spec : Spectrogram
    y : np.ndarray, shape (n_samples,), optional
        The mono audio at ``spec.sr`` the spectrogram was computed from; needed by the
        trained activation (which has its own front end).
    activation : {"dsp", "beatnet", "blend", "auto"}
        Which beat activation to decode (see :func:`activation_kind`); without ``y`` only
        "dsp" is possible. "blend" averages both.
    bpm_hint : float, optional
        A known tempo (e.g. from catalog metadata). It replaces the global tempo estimate
        and its metrical-level decision; the decoder's per-beat prior then pulls towards
        it, so the beats keep to that level while a tempo change still shows.
    **kwargs
        Passed to :func:`decode_beats`.

    Notes
    -----
    The decoded beats sit at the activation's peaks; where those are wide (slow attacks,
    :func:`flux_peak_width_s`) all beats move earlier by :func:`attack_lag_s`.
    """
    kind = activation_kind(activation) if y is not None else "dsp"
    down: np.ndarray | None = None  # BeatNet's downbeat activation (bar cues), if it runs
    flux = dsp_activation(spec)
    if kind == "dsp":
        act = flux
    else:
        assert y is not None
        net, down = trained_activations(y, spec.sr, len(spec.logspec), spec.fps)
        # the network's LSTM starts with a burst of "beat" on silence: no beats where the
        # audio is 60 dB below its loudest frame
        if spec.energy.size:
            quiet = spec.energy <= 1e-6 * spec.energy.max()
            net[quiet] = 0.0
            down[quiet] = 0.0
        act = net if kind == "beatnet" else 0.5 * (net + flux)
    extra: dict[str, Any] = dict(kwargs)
    bands = pulse_bands(spec)
    beats = _decode(
        act,
        spec.fps,
        bpm_hint=bpm_hint,
        kind=kind,
        downbeat=down,
        bands=bands,
        flux=flux if kind == "blend" else None,
        **extra,
    )
    lag = attack_lag_s(flux_peak_width_s(flux, beats.times_s, spec.fps))
    if lag <= 0:
        return beats
    return replace(beats, times_s=np.maximum(beats.times_s - lag, 0.0))


def _decode(
    act: np.ndarray,
    fps: float,
    *,
    bpm_hint: float | None,
    kind: str = "dsp",
    downbeat: np.ndarray | None = None,
    bands: np.ndarray | None = None,
    flux: np.ndarray | None = None,
    **kwargs: Any,
) -> Beats:
    kw = dict(kwargs)
    estimated = "preferred_bpm" not in kw and not (bpm_hint is not None and bpm_hint > 0)
    if "preferred_bpm" not in kw:
        if bpm_hint is not None and bpm_hint > 0:
            tempo = float(bpm_hint)
        else:
            centre, sigma = TEMPO_PRIOR.get(kind, (PREFERRED_BPM, OCTAVE_SIGMA))
            tempo = estimate_tempo(
                act,
                fps,
                preferred_bpm=centre,
                octave_sigma=sigma,
                downbeat=downbeat,
                third_penalty=THIRD_PENALTY.get(kind, 0.0),
            )
            if downbeat is not None and np.isfinite(METRE_MARGIN):
                tempo = metre_level(tempo, downbeat, fps)
        if tempo > 0:
            kw["preferred_bpm"] = tempo
            kw.setdefault("prior_weight", TEMPO_PRIOR_WEIGHT)
    frames = decode_beats(act, fps, **kw)
    if estimated and bands is not None:
        faster = pulse_level(frames, bands, fps)
        if faster > 0:
            kw["preferred_bpm"] = faster
            kw.setdefault("prior_weight", TEMPO_PRIOR_WEIGHT)
            frames = decode_beats(act, fps, **kw)
    frames = phase_ends(phase_detours(swing_phase(frames, act), act), act)
    if bands is not None and flux is not None:
        frames = even_pulse_phase(frames, bands, flux)
    if frames.size == 0:
        return Beats(np.zeros(0), 0.0, act, fps)
    times = _refine(frames, act) / fps - LATENCY_S
    times = np.maximum(times, 0.0)
    bpm = float(60.0 / np.median(np.diff(times))) if len(times) > 1 else 0.0
    return Beats(times, bpm, act, fps)


def track_beats(
    y: np.ndarray,
    sr: int,
    *,
    activation: str = DEFAULT_ACTIVATION,
    bpm_hint: float | None = None,
    **kwargs: float,
) -> Beats:
    """Track beats in mono audio.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono samples.
    sr : int
        Sample rate in Hz (resampled to 22050 Hz internally).
    activation, bpm_hint, **kwargs
        See :func:`track_beats_spectrogram`.

    Returns
    -------
    Beats
        No beats (``bpm`` 0) for silence or audio shorter than ``MIN_DURATION_S``.

    Raises
    ------
    ValueError
        For audio that is not 1-D or holds NaN or infinity, or an unknown ``activation``.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"track_beats needs mono audio (1-D samples), got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("audio contains NaN or infinite samples")
    kind = activation_kind(activation)
    if len(y) < MIN_DURATION_S * sr:  # no tempo to speak of
        return Beats(np.zeros(0), 0.0, np.zeros(0, dtype=np.float32), 100.0)
    if sr != ANALYSIS_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, sr, ANALYSIS_SR, quality="MQ")
        sr = ANALYSIS_SR
    return track_beats_spectrogram(
        spectrogram(y.astype(np.float32), sr), y=y, activation=kind, bpm_hint=bpm_hint, **kwargs
    )
