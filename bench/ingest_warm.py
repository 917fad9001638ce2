# ruff: noqa: E402
"""CPU per file of a warm bulk-ingest worker (what one core sustains at library scale).

Runs :func:`tonearm.catalog.bulk.prepare_file` in this process on the sets of
``bench/ingest.py`` (model half included, batch 64), after one warm-up file (imports, model
load, numba caches), and prints the process CPU time: ``x realtime per CPU-s`` and
``files per CPU-s``. CPU time is much less disturbed by other load than wall time; for a
comparison run it on a baseline tree too (``PYTHONPATH=/other/src``), one after the other.
Profile it with ``py-spy record --format raw -- python bench/ingest_warm.py music 4``.

Run: ``python bench/ingest_warm.py {music,sfx,fp} N [--format mp3|wav|flac|ogg]
[--decoder]``

``--format``: the set's files transcoded first (untimed, in a temp folder) to that format at
their own rate and channels (FFmpeg's encoders: mp3 at 192 kb/s, 16-bit wav and flac,
Vorbis q5). ``--decoder``: also print FFmpeg's decode alone (PyAV, every frame, nothing
else): the ceiling of a fingerprint-only ingest of that format.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
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

CODECS = {"mp3": ("mp3", "libmp3lame", 192_000), "wav": ("wav", "pcm_s16le", None),
          "flac": ("flac", "flac", None), "ogg": ("ogg", "libvorbis", None)}  # fmt: skip


def transcode(src: Path, fmt: str, out_dir: Path) -> Path:
    """``src`` re-encoded to ``fmt`` at its own rate and channels (FFmpeg, via PyAV)."""
    import av

    container, codec, bit_rate = CODECS[fmt]
    dest = out_dir / f"{src.stem}.{fmt}"
    with av.open(str(src)) as inp, av.open(str(dest), "w", format=container) as out:
        ist = inp.streams.audio[0]
        ost = out.add_stream(codec, rate=ist.codec_context.sample_rate)
        ost.layout = ist.codec_context.layout
        if bit_rate:
            ost.bit_rate = bit_rate
        fmt_in = ost.codec_context.format.name if ost.codec_context.format else "s16"
        res = av.AudioResampler(format=fmt_in, layout=ost.layout, rate=ost.rate)
        for frame in inp.decode(ist):
            for rf in res.resample(frame):
                for pkt in ost.encode(rf):
                    out.mux(pkt)
        for rf in res.resample(None):
            for pkt in ost.encode(rf):
                out.mux(pkt)
        for pkt in ost.encode(None):
            out.mux(pkt)
    return dest


def decoder_cpu_s(files: list[Path]) -> float:
    """CPU seconds of FFmpeg's decode alone of ``files`` (every frame, nothing kept)."""
    import av

    t0 = time.process_time()
    for f in files:
        with av.open(str(f)) as c:
            for _ in c.decode(c.streams.audio[0]):
                pass
    return time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("set", choices=sorted(bench_ingest.SETS))
    ap.add_argument("n", type=int)
    ap.add_argument("--format", choices=sorted(CODECS), default=None)
    ap.add_argument("--decoder", action="store_true")
    args = ap.parse_args()
    set_name, n = args.set, args.n
    kind, analyses = bench_ingest.SETS[set_name]
    sets = bench_ingest.corpus(
        n if set_name == "music" else 0, n if set_name == "sfx" else 0, n if set_name == "fp" else 0
    )
    files = [f for f, _ in sets[set_name]]
    durs = [d for _, d in sets[set_name]]
    if args.format:
        out_dir = Path(tempfile.mkdtemp())
        files = [transcode(f, args.format, out_dir) for f in files]
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
    label = f"{set_name}{'/' + args.format if args.format else ''}"
    if args.decoder:
        dec = decoder_cpu_s(files[1:])
        print(f"{label}: FFmpeg decode alone {audio / dec:.1f}x realtime per CPU-s")
    print(
        f"{label}: {len(tasks) - 1} files, {audio:.1f} s of audio, {cpu:.2f} CPU-s, "
        f"{audio / cpu:.1f}x realtime per CPU-s, {(len(tasks) - 1) / cpu:.2f} files per CPU-s, "
        f"load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
