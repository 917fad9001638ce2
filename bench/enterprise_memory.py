"""Peak memory of an AudD enterprise scan of a long file: the streaming scan
(``enterprise.scan_path``: decode as a stream, fingerprint 300 s blocks, PCM spooled to
disk) against the whole-file path it replaced (``decode_for_scan`` + ``scan_file``: the
whole file decoded into memory, then scanned). Prints JSON.

The long file is made of synthesized catalog songs (``tonearm.demo.synth``) played back to back in
a shuffled order, with repeats, encoded as MP3 128 kbps; the catalog holds every song. Each
path runs in a fresh process; measured there: peak RSS of the scanning process
(``VmHWM``), peak RSS of its whole process tree (the decoding child included; sampled
every 50 ms from /proc), RSS before the scan (imports + fingerprint index loaded), CPU time
of the process (``time.process_time``; the decoding child's CPU is not in it) and wall time,
and whether the two answers are identical.

    .venv/bin/python bench/enterprise_memory.py                 # 75 min file
    .venv/bin/python bench/enterprise_memory.py --minutes 20    # quicker
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class TreeSampler(threading.Thread):
    """Peak of (RSS of this process + all its descendants), sampled."""

    def __init__(self, every_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.every_s = every_s
        self.peak_mb = 0.0
        self.peak_child_mb = 0.0
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.is_set():
            pids = _tree(me)
            sizes = {p: _rss_mb(p) for p in pids}
            self.peak_mb = max(self.peak_mb, sum(sizes.values()))
            kids = [v for p, v in sizes.items() if p != me]
            if kids:
                self.peak_child_mb = max(self.peak_child_mb, max(kids))
            self._halt.wait(self.every_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()


# -- building the catalog and the long file ------------------------------------------------
def build(work: Path, minutes: float, n_songs: int) -> dict[str, Any]:
    from tonearm.catalog.analyzers import select_analyzers
    from tonearm.catalog.context import Catalog
    from tonearm.catalog.ingest import ingest_bytes
    from tonearm.core.audio.encode import encode
    from tonearm.core.audio.signal import Signal
    from tonearm.demo.synth.song import SongSpec, render_song
    from tonearm.settings import Settings

    settings = Settings(data=work / "data", decode_timeout_s=3600)
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    fp = select_analyzers(["fingerprint"])
    styles = ["rock", "edm", "jazz", "pop", "ambient", "hiphop"]
    sr = 22050
    songs: list[tuple[str, np.ndarray]] = []
    for i in range(n_songs):
        spec = SongSpec(
            style=styles[i % len(styles)], bpm=96 + (i * 7) % 60, bars=40, seed=1000 + i
        )
        try:
            sig, _, _ = render_song(spec, sr=sr)
        except (KeyError, ValueError):
            sig, _, _ = render_song(SongSpec(style="rock", bpm=spec.bpm, bars=40, seed=spec.seed))
        y = sig.to_mono().samples[0]
        o = ingest_bytes(
            catalog,
            encode(Signal(y, sr), "wav"),
            filename=f"song{i}.wav",
            kind="music",
            metadata={"name": f"Song {i}"},
            analyzers=fp,
        )
        assert o.asset_id is not None, o.reason
        songs.append((o.asset_id, y))
    rng = np.random.default_rng(0)
    order: list[int] = []
    total = 0.0
    while total < minutes * 60:
        for i in rng.permutation(n_songs):
            if total >= minutes * 60:
                break
            order.append(int(i))
            total += songs[i][1].size / sr
    mix = np.concatenate([songs[i][1] for i in order])
    truth, t = [], 0.0
    for i in order:
        d = songs[i][1].size / sr
        truth.append({"asset_id": songs[i][0], "start_s": round(t, 2), "end_s": round(t + d, 2)})
        t += d
    long_file = work / "long.mp3"
    long_file.write_bytes(encode(Signal(mix, sr), "mp3_128"))
    catalog.close()
    info = {
        "duration_s": round(mix.size / sr, 1),
        "songs_in_catalog": n_songs,
        "plays": len(truth),
        "mp3_mb": round(long_file.stat().st_size / 2**20, 1),
        "truth": truth,
    }
    (work / "truth.json").write_text(json.dumps(info))
    return info


# -- one measured run (a fresh process) ----------------------------------------------------
def measure(work: Path, mode: str, limit: int | None = None) -> dict[str, Any]:
    from tonearm.catalog.context import Catalog
    from tonearm.recognition import enterprise, service
    from tonearm.settings import Settings

    settings = Settings(data=work / "data", decode_timeout_s=3600)
    catalog = Catalog.open(settings)
    service.get_index(catalog)  # loaded before the baseline: both paths need it
    path = work / "long.mp3"
    opts = enterprise.ScanOptions(accurate_offsets=True, limit=limit)
    base_rss = _rss_mb(os.getpid())
    sampler = TreeSampler()
    sampler.start()
    base_tree = sum(_rss_mb(p) for p in _tree(os.getpid()))
    c0, w0 = time.process_time(), time.perf_counter()
    if mode == "whole":
        signal = enterprise.decode_for_scan(catalog, path)
        body = enterprise.scan_file(catalog, signal, opts, base_url="http://bench")
        del signal
    else:
        body = enterprise.scan_path(catalog, path, opts, base_url="http://bench")
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    sampler.stop()
    # VmHWM, not ru_maxrss: ru_maxrss keeps the peak of the (big) parent across fork+exec
    peak = _rss_mb(os.getpid(), "VmHWM")
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {
        "mode": mode,
        "rss_before_scan_mb": round(base_rss, 1),
        "peak_rss_mb": round(peak, 1),
        "scan_rss_mb": round(peak - base_rss, 1),
        "peak_tree_rss_mb": round(sampler.peak_mb, 1),
        "tree_rss_before_scan_mb": round(base_tree, 1),
        "peak_child_rss_mb": round(sampler.peak_child_mb, 1),
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
        "body_sha256": digest,
        "tracks": [
            {"asset_id": t["asset_id"], "start_s": t["start_seconds"], "end_s": t["end_seconds"]}
            for t in body["tracks"]
        ],
        "chunks": {c["offset"]: c["songs"][0]["title"] for c in body["result"]},
    }


def _accuracy(truth: list[dict[str, Any]], tracks: list[dict[str, Any]]) -> dict[str, Any]:
    """How much of each play the merged tracks of the same song cover, and how many pieces
    they report it in (synthesized songs repeat whole sections exactly, so the offset of a
    repeated section is ambiguous and a play may come back in several pieces)."""
    covered, pieces = [], []
    for t in truth:
        a, b = t["start_s"], t["end_s"]
        mine = [x for x in tracks if x["asset_id"] == t["asset_id"]]
        over = [(max(a, x["start_s"]), min(b, x["end_s"])) for x in mine]
        over = [(lo, hi) for lo, hi in over if hi > lo]
        covered.append(sum(hi - lo for lo, hi in over) / (b - a))
        pieces.append(len(over))
    ok = sum(c >= 0.9 for c in covered)
    return {
        "plays": len(truth),
        "plays_90pct_covered": ok,
        "mean_coverage": round(float(np.mean(covered)), 3),
        "mean_pieces_per_play": round(float(np.mean(pieces)), 2),
        "tracks_reported": len(tracks),
    }


def _agree(a: dict[str, str], b: dict[str, str]) -> dict[str, int]:
    keys = set(a) | set(b)
    return {"chunks": len(keys), "same": sum(a.get(k) == b.get(k) for k in keys)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=75.0)
    ap.add_argument("--songs", type=int, default=30)
    ap.add_argument("--work", type=Path, default=None, help="keep the catalog and file here")
    ap.add_argument("--measure", choices=["whole", "stream"], help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.work, args.measure, args.limit)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="tonearm-entmem-"))
    if (work / "truth.json").exists():
        info = json.loads((work / "truth.json").read_text())
    else:
        info = build(work, args.minutes, args.songs)
    runs = {}
    # the streaming scan of the file's first 15 minutes (limit=75 chunks): its memory must
    # not grow with the length of the file
    short = 75
    for name, mode, limit in (
        ("whole", "whole", None),
        ("stream", "stream", None),
        ("stream_15min", "stream", short),
    ):
        cmd = [sys.executable, __file__, "--measure", mode, "--work", str(work)]
        if limit:
            cmd += ["--limit", str(limit)]
        out = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
        )
        if out.returncode != 0:
            sys.exit(f"the {name} run failed:\n{out.stderr}")
        runs[name] = json.loads(out.stdout.strip().splitlines()[-1])
    pcm_mb = info["duration_s"] * 8000 * 4 / 2**20
    w, s = runs["whole"], runs["stream"]
    result = {
        "file": {k: v for k, v in info.items() if k != "truth"},
        "decoded_pcm_mb_at_8khz": round(pcm_mb, 1),
        "whole_file": {k: v for k, v in w.items() if k not in ("tracks", "chunks")},
        "streaming": {k: v for k, v in s.items() if k not in ("tracks", "chunks")},
        "streaming_first_15min": {
            k: v for k, v in runs["stream_15min"].items() if k not in ("tracks", "chunks")
        },
        "ratio_stream_vs_whole": {
            "peak_rss": round(s["peak_rss_mb"] / w["peak_rss_mb"], 3),
            "scan_rss": round(s["scan_rss_mb"] / max(w["scan_rss_mb"], 1e-9), 3),
            "peak_tree_rss": round(s["peak_tree_rss_mb"] / w["peak_tree_rss_mb"], 3),
            "cpu": round(s["cpu_s"] / w["cpu_s"], 3),
        },
        "streaming_scan_rss_vs_decoded_pcm": round(s["scan_rss_mb"] / pcm_mb, 3),
        "streaming_scan_rss_full_vs_first_15min": round(
            s["scan_rss_mb"] / max(runs["stream_15min"]["scan_rss_mb"], 1e-9), 3
        ),
        "identical_answers": w["body_sha256"] == s["body_sha256"],
        "chunks_with_same_top_song": _agree(w["chunks"], s["chunks"]),
        "accuracy": {
            "whole_file": _accuracy(info["truth"], w["tracks"]),
            "streaming": _accuracy(info["truth"], s["tracks"]),
        },
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "work_dir": str(work),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
