"""Stream leases: one monitoring process per stream.

Every API server and ``tonearm worker`` may run a stream manager, and each stream is
monitored by exactly one of them, the holder of its lease (rows in ``storage/streams.py``).
The holder renews the lease every ``heartbeat_s``; a lease not renewed for ``lease_s`` (its
process died) or released (its process shut down) is taken over by another manager at its
next heartbeat. Lease times are wall-clock milliseconds: the hosts' clocks must agree to
well under ``lease_s`` (NTP).
"""

from __future__ import annotations

from tonearm.recognition.streams.registry import _now_ms
from tonearm.storage.records_protocol import RecordStore
from tonearm.storage.streams import Lease


def acquire_lease(
    store: RecordStore, key_id: int, radio_id: int, owner: str, lease_s: float
) -> Lease | None:
    """Take the lease of a stream nobody holds (no row, expired or released); None when a
    live holder has it."""
    now = _now_ms()
    return store.acquire_stream_lease(key_id, radio_id, owner, now + int(lease_s * 1000), now)


def renew_lease(
    store: RecordStore,
    lease: Lease,
    lease_s: float,
    *,
    running: bool,
    play_asset: str | None,
    play_seen_ms: int | None,
) -> bool:
    """Extend the lease (and record the holder's state); False when it was lost (taken
    over after it expired, or the stream was deleted)."""
    return store.renew_stream_lease(
        lease,
        _now_ms() + int(lease_s * 1000),
        running=running,
        play_asset=play_asset,
        play_seen_ms=play_seen_ms,
    )


def release_lease(
    store: RecordStore,
    lease: Lease,
    *,
    play_asset: str | None = None,
    play_seen_ms: int | None = None,
) -> None:
    """Give the lease up now (shutdown): the next manager takes it at its next heartbeat.
    The row stays, with the song playing, for the next holder."""
    store.release_stream_lease(lease, play_asset=play_asset, play_seen_ms=play_seen_ms)


def holds_lease(store: RecordStore, lease: Lease) -> bool:
    """Whether nobody took the lease over (a late heartbeat alone does not lose it: until
    another manager takes it, this holder is still the only one monitoring)."""
    return store.stream_lease_held(lease)


def lease_holders(store: RecordStore) -> dict[tuple[int, int], tuple[str, int]]:
    """(key_id, radio_id) -> (owner, expires_ms) of every live lease."""
    return store.stream_lease_holders(_now_ms())


def running_streams(store: RecordStore, key_id: int) -> set[int]:
    """radio_ids of ``key_id`` whose monitor (in whichever process) is reading audio."""
    return store.running_streams(key_id, _now_ms())
