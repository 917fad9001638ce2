"""Stream monitors across processes: every stream is monitored by exactly one stream manager
(the holder of its lease), however many API servers and workers run one, and a dead
holder's streams are taken over. Two managers on one store stand for two processes; run on
SQLite and, when TONEARM_TEST_POSTGRES_URL is set, on PostgreSQL."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audd_testkit import SR, Receiver, build_catalog, live_server, serve, validate

from tonearm.catalog.context import Catalog
from tonearm.catalog.keys import create_key
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.recognition import streams
from tonearm.recognition.streams import MonitorConfig, StreamManager
from tonearm.settings import Settings

PG_URL = os.environ.get("TONEARM_TEST_POSTGRES_URL")

FAST = MonitorConfig(
    window_s=6.0,
    hop_s=2.0,
    min_hits=2,
    end_gap_s=6.0,
    no_music_s=30.0,
    timeout_s=5.0,
    backoff_initial_s=0.2,
    backoff_max_s=0.4,
)
LEASE_S, HEARTBEAT_S = 3.0, 0.3
SONGS = [(41, 30.0), (42, 15.0), (43, 15.0)]  # (seed, seconds): the programme, in order


def wait_for(pred: Callable[[], bool], timeout_s: float = 90.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared(
    request: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, dict[str, Any]]]:
    """Settings of a store two 'processes' share, with three catalog songs and a key."""
    data = tmp_path_factory.mktemp(f"leases-{request.param}") / "data"
    schema = None
    if request.param == "sqlite":
        settings = Settings(data=data, allow_private_urls=True, decode_timeout_s=30)
    else:
        if not PG_URL:
            pytest.skip("PostgreSQL run needs TONEARM_TEST_POSTGRES_URL")
        schema = f"streams_{uuid.uuid4().hex[:10]}"
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}schema={schema}"
        settings = Settings(
            data=data, database_url=url, allow_private_urls=True, decode_timeout_s=30
        )
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    songs = build_catalog(catalog, [(seed, dur, {}) for seed, dur in SONGS])
    mix = np.concatenate([songs.songs[a] for a in songs.songs])
    key, rec = create_key(catalog.store, "radio")
    info = {
        "mp3": encode(Signal(mix, SR), "mp3_128"),
        "duration_s": mix.size / SR,
        "key": key,
        "key_id": rec.key_id,
        "titles": [f"Song {seed}" for seed, _ in SONGS],
    }
    try:
        yield settings, info
    finally:
        catalog.close()
        if schema is not None:
            from tonearm.storage.postgres import PostgresStore

            assert PG_URL is not None
            PostgresStore(PG_URL, schema=schema).drop_schema()


@pytest.fixture
def two(shared: tuple[Settings, dict[str, Any]]) -> Iterator[list[Catalog]]:
    """Two catalogs (two processes' connections) on the shared store, no streams."""
    settings, _ = shared
    cats = [Catalog.open(settings), Catalog.open(settings)]
    yield cats
    for r in streams.list_streams(cats[0].store):
        streams.delete_stream(cats[0].store, r.key_id, r.radio_id)
    for c in cats:
        c.close()


def _manager(catalog: Catalog, name: str) -> StreamManager:
    return StreamManager(
        catalog,
        FAST,
        callback_backoff_s=(0.2,),
        lease_s=LEASE_S,
        heartbeat_s=HEARTBEAT_S,
        owner=name,
    )


def _songs(rec: Receiver) -> list[dict[str, Any]]:
    with rec.lock:
        return [b for b in rec.bodies if b.get("status") == "success"]


def _holder(store: Any, key_id: int, radio_id: int) -> str | None:
    held = streams.lease_holders(store).get((key_id, radio_id))
    return held[0] if held else None


def test_lease_is_exclusive_expires_and_is_fenced(
    shared: tuple[Settings, dict[str, Any]], two: list[Catalog]
) -> None:
    _, info = shared
    store = two[0].store
    kid = info["key_id"]
    streams.upsert_stream(store, kid, 1, "http://127.0.0.1:9/x", None, "cat000001")
    a = streams.acquire_lease(store, kid, 1, "A", 0.5)
    assert a is not None and a.generation == 1
    assert streams.acquire_lease(two[1].store, kid, 1, "B", 0.5) is None  # A holds it
    assert streams.renew_lease(store, a, 0.5, running=True, play_asset="7", play_seen_ms=123)
    assert streams.running_streams(store, kid) == {1}
    time.sleep(0.7)  # A stops renewing: its lease expires
    assert streams.running_streams(store, kid) == set()
    b = streams.acquire_lease(two[1].store, kid, 1, "B", 30.0)
    assert b is not None and b.generation == 2
    assert (b.play_asset, b.play_seen_ms) == ("7", 123)  # the song in progress travels
    # A comes back (it was only stalled): it cannot renew nor publish any more
    assert not streams.renew_lease(store, a, 30.0, running=True, play_asset=None, play_seen_ms=0)
    assert not streams.holds_lease(store, a) and streams.holds_lease(store, b)
    # a clean shutdown hands the lease over at once
    streams.release_lease(two[1].store, b, play_asset="9", play_seen_ms=456)
    a2 = streams.acquire_lease(store, kid, 1, "A", 30.0)
    assert a2 is not None and a2.generation == 3 and a2.play_asset == "9"
    # deleting the stream removes its lease
    streams.delete_stream(store, kid, 1)
    assert not streams.holds_lease(store, a2)


def test_two_managers_one_callback_per_song_and_takeover(
    shared: tuple[Settings, dict[str, Any]], two: list[Catalog]
) -> None:
    _, info = shared
    kid = info["key_id"]
    rec = Receiver()
    managers = {"A": _manager(two[0], "A"), "B": _manager(two[1], "B")}
    ctx1, radio1 = live_server(info["mp3"], info["duration_s"], speed=4.0)
    ctx2, radio2 = live_server(info["mp3"], info["duration_s"], speed=4.0)
    try:
        with serve(rec.handler()) as cb, ctx1 as base1, ctx2 as base2:
            streams.set_callback_url(two[0].store, kid, cb + "/hook")
            # 1. both managers run: the stream is monitored once, one callback per song
            streams.upsert_stream(two[0].store, kid, 1, base1 + "/live", None, "cat000001")
            for m in managers.values():
                m.start_all()
            assert wait_for(lambda: len(_songs(rec)) >= 3)
            owner = _holder(two[0].store, kid, 1)
            assert owner in managers
            time.sleep(2 * HEARTBEAT_S)
            songs = _songs(rec)
            assert [b["result"]["results"][0]["title"] for b in songs] == info["titles"]
            assert radio1.served == 1  # only one process ever listened
            for b in songs:
                validate(b, "StreamCallbackResultEnvelope")
                assert b["result"]["radio_id"] == 1
            other = next(n for n in managers if n != owner)
            assert not managers[other].monitors  # the other manager monitors nothing
            streams.delete_stream(two[0].store, kid, 1)
            assert wait_for(lambda: not managers[owner].monitors, 10)

            # 2. the holder dies right after announcing the first song: the other manager
            # takes over within the lease and the first song is not announced twice
            with rec.lock:
                rec.bodies.clear()
            streams.upsert_stream(two[0].store, kid, 2, base2 + "/live", "before", "cat000002")
            for m in managers.values():
                m.ensure(streams.get_stream(two[0].store, kid, 2))  # type: ignore[arg-type]
            assert wait_for(lambda: len(_songs(rec)) >= 1)
            first = _holder(two[0].store, kid, 2)
            assert first in managers
            managers[first].shutdown(release=False)  # as if killed: the lease stays
            survivor = next(n for n in managers if n != first)
            # taken over once the lease has expired (waited for with a generous margin)
            assert wait_for(lambda: _holder(two[0].store, kid, 2) == survivor, 4 * LEASE_S)
            assert wait_for(lambda: len(_songs(rec)) >= 3)
            time.sleep(2 * HEARTBEAT_S)
            titles = [b["result"]["results"][0]["title"] for b in _songs(rec)]
            assert titles == info["titles"]
            assert radio2.served == 2  # the first holder, then the survivor
            for b in _songs(rec):
                validate(b, "StreamCallbackResultEnvelope")
                assert "play_length" not in b["result"]
    finally:
        for m in managers.values():
            m.shutdown()


def test_stream_running_is_seen_from_any_process(
    shared: tuple[Settings, dict[str, Any]], two: list[Catalog], tmp_path: Path
) -> None:
    """getStreams' stream_running comes from the holder's lease, in whichever process."""
    _, info = shared
    kid = info["key_id"]
    ctx, _ = live_server(info["mp3"], info["duration_s"], speed=1.0)
    a = _manager(two[0], "A")
    b = _manager(two[1], "B")
    try:
        with ctx as base:
            streams.upsert_stream(two[0].store, kid, 3, base + "/live", None, "cat000003")
            a.start_all()
            assert (kid, 3) in a.monitors
            b.start_all()  # started later: A holds the stream
            assert not b.monitors
            assert wait_for(lambda: b.is_running(kid, 3), 20)
            a.shutdown()  # a clean shutdown: B takes the stream at its next heartbeat
            assert wait_for(lambda: (kid, 3) in b.monitors, 10 * HEARTBEAT_S + 5)
    finally:
        a.shutdown()
        b.shutdown()
