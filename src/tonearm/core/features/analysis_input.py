"""The per-file input every ingest analyzer reads: the decoded Signal plus the
representations derived from it, each computed once, on first use.

A music ingest runs several analyzers (beats, search words, embedding, ...) that all want
mono audio at 22,050 Hz and a tempo. They share one :class:`AnalysisInput`, so the file is
resampled to 22,050 Hz once (soxr) and its beats are tracked once
(:func:`tonearm.core.features.beats.track_beats_spectrogram`): the catalog ``bpm``, the
analyze result and the search words all read that one tempo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.core.features.onset import ANALYSIS_SR

if TYPE_CHECKING:
    from tonearm.core.features.beats import Beats
    from tonearm.core.features.onset import Spectrogram


class AnalysisInput:
    """One file's audio for analysis, with lazily cached derived representations.

    Parameters
    ----------
    signal : Signal
        The decoded file (its own rate and channels).
    bpm_hint : float, optional
        A tempo known from the file's metadata (tags, CSV sidecar): the beat tracker keeps
        to that metrical level instead of deciding double/half tempo from the audio alone.

    Not thread-safe: one ingest builds one input and runs its analyzers in turn.
    """

    def __init__(
        self,
        signal: Signal,
        *,
        bpm_hint: float | None = None,
        source_duration_s: float | None = None,
    ) -> None:
        self.signal = signal
        self.source_duration_s = source_duration_s
        self.bpm_hint = bpm_hint if bpm_hint and 30.0 <= bpm_hint <= 300.0 else None
        self._cache: dict[Any, Any] = {}

    @classmethod
    def of(cls, x: AnalysisInput | Signal) -> AnalysisInput:
        """``x`` itself, or a fresh input around a bare Signal (callers that have one)."""
        return x if isinstance(x, AnalysisInput) else cls(x)

    @property
    def duration_s(self) -> float:
        """The file's duration: ``source_duration_s`` when the signal was decoded straight
        to an analysis rate (its own length is then rounded to that rate), else the
        signal's."""
        if self.source_duration_s is not None:
            return self.source_duration_s
        return self.signal.duration_s

    def _cached(self, key: Any, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def mono(self) -> np.ndarray:
        """Channel mean at the file's rate, shape (n_samples,), float32."""
        y: np.ndarray = self._cached("mono", self.signal.mono)
        return y

    def at_rate(self, sr: int) -> Signal:
        """The mono signal at ``sr`` Hz (soxr, as :meth:`Signal.resample`), shape (1, n)."""
        out: Signal = self._cached(
            ("mono", int(sr)), lambda: Signal(self.mono(), self.signal.sr).resample(int(sr))
        )
        return out

    def spectrogram(self) -> Spectrogram:
        """The beat-analysis spectrogram of the mono signal at 22,050 Hz."""
        from tonearm.core.features.onset import spectrogram

        spec: Spectrogram = self._cached(
            "spectrogram", lambda: spectrogram(self.at_rate(ANALYSIS_SR).samples[0], ANALYSIS_SR)
        )
        return spec

    def beats(self) -> Beats:
        """Beats and tempo of the whole file (the one tempo estimate of an ingest)."""
        from tonearm.core.features.beats import track_beats_spectrogram

        # the audio too: the trained activation (if installed) reads it
        beats: Beats = self._cached(
            "beats",
            lambda: track_beats_spectrogram(
                self.spectrogram(), y=self.at_rate(ANALYSIS_SR).samples[0], bpm_hint=self.bpm_hint
            ),
        )
        return beats

    @property
    def tempo_bpm(self) -> float:
        """Tempo in BPM from :meth:`beats` (0.0 when fewer than two beats)."""
        return float(self.beats().bpm)
