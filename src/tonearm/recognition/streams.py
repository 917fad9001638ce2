"""Live stream monitoring, AudD style: pull an HTTP/Icecast audio stream, recognize a sliding
window continuously, and report ONE event per song played (not one per window).

Pieces, top to bottom:

- storage of callback URLs, streams and longpoll events (tables of migration 0003);
- :class:`PlayTracker`, a pure state machine turning per-window matches into song plays
  (start, end, play length);
- the stream reader: a child process that connects (SSRF-guarded), decodes with PyAV as the
  bytes arrive and sends mono PCM back through a pipe, so a hostile stream can crash or hang
  only that child;
- :class:`StreamMonitor` (one thread per stream): reconnection with exponential backoff,
  the sliding-window recognition, health notifications (650 can't connect, 651 no music,
  0 healthy again);
- :class:`StreamManager`: the monitors of one process, and event delivery (stored for
  ``/longpoll/`` and POSTed to the key's callback URL);
- leases (table of migration 0008): every API server and ``tonearm worker`` may run a
  manager, and each stream is monitored by exactly one of them, the holder of its lease.
  The holder renews the lease every ``heartbeat_s``; a lease not renewed for ``lease_s``
  (its process died) or released (its process shut down) is taken over by another
  manager at its next heartbeat. Events are published only while the lease is held, and
  the song playing at the handover travels with the lease, so it is announced once.

Timing is measured in *stream time* (samples decoded / rate), never wall-clock, so a stream
served faster than real time (tests) gives the same plays as a live one.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import multiprocessing as mp
import os
import queue
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from tonearm.core.audio.signal import Signal
from tonearm.recognition import wire

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.storage.sql import SqlStore as SqliteStore

log = logging.getLogger("tonearm.streams")

EMPTY_CALLBACK_URL = "https://audd.tech/empty/"  # AudD's "longpoll only" callback URL

NOTIFY_HEALTHY = 0
NOTIFY_CANT_CONNECT = 650
NOTIFY_NO_MUSIC = 651
NOTIFY_MESSAGES = {
    NOTIFY_HEALTHY: "Recognition is working: the audiostream is connected and plays audio",
    NOTIFY_CANT_CONNECT: "Recognition failed: can't connect to the audiostream",
    NOTIFY_NO_MUSIC: "Recognition failed: there is only silence or white noise in the audiostream",
}
EVENT_RETENTION_S = 24 * 3600.0
EVENTS_PER_CATEGORY = 1000


def _utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _now_ms() -> int:
    return int(time.time() * 1000)


# -- storage ---------------------------------------------------------------------------


@dataclass
class StreamRecord:
    key_id: int
    radio_id: int
    url: str
    callbacks: str | None
    longpoll_category: str
    updated_at: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.key_id, self.radio_id)


def _stream(row: Any) -> StreamRecord:
    return StreamRecord(
        int(row["key_id"]),
        int(row["radio_id"]),
        row["url"],
        row["callbacks"],
        row["longpoll_category"],
        str(row["updated_at"] or ""),
    )


def set_callback_url(store: SqliteStore, key_id: int, url: str) -> None:
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO audd_callback_urls (key_id, url, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(key_id) DO UPDATE SET url = excluded.url, "
            "updated_at = excluded.updated_at",
            (key_id, url, _utcnow_iso()),
        )


def get_callback_url(store: SqliteStore, key_id: int) -> str | None:
    rows = store.execute("SELECT url FROM audd_callback_urls WHERE key_id = ?", (key_id,))
    return str(rows[0]["url"]) if rows else None


def upsert_stream(
    store: SqliteStore,
    key_id: int,
    radio_id: int,
    url: str,
    callbacks: str | None,
    category: str,
) -> StreamRecord:
    now = _utcnow_iso()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO audd_streams (key_id, radio_id, url, callbacks, longpoll_category, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key_id, radio_id) DO UPDATE SET url = excluded.url, "
            "callbacks = excluded.callbacks, updated_at = excluded.updated_at",
            (key_id, radio_id, url, callbacks, category, now, now),
        )
    rec = get_stream(store, key_id, radio_id)
    assert rec is not None
    return rec


def get_stream(store: SqliteStore, key_id: int, radio_id: int) -> StreamRecord | None:
    rows = store.execute(
        "SELECT * FROM audd_streams WHERE key_id = ? AND radio_id = ?", (key_id, radio_id)
    )
    return _stream(rows[0]) if rows else None


def list_streams(store: SqliteStore, key_id: int | None = None) -> list[StreamRecord]:
    if key_id is None:
        rows = store.execute("SELECT * FROM audd_streams ORDER BY key_id, radio_id")
    else:
        rows = store.execute(
            "SELECT * FROM audd_streams WHERE key_id = ? ORDER BY radio_id", (key_id,)
        )
    return [_stream(r) for r in rows]


def set_stream_url(store: SqliteStore, key_id: int, radio_id: int, url: str) -> bool:
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE audd_streams SET url = ?, updated_at = ? WHERE key_id = ? AND radio_id = ?",
            (url, _utcnow_iso(), key_id, radio_id),
        )
        return cur.rowcount > 0


def delete_stream(store: SqliteStore, key_id: int, radio_id: int) -> bool:
    with store.transaction() as conn:
        cur = conn.execute(
            "DELETE FROM audd_streams WHERE key_id = ? AND radio_id = ?", (key_id, radio_id)
        )
        return cur.rowcount > 0


_event_lock = threading.Lock()


def add_event(store: SqliteStore, category: str, payload: dict[str, Any]) -> int:
    """Store one event for ``/longpoll/``; returns its timestamp (ms, strictly increasing
    within the category so ``since_time`` never skips or repeats an event)."""
    with _event_lock, store.transaction() as conn:
        row = conn.execute(
            "SELECT MAX(timestamp_ms) FROM audd_stream_events WHERE category = ?", (category,)
        ).fetchone()
        last = int(row[0] or 0)
        ts = max(_now_ms(), last + 1)
        conn.execute(
            "INSERT INTO audd_stream_events (category, timestamp_ms, payload) VALUES (?, ?, ?)",
            (category, ts, json.dumps(payload)),
        )
        conn.execute(
            "DELETE FROM audd_stream_events WHERE timestamp_ms < ? OR (category = ? AND "
            "event_id <= (SELECT event_id FROM audd_stream_events WHERE category = ? "
            "ORDER BY event_id DESC LIMIT 1 OFFSET ?))",
            (ts - int(EVENT_RETENTION_S * 1000), category, category, EVENTS_PER_CATEGORY),
        )
    return ts


def events_since(
    store: SqliteStore, category: str, since_ms: int, limit: int = 1
) -> list[tuple[int, dict[str, Any]]]:
    rows = store.execute(
        "SELECT timestamp_ms, payload FROM audd_stream_events WHERE category = ? AND "
        "timestamp_ms > ? ORDER BY timestamp_ms LIMIT ?",
        (category, since_ms, limit),
    )
    return [(int(r["timestamp_ms"]), json.loads(r["payload"])) for r in rows]


# -- leases: one monitoring process per stream ------------------------------------------


@dataclass
class Lease:
    """A stream's lease as its holder sees it."""

    key_id: int
    radio_id: int
    owner: str
    generation: int
    play_asset: str | None = None  # inherited from the previous holder
    play_seen_ms: int | None = None


def acquire_lease(
    store: SqliteStore, key_id: int, radio_id: int, owner: str, lease_s: float
) -> Lease | None:
    """Take the lease of a stream nobody holds (no row, expired or released); None when a
    live holder has it. Atomic on SQLite (one writer) and PostgreSQL (the upsert locks the
    row; a second taker sees the fresh ``expires_ms`` and changes nothing)."""
    now = _now_ms()
    with store.transaction() as conn:
        cur = conn.execute(
            "INSERT INTO audd_stream_leases (key_id, radio_id, owner, expires_ms, generation, "
            "running) VALUES (?, ?, ?, ?, 1, 0) "
            "ON CONFLICT (key_id, radio_id) DO UPDATE SET owner = excluded.owner, "
            "expires_ms = excluded.expires_ms, "
            "generation = audd_stream_leases.generation + 1, running = 0 "
            "WHERE audd_stream_leases.expires_ms < ?",
            (key_id, radio_id, owner, now + int(lease_s * 1000), now),
        )
        if cur.rowcount != 1:
            return None
        row = conn.execute(
            "SELECT generation, play_asset, play_seen_ms FROM audd_stream_leases "
            "WHERE key_id = ? AND radio_id = ?",
            (key_id, radio_id),
        ).fetchone()
    seen = row["play_seen_ms"]
    return Lease(
        key_id,
        radio_id,
        owner,
        int(row["generation"]),
        row["play_asset"],
        None if seen is None else int(seen),
    )


def renew_lease(
    store: SqliteStore,
    lease: Lease,
    lease_s: float,
    *,
    running: bool,
    play_asset: str | None,
    play_seen_ms: int | None,
) -> bool:
    """Extend the lease (and record the holder's state); False when it was lost (taken
    over after it expired, or the stream was deleted)."""
    with store.transaction() as conn:
        cur = conn.execute(
            "UPDATE audd_stream_leases SET expires_ms = ?, running = ?, play_asset = ?, "
            "play_seen_ms = ? WHERE key_id = ? AND radio_id = ? AND owner = ? "
            "AND generation = ?",
            (
                _now_ms() + int(lease_s * 1000),
                int(running),
                play_asset,
                play_seen_ms,
                lease.key_id,
                lease.radio_id,
                lease.owner,
                lease.generation,
            ),
        )
        return bool(cur.rowcount == 1)


def release_lease(
    store: SqliteStore,
    lease: Lease,
    *,
    play_asset: str | None = None,
    play_seen_ms: int | None = None,
) -> None:
    """Give the lease up now (shutdown): the next manager takes it at its next heartbeat.
    The row stays, with the song playing, for the next holder."""
    with store.transaction() as conn:
        conn.execute(
            "UPDATE audd_stream_leases SET expires_ms = 0, running = 0, play_asset = ?, "
            "play_seen_ms = ? WHERE key_id = ? AND radio_id = ? AND owner = ? "
            "AND generation = ?",
            (
                play_asset,
                play_seen_ms,
                lease.key_id,
                lease.radio_id,
                lease.owner,
                lease.generation,
            ),
        )


def holds_lease(store: SqliteStore, lease: Lease) -> bool:
    """Whether nobody took the lease over (a late heartbeat alone does not lose it: until
    another manager takes it, this holder is still the only one monitoring)."""
    rows = store.execute(
        "SELECT owner, generation FROM audd_stream_leases WHERE key_id = ? AND radio_id = ?",
        (lease.key_id, lease.radio_id),
    )
    if not rows:
        return False
    r = rows[0]
    return bool(r["owner"] == lease.owner and int(r["generation"]) == lease.generation)


def lease_holders(store: SqliteStore) -> dict[tuple[int, int], tuple[str, int]]:
    """(key_id, radio_id) -> (owner, expires_ms) of every live lease."""
    rows = store.execute(
        "SELECT key_id, radio_id, owner, expires_ms FROM audd_stream_leases WHERE expires_ms > ?",
        (_now_ms(),),
    )
    return {
        (int(r["key_id"]), int(r["radio_id"])): (str(r["owner"]), int(r["expires_ms"]))
        for r in rows
    }


def running_streams(store: SqliteStore, key_id: int) -> set[int]:
    """radio_ids of ``key_id`` whose monitor (in whichever process) is reading audio."""
    rows = store.execute(
        "SELECT radio_id FROM audd_stream_leases WHERE key_id = ? AND running = 1 "
        "AND expires_ms > ?",
        (key_id, _now_ms()),
    )
    return {int(r["radio_id"]) for r in rows}


# -- plays: per-window matches -> one event per song ------------------------------------


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


# -- the stream reader child process ----------------------------------------------------


class _ChunkReader(io.RawIOBase):
    """A non-seekable file over an iterator of byte chunks, for PyAV."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._it = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


_FORMATS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
}


def _format_for(content_type: str | None) -> str | None:
    ct = (content_type or "").split(";")[0].strip().lower()
    return _FORMATS.get(ct)


def _reader_main(
    conn: Any, url: str, allow_private: bool, sr: int, timeout_s: float, block_s: float
) -> None:
    """Child process: connect, decode as bytes arrive, send ("pcm", float32 mono bytes)."""
    try:
        import av
        import httpx

        from tonearm.core.net import UnsafeURL, check_peer, guard_url

        current = url
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            for _ in range(6):
                try:
                    guard_url(current, allow_private)
                except UnsafeURL as e:
                    conn.send(("error", f"refused: {e}"))
                    return
                with client.stream(
                    "GET", current, headers={"User-Agent": "tonearm", "Icy-MetaData": "0"}
                ) as resp:
                    if not allow_private:
                        check_peer(resp)
                    if resp.is_redirect and resp.headers.get("location"):
                        current = str(resp.url.join(resp.headers["location"]))
                        continue
                    if resp.status_code >= 400:
                        conn.send(("error", f"the stream answered HTTP {resp.status_code}"))
                        return
                    conn.send(("connected", resp.headers.get("content-type", "")))
                    reader = _ChunkReader(resp.iter_bytes())
                    container = av.open(
                        reader, mode="r", format=_format_for(resp.headers.get("content-type"))
                    )
                    try:
                        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
                        parts: list[np.ndarray] = []
                        n = 0
                        block = max(1, int(block_s * sr))
                        try:
                            for frame in container.decode(audio=0):
                                for rf in resampler.resample(frame):
                                    a = rf.to_ndarray().reshape(-1)
                                    parts.append(a)
                                    n += a.size
                                if n >= block:
                                    conn.send(("pcm", np.concatenate(parts).tobytes()))
                                    parts, n = [], 0
                        except av.error.FFmpegError as e:
                            if parts:
                                conn.send(("pcm", np.concatenate(parts).tobytes()))
                            conn.send(("error", f"stream data cannot be decoded: {e}"))
                            return
                        for rf in resampler.resample(None):
                            parts.append(rf.to_ndarray().reshape(-1))
                        if parts:
                            conn.send(("pcm", np.concatenate(parts).astype(np.float32).tobytes()))
                    finally:
                        container.close()
                    conn.send(("eof", "the stream ended"))
                    return
            conn.send(("error", "too many redirects"))
    except Exception as e:  # reported to the monitor, which reconnects
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


_CTX = mp.get_context("forkserver") if os.name == "posix" else mp.get_context("spawn")


# -- the monitor ------------------------------------------------------------------------


@dataclass
class MonitorConfig:
    """How a stream is watched. Defaults suit live radio; tests shorten the waits."""

    window_s: float = 10.0  # audio recognized at a time
    hop_s: float = 3.0  # stream time between recognitions
    min_hits: int = 2  # consecutive windows that must agree before a song counts
    end_gap_s: float = 10.0  # a song ends this long after its last matching window
    no_music_s: float = 60.0  # silence/noise this long -> notification 651
    silence_rms: float = 10 ** (-55 / 20)  # below -55 dBFS counts as silence
    timeout_s: float = 20.0  # connect/read timeout
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 60.0


def _no_music(x: np.ndarray, silence_rms: float) -> bool:
    """Silence, or noise with a flat spectrum (white-ish)."""
    if x.size == 0:
        return True
    if float(np.sqrt(np.mean(x.astype(np.float64) ** 2))) < silence_rms:
        return True
    n = 1024
    frames = x[: (x.size // n) * n].reshape(-1, n)
    if frames.shape[0] == 0:
        return False
    spec = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1)) ** 2 + 1e-12
    flatness = np.exp(np.mean(np.log(spec), axis=1)) / np.mean(spec, axis=1)
    return float(np.median(flatness)) > 0.5


Emit = Callable[["StreamRecord", dict[str, Any]], None]


class StreamMonitor:
    """Watches one stream in its own thread until :meth:`stop`."""

    def __init__(
        self,
        catalog: Catalog,
        record: StreamRecord,
        emit: Emit,
        config: MonitorConfig | None = None,
        *,
        base_url: str = "http://localhost",
        returns_for: Callable[[], list[str]] = list,
        inherited: tuple[str, int] | None = None,
        inherit_ms: int = 120_000,
        on_playing: Callable[[], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.record = record
        self.emit = emit
        self.config = config or MonitorConfig()
        self.base_url = base_url
        self.returns_for = returns_for
        self.running = False  # connected and reading audio
        self.plays: list[Play] = []  # finished plays (for tests and status)
        self.playing: str | None = None  # asset of the song playing now
        self.playing_seen_ms: int | None = None  # wall clock of its latest window
        # (asset, seen ms) the previous holder of the lease was hearing: a start of that
        # song soon after the handover was already announced
        self._inherited = inherited
        self._inherit_ms = inherit_ms
        self._on_playing = on_playing  # called when ``playing`` changes, before any event
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"stream-{record.key_id}-{record.radio_id}", daemon=True
        )
        self._proc: Any = None
        self._unhealthy: int | None = None  # code of the last problem notified

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- loop
    def _run(self) -> None:
        backoff = self.config.backoff_initial_s
        while not self._stop.is_set():
            got_audio = False
            try:
                got_audio = self._session()
            except Exception:
                log.exception("stream %s: monitor error", self.record.radio_id)
            self.running = False
            if self._stop.is_set():
                break
            if got_audio:
                backoff = self.config.backoff_initial_s
            if self._stop.wait(backoff):
                break
            backoff = min(backoff * 2, self.config.backoff_max_s)

    def _notify(self, code: int) -> None:
        if code == NOTIFY_HEALTHY:
            if self._unhealthy is None:
                return
            self._unhealthy = None
        else:
            if self._unhealthy == code:
                return  # once per episode, not once per attempt
            self._unhealthy = code
        payload = {
            "status": "-",
            "notification": {
                "radio_id": self.record.radio_id,
                "stream_running": code != NOTIFY_CANT_CONNECT,
                "notification_code": code,
                "notification_message": NOTIFY_MESSAGES[code],
            },
            "time": int(time.time()),
        }
        self.emit(self.record, payload)

    def _session(self) -> bool:
        """One connection: returns whether any audio arrived."""
        from tonearm.recognition import service

        sr = _engine_sr()
        cfg = self.config
        parent, child = _CTX.Pipe(duplex=False)
        proc = _CTX.Process(
            target=_reader_main,
            args=(
                child,
                self.record.url,
                self.catalog.settings.allow_private_urls,
                sr,
                cfg.timeout_s,
                min(1.0, cfg.hop_s),
            ),
            daemon=True,
        )
        proc.start()
        child.close()
        self._proc = proc
        tracker = PlayTracker(min_hits=cfg.min_hits, end_gap_s=cfg.end_gap_s)
        window = int(cfg.window_s * sr)
        hop = max(1, int(cfg.hop_s * sr))
        buf = np.zeros(0, dtype=np.float32)
        buf_start = 0  # sample index (this session) of buf[0]
        total = 0  # samples received this session
        next_at = window  # recognize the window ending at this sample
        quiet_s = 0.0
        got_audio = False
        try:
            while not self._stop.is_set():
                if not parent.poll(cfg.timeout_s):
                    log.info("stream %s: no data for %gs", self.record.radio_id, cfg.timeout_s)
                    break
                try:
                    kind, payload = parent.recv()
                except (EOFError, OSError):
                    break
                if kind == "connected":
                    continue
                if kind in ("error", "eof"):
                    log.info("stream %s: %s", self.record.radio_id, payload)
                    break
                x = np.frombuffer(payload, dtype=np.float32)
                if x.size == 0:
                    continue
                if not got_audio:
                    got_audio = True
                    self.running = True
                    if self._unhealthy == NOTIFY_CANT_CONNECT:
                        self._notify(NOTIFY_HEALTHY)
                buf = np.concatenate([buf, x])
                total += x.size
                while total >= next_at and not self._stop.is_set():
                    lo = max(0, next_at - window - buf_start)
                    w = buf[lo : next_at - buf_start]
                    w1 = next_at / sr
                    w0 = w1 - w.size / sr
                    if _no_music(w, cfg.silence_rms):
                        quiet_s += cfg.hop_s
                        if quiet_s >= cfg.no_music_s:
                            self._notify(NOTIFY_NO_MUSIC)
                        events = tracker.update(w0, w1, None)
                    else:
                        if self._unhealthy == NOTIFY_NO_MUSIC:
                            self._notify(NOTIFY_HEALTHY)
                        quiet_s = 0.0
                        matches = service.recognize(self.catalog, Signal(w, sr), top_k=1)
                        if matches:
                            m = matches[0]
                            asset = self.catalog.store.get_asset(m.asset_id)
                            dur = asset.duration if asset else math.inf
                            events = tracker.update(w0, w1, m.asset_id, m.offset_s, m.score, dur)
                        else:
                            events = tracker.update(w0, w1, None)
                    cur = tracker.current
                    playing = cur.asset_id if cur is not None else None
                    if cur is not None:
                        self.playing_seen_ms = _now_ms()
                    if playing != self.playing:
                        self.playing = playing
                        if self._on_playing is not None:
                            self._on_playing()
                    self._handle(events)
                    next_at += hop
                    drop = next_at - window - buf_start
                    if drop > 0:  # keep only what the next windows need
                        buf = buf[drop:]
                        buf_start += drop
        finally:
            ended = tracker.flush()
            if not self._stop.is_set():  # the stream ended or broke: the song ended
                self._handle(ended)
            # stopped (deleteStream, shutdown, lease handed over): the song goes on, and
            # the next holder of the lease reports it
            parent.close()
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            self._proc = None
        if not got_audio and not self._stop.is_set():
            self._notify(NOTIFY_CANT_CONNECT)
        return got_audio

    def _handle(self, events: list[PlayEvent]) -> None:
        before = self.record.callbacks == "before"
        for ev in events:
            if ev.kind == "end":
                self.plays.append(ev.play)
            if ev.kind == "start" and self._inherited is not None:
                asset_id, seen_ms = self._inherited
                self._inherited = None
                if asset_id == ev.play.asset_id and _now_ms() - seen_ms <= self._inherit_ms:
                    continue  # announced by the previous holder before the handover
            if (ev.kind == "start") != before:
                continue
            asset = self.catalog.store.get_asset(ev.play.asset_id)
            if asset is None:
                continue
            song = wire.callback_song(
                asset, score=ev.play.score, returns=self.returns_for(), base_url=self.base_url
            )
            result: dict[str, Any] = {
                "radio_id": self.record.radio_id,
                "timestamp": datetime.fromtimestamp(ev.play.detected_at, UTC).strftime(
                    "%Y-%m-%d %H:%M:%S"
                ),
            }
            if not before:
                result["play_length"] = int(round(ev.play.play_length_s))
            result["results"] = [song]
            self.emit(self.record, {"status": "success", "result": result})


def _engine_sr() -> int:
    try:
        from tonearm.recognition.fingerprint import SR

        return int(SR)
    except ImportError:  # pragma: no cover
        return 8000


# -- the manager ------------------------------------------------------------------------


def returns_from_callback_url(url: str | None) -> list[str]:
    """``?return=apple_music,deezer`` on the callback URL asks for that metadata."""
    if not url:
        return []
    try:
        q = parse_qs(urlsplit(url).query)
    except ValueError:
        return []
    return wire.parse_return(",".join(q.get("return", [])))


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


DEFAULT_LEASE_S = 15.0
DEFAULT_HEARTBEAT_S = 3.0


@dataclass
class _Held:
    lease: Lease
    record: StreamRecord
    monitor: StreamMonitor


class StreamManager:
    """The monitors of one process and the delivery of their events.

    Any number of managers (API servers, ``tonearm worker``) share one store; each
    stream is monitored by the manager holding its lease. :meth:`start_all` starts the
    heartbeat thread, which every ``heartbeat_s``: renews this manager's leases (a lease
    lost means another manager took over: its monitor stops), restarts the monitor of a
    stream whose URL or callbacks changed, stops the monitors of deleted streams, and
    takes the leases of streams nobody holds. ``lease_s`` (TONEARM_STREAM_LEASE_S,
    default 15) is how long a dead process keeps its streams; ``heartbeat_s``
    (TONEARM_STREAM_HEARTBEAT_S, default 3) must be well under it. Lease times are
    wall-clock: the hosts' clocks must agree to well under ``lease_s`` (NTP).
    """

    def __init__(
        self,
        catalog: Catalog,
        config: MonitorConfig | None = None,
        *,
        base_url: str = "http://localhost",
        callback_backoff_s: tuple[float, ...] = (1.0, 5.0, 30.0),
        lease_s: float | None = None,
        heartbeat_s: float | None = None,
        owner: str | None = None,
        max_streams: int | None = None,
    ) -> None:
        self.catalog = catalog
        self.config = config or MonitorConfig()
        self.base_url = base_url
        self.callback_backoff_s = callback_backoff_s
        self.lease_s = lease_s or _env_float("TONEARM_STREAM_LEASE_S", DEFAULT_LEASE_S)
        self.heartbeat_s = heartbeat_s or _env_float(
            "TONEARM_STREAM_HEARTBEAT_S", min(DEFAULT_HEARTBEAT_S, self.lease_s / 3)
        )
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.max_streams = max_streams
        self.held: dict[tuple[int, int], _Held] = {}
        self._lock = threading.RLock()  # guards held; one sync at a time
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self._outbox: queue.Queue[tuple[int, str, dict[str, Any]] | None] = queue.Queue()
        self._sender = threading.Thread(
            target=self._send_loop, name="stream-callbacks", daemon=True
        )
        self._sender.start()
        # (url, payload, outcome) of the latest deliveries, for status and tests
        self.delivered: deque[tuple[str, dict[str, Any], str]] = deque(maxlen=200)

    @property
    def monitors(self) -> dict[tuple[int, int], StreamMonitor]:
        with self._lock:
            return {k: h.monitor for k, h in self.held.items()}

    def start_all(self) -> None:
        """Take the streams nobody monitors and keep doing so (heartbeat thread)."""
        self.sync()
        if self._heartbeat is None:
            self._heartbeat = threading.Thread(
                target=self._heartbeat_loop, name="stream-leases", daemon=True
            )
            self._heartbeat.start()

    def ensure(self, rec: StreamRecord) -> None:
        """After addStream / setStreamUrl: start or restart the monitor of ``rec`` here if
        nobody holds it or this manager does; another holder notices at its heartbeat."""
        self.sync()

    def stop(self, key_id: int, radio_id: int) -> None:
        """Stop monitoring a stream here (deleteStream): the lease is given up."""
        with self._lock:
            h = self.held.pop((key_id, radio_id), None)
        if h is not None:
            h.monitor.stop()
            with contextlib.suppress(Exception):
                release_lease(self.catalog.store, h.lease)

    def is_running(self, key_id: int, radio_id: int) -> bool:
        """Whether the stream's monitor, in whichever process, is reading audio."""
        with self._lock:
            h = self.held.get((key_id, radio_id))
        if h is not None:
            return h.monitor.running
        return radio_id in running_streams(self.catalog.store, key_id)

    def shutdown(self, *, release: bool = True) -> None:
        """Stop every monitor; with ``release`` (a clean shutdown) the leases are handed
        to the other managers at once, else they expire after ``lease_s``."""
        self._closed.set()
        self._wake.set()
        if self._heartbeat is not None:
            self._heartbeat.join(5.0)
        with self._lock:
            held = list(self.held.values())
            self.held.clear()
        for h in held:
            h.monitor.stop(timeout_s=2.0)
        if release:
            for h in held:
                try:
                    release_lease(
                        self.catalog.store,
                        h.lease,
                        play_asset=h.monitor.playing,
                        play_seen_ms=h.monitor.playing_seen_ms,
                    )
                except Exception:
                    log.warning("stream %s: cannot release lease", h.record.radio_id)
        self._outbox.put(None)
        self._sender.join(2.0)

    # -- leases
    def _heartbeat_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self.heartbeat_s)
            self._wake.clear()
            if self._closed.is_set():
                return
            try:
                self.sync()
            except Exception:  # the database is away: retry at the next beat
                log.warning("stream leases: heartbeat failed", exc_info=True)

    def sync(self) -> None:
        """One heartbeat: renew, reconcile with the stored streams, take free leases."""
        if self._closed.is_set():
            return
        store = self.catalog.store
        with self._lock:
            records = {r.key: r for r in list_streams(store)}
            for k, h in list(self.held.items()):
                rec = records.get(k)
                m = h.monitor
                ok = rec is not None and renew_lease(
                    store,
                    h.lease,
                    self.lease_s,
                    running=m.running,
                    play_asset=m.playing,
                    play_seen_ms=m.playing_seen_ms,
                )
                if not ok:  # deleted, or taken over after our lease expired
                    log.info("stream %s: no longer monitored here", k[1])
                    del self.held[k]
                    m.stop()
                    continue
                assert rec is not None
                if (rec.url, rec.callbacks, rec.updated_at) != (
                    h.record.url,
                    h.record.callbacks,
                    h.record.updated_at,
                ) or not m.alive:
                    m.stop()
                    h.record = rec
                    h.monitor = self._monitor(rec, h.lease, (m.playing, m.playing_seen_ms))
                    h.monitor.start()
            holders = lease_holders(store)
            for k, rec in records.items():
                if k in self.held or k in holders:
                    continue
                if self.max_streams is not None and len(self.held) >= self.max_streams:
                    break
                try:
                    lease = acquire_lease(store, rec.key_id, rec.radio_id, self.owner, self.lease_s)
                except Exception:  # deleted meanwhile (foreign key), or a write conflict
                    log.debug("stream %s: lease not taken", rec.radio_id, exc_info=True)
                    continue
                if lease is None:
                    continue
                log.info("stream %s: monitored here (lease %d)", rec.radio_id, lease.generation)
                m = self._monitor(rec, lease, (lease.play_asset, lease.play_seen_ms))
                self.held[k] = _Held(lease, rec, m)
                m.start()

    def _monitor(
        self, rec: StreamRecord, lease: Lease, inherited: tuple[str | None, int | None]
    ) -> StreamMonitor:
        asset, seen = inherited
        store = self.catalog.store
        return StreamMonitor(
            self.catalog,
            rec,
            lambda r, payload: self.publish(r, payload, lease),
            self.config,
            base_url=self.base_url,
            returns_for=lambda: returns_from_callback_url(get_callback_url(store, rec.key_id)),
            inherited=(asset, seen) if asset is not None and seen is not None else None,
            inherit_ms=int((self.lease_s + self.config.window_s) * 1000) + 60_000,
            on_playing=lambda: self._record_playing(rec.key),
        )

    def _record_playing(self, k: tuple[int, int]) -> None:
        """Write the song now playing into the lease before its callback goes out, so a
        holder dying right after announcing it does not get it announced twice."""
        with self._lock:
            h = self.held.get(k)
        if h is None:
            return
        m = h.monitor
        with contextlib.suppress(Exception):
            renew_lease(
                self.catalog.store,
                h.lease,
                self.lease_s,
                running=m.running,
                play_asset=m.playing,
                play_seen_ms=m.playing_seen_ms,
            )

    # -- events
    def publish(
        self, rec: StreamRecord, payload: dict[str, Any], lease: Lease | None = None
    ) -> None:
        """Store the event for longpoll and queue the callback POST (only while this
        manager holds the stream's lease: a stalled process that lost it stays quiet)."""
        if lease is not None:
            try:
                if not holds_lease(self.catalog.store, lease):
                    log.info("stream %s: lease lost, event dropped", rec.radio_id)
                    return
            except Exception:
                log.warning("stream %s: cannot check the lease", rec.radio_id, exc_info=True)
                return
        try:
            add_event(self.catalog.store, rec.longpoll_category, payload)
        except Exception:
            log.exception("stream %s: cannot store event", rec.radio_id)
        url = get_callback_url(self.catalog.store, rec.key_id)
        if url and url != EMPTY_CALLBACK_URL:
            self._outbox.put((rec.key_id, url, payload))

    def _send_loop(self) -> None:
        from tonearm.jobs.webhooks import deliver, webhook_secret

        while True:
            item = self._outbox.get()
            if item is None:
                return
            key_id, url, payload = item
            try:
                secret: str | None = webhook_secret(self.catalog, key_id)
            except Exception:  # signing is a courtesy; never lose the callback over it
                secret = None
            outcome = deliver(
                url,
                payload,
                secret=secret,
                allow_private=self.catalog.settings.allow_private_urls,
                backoff_s=self.callback_backoff_s,
            )
            self.delivered.append((url, payload, outcome))
            if outcome != "delivered":
                log.info("stream callback to %s: %s", url, outcome)
