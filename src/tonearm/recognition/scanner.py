"""The one long-file scanner: chunk matches in, one play per track played out, each with
its boundaries refined on the song's own peaks.

:class:`PlayScanner` is fed incrementally, in file (or stream) time: the query peaks and
the PCM's power as they are computed, then the chunk matches of each recognition window.
Plays come out as events: ``start`` once a play is established, ``end`` once nothing that
can still arrive could change it (its song unheard for longer than the merge rule's
dropout, and its boundary search region complete), with its start and end refined. The
long-file job (:mod:`tonearm.recognition.enterprise`: AudD ``/enterprise/``, ``tonearm
scan``) and the stream monitors (:mod:`tonearm.recognition.streams.monitor`) both use it,
so a file and a stream playing the same audio get the same plays.

The merge rule itself (which chunk matches are one play) is pure, in
:mod:`tonearm.recognition.longfile`; the peak arithmetic in
:mod:`tonearm.recognition.alignment`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from tonearm.recognition import alignment
from tonearm.recognition import fingerprint as fp
from tonearm.recognition.longfile import (
    DROPOUT_S,
    MIN_HEARD_S,
    MIN_PLAY_S,
    SHARED_OVERLAP,
    ChunkMatch,
    merge_chunks,
    split_crossfades,
)
from tonearm.recognition.wire import CHUNK_S

if TYPE_CHECKING:
    from pathlib import Path

    from tonearm.catalog.context import Catalog
    from tonearm.core.audio.limits import DecodeLimits

ALIGN_OUT_S = CHUNK_S + 2.0  # a boundary is looked for this far outside the chunks' evidence
ALIGN_TOUCH_S = 1.0  # plays this close are one boundary (out of one, into the next)
ALIGN_CLEAR_S = 3.0  # the rate of a song is measured this far inside its own side...
ALIGN_MEASURE_S = 10.0  # ...up to this far inside the play
HEARD_INWARD_S = 4.0  # a boundary may lie this far inside where the chunks heard the song
# (half of an 8 s crossfade: the outgoing song is still heard until its end)
FADE_UNSEEN_S = 3.0  # how far past the last crossing a fade into unknown audio may run
# a play is final once its song has gone unheard this long: no chunk match still to come can
# continue it (DROPOUT_S) and the audio its end's boundary search looks at is in
HOLD_S = DROPOUT_S + ALIGN_OUT_S + 2.0
SOLE_MATCH_SCORE = 0.9  # a play resting on one chunk match needs this score (a chance
# match of a sped-up texture scores less; a song heard once, clearly, scores ~1)


class PeakStore:
    """Query peaks in file frames (36 a second, 12 bytes each: ~1.5 MB an hour), appended
    as they are found, read back by time range for the boundary search."""

    def __init__(self) -> None:
        self._t: list[np.ndarray] = []
        self._f: list[np.ndarray] = []
        self.t = np.zeros(0)
        self.f = np.zeros(0)

    def add(self, t_frames: np.ndarray, f_bands: np.ndarray) -> None:
        self._t.append(np.asarray(t_frames, dtype=np.float64))
        self._f.append(np.asarray(f_bands, dtype=np.float64))

    def _settle(self) -> None:
        if self._t:
            t = np.concatenate([self.t, *self._t])
            f = np.concatenate([self.f, *self._f])
            order = np.argsort(t, kind="stable")
            self.t, self.f = t[order], f[order]
            self._t, self._f = [], []

    def window(self, a_s: float, b_s: float) -> tuple[np.ndarray, np.ndarray]:
        """(frames, bands) of the peaks between ``a_s`` and ``b_s`` (file seconds)."""
        self._settle()
        i, j = np.searchsorted(self.t, [a_s * fp.FPS, b_s * fp.FPS])
        return self.t[i:j], self.f[i:j]

    def drop_before(self, t_s: float) -> None:
        """Forget the peaks before ``t_s`` (a live stream's memory stays bounded)."""
        self._settle()
        i = int(np.searchsorted(self.t, t_s * fp.FPS))
        self.t, self.f = self.t[i:], self.f[i:]


class PowerTrack:
    """The PCM's mean power every ``alignment.POWER_HOP_S`` (10 floats a second), appended
    block by block, for placing a fade between songs of different loudness."""

    def __init__(self, sr: int) -> None:
        self.hop = max(1, int(alignment.POWER_HOP_S * sr))
        self._rest = np.zeros(0, dtype=np.float64)
        self._p: list[np.ndarray] = []
        self.first = 0  # index of the first hop kept
        self.n = 0  # hops seen

    def add(self, x: np.ndarray) -> None:
        x = np.concatenate([self._rest, np.asarray(x, dtype=np.float64).reshape(-1)])
        m = x.size // self.hop
        if m:
            self._p.append(np.mean(x[: m * self.hop].reshape(m, self.hop) ** 2, axis=1))
            self.n += m
        self._rest = x[m * self.hop :]

    def envelope_db(self, a_s: float, b_s: float) -> tuple[float, np.ndarray]:
        """(start s, :func:`alignment.power_envelope_db` of the audio from ``a_s`` to
        ``b_s``), smoothed the same way."""
        if len(self._p) > 1:
            self._p = [np.concatenate(self._p)]
        p = self._p[0] if self._p else np.zeros(0)
        hop_s = alignment.POWER_HOP_S
        i = max(self.first, int(round(a_s / hop_s)))
        j = max(i, min(self.n, int(round(b_s / hop_s))))
        seg = p[i - self.first : j - self.first]
        k = max(1, int(round(alignment.POWER_SMOOTH_S / hop_s)))
        seg = np.convolve(seg, np.ones(k) / k, mode="same") if seg.size else seg
        return i * hop_s, 10.0 * np.log10(seg + 1e-12)

    def drop_before(self, t_s: float) -> None:
        i = int(t_s / alignment.POWER_HOP_S)
        if i <= self.first or not self._p:
            return
        p = np.concatenate(self._p)
        cut = min(p.size, i - self.first)
        self._p = [p[cut:]]
        self.first += cut


class PcmTrack:
    """The PCM itself for the few seconds around each boundary a fade fit reads
    (:func:`alignment.fade_fit_s`), appended block by block, forgotten once no boundary
    can still need it (a file keeps a few minutes at a time, not the whole hour)."""

    def __init__(self, sr: int, max_s: float = 600.0) -> None:
        self.sr = sr
        self.max_n = int(max_s * sr)  # never more than this (a song open for longer
        # loses its start's fit: the peaks place it)
        self._blocks: list[np.ndarray] = []
        self.first = 0  # sample index of the first sample kept
        self.n = 0  # samples seen

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32).reshape(-1)
        self._blocks.append(x)
        self.n += x.size
        if self.n - self.first > self.max_n + self.sr * 60:
            self.drop_before((self.n - self.max_n) / self.sr)

    def segment(self, a_s: float, n: int) -> tuple[float, np.ndarray] | None:
        """(start s, ``n`` samples from ``a_s`` on the sample grid), None unless all of
        them are kept."""
        a = int(round(a_s * self.sr))
        if a < self.first or a + n > self.n or n <= 0:
            return None
        if len(self._blocks) > 1:
            self._blocks = [np.concatenate(self._blocks)]
        return a / self.sr, self._blocks[0][a - self.first : a - self.first + n]

    def drop_before(self, t_s: float) -> None:
        i = int(t_s * self.sr)
        if i <= self.first or not self._blocks:
            return
        x = np.concatenate(self._blocks)
        cut = min(x.size, i - self.first)
        self._blocks = [x[cut:]]
        self.first += cut


class PcmSource(Protocol):
    """Where the file's PCM around a boundary is read (a file's spool on disk, or the
    scanner's own :class:`PcmTrack` for a live stream)."""

    sr: int

    def segment(self, a_s: float, n: int) -> tuple[float, np.ndarray] | None: ...


class SongStretches(Protocol):
    """A song's PCM read a stretch at a time (a kept original: a fit needs seconds of it,
    not the whole song decoded)."""

    def stretch(self, a_s: float, b_s: float) -> tuple[int, np.ndarray] | None:
        """(first sample, PCM) covering the song from ``a_s`` to ``b_s`` seconds (less
        where the song ends; None: undecodable)."""
        ...


# asset id -> the song's whole PCM, or its stretches, at the scanner's rate (None: unknown)
SongAudioOf = Callable[[str], "np.ndarray | SongStretches | None"]
FIT_WINDOW_S = 10.0  # a fade fit reads this much audio either side of the boundary
FIT_SIDE_S = 5.0  # ...and aligns each song on this much of its own side
SONG_READ_MAX_S = 120.0  # a fit reads this much of the song from its play's start


def _speed_line(p: ChunkMatch) -> bool:
    """The play's pitch moves with its tempo (or neither changes): resampling the song's
    audio reproduces what the file plays."""
    bands = 12.0 * fp.BANDS_PER_SEMITONE * float(np.log2(max(p.speed, 1e-6)))
    return abs(p.shift_bands - bands) <= 0.5


def _audio_fade(
    pcm: PcmSource,
    song_audio: SongAudioOf,
    out: tuple[ChunkMatch, float] | None,
    into: tuple[ChunkMatch, float] | None,
    guess_s: float,
    span_s: tuple[float, float] = (0.0, np.inf),
) -> float | None:
    """:func:`_fade_fit`'s midpoint (file s), or None."""
    got = _fade_fit(pcm, song_audio, out, into, guess_s, span_s)
    return None if got is None else got[0]


def _fade_fit(
    pcm: PcmSource,
    song_audio: SongAudioOf,
    out: tuple[ChunkMatch, float] | None,
    into: tuple[ChunkMatch, float] | None,
    guess_s: float,
    span_s: tuple[float, float] = (0.0, np.inf),
) -> tuple[float, int] | None:
    """(midpoint, sides) of the fade near ``guess_s`` from the songs' own audio
    (:func:`alignment.fade_fit_s`): ``out`` the play fading out and ``into`` the one
    fading in, each with its alignment (file seconds of the song's t=0); None for a side
    that is no catalog play; ``span_s`` the file's audio (a fit near its ends reads
    less). None when the audio cannot say (no audio kept, a song without its audio, no
    song lining up with the file on its own side: a tempo-only or pitch-only change
    among them). ``sides``: how many of the two songs lined up with the file on their own
    side (2: the midpoint is where both songs' audio puts it).

    With one side only (a song not in the catalog, silence), a guess seconds off (a
    stream's windows hear a song past its fade) puts part of the fade in the song's own
    side and fails its gate: it is tried once more from ``FIT_SIDE_S`` further inside,
    its own side checked there, and taken only if it does not move the boundary outside
    what the chunks heard."""
    got = _fit_at(pcm, song_audio, out, into, guess_s, span_s)
    if got is not None or (out is None) == (into is None):
        return got
    side = out if out is not None else into
    assert side is not None
    end = side is out
    edge = _heard(side[0])[1 if end else 0]
    inside_s = guess_s - FIT_SIDE_S if end else guess_s + FIT_SIDE_S
    got = _fit_at(pcm, song_audio, out, into, inside_s, span_s)
    if got is None or (got[0] > edge if end else got[0] < edge):
        return None
    return got


def _fit_at(
    pcm: PcmSource,
    song_audio: SongAudioOf,
    out: tuple[ChunkMatch, float] | None,
    into: tuple[ChunkMatch, float] | None,
    guess_s: float,
    span_s: tuple[float, float],
) -> tuple[float, int] | None:
    """One fit of :func:`_fade_fit` around ``guess_s``: (midpoint (file s), sides)."""
    sr = pcm.sr
    a_s = max(guess_s - FIT_WINDOW_S, span_s[0])
    b_s = min(guess_s + FIT_WINDOW_S, span_s[1])
    # near the file's (or stream's) ends the window is what there is, each song's own
    # side still clear of the guess
    if b_s - a_s < FIT_WINDOW_S:
        return None
    if (out is not None and guess_s - a_s < FIT_SIDE_S) or (
        into is not None and b_s - guess_s < FIT_SIDE_S
    ):
        return None
    n = int((b_s - a_s) * sr)
    got = pcm.segment(a_s, n)
    if got is None:
        return None
    lo, x = got
    k = int(FIT_SIDE_S * sr)
    refs: list[np.ndarray | None] = []
    for side, sl in ((out, slice(0, k)), (into, slice(n - k, n))):
        if side is None:
            refs.append(None)
            continue
        p, anchor_s = side
        kept = song_audio(p.asset_id)
        if kept is None:
            return None
        # resampled by the play's speed; a play whose pitch does not move with its tempo
        # (or a stray window's hypothesis) is tried as played, its alignment searched as
        # far as that speed would have moved it by here (the song's time at the
        # boundary): its correlation decides
        speed, lag_s = p.speed, alignment.FIT_LAG_S
        if not _speed_line(p):
            c_s = lo + (sl.start + k / 2) / sr
            speed, lag_s = 1.0, lag_s + abs(1.0 - p.speed) * abs(c_s - anchor_s)
        # the song's stretch this fit can place, whatever the lags and the refined speed
        # (at most FIT_DRIFT_MAX of the window) do to the alignment; from a play's start,
        # SONG_READ_MAX_S of the song at once (its end's fit, once the play is over,
        # reads the same stretch)
        pad_s = lag_s + 1.0 + alignment.FIT_DRIFT_MAX * (n / sr)
        s_a, s_b = (lo - anchor_s) * speed - pad_s, (lo + n / sr - anchor_s) * speed + pad_s
        p_a = (p.file_start_s - anchor_s) * speed - FIT_WINDOW_S
        if min(s_a, p_a) + SONG_READ_MAX_S >= s_b:
            s_a = min(s_a, p_a)
            s_b = s_a + SONG_READ_MAX_S
        got_song = _song_stretch(kept, sr, s_a, s_b)
        if got_song is None:
            return None
        first, song = got_song
        r = alignment.placed_song(song, sr, anchor_s, speed, lo, n, first)
        lag, corr = 0, -1.0
        if abs(speed - 1.0) > 1e-6:
            # the play's speed is quantized: the placed song drifts against the file (its
            # own side blurs, and a lag there is off where the fade is); the lags of the
            # own side's far half and of the stretch next to it, towards the boundary,
            # give the speed the file plays at and the alignment near the fade
            h = k // 2
            starts = (0, k) if sl.start == 0 else (n - h, n - k - h)
            got_speed = alignment.refined_speed(
                x, r, sr, speed, anchor_s, lo, starts, h, int(lag_s * sr)
            )
            if got_speed != (speed, anchor_s):
                r2 = alignment.placed_song(song, sr, got_speed[1], got_speed[0], lo, n, first)
                lag, corr = alignment.fine_lag(x[sl], r2[sl], int(lag_s * sr))
                # the stretch next to the own side may lie past the song (its lag is
                # chance there): a refinement that loses the own side is not kept
                if corr >= alignment.FIT_MIN_CORR:
                    (speed, anchor_s), r = got_speed, r2
        if corr < alignment.FIT_MIN_CORR:
            lag, corr = alignment.fine_lag(x[sl], r[sl], int(lag_s * sr))
        if corr < alignment.FIT_MIN_CORR:  # not heard on its own side: no evidence
            refs.append(None)
            continue
        refs.append(alignment.placed_song(song, sr, anchor_s + lag / sr, speed, lo, n, first))
    if refs[0] is None and refs[1] is None:
        return None
    edges = (a_s <= span_s[0], b_s >= span_s[1])  # the window reaches the file's ends
    m = alignment.fade_fit_s(x, refs[0], refs[1], sr, edges, own_s=FIT_SIDE_S)
    return None if m is None else (lo + m, sum(r is not None for r in refs))


def _song_stretch(
    song: np.ndarray | SongStretches, sr: int, a_s: float, b_s: float
) -> tuple[int, np.ndarray] | None:
    """(first sample, PCM) of ``song`` covering its ``a_s`` to ``b_s`` seconds."""
    if isinstance(song, np.ndarray):
        return 0, song
    if b_s <= 0.0:
        return 0, np.zeros(0, np.float32)  # before the song's start: no audio to place
    return song.stretch(max(0.0, a_s), b_s)


def _fade_midpoint(
    power: PowerTrack, lo_s: float, hi_s: float, *, inside: bool = False
) -> float | None:
    """:func:`alignment.fade_midpoint_s` of the audio between ``lo_s`` and ``hi_s``."""
    pad = 7.0
    t0, env = power.envelope_db(max(0.0, lo_s - pad), hi_s + pad)
    return alignment.fade_midpoint_s(env, t0, max(t0, lo_s), hi_s, inside=inside)


def _song_presence(
    song: alignment.SongPeaks,
    t: np.ndarray,
    f: np.ndarray,
    play: ChunkMatch,
    side: tuple[float, float],
    *,
    end: bool = False,
) -> tuple[np.ndarray, float]:
    """Per-peak presence of ``play``'s song over the peaks (``t`` file frames, ``f`` bands)
    and the file frame its song starts at; its rate measured on the peaks in ``side`` (file
    frames) under the best alignment. At the play's ``end``, among alignments a repeated
    section fits equally well, the one its chunks heard last (the other may part from the
    file where the repeat ends, before the song does)."""
    anchors = [a * fp.FPS for a in [play.anchor_s, *play.anchors]]
    prefer = None
    if end and play.end_anchor_s is not None:
        prefer = play.end_anchor_s * fp.FPS
    own = (t >= side[0]) & (t < side[1])
    if own.sum() < 20:
        own = np.ones(t.shape, dtype=bool)
    anchor, rate = alignment.best_anchor(
        song, t[own], f[own], anchors, play.speed, play.shift_bands, prefer
    )
    hits = alignment.peak_hits(song, t, f, anchor, play.speed, play.shift_bands)
    col = song.grid.mean(axis=0)
    fr = np.clip(np.rint(f - play.shift_bands).astype(np.int64), 0, col.size - 1)
    chance = max(alignment.CHANCE_MIN, float(col[fr].mean()))
    if rate <= 2 * chance:  # the song is not heard here at all: no evidence either way
        return np.full(t.shape, 0.5), anchor
    return alignment.presence(hits, rate, chance), anchor


def _heard(p: ChunkMatch) -> tuple[float, float]:
    return p.heard_s or (p.file_start_s, p.file_end_s)


def _heard_s(p: ChunkMatch) -> float:
    h0, h1 = _heard(p)
    return h1 - h0


def _bounds(
    plays: list[ChunkMatch], i: int, t0: float, t1: float
) -> tuple[float, float, float, float]:
    """Where play ``i``'s start and end may lie: (start lo, start hi, end lo, end hi).

    At most ``HEARD_INWARD_S`` inside the stretch its chunks heard it (further where the
    neighbour was heard already: a long crossfade), at most ``ALIGN_OUT_S`` outside it
    (a chunk lost to noise at an end), and not past the neighbour's own evidence (plus
    ``HEARD_INWARD_S``)."""
    h0, h1 = _heard(plays[i])
    s_lo, s_hi = max(t0, h0 - ALIGN_OUT_S), h0 + HEARD_INWARD_S
    e_lo, e_hi = h1 - HEARD_INWARD_S, min(t1, h1 + ALIGN_OUT_S)
    if i > 0:
        q0, q1 = _heard(plays[i - 1])
        s_lo = max(s_lo, min(q1 - HEARD_INWARD_S, h0), q0 + 0.5)
        s_hi = max(s_hi, min(q1, h1 - 0.5))
    if i + 1 < len(plays):
        n0, n1 = _heard(plays[i + 1])
        e_hi = min(e_hi, max(n0 + HEARD_INWARD_S, h1), n1 - 0.5)
        e_lo = min(e_lo, max(n0, h0 + 0.5))
    return s_lo, max(s_lo, s_hi), e_lo, max(e_lo, e_hi)


def _folded_into(m: ChunkMatch, closed: list[ChunkMatch]) -> bool:
    """Chunk match ``m`` of another song lies mostly inside a closed play's stretch: the
    merge folded it into that play (a passage the two songs share); once the play is
    closed it must not come back as a play of its own."""
    span = m.file_end_s - m.file_start_s
    for q in closed:
        q0, q1 = _heard(q)
        shared = min(q1, m.file_end_s) - max(q0, m.file_start_s)
        if q.asset_id != m.asset_id and shared >= SHARED_OVERLAP * span:
            return True
    return False


def _list_in_host(p: ChunkMatch, hosts: list[ChunkMatch]) -> ChunkMatch | None:
    """``p`` (a song squeezed out by its neighbours) goes to the ``also`` list of the play
    whose chunks heard it over the same stretch (the most), if any: that play."""

    def shared(h: ChunkMatch) -> float:
        (a0, a1), (b0, b1) = _heard(p), _heard(h)
        return min(a1, b1) - max(a0, b0)

    cands = [h for h in hosts if h.asset_id != p.asset_id and shared(h) > 0]
    if cands:
        host = max(cands, key=shared)
        for aid in (p.asset_id, *p.also):
            if aid != host.asset_id and aid not in host.also:
                host.also.append(aid)
        return host
    return None


def _snapshot(p: ChunkMatch) -> ChunkMatch:
    """A copy of ``p`` for an event: what was sent never changes with the scanner's own
    plays (their ``also`` lists grow)."""
    return replace(p, also=list(p.also), anchors=list(p.anchors))


SongPeaksOf = Callable[[str], "alignment.SongPeaks | None"]


def catalog_songs(catalog: Catalog) -> SongPeaksOf:
    """Asset id -> its song's peaks, rebuilt from the stored fingerprint (cached)."""
    songs: dict[str, alignment.SongPeaks | None] = {}

    def song_of(aid: str) -> alignment.SongPeaks | None:
        if aid not in songs:
            a = catalog.store.get_analysis(aid, fp.ANALYSIS_NAME)
            songs[aid] = None
            if a is not None and a.blob:
                songs[aid] = alignment.song_peaks(*fp.unpack(a.blob))
        return songs[aid]

    return song_of


SONG_AUDIO_CACHE = 6  # songs whose last stretches are kept (a boundary reads two songs)
SONG_STRETCHES_KEPT = 2  # stretches kept per song (a play's start and end; a shared boundary
# is fitted twice)
SONG_STRETCH_PAD_S = 4.0  # read this much more either side (the resampler's edges differ; a
# shared boundary is fitted twice, from guesses a few seconds apart: one read)


class _KeptSong:
    """A catalog song's kept original, decoded a stretch at a time in the decoding child
    (a seek where the codec allows), the way the fingerprint was made (channel mean,
    soxr to the fingerprint rate)."""

    def __init__(self, path: Path, lim: DecodeLimits) -> None:
        self.path, self.lim = path, lim
        self.kept: list[tuple[int, np.ndarray, int]] = []  # (first, PCM, last sample asked)

    def stretch(self, a_s: float, b_s: float) -> tuple[int, np.ndarray] | None:
        from tonearm.core.audio.decode import decode
        from tonearm.core.audio.errors import AudioError

        sr = fp.SR
        i0, i1 = int(a_s * sr), int(np.ceil(b_s * sr))
        for first, y, asked in self.kept:
            # a kept stretch covers it, or ran to the song's end (nothing more to read)
            if first <= i0 and (i1 <= first + y.size or first + y.size < asked):
                return first, y
        start = max(0, int(np.floor(a_s - SONG_STRETCH_PAD_S)))  # whole seconds
        end_s = b_s + SONG_STRETCH_PAD_S
        try:
            sig = decode(
                self.path,
                max_bytes=self.lim.max_bytes,
                max_duration_s=self.lim.max_duration_s,
                timeout_s=self.lim.timeout_s,
                mono=True,
                sr=sr,
                span_s=(start, end_s),
            )
            y = fp.prepare(sig)
        except AudioError:
            return None
        self.kept = [(start * sr, y, int(end_s * sr)), *self.kept][:SONG_STRETCHES_KEPT]
        return start * sr, y


def catalog_audio(catalog: Catalog) -> SongAudioOf:
    """Asset id -> its song's kept original, read a stretch at a time (None: no original
    kept); the last few songs' last stretches kept."""
    from tonearm.catalog.decoding import audio_limits
    from tonearm.catalog.ingest import asset_path
    from tonearm.core.audio.limits import Purpose

    lim = audio_limits(catalog.settings).for_purpose(Purpose.CATALOG_FILE)
    cache: dict[str, _KeptSong | None] = {}

    def audio_of(aid: str) -> SongStretches | None:
        if aid in cache:
            cache[aid] = cache.pop(aid)  # most recent last
            return cache[aid]
        song = None
        a = catalog.store.get_asset(aid)
        if a is not None and a.file_path:
            path = asset_path(catalog, a)
            if path.exists():
                song = _KeptSong(path, lim)
        cache[aid] = song
        while len(cache) > SONG_AUDIO_CACHE:
            cache.pop(next(iter(cache)))
        return song

    return audio_of


def align_bounds(
    song_of: SongPeaksOf,
    power: PowerTrack,
    peaks: PeakStore,
    plays: list[ChunkMatch],
    t0: float,
    t1: float,
    audio: tuple[PcmSource, SongAudioOf] | None = None,
    final: tuple[int, int] | None = None,
) -> None:
    """Each play's start and end moved to where its song's peaks begin and stop lining up
    with the file's (:mod:`tonearm.recognition.alignment`), within the bounds the chunks'
    evidence sets (:func:`_bounds`); the song position at the start follows. ``plays`` is
    sorted by start; changed in place.

    Each end is where the song's presence falls through ``PRESENT`` and ``HEARD`` (the
    middle of the two: a fade's midpoint), each start where it rises through them. Where
    one play's song is still heard after the next one's is (a crossfade, a cut), both
    share one boundary: the mean of the four crossings (or the power's midpoint, when the
    two songs differ in loudness). Where the songs' own audio is at hand (``audio``: the
    file's PCM and asset id -> the song's PCM), each boundary then goes to the fade the
    audio shows (:func:`_audio_fade`)."""
    fps = fp.FPS
    levels = (alignment.PRESENT, alignment.HEARD)
    anchors: dict[int, float] = {}
    end_anchors: dict[int, float] = {}

    def crossings(p: ChunkMatch, lo: float, hi: float, *, end: bool) -> list[float] | None:
        song = song_of(p.asset_id)
        if song is None or hi - lo < 1.0:
            return None
        # the song's rate and alignment are measured on its own side, up to
        # ALIGN_MEASURE_S inside the play; the crossing is looked for between lo and hi
        x = p.file_end_s if end else p.file_start_s
        inner = max(x, p.file_start_s + 0.5) - ALIGN_MEASURE_S if end else x + ALIGN_MEASURE_S
        inner = max(inner, p.file_start_s + 0.5) if end else min(inner, p.file_end_s - 0.5)
        a, b = (min(lo, inner), hi) if end else (lo, max(hi, inner))
        t, f = peaks.window(a, b)
        if t.size < 10:
            return None
        side = (a * fps, (x - ALIGN_CLEAR_S) * fps) if end else ((x + ALIGN_CLEAR_S) * fps, b * fps)
        pres, anchor = _song_presence(song, t, f, p, side, end=end)
        keep = (t >= lo * fps) & (t < hi * fps)
        if keep.sum() < 10:
            return None
        t, pres = t[keep], pres[keep]
        out = [alignment.crossing(t, pres, v, end=end) / fps for v in levels]
        (end_anchors if end else anchors)[id(p)] = anchor
        return out

    ends: list[list[float] | None] = []
    starts: list[list[float] | None] = []
    bounds = [_bounds(plays, i, t0, t1) for i in range(len(plays))]
    # the end's outer bound without the next play's first evidence
    e_hi_free = [
        min(t1, _heard(p)[1] + ALIGN_OUT_S, *(_heard(q)[1] - 0.5 for q in plays[i + 1 : i + 2]))
        for i, p in enumerate(plays)
    ]
    both: set[int] = set()  # shared boundaries placed on both songs' audio
    for p, (s_lo, s_hi, e_lo, e_hi) in zip(plays, bounds, strict=True):
        ends.append(crossings(p, max(p.file_start_s + 0.5, e_lo), e_hi, end=True))
        starts.append(crossings(p, s_lo, min(p.file_end_s - 0.5, s_hi), end=False))
    new_start = [
        p.file_start_s if s_ is None else float(np.mean(s_))
        for p, s_ in zip(plays, starts, strict=True)
    ]
    new_end = [
        p.file_end_s if e is None else float(np.mean(e)) for p, e in zip(plays, ends, strict=True)
    ]
    shared: set[int] = set()  # boundaries i | i + 1 that the two plays share
    for i in range(len(plays) - 1):
        e, s_ = ends[i], starts[i + 1]
        if e is not None and s_ is not None and max(e) >= min(s_) - ALIGN_TOUCH_S:
            b_s = float(np.mean([*e, *s_]))
            # songs of different loudness: the quieter one is heard late and lost early,
            # so the power's crossing places the fade instead
            # (both songs' peaks place the fade: a level change outside them is a song's
            # own dynamics)
            mid = _fade_midpoint(power, min(*e, *s_) - 1.0, max(*e, *s_) + 1.0, inside=True)
            new_end[i] = new_start[i + 1] = b_s if mid is None else mid
            ends[i] = starts[i + 1] = None  # settled
            shared.add(i)
    # a play next to a song not in the catalog (or silence): the same, on its side only
    for i in range(len(plays)):
        e, s_ = ends[i], starts[i]
        if e is not None:
            mid = _fade_midpoint(power, min(e) - 1.0, max(e) + FADE_UNSEEN_S)
            new_end[i] = new_end[i] if mid is None else mid
        if s_ is not None:
            mid = _fade_midpoint(power, min(s_) - FADE_UNSEEN_S, max(s_) + 1.0)
            new_start[i] = new_start[i] if mid is None else mid
    if audio is not None:
        pcm, song_audio = audio

        def side(i: int, end: bool) -> tuple[ChunkMatch, float] | None:
            a = (end_anchors if end else anchors).get(id(plays[i]))
            return None if a is None else (plays[i], a / fps)

        lo, hi = final if final is not None else (0, len(plays))
        for i in range(len(plays)):
            if i in shared and lo - 1 <= i < hi:
                out, into = side(i, True), side(i + 1, False)
                if out is not None or into is not None:
                    got = _fade_fit(pcm, song_audio, out, into, new_end[i], (t0, t1))
                    if got is not None:
                        new_end[i] = new_start[i + 1] = got[0]
                        if got[1] == 2:
                            both.add(i)
            elif lo <= i < hi and id(plays[i]) in end_anchors:
                m = _audio_fade(pcm, song_audio, side(i, True), None, new_end[i], (t0, t1))
                new_end[i] = new_end[i] if m is None else m
            if lo <= i < hi and (i - 1) not in shared and id(plays[i]) in anchors:
                m = _audio_fade(pcm, song_audio, None, side(i, False), new_start[i], (t0, t1))
                new_start[i] = new_start[i] if m is None else m
    # the chunks heard each song: a boundary stays near that evidence (in noise a quiet
    # passage loses its peaks' hits, and a crossing would land inside a proven play)
    for i in range(len(plays)):
        s_lo, s_hi, e_lo, e_hi = bounds[i]
        # a fade both songs' audio places may lie in its second half, where the outgoing
        # song is under the incoming one and the chunks no longer hear it (and a chance
        # vote can make the incoming one heard early)
        if i in both:
            e_hi = max(e_hi, min(_heard(plays[i])[1] + HEARD_INWARD_S, e_hi_free[i]))
        if i - 1 in both:
            late_s = _heard(plays[i - 1])[1] + HEARD_INWARD_S
            s_hi = max(s_hi, min(late_s, _heard(plays[i])[1] - 0.5))
        new_start[i] = min(max(new_start[i], s_lo), s_hi)
        new_end[i] = min(max(new_end[i], e_lo), e_hi)
    for i in range(len(plays) - 1):
        if new_end[i] > new_start[i + 1]:  # the two bounds disagreed: meet half way
            new_end[i] = new_start[i + 1] = 0.5 * (new_end[i] + new_start[i + 1])
    for i, p in enumerate(plays):
        if id(p) in anchors:
            p.song_start_s = max(0.0, (new_start[i] - anchors[id(p)] / fps) * p.speed)
        p.file_start_s = new_start[i]
        p.file_end_s = max(p.file_start_s, new_end[i])


@dataclass
class ScanEvent:
    """A play established (``start``), final (``end``, its boundaries refined), or a play
    already ended whose ``also`` list grew (``also``: a song squeezed out next to it,
    listed in it after its end was sent; a file's answer takes it, a stream's callback
    was sent)."""

    kind: str  # "start" | "end" | "also"
    play: ChunkMatch


class PlayScanner:
    """The incremental scanner: feed it peaks, power and chunk matches in time order; it
    merges them into plays with the one merge rule and emits each play once.

    Parameters
    ----------
    song_of : callable
        Asset id -> the song's :class:`alignment.SongPeaks` (None: no boundary refinement).
    duration_of : callable
        Asset id -> the song's length in seconds (None: unknown).
    sr : int
        Rate of the PCM given to :meth:`add_audio`.
    t0_s : float
        Where the scan starts (file seconds).
    min_pieces : int
        Chunk matches a play needs (a stream's lone window of a song is not a play).
    min_span_s : float
        Seconds of the file a play's chunk matches must span (a stream's overlapping
        windows all hear the same few seconds a song shares with another: not a play).
    keep_s : float or None
        Forget peaks and power this long before the earliest play still open (a live
        stream; None: keep everything, a file).
    song_audio : callable or None
        Asset id -> the song's PCM at ``sr`` (None: unknown): boundaries are then placed
        on the songs' own audio (:func:`_audio_fade`).
    pcm : PcmSource or None
        Where the file's PCM is read back (a file's spool). None: the scanner keeps what
        :meth:`add_audio` gives it for the boundaries still open (a stream).
    """

    def __init__(
        self,
        song_of: SongPeaksOf,
        duration_of: Callable[[str], float | None],
        *,
        sr: int,
        t0_s: float = 0.0,
        min_pieces: int = 1,
        min_span_s: float = 0.0,
        keep_s: float | None = None,
        song_audio: SongAudioOf | None = None,
        pcm: PcmSource | None = None,
    ) -> None:
        self.song_of = song_of
        self.song_audio = song_audio
        self._own_pcm = PcmTrack(sr) if song_audio is not None and pcm is None else None
        self.pcm: PcmSource | None = pcm if pcm is not None else self._own_pcm
        self.duration_of = duration_of
        self.peaks = PeakStore()
        self.power = PowerTrack(sr)
        self.t0_s = t0_s
        self.min_pieces = max(1, int(min_pieces))
        self.min_span_s = min_span_s
        self.keep_s = keep_s
        self.now_s = t0_s  # audio fed so far (file seconds)
        self._pending: list[ChunkMatch] = []
        self._durations: dict[str, float] = {}
        self._last: ChunkMatch | None = None  # the last play emitted: its end is settled
        self._last_emitted: ChunkMatch | None = None  # ...the object its end event carried
        self._announced: list[ChunkMatch] = []  # plays started and not yet ended

    # -- input
    def add_audio(self, x: np.ndarray) -> None:
        self.power.add(x)
        if self._own_pcm is not None:
            self._own_pcm.add(x)

    def add_peaks(self, t_frames: np.ndarray, f_bands: np.ndarray) -> None:
        """Query peaks in file frames (each found once: windows that overlap give only
        their new part)."""
        self.peaks.add(t_frames, f_bands)

    def add_matches(self, matches: list[ChunkMatch], heard_until_s: float) -> list[ScanEvent]:
        """The chunk matches of one recognition window; ``heard_until_s``: the file time
        the recognition has covered (the window's end)."""
        for m in matches:
            if m.asset_id not in self._durations:
                d = self.duration_of(m.asset_id)
                if d is not None:
                    self._durations[m.asset_id] = d
        self._pending.extend(matches)
        self.now_s = max(self.now_s, heard_until_s)
        return self._step(final=False)

    def finish(self, end_s: float | None = None) -> list[ScanEvent]:
        """The file (or stream) ended at ``end_s``: every play still open is final."""
        if end_s is not None:
            self.now_s = max(self.now_s, end_s)
        return self._step(final=True)

    # -- state
    def playing(self, within_s: float) -> ChunkMatch | None:
        """The established play whose song was heard in the last ``within_s`` seconds."""
        live = [p for p in self._announced if _heard(p)[1] >= self.now_s - within_s]
        return max(live, key=lambda p: _heard(p)[1]) if live else None

    # -- the merge
    def _step(self, *, final: bool) -> list[ScanEvent]:
        merged = merge_chunks(self._pending, durations=self._durations, min_heard_s=MIN_HEARD_S)
        plays = [p for p in merged if self._counts(p)]
        n = len(plays)
        if not final:
            cutoff = self.now_s - HOLD_S
            n = 0
            while n < len(plays) and all(_heard(q)[1] < cutoff for q in plays[: n + 1]):
                n += 1
        # a play announced but since folded into another (a shared passage) is no play
        self._announced = [a for a in self._announced if any(self.same_play(p, a) for p in plays)]
        events: list[ScanEvent] = []
        for p in plays[n:]:
            i = next((i for i, a in enumerate(self._announced) if self.same_play(p, a)), None)
            if i is None and _heard_s(p) < MIN_PLAY_S:
                continue  # heard too briefly to say yet: its boundaries will tell
            if i is None:
                self._announced.append(p)
                events.append(ScanEvent("start", _snapshot(p)))
            else:
                self._announced[i] = p  # the same play, heard further
        if n == 0:
            return events
        closed = plays[:n]
        ctx = [copy.copy(self._last)] if self._last is not None else []
        seq = [*ctx, *closed, *plays[n : n + 1]]
        split_crossfades(seq)
        audio = None
        if self.pcm is not None and self.song_audio is not None:
            audio = (self.pcm, self.song_audio)
        align_bounds(
            self.song_of,
            self.power,
            self.peaks,
            seq,
            self.t0_s,
            self.now_s,
            audio,
            final=(len(ctx), len(ctx) + len(closed)),
        )
        if ctx:
            # the previous play's end was settled when it was emitted
            closed[0].file_start_s = max(closed[0].file_start_s, self._last.file_end_s)  # type: ignore[union-attr]
        done_to = max(_heard(p)[1] for p in closed)
        open_from = min((_heard(p)[0] for p in plays[n:]), default=np.inf)
        self._pending = [
            m
            for m in self._pending
            if (m.file_end_s > done_to and not _folded_into(m, closed))
            or m.file_start_s >= open_from
        ]
        hosts = [h for h in (self._last_emitted, *closed) if h is not None]
        amended: list[ChunkMatch] = []
        for p in closed:
            if p.file_end_s - p.file_start_s < MIN_PLAY_S:
                # squeezed by its neighbours' boundaries (a song sharing their recording):
                # no play, whether it was announced or not; listed in the play it shares
                self._announced = [a for a in self._announced if not self.same_play(p, a)]
                if _heard_s(p) < MIN_PLAY_S:
                    continue  # a passage heard briefly that its own audio does not extend
                host = _list_in_host(p, [h for h in hosts if h is not p])
                if host is not None and host is self._last_emitted and host not in amended:
                    amended.append(host)
        for p in closed:
            if p.file_end_s - p.file_start_s < MIN_PLAY_S:
                continue
            # a play not announced yet (a file's plays, or one heard only at the end) starts
            # and ends at once
            if not any(self.same_play(p, a) for a in self._announced):
                events.append(ScanEvent("start", _snapshot(p)))
            self._announced = [a for a in self._announced if not self.same_play(p, a)]
            events.append(ScanEvent("end", _snapshot(p)))
        events += [ScanEvent("also", _snapshot(h)) for h in amended]
        self._last = copy.copy(closed[-1])
        kept = [p for p in closed if p.file_end_s - p.file_start_s >= MIN_PLAY_S]
        self._last_emitted = kept[-1] if kept else self._last_emitted
        if self._own_pcm is not None:
            # the next boundary to place is the last emitted play's end (or later)
            self._own_pcm.drop_before(
                min(open_from, self.now_s, self._last.file_end_s) - FIT_WINDOW_S - ALIGN_OUT_S
            )
        if self.keep_s is not None:
            keep_from = min(open_from, self.now_s) - self.keep_s
            self.peaks.drop_before(keep_from)
            self.power.drop_before(keep_from)
        return events

    def _counts(self, p: ChunkMatch) -> bool:
        h0, h1 = _heard(p)
        if p.pieces == 1 and p.score < SOLE_MATCH_SCORE:
            return False
        return p.pieces >= self.min_pieces and h1 - h0 >= self.min_span_s

    @staticmethod
    def same_play(p: ChunkMatch, a: ChunkMatch) -> bool:
        """``p`` is the play announced as ``a`` (its first piece, or the span it covers)."""
        if p.asset_id != a.asset_id:
            return False
        h0, h1 = _heard(p)
        a0 = _heard(a)[0]
        return h0 - 0.5 <= a0 <= h1
