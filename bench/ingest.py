# ruff: noqa: E402
"""Ingest throughput: sequential (``ingest_paths``) vs pooled vs batched, in one run.

Sets (real audio from the Debian packages named in DESIGN.md; nothing is downloaded)
-----------------------------------------------------------------------------------
music   tracks from the game-music packages (the recognition bench's folders), an even
        spread over the sorted list, default analyzers (fingerprint, mir, embedding, beats,
        search_text).
sfx     short clips (0.2-5 s) from freedesktop sounds, supertux2, frozen-bubble, colobot,
        boswars sound folders, default analyzers.
fp      the music set with ``--analyses fingerprint`` (recognition catalogs).

Configurations
--------------
sequential  today's ``tonearm.catalog.ingest.ingest_paths``: one decode child process per file,
            models one file at a time.
pooled      ``tonearm.catalog.bulk.bulk_ingest``: long-lived worker processes decode and run
            every analyzer (models too) per file.
batched     the same pool, but model inference (aisfx windows) batched across files in the
            parent.

Each (set, configuration) runs in its own process on a fresh data directory; this process
samples the memory of that process tree (sum of proportional set sizes, every 0.1 s) and
takes the tree's CPU time from ``getrusage(RUSAGE_CHILDREN)`` plus the forkserver's (which
reaps decode children and pool workers). Figures: x realtime (audio seconds /
wall seconds), clips/s, x realtime per CPU-second (``audio_s / cpu_s``: what one core does,
much less disturbed by other load than wall time), peak tree PSS, and the 1-minute load
average before and after. One JSON object per configuration is printed (and written under
``--out``).

Run: ``python bench/ingest.py [--music 30] [--sfx 200] [--more-sfx] [--sets music,sfx,fp]
[--configs sequential,pooled,batched] [--workers N] [--out DIR] [--baseline-src DIR]``
(``--baseline-src``: each configuration also runs on that source tree, just before this
one, so the two are compared under the same load).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import contextlib
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MUSIC_DIRS = [
    "/usr/share/games/asc/music",
    "/usr/share/scummvm/drascula/audio",
    "/usr/share/games/planetblupi",
    "/usr/share/games/frozen-bubble/snd",
    "/usr/share/games/supertux2/music",
    "/usr/share/games/colobot/music",
    "/usr/share/games/boswars/music",
    "/usr/share/games/fillets-ng/music",
]
MUSIC_MIN_S = 30.0  # jingles in the music folders are not songs
SFX_DIRS = [
    "/usr/share/sounds/freedesktop/stereo",
    "/usr/share/games/supertux2/sounds",
    "/usr/share/games/frozen-bubble/snd",
    "/usr/share/games/colobot/sounds",
    "/usr/share/games/boswars/sounds",
    "/usr/share/games/xmoto/Textures/Sounds",
]
# --more-sfx: short sounds of planetblupi-common, lincity-ng-data, pingus-data,
# wesnoth-1.16-data and lmms-common (installed with the packages above), for a
# set of several hundred clips; not in the default set, so earlier runs stay comparable
MORE_SFX_DIRS = [
    "/usr/share/planetblupi/sound/en",
    "/usr/share/games/lincity-ng/sounds",
    "/usr/share/games/pingus/data/sounds",
    "/usr/share/games/wesnoth/1.16/sounds",
    "/usr/share/lmms/samples",
]
SFX_MIN_S, SFX_MAX_S = 0.2, 5.0
AUDIO_EXT = {".ogg", ".oga", ".mp3", ".wav", ".flac"}
SETS = {"music": ("music", None), "sfx": ("sfx", None), "fp": ("music", ["fingerprint"])}


def _duration_s(path: Path) -> float | None:
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as c:
            if c.streams.audio and c.streams.audio[0].duration is not None:
                st = c.streams.audio[0]
                return float(st.duration * st.time_base)
            return float(c.duration) / 1e6 if c.duration else None
    except Exception:
        return None


def _files(dirs: list[str], lo: float, hi: float) -> list[tuple[Path, float]]:
    out = []
    for d in dirs:
        p = Path(d)
        if not p.exists():
            continue
        for f in sorted(p.rglob("*")):
            if f.suffix.lower() in AUDIO_EXT and f.is_file():
                dur = _duration_s(f)
                if dur is not None and lo <= dur <= hi:
                    out.append((f, dur))
    return out


def spread(items: list[Any], n: int) -> list[Any]:
    """``n`` items evenly over the list (all when it is shorter): every package represented."""
    if n <= 0 or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def corpus(
    n_music: int, n_sfx: int, n_fp: int | None = None, more_sfx: bool = False
) -> dict[str, list[tuple[Path, float]]]:
    songs = _files(MUSIC_DIRS, MUSIC_MIN_S, 3600.0)
    sfx_dirs = SFX_DIRS + (MORE_SFX_DIRS if more_sfx else [])
    sfx = spread(_files(sfx_dirs, SFX_MIN_S, SFX_MAX_S), n_sfx)
    fp = spread(songs, n_music if n_fp is None else n_fp)
    return {"music": spread(songs, n_music), "sfx": sfx, "fp": fp}


# -- one configuration, in its own process ---------------------------------------------------
def run_one(args: argparse.Namespace) -> None:
    from tonearm.catalog.context import Catalog
    from tonearm.catalog.ingest import ingest_paths
    from tonearm.settings import Settings

    files = [Path(x) for x in json.loads(Path(args.files).read_text())]
    kind, analyses = SETS[args.set]
    settings = Settings(data=Path(args.data))
    settings.ensure_dirs()
    catalog = Catalog.open(settings)
    t0 = time.perf_counter()
    if args.config == "sequential":
        summary = ingest_paths(catalog, files, kind=kind, analyses=analyses)
    else:
        from tonearm.catalog.bulk import bulk_ingest

        summary = bulk_ingest(
            catalog,
            files,
            kind=kind,
            analyses=analyses,
            workers=args.workers,
            batch_models=args.config == "batched",
        )
    wall = time.perf_counter() - t0
    catalog.close()
    # let the forkserver reap the workers before we exit, so the bench sees their CPU time
    time.sleep(1.0)
    print(
        json.dumps(
            {
                "wall_s": wall,
                "added": len(summary.added),
                "skipped": len(summary.skipped),
                "failed": [[f.path, f.reason] for f in summary.failed],
                "audio_s": summary.seconds_of_audio,
            }
        )
    )


def _sample(proc: Any, cpu: dict[int, float]) -> int:
    """Tree memory now (sum of proportional set sizes: shared pages of the forkserver's
    children counted once), and the CPU seconds of every forkserver seen so far.

    Decode children and pool workers are children of multiprocessing's forkserver, which
    reaps them, so their CPU time lands in the forkserver's ``children_*`` times, not in
    this process's ``RUSAGE_CHILDREN``; the forkserver itself is never waited for.
    """
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            try:
                total += p.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                total += p.memory_info().rss
            if "multiprocessing.forkserver" in " ".join(p.cmdline()):
                t = p.cpu_times()
                cpu[p.pid] = t.user + t.system + t.children_user + t.children_system
    return total


def measure(
    cfg: str, set_name: str, files: list[Path], workers: int, src: Path | None = None
) -> dict[str, Any]:
    """One configuration in its own process tree (``src``: run that source tree instead
    of the one this process imports)."""
    import psutil

    tmp = Path(tempfile.mkdtemp(prefix=f"bench-ingest-{set_name}-{cfg}-"))
    flist = tmp / "files.json"
    flist.write_text(json.dumps([str(f) for f in files]))
    cmd = [
        sys.executable,
        __file__,
        "--one",
        "--config",
        cfg,
        "--set",
        set_name,
        "--files",
        str(flist),
        "--data",
        str(tmp / "data"),
        "--workers",
        str(workers),
    ]
    load0 = os.getloadavg()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ps = psutil.Process(p.pid)
    peak = 0
    forkservers: dict[int, float] = {}
    while p.poll() is None:
        peak = max(peak, _sample(ps, forkservers))
        time.sleep(0.1)
    stdout, stderr = p.communicate()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    load1 = os.getloadavg()
    shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode != 0:
        return {"config": cfg, "set": set_name, "error": stderr.strip().splitlines()[-5:]}
    r = json.loads(stdout.strip().splitlines()[-1])
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    cpu += sum(forkservers.values())
    audio = r["audio_s"]
    return {
        "code": "baseline" if src is not None else "this",
        "set": set_name,
        "config": cfg,
        "workers": 1 if cfg == "sequential" else workers,
        "files": len(files),
        "added": r["added"],
        "failed": r["failed"],
        "audio_s": round(audio, 1),
        "wall_s": round(r["wall_s"], 2),
        "x_realtime": round(audio / r["wall_s"], 1),
        "clips_per_s": round(r["added"] / r["wall_s"], 2),
        "cpu_s": round(cpu, 2),
        "x_realtime_per_cpu_s": round(audio / cpu, 1) if cpu else None,
        "clips_per_cpu_s": round(r["added"] / cpu, 2) if cpu else None,
        "peak_tree_pss_mb": round(peak / 2**20, 1),
        "load_1min_before": round(load0[0], 2),
        "load_1min_after": round(load1[0], 2),
        "cores": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--music", type=int, default=30, help="music tracks (0: all)")
    ap.add_argument("--sfx", type=int, default=200, help="short SFX clips (0: all)")
    ap.add_argument("--fp", type=int, default=None, help="tracks of the fp set (default --music)")
    ap.add_argument("--more-sfx", action="store_true", help="add MORE_SFX_DIRS to the sfx set")
    ap.add_argument("--sets", default="music,sfx,fp")
    ap.add_argument("--configs", default="sequential,pooled,batched")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", type=Path, default=None, help="also write one JSON per config here")
    ap.add_argument(
        "--baseline-src",
        type=Path,
        default=None,
        help="a source tree (its src/ folder) of the code to compare against: each "
        "configuration runs with it and then with this checkout, one after the other",
    )
    # internal: run one configuration
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--set", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        run_one(args)
        return
    sets = corpus(args.music, args.sfx, args.fp, args.more_sfx)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for set_name in args.sets.split(","):
        files = [f for f, _ in sets[set_name]]
        dur = sum(d for _, d in sets[set_name])
        print(
            f"# {set_name}: {len(files)} files, {dur / 60:.1f} min",
            file=sys.stderr,
            flush=True,
        )
        for cfg in args.configs.split(","):
            if set_name == "fp" and cfg == "batched":
                continue  # no model to batch: the same as pooled
            for src in [args.baseline_src, None] if args.baseline_src else [None]:
                res = measure(cfg, set_name, files, args.workers, src)
                print(json.dumps(res), flush=True)
                if args.out:
                    name = f"{set_name}-{cfg}{'-baseline' if src else ''}.json"
                    (args.out / name).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
