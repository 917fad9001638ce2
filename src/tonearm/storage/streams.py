"""Records of monitored streams (AudD addStream): the registry and callback URLs (migration
0003), the longpoll events, and the leases that give each stream one monitoring process
(migration 0008).

Times are passed in by the caller (``now`` ISO strings, ``now_ms`` Unix milliseconds), so the
storage layer keeps no clock of its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tonearm.storage.dialect import SqlRunner


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


@dataclass
class Lease:
    """A stream's lease as its holder sees it."""

    key_id: int
    radio_id: int
    owner: str
    generation: int
    play_asset: str | None = None  # inherited from the previous holder
    play_seen_ms: int | None = None


def _stream(row: Any) -> StreamRecord:
    return StreamRecord(
        int(row["key_id"]),
        int(row["radio_id"]),
        row["url"],
        row["callbacks"],
        row["longpoll_category"],
        str(row["updated_at"] or ""),
    )


# one event writer at a time per process: the timestamps of a category strictly increase
_event_lock = threading.Lock()


class StreamRecords(SqlRunner):
    """The ``audd_callback_urls``, ``audd_streams``, ``audd_stream_events`` and
    ``audd_stream_leases`` tables."""

    # -- callback URLs ----------------------------------------------------------------------
    def set_stream_callback_url(self, key_id: int, url: str, now: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audd_callback_urls (key_id, url, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(key_id) DO UPDATE SET url = excluded.url, "
                "updated_at = excluded.updated_at",
                (key_id, url, now),
            )

    def stream_callback_url(self, key_id: int) -> str | None:
        rows = self.execute("SELECT url FROM audd_callback_urls WHERE key_id = ?", (key_id,))
        return str(rows[0]["url"]) if rows else None

    # -- the registry -----------------------------------------------------------------------
    def upsert_stream(
        self,
        key_id: int,
        radio_id: int,
        url: str,
        callbacks: str | None,
        category: str,
        now: str,
    ) -> StreamRecord:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO audd_streams (key_id, radio_id, url, callbacks, longpoll_category, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(key_id, radio_id) DO UPDATE SET url = excluded.url, "
                "callbacks = excluded.callbacks, updated_at = excluded.updated_at",
                (key_id, radio_id, url, callbacks, category, now, now),
            )
        rec = self.get_stream(key_id, radio_id)
        assert rec is not None
        return rec

    def get_stream(self, key_id: int, radio_id: int) -> StreamRecord | None:
        rows = self.execute(
            "SELECT * FROM audd_streams WHERE key_id = ? AND radio_id = ?", (key_id, radio_id)
        )
        return _stream(rows[0]) if rows else None

    def list_streams(self, key_id: int | None = None) -> list[StreamRecord]:
        if key_id is None:
            rows = self.execute("SELECT * FROM audd_streams ORDER BY key_id, radio_id")
        else:
            rows = self.execute(
                "SELECT * FROM audd_streams WHERE key_id = ? ORDER BY radio_id", (key_id,)
            )
        return [_stream(r) for r in rows]

    def set_stream_url(self, key_id: int, radio_id: int, url: str, now: str) -> bool:
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE audd_streams SET url = ?, updated_at = ? WHERE key_id = ? AND radio_id = ?",
                (url, now, key_id, radio_id),
            )
            return bool(cur.rowcount > 0)

    def delete_stream(self, key_id: int, radio_id: int) -> bool:
        with self.transaction() as conn:
            cur = conn.execute(
                "DELETE FROM audd_streams WHERE key_id = ? AND radio_id = ?", (key_id, radio_id)
            )
            return bool(cur.rowcount > 0)

    # -- longpoll events --------------------------------------------------------------------
    def add_stream_event(
        self,
        category: str,
        payload: Mapping[str, Any],
        now_ms: int,
        *,
        retention_ms: int,
        keep: int,
    ) -> int:
        """Store one event; returns its timestamp (ms, strictly increasing within the
        category so ``since_time`` never skips or repeats an event). Events older than
        ``retention_ms`` and all but the ``keep`` latest of the category are dropped."""
        with _event_lock, self.transaction() as conn:
            row = conn.execute(
                "SELECT MAX(timestamp_ms) FROM audd_stream_events WHERE category = ?",
                (category,),
            ).fetchone()
            last = int(row[0] or 0)
            ts = max(now_ms, last + 1)
            conn.execute(
                "INSERT INTO audd_stream_events (category, timestamp_ms, payload) VALUES (?, ?, ?)",
                (category, ts, json.dumps(dict(payload))),
            )
            conn.execute(
                "DELETE FROM audd_stream_events WHERE timestamp_ms < ? OR (category = ? AND "
                "event_id <= (SELECT event_id FROM audd_stream_events WHERE category = ? "
                "ORDER BY event_id DESC LIMIT 1 OFFSET ?))",
                (ts - retention_ms, category, category, keep),
            )
        return ts

    def stream_events_since(
        self, category: str, since_ms: int, limit: int = 1
    ) -> list[tuple[int, dict[str, Any]]]:
        rows = self.execute(
            "SELECT timestamp_ms, payload FROM audd_stream_events WHERE category = ? AND "
            "timestamp_ms > ? ORDER BY timestamp_ms LIMIT ?",
            (category, since_ms, limit),
        )
        return [(int(r["timestamp_ms"]), json.loads(r["payload"])) for r in rows]

    # -- leases -----------------------------------------------------------------------------
    def acquire_stream_lease(
        self, key_id: int, radio_id: int, owner: str, expires_ms: int, now_ms: int
    ) -> Lease | None:
        """Take the lease of a stream nobody holds (no row, expired before ``now_ms`` or
        released); None when a live holder has it. Atomic on SQLite (one writer) and
        PostgreSQL (the upsert locks the row; a second taker sees the fresh ``expires_ms``
        and changes nothing)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO audd_stream_leases (key_id, radio_id, owner, expires_ms, "
                "generation, running) VALUES (?, ?, ?, ?, 1, 0) "
                "ON CONFLICT (key_id, radio_id) DO UPDATE SET owner = excluded.owner, "
                "expires_ms = excluded.expires_ms, "
                "generation = audd_stream_leases.generation + 1, running = 0 "
                "WHERE audd_stream_leases.expires_ms < ?",
                (key_id, radio_id, owner, expires_ms, now_ms),
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

    def renew_stream_lease(
        self,
        lease: Lease,
        expires_ms: int,
        *,
        running: bool,
        play_asset: str | None,
        play_seen_ms: int | None,
    ) -> bool:
        """Extend the lease (and record the holder's state); False when it was lost."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE audd_stream_leases SET expires_ms = ?, running = ?, play_asset = ?, "
                "play_seen_ms = ? WHERE key_id = ? AND radio_id = ? AND owner = ? "
                "AND generation = ?",
                (
                    expires_ms,
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

    def release_stream_lease(
        self, lease: Lease, *, play_asset: str | None, play_seen_ms: int | None
    ) -> None:
        """Expire the lease now; the row keeps the song playing for the next holder."""
        with self.transaction() as conn:
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

    def stream_lease_held(self, lease: Lease) -> bool:
        """Whether nobody took the lease over since ``lease`` was taken."""
        rows = self.execute(
            "SELECT owner, generation FROM audd_stream_leases WHERE key_id = ? AND radio_id = ?",
            (lease.key_id, lease.radio_id),
        )
        if not rows:
            return False
        r = rows[0]
        return bool(r["owner"] == lease.owner and int(r["generation"]) == lease.generation)

    def stream_lease_holders(self, now_ms: int) -> dict[tuple[int, int], tuple[str, int]]:
        """(key_id, radio_id) -> (owner, expires_ms) of every lease live at ``now_ms``."""
        rows = self.execute(
            "SELECT key_id, radio_id, owner, expires_ms FROM audd_stream_leases "
            "WHERE expires_ms > ?",
            (now_ms,),
        )
        return {
            (int(r["key_id"]), int(r["radio_id"])): (str(r["owner"]), int(r["expires_ms"]))
            for r in rows
        }

    def running_streams(self, key_id: int, now_ms: int) -> set[int]:
        """radio_ids of ``key_id`` whose monitor (in whichever process) reads audio."""
        rows = self.execute(
            "SELECT radio_id FROM audd_stream_leases WHERE key_id = ? AND running = 1 "
            "AND expires_ms > ?",
            (key_id, now_ms),
        )
        return {int(r["radio_id"]) for r in rows}
