# ruff: noqa: E402
"""CPU per file of a warm bulk-ingest worker (what one core sustains at library scale).

Runs :func:`tonearm.catalog.bulk.prepare_file` in this process on the sets of
``bench/ingest.py`` (model half included, batch 64), after one warm-up file (imports, model
load, numba caches), and prints the process CPU time: ``x realtime per CPU-s`` and
``files per CPU-s``. CPU time is much less disturbed by other load than wall time; for a
comparison run it on a baseline tree too (``PYTHONPATH=/other/src``), one after the other.
Profile it with ``py-spy record --format raw -- python bench/ingest_warm.py music 4``.

Run: ``python bench/ingest_warm.py {music,sfx,fp} N``
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest as bench_ingest  # bench/ingest.py: the sets
from tonearm.catalog import bulk
from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.decoding import audio_limits
from tonearm.core.embeddings.aisfx_model import run_windows
from tonearm.settings import Settings


def main() -> None:
    set_name, n = sys.argv[1], int(sys.argv[2])
    kind, analyses = bench_ingest.SETS[set_name]
    sets = bench_ingest.corpus(
        n if set_name == "music" else 0, n if set_name == "sfx" else 0, n if set_name == "fp" else 0
    )
    files = [f for f, _ in sets[set_name]]
    durs = [d for _, d in sets[set_name]]
    by_name = {a.name: a for a in select_analyzers(analyses)}
    emb = {}
    if "embedding" in by_name and kind in by_name["embedding"].kinds:
        emb[kind] = by_name["embedding"].batch_model(kind)  # type: ignore[attr-defined]
    bulk.init_worker(analyses, emb or None)
    lim = audio_limits(Settings()).catalog_file
    tmp = tempfile.mkdtemp()
    tasks = [
        bulk.FileTask(str(f), bulk.file_hash(f), kind, tmp, lim, keep_original=False) for f in files
    ]

    def one(t: bulk.FileTask) -> None:
        p = bulk.prepare_file(t)
        if p.pending is not None:
            run_windows(p.pending.windows, batch=64)

    one(tasks[0])  # warm-up
    t0 = time.process_time()
    for t in tasks[1:]:
        one(t)
    cpu = time.process_time() - t0
    audio = sum(durs[1:])
    print(
        f"{set_name}: {len(tasks) - 1} files, {audio:.1f} s of audio, {cpu:.2f} CPU-s, "
        f"{audio / cpu:.1f}x realtime per CPU-s, {(len(tasks) - 1) / cpu:.2f} files per CPU-s, "
        f"load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
