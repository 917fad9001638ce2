"""Plays of a stream, as the monitor reports them.

The plays themselves come from the one long-file scanner
(:class:`tonearm.recognition.scanner.PlayScanner`, the same merge rule and boundary search
as ``/enterprise/`` and ``tonearm scan``), fed window by window. Timing is in *stream time*
(samples decoded / rate), never wall-clock, so a stream served faster than real time
(tests) gives the same plays as a live one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from tonearm.recognition.longfile import ChunkMatch


@dataclass
class Play:
    """One song played in the stream, in stream seconds."""

    asset_id: str
    start_s: float
    end_s: float
    score: float
    hits: int = 1  # recognition windows that heard it
    song_zero_s: float = 0.0  # stream time at which the song's own t=0 would be
    duration_s: float = math.inf
    detected_at: float = field(default_factory=time.time)  # wall clock, for the callback

    @property
    def play_length_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)

    @classmethod
    def of(cls, p: ChunkMatch, detected_at: float, duration_s: float | None = None) -> Play:
        """The scanner's play ``p`` (stream seconds), first announced at ``detected_at``."""
        return cls(
            p.asset_id,
            p.file_start_s,
            p.file_end_s,
            p.score,
            p.pieces,
            p.anchor_s,
            math.inf if duration_s is None else duration_s,
            detected_at,
        )
