"""The monitor of one stream (one thread): reconnection with exponential backoff, the
sliding-window recognition, health notifications (650 can't connect, 651 no music, 0
healthy again)."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.catalog.decoding import stream_audio
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import Purpose
from tonearm.core.audio.signal import Signal
from tonearm.core.audio.stream import StreamingDecoder
from tonearm.net.fetch import open_http_stream
from tonearm.recognition import wire
from tonearm.recognition.longfile import ChunkMatch
from tonearm.recognition.scanner import PlayScanner, ScanEvent, catalog_audio, catalog_songs
from tonearm.recognition.streams.plays import Play
from tonearm.recognition.streams.registry import _now_ms
from tonearm.storage.streams import StreamRecord

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.streams")

NOTIFY_HEALTHY = 0
NOTIFY_CANT_CONNECT = 650
NOTIFY_NO_MUSIC = 651
NOTIFY_MESSAGES = {
    NOTIFY_HEALTHY: "Recognition is working: the audiostream is connected and plays audio",
    NOTIFY_CANT_CONNECT: "Recognition failed: can't connect to the audiostream",
    NOTIFY_NO_MUSIC: "Recognition failed: there is only silence or white noise in the audiostream",
}


@dataclass
class MonitorConfig:
    """How a stream is watched. Defaults suit live radio; tests shorten the waits."""

    window_s: float = 10.0  # audio recognized at a time
    hop_s: float = 3.0  # stream time between recognitions
    # windows that must hear a play before it counts (one stray is none), spanning at least
    # window_s + hop_s of the stream (overlapping windows all hear one shared passage)
    min_hits: int = 2
    end_gap_s: float = 10.0  # a song stops being "playing" this long after its last window
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
    # the flatness of the band below the resampler's transition band (the top ~10 % of
    # the spectrum is empty after any anti-alias filter, even for white noise)
    spec = spec[:, 1 : int(0.85 * spec.shape[1])]
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
        # the stream's key's account: its own songs and the shared catalog are recognized
        self.tenant = catalog.store.key_tenant(record.key_id)
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
        self._decoder: StreamingDecoder | None = None
        self._unhealthy: int | None = None  # code of the last problem notified
        self._announced: list[tuple[ChunkMatch, float]] = []  # plays started, wall clock

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        decoder = self._decoder
        if decoder is not None:
            # ends the decoding child: the monitor's thread sees the pipe close and stops
            decoder.kill()
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
        from tonearm.recognition import fingerprint as fp
        from tonearm.recognition import service
        from tonearm.recognition.enterprise import TOP_K
        from tonearm.recognition.fingerprint import SR as sr

        cfg = self.config
        settings = self.catalog.settings
        # the connection is opened in the decoding child (SSRF-guarded, pinned to the
        # checked address), so a hostile stream can crash or hang only that child
        opener = functools.partial(
            open_http_stream,
            self.record.url,
            settings.allow_private_urls,
            cfg.timeout_s,
            allowlist=tuple(settings.private_allowlist),
        )
        decoder = stream_audio(
            self.catalog,
            opener,
            Purpose.STREAM,
            sr=sr,
            block_s=min(1.0, cfg.hop_s),
            stall_timeout_s=cfg.timeout_s,
        )
        self._decoder = decoder
        store = self.catalog.store

        def duration_of(aid: str) -> float | None:
            a = store.get_asset(aid)
            return float(a.duration) if a is not None and a.duration else None

        # the one long-file scanner, fed as the stream plays: the peaks and power of the
        # last minutes are all it keeps
        scanner = PlayScanner(
            catalog_songs(self.catalog),
            duration_of,
            sr=sr,
            min_pieces=cfg.min_hits,
            min_span_s=cfg.window_s + cfg.hop_s,
            keep_s=120.0,
            song_audio=catalog_audio(self.catalog),
        )
        peaks_to = 0  # stream frames whose peaks the scanner has
        k = 0  # windows recognized
        hint: int | None = None  # the previous window's tempo/pitch hypothesis
        window = int(cfg.window_s * sr)
        hop = max(1, int(cfg.hop_s * sr))
        buf = np.zeros(0, dtype=np.float32)
        buf_start = 0  # sample index (this session) of buf[0]
        total = 0  # samples received this session
        next_at = window  # recognize the window ending at this sample
        quiet_s = 0.0
        got_audio = False
        blocks = iter(decoder)
        try:
            while not self._stop.is_set():
                try:
                    x = next(blocks)
                except StopIteration:
                    log.info("stream %s: %s", self.record.radio_id, decoder.end_reason)
                    break
                except AudioError as e:  # refused, HTTP error, undecodable, no data
                    if not self._stop.is_set():
                        log.info("stream %s: %s", self.record.radio_id, e.message)
                    break
                if x.size == 0:
                    continue
                if not got_audio:
                    got_audio = True
                    self.running = True
                    if self._unhealthy == NOTIFY_CANT_CONNECT:
                        self._notify(NOTIFY_HEALTHY)
                buf = np.concatenate([buf, x])
                total += x.size
                scanner.add_audio(x)
                while total >= next_at and not self._stop.is_set():
                    lo = max(0, next_at - window - buf_start)
                    w = buf[lo : next_at - buf_start]
                    w1 = next_at / sr
                    w0 = w1 - w.size / sr
                    if _no_music(w, cfg.silence_rms):
                        quiet_s += cfg.hop_s
                        if quiet_s >= cfg.no_music_s:
                            self._notify(NOTIFY_NO_MUSIC)
                        events = scanner.add_matches([], w1)
                    else:
                        if self._unhealthy == NOTIFY_NO_MUSIC:
                            self._notify(NOTIFY_HEALTHY)
                        quiet_s = 0.0
                        peaks = service.query_peaks(Signal(w, sr))
                        matches = service.recognize_peaks(
                            self.catalog, peaks, top_k=TOP_K, tenant=self.tenant, hint=hint
                        )
                        hint = matches[0].hyp if matches else None
                        # each peak once: the part of the window the previous one lacked
                        t = peaks.t + int(round(w0 * fp.FPS))
                        new = t >= peaks_to
                        scanner.add_peaks(t[new], peaks.f[new])
                        peaks_to = max(peaks_to, int(round(w1 * fp.FPS)))
                        events = scanner.add_matches(_chunk_matches(matches, k, w0), w1)
                    k += 1
                    cur = scanner.playing(cfg.end_gap_s)
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
            if not self._stop.is_set():  # the stream ended or broke: the song ended
                self._handle(scanner.finish(total / sr))
            # stopped (deleteStream, shutdown, lease handed over): the song goes on, and
            # the next holder of the lease reports it
            decoder.close()
            self._decoder = None
        if not got_audio and not self._stop.is_set():
            self._notify(NOTIFY_CANT_CONNECT)
        return got_audio

    def _handle(self, events: list[ScanEvent]) -> None:
        before = self.record.callbacks == "before"
        for ev in events:
            if ev.kind == "start":
                # (a play folded into another before its end never ends: keep a few)
                self._announced = [*self._announced[-31:], (ev.play, time.time())]
                if self._inherited is not None:
                    asset_id, seen_ms = self._inherited
                    self._inherited = None
                    if asset_id == ev.play.asset_id and _now_ms() - seen_ms <= self._inherit_ms:
                        continue  # announced by the previous holder before the handover
                if not before:
                    continue
                play = Play.of(ev.play, time.time())
            elif ev.kind == "end":
                seen = [x for x in self._announced if PlayScanner.same_play(ev.play, x[0])]
                self._announced = [x for x in self._announced if x not in seen]
                asset = self.catalog.store.get_asset(ev.play.asset_id)
                dur = float(asset.duration) if asset is not None and asset.duration else None
                play = Play.of(ev.play, seen[0][1] if seen else time.time(), dur)
                self.plays.append(play)
                if before:
                    continue
            else:  # "also": the play's callback was sent, and what was sent stands
                continue
            self._callback(play, with_length=not before)

    def _callback(self, play: Play, *, with_length: bool) -> None:
        asset = self.catalog.store.get_asset(play.asset_id)
        if asset is None:
            return
        song = wire.callback_song(
            asset, score=play.score, returns=self.returns_for(), base_url=self.base_url
        )
        result: dict[str, Any] = {
            "radio_id": self.record.radio_id,
            "timestamp": datetime.fromtimestamp(play.detected_at, UTC).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
        }
        if with_length:
            result["play_length"] = int(round(play.play_length_s))
        result["results"] = [song]
        self.emit(self.record, {"status": "success", "result": result})


def _chunk_matches(matches: list[Any], k: int, w0: float) -> list[ChunkMatch]:
    """A window's matches as the scanner's chunk matches (stream seconds)."""
    from tonearm.recognition.fingerprint import BANDS_PER_SEMITONE

    out = []
    for m in matches:
        speed = m.speed or 1.0
        out.append(
            ChunkMatch(
                m.asset_id,
                k,
                w0 + m.query_start_s,
                w0 + m.query_end_s,
                float(m.offset_s + m.query_start_s * speed),
                m.score,
                speed,
                shift_bands=m.pitch_semitones * BANDS_PER_SEMITONE,
            )
        )
    return out
