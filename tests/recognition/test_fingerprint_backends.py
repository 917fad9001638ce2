"""Fingerprint index backends: one conformance suite for the embedded index and every shared
engine available here (Redis Cluster: TONEARM_TEST_REDIS_CLUSTER_URL; plain Redis:
TONEARM_TEST_REDIS_URL; PostgreSQL: TONEARM_TEST_POSTGRES_URL), plus engine faults."""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tonearm.recognition.index import FingerprintIndex as EmbeddedIndex
from tonearm.recognition.shared_index import SharedIndex
from tonearm.storage.fingerprints import FingerprintIndex, FingerprintIndexUnavailable

SHARED = ["redis-cluster", "redis", "postgres"]


def _redis_single_url() -> str | None:
    return os.environ.get("TONEARM_TEST_REDIS_URL")


def _open(kind: str, ns: str) -> tuple[Any, Callable[[], None]]:
    """(a backend of ``kind`` on namespace ``ns``, its cleanup); skips when unavailable."""
    if kind == "redis-cluster" or kind == "redis":
        from tonearm.storage.fingerprints_redis import RedisFingerprintIndex

        env = (
            "TONEARM_TEST_REDIS_CLUSTER_URL"
            if kind == "redis-cluster"
            else "TONEARM_TEST_REDIS_URL"
        )
        url = os.environ.get(env)
        if not url:
            pytest.skip(f"{env} not set")
        r = RedisFingerprintIndex(url, ns, timeout_s=3.0)
        return r, r.close
    if kind == "postgres":
        from tonearm.storage.fingerprints_pg import PgFingerprintIndex
        from tonearm.storage.postgres import PostgresStore

        url = os.environ.get("TONEARM_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("TONEARM_TEST_POSTGRES_URL not set")
        store = PostgresStore(url, schema=f"fp_{ns}", pool_size=2)
        return PgFingerprintIndex(store, timeout_s=3.0), store.close
    raise AssertionError(kind)


@pytest.fixture
def node_factory() -> Iterator[Callable[[str, str], Any]]:
    """Opens backends (several per namespace: several nodes); cleans every namespace up."""
    opened: list[tuple[str, Any, Callable[[], None]]] = []

    def make(kind: str, ns: str) -> Any:
        ix, close = _open(kind, ns)
        opened.append((kind, ix, close))
        return ix

    yield make
    for kind, ix, close in reversed(opened):  # the first node of a namespace cleans it up last
        try:
            if kind == "postgres":
                ix.store.drop_schema()
            else:
                ix.clear()
        except FingerprintIndexUnavailable:
            pass
        close()


@pytest.fixture(params=["local", *SHARED])
def any_index(request: pytest.FixtureRequest, node_factory: Any) -> Any:
    if request.param == "local":
        return EmbeddedIndex()
    return node_factory(request.param, uuid.uuid4().hex[:12])


@pytest.fixture(params=SHARED)
def shared(request: pytest.FixtureRequest, node_factory: Any) -> tuple[Any, Callable[[], Any]]:
    """(node 1, a factory of further nodes on the same namespace)."""
    ns = uuid.uuid4().hex[:12]
    kind = request.param
    return node_factory(kind, ns), lambda: node_factory(kind, ns)


def _song(seed: int, n: int = 4000, hash_bits: int = 21) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 1 << hash_bits, n).astype(np.uint64),
        np.sort(rng.integers(0, 20000, n)).astype(np.int64),
    )


def _postings(ix: Any, q: np.ndarray) -> set[tuple[int, str, int]]:
    owner, asset, frame = ix.lookup(q)
    return {
        (int(o), str(ix.asset_ids[int(a)]), int(f))
        for o, a, f in zip(owner, asset, frame, strict=True)
    }


def _expected(
    q: np.ndarray, songs: dict[str, tuple[np.ndarray, np.ndarray]]
) -> set[tuple[int, str, int]]:
    out = set()
    for i, h in enumerate(q):
        for aid, (hs, ts) in songs.items():
            for t in ts[hs == h]:
                out.add((i, aid, int(t)))
    return out


# -- conformance: every backend ---------------------------------------------------------------
def test_add_lookup_count(any_index: Any) -> None:
    assert isinstance(any_index, FingerprintIndex)
    songs = {"a1": _song(1), "a2": _song(2)}
    for aid, (h, t) in songs.items():
        any_index.add(aid, h, t)
    assert len(any_index) == 2 and "a1" in any_index and "zz" not in any_index
    assert any_index.n_keys == 8000
    q = np.concatenate([songs["a1"][0][:300], songs["a2"][0][100:200], np.array([7, 7], np.uint64)])
    got = _postings(any_index, q)
    assert got == _expected(q, songs) and len(got) >= 400


def test_replace_and_remove(any_index: Any) -> None:
    h1, t1 = _song(3)
    h2, t2 = _song(4)
    any_index.add("a", h1, t1)
    any_index.add("b", h2, t2)
    any_index.add("a", h2[:500], t2[:500])  # same id again: replaces
    assert len(any_index) == 2
    assert {a for _, a, _ in _postings(any_index, h1[:200])} <= {"b"}
    assert {a for _, a, _ in _postings(any_index, h2[:100])} == {"a", "b"}
    assert any_index.remove("a") and not any_index.remove("a") and "a" not in any_index
    assert {a for _, a, _ in _postings(any_index, h2[:100])} == {"b"}
    assert any_index.remove("b") and len(any_index) == 0
    assert _postings(any_index, h2[:100]) == set()


# -- shared engines ---------------------------------------------------------------------------
def test_hashes_are_opaque_uint64(shared: Any) -> None:
    ix, _ = shared
    h = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 1, 2**40 + 3], np.uint64)
    t = np.arange(len(h), dtype=np.int64) * 10
    ix.add("wide", h, t)
    q = np.array([2**64 - 1, 2**63, 5, 0], np.uint64)
    assert _postings(ix, q) == {(0, "wide", 40), (1, "wide", 30), (3, "wide", 0)}


def test_every_node_sees_adds_and_removes_at_once(shared: Any) -> None:
    n1, more = shared
    n2 = more()
    h, t = _song(5)
    assert _postings(n2, h[:200]) == set()  # n2 has answered: nothing cached can hide a change
    n1.add("s", h, t)
    assert {a for _, a, _ in _postings(n2, h[:200])} == {"s"} and len(n2) == 1
    assert n1.remove("s")
    assert _postings(n2, h[:200]) == set() and "s" not in n2
    h2, t2 = _song(6)
    n2.add("s", h2, t2)  # re-added (another recording) through the other node
    assert {a for _, a, _ in _postings(n1, h2[:200])} == {"s"}
    assert _postings(n1, h[:200]) == _expected(h[:200], {"s": (h2, t2)})
    n3 = more()  # a node that starts empty answers at once
    assert {a for _, a, _ in _postings(n3, h2[:50])} == {"s"}


def test_ranges_equal_the_embedded_index(shared: Any) -> None:
    """What voting reads (``ranges``) is the same on a shared engine and in memory."""
    ix, _ = shared
    local = EmbeddedIndex()
    view = SharedIndex(ix)
    songs = {f"s{k}": _song(10 + k) for k in range(4)}
    for aid, (h, t) in songs.items():
        local.add(aid, h, t)
        view.add(aid, h, t)
    local.remove("s2")
    view.remove("s2")
    q = np.concatenate([songs[f"s{k}"][0][:150] for k in range(4)])

    def seen(ix_: Any) -> list[list[tuple[str, int]]]:
        sources, dead = ix_.ranges(q)
        out: list[list[tuple[str, int]]] = [[] for _ in q]
        for src in sources:
            for i in range(len(q)):
                assets, frames = src.decode(src.keys[src.lo[i] : src.hi[i]])
                for a, f in zip(assets.tolist(), frames.tolist(), strict=True):
                    if a < len(dead) and not dead[a]:
                        out[i].append((str(ix_.asset_ids[a]), f))
        return [sorted(x) for x in out]

    assert seen(view) == seen(local)
    assert len(view) == len(local) == 3
    for ix_ in (view, local):
        _, asset, _ = ix_.lookup(songs["s1"][0][:1])
        assert ix_.span_frames.get(int(asset[0]), 0) == int(songs["s1"][1].max()) + 1


def test_clear_never_reuses_asset_numbers(shared: Any) -> None:
    ix, more = shared
    h, t = _song(7)
    ix.add("x", h, t)
    other = more()
    old = {a for _, a, _ in _postings(other, h[:50])}
    owner, asset, _ = other.lookup(h[:50])
    first_idx = int(asset.max())
    ix.clear()
    assert len(ix) == 0 and _postings(other, h[:50]) == set() and old == {"x"}
    ix.add("y", h, t)
    owner, asset, _ = other.lookup(h[:50])
    assert int(asset.min()) > first_idx
    assert {a for _, a, _ in _postings(other, h[:50])} == {"y"}


def test_compaction_keeps_lookups(shared: Any) -> None:
    ix, more = shared
    songs = {f"c{k}": _song(20 + k) for k in range(3)}
    for aid, (h, t) in songs.items():
        ix.add(aid, h, t)
    ix.remove("c1")
    q = np.concatenate([s[0][:200] for s in songs.values()])
    before = _postings(ix, q)
    assert ix.compact() == 4000  # c1's postings dropped
    assert _postings(ix, q) == before == _postings(more(), q)
    assert ix.compact() == 0
    ix.add("c3", *_song(30))  # appending after a compaction still works
    assert {a for _, a, _ in _postings(ix, _song(30)[0][:50])} == {"c3"}


def test_postgres_compaction_merges_rows(node_factory: Any) -> None:
    ix = node_factory("postgres", uuid.uuid4().hex[:12])
    for k in range(3):
        ix.add(f"c{k}", *_song(20 + k))
    ix.remove("c1")
    rows = ix.store.execute("SELECT count(*) FROM fingerprint_postings")[0][0]
    ix.compact()
    after = ix.store.execute("SELECT count(*), min(asset_idx) FROM fingerprint_postings")[0]
    assert after[0] < rows and after[1] == 0
    assert not ix.store.execute("SELECT 1 FROM fingerprint_assets WHERE deleted")


# -- faults -----------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_cluster_port() -> int:
    """A free port for a Redis Cluster node: its bus listens 10,000 above it, so the port
    must be at most 55535 (the kernel's ephemeral ports often are not) and both free."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 55536)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def test_postgres_n_keys_costs_no_round_trip_and_follows_writes(
    node_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recognition asks for ``n_keys`` on every query: a PostgreSQL node answers it from
    the state row its last lookup read, and its own writes, or another node's seen at its
    next lookup, change the answer."""
    ns = uuid.uuid4().hex[:12]
    n1 = node_factory("postgres", ns)
    n2 = node_factory("postgres", ns)
    reads: list[str] = []
    state = type(n1)._state
    monkeypatch.setattr(type(n1), "_state", lambda self, col: reads.append(col) or state(self, col))
    h, t = _song(11)
    n1.add("a", h, t)
    assert n1.n_keys == 4000 and n1.n_keys == 4000
    assert reads.count("n_keys") == 1  # the second answer was cached
    _postings(n1, h[:50])
    assert n1.n_keys == 4000
    assert reads.count("n_keys") == 1  # a lookup refreshed it without a read of its own
    h2, t2 = _song(12, n=1000)
    n2.add("b", h2, t2)  # another node's ingest: seen at n1's next lookup
    _postings(n1, h[:50])
    assert n1.n_keys == 5000
    n1.add("c", h2[:300], t2[:300])  # this node's own ingest: seen at once
    assert n1.n_keys == 5300
    assert n1.remove("a")  # and its own delete
    assert n1.n_keys == 1300
    assert n2.remove("b")
    _postings(n1, h2[:50])
    assert n1.n_keys == 300


def test_engine_down_fails_fast_redis() -> None:
    from tonearm.storage.fingerprints_redis import RedisFingerprintIndex

    ix = RedisFingerprintIndex(f"redis://127.0.0.1:{_free_port()}", "down", timeout_s=1.0)
    h, t = _song(8)
    t0 = time.monotonic()
    with pytest.raises(FingerprintIndexUnavailable):
        ix.lookup(h[:10])
    with pytest.raises(FingerprintIndexUnavailable):
        ix.add("a", h, t)  # reported, after its retries
    assert time.monotonic() - t0 < 20


def test_engine_down_fails_fast_postgres(node_factory: Any) -> None:
    ix = node_factory("postgres", uuid.uuid4().hex[:12])
    h, t = _song(9)
    ix.add("a", h, t)
    good = ix.store.pool.url
    ix.store.close()
    # the engine is away: the store's pool reconnects to an address where nothing listens
    ix.store.pool.url = f"postgresql://postgres@127.0.0.1:{_free_port()}/none"
    try:
        t0 = time.monotonic()
        with pytest.raises(FingerprintIndexUnavailable):
            ix.lookup(h[:10])
        with pytest.raises(FingerprintIndexUnavailable):
            ix.add("b", h, t)
        assert time.monotonic() - t0 < 30
    finally:
        ix.store.pool.url = good
    assert {a for _, a, _ in _postings(ix, h[:10])} == {"a"}  # back once it is reachable


@pytest.fixture
def one_node_cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A private one-master Redis Cluster (all 16384 slots) that a test may stop and restart."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        pytest.skip("redis-server not installed")
    port = _free_cluster_port()
    d = tmp_path / "redis"
    d.mkdir()

    def start() -> None:
        subprocess.run(
            [server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(d),
             "--daemonize", "yes", "--cluster-enabled", "yes", "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--logfile", str(d / "log")],
            check=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120  # a loaded machine may take a while
        info = b""
        while time.monotonic() < deadline:
            r = subprocess.run([cli, "-p", str(port), "cluster", "info"], capture_output=True)
            info = r.stdout
            if b"cluster_state:ok" in info:
                return
            if b"cluster_slots_assigned:0" in info:
                subprocess.run(
                    [cli, "-p", str(port), "cluster", "addslotsrange", "0", "16383"],
                    capture_output=True,
                )
            time.sleep(0.2)
        log = (d / "log").read_text()[-1500:] if (d / "log").exists() else "(no log)"
        raise RuntimeError(f"one-node cluster on port {port} did not come up:\n{info!r}\n{log}")

    def stop() -> None:
        subprocess.run([cli, "-p", str(port), "shutdown"], capture_output=True)

    start()
    yield {"url": f"redis://127.0.0.1:{port}", "start": start, "stop": stop}
    stop()


def test_redis_node_restart_mid_traffic(one_node_cluster: dict[str, Any]) -> None:
    from tonearm.storage.fingerprints_redis import RedisFingerprintIndex

    ix = RedisFingerprintIndex(one_node_cluster["url"], "restart", timeout_s=1.0)
    h, t = _song(11)
    ix.add("a", h, t)
    assert {a for _, a, _ in _postings(ix, h[:20])} == {"a"}
    one_node_cluster["stop"]()
    t0 = time.monotonic()
    with pytest.raises(FingerprintIndexUnavailable):
        ix.lookup(h[:20])
    with pytest.raises(FingerprintIndexUnavailable):
        ix.add("b", h, t)  # reported, never silently lost
    assert time.monotonic() - t0 < 20
    one_node_cluster["start"]()
    deadline = time.monotonic() + 60  # generous: a loaded CI machine replays the AOF slowly
    while True:  # the client finds the node again by itself
        try:
            got = _postings(ix, h[:20])
            break
        except FingerprintIndexUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert {a for _, a, _ in got} == {"a"}  # appendonly: what was written survived
    ix.add("b", h[:100], t[:100])
    assert "b" in ix and len(ix) == 2
