"""The stream manager: the monitors of one process, their leases, and the delivery of
their events (stored for ``/longpoll/`` and POSTed to the key's callback URL)."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tonearm.recognition import wire
from tonearm.recognition.streams.leases import (
    acquire_lease,
    holds_lease,
    lease_holders,
    release_lease,
    renew_lease,
    running_streams,
)
from tonearm.recognition.streams.monitor import MonitorConfig, StreamMonitor
from tonearm.recognition.streams.registry import (
    EMPTY_CALLBACK_URL,
    add_event,
    get_callback_url,
    list_streams,
)
from tonearm.storage.streams import Lease, StreamRecord

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

log = logging.getLogger("tonearm.streams")


def returns_from_callback_url(url: str | None) -> list[str]:
    """``?return=apple_music,deezer`` on the callback URL asks for that metadata."""
    if not url:
        return []
    try:
        q = parse_qs(urlsplit(url).query)
    except ValueError:
        return []
    return wire.parse_return(",".join(q.get("return", [])))


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
    takes the leases of streams nobody holds. ``lease_s`` (``settings.stream_lease_s``,
    default 15) is how long a dead process keeps its streams; ``heartbeat_s``
    (``settings.stream_heartbeat_s``, default 3, at most a third of the lease) must be
    well under it. Lease times are
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
        settings = catalog.settings
        self.lease_s = lease_s or float(settings.stream_lease_s)
        self.heartbeat_s = heartbeat_s or min(float(settings.stream_heartbeat_s), self.lease_s / 3)
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
                allowlist=self.catalog.settings.private_allowlist,
                backoff_s=self.callback_backoff_s,
            )
            self.delivered.append((url, payload, outcome))
            if outcome != "delivered":
                log.info("stream callback to %s: %s", url, outcome)
