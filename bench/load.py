"""Load and fault benchmark: a real server on loopback, N concurrent clients.

Measures sustained requests/s and p50/p95/p99 latency for recognize (AudD ``POST /``),
similar (AudioScape ``POST /developer/v1/similar``) and search (``POST
/developer/v1/search``) at 1, 8 and 32 concurrent clients, against the named baseline
``asset`` (``GET /developer/v1/assets/{id}``: the same server, auth, rate-limit and usage
path, with one indexed read as its only work),
so the numbers separate the endpoint's own cost from the HTTP stack's.

Faults (``--faults``): PostgreSQL connections killed mid-load (``pg_terminate_backend``
on the server's sessions: what a database restart does to a running server, without
restarting a PostgreSQL other people use), and a worker killed (SIGKILL) in the middle of
a job, then a fresh worker started: the job must end succeeded or failed, never stuck.

Bounded: every level stops at ``--seconds`` or ``--max-requests``, whichever comes first.

    .venv/bin/python bench/load.py                       # SQLite, 120 songs, ~5 min
    .venv/bin/python bench/load.py --assets 10000        # the 10k catalog (slow to build)
    .venv/bin/python bench/load.py --database-url postgresql://postgres@127.0.0.1/test \\
        --redis-url redis://127.0.0.1:6379/0 --faults    # scale-out backend + faults
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

STYLES = ("lofi", "edm", "rock", "ambient", "jazz", "orchestral", "chiptune", "folk")
QUERIES = [
    "calm piano for studying",
    "energetic dance track",
    "dark orchestral tension",
    "acoustic folk guitar",
    "retro video game music",
    "slow ambient pads",
    "rock with distorted guitars",
    "jazz waltz",
]
# what recognize (fingerprint), similar (embedding, mir) and search (mir-derived words) read
ANALYSES = ("fingerprint", "mir", "embedding")
CLI = [sys.executable, "-c", "from tonearm.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- catalog --------------------------------------------------------------------------------
def build_catalog(settings: Any, n: int, work: Path) -> list[tuple[str, bytes]]:
    """Ingest ``n`` synthesized songs (if the catalog has fewer); returns excerpts
    (asset name, 8 s WAV with noise) for recognize requests."""
    from tonearm.catalog.context import Catalog
    from tonearm.catalog.ingest import ingest_paths
    from tonearm.core.audio.encode import encode
    from tonearm.core.audio.signal import Signal
    from tonearm.demo.synth.song import SongSpec, render_song

    catalog = Catalog.open(settings)
    have = catalog.store.count_assets("music")
    songs = work / "songs"
    songs.mkdir(parents=True, exist_ok=True)
    excerpts: list[tuple[str, bytes]] = []
    rng = np.random.default_rng(0)
    todo = list(range(n))
    t0 = time.perf_counter()
    batch: list[Path] = []
    rows = []
    for i in todo:
        style = STYLES[i % len(STYLES)]
        spec = SongSpec(style=style, bpm=float(70 + (i * 7) % 90), bars=8, seed=1000 + i)
        path = songs / f"song{i:05d}.wav"
        if i >= have or i < 12:
            sig, _, _ = render_song(spec, sr=22050)
            if i >= have:
                path.write_bytes(encode(sig, "wav"))
                batch.append(path)
                rows.append(
                    {
                        "file": path.name,
                        "name": f"Song {i}",
                        "artist": f"Band {i % 37}",
                        "genre": style,
                    }
                )
            if i < 12:  # excerpts for recognize: 8 s from the middle, light noise
                x = sig.samples.mean(axis=0, keepdims=True)[:, 3 * sig.sr : 11 * sig.sr]
                x = x + rng.normal(0, 0.01, x.shape).astype(np.float32)
                excerpts.append((f"Song {i}", encode(Signal(x, sig.sr), "wav")))
    if batch:
        side = work / "meta.csv"
        with side.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["file", "name", "artist", "genre"])
            w.writeheader()
            w.writerows(rows)
        log(f"ingesting {len(batch)} songs ...")
        summary = ingest_paths(
            catalog, batch, kind="music", metadata_csv=side, analyses=list(ANALYSES)
        )
        if summary.failed:
            log(f"  {len(summary.failed)} failed, first: {summary.failed[0].reason}")
        for p in batch:
            p.unlink()
    log(f"catalog: {catalog.store.count_assets('music')} songs ({time.perf_counter() - t0:.0f} s)")
    catalog.close()
    return excerpts


# A 10k-song catalog through the full ingest (decode in a child process, every analyzer on
# every file) costs ~1 s of CPU per song: hours on a shared 2-core machine. The fast build
# renders every song and fingerprints it (recognize searches 10k distinct songs), but runs
# the expensive analyzers (audio embedding, audio-derived search words, mir) only on
# ``templates`` songs; every other song gets a copy of its template's analyses, the
# embedding with noise (cos ~0.95 to its template), under its own name/artist/genre.
# The audio files themselves are not kept (7 GB of WAV): the measured endpoints read the
# stored analyses, never the files.
FAST_BARS = 6
TEMPLATE_ANALYSES = ("mir", "embedding", "search_text")


def _song_spec(i: int) -> Any:
    from tonearm.demo.synth.song import SongSpec

    style = STYLES[i % len(STYLES)]
    return SongSpec(style=style, bpm=float(70 + (i * 7) % 90), bars=FAST_BARS, seed=1000 + i)


def _fast_song(job: tuple[int, bool]) -> tuple[int, list[tuple[str, int, dict, bytes | None]]]:
    """(i, analyses) of song i: fingerprint, plus the template analyses if ``full``."""
    from tonearm.catalog.analyzers import select_analyzers
    from tonearm.demo.synth.song import render_song

    i, full = job
    sig, _, _ = render_song(_song_spec(i), sr=22050)
    names = ["fingerprint", *(TEMPLATE_ANALYSES if full else ())]
    out = []
    for a in select_analyzers(names):
        r = a.analyze(sig, "music")
        out.append((a.name, a.version, r.data, r.blob))
    return i, out


def build_catalog_fast(settings: Any, n: int, templates: int, procs: int) -> None:
    import hashlib
    import multiprocessing as mp

    from tonearm.catalog.context import Catalog
    from tonearm.core.embeddings.base import from_blob, to_blob
    from tonearm.storage.base import Analysis

    catalog = Catalog.open(settings)
    have = catalog.store.count_assets("music")
    if have >= n:
        catalog.close()
        return
    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    tmpl: dict[int, list[tuple[str, int, dict, bytes | None]]] = {}
    ctx = mp.get_context("spawn")  # no fork after torch/numba threads exist

    def add(i: int, analyses: list[tuple[str, int, dict, bytes | None]]) -> None:
        spec = _song_spec(i)
        fields = {
            "kind": "music",
            "name": f"Song {i}",
            "artist": f"Band {i % 37}",
            "genre": spec.style,
            "bpm": spec.bpm,
            "duration": FAST_BARS * 4 * 60.0 / spec.bpm,
            "content_hash": hashlib.sha256(f"bench-load-song-{i}".encode()).hexdigest(),
            "file_path": f"files/bench/song{i:05d}.wav",
            "sample_rate": 22050,
            "channels": 1,
        }
        try:
            catalog.store.add_asset(fields, [Analysis("", *a) for a in analyses])
        except Exception as e:  # already there (re-run)
            if type(e).__name__ != "DuplicateAsset":
                raise

    done = have
    with ctx.Pool(procs) as pool:
        t_ids = list(range(min(templates, n)))
        for i, analyses in pool.imap_unordered(_fast_song, [(i, True) for i in t_ids], 4):
            tmpl[i] = analyses
        log(f"templates: {len(tmpl)} songs fully analysed ({time.perf_counter() - t0:.0f} s)")
        for i in sorted(tmpl):
            if i >= have:
                add(i, tmpl[i])
        rest = [(i, False) for i in range(max(have, len(tmpl)), n)]
        for i, analyses in pool.imap_unordered(_fast_song, rest, 16):
            copied = []
            for name, version, data, blob in tmpl[i % len(tmpl)]:
                if name == "fingerprint":
                    continue
                if name == "embedding" and blob is not None:
                    v = from_blob(blob)
                    v = v + rng.normal(0, 0.3 / np.sqrt(v.size), v.size).astype(np.float32)
                    blob = to_blob(v / np.linalg.norm(v))
                copied.append((name, version, data, blob))
            add(i, analyses + copied)
            done += 1
            if done % 500 == 0:
                log(f"  {done}/{n} songs ({time.perf_counter() - t0:.0f} s)")
    log(f"catalog: {catalog.store.count_assets('music')} songs ({time.perf_counter() - t0:.0f} s)")
    catalog.close()


def fast_excerpts(k: int = 12) -> list[tuple[str, bytes]]:
    """8 s excerpts (light noise) of the first ``k`` songs of the fast catalog."""
    from tonearm.core.audio.encode import encode
    from tonearm.core.audio.signal import Signal
    from tonearm.demo.synth.song import render_song

    rng = np.random.default_rng(0)
    out = []
    for i in range(k):
        sig, _, _ = render_song(_song_spec(i), sr=22050)
        x = sig.samples.mean(axis=0, keepdims=True)[:, 2 * sig.sr : 10 * sig.sr]
        x = x + rng.normal(0, 0.01, x.shape).astype(np.float32)
        out.append((f"Song {i}", encode(Signal(x, sig.sr), "wav")))
    return out


def vector_recall(settings: Any, queries: int = 200, k: int = 10) -> dict[str, Any]:
    """recall@k of /similar's PostgreSQL search (pgvector HNSW + filters) against exact
    search over the same vectors, for ``queries`` random seeds: unfiltered, and with a
    duration window that keeps about 1 asset in 8 (the selective-filter case)."""
    from tonearm.catalog.context import Catalog
    from tonearm.discovery.embeddings import all_vectors
    from tonearm.discovery.index import Filters, get_index

    cat = Catalog.open(settings)
    idx = get_index(cat)
    if not idx.uses_pgvector():
        cat.close()
        return {"skipped": "no pgvector in this database"}
    model = next(m for (kd, m) in idx.parts if kd == "music")
    vs = all_vectors(cat, "music", model)
    durs = np.sort([float(r[0]) for r in cat.store.execute("SELECT duration FROM assets")])
    window = Filters(
        min_duration=float(np.quantile(durs, 0.45)), max_duration=float(np.quantile(durs, 0.57))
    )
    rng = np.random.default_rng(3)
    picks = rng.choice(len(vs.asset_ids), size=min(queries, len(vs.asset_ids)), replace=False)
    out: dict[str, Any] = {"k": k, "queries": int(len(picks)), "vectors": len(vs.asset_ids)}
    for label, f in (("unfiltered", None), ("duration_window", window)):
        hits = expected = 0
        t_pg: list[float] = []
        for j in picks:
            q, seed = vs.matrix[j], vs.asset_ids[j]
            idx.catalog.settings.vector_search = "auto"
            t = time.perf_counter()
            got = idx.search("music", model, q, limit=k, filters=f, exclude=seed)
            t_pg.append(time.perf_counter() - t)
            idx.catalog.settings.vector_search = "memory"
            want = idx.search("music", model, q, limit=k, filters=f, exclude=seed, exact=True)
            hits += len({h.asset_id for h in got.hits} & {h.asset_id for h in want.hits})
            expected += len(want.hits)
        out[label] = {
            "recall": round(hits / max(1, expected), 4),
            "pg_p50_ms": round(float(np.percentile(t_pg, 50)) * 1000, 1),
            "pg_p95_ms": round(float(np.percentile(t_pg, 95)) * 1000, 1),
        }
    idx.catalog.settings.vector_search = "auto"
    cat.close()
    return out


def copy_catalog(src: Any, dst: Any) -> int:
    """Copy assets with their analyses from one store to another (SQLite -> PostgreSQL),
    so both backends are measured on the same catalog without ingesting twice."""
    from tonearm.storage.base import ASSET_FIELDS, DuplicateAsset

    n = 0
    names = sorted({r[0] for r in src.execute("SELECT DISTINCT name FROM analyses")})
    for a in src.iter_assets():
        if dst.find_by_hash(a.content_hash):
            continue
        fields = {k: getattr(a, k) for k in ASSET_FIELDS}
        fields["extra"] = a.extra
        analyses = [x for x in (src.get_analysis(a.asset_id, nm) for nm in names) if x]
        try:
            dst.add_asset(fields, analyses)
            n += 1
        except DuplicateAsset:
            pass
    return n


# -- server ---------------------------------------------------------------------------------
class Server:
    def __init__(self, data: Path, env: dict[str, str], workers: int = 0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="tonearm-load-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                *CLI,
                "serve",
                "--data",
                str(data),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise RuntimeError(f"server did not start; see {self.log.name}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# -- load -----------------------------------------------------------------------------------
def make_request(
    kind: str, key: str, excerpts: list[tuple[str, bytes]], n_assets: int, rng: random.Random
) -> dict[str, Any]:
    h = {"X-API-Key": key}
    if kind == "healthz":
        return {"method": "GET", "url": "/healthz"}
    if kind == "asset":  # the baseline: auth + limits + usage + one indexed read
        return {
            "method": "GET",
            "url": f"/developer/v1/assets/{rng.randint(1, n_assets)}",
            "headers": h,
        }
    if kind == "recognize":
        _, wav = rng.choice(excerpts)
        return {
            "method": "POST",
            "url": "/",
            "data": {"api_token": key},
            "files": {"file": ("x.wav", wav, "audio/wav")},
        }
    if kind == "similar":
        return {
            "method": "POST",
            "url": "/developer/v1/similar",
            "headers": h,
            "json": {"asset_id": str(rng.randint(1, n_assets)), "limit": 10},
        }
    if kind == "search":
        return {
            "method": "POST",
            "url": "/developer/v1/search",
            "headers": h,
            "json": {"query": rng.choice(QUERIES), "limit": 10},
        }
    raise ValueError(kind)


def ok(kind: str, r: httpx.Response) -> bool:
    if r.status_code != 200:
        return False
    if kind == "recognize":
        return bool(r.json().get("status") == "success")
    return True


async def run_level(
    base: str,
    kind: str,
    clients: int,
    seconds: float,
    max_requests: int,
    key: str,
    excerpts: list[tuple[str, bytes]],
    n_assets: int,
    during: Any = None,
) -> dict[str, Any]:
    lat: list[float] = []
    errors: dict[str, int] = {}
    timeline: list[tuple[float, bool]] = []
    sent = 0
    stop_at = time.perf_counter() + seconds
    t_start = time.perf_counter()

    async def client(i: int) -> None:
        nonlocal sent
        rng = random.Random(i)
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            while time.perf_counter() < stop_at and sent < max_requests:
                sent += 1
                req = make_request(kind, key, excerpts, n_assets, rng)
                t0 = time.perf_counter()
                try:
                    r = await c.request(**req)
                    good = ok(kind, r)
                    why = "" if good else f"HTTP {r.status_code} {r.text[:80]}"
                except httpx.HTTPError as e:
                    good, why = False, type(e).__name__
                dt = time.perf_counter() - t0
                timeline.append((time.perf_counter() - t_start, good))
                if good:
                    lat.append(dt)
                else:
                    errors[why] = errors.get(why, 0) + 1

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    if during is not None:
        tasks.append(asyncio.create_task(during()))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - t_start
    q = np.percentile(np.array(lat) * 1000, [50, 95, 99]) if lat else [None] * 3
    out: dict[str, Any] = {
        "clients": clients,
        "requests": len(lat) + sum(errors.values()),
        "ok": len(lat),
        "errors": sum(errors.values()),
        "rps": round(len(lat) / wall, 1),
        "p50_ms": None if q[0] is None else round(float(q[0]), 1),
        "p95_ms": None if q[1] is None else round(float(q[1]), 1),
        "p99_ms": None if q[2] is None else round(float(q[2]), 1),
        "seconds": round(wall, 1),
    }
    if errors:
        out["error_kinds"] = dict(sorted(errors.items(), key=lambda kv: -kv[1])[:5])
    out["_timeline"] = timeline
    return out


# -- faults ---------------------------------------------------------------------------------
async def pg_fault(
    base: str,
    key: str,
    excerpts: Any,
    n_assets: int,
    pg_url: str,
    app_name: str,
    seconds: float,
    restart_cmd: str | None = None,
    song_url: str | None = None,
) -> dict[str, Any]:
    """PostgreSQL goes away mid-load: restarted (``restart_cmd``, e.g. ``pg_ctl restart``
    on a PostgreSQL of our own) or, without one, the server's sessions terminated (what a
    restart does to a running server, without restarting a PostgreSQL others use).
    Counts failed requests and the time to recover; with ``song_url``, analyze jobs are
    submitted all along and every accepted one must finish (no job lost)."""
    import psycopg

    kill_at = seconds / 3
    killed: dict[str, Any] = {}
    accepted: list[str] = []
    refused: dict[str, int] = {}
    stop = asyncio.Event()

    async def killer() -> None:
        await asyncio.sleep(kill_at)
        if restart_cmd:
            t = time.perf_counter()
            proc = await asyncio.create_subprocess_shell(
                restart_cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
            killed["restart_exit"] = await proc.wait()
            killed["restart_s"] = round(time.perf_counter() - t, 2)
        else:
            with psycopg.connect(pg_url, autocommit=True) as c:
                rows = c.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (app_name,),
                ).fetchall()
            killed["sessions"] = len(rows)

    async def submitter() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while not stop.is_set():
                try:
                    r = await c.post(
                        "/analyze", json={"sourceFileUrl": song_url}, headers={"X-API-Key": key}
                    )
                    if r.status_code == 200 and r.json().get("requestId"):
                        accepted.append(r.json()["requestId"])
                    else:
                        refused[f"HTTP {r.status_code}"] = (
                            refused.get(f"HTTP {r.status_code}", 0) + 1
                        )
                except httpx.HTTPError as e:
                    refused[type(e).__name__] = refused.get(type(e).__name__, 0) + 1
                await asyncio.sleep(0.5)

    async def during() -> None:
        sub = asyncio.create_task(submitter()) if song_url else None
        await killer()
        await asyncio.sleep(max(0.0, seconds - kill_at - killed.get("restart_s", 0.0)))
        stop.set()
        if sub is not None:
            await sub

    res = await run_level(base, "similar", 8, seconds, 10**9, key, excerpts, n_assets, during)
    tl = res.pop("_timeline")
    failed_after = [t for t, good in tl if not good and t >= kill_at]
    last_fail = max(failed_after) if failed_after else None
    ok_after = [t for t, good in tl if good and last_fail is not None and t > last_fail]
    out: dict[str, Any] = {
        "fault": (
            "PostgreSQL restarted mid-load (similar, 8 clients)"
            if restart_cmd
            else "PostgreSQL sessions terminated mid-load (similar, 8 clients)"
        ),
        **killed,
        "requests": res["requests"],
        "failed": res["errors"],
        "error_kinds": res.get("error_kinds", {}),
        "recovered": bool(ok_after) or not failed_after,
        "seconds_to_recover": None if last_fail is None else round(last_fail - kill_at, 2),
    }
    if song_url:
        final: dict[str, int] = {}
        deadline = time.monotonic() + 240
        pending = list(accepted)
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while pending and time.monotonic() < deadline:
                still = []
                for rid in pending:
                    try:
                        st = (await c.get(f"/requests/{rid}", headers={"X-API-Key": key})).json()
                    except (httpx.HTTPError, ValueError):
                        still.append(rid)
                        continue
                    if st.get("status") in ("succeeded", "failed"):
                        final[st["status"]] = final.get(st["status"], 0) + 1
                    else:
                        still.append(rid)
                pending = still
                if pending:
                    await asyncio.sleep(2)
        out["jobs"] = {
            "accepted": len(accepted),
            "refused": refused,
            "finished": final,
            "not_finished_after_240s": len(pending),
        }
    return out


def worker_fault(
    data: Path, env: dict[str, str], base: str, key: str, song_url: str, wait_s: float = 90.0
) -> dict[str, Any]:
    """SIGKILL a worker in the middle of an analyze job, start another; where does it end?"""
    cli_worker = [*CLI, "worker", "--data", str(data), "--workers", "1"]
    w1 = subprocess.Popen(cli_worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h = {"X-API-Key": key}
    rid = httpx.post(
        f"{base}/analyze", json={"sourceFileUrl": song_url}, headers=h, timeout=30
    ).json()["requestId"]
    t0 = time.monotonic()
    status = None
    while time.monotonic() - t0 < 120:
        status = httpx.get(f"{base}/requests/{rid}", headers=h, timeout=10).json().get("status")
        if status != "queued":
            break
        time.sleep(0.05)
    state_at_kill = status
    w1.kill()
    w1.wait()
    w2 = subprocess.Popen(cli_worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    final = None
    t1 = time.monotonic()
    try:
        while time.monotonic() - t1 < wait_s:
            j = httpx.get(f"{base}/requests/{rid}", headers=h, timeout=10).json()
            if j.get("status") in ("succeeded", "failed"):
                final = j
                break
            time.sleep(1)
    finally:
        w2.terminate()
        w2.wait(timeout=20)
    return {
        "fault": "worker SIGKILLed mid-job, a new worker started",
        "state_when_killed": state_at_kill,
        "final_status": final.get("status") if final else f"still running after {wait_s:g} s",
        "error": final.get("error") if final else None,
        "attempts": final.get("attempts") if final else None,
        "seconds_to_final": round(time.monotonic() - t1, 1) if final else None,
    }


def serve_files(root: Path) -> tuple[ThreadingHTTPServer, str]:
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            p = root / self.path.lstrip("/")
            data = p.read_bytes() if p.is_file() else b""
            self.send_response(200 if data else 404)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


# -- main -----------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/bench-load"))
    ap.add_argument("--assets", type=int, default=120)
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--endpoints", default="asset,recognize,similar,search")
    ap.add_argument("--seconds", type=float, default=8.0, help="per level")
    ap.add_argument("--max-requests", type=int, default=1500, help="per level")
    ap.add_argument("--database-url", default=None, help="postgresql://... (default SQLite)")
    ap.add_argument("--redis-url", default=None, help="shared rate limits + job queue")
    ap.add_argument("--faults", action="store_true")
    ap.add_argument(
        "--templates",
        type=int,
        default=0,
        help="fast catalog: fully analyse this many songs, fingerprint the rest (0: full "
        "ingest of every song)",
    )
    ap.add_argument("--build-procs", type=int, default=2)
    ap.add_argument("--fault-seconds", type=float, default=20.0)
    ap.add_argument(
        "--pg-restart-cmd",
        default=None,
        help="shell command that restarts the PostgreSQL under test (its own instance!); "
        "without it, the server's sessions are terminated instead",
    )
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument(
        "--vector-recall",
        action="store_true",
        help="only measure pgvector recall@10 against exact search (PostgreSQL catalog)",
    )
    args = ap.parse_args()

    from tonearm.platform.service import Platform
    from tonearm.settings import Settings

    env = {**os.environ, "TONEARM_ALLOW_PRIVATE_URLS": "true"}
    app_name = f"tonearm-load-{uuid.uuid4().hex[:8]}"
    db_url = None
    if args.database_url:
        sep = "&" if "?" in args.database_url else "?"
        db_url = f"{args.database_url}{sep}schema=bench_load&application_name={app_name}"
        env["TONEARM_DATABASE_URL"] = db_url
    if args.redis_url:
        env["TONEARM_REDIS_URL"] = args.redis_url
        env["TONEARM_QUEUE_URL"] = args.redis_url.rsplit("/", 1)[0] + "/14"
    work = args.data / "bench-work"
    # the catalog is built (once) on SQLite in --data; PostgreSQL gets a copy of it
    if args.templates:
        build_catalog_fast(Settings(data=args.data), args.assets, args.templates, args.build_procs)
        excerpts = fast_excerpts()
    else:
        excerpts = build_catalog(Settings(data=args.data), args.assets, work)
    if args.build_only:
        return
    if args.vector_recall:
        assert db_url, "--vector-recall needs --database-url (a copy made by a load run)"
        print(json.dumps(vector_recall(Settings(data=args.data, database_url=db_url)), indent=2))
        return
    settings = Settings(data=args.data, database_url=db_url)
    if db_url:
        from tonearm.catalog.context import Catalog as _C

        src, dst = _C.open(Settings(data=args.data)), _C.open(settings)
        log(f"copied {copy_catalog(src.store, dst.store)} assets to PostgreSQL")
        src.close()
        dst.close()

    from tonearm.catalog.context import Catalog

    cat = Catalog.open(settings)
    key, _ = Platform(cat).create_key(f"load-{uuid.uuid4().hex[:6]}", "unlimited")
    n_assets = cat.store.count_assets()
    cat.close()

    server = Server(args.data, env)
    results: dict[str, Any] = {
        "backend": "postgresql" if db_url else "sqlite",
        "assets": n_assets,
        "baseline": "asset (GET /developer/v1/assets/{id}: same HTTP, auth, rate-limit and "
        "usage path, one indexed read)",
        "cpu_count": os.cpu_count(),
        "endpoints": {},
    }
    try:
        # warm up every endpoint (index and model loads) before measuring any
        for kind in args.endpoints.split(","):
            asyncio.run(run_level(server.url, kind, 1, 120, 3, key, excerpts, n_assets))
        time.sleep(5)
        for kind in args.endpoints.split(","):
            rows = []
            for n in (int(c) for c in args.clients.split(",")):
                res = asyncio.run(
                    run_level(
                        server.url,
                        kind,
                        n,
                        args.seconds,
                        args.max_requests,
                        key,
                        excerpts,
                        n_assets,
                    )
                )
                res.pop("_timeline")
                log(
                    f"{kind:10s} {n:3d} clients: {res['rps']:7.1f} req/s  p50 {res['p50_ms']} "
                    f"p95 {res['p95_ms']} p99 {res['p99_ms']} ms  errors {res['errors']}"
                )
                rows.append(res)
            results["endpoints"][kind] = rows
        if args.faults:
            faults = []
            work.mkdir(parents=True, exist_ok=True)
            srv, files = serve_files(work)
            from tonearm.core.audio.encode import encode
            from tonearm.demo.synth.song import SongSpec, render_song

            sig, _, _ = render_song(SongSpec(style="rock", bpm=120, bars=24, seed=5))
            (work / "long.wav").write_bytes(encode(sig, "wav"))
            song_url = f"{files}/long.wav"
            if db_url:
                assert args.database_url
                worker = None
                if args.redis_url:  # jobs submitted through the restart must all finish
                    worker = subprocess.Popen(
                        [*CLI, "worker", "--data", str(args.data), "--workers", "2"],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                try:
                    faults.append(
                        asyncio.run(
                            pg_fault(
                                server.url,
                                key,
                                excerpts,
                                n_assets,
                                args.database_url,
                                app_name,
                                args.fault_seconds,
                                args.pg_restart_cmd,
                                song_url if worker else None,
                            )
                        )
                    )
                finally:
                    if worker is not None:
                        worker.terminate()
                        worker.wait(timeout=30)
                log(json.dumps(faults[-1]))
            if args.redis_url:
                faults.append(worker_fault(args.data, env, server.url, key, song_url))
                log(json.dumps(faults[-1]))
            srv.shutdown()
            results["faults"] = faults
    finally:
        server.stop()
    base = {r["clients"]: r for r in results["endpoints"].get("asset", [])}
    for kind, rows in results["endpoints"].items():
        for r in rows:
            b = base.get(r["clients"])
            if b and b["p50_ms"] and r["p50_ms"] and kind != "asset":
                r["p50_vs_baseline_ms"] = round(r["p50_ms"] - b["p50_ms"], 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
