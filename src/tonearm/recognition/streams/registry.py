"""The stream registry as the AudD routes see it: callback URLs, streams and longpoll
events (rows in ``storage/streams.py``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from tonearm.storage.records_protocol import RecordStore
from tonearm.storage.streams import StreamRecord

EMPTY_CALLBACK_URL = "https://audd.tech/empty/"  # AudD's "longpoll only" callback URL
EVENT_RETENTION_S = 24 * 3600.0
EVENTS_PER_CATEGORY = 1000


def _utcnow_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _now_ms() -> int:
    return int(time.time() * 1000)


def set_callback_url(store: RecordStore, key_id: int, url: str) -> None:
    store.set_stream_callback_url(key_id, url, _utcnow_iso())


def get_callback_url(store: RecordStore, key_id: int) -> str | None:
    return store.stream_callback_url(key_id)


def upsert_stream(
    store: RecordStore,
    key_id: int,
    radio_id: int,
    url: str,
    callbacks: str | None,
    category: str,
) -> StreamRecord:
    return store.upsert_stream(key_id, radio_id, url, callbacks, category, _utcnow_iso())


def get_stream(store: RecordStore, key_id: int, radio_id: int) -> StreamRecord | None:
    return store.get_stream(key_id, radio_id)


def list_streams(store: RecordStore, key_id: int | None = None) -> list[StreamRecord]:
    return store.list_streams(key_id)


def set_stream_url(store: RecordStore, key_id: int, radio_id: int, url: str) -> bool:
    return store.set_stream_url(key_id, radio_id, url, _utcnow_iso())


def delete_stream(store: RecordStore, key_id: int, radio_id: int) -> bool:
    return store.delete_stream(key_id, radio_id)


def add_event(store: RecordStore, category: str, payload: dict[str, Any]) -> int:
    """Store one event for ``/longpoll/``; returns its timestamp (ms, strictly increasing
    within the category so ``since_time`` never skips or repeats an event). Events older
    than a day, and all but the latest 1000 of the category, are dropped."""
    return store.add_stream_event(
        category,
        payload,
        _now_ms(),
        retention_ms=int(EVENT_RETENTION_S * 1000),
        keep=EVENTS_PER_CATEGORY,
    )


def events_since(
    store: RecordStore, category: str, since_ms: int, limit: int = 1
) -> list[tuple[int, dict[str, Any]]]:
    return store.stream_events_since(category, since_ms, limit)
