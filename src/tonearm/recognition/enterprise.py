"""Long files, AudD's enterprise way: every track in an hours-long recording, as a list of
12-second chunks with their matches, plus a merged view (one entry per track played, with
its start and end in the file).

The work runs on the job system (job kind ``audd_enterprise``): the API writes the upload
to the data directory, submits the job and waits for it (AudD's enterprise endpoint is
synchronous; clients wait up to an hour). Progress is the job's progress.

Parameters, as AudD defines them (all optional):

- ``skip_first_seconds``: start scanning this far into the file;
- ``every``/``skip``: scan ``every`` consecutive 12 s chunks, then skip ``skip`` chunks,
  and repeat (defaults 1 and 0: every chunk);
- ``limit``: recognize at most this many chunks;
- ``accurate_offsets``: add ``start_offset``/``end_offset`` (ms within the chunk) and
  ``start_seconds``/``end_seconds`` (in the file) to each song.

Memory stays bounded whatever the file's length (:func:`scan_path`): a child process
decodes with PyAV as a stream and sends PCM blocks through a pipe (it waits while the scan
catches up); the scan fingerprints ``BLOCK_CHUNKS`` chunks at a time, each block padded by
one chunk of audio on either side, so the spectrogram and whitening at a block edge are
those of the whole file and a track straddling a boundary is heard in full (only the
"strongest peaks per second" groups are counted from the block's start, so a few peaks
near an edge can differ from a whole-file scan: the answers agree to a fraction of a
second, see tests/recognition/test_ops_enterprise_stream.py). The
decoded PCM also goes to a spool file on disk (4 bytes a sample at 8 kHz, ~115 MB an hour,
deleted at the end) for the few short re-reads after the pass: where a song starts inside a
chunk, and the start and end of each merged track.
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import multiprocessing as mp
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal
from tonearm.recognition import wire
from tonearm.recognition.wire import CHUNK_S

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.jobs.queue import Job

JOB_KIND = "audd_enterprise"
JOB_TIMEOUT_S = 3600.0
HOP_S = CHUNK_S  # one recognition window per AudD chunk (the merged view joins them)
TOP_K = 3  # competing candidates per chunk
BLOCK_CHUNKS = 25  # chunks fingerprinted at a time by the streaming scan (300 s)
DECODE_BLOCK_S = 10.0  # PCM per message from the decoding child
LOOKAHEAD_S = 8.0  # audio past a chunk that _song_position may read


class EnterpriseError(Exception):
    """A clean failure with AudD's error code (500 bad audio, 400 too big, ...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class ScanOptions:
    skip: int = 0
    every: int = 1
    limit: int | None = None
    skip_first_seconds: float = 0.0
    accurate_offsets: bool = False
    returns: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ScanOptions:
        """Parse AudD's parameters; raises ValueError with a message for bad values."""

        def intp(name: str, default: int | None, minimum: int) -> int | None:
            v = params.get(name)
            if v is None or (isinstance(v, str) and v.strip() == ""):
                return default
            try:
                n = int(str(v).strip())
            except ValueError as e:
                raise ValueError(f"the {name} parameter must be an integer") from e
            if n < minimum:
                raise ValueError(f"the {name} parameter must be at least {minimum}")
            return n

        skip_first = intp("skip_first_seconds", 0, 0) or 0
        if str(params.get("use_timecode", "")).lower() == "true" and params.get("url"):
            skip_first = timecode_from_url(str(params["url"])) or skip_first
        return cls(
            skip=intp("skip", 0, 0) or 0,
            every=intp("every", 1, 1) or 1,
            limit=intp("limit", None, 1),
            skip_first_seconds=float(skip_first),
            accurate_offsets=str(params.get("accurate_offsets", "")).lower() in ("true", "1"),
            returns=tuple(wire.parse_return(params.get("return"))),
        )


def timecode_from_url(url: str) -> int | None:
    """Seconds from a source URL's ``t``/``time_continue``/``start`` parameter
    (``90``, ``90s``, ``1m30s``, ``1h2m3s``)."""
    try:
        q = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    for name in ("t", "time_continue", "start"):
        if name in q and q[name]:
            v = q[name][0].strip().lower()
            if v.isdigit():
                return int(v)
            m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", v)
            if m and any(m.groups()):
                h, mi, s = (int(x or 0) for x in m.groups())
                return h * 3600 + mi * 60 + s
    return None


def selected_chunks(duration_s: float, opts: ScanOptions) -> list[int]:
    """Indices k of the 12 s chunks [skip_first + 12k, +12) to recognize."""
    n = 0
    t = opts.skip_first_seconds
    chunks: list[int] = []
    k = 0
    period = opts.every + opts.skip
    while t + k * CHUNK_S < duration_s - 1e-6:
        if k % period < opts.every:
            chunks.append(k)
            n += 1
            if opts.limit is not None and n >= opts.limit:
                break
        k += 1
    return chunks


@dataclass
class ChunkMatch:
    """One song heard in one chunk, in file and song seconds."""

    asset_id: str
    chunk: int
    file_start_s: float
    file_end_s: float
    song_start_s: float  # the song's own time at file_start_s
    score: float
    speed: float = 1.0

    @property
    def anchor_s(self) -> float:
        """Where the song's t=0 lies in the file: equal for chunks of one continuous play."""
        return self.file_start_s - self.song_start_s / self.speed


class _Audio(Protocol):
    """Random access to the decoded file (mono, at the fingerprint rate)."""

    sr: int

    def segment(self, a_s: float, b_s: float) -> Signal: ...


class _SignalAudio:
    def __init__(self, signal: Signal) -> None:
        self.signal = signal
        self.sr = signal.sr

    def segment(self, a_s: float, b_s: float) -> Signal:
        sr = self.sr
        return Signal(self.signal.samples[:, int(a_s * sr) : int(b_s * sr)], sr)


class _Spool:
    """The decoded PCM on disk (float32), appended once, read back in short pieces."""

    def __init__(self, path: Path, sr: int) -> None:
        self.path = path
        self.sr = sr
        self.n = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "w+b")  # noqa: SIM115 - closed by close()

    def append(self, x: np.ndarray) -> None:
        self._f.seek(0, os.SEEK_END)
        self._f.write(np.ascontiguousarray(x, dtype=np.float32).tobytes())
        self.n += x.size

    def segment(self, a_s: float, b_s: float) -> Signal:
        a = min(self.n, max(0, int(a_s * self.sr)))
        b = min(self.n, max(a, int(b_s * self.sr)))
        self._f.flush()
        self._f.seek(a * 4)
        y = np.frombuffer(self._f.read((b - a) * 4), dtype=np.float32)
        return Signal(y.reshape(1, -1).copy(), self.sr)

    def close(self) -> None:
        self._f.close()
        self.path.unlink(missing_ok=True)


def _song_position(catalog: Catalog, audio: _Audio, c0: float, m: Any, duration: float) -> float:
    """The song's time at the start of the matched span ``c0 + m.query_start_s``.

    A match whose song begins inside the chunk has no valid offset at the chunk start (the
    engine reports 0 then), so a few seconds from where the song is first heard (running
    past the chunk's end if need be) are asked again."""
    from tonearm.recognition import service

    pos = float(m.offset_s + m.query_start_s * m.speed)
    if m.offset_s > 1e-6 or m.query_start_s < 0.5:
        return pos
    a = c0 + m.query_start_s
    b = min(duration, a + LOOKAHEAD_S)
    if b - a >= 1.5:
        seg = audio.segment(a, b)
        for m2 in service.recognize(catalog, seg, top_k=TOP_K):
            if m2.asset_id == m.asset_id:
                return float(m2.offset_s)  # m2 starts where the song was first heard
    return 0.0  # the song starts inside this chunk: its beginning is what plays


SHORT_PIECE_S = 5.0
MIN_PLAY_S = 2.0  # a lone, weak blip shorter than this is not a track played
SURE_SCORE = 0.9


def refine_bounds(
    catalog: Catalog, audio: _Audio, play: ChunkMatch, lo_s: float, hi_s: float
) -> None:
    """Chunks are 12 s apart, so a song that starts or ends near a chunk's edge is seen
    late or lost early; look again at a window straddling each end (not before ``lo_s``
    nor after ``hi_s``: the neighbouring plays) and keep the wider span."""
    from tonearm.recognition import service

    half = CHUNK_S / 2
    a = max(lo_s, play.file_start_s - half)
    if play.file_start_s - a >= 1.0:
        seg = audio.segment(a, play.file_start_s + half)
        for m in service.recognize(catalog, seg, top_k=TOP_K):
            if m.asset_id == play.asset_id and a + m.query_start_s < play.file_start_s:
                new_start = a + m.query_start_s
                play.song_start_s = max(0.0, play.song_start_s - (play.file_start_s - new_start))
                play.file_start_s = new_start
                break
    b = min(hi_s, play.file_end_s + half)
    if b - play.file_end_s >= 1.0:
        c = play.file_end_s - half
        seg = audio.segment(max(0.0, c), b)
        for m in service.recognize(catalog, seg, top_k=TOP_K):
            if m.asset_id == play.asset_id and max(0.0, c) + m.query_end_s > play.file_end_s:
                play.file_end_s = max(0.0, c) + m.query_end_s
                break


FOLLOWS_ON_S = 3.0  # a piece starting this soon after the play's end continues it...
RESTART_S = 3.0  # ...unless it is the song's first seconds again, after its last ones
END_MARGIN_S = CHUNK_S / 2  # "its last ones": the play got this close to the song's end


def _restarts(p: ChunkMatch, cm: ChunkMatch, duration: float | None) -> bool:
    """``cm`` is the song started over after play ``p``: its beginning, right after ``p``
    reached the song's end (without the duration: after the anchor moved forward)."""
    if cm.song_start_s >= RESTART_S:
        return False
    if duration is None or not math.isfinite(duration):
        return cm.anchor_s - p.anchor_s > RESTART_S
    reached = p.song_start_s + (p.file_end_s - p.file_start_s) * p.speed
    return reached >= duration - END_MARGIN_S


def merge_chunks(
    matches: list[ChunkMatch],
    *,
    gap_s: float = CHUNK_S + 1.0,
    durations: dict[str, float] | None = None,
) -> list[ChunkMatch]:
    """One entry per track played: chunk matches of the same song that follow each other
    (gap <= ``gap_s``) with the same alignment (anchor within 2 s) are one play.

    Songs repeat sections exactly (choruses, loops), and a repeat may be matched at the
    other occurrence, which moves the anchor; so a piece that follows on at once (gap <=
    ``FOLLOWS_ON_S``) continues the play whatever its alignment, unless it is the song
    starting over (see :func:`_restarts`; ``durations``: asset id -> song length)."""
    plays: list[ChunkMatch] = []
    open_: dict[str, ChunkMatch] = {}
    pieces: dict[int, list[ChunkMatch]] = {}  # play -> the chunk matches it is made of
    for cm in sorted(matches, key=lambda x: (x.file_start_s, -x.score)):
        p = open_.get(cm.asset_id)
        short = min(cm.file_end_s - cm.file_start_s, p.file_end_s - p.file_start_s) if p else 0
        follows_on = (
            p is not None
            and cm.file_start_s - p.file_end_s <= FOLLOWS_ON_S
            and not _restarts(p, cm, (durations or {}).get(cm.asset_id))
        )
        if (
            p is not None
            and cm.file_start_s - p.file_end_s <= gap_s
            # same alignment; a piece of a few seconds may carry a poor offset estimate
            and (abs(cm.anchor_s - p.anchor_s) <= 2.0 or short < SHORT_PIECE_S or follows_on)
        ):
            p.file_end_s = max(p.file_end_s, cm.file_end_s)
            p.score = max(p.score, cm.score)
            pieces[id(p)].append(cm)
            continue
        play = ChunkMatch(**{**cm.__dict__})
        plays.append(play)
        pieces[id(play)] = [cm]
        open_[cm.asset_id] = play
    for p in plays:
        _majority_alignment(p, pieces[id(p)])
    plays = [
        p for p in plays if p.file_end_s - p.file_start_s >= MIN_PLAY_S or p.score >= SURE_SCORE
    ]
    plays = [p for p in plays if not _shadowed(p, plays)]
    plays.sort(key=lambda x: x.file_start_s)
    return plays


SHADOW_MAX_S = CHUNK_S  # a piece shorter than this...
SHADOW_HOST_S = 3 * CHUNK_S  # ...inside a play at least this long of another song...
SHADOW_EDGE_S = 1.0  # ...(to this much) is a passage the two songs share, not a play


def _shadowed(p: ChunkMatch, plays: list[ChunkMatch]) -> bool:
    """A few seconds of another song heard in the middle of a long play: songs share
    passages (a drum loop, a sample), and the chunks report them, but the song was not
    played. A piece that reaches past the play's ends (a crossfade) is kept."""
    if p.file_end_s - p.file_start_s >= SHADOW_MAX_S:
        return False
    return any(
        q.asset_id != p.asset_id
        and q.file_end_s - q.file_start_s >= SHADOW_HOST_S
        and q.file_start_s - SHADOW_EDGE_S <= p.file_start_s
        and p.file_end_s <= q.file_end_s + SHADOW_EDGE_S
        for q in plays
    )


def _majority_alignment(play: ChunkMatch, pieces: list[ChunkMatch]) -> None:
    """The song's position at the play's start from the alignment most of the play agrees
    with (by seconds heard): a repeated section matched at its other occurrence, even the
    play's first one, does not decide where in the song the play began."""
    if len({round(c.anchor_s) for c in pieces}) <= 1:
        return
    support: list[tuple[float, float]] = []  # (anchor, seconds)
    for c in pieces:
        heard = c.file_end_s - c.file_start_s
        for i, (a, w) in enumerate(support):
            if abs(a - c.anchor_s) <= 2.0:
                support[i] = (a, w + heard)
                break
        else:
            support.append((c.anchor_s, heard))
    best = max(support, key=lambda x: x[1])[0]
    if abs(best - play.anchor_s) > 2.0:
        play.song_start_s = max(0.0, (play.file_start_s - best) * play.speed)


def _assign_windows(
    by_chunk: dict[int, tuple[list[Any], float]],
    windows: Iterable[Any],
    seg_start_s: float,
    sf: float,
    keep: Callable[[int], bool] = lambda k: True,
    tail: bool = True,
) -> None:
    """File the windows of a scan that began at ``seg_start_s`` under their chunks: chunk k
    -> (matches, file time where their query starts). A window that is not on the 12 s grid
    (one flush with the end of the file, ``tail``) serves the last, partial chunk."""
    for w in sorted(windows, key=lambda w: w.start_s):
        start = seg_start_s + w.start_s
        k_f = (start - sf) / CHUNK_S
        if abs(k_f - round(k_f)) < 1e-3:
            if keep(int(round(k_f))):
                by_chunk[int(round(k_f))] = (w.matches, start)
        elif tail:
            k_last = int((seg_start_s + w.end_s - sf - 1e-6) // CHUNK_S)
            by_chunk.setdefault(k_last, (w.matches, start))


def scan_file(
    catalog: Catalog,
    signal: Signal,
    opts: ScanOptions,
    *,
    base_url: str,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """The enterprise response body for a long file decoded whole into memory (without
    execution_time). :func:`scan_path` gives the same answer in bounded memory."""
    from tonearm.recognition import service

    duration = signal.duration_s
    chunks = selected_chunks(duration, opts)
    if not chunks:
        return {"status": "success", "result": [], "tracks": []}
    sr = signal.sr
    sf = opts.skip_first_seconds
    t0 = sf + chunks[0] * CHUNK_S
    # one more chunk of audio after the last one asked for (when the file has it), so
    # the spectrogram there sees what follows, as in the middle of the file
    t1 = sf + (chunks[-1] + 2) * CHUNK_S
    t1 = duration if t1 >= duration else t1
    part = Signal(signal.samples[:, int(t0 * sr) : int(t1 * sr)], sr)
    windows = service.scan_windows(
        catalog, part, window_s=CHUNK_S, hop_s=HOP_S, top_k=TOP_K, progress=progress
    )
    by_chunk: dict[int, tuple[list[Any], float]] = {}
    _assign_windows(by_chunk, windows, t0, sf, keep=lambda k: _is_selected(k, opts))
    return _chunks_and_tracks(
        catalog, _SignalAudio(signal), duration, chunks, by_chunk, opts, base_url
    )


def _n_selected_before(k: int, opts: ScanOptions) -> int:
    period = opts.every + opts.skip
    return (k // period) * opts.every + min(k % period, opts.every)


def _is_selected(k: int, opts: ScanOptions) -> bool:
    if k % (opts.every + opts.skip) >= opts.every:
        return False
    return opts.limit is None or _n_selected_before(k, opts) < opts.limit


def _last_selected(opts: ScanOptions) -> int | None:
    """The last chunk ``limit`` lets through (None: no limit)."""
    if opts.limit is None:
        return None
    full, rest = divmod(opts.limit - 1, opts.every)
    return full * (opts.every + opts.skip) + rest


def scan_stream(
    catalog: Catalog,
    pcm: Iterable[np.ndarray],
    opts: ScanOptions,
    *,
    base_url: str,
    spool_path: Path,
    block_chunks: int = BLOCK_CHUNKS,
    progress: Callable[[float], None] | None = None,
    total_s: float | None = None,
) -> dict[str, Any]:
    """The enterprise body for a file arriving as mono PCM blocks at the fingerprint rate
    (any sizes), in memory bounded by ``block_chunks`` (the answer of :func:`scan_file`).

    Block b holds chunks [b*block_chunks, (b+1)*block_chunks); it is fingerprinted with one
    chunk of audio before and after it, and only the windows on its own chunks are kept.
    Decoding stops once ``limit`` chunks (plus the look-ahead they need) are in."""
    from tonearm.recognition import service
    from tonearm.recognition.fingerprint import SR

    sr = int(SR)
    sf = opts.skip_first_seconds
    n_sf = int(round(sf * sr))
    n_chunk = int(round(CHUNK_S * sr))
    n_block = n_chunk * max(1, int(block_chunks))
    pad = n_chunk
    last_sel = _last_selected(opts)
    n_stop = None  # decoded samples that are enough when limit cuts the scan short
    if last_sel is not None:
        n_stop = n_sf + (last_sel + 1) * n_chunk + int((LOOKAHEAD_S + 1.0) * sr)
    expected_s = total_s  # for progress: how much of the file will be read
    if n_stop is not None and expected_s:
        expected_s = min(expected_s, n_stop / sr)
    spool = _Spool(spool_path, sr)
    by_chunk: dict[int, tuple[list[Any], float]] = {}
    buf = np.zeros(0, dtype=np.float32)
    buf_start = 0  # sample index of buf[0]
    total = 0
    block = 0
    ended = False

    def scan_block(b: int, final: bool) -> None:
        k_lo, k_hi = b * block_chunks, (b + 1) * block_chunks
        lo, hi = n_sf + b * n_block, n_sf + (b + 1) * n_block
        if not any(_is_selected(k, opts) for k in range(k_lo, k_hi)):
            return
        a = max(n_sf, lo - pad)
        e = total if final else min(total, hi + pad)
        seg = buf[a - buf_start : e - buf_start]
        if seg.size == 0:
            return
        step = None
        if progress is not None and expected_s:
            lo_s, hi_s = lo / sr, min(hi / sr, expected_s)

            def step(f: float) -> None:
                done = lo_s + f * max(0.0, hi_s - lo_s)
                progress(min(0.95, 0.95 * done / expected_s))

        windows = service.scan_windows(
            catalog,
            Signal(seg.reshape(1, -1), sr),
            window_s=CHUNK_S,
            hop_s=HOP_S,
            top_k=TOP_K,
            progress=step,
        )
        _assign_windows(
            by_chunk,
            windows,
            a / sr,
            sf,
            keep=lambda k: k_lo <= k < k_hi and _is_selected(k, opts),
            tail=final,
        )

    try:
        it: Iterator[np.ndarray] = iter(pcm)
        while True:
            x = next(it, None)
            if x is None:
                ended = True
            else:
                x = np.asarray(x, dtype=np.float32).reshape(-1)
                spool.append(x)
                buf = np.concatenate([buf, x]) if buf.size else x
                total += x.size
                if n_stop is not None and total >= n_stop:
                    ended = True  # enough: the rest of the file is never scanned
            # every block whose audio (and right-hand pad) is in
            while True:
                hi = n_sf + (block + 1) * n_block
                if not ended and total < hi + pad:
                    break
                if n_sf + block * n_block >= total:
                    break  # the file ended before this block
                final = ended and total <= hi  # the file's last block
                scan_block(block, final=final)
                block += 1
                drop = n_sf + block * n_block - pad - buf_start  # keep the next left pad
                if drop > 0:
                    buf = buf[drop:]
                    buf_start += drop
                if final:
                    break
            if ended:
                break
        buf = np.zeros(0, dtype=np.float32)
        duration = total / sr
        chunks = selected_chunks(duration, opts)
        if not chunks:
            return {"status": "success", "result": [], "tracks": []}
        body = _chunks_and_tracks(catalog, spool, duration, chunks, by_chunk, opts, base_url)
        if progress:
            progress(1.0)
        return body
    finally:
        spool.close()


def _chunks_and_tracks(
    catalog: Catalog,
    audio: _Audio,
    duration: float,
    chunks: list[int],
    by_chunk: dict[int, tuple[list[Any], float]],
    opts: ScanOptions,
    base_url: str,
) -> dict[str, Any]:
    """AudD's chunks and our merged tracks from the windows filed by chunk."""
    from tonearm.recognition import service

    sf = opts.skip_first_seconds
    t0 = sf + chunks[0] * CHUNK_S
    t1 = min(duration, sf + (chunks[-1] + 1) * CHUNK_S)
    assets: dict[str, Any] = {}

    def asset(aid: str) -> Any:
        if aid not in assets:
            assets[aid] = catalog.store.get_asset(aid)
        return assets[aid]

    found: list[ChunkMatch] = []
    chunk_results: list[dict[str, Any]] = []
    for k in chunks:
        c0 = sf + k * CHUNK_S
        c1 = min(duration, c0 + CHUNK_S)
        matches, base = by_chunk.get(k, (None, c0))  # base: where their query starts
        if matches is None:
            # the file's last, partial chunk has no window of its own: ask a full-length
            # window ending at the end of the file (more context than the short tail)
            if c1 - c0 < 1.0:
                continue
            base = max(0.0, duration - CHUNK_S)
            matches = service.recognize(catalog, audio.segment(base, duration), top_k=TOP_K)
        songs = []
        for m in matches:
            a = asset(m.asset_id)
            speed = m.speed or 1.0
            f_start = max(c0, base + m.query_start_s)
            f_end = min(c1, base + m.query_end_s)
            if a is None or f_end - f_start <= 0:
                continue
            pos = _song_position(catalog, audio, base, m, duration)
            pos += (f_start - (base + m.query_start_s)) * speed
            cm = ChunkMatch(m.asset_id, k, f_start, f_end, pos, m.score, speed)
            found.append(cm)
            song = wire.enterprise_song(
                a, score=m.score, song_offset_s=pos, returns=opts.returns, base_url=base_url
            )
            if opts.accurate_offsets:
                song["start_offset"] = int(round((f_start - c0) * 1000))
                song["end_offset"] = int(round((f_end - c0) * 1000))
                song["start_seconds"] = round(f_start, 2)
                song["end_seconds"] = round(f_end, 2)
            songs.append(song)
        if songs:
            chunk_results.append({"songs": songs, "offset": wire.mmss(c0)})

    durations = {aid: float(a.duration) for aid, a in assets.items() if a is not None}
    plays = merge_chunks(found, durations=durations)
    for i, p in enumerate(plays):
        lo = plays[i - 1].file_end_s if i > 0 else t0
        hi = plays[i + 1].file_start_s if i + 1 < len(plays) else t1
        refine_bounds(catalog, audio, p, max(t0, lo), min(t1, hi))
    tracks = []
    for p in plays:
        a = asset(p.asset_id)
        tr: dict[str, Any] = {"asset_id": a.asset_id}
        tr.update(wire.metadata_fields(a))
        tr["song_link"] = wire.song_link(a, base_url)
        if wire.is_custom(a):
            tr["audio_id"] = wire.audio_id_wire(str(a.audio_id))
        song_end = p.song_start_s + (p.file_end_s - p.file_start_s) * p.speed
        tr.update(
            {
                "score": wire.score_0_100(p.score),
                "start": wire.mmss(p.file_start_s),
                "end": wire.mmss(p.file_end_s),
                "start_seconds": round(p.file_start_s, 2),
                "end_seconds": round(p.file_end_s, 2),
                "song_start_seconds": round(p.song_start_s, 2),
                "song_end_seconds": round(song_end, 2),
                "timecode": wire.mmss(p.song_start_s),
            }
        )
        tracks.append(tr)
    return {"status": "success", "result": chunk_results, "tracks": tracks}


CSV_COLUMNS = (
    "offset",
    "score",
    "artist",
    "title",
    "album",
    "release_date",
    "label",
    "timecode",
    "isrc",
    "upc",
    "song_link",
    "audio_id",
    "start_offset",
    "end_offset",
)


def to_csv(body: dict[str, Any]) -> str:
    """``response_type=csv``: one row per song per chunk."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for chunk in body.get("result") or []:
        for s in chunk["songs"]:
            row = {**s, "offset": chunk["offset"]}
            w.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return buf.getvalue()


# -- the job -----------------------------------------------------------------------------
def decode_for_scan(catalog: Catalog, path: Path) -> Signal:
    """Decode a file whole at the fingerprint rate (mono) under the catalog's limits."""
    from tonearm.core.audio.decode import decode
    from tonearm.recognition.fingerprint import SR

    s = catalog.settings
    return decode(
        path,
        max_bytes=s.max_upload_bytes,
        max_duration_s=s.max_duration_s,
        timeout_s=s.decode_timeout_s,
        mono=True,
        sr=SR,
    )


def _decode_child(
    conn: Any, path: str, sr: int, max_duration_s: float | None, block_s: float
) -> None:
    """Child process: decode ``path`` as a stream; send ("info", duration or None), then
    ("pcm", float32 mono bytes) blocks, then ("eof", None) or ("error", (reason, text)).
    ``send`` blocks while the parent is busy, so neither side holds more than a block."""
    try:
        import av

        try:
            container = av.open(path, mode="r", metadata_errors="ignore")
        except av.error.InvalidDataError:
            conn.send(("error", ("not_audio", "not a recognised audio format")))
            return
        except (av.error.FFmpegError, OSError, ValueError) as e:
            conn.send(("error", ("corrupt", f"cannot open audio: {e}")))
            return
        try:
            if not container.streams.audio:
                conn.send(("error", ("not_audio", "no audio stream found")))
                return
            stream = container.streams.audio[0]
            dur = None
            if stream.duration is not None and stream.time_base is not None:
                dur = float(stream.duration * stream.time_base)
            elif container.duration:
                dur = container.duration / 1_000_000
            conn.send(("info", dur))
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            limit = None if max_duration_s is None else int(max_duration_s * sr) + 1
            block = max(1, int(block_s * sr))
            parts: list[np.ndarray] = []
            n = sent = 0

            def flush() -> None:
                nonlocal parts, n, sent
                if parts:
                    y = np.concatenate(parts)
                    if not np.all(np.isfinite(y)):
                        y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
                    conn.send(("pcm", y.tobytes()))
                    sent += y.size
                parts, n = [], 0

            try:
                for frame in container.decode(stream):
                    for rf in resampler.resample(frame):
                        a = rf.to_ndarray().reshape(-1)
                        parts.append(a)
                        n += a.size
                    if limit is not None and sent + n > limit:
                        conn.send(
                            (
                                "error",
                                (
                                    "too_long",
                                    f"audio is longer than the limit of {max_duration_s:g} s",
                                ),
                            )
                        )
                        return
                    if n >= block:
                        flush()
                for rf in resampler.resample(None):
                    parts.append(rf.to_ndarray().reshape(-1))
            except av.error.FFmpegError as e:
                if not parts and not sent:
                    conn.send(("error", ("corrupt", f"audio data is corrupt: {e}")))
                    return
                # a truncated tail: keep what decoded cleanly
            flush()
            if not sent:
                conn.send(("error", ("empty", "the file contains no audio samples")))
                return
            conn.send(("eof", None))
        finally:
            container.close()
    except Exception as e:  # reported to the parent
        with contextlib.suppress(Exception):
            conn.send(("error", ("corrupt", f"{type(e).__name__}: {e}")))
    finally:
        conn.close()


_CTX = mp.get_context("forkserver") if os.name == "posix" else mp.get_context("spawn")


class StreamingDecode:
    """Iterate over the PCM blocks of a file decoded in a child process (isolated like
    ``core.audio.decode``: a hostile file can only crash or hang that child).

    ``timeout_s`` limits the time spent waiting for the decoder, in total (the time the
    scan takes between blocks does not count). Raises AudioError like ``decode``."""

    def __init__(
        self,
        path: Path,
        sr: int,
        *,
        max_bytes: int | None = None,
        max_duration_s: float | None = None,
        timeout_s: float | None = 120.0,
        block_s: float = DECODE_BLOCK_S,
    ) -> None:
        if not path.is_file():
            raise AudioError("not_audio", f"no such file: {path}")
        size = path.stat().st_size
        if size == 0:
            raise AudioError("empty", "the file is empty (0 bytes)")
        if max_bytes is not None and size > max_bytes:
            raise AudioError("too_large", f"file is {size} bytes, over the limit of {max_bytes}")
        self.path, self.sr = path, sr
        self.max_duration_s, self.timeout_s, self.block_s = max_duration_s, timeout_s, block_s
        self.duration_s: float | None = None  # from the container, when it says
        self._conn: Any = None
        self._proc: Any = None
        self._pending: tuple[str, Any] | None = None  # a message read before iterating
        self._waited = 0.0

    def start(self) -> StreamingDecode:
        parent, child = _CTX.Pipe(duplex=False)
        self._proc = _CTX.Process(
            target=_decode_child,
            args=(child, str(self.path), self.sr, self.max_duration_s, self.block_s),
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        kind, payload = self._recv()
        if kind == "info":
            self.duration_s = payload
        else:
            self._pending = (kind, payload)
        return self

    def _recv(self) -> tuple[str, Any]:
        left = None if self.timeout_s is None else max(0.0, self.timeout_s - self._waited)
        t = time.monotonic()
        ready = self._conn.poll(left)
        self._waited += time.monotonic() - t
        if not ready:
            raise AudioError("timeout", f"decoding took longer than {self.timeout_s:g} s")
        try:
            msg: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError) as e:
            raise AudioError("corrupt", "the decoder crashed on this file") from e
        return msg

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._conn is None:
            self.start()
        try:
            while True:
                if self._pending is not None:
                    kind, payload = self._pending
                    self._pending = None
                else:
                    kind, payload = self._recv()
                if kind == "pcm":
                    yield np.frombuffer(payload, dtype=np.float32)
                elif kind == "eof":
                    return
                elif kind == "error":
                    reason, message = payload
                    raise AudioError(reason, message)
        finally:
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
            self._proc = None


def scan_path(
    catalog: Catalog,
    path: Path,
    opts: ScanOptions,
    *,
    base_url: str,
    progress: Callable[[float], None] | None = None,
    block_chunks: int = BLOCK_CHUNKS,
) -> dict[str, Any]:
    """The enterprise body for a file on disk, decoded and scanned in bounded memory."""
    from tonearm.recognition.fingerprint import SR

    s = catalog.settings
    dec = StreamingDecode(
        path,
        int(SR),
        max_bytes=s.max_upload_bytes,
        max_duration_s=s.max_duration_s,
        timeout_s=s.decode_timeout_s,
    ).start()
    spool = catalog.data_dir / "uploads" / f"scan-{uuid.uuid4().hex}.pcm"
    try:
        return scan_stream(
            catalog,
            dec,
            opts,
            base_url=base_url,
            spool_path=spool,
            block_chunks=block_chunks,
            progress=progress,
            total_s=dec.duration_s,
        )
    finally:
        dec.close()


AUDIO_ERROR_CODES = {
    "too_large": 400,
    "too_long": 400,
    "empty": 700,
    "bad_url": 600,
}


def audio_error_code(e: AudioError) -> int:
    return AUDIO_ERROR_CODES.get(e.reason, 500)


def run_enterprise_job(
    catalog: Catalog, job: Job, progress: Callable[[float], None]
) -> dict[str, Any]:
    from tonearm.jobs.queue import JobFailed

    p = job.params
    path = Path(p["input_path"])
    try:
        opts = ScanOptions(
            skip=int(p.get("skip", 0)),
            every=int(p.get("every", 1)),
            limit=p.get("limit"),
            skip_first_seconds=float(p.get("skip_first_seconds", 0.0)),
            accurate_offsets=bool(p.get("accurate_offsets", False)),
            returns=tuple(p.get("returns", ())),
        )
        try:
            return scan_path(
                catalog,
                path,
                opts,
                base_url=str(p.get("base_url", "http://localhost")),
                progress=progress,
            )
        except AudioError as e:
            raise JobFailed(f"#{audio_error_code(e)}: {e.message}") from e
    finally:
        path.unlink(missing_ok=True)


def parse_failure(reason: str | None) -> tuple[int, str]:
    """(AudD code, message) from a failed job's reason."""
    m = re.match(r"#(\d+): (.*)", reason or "", re.S)
    if m:
        return int(m.group(1)), m.group(2)
    return 100, reason or "the scan failed"


def register() -> None:
    """Register the job kind (idempotent; done on import, so a worker process that imports
    this module can run enterprise scans)."""
    from tonearm.jobs.queue import register_job, registered_kinds

    if JOB_KIND not in registered_kinds():
        register_job(JOB_KIND, timeout_s=JOB_TIMEOUT_S)(run_enterprise_job)


register()
