"""Shared fingerprint index: lookup latency and query wall time, embedded vs Redis Cluster vs
PostgreSQL, at catalog scale with concurrent clients.

    PYTHONPATH=src python bench/recognition_shared.py --songs 10000 --clients 8 \\
        --redis redis://127.0.0.1:7201 --postgres postgresql://postgres@127.0.0.1/db

The catalog: ``--real`` real songs (Debian game music, as bench/recognition.py) fingerprinted
and indexed through the normal ``add`` path, plus ``--songs`` filler songs whose postings
follow real music's hash statistics: each hash's posting count is drawn (Poisson) from a
model fitted on the real songs' hashes (the product of the frequencies of the hash's high and
low halves, so any hash layout works), each posting on a random filler song at a random frame
of its 2.5-6 min length. What a lookup costs depends on how many postings the query's hashes
have, which this reproduces (the fit is printed: share of postings on the most frequent
hashes and the mean posting-list length a query meets, real vs filler at equal size). The
filler does not line up in time, so it only adds chance votes (the quality bench is
bench/recognition_scale.py's business).

Queries: 10 s excerpts of the indexed real songs (clean and +3 % speed, which probes every
tempo/pitch hypothesis) and of held-out songs; ``--clients`` threads query each backend at
once. Per backend one JSON line: lookup latency (``ranges`` of a query's identity-pass
hashes), match wall time p50/p95, top-1 on catalog excerpts, false matches on held-out ones,
load time and engine size.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).parent))
from recognition import Q_SR, find_music, load, make_query  # noqa: E402
from tonearm.recognition import fingerprint as fp  # noqa: E402
from tonearm.recognition import service  # noqa: E402
from tonearm.recognition.index import LAYOUT, timeline  # noqa: E402
from tonearm.recognition.index import FingerprintIndex as EmbeddedIndex  # noqa: E402
from tonearm.recognition.match import vote  # noqa: E402
from tonearm.recognition.shared_index import SharedIndex  # noqa: E402
from tonearm.storage.fingerprints import AssetEntry, FingerprintIndexUnavailable  # noqa: E402

CHUNK_HASHES = 1 << 16


# -- real songs --------------------------------------------------------------------------------
def real_songs(n: int, held_out: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rng = np.random.default_rng(7)
    for path in find_music():
        sig = load(path)
        if sig is None or sig.duration_s < 30.0:
            continue
        h, t = fp.fingerprint(sig)
        y = np.asarray(soxr.resample(sig.samples[0], sig.sr, Q_SR), np.float32)
        start = float(rng.uniform(0, sig.duration_s - 12.0))
        out.append({"name": str(path), "h": h, "t": t, "y": y, "start": start})
        if len(out) >= n + held_out:
            break
    for i, s in enumerate(out):
        s["indexed"] = i % max(2, (n + held_out) // max(1, held_out)) != 0 or held_out == 0
    return out


# -- filler ------------------------------------------------------------------------------------
def hash_model(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """P(high half) and P(low half) of real hashes (add-one smoothed)."""
    bits = fp.HASH_BITS
    if bits > 40:
        raise SystemExit(f"hash model: {bits}-bit hashes need a sparser model")
    lo_bits = bits // 2
    h = hashes.astype(np.uint64)
    hi = (h >> np.uint64(lo_bits)).astype(np.int64)
    lo = (h & np.uint64((1 << lo_bits) - 1)).astype(np.int64)
    p_hi = np.bincount(hi, minlength=1 << (bits - lo_bits)).astype(np.float64) + 1.0
    p_lo = np.bincount(lo, minlength=1 << lo_bits).astype(np.float64) + 1.0
    return p_hi / p_hi.sum(), p_lo / p_lo.sum(), lo_bits


Model = tuple[np.ndarray, np.ndarray, int, np.ndarray, float]


def model_counts(model: Model, total: int, seed: int) -> np.ndarray:
    """Posting counts per hash for ``total`` postings: a share ``w`` drawn from the real
    songs' own hash frequencies (what is common in real music stays common), the rest from
    the product of the half-hash frequencies (new hashes, real-like marginals)."""
    p_hi, p_lo, _, p_emp, w = model
    lam = ((1.0 - w) * np.outer(p_hi, p_lo).ravel() + w * p_emp) * float(total)
    return np.random.default_rng(seed).poisson(lam).astype(np.int64)


def fit_model(hashes: np.ndarray) -> tuple[Model, float]:
    """The mixture weight whose filler, at the real songs' size, meets posting lists as long
    as real music's (``mean_list_met``); returns (model, that weight)."""
    p_hi, p_lo, lo_bits = hash_model(hashes)
    emp = np.bincount(hashes.astype(np.int64), minlength=1 << fp.HASH_BITS).astype(np.float64)
    target = freq_stats(emp.astype(np.int64))["mean_list_met"]
    best: tuple[float, float] = (np.inf, 0.0)
    for w in np.linspace(0.0, 1.0, 11):
        m: Model = (p_hi, p_lo, lo_bits, emp / emp.sum(), float(w))
        got = freq_stats(model_counts(m, len(hashes), 99))["mean_list_met"]
        best = min(best, (abs(got - target), float(w)))
    w = best[1]
    return (p_hi, p_lo, lo_bits, emp / emp.sum(), w), w


def freq_stats(counts: np.ndarray) -> dict[str, float]:
    """How concentrated postings are on a few hashes (what makes lookups expensive)."""
    c = np.sort(counts[counts > 0])[::-1].astype(np.float64)
    tot = c.sum()
    top = {f"top{q}pct_share": round(float(c[: max(1, int(len(c) * q / 100))].sum() / tot), 4)
           for q in (0.1, 1, 10)}  # fmt: skip
    # a query hash drawn like a stored one meets a list of sum(c^2)/sum(c) postings
    return {**top, "mean_list_met": round(float((c * c).sum() / tot), 2), "distinct": len(c)}


def build_filler(
    n_songs: int,
    per_song: float,
    model: Model,
    targets: dict[str, Any],
    local_dir: Path | None,
    seed: int = 11,
) -> dict[str, Any]:
    """Write the filler's postings to every target (shared backends by chunks of hashes, the
    embedded index straight into its memory-mapped main array)."""
    rng = np.random.default_rng(seed)
    spans = (rng.uniform(2.5, 6.0, n_songs) * 60 * fp.FPS).astype(np.int64)
    counts = model_counts(model, int(n_songs * per_song), seed + 1)
    total = int(counts.sum())
    nums = {name: be.reserve(n_songs) for name, be in targets.items()}
    n_per = np.zeros(n_songs, np.int64)
    main = None
    if local_dir is not None:
        local_dir.mkdir(parents=True, exist_ok=True)
        main = np.lib.format.open_memmap(local_dir / "main.npy", "w+", np.uint32, (total,))
        base = timeline(spans)[0]
        np.save(local_dir / "base.npy", base)
        np.save(
            local_dir / "starts.npy", np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32)
        )
    t_write = dict.fromkeys(targets, 0.0)
    pos = 0
    for c0 in range(0, len(counts), CHUNK_HASHES):
        cc = counts[c0 : c0 + CHUNK_HASHES]
        m = int(cc.sum())
        if m == 0:
            continue
        hs = np.repeat(np.arange(c0, c0 + len(cc), dtype=np.uint64), cc)
        k = rng.integers(0, n_songs, m)
        frame = (rng.random(m) * spans[k]).astype(np.int64)
        n_per += np.bincount(k, minlength=n_songs)
        uniq = np.flatnonzero(cc).astype(np.uint64) + np.uint64(c0)
        starts = np.concatenate([[0], np.cumsum(cc[cc > 0])]).astype(np.int64)
        for name, be in targets.items():
            post = (nums[name][k].astype(np.uint64) << np.uint64(32)) | frame.astype(np.uint64)
            t0 = time.perf_counter()
            be.write_postings(uniq, post, starts)
            t_write[name] += time.perf_counter() - t0
        if main is not None:
            # timeline postings (recognition/index.py), sorted by hash then position
            keys = (hs << np.uint64(32)) | (base[k] + np.minimum(frame, spans[k] - 1)).astype(
                np.uint64
            )
            keys.sort()
            main[pos : pos + m] = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        pos += m
        print(f"  filler: {pos / total:6.1%} of {total:,} postings", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    for name, be in targets.items():
        t0 = time.perf_counter()
        be.register(
            [
                (int(nums[name][i]), AssetEntry(f"filler-{i}", int(spans[i]), int(n_per[i])))
                for i in range(n_songs)
            ]
        )
        t_write[name] += time.perf_counter() - t0
    if main is not None and local_dir is not None:
        main.flush()
        del main
        manifest = {
            "version": fp.VERSION,
            "asset_ids": [f"filler-{i}" for i in range(n_songs)],
            "n_hashes": {str(i): int(n_per[i]) for i in range(n_songs)},
            "span_frames": {str(i): int(spans[i]) for i in range(n_songs)},
            "segments": [],
            "deleted": [],
            "n_main": total,
            "layout": LAYOUT,
            "n_main_assets": n_songs,
        }
        (local_dir / "manifest.json").write_text(json.dumps(manifest))
    return {"postings": total, "write_s": t_write, "counts": counts}


# -- engines -----------------------------------------------------------------------------------
def engine_bytes(name: str, be: Any, local_dir: Path | None) -> int:
    if name == "local" and local_dir is not None:
        return sum(p.stat().st_size for p in local_dir.iterdir())
    if name == "redis":
        c = be.client()
        nodes = c.get_primaries() if be._cluster else [None]
        total = 0
        for node in nodes:
            info = c.info("memory", target_nodes=node) if node is not None else c.info("memory")
            total += int(info.get("used_memory", 0))
        return total
    if name == "postgres":
        row = be.store.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
            "AND c.relname LIKE 'fingerprint%%' AND c.relkind = 'r'"
        )
        return int(row[0][0] or 0)
    return 0


def engine_cpu_s(name: str, be: Any) -> float:
    """CPU seconds the engine has used so far: the Redis Cluster's primaries (INFO cpu), or
    the PostgreSQL backends serving this database (from /proc; the server is shared)."""
    if name == "redis":
        c = be.client()
        nodes = c.get_primaries() if be._cluster else [None]
        total = 0.0
        for node in nodes:
            info = c.info("cpu", target_nodes=node) if node is not None else c.info("cpu")
            total += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        return total
    if name == "postgres":
        import os

        pids = [
            int(r[0])
            for r in be.store.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            )
        ]
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in pids:
            try:
                f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(f[11]) + int(f[12])) / tick
            except (OSError, IndexError, ValueError):
                continue
        return total
    return 0.0


def run_queries(
    ix: Any, queries: list[dict[str, Any]], clients: int, rounds: int
) -> dict[str, Any]:
    errors = [0]

    def one(q: dict[str, Any]) -> tuple[float, float, str | None, float]:
        for _ in range(3):  # a node that misses heartbeats on a loaded machine
            try:
                return attempt_one(q)
            except FingerprintIndexUnavailable:
                errors[0] += 1
                time.sleep(2.0)
        return attempt_one(q)

    def attempt_one(q: dict[str, Any]) -> tuple[float, float, str | None, float]:
        h, _ = fp.pair_hashes(q["peaks"], fan_out=fp.QUERY_FAN_OUT)
        t0 = time.perf_counter()
        ix.ranges(h)
        t1 = time.perf_counter()
        c1 = time.thread_time()
        m = service.match_peaks(ix, q["peaks"], top_k=1)
        t2 = time.perf_counter()
        cpu = time.thread_time() - c1
        return (t1 - t0) * 1000, (t2 - t1) * 1000, (m[0].asset_id if m else None), cpu * 1000

    jobs = [q for _ in range(rounds) for q in queries]
    with ThreadPoolExecutor(clients) as pool:
        one(queries[0])  # warm caches / connections
        t0 = time.perf_counter()
        res = list(pool.map(one, jobs))
        wall = time.perf_counter() - t0
    look = np.array([r[0] for r in res])
    match = np.array([r[1] for r in res])
    hits = [r[2] for r in res]
    cpu = np.array([r[3] for r in res])
    cat = [(q, got) for q, got in zip(jobs, hits, strict=True) if q["indexed"]]
    neg = [(q, got) for q, got in zip(jobs, hits, strict=True) if not q["indexed"]]
    return {
        "lookup_ms_p50": round(float(np.percentile(look, 50)), 2),
        "lookup_ms_p95": round(float(np.percentile(look, 95)), 2),
        "query_wall_ms_p50": round(float(np.percentile(match, 50)), 1),
        "query_wall_ms_p95": round(float(np.percentile(match, 95)), 1),
        "query_client_cpu_ms_p50": round(float(np.percentile(cpu, 50)), 1),
        "queries_per_s": round(len(jobs) / wall, 2),
        "top1": round(float(np.mean([got == q["name"] for q, got in cat])), 4) if cat else None,
        "false_matches": round(float(np.mean([got is not None for _, got in neg])), 4)
        if neg
        else None,
        "n_queries": len(jobs),
        "engine_errors_retried": errors[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--songs", type=int, default=10000, help="filler songs")
    ap.add_argument("--real", type=int, default=24, help="real songs indexed")
    ap.add_argument("--held-out", type=int, default=6, help="real songs not indexed")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="passes over the queries")
    ap.add_argument("--redis", help="Redis Cluster URL (any node)")
    ap.add_argument("--postgres", help="PostgreSQL URL (a schema is created and dropped)")
    ap.add_argument("--no-local", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the engines' data afterwards")
    args = ap.parse_args()

    t0 = time.perf_counter()
    songs = real_songs(args.real, args.held_out)
    if not songs:
        sys.exit("no music found: install the Debian game-music packages (bench/recognition.py)")
    indexed = [s for s in songs if s["indexed"]]
    real_h = np.concatenate([s["h"] for s in indexed])
    per_song = float(np.mean([len(s["h"]) / (s["t"].max() + 1) for s in indexed])) * (
        4.7 * 60 * fp.FPS
    )  # postings of a 4.7-min song at real density
    model, w = fit_model(real_h)
    real_counts = np.bincount(real_h.astype(np.int64), minlength=1 << fp.HASH_BITS)
    fit = {
        "real": freq_stats(real_counts),
        "filler_same_size": freq_stats(model_counts(model, len(real_h), 99)),
        "empirical_weight": w,
    }
    print(json.dumps({"hash_statistics": fit, "real_songs": len(indexed),
                      "postings_per_song": round(per_song)}), flush=True)  # fmt: skip

    targets: dict[str, Any] = {}
    cleanup: list[Any] = []
    if args.redis:
        from tonearm.storage.fingerprints_redis import RedisFingerprintIndex

        r = RedisFingerprintIndex(args.redis, f"bench-{uuid.uuid4().hex[:8]}", timeout_s=30)
        targets["redis"] = r
        cleanup.append(r.clear)
    if args.postgres:
        from tonearm.storage.fingerprints_pg import PgFingerprintIndex
        from tonearm.storage.postgres import PostgresStore

        store = PostgresStore(args.postgres, schema=f"bench_{uuid.uuid4().hex[:8]}", pool_size=16)
        targets["postgres"] = PgFingerprintIndex(store, timeout_s=60)
        cleanup.append(store.drop_schema)
    tmp = tempfile.TemporaryDirectory(prefix="tonearm-bench-shared-")
    local_dir = None if args.no_local else Path(tmp.name) / "fingerprint"
    try:
        built = build_filler(args.songs, per_song, model, targets, local_dir)
        views: dict[str, Any] = {}
        if local_dir is not None:
            loaded = EmbeddedIndex.load(local_dir)
            assert loaded is not None
            views["local"] = loaded
        for name, be in targets.items():
            views[name] = SharedIndex(be)
        for name, ix in views.items():  # the real songs through the normal add path
            t1 = time.perf_counter()
            for s in indexed:
                ix.add(s["name"], s["h"], s["t"])
            built["write_s"][name] = built["write_s"].get(name, 0.0) + time.perf_counter() - t1

        qrng = np.random.default_rng(5)
        queries = []
        for s in songs:
            for deg in ("clean", "speed_+3%"):
                y, sr = make_query(s["y"], s["start"], deg, qrng)
                from tonearm.core.audio.signal import Signal

                peaks = fp.signal_peaks(Signal(y, sr), fp.QUERY_DENSITY)
                queries.append({"name": s["name"], "indexed": s["indexed"], "peaks": peaks,
                                "deg": deg})  # fmt: skip
        vote(views[next(iter(views))], queries[0]["peaks"], [0])  # compile
        for name, ix in views.items():
            if name in targets:  # open the pool's connections before counting their CPU
                ix.ranges(np.arange(16, dtype=np.uint64))
            cpu0 = engine_cpu_s(name, targets.get(name))
            stats = run_queries(ix, queries, args.clients, args.rounds)
            engine_cpu = engine_cpu_s(name, targets.get(name)) - cpu0
            row = {
                "backend": name,
                "songs": args.songs + len(indexed),
                "postings": built["postings"] + int(sum(len(s["h"]) for s in indexed)),
                "clients": args.clients,
                **stats,
                "engine_cpu_ms_per_query": round(1000 * engine_cpu / (stats["n_queries"] + 1), 1),
                "load_s": round(built["write_s"].get(name, 0.0), 1),
                "engine_bytes": engine_bytes(name, targets.get(name), local_dir),
            }
            row["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
            print(json.dumps(row), flush=True)
    finally:
        if not args.keep:
            for fn in cleanup:
                try:
                    fn()
                except Exception as e:  # report, keep cleaning
                    print(f"cleanup: {e}", file=sys.stderr)
        tmp.cleanup()
    print(json.dumps({"total_s": round(time.perf_counter() - t0, 1)}), flush=True)


if __name__ == "__main__":
    main()
