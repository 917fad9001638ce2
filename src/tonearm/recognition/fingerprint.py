"""Landmark fingerprints: spectral peaks on a log-frequency grid, paired into hashes.

Why log frequency: a pitch shift (or the pitch part of a speed change) moves every peak by
the same number of bands, and a tempo change scales every time difference by the same
factor. Both are therefore cheap to undo on the *query* side (see ``pair_hashes``'s
``tempo`` and ``shift_bands``), so one reference index serves speed, tempo and pitch
changes without storing extra hashes.

Pipeline (pure numpy, vectorized): mono -> 8 kHz (robust to phone band and MP3 low-pass)
-> STFT power -> log-spaced triangular bands (1/3 semitone) -> log energy whitened by a
moving average over time -> local maxima in a time-frequency neighbourhood -> the
strongest ``density`` peaks per second -> each peak paired with its next few peaks.

A hash packs (anchor band, band difference, frame difference) into ``HASH_BITS`` bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
from numba import njit
from scipy.ndimage import uniform_filter1d

from tonearm.core.audio.signal import Signal

SR = 8000
N_FFT = 1024
HOP = 256
FPS = SR / HOP  # frames per second (31.25)
F_MIN_HZ = 250.0
F_MAX_HZ = 3900.0
BANDS_PER_SEMITONE = 3
N_BANDS = int(np.floor(12 * BANDS_PER_SEMITONE * np.log2(F_MAX_HZ / F_MIN_HZ))) + 1

# peak picking
PEAK_DT = 5  # +- frames of the local-maximum neighbourhood
PEAK_DF = 4  # +- bands
WHITEN_S = 3.0  # moving-average window (seconds) subtracted from log energy per band
REF_DENSITY = 24  # peaks per second kept when indexing
QUERY_DENSITY = 36  # denser on the query side: more chances to hit the reference's peaks

# pairing
FAN_OUT = 6  # targets per anchor (reference)
QUERY_FAN_OUT = 8
DT_MIN = 3  # frames: very close pairs are common and carry little information
DT_MAX = 63  # frames (~2 s)
DF_MAX = 63  # bands (~21 semitones)

DT_BITS = 6
DF_BITS = 7
F_BITS = 8
HASH_BITS = F_BITS + DF_BITS + DT_BITS  # 21

ANALYSIS_NAME = "fingerprint"  # the name of a song's stored fingerprint analysis
VERSION = 1  # bump when any parameter above changes: stored analyses are then rebuilt

_EPS = 1e-10


@dataclass
class Peaks:
    """Spectral peaks of one signal.

    Attributes
    ----------
    t : np.ndarray, shape (n,), int32
        Frame index (frames of ``HOP`` samples at ``SR``), sorted ascending.
    f : np.ndarray, shape (n,), float32
        Band position (fractional, refined), 0 .. N_BANDS-1.
    strength : np.ndarray, shape (n,), float32
        Whitened log energy (higher is more salient).
    n_frames : int
        Frames in the analysed signal.
    """

    t: np.ndarray
    f: np.ndarray
    strength: np.ndarray
    n_frames: int

    def select(self, t0: int, t1: int) -> Peaks:
        """Peaks with t0 <= t < t1, times made relative to t0."""
        a, b = np.searchsorted(self.t, [t0, t1])
        return Peaks(self.t[a:b] - t0, self.f[a:b], self.strength[a:b], max(0, t1 - t0))

    def strongest(self, density: float) -> Peaks:
        """Keep at most ``density`` peaks per second (per 1 s block, by strength)."""
        if len(self.t) == 0:
            return self
        block = (self.t // int(round(FPS))).astype(np.int64)
        order = np.lexsort((-self.strength, block))
        b_sorted = block[order]
        starts = np.searchsorted(b_sorted, b_sorted, side="left")
        rank = np.arange(len(order)) - starts
        keep = np.sort(order[rank < int(round(density))])
        return Peaks(self.t[keep], self.f[keep], self.strength[keep], self.n_frames)


@lru_cache(maxsize=1)
def _filterbank() -> np.ndarray:
    """Triangular log-spaced bands, shape (N_FFT//2+1, N_BANDS), float32."""
    freqs = np.arange(N_FFT // 2 + 1) * SR / N_FFT
    k = np.arange(N_BANDS)
    centers = F_MIN_HZ * 2.0 ** (k / (12.0 * BANDS_PER_SEMITONE))
    step = centers * (2.0 ** (1.0 / (12.0 * BANDS_PER_SEMITONE)) - 1.0)
    # never narrower than one STFT bin, so low bands interpolate instead of going empty
    half = np.maximum(step, SR / N_FFT)
    w = 1.0 - np.abs(freqs[:, None] - centers[None, :]) / half[None, :]
    w = np.clip(w, 0.0, None)
    w /= w.sum(axis=0, keepdims=True) + _EPS
    return w.astype(np.float32)


def prepare(signal: Signal) -> np.ndarray:
    """Mono float32 samples at ``SR`` Hz, shape (n_samples,)."""
    return signal.to_mono().resample(SR).samples[0]


def log_spectrogram(y: np.ndarray) -> np.ndarray:
    """Log band energies, shape (n_frames, N_BANDS), float32.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float32 at ``SR`` Hz.
    """
    y = np.asarray(y, dtype=np.float32)
    if len(y) < N_FFT:
        y = np.pad(y, (0, N_FFT - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP]
    n_frames = len(frames)
    win = _window()
    fb = _filterbank()
    out = np.empty((n_frames, N_BANDS), dtype=np.float32)
    n_bins = N_FFT // 2 + 1
    power = np.empty((min(_SPEC_CHUNK, n_frames), n_bins), dtype=np.float32)
    block = np.empty((min(_FFT_BLOCK, n_frames), N_FFT), dtype=np.float32)
    square = np.empty((len(block), n_bins), dtype=np.float32)
    for i in range(0, n_frames, _SPEC_CHUNK):
        n = min(_SPEC_CHUNK, n_frames - i)
        # window, FFT and power in cache-sized blocks (each frame on its own: the same
        # values as one pass); the band sum stays one product per chunk of _SPEC_CHUNK
        # frames, because BLAS's float32 rounding depends on the product's shape
        for j in range(0, n, _FFT_BLOCK):
            m = min(_FFT_BLOCK, n - j)
            np.multiply(frames[i + j : i + j + m], win, out=block[:m])
            spec = scipy.fft.rfft(block[:m], axis=1)
            p = power[j : j + m]
            np.multiply(spec.real, spec.real, out=p)
            np.multiply(spec.imag, spec.imag, out=square[:m])
            p += square[:m]
        o = out[i : i + n]
        np.matmul(power[:n], fb, out=o)
        o += _EPS
        np.log(o, out=o)
    return out


_SPEC_CHUNK = 4096  # frames per band-sum product (bounded memory on hours-long files)
_FFT_BLOCK = 256  # frames per FFT block (~1 MB of samples: stays in cache)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    return np.hanning(N_FFT).astype(np.float32)


def find_peaks(logspec: np.ndarray, density: float = REF_DENSITY) -> Peaks:
    """Salient local maxima of a log spectrogram, at most ``density`` per second.

    Parameters
    ----------
    logspec : np.ndarray, shape (n_frames, N_BANDS)
    density : float
        Peaks per second to keep.
    """
    n_frames = logspec.shape[0]
    if n_frames < 3:
        return Peaks(np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32), 0)
    if n_frames <= _CHUNK_FRAMES:
        return _find_peaks(logspec, 0, n_frames).strongest(density)
    # hours-long input: chunks on 1 s block boundaries, padded so the moving average and
    # the neighbourhood maximum see exactly what they would see on the whole array
    pad = int(WHITEN_S * FPS) // 2 + PEAK_DT + 1
    parts = []
    for c0 in range(0, n_frames, _CHUNK_FRAMES):
        c1 = min(n_frames, c0 + _CHUNK_FRAMES)
        a, b = max(0, c0 - pad), min(n_frames, c1 + pad)
        p = _find_peaks(logspec[a:b], a, n_frames).strongest(density)
        keep = (p.t >= c0) & (p.t < c1)
        parts.append((p.t[keep], p.f[keep], p.strength[keep]))
    return Peaks(
        np.concatenate([x[0] for x in parts]),
        np.concatenate([x[1] for x in parts]),
        np.concatenate([x[2] for x in parts]),
        n_frames,
    )


_CHUNK_FRAMES = int(round(FPS)) * 600  # ~10 min of frames per chunk


def _find_peaks(logspec: np.ndarray, t0: int, n_frames: int) -> Peaks:
    """Every candidate peak of ``logspec``, whose rows are frames t0, t0+1, ..."""
    win = max(3, int(WHITEN_S * FPS))
    white = logspec - uniform_filter1d(logspec, size=win, axis=0, mode="nearest")
    local_max = _local_max(np.ascontiguousarray(logspec), PEAK_DT, PEAK_DF)
    # energy floor: ignore digital silence and near-silence (~ -80 dB re full scale)
    floor = np.log(1e-8 * N_FFT)
    cand = (logspec == local_max) & (logspec > floor) & (white > 0.0)
    cand[:, 0] = False
    cand[:, -1] = False
    t, f = np.nonzero(cand)
    # parabolic refinement of the band position
    a = logspec[t, f - 1]
    b = logspec[t, f]
    c = logspec[t, f + 1]
    den = a - 2 * b + c
    delta = np.where(np.abs(den) > 1e-9, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    return Peaks(
        (t + t0).astype(np.int32),
        (f + delta).astype(np.float32),
        white[t, f].astype(np.float32),
        n_frames,
    )


@njit(cache=True, nogil=True)
def _local_max(x: np.ndarray, dt: int, df: int) -> np.ndarray:  # pragma: no cover - compiled
    """Maximum over the (2 dt + 1) x (2 df + 1) neighbourhood of every cell, shape of ``x``.

    The same values as ``scipy.ndimage.maximum_filter(x, size=(2 dt + 1, 2 df + 1),
    mode="nearest")`` for finite ``x`` (a window clipped at the edges holds the same
    values as one padded with the edge rows), in a quarter of its time: a maximum over
    bands, then over frames, in loops over contiguous rows that compile to vector code."""
    n, m = x.shape
    across = np.empty_like(x)  # the maximum over bands
    for t in range(n):
        row = x[t]
        acc = across[t]
        for f in range(m):
            acc[f] = row[f]
        for k in range(1, df + 1):
            for f in range(m - k):
                v = row[f + k]
                acc[f] = v if v > acc[f] else acc[f]
            for f in range(k, m):
                v = row[f - k]
                acc[f] = v if v > acc[f] else acc[f]
    out = np.empty_like(x)
    for t in range(n):
        lo = max(0, t - dt)
        hi = min(n, t + dt + 1)
        o = out[t]
        src = across[lo]
        for f in range(m):
            o[f] = src[f]
        for k in range(lo + 1, hi):
            src = across[k]
            for f in range(m):
                v = src[f]
                o[f] = v if v > o[f] else o[f]
    return out


def signal_peaks(signal: Signal, density: float = REF_DENSITY) -> Peaks:
    return find_peaks(log_spectrogram(prepare(signal)), density)


def pair_hashes(
    peaks: Peaks,
    *,
    fan_out: int = FAN_OUT,
    tempo: float = 1.0,
    shift_bands: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pair each peak with its next ``fan_out`` peaks in the target zone.

    Parameters
    ----------
    peaks : Peaks
    fan_out : int
        Targets per anchor.
    tempo : float
        Query-side hypothesis: time differences are multiplied by it (query played
        ``tempo`` times faster than the reference -> multiply by ``tempo`` to undo).
    shift_bands : float
        Query-side hypothesis: band positions are lowered by it (undo a pitch rise).

    Returns
    -------
    hashes : np.ndarray, shape (m,), uint32
    t_anchor : np.ndarray, shape (m,), int32
        Anchor frame of every hash (query frames, unscaled).
    """
    n = len(peaks.t)
    if n < 2:
        return np.zeros(0, np.uint32), np.zeros(0, np.int32)
    window = target_window(peaks, DT_MAX)
    h, rows = _pairs_kernel(
        np.ascontiguousarray(peaks.t, dtype=np.int64),
        np.ascontiguousarray(peaks.f, dtype=np.float64) - float(shift_bands),
        np.ascontiguousarray(peaks.strength, dtype=np.float32),
        window,
        int(fan_out),
        float(tempo),
    )
    return h, peaks.t[rows].astype(np.int32)


def target_window(peaks: Peaks, dt_max_frames: float) -> int:
    """How many following peaks cover an anchor's whole target zone (up to
    ``dt_max_frames`` later) at ``peaks``' density, with a margin; at least 8."""
    n = len(peaks.t)
    span_s = (peaks.t[-1] - peaks.t[0] + 1) / FPS
    return int(min(n - 1, max(8, np.ceil(1.25 * n / max(span_s, 1e-3) * dt_max_frames / FPS))))


@njit(cache=True, nogil=True)
def strongest_targets(
    strength: np.ndarray, cand: np.ndarray, nc: int, fan_out: int, chosen: np.ndarray
) -> None:  # pragma: no cover - compiled
    """Marks in ``chosen[:nc]`` the ``fan_out`` strongest of the ``nc`` candidate peaks
    ``cand[:nc]`` (all of them when there are no more), keeping their order."""
    if nc <= fan_out:
        for c in range(nc):
            chosen[c] = True
        return
    for c in range(nc):
        chosen[c] = False
    for _ in range(fan_out):
        best = -1
        for c in range(nc):
            if not chosen[c] and (best < 0 or strength[cand[c]] > strength[cand[best]]):
                best = c
        chosen[best] = True


@njit(cache=True, nogil=True)
def _pairs_kernel(
    t: np.ndarray,
    f: np.ndarray,
    strength: np.ndarray,
    window: int,
    fan_out: int,
    tempo: float,
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """Hashes and anchor rows: each anchor with the ``fan_out`` strongest peaks of its
    target zone among its next ``window`` peaks (the strongest survive noise best, and
    spread over the zone, time differences carry more information than nearest
    neighbours). Output ordered by anchor, then target."""
    n = len(t)
    out_h = np.empty(n * fan_out, np.uint32)
    out_r = np.empty(n * fan_out, np.int64)
    cand = np.empty(window, np.int64)
    cdt = np.empty(window, np.int64)
    cdf = np.empty(window, np.int64)
    chosen = np.empty(window, np.bool_)
    m = 0
    for i in range(n):
        f1 = np.rint(f[i])
        if f1 < 0 or f1 >= N_BANDS:
            continue
        nc = 0
        for k in range(1, window + 1):
            j = i + k
            if j >= n:
                break
            dt = np.rint((t[j] - t[i]) * tempo)
            if dt < DT_MIN or dt > DT_MAX:
                continue
            df = np.rint(f[j]) - f1
            if abs(df) > DF_MAX:
                continue
            cand[nc] = j
            cdt[nc] = int(dt)
            cdf[nc] = int(df)
            nc += 1
        strongest_targets(strength, cand, nc, fan_out, chosen)
        hf = np.uint32(int(f1)) << np.uint32(DF_BITS + DT_BITS)
        for c in range(nc):
            if chosen[c]:
                out_h[m] = (
                    hf | (np.uint32(cdf[c] + DF_MAX) << np.uint32(DT_BITS)) | np.uint32(cdt[c])
                )
                out_r[m] = i
                m += 1
    return out_h[:m], out_r[:m]


def fingerprint(signal: Signal) -> tuple[np.ndarray, np.ndarray]:
    """Reference hashes of a signal: (hashes uint32, anchor frames int32)."""
    return pair_hashes(signal_peaks(signal, REF_DENSITY), fan_out=FAN_OUT)


def pack(hashes: np.ndarray, times: np.ndarray) -> bytes:
    """Blob stored with the analysis: little-endian uint64 ``hash << 32 | frame``."""
    v = (hashes.astype(np.uint64) << np.uint64(32)) | times.astype(np.uint64)
    return v.astype("<u8").tobytes()


def unpack(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    v = np.frombuffer(blob, dtype="<u8")
    return (v >> np.uint64(32)).astype(np.uint32), (v & np.uint64(0xFFFFFFFF)).astype(np.uint32)
