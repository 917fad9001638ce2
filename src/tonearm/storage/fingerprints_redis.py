"""Shared fingerprint index on Redis Cluster (or a single Redis): postings by hash.

Keys of a namespace ``NS`` (one catalog):

- ``ta:{NS.B}:<hash as 8 bytes>`` -- string, the hash's postings packed as little-endian uint64
  ``asset_idx << 32 | frame``, appended to by ingest. ``B`` is one of ``BUCKETS`` buckets
  (a multiplicative hash of the hash): the braces make it the key's hash tag, so a bucket's
  keys share a cluster slot and one ``MGET`` fetches all the query hashes of a bucket; the
  buckets themselves spread over the cluster's slots, i.e. over its shards (moving slots
  with ``redis-cli --cluster reshard`` / ``add-node`` needs no tonearm change).
- ``ta:{NS}:assets`` -- hash ``asset_idx -> "span_frames,n_hashes,asset_id"`` (live assets),
  ``ta:{NS}:ids`` -- hash ``asset_id -> asset_idx``, ``ta:{NS}:dead`` -- set of removed asset
  numbers, ``ta:{NS}:gen`` -- bumped by every removal, ``ta:{NS}:next`` -- asset numbers,
  ``ta:{NS}:nkeys`` -- live postings, ``ta:{NS}:init`` -- backfilled from the store. These
  share one slot (hash tag ``{NS}``) so registering or removing an asset is one atomic
  script.

An asset becomes visible when it is registered, after all its postings are written; a write
cut by a restart is retried under a new asset number (the cut attempt's postings carry a
number that is never registered, so no reader counts them).
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from tonearm.storage.fingerprints import (
    AssetEntry,
    FingerprintIndexUnavailable,
    SharedFingerprintIndex,
    encode_postings,
    group_by_hash,
)

BUCKET_BITS = 9
BUCKETS = 1 << BUCKET_BITS  # hash-tag buckets of the postings keys (MGETs per query: <= this)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_BUCKET_SHIFT = np.uint64(64 - BUCKET_BITS)
WRITE_ATTEMPTS = 3

# Posting keys are the bucket's prefix + the hash as 8 raw bytes; scripts get the bucket's
# anchor key (KEYS[1], the prefix itself: it routes the call to the bucket's slot, and every
# key built from it shares that slot through the hash tag) and the hashes packed in ARGV[1],
# so a call costs the client the same whatever the number of hashes.
# APPEND: ARGV[2] = byte lengths as packed <u4, ARGV[3] = the keys' new postings concatenated
_APPEND = """
local pre, hs, lens, data = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local pos = 1
for i = 1, #hs / 8 do
  local n = struct.unpack('<I4', lens, 4 * i - 3)
  redis.call('APPEND', pre .. string.sub(hs, 8 * i - 7, 8 * i), string.sub(data, pos, pos + n - 1))
  pos = pos + n
end
return #hs / 8
"""
# READ: every key's length as <u4, then every key's postings, in ARGV[1]'s order
_READ = """
local pre, hs = KEYS[1], ARGV[1]
local lens, vals = {}, {}
for i = 1, #hs / 8 do
  local v = redis.call('GET', pre .. string.sub(hs, 8 * i - 7, 8 * i))
  if v then
    lens[i] = struct.pack('<I4', #v)
    vals[#vals + 1] = v
  else
    lens[i] = struct.pack('<I4', 0)
  end
end
return table.concat(lens) .. table.concat(vals)
"""
# compaction's compare-and-set: replace (or drop, when empty) a list still ARGV[1] bytes long;
# SET allocates the exact size, unlike APPEND's greedy growth
_SWAP = """
if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[1]) then return 0 end
if #ARGV[2] == 0 then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""
# KEYS: assets, ids, dead, gen, nkeys; ARGV: asset_id. Tombstones the asset's number.
_DROP = """
local function drop(aid)
  local old = redis.call('HGET', KEYS[2], aid)
  if not old then return false end
  local e = redis.call('HGET', KEYS[1], old)
  redis.call('HDEL', KEYS[1], old)
  redis.call('HDEL', KEYS[2], aid)
  redis.call('SADD', KEYS[3], old)
  redis.call('INCR', KEYS[4])
  if e then
    local n = string.match(e, '^%d+,(%d+),')
    if n then redis.call('DECRBY', KEYS[5], n) end
  end
  return old
end
"""
_UNREGISTER = _DROP + "if drop(ARGV[1]) then return 1 end return 0"
# ARGV: (asset_idx, asset_id, entry, n_hashes) * n: register, replacing older numbers
_REGISTER = (
    _DROP
    + """
for i = 1, #ARGV, 4 do
  drop(ARGV[i + 1])
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  redis.call('HSET', KEYS[2], ARGV[i + 1], ARGV[i])
  redis.call('INCRBY', KEYS[5], ARGV[i + 3])
end
return #ARGV / 4
"""
)


def buckets_of(uniq: np.ndarray) -> np.ndarray:
    """Bucket of every hash (uint64 in, int64 out): Fibonacci hashing, so any bit pattern of
    the hashes spreads evenly."""
    with np.errstate(over="ignore"):
        return ((np.asarray(uniq, np.uint64) * _GOLDEN) >> _BUCKET_SHIFT).astype(np.int64)


def _redis_errors() -> tuple[type[BaseException], ...]:
    """What an engine that is down, restarting or failing over raises (not our bugs)."""
    from redis import exceptions as x

    return (
        x.ConnectionError,  # includes BusyLoadingError (a restarted node loading)
        x.TimeoutError,
        x.ClusterError,  # includes ClusterDownError, MasterDownError
        x.TryAgainError,
        x.RedisClusterException,  # no node of the cluster could be reached
        OSError,
    )


class RedisFingerprintIndex(SharedFingerprintIndex):
    """Shared fingerprint index on Redis; ``url`` names any node of a cluster (or a plain
    Redis: detected)."""

    def __init__(self, url: str, namespace: str, timeout_s: float = 5.0) -> None:
        super().__init__()
        self.url = url
        self.ns = namespace
        self.timeout_s = timeout_s
        self._client: Any = None
        self._cluster = False
        self._scripts: dict[str, Any] = {}
        m = f"ta:{{{namespace}}}:"
        self.k_assets, self.k_ids, self.k_dead = m + "assets", m + "ids", m + "dead"
        self.k_gen, self.k_next, self.k_nkeys, self.k_init = (
            m + "gen",
            m + "next",
            m + "nkeys",
            m + "init",
        )
        self._meta = [self.k_assets, self.k_ids, self.k_dead, self.k_gen, self.k_nkeys]
        self._bucket_prefix = [f"ta:{{{namespace}.{b}}}:" for b in range(BUCKETS)]
        self._bucket_slots: dict[int, int] = {}

    def __repr__(self) -> str:
        return f"RedisFingerprintIndex({self.url}, ns={self.ns})"

    # -- connection -----------------------------------------------------------------------
    def client(self) -> Any:
        if self._client is None:
            import redis
            from redis.backoff import ExponentialBackoff
            from redis.cluster import RedisCluster
            from redis.retry import Retry

            kw: dict[str, Any] = {
                "socket_timeout": self.timeout_s,
                "socket_connect_timeout": min(2.0, self.timeout_s),
            }
            try:
                probe = redis.Redis.from_url(self.url, **kw)
                try:  # a cluster node, or one plain Redis?
                    self._cluster = bool(probe.info("cluster").get("cluster_enabled"))
                finally:
                    probe.close()
                if self._cluster:
                    u = urlsplit(self.url)  # a cluster has only db 0: drop any /N
                    c: Any = RedisCluster.from_url(
                        urlunsplit((u.scheme, u.netloc, "", u.query, "")),
                        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                        **kw,
                    )
                else:
                    c = redis.Redis.from_url(self.url, **kw)
            except _redis_errors() as e:
                raise FingerprintIndexUnavailable(f"redis {self.url}: {e}") from e
            self._client = c
            self._scripts = {
                "register": c.register_script(_REGISTER),
                "unregister": c.register_script(_UNREGISTER),
            }
        return self._client

    def _call(self, fn: Any) -> Any:
        """Run ``fn(client)``; engine failures become FingerprintIndexUnavailable."""
        try:
            return fn(self.client())
        except FingerprintIndexUnavailable:
            raise
        except _redis_errors() as e:
            raise FingerprintIndexUnavailable(f"redis {self.url}: {type(e).__name__}: {e}") from e

    def close(self) -> None:
        if self._client is not None:
            with suppress(Exception):  # closing a client of a dead server: nothing to keep
                self._client.close()
            self._client = None

    # -- size -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self._call(lambda c: c.hlen(self.k_assets)))

    def __contains__(self, asset_id: object) -> bool:
        return bool(self._call(lambda c: c.hexists(self.k_ids, str(asset_id))))

    @property
    def n_keys(self) -> int:
        return int(self._call(lambda c: c.get(self.k_nkeys)) or 0)

    @property
    def initialized(self) -> bool:
        return bool(self._call(lambda c: c.exists(self.k_init)))

    def mark_initialized(self) -> None:
        self._call(lambda c: c.set(self.k_init, "1"))

    # -- reads ----------------------------------------------------------------------------
    def _by_node(self, c: Any, buckets: list[int]) -> list[tuple[Any, list[int]]]:
        """Buckets grouped by the node that serves them, each with a plain client of that
        node: commands go there directly (one slot per bucket, so redis-py's per-key slot
        checks, which cost more than the round trip, are skipped)."""
        if not self._cluster:
            return [(c, buckets)]
        from redis.crc import key_slot

        groups: dict[str, tuple[Any, list[int]]] = {}
        for b in buckets:
            slot = self._bucket_slots.get(b)
            if slot is None:
                slot = self._bucket_slots[b] = key_slot(self._bucket_prefix[b].encode())
            node = c.nodes_manager.get_node_from_slot(slot)
            if node.redis_connection is None:
                c.nodes_manager.initialize()
                node = c.nodes_manager.get_node_from_slot(slot)
            groups.setdefault(node.name, (node.redis_connection, []))[1].append(b)
        return list(groups.values())

    def _per_bucket(self, buckets: list[int], command: Any) -> dict[int, Any]:
        """Run ``command(pipe, bucket)`` for every bucket on the node serving it; a changed
        topology (MOVED/ASK after resharding or failover) refreshes the slot map and runs
        the round once more."""
        from redis.exceptions import AskError, MovedError, TryAgainError

        def run(c: Any) -> dict[int, Any]:
            out: dict[int, Any] = {}
            for client, bs in self._by_node(c, buckets):
                pipe = client.pipeline(transaction=False)
                for b in bs:
                    command(pipe, b)
                for b, r in zip(bs, pipe.execute(), strict=True):
                    out[b] = r
            return out

        try:
            return dict(self._call(run))
        except FingerprintIndexUnavailable as e:
            if not isinstance(e.__cause__, (MovedError, AskError, TryAgainError)):
                raise
        if self._cluster:
            self._call(lambda c: c.nodes_manager.initialize())
        return dict(self._call(run))

    def _fetch(self, uniq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        b = buckets_of(uniq)
        order = np.argsort(b, kind="stable")
        cuts = np.flatnonzero(np.diff(b[order])) + 1
        groups = {int(b[g[0]]): g for g in np.split(order, cuts) if len(g)}

        hbytes = np.ascontiguousarray(uniq, "<u8")

        def read(pipe: Any, bucket: int) -> None:
            g = groups[bucket]
            pipe.execute_command("EVAL", _READ, 1, self._bucket_prefix[bucket], hbytes[g].tobytes())

        gen = int(self._call(lambda c: c.get(self.k_gen)) or 0)
        replies = self._per_bucket(list(groups), read)
        counts = np.zeros(len(uniq), np.int64)
        order_parts: list[np.ndarray] = []
        data_parts: list[bytes] = []
        for bucket, g in groups.items():
            blob = replies[bucket]
            lens = np.frombuffer(blob, "<u4", count=len(g)).astype(np.int64)
            counts[g] = lens >> 3
            order_parts.append(g)
            data_parts.append(blob[4 * len(g) :])
        # postings stay in arrival order (bucket by bucket): only where each hash's start
        raw = np.frombuffer(b"".join(data_parts), "<u8")
        first = np.zeros(len(uniq), np.int64)
        if len(raw):
            g_all = np.concatenate(order_parts)
            c_b = counts[g_all]
            first[g_all] = np.cumsum(c_b) - c_b
        return raw, first, counts, gen

    def _entries(self, idxs: list[int]) -> dict[int, AssetEntry]:
        got = self._call(lambda c: c.hmget(self.k_assets, [str(i) for i in idxs]))
        out = {}
        for i, v in zip(idxs, got, strict=True):
            if v:
                span, n, aid = v.decode().split(",", 2)
                out[i] = AssetEntry(aid, int(span), int(n))
        return out

    def _dead_all(self) -> set[int]:
        return {int(x) for x in self._call(lambda c: c.smembers(self.k_dead))}

    # -- writes ---------------------------------------------------------------------------
    def _append(self, uniq: np.ndarray, postings: np.ndarray, starts: np.ndarray) -> None:
        """Append postings to their hashes' keys: one script per bucket (same slot)."""
        b = buckets_of(uniq)
        order = np.argsort(b, kind="stable")
        cuts = np.flatnonzero(np.diff(b[order])) + 1
        groups = {int(b[g[0]]): g for g in np.split(order, cuts) if len(g)}
        data = np.ascontiguousarray(postings, "<u8").tobytes()

        hbytes = np.ascontiguousarray(uniq, "<u8")

        def write(pipe: Any, bucket: int) -> None:
            g = groups[bucket]
            lo, hi = starts[g], starts[g + 1]
            lens = (8 * (hi - lo)).astype("<u4").tobytes()
            blob = b"".join(data[8 * int(x) : 8 * int(y)] for x, y in zip(lo, hi, strict=True))
            pre = self._bucket_prefix[bucket]
            pipe.execute_command("EVAL", _APPEND, 1, pre, hbytes[g].tobytes(), lens, blob)

        self._per_bucket(list(groups), write)

    def add_many(self, items: list[tuple[str, np.ndarray, np.ndarray]]) -> list[int]:
        """Add (or replace) several assets in one round of writes; returns their numbers."""
        if not items:
            return []
        last: Exception | None = None
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return self._add_once(items)
            except FingerprintIndexUnavailable as e:  # a restart mid-write: new numbers
                last = e
                time.sleep(0.2 * (attempt + 1))
                self.close()
        assert last is not None
        raise last

    def _add_once(self, items: list[tuple[str, np.ndarray, np.ndarray]]) -> list[int]:
        top = int(self._call(lambda c: c.incrby(self.k_next, len(items))))
        idxs = list(range(top - len(items) + 1, top + 1))
        hs, ps, argv = [], [], []
        for idx, (aid, h, t) in zip(idxs, items, strict=True):
            hs.append(np.asarray(h).astype(np.uint64))
            ps.append(encode_postings(idx, t))
            span = int(np.max(t)) + 1 if len(t) else 0
            argv += [str(idx), str(aid), f"{span},{len(h)},{aid}", str(len(h))]
        uniq, post, starts = group_by_hash(np.concatenate(hs), np.concatenate(ps))
        self._append(uniq, post, starts)
        self._call(lambda c: self._scripts["register"](keys=self._meta, args=argv))
        return idxs

    def reserve(self, n: int) -> np.ndarray:
        top = int(self._call(lambda c: c.incrby(self.k_next, n)))
        return np.arange(top - n + 1, top + 1, dtype=np.int64)

    def write_postings(self, uniq: np.ndarray, postings: np.ndarray, starts: np.ndarray) -> None:
        self._append(np.asarray(uniq, np.uint64), postings, starts)

    def register(self, entries: list[tuple[int, AssetEntry]]) -> None:
        for k in range(0, len(entries), 500):
            argv: list[str] = []
            for idx, e in entries[k : k + 500]:
                argv += [str(idx), e.asset_id, f"{e.span_frames},{e.n_hashes},{e.asset_id}"]
                argv.append(str(e.n_hashes))
            self._call(lambda c, a=argv: self._scripts["register"](keys=self._meta, args=a))

    def add(self, asset_id: str, hashes: np.ndarray, times: np.ndarray) -> None:
        self.add_many([(str(asset_id), hashes, times)])

    def remove(self, asset_id: str) -> bool:
        done = self._call(
            lambda c: self._scripts["unregister"](keys=self._meta, args=[str(asset_id)])
        )
        return bool(done)

    def _nodes(self, c: Any) -> list[Any]:
        """A plain client per primary (the client itself for a single Redis)."""
        if not self._cluster:
            return [c]
        return [n.redis_connection for n in c.get_primaries() if n.redis_connection is not None]

    def compact(self, batch: int = 500) -> int:
        """Rewrite every posting list without removed assets' postings and at its exact
        size (``APPEND`` grows strings greedily, up to twice their length). A list that an
        ingest appended to meanwhile is left for the next run (compare-and-set on its
        length). Returns the postings dropped."""
        dead = np.array(sorted(self._dead_all()), np.int64)
        dropped = 0

        def run(c: Any) -> None:
            nonlocal dropped
            for node in self._nodes(c):
                keys: list[bytes] = []
                for k in node.scan_iter(match=f"ta:{{{self.ns}.*", count=1000):
                    keys.append(k)
                    if len(keys) >= batch:
                        dropped += self._compact_keys(node, keys, dead)
                        keys = []
                if keys:
                    dropped += self._compact_keys(node, keys, dead)

        self._call(run)
        return dropped

    @staticmethod
    def _compact_keys(node: Any, keys: list[bytes], dead: np.ndarray) -> int:
        pipe = node.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        vals = pipe.execute()
        pipe = node.pipeline(transaction=False)
        dropped = 0
        for k, v in zip(keys, vals, strict=True):
            if v is None:
                continue
            p = np.frombuffer(v, "<u8")
            if len(dead):
                keep = ~np.isin((p >> np.uint64(32)).astype(np.int64), dead)
                dropped += int(len(p) - keep.sum())
                p = p[keep]
            pipe.execute_command("EVAL", _SWAP, 1, k, len(v), p.tobytes())
        pipe.execute()
        return dropped

    def clear(self) -> None:
        """Drop the whole namespace (rebuilds, tests)."""

        # asset numbers and the generation survive: another node may still cache entries of
        # old numbers, which must never be handed out again
        keep = {self.k_next.encode(), self.k_gen.encode()}

        def run(c: Any) -> None:
            patterns = [f"ta:{{{self.ns}}}:*", f"ta:{{{self.ns}.*"]
            kw: dict[str, Any] = {"target_nodes": c.PRIMARIES} if self._cluster else {}
            for pat in patterns:
                batch: list[Any] = []
                for k in c.scan_iter(match=pat, count=1000, **kw):
                    if k in keep:
                        continue
                    batch.append(k)
                    if len(batch) >= 1000:
                        self._unlink(c, batch)
                        batch = []
                if batch:
                    self._unlink(c, batch)
            c.incr(self.k_gen)

        self._call(run)
        self._reset_cache()

    @staticmethod
    def _unlink(c: Any, keys: list[Any]) -> None:
        pipe = c.pipeline(transaction=False)
        for k in keys:
            pipe.unlink(k)
        pipe.execute()
