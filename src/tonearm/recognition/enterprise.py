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
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

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


def _song_position(catalog: Catalog, signal: Signal, c0: float, m: Any, duration: float) -> float:
    """The song's time at the start of the matched span ``c0 + m.query_start_s``.

    A match whose song begins inside the chunk has no valid offset at the chunk start (the
    engine reports 0 then), so a few seconds from where the song is first heard (running
    past the chunk's end if need be) are asked again."""
    from tonearm.recognition import service

    pos = float(m.offset_s + m.query_start_s * m.speed)
    if m.offset_s > 1e-6 or m.query_start_s < 0.5:
        return pos
    sr = signal.sr
    a = c0 + m.query_start_s
    b = min(duration, a + 8.0)
    if b - a >= 1.5:
        seg = Signal(signal.samples[:, int(a * sr) : int(b * sr)], sr)
        for m2 in service.recognize(catalog, seg, top_k=TOP_K):
            if m2.asset_id == m.asset_id:
                return float(m2.offset_s)  # m2 starts where the song was first heard
    return 0.0  # the song starts inside this chunk: its beginning is what plays


SHORT_PIECE_S = 5.0
MIN_PLAY_S = 2.0  # a lone, weak blip shorter than this is not a track played
SURE_SCORE = 0.9


def refine_bounds(
    catalog: Catalog, signal: Signal, play: ChunkMatch, lo_s: float, hi_s: float
) -> None:
    """Chunks are 12 s apart, so a song that starts or ends near a chunk's edge is seen
    late or lost early; look again at a window straddling each end (not before ``lo_s``
    nor after ``hi_s``: the neighbouring plays) and keep the wider span."""
    from tonearm.recognition import service

    sr = signal.sr
    half = CHUNK_S / 2
    a = max(lo_s, play.file_start_s - half)
    if play.file_start_s - a >= 1.0:
        seg = Signal(signal.samples[:, int(a * sr) : int((play.file_start_s + half) * sr)], sr)
        for m in service.recognize(catalog, seg, top_k=TOP_K):
            if m.asset_id == play.asset_id and a + m.query_start_s < play.file_start_s:
                new_start = a + m.query_start_s
                play.song_start_s = max(0.0, play.song_start_s - (play.file_start_s - new_start))
                play.file_start_s = new_start
                break
    b = min(hi_s, play.file_end_s + half)
    if b - play.file_end_s >= 1.0:
        c = play.file_end_s - half
        seg = Signal(signal.samples[:, int(max(0.0, c) * sr) : int(b * sr)], sr)
        for m in service.recognize(catalog, seg, top_k=TOP_K):
            if m.asset_id == play.asset_id and max(0.0, c) + m.query_end_s > play.file_end_s:
                play.file_end_s = max(0.0, c) + m.query_end_s
                break


def merge_chunks(matches: list[ChunkMatch], *, gap_s: float = CHUNK_S + 1.0) -> list[ChunkMatch]:
    """One entry per track played: chunk matches of the same song that follow each other
    (gap <= ``gap_s``) with the same alignment (anchor within 2 s) are one play."""
    plays: list[ChunkMatch] = []
    open_: dict[str, ChunkMatch] = {}
    for cm in sorted(matches, key=lambda x: (x.file_start_s, -x.score)):
        p = open_.get(cm.asset_id)
        short = min(cm.file_end_s - cm.file_start_s, p.file_end_s - p.file_start_s) if p else 0
        if (
            p is not None
            and cm.file_start_s - p.file_end_s <= gap_s
            # same alignment; a piece of a few seconds may carry a poor offset estimate
            and (abs(cm.anchor_s - p.anchor_s) <= 2.0 or short < SHORT_PIECE_S)
        ):
            p.file_end_s = max(p.file_end_s, cm.file_end_s)
            p.score = max(p.score, cm.score)
            continue
        play = ChunkMatch(**{**cm.__dict__})
        plays.append(play)
        open_[cm.asset_id] = play
    plays = [
        p for p in plays if p.file_end_s - p.file_start_s >= MIN_PLAY_S or p.score >= SURE_SCORE
    ]
    plays.sort(key=lambda x: x.file_start_s)
    return plays


def scan_file(
    catalog: Catalog,
    signal: Signal,
    opts: ScanOptions,
    *,
    base_url: str,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """The enterprise response body for a decoded long file (without execution_time)."""
    from tonearm.recognition import service

    duration = signal.duration_s
    chunks = selected_chunks(duration, opts)
    if not chunks:
        return {"status": "success", "result": [], "tracks": []}
    sr = signal.sr
    sf = opts.skip_first_seconds
    t0 = sf + chunks[0] * CHUNK_S
    t1 = min(duration, sf + (chunks[-1] + 1) * CHUNK_S)
    part = Signal(signal.samples[:, int(t0 * sr) : int(t1 * sr)], sr)
    windows = service.scan_windows(
        catalog, part, window_s=CHUNK_S, hop_s=HOP_S, top_k=TOP_K, progress=progress
    )
    # chunk k -> (matches, file time where their query starts); a window that is not on
    # the 12 s grid (one flush with the end of the file) serves the last, partial chunk
    by_chunk: dict[int, tuple[list[Any], float]] = {}
    for w in sorted(windows, key=lambda w: w.start_s):
        start = t0 + w.start_s
        k_f = (start - sf) / CHUNK_S
        if abs(k_f - round(k_f)) < 1e-3:
            by_chunk[int(round(k_f))] = (w.matches, start)
        else:
            k_last = int((t0 + w.end_s - sf - 1e-6) // CHUNK_S)
            by_chunk.setdefault(k_last, (w.matches, start))
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
            seg = signal.samples[:, int(base * sr) : int(duration * sr)]
            matches = service.recognize(catalog, Signal(seg, sr), top_k=TOP_K)
        songs = []
        for m in matches:
            a = asset(m.asset_id)
            speed = m.speed or 1.0
            f_start = max(c0, base + m.query_start_s)
            f_end = min(c1, base + m.query_end_s)
            if a is None or f_end - f_start <= 0:
                continue
            pos = _song_position(catalog, signal, base, m, duration)
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

    plays = merge_chunks(found)
    for i, p in enumerate(plays):
        lo = plays[i - 1].file_end_s if i > 0 else t0
        hi = plays[i + 1].file_start_s if i + 1 < len(plays) else t1
        refine_bounds(catalog, signal, p, max(t0, lo), min(t1, hi))
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
    """Decode a file at the fingerprint rate (mono) under the catalog's limits."""
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
        try:
            signal = decode_for_scan(catalog, path)
        except AudioError as e:
            raise JobFailed(f"#{audio_error_code(e)}: {e.message}") from e
        progress(0.2)
        opts = ScanOptions(
            skip=int(p.get("skip", 0)),
            every=int(p.get("every", 1)),
            limit=p.get("limit"),
            skip_first_seconds=float(p.get("skip_first_seconds", 0.0)),
            accurate_offsets=bool(p.get("accurate_offsets", False)),
            returns=tuple(p.get("returns", ())),
        )
        return scan_file(
            catalog,
            signal,
            opts,
            base_url=str(p.get("base_url", "http://localhost")),
            progress=lambda f: progress(0.2 + 0.8 * f),
        )
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
