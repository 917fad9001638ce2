"""Keys, scales and chord progressions (MIDI note numbers)."""

from __future__ import annotations

import numpy as np

PITCH_CLASSES = {
    "C": 0, "B#": 0, "C#": 1, "DB": 1, "D": 2, "D#": 3, "EB": 3, "E": 4, "FB": 4, "F": 5,
    "E#": 5, "F#": 6, "GB": 6, "G": 7, "G#": 8, "AB": 8, "A": 9, "A#": 10, "BB": 10, "B": 11,
    "CB": 11,
}  # fmt: skip
KEY_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
}
# 0-based scale degrees, one chord per bar
PROGRESSIONS = {
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (3, 0, 4, 5), (1, 4, 0, 0), (0, 3, 4, 3), (5, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4), (5, 6, 0, 0)),
}


def pitch_class(key: str) -> int:
    """Pitch class 0-11 of a key name such as ``"C"``, ``"F#"``, ``"Bb"``."""
    k = key.strip().upper()
    if k not in PITCH_CLASSES:
        raise ValueError(f"unknown key {key!r}")
    return PITCH_CLASSES[k]


def scale_note(tonic_midi: int, mode: str, degree: int) -> int:
    """MIDI note of a scale degree (0-based, may be negative or above 6) from ``tonic_midi``."""
    sc = SCALES[mode]
    return tonic_midi + 12 * (degree // 7) + sc[degree % 7]


def chord(tonic_midi: int, mode: str, degree: int, *, sevenths: bool = False) -> list[int]:
    """Diatonic triad (or seventh chord) on ``degree``, stacked in thirds, as MIDI notes."""
    steps = (0, 2, 4, 6) if sevenths else (0, 2, 4)
    return [scale_note(tonic_midi, mode, degree + s) for s in steps]


def pick_progressions(
    mode: str, rng: np.random.Generator
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two different progressions for a song's verse (A) and chorus (B)."""
    progs = PROGRESSIONS[mode]
    i, j = rng.choice(len(progs), size=2, replace=False)
    return progs[int(i)], progs[int(j)]
