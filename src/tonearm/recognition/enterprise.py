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
    t0 = opts.skip_first_seconds + chunks[0] * CHUNK_S
    t1 = min(duration, opts.skip_first_seconds + (chunks[-1] + 1) * CHUNK_S)
    part = Signal(signal.samples[:, int(t0 * sr) : int(t1 * sr)], sr)
    windows = service.scan_windows(
        catalog, part, window_s=CHUNK_S, hop_s=HOP_S, top_k=TOP_K, progress=progress
    )
    sf = opts.skip_first_seconds
    wanted = set(chunks)
    by_chunk = {int(round((t0 + w.start_s - sf) / CHUNK_S)): w for w in windows}
    chunk_results: list[dict[str, Any]] = []
    assets: dict[str, Any] = {}

    def asset(aid: str) -> Any:
        if aid not in assets:
            assets[aid] = catalog.store.get_asset(aid)
        return assets[aid]

    for k in chunks:
        c0 = sf + k * CHUNK_S
        w = by_chunk.get(k)
        if w is None:
            # the file's last, partial chunk has no full window: recognize it on its own
            seg = signal.samples[:, int(c0 * sr) : int(min(duration, c0 + CHUNK_S) * sr)]
            if seg.shape[1] < 3 * sr:
                continue
            matches = service.recognize(catalog, Signal(seg, sr), top_k=TOP_K)
            w = by_chunk[k] = service.WindowResult(
                c0 - t0, min(duration, c0 + CHUNK_S) - t0, matches
            )
        songs = []
        for m in w.matches:
            a = asset(m.asset_id)
            if a is None:
                continue
            song = wire.enterprise_song(
                a,
                score=m.score,
                song_offset_s=m.offset_s + m.query_start_s * m.speed,
                returns=opts.returns,
                base_url=base_url,
            )
            if opts.accurate_offsets:
                song["start_offset"] = int(round(m.query_start_s * 1000))
                song["end_offset"] = int(round(m.query_end_s * 1000))
                song["start_seconds"] = round(c0 + m.query_start_s, 2)
                song["end_seconds"] = round(c0 + m.query_end_s, 2)
            songs.append(song)
        if songs:
            chunk_results.append({"songs": songs, "offset": wire.mmss(c0)})

    # merged view over the windows inside the selected chunks
    kept = [w for k, w in sorted(by_chunk.items()) if k in wanted]
    hits = service.merge_windows(kept, gap_s=CHUNK_S + 1.0)
    tracks = []
    for h in hits:
        a = asset(h.asset_id)
        if a is None:
            continue
        tr: dict[str, Any] = {"asset_id": a.asset_id}
        tr.update(wire.metadata_fields(a))
        tr["song_link"] = wire.song_link(a, base_url)
        if wire.is_custom(a):
            tr["audio_id"] = wire.audio_id_wire(str(a.audio_id))
        start, end = t0 + h.file_start_s, t0 + h.file_end_s
        tr.update(
            {
                "score": wire.score_0_100(h.score),
                "start": wire.mmss(start),
                "end": wire.mmss(end),
                "start_seconds": round(start, 2),
                "end_seconds": round(end, 2),
                "song_start_seconds": round(h.song_start_s, 2),
                "song_end_seconds": round(h.song_end_s, 2),
                "timecode": wire.mmss(h.song_start_s),
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
def _decode_file(catalog: Catalog, path: Path) -> Signal:
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
            signal = _decode_file(catalog, path)
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
