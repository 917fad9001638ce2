"""Plays: per-window matches of a stream -> one event per song played.

Timing is in *stream time* (samples decoded / rate), never wall-clock, so a stream served
faster than real time (tests) gives the same plays as a live one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


@dataclass
class Play:
    """One song played in the stream, in stream seconds."""

    asset_id: str
    start_s: float
    end_s: float
    score: float
    hits: int = 1
    song_zero_s: float = 0.0  # stream time at which the song's own t=0 would be
    duration_s: float = math.inf
    detected_at: float = field(default_factory=time.time)  # wall clock, for the callback

    @property
    def play_length_s(self) -> float:
        return max(0.0, self.end_s - self.start_s)


@dataclass
class PlayEvent:
    kind: str  # "start" | "end"
    play: Play


class PlayTracker:
    """Turns a sequence of window results into song plays.

    A song counts as playing once ``min_hits`` consecutive windows agree on it (one stray
    window never makes a callback); it ends when another song is confirmed, when no window
    has matched it for ``end_gap_s`` of stream time, or at :meth:`flush` (stream lost).
    Start and end are estimated from the match offsets and clamped to the song's length
    and to the previous play, so ``play_length`` is not off by a whole window.
    """

    def __init__(self, *, min_hits: int = 2, end_gap_s: float = 10.0) -> None:
        self.min_hits = max(1, int(min_hits))
        self.end_gap_s = float(end_gap_s)
        self.current: Play | None = None
        self.pending: Play | None = None
        self.last_end_s = 0.0

    def _new_play(
        self, asset_id: str, w0: float, w1: float, offset_s: float, score: float, dur: float
    ) -> Play:
        zero = w0 - offset_s  # stream time of the song's own t=0
        start = max(zero, self.last_end_s)
        return Play(asset_id, start, min(w1, zero + dur), score, 1, zero, dur)

    def update(
        self,
        w0: float,
        w1: float,
        asset_id: str | None,
        offset_s: float = 0.0,
        score: float = 0.0,
        duration_s: float = math.inf,
    ) -> list[PlayEvent]:
        """Feed one window ``[w0, w1]`` (stream seconds) and its best match (or None)."""
        events: list[PlayEvent] = []
        cur = self.current
        if asset_id is not None and cur is not None and asset_id == cur.asset_id:
            cur.end_s = max(cur.end_s, min(w1, cur.song_zero_s + cur.duration_s))
            cur.score = max(cur.score, score)
            cur.hits += 1
            self.pending = None
            return events
        if asset_id is not None:
            p = self.pending
            if p is not None and p.asset_id == asset_id:
                p.hits += 1
                p.end_s = max(p.end_s, min(w1, p.song_zero_s + p.duration_s))
                p.score = max(p.score, score)
            else:
                p = self.pending = self._new_play(asset_id, w0, w1, offset_s, score, duration_s)
            if p.hits >= self.min_hits:
                if cur is not None:
                    cur.end_s = min(cur.end_s, max(p.start_s, cur.start_s))
                    events.append(self._end())
                p.start_s = max(p.start_s, self.last_end_s)
                self.current, self.pending = p, None
                events.append(PlayEvent("start", p))
                return events
        elif self.pending is not None and w0 - self.pending.end_s > self.end_gap_s:
            self.pending = None
        if cur is not None and w1 - cur.end_s > self.end_gap_s:
            events.append(self._end())
        return events

    def _end(self) -> PlayEvent:
        cur = self.current
        assert cur is not None
        self.current = None
        self.last_end_s = max(self.last_end_s, cur.end_s)
        return PlayEvent("end", cur)

    def flush(self) -> list[PlayEvent]:
        """The stream stopped: whatever was playing has ended."""
        self.pending = None
        return [self._end()] if self.current is not None else []
