"""Long files, AudD's enterprise way: every track in an hours-long recording, as a list of
12-second chunks with their matches, plus a merged view (one entry per track played, with
its start and end in the file).

The work runs on the job system (job kind ``audd_enterprise``): the API writes the upload
to the data directory, submits the job and waits for it (AudD's enterprise endpoint is
synchronous; clients wait up to an hour). Progress is the job's progress.

This module is the job: decoding (the one streaming decoder of ``core.audio.stream``),
asking the catalog, the PCM spool and the job registration. The pure parts (parameters,
chunk selection, the merge) are in :mod:`tonearm.recognition.longfile` and re-exported
here.

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

import math
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal
from tonearm.recognition import wire
from tonearm.recognition.fingerprint import BANDS_PER_SEMITONE
from tonearm.recognition.longfile import (  # noqa: F401 - re-exported for callers
    AUDIO_ERROR_CODES,
    CSV_COLUMNS,
    HOP_S,
    ChunkMatch,
    ScanOptions,
    _assign_windows,
    _is_selected,
    _last_selected,
    audio_error_code,
    parse_failure,
    selected_chunks,
    timecode_from_url,
    to_csv,
)
from tonearm.recognition.scanner import PlayScanner, ScanEvent, catalog_audio, catalog_songs
from tonearm.recognition.wire import CHUNK_S

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.jobs.queue import Job

JOB_KIND = "audd_enterprise"
JOB_TIMEOUT_S = 3600.0
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


def _scan_windows(
    catalog: Catalog,
    signal: Signal,
    keep_s: tuple[float, float],
    file_s: float,
    peaks_out: PlayScanner,
    progress: Callable[[float], None] | None = None,
) -> list[Any]:
    """``service.scan_windows`` (12 s windows every 12 s, top ``TOP_K``) that also keeps
    the peaks it found between ``keep_s`` (seconds of ``signal``) in ``peaks_out``, in
    file frames (``signal`` starts at ``file_s`` in the file)."""
    from tonearm.recognition import fingerprint as fp
    from tonearm.recognition import service

    ix = service.get_index(catalog)
    y = fp.prepare(signal)
    all_peaks = fp.find_peaks(fp.log_spectrogram(y), fp.QUERY_DENSITY)
    a, b = np.searchsorted(all_peaks.t, [keep_s[0] * fp.FPS, keep_s[1] * fp.FPS])
    peaks_out.add_peaks(all_peaks.t[a:b] + file_s * fp.FPS, all_peaks.f[a:b])
    if progress:
        progress(0.05)
    duration = len(y) / fp.SR
    win_f = max(1, int(round(CHUNK_S * fp.FPS)))
    last = max(0, all_peaks.n_frames - win_f)
    starts = list(range(0, last + 1, win_f))
    if starts[-1] < last:  # one more window flush with the end, so the tail is covered
        starts.append(last)
    out = []
    hint = None  # the previous window's tempo/pitch: a play keeps its speed
    for i, t0 in enumerate(starts):
        ms = service.match_peaks(ix, all_peaks.select(t0, t0 + win_f), top_k=TOP_K, hint=hint)
        hint = ms[0].hyp if ms else None
        out.append(service.WindowResult(t0 / fp.FPS, min(duration, (t0 + win_f) / fp.FPS), ms))
        if progress:
            progress(0.05 + 0.95 * (i + 1) / len(starts))
    return out


class _AudioPcm:
    """The decoded file read back for the scanner's fade fits (``n`` samples on the
    sample grid)."""

    def __init__(self, audio: _Audio) -> None:
        self.audio = audio
        self.sr = audio.sr

    def segment(self, a_s: float, n: int) -> tuple[float, np.ndarray] | None:
        a = int(round(a_s * self.sr))
        if a < 0 or n <= 0:
            return None
        # half a sample in: the reader's int() lands on sample a whatever the rounding
        x = self.audio.segment((a + 0.5) / self.sr, (a + n + 0.5) / self.sr).samples[0]
        return (a / self.sr, x) if x.size == n else None


def _new_scanner(catalog: Catalog, t0_s: float, audio: _Audio) -> PlayScanner:
    from tonearm.recognition.inputs import fingerprint_sr

    def duration_of(aid: str) -> float | None:
        a = catalog.store.get_asset(aid)
        return float(a.duration) if a is not None and a.duration else None

    return PlayScanner(
        catalog_songs(catalog),
        duration_of,
        sr=fingerprint_sr(),
        t0_s=t0_s,
        song_audio=catalog_audio(catalog),
        pcm=_AudioPcm(audio),
    )


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
    scanner = _new_scanner(catalog, t0, _SignalAudio(signal))
    scanner.add_audio(signal.samples[0])
    windows = _scan_windows(catalog, part, (0.0, math.inf), t0, scanner, progress=progress)
    by_chunk: dict[int, tuple[list[Any], float]] = {}
    _assign_windows(by_chunk, windows, t0, sf, keep=lambda k: _is_selected(k, opts))
    return _chunks_and_tracks(
        catalog, _SignalAudio(signal), scanner, duration, chunks, by_chunk, opts, base_url
    )


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
    stats: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The enterprise body for a file arriving as mono PCM blocks at the fingerprint rate
    (any sizes), in memory bounded by ``block_chunks`` (the answer of :func:`scan_file`).

    Block b holds chunks [b*block_chunks, (b+1)*block_chunks); it is fingerprinted with one
    chunk of audio before and after it, and only the windows on its own chunks are kept.
    Decoding stops once ``limit`` chunks (plus the look-ahead they need) are in."""
    from tonearm.recognition.inputs import fingerprint_sr

    sr = fingerprint_sr()
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
    scanner = _new_scanner(catalog, sf, spool)
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

        keep = ((lo - a) / sr, math.inf if final else (hi - a) / sr)
        windows = _scan_windows(
            catalog, Signal(seg.reshape(1, -1), sr), keep, a / sr, scanner, progress=step
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
                scanner.add_audio(x)
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
        if stats is not None:
            stats["duration_s"] = duration
        chunks = selected_chunks(duration, opts)
        if not chunks:
            return {"status": "success", "result": [], "tracks": []}
        body = _chunks_and_tracks(
            catalog, spool, scanner, duration, chunks, by_chunk, opts, base_url
        )
        if progress:
            progress(1.0)
        return body
    finally:
        spool.close()


def _chunks_and_tracks(
    catalog: Catalog,
    audio: _Audio,
    scanner: PlayScanner,
    duration: float,
    chunks: list[int],
    by_chunk: dict[int, tuple[list[Any], float]],
    opts: ScanOptions,
    base_url: str,
) -> dict[str, Any]:
    """AudD's chunks and our merged tracks from the windows filed by chunk."""
    from tonearm.recognition import service

    sf = opts.skip_first_seconds
    t1 = min(duration, sf + (chunks[-1] + 1) * CHUNK_S)
    assets: dict[str, Any] = {}

    def asset(aid: str) -> Any:
        if aid not in assets:
            a = catalog.store.get_asset(aid)
            if a is not None and opts.tenant != "*" and a.tenant not in (None, opts.tenant):
                a = None  # another account's song: as if it were not in the catalog
            assets[aid] = a
        return assets[aid]

    events: list[ScanEvent] = []
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
            matches = service.recognize(
                catalog, audio.segment(base, duration), top_k=TOP_K, tenant=opts.tenant
            )
        songs = []
        found: list[ChunkMatch] = []
        for m in matches:
            a = asset(m.asset_id)
            speed = m.speed or 1.0
            f_start = max(c0, base + m.query_start_s)
            f_end = min(c1, base + m.query_end_s)
            if a is None or f_end - f_start <= 0:
                continue
            pos = _song_position(catalog, audio, base, m, duration)
            pos += (f_start - (base + m.query_start_s)) * speed
            cm = ChunkMatch(
                m.asset_id,
                k,
                f_start,
                f_end,
                pos,
                m.score,
                speed,
                shift_bands=m.pitch_semitones * BANDS_PER_SEMITONE,
            )
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
        events += scanner.add_matches(found, c1)
    events += scanner.finish(t1)
    ended = [e.play for e in events if e.kind == "end"]
    for e in events:
        if e.kind == "also":  # a play's also_matches grew after its end
            for p in ended:
                if PlayScanner.same_play(e.play, p) and p.file_start_s == e.play.file_start_s:
                    p.also = list(e.play.also)
    plays = sorted(ended, key=lambda p: p.file_start_s)
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
        also = []
        for aid in p.also:
            other = asset(aid)
            if other is not None:
                also.append(
                    {
                        "asset_id": other.asset_id,
                        **wire.metadata_fields(other),
                        "song_link": wire.song_link(other, base_url),
                    }
                )
        tr["also_matches"] = also
        tracks.append(tr)
    return {"status": "success", "result": chunk_results, "tracks": tracks}


# -- decoding and the job ----------------------------------------------------------------
def decode_for_scan(catalog: Catalog, path: Path) -> Signal:
    """Decode a file whole, mono at the fingerprint rate, under the long-file limits (the
    same streaming decoder as :func:`scan_path`, collected in memory)."""
    from tonearm.recognition.inputs import decode_long_file

    return decode_long_file(catalog, path)


def scan_path(
    catalog: Catalog,
    path: Path,
    opts: ScanOptions,
    *,
    base_url: str,
    progress: Callable[[float], None] | None = None,
    block_chunks: int = BLOCK_CHUNKS,
    stats: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The enterprise body for a file on disk, decoded and scanned in bounded memory
    (``stats`` receives ``duration_s``, the seconds decoded)."""
    from tonearm.recognition.inputs import stream_long_file

    dec = stream_long_file(catalog, path, block_s=DECODE_BLOCK_S)
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
            stats=stats,
        )
    finally:
        dec.close()


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
            tenant=p.get("tenant", "*"),  # jobs queued before tenants: every asset
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


def register() -> None:
    """Register the job kind (idempotent; done on import, so a worker process that imports
    this module can run enterprise scans)."""
    from tonearm.jobs.queue import register_job, registered_kinds

    if JOB_KIND not in registered_kinds():
        register_job(JOB_KIND, timeout_s=JOB_TIMEOUT_S)(run_enterprise_job)


register()
