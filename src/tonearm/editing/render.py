"""Render an edit: join segments of a signal with short equal-power crossfades.

Every seam is a crossfade that *ends* on the landing beat: over the ``crossfade_s``
before the seam the tail of the outgoing segment (which continues past its end in the
source) fades out while the lead-in to the incoming beat fades in, so the attack of the
landing beat plays untouched and no sample jumps. Output length is exactly the sum of
the segment lengths in samples (sample-accurate), and the output loudness (ITU-R BS.1770)
is set to the source's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tonearm.core.audio.signal import Signal

CROSSFADE_S = 0.02
END_TOLERANCE_S = 0.05  # a segment may end this far past the audio (rounded durations)
EARLY_END_FADE_S = 2.0  # musical fade-out when the edit stops before the song's end
MAX_STRETCH = 0.03


class SegmentError(ValueError):
    """A segment that cannot be rendered (negative, empty, beyond the end of the audio)."""


def segments_to_samples(
    segments_s: Sequence[Sequence[float]], sr: int, n_samples: int
) -> list[tuple[int, int]]:
    """Segment times (seconds) as sample spans ``[start, end)``, validated.

    Raises
    ------
    SegmentError
    """
    if not segments_s:
        raise SegmentError("no segments")
    duration_s = n_samples / sr
    spans: list[tuple[int, int]] = []
    for seg in segments_s:
        if len(seg) != 2:
            raise SegmentError(f"segment {list(seg)} is not a [start, end] pair")
        a_s, b_s = float(seg[0]), float(seg[1])
        if not (math.isfinite(a_s) and math.isfinite(b_s)):
            raise SegmentError("segment times must be finite numbers")
        if a_s < 0:
            raise SegmentError(f"segment [{a_s:g}, {b_s:g}] starts before 0")
        if b_s <= a_s:
            raise SegmentError(f"segment [{a_s:g}, {b_s:g}] ends before it starts")
        if b_s > duration_s + END_TOLERANCE_S:
            raise SegmentError(
                f"segment [{a_s:g}, {b_s:g}] is beyond the end of the audio ({duration_s:.2f} s)"
            )
        a, b = int(round(a_s * sr)), int(round(b_s * sr))
        if b <= a:
            raise SegmentError(f"segment [{a_s:g}, {b_s:g}] is shorter than one sample")
        spans.append((a, b))
    return spans


def equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out and fade-in gains of length ``n`` with ``out**2 + in**2 == 1``.

    The fade-in reaches exactly 1 on its last sample, so the sample after the fade
    (the landing beat itself) continues the incoming audio without a step."""
    x = (np.arange(n, dtype=np.float64) + 1.0) / n
    return np.cos(0.5 * np.pi * x).astype(np.float32), np.sin(0.5 * np.pi * x).astype(np.float32)


def _source_span(src: np.ndarray, a: int, b: int) -> np.ndarray:
    """``src[:, a:b]`` with zeros where the span falls outside the audio."""
    n = src.shape[1]
    out = np.zeros((src.shape[0], b - a), dtype=np.float32)
    lo, hi = max(a, 0), min(b, n)
    if hi > lo:
        out[:, lo - a : hi - a] = src[:, lo:hi]
    return out


def join_spans(src: np.ndarray, spans: list[tuple[int, int]], crossfade: int) -> np.ndarray:
    """Concatenate sample spans of ``src`` (n_channels, n) with crossfades at the seams.

    Returns
    -------
    np.ndarray, shape (n_channels, sum of span lengths), float32
    """
    total = sum(b - a for a, b in spans)
    out = np.zeros((src.shape[0], total), dtype=np.float32)
    pos = 0
    prev_end: int | None = None
    prev_len = 0
    for a, b in spans:
        length = b - a
        out[:, pos : pos + length] = _source_span(src, a, b)
        if prev_end is not None:
            f = min(crossfade, prev_len, length)
            if f > 0:
                fo, fi = equal_power(f)
                tail = _source_span(src, prev_end - f, prev_end)
                lead = _source_span(src, a - f, a)
                out[:, pos - f : pos] = tail * fo + lead * fi
        prev_end, prev_len = b, length
        pos += length
    return out


def loudness_lufs(samples: np.ndarray, sr: int) -> float | None:
    """Integrated loudness (LUFS) of (n_channels, n) samples; None if too short or silent."""
    import pyloudnorm

    if samples.shape[1] < int(0.5 * sr):
        return None
    try:
        value = float(pyloudnorm.Meter(sr).integrated_loudness(samples.T.astype(np.float64)))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def match_loudness(
    out: np.ndarray, sr: int, reference_lufs: float | None, max_gain_db: float = 12.0
) -> np.ndarray:
    """Scale ``out`` to ``reference_lufs``, never pushing its peak over 0 dBFS by gain."""
    if reference_lufs is None:
        return out
    current = loudness_lufs(out, sr)
    if current is None:
        return out
    gain_db = float(np.clip(reference_lufs - current, -max_gain_db, max_gain_db))
    gain = 10.0 ** (gain_db / 20.0)
    peak = float(np.max(np.abs(out))) if out.size else 0.0
    if gain > 1.0 and peak * gain > 0.999:
        gain = max(1.0, 0.999 / max(peak, 1e-9))
    return (out * np.float32(gain)).astype(np.float32)


def _fade(out: np.ndarray, n: int, at_end: bool) -> None:
    n = min(n, out.shape[1])
    if n <= 0:
        return
    ramp = np.sin(0.5 * np.pi * (np.arange(n, dtype=np.float64) + 0.5) / n).astype(np.float32)
    if at_end:
        out[:, -n:] *= ramp[::-1] ** 2
    else:
        out[:, :n] *= ramp**2


def render_segments(
    signal: Signal,
    segments_s: Sequence[Sequence[float]],
    *,
    crossfade_s: float = CROSSFADE_S,
    loudness: bool = True,
    reference_lufs: float | None = None,
) -> Signal:
    """Join ``segments_s`` (pairs of seconds) of ``signal`` into one signal.

    Parameters
    ----------
    signal : Signal
        The source audio.
    segments_s : sequence of [start_s, end_s]
        Spans of the source in seconds, played in order.
    crossfade_s : float
        Length of each equal-power crossfade, ending on the seam.
    loudness : bool
        Match the output's integrated loudness to the source's.
    reference_lufs : float, optional
        The source loudness if already measured (one measurement for many renders).

    Returns
    -------
    Signal
        ``sum(round(end*sr) - round(start*sr))`` samples long.

    Raises
    ------
    SegmentError
    """
    sr = signal.sr
    spans = segments_to_samples(segments_s, sr, signal.n_samples)
    out = join_spans(signal.samples, spans, int(round(crossfade_s * sr)))
    if spans[0][0] > 0:
        _fade(out, int(0.01 * sr), at_end=False)  # starts mid-song: no click
    if spans[-1][1] < signal.n_samples - int(0.5 * sr):
        # stops well before the song's own ending: fade out like an editor would
        _fade(out, min(int(EARLY_END_FADE_S * sr), out.shape[1] // 4), at_end=True)
    if loudness:
        ref = reference_lufs if reference_lufs is not None else source_loudness(signal)
        out = match_loudness(out, sr, ref)
    return Signal(out, sr)


def source_loudness(signal: Signal) -> float | None:
    return loudness_lufs(signal.samples, signal.sr)


def render_loop_segments(
    signal: Signal,
    segments_s: Sequence[Sequence[float]],
    *,
    crossfade_s: float = 0.03,
    loudness: bool = True,
    reference_lufs: float | None = None,
) -> Signal:
    """The joined segments as a seamless loop: played repeatedly, the last sample flows
    into the first.

    The final ``crossfade_s`` is crossfaded with the audio just before the first
    segment's start, so the loop's end arrives at exactly what precedes its start in the
    song. When the loop starts at the very beginning (nothing before it), its start is
    crossfaded with the audio after the last segment's end instead.
    """
    sr = signal.sr
    spans = segments_to_samples(segments_s, sr, signal.n_samples)
    src = signal.samples
    out = join_spans(src, spans, int(round(CROSSFADE_S * sr)))
    a, b = spans[0][0], spans[-1][1]
    f = min(int(round(crossfade_s * sr)), out.shape[1] // 4, spans[0][1] - a, b - spans[-1][0])
    if f > 0:
        fo, fi = equal_power(f)
        if a >= f:
            out[:, -f:] = _source_span(src, b - f, b) * fo + _source_span(src, a - f, a) * fi
        elif b + f <= signal.n_samples:
            # head crossfade: the loop's start begins as the continuation of its end
            out[:, :f] = _source_span(src, b, b + f) * fo + _source_span(src, a, a + f) * fi
    if loudness:
        ref = reference_lufs if reference_lufs is not None else source_loudness(signal)
        out = match_loudness(out, sr, ref)
    return Signal(out, sr)


def render_loop(signal: Signal, start_s: float, end_s: float, **kwargs: object) -> Signal:
    """The section ``[start_s, end_s)`` as a seamless loop (see render_loop_segments)."""
    return render_loop_segments(signal, [[start_s, end_s]], **kwargs)  # type: ignore[arg-type]


def stretch_to_length(signal: Signal, n_samples: int, max_ratio: float = MAX_STRETCH) -> Signal:
    """Time-stretch (pitch kept) to exactly ``n_samples``, if within ``max_ratio``.

    Raises
    ------
    SegmentError
        When the change needed is more than ``max_ratio`` (3 %).
    """
    import librosa

    cur = signal.n_samples
    if n_samples <= 0:
        raise SegmentError("target length must be positive")
    ratio = n_samples / cur
    if abs(ratio - 1.0) > max_ratio + 1e-9:
        raise SegmentError(
            f"cannot reach {n_samples / signal.sr:.2f} s exactly: the edit is "
            f"{cur / signal.sr:.2f} s, more than {max_ratio:.0%} away"
        )
    if n_samples == cur:
        return signal
    chans = []
    for ch in signal.samples:
        y = librosa.effects.time_stretch(ch.astype(np.float32), rate=cur / n_samples)
        chans.append(librosa.util.fix_length(y, size=n_samples))
    out = np.stack(chans).astype(np.float32)
    # the phase vocoder smears the first and last few milliseconds: keep the edges clean
    _fade(out, int(0.005 * signal.sr), at_end=False)
    _fade(out, int(0.005 * signal.sr), at_end=True)
    return Signal(out, signal.sr)
