"""Songs with a known section structure (ABAB...), for resize/loop tests and demos.

Every beat of a section plays that section's chord for its bar plus an arpeggio note for
its beat, so two beats sound alike exactly when they have the same *label* (section
letter, beat within the section's 4-bar pattern). A cut from position ``b`` to ``a`` is
then musically seamless iff ``label(b) == label(a)`` and ``label(b-1) == label(a-1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonearm.core.audio.signal import Signal

# 4-bar chord patterns (MIDI roots with a triad quality), one chord per bar
_PATTERNS: dict[str, list[tuple[int, str]]] = {
    "I": [(45, "m"), (45, "m")],  # intro: 2 bars, low A minor drone
    "A": [(60, "M"), (57, "m"), (53, "M"), (55, "M")],  # C Am F G
    "B": [(62, "m"), (58, "M"), (63, "M"), (50, "m")],  # Dm Bb Eb Dm(low)
    "C": [(64, "m"), (59, "m"), (61, "M"), (66, "m")],
    "O": [(48, "M"), (48, "M")],  # outro: 2 bars, low C major
}
_TRIADS = {"M": (0, 4, 7), "m": (0, 3, 7)}


@dataclass(frozen=True)
class StructuredSong:
    signal: Signal
    boundaries_s: np.ndarray  # (n_beats + 1,): every beat start, then the end of the song
    labels: list[tuple[str, int]]  # per beat: (section, beat within the pattern)
    beat_s: float


def _hz(midi: float) -> float:
    return float(440.0 * 2.0 ** ((midi - 69) / 12.0))


def render_structured_song(
    form: str = "IABABO",
    bars_per_section: int = 8,
    bpm: float = 120.0,
    sr: int = 22050,
    tail_s: float = 1.0,
) -> StructuredSong:
    """Render ``form`` (section letters from I, A, B, C, O; I and O last 2 bars).

    Returns
    -------
    StructuredSong
        Stereo signal at ``sr``; boundaries are exact (beat grid + song end).
    """
    beat_s = 60.0 / bpm
    beat_n = int(round(beat_s * sr))
    labels: list[tuple[str, int]] = []
    chords: list[tuple[int, str]] = []
    for sec in form:
        pattern = _PATTERNS[sec]
        bars = len(pattern) if sec in "IO" else bars_per_section
        for bar in range(bars):
            for beat in range(4):
                labels.append((sec, (bar % len(pattern)) * 4 + beat))
                chords.append(pattern[bar % len(pattern)])
    n_beats = len(labels)
    total = n_beats * beat_n + int(tail_s * sr)
    y = np.zeros(total, dtype=np.float64)
    t = np.arange(int(beat_n * 2.5)) / sr  # notes ring past their beat
    env = np.exp(-t / (0.6 * beat_s))
    rng = np.random.default_rng(7)
    for k, ((_sec, pos), (root, quality)) in enumerate(zip(labels, chords, strict=True)):
        start = k * beat_n
        note = np.zeros_like(t)
        for iv in _TRIADS[quality]:
            note += 0.12 * np.sin(2 * np.pi * _hz(root + iv) * t)
        arp = root + 12 + _TRIADS[quality][pos % 3] + (12 if pos % 4 == 3 else 0)
        note += 0.18 * np.sin(2 * np.pi * _hz(arp) * t) * np.exp(-t / (0.3 * beat_s))
        if pos % 4 == 0:  # kick on the downbeat
            kick_t = t[: int(0.15 * sr)]
            note[: len(kick_t)] += (
                0.5
                * np.sin(2 * np.pi * (50 + 80 * np.exp(-kick_t / 0.03)) * kick_t)
                * np.exp(-kick_t / 0.05)
            )
        else:  # a short hat
            n_h = int(0.03 * sr)
            note[:n_h] += 0.05 * rng.standard_normal(n_h) * np.exp(-np.arange(n_h) / (0.008 * sr))
        piece = note * env
        end = min(total, start + len(piece))
        y[start:end] += piece[: end - start]
    y *= 0.8 / max(1e-9, float(np.max(np.abs(y))))
    stereo = np.stack([y, 0.9 * y]).astype(np.float32)
    bounds = np.arange(n_beats + 1) * beat_n / sr
    bounds = np.concatenate([bounds[:-1], [total / sr]])  # the last boundary is the song end
    return StructuredSong(Signal(stereo, sr), bounds, labels, beat_s)


def beat_chroma_similarity(signal: Signal, boundaries_s: np.ndarray) -> np.ndarray:
    """A plain beat self-similarity (mean chroma + MFCC per beat, cosine), shape
    (n_boundaries - 1, n_boundaries - 1) in [0, 1]. Independent of the analyze service,
    so resize can be tested on its own."""
    import librosa

    y = signal.mono()
    hop = 512
    chroma = librosa.feature.chroma_stft(y=y, sr=signal.sr, hop_length=hop)
    mfcc = librosa.feature.mfcc(y=y, sr=signal.sr, hop_length=hop, n_mfcc=13)[1:]
    frames = np.round(np.asarray(boundaries_s) * signal.sr / hop).astype(int)
    feats = []
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        b = max(b, a + 1)
        c = chroma[:, a:b].mean(axis=1)
        m = mfcc[:, a:b].mean(axis=1)
        c = c / (np.linalg.norm(c) + 1e-9)
        m = m / (np.linalg.norm(m) + 1e-9)
        feats.append(np.concatenate([c, 0.5 * m]))
    f = np.asarray(feats)
    f /= np.linalg.norm(f, axis=1, keepdims=True) + 1e-9
    sim = np.clip(f @ f.T, 0.0, 1.0)
    # stretch so unrelated beats sit near 0 and repeats near 1
    lo = float(np.percentile(sim, 5))
    return np.clip((sim - lo) / max(1e-9, 1.0 - lo), 0.0, 1.0).astype(np.float32)
