"""Recognition at catalog scale: query CPU, accuracy and index size at 1k, 10k, 100k songs.

    .venv/bin/python bench/recognition_scale.py --sizes 1000,10000,100000

Prints one JSON object per line: first the corpus and filler check (``"kind": "corpus"``),
then one per catalog size (``"kind": "size"``) with at least ``songs``,
``query_cpu_ms_p50``, ``query_cpu_ms_p95``, ``top1``, ``false_matches`` and
``index_bytes_per_hour``, plus RSS, build time and the ratio to the first size of the same
run (the baseline).

Catalog: the real music of bench/recognition.py (Debian game-music packages), every 7th
song held out; every indexed real song is in every catalog. The rest are filler songs
made at the peak level, so 100k songs build in minutes: each filler is a 3.5-5.5 min
sequence of 15-45 s stretches of real songs' reference peak maps, every stretch
transposed by 2-7 whole semitones (either way: music in another key stays on the same
pitch grid, and fractional shifts would smear real music's band statistics) and
time-stretched by 10-25 % (either way), then cut back to the reference peak density
and indexed by the engine like any reference.
Transpositions and stretches are outside the engine's search range (+-1 semitone, +-5 %),
so fillers add realistic chance hits but never contain a catalog song's fingerprint.
The ``filler_check`` line compares the filler's hash-frequency distribution with real
music's (top-hash share, Jensen-Shannon divergence against a split of the real songs
into two halves, and the expected postings per query hash, which is what query cost
follows).

Queries (computed once, the same for every size): one 10 s excerpt of every indexed
real song and three of every held-out song (starts drawn inside the song's audible span:
some files end in a minute of digital silence), each clean, with white noise at 0 dB SNR,
played 3 % faster and slower (speed: pitch and tempo together) and pitch-shifted by
+-1 semitone. ``top1``: catalog excerpts answered with the right song (at the shipped
threshold, what ``recognize`` returns); ``false_matches``: held-out excerpts answered
with a song whose recording they do not contain (two held-out songs reuse recorded
passages of catalog songs: every held-out excerpt answered is checked against the
answer's waveform with bench/recognition.py's
engine-independent ``waveform_share``; an excerpt that contains a recorded passage of
the song it was answered with is not a false match;
``any_match_not_in_catalog`` counts every answer). Query CPU: process time of peaks +
hashing + lookup + voting (``service.match_peaks(ix, service.query_peaks(signal))``),
decode excluded.

Each size is built and queried in a forked child, so its RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from tonearm.core.audio.signal import Signal
from tonearm.recognition import fingerprint as fp
from tonearm.recognition import service
from tonearm.recognition.index import FingerprintIndex

sys.path.insert(0, str(Path(__file__).parent))
import recognition as rb  # noqa: E402  (bench/recognition.py: corpus and degradations)

CONDITIONS = ["clean", "white_0db", "speed_+3%", "speed_-3%", "pitch_+1st", "pitch_-1st"]
QUERY_S = 10.0
HELD_OUT_EXCERPTS = 3
FILLER_MIN_S, FILLER_MAX_S = 210.0, 330.0
SEG_MIN_S, SEG_MAX_S = 15.0, 45.0
SHIFT_ST = (2, 7)  # whole semitones: music in another key stays on the same pitch grid
STRETCH = (1.10, 1.25)


@dataclass
class Query:
    song: str
    in_catalog: bool
    cond: str
    y: np.ndarray
    sr: int
    # held-out excerpts: the clean excerpt (rb.Q_SR), for the shared-recording check
    clean: np.ndarray | None = None


# -- corpus ---------------------------------------------------------------------------------
def load_corpus(max_songs: int) -> tuple[list[tuple[str, fp.Peaks, float]], list[Query]]:
    """Indexed real songs (name, reference peaks, seconds) and the query excerpts."""
    rng = np.random.default_rng(4321)
    refs: list[tuple[str, fp.Peaks, float]] = []
    queries: list[Query] = []
    n_seen = 0
    for path in rb.find_music():
        sig = rb.load(path)
        if sig is None or sig.duration_s < 20.0:
            continue
        n_seen += 1
        if max_songs and n_seen > max_songs:
            break
        name = str(path)
        indexed = n_seen % 7 != 0
        if indexed:
            refs.append((name, fp.signal_peaks(sig, fp.REF_DENSITY), sig.duration_s))
        lo_s, hi_s = audible_span_s(sig.samples[0], sig.sr)
        for _ in range(1 if indexed else HELD_OUT_EXCERPTS):
            # inside the audible span: an excerpt of trailing digital silence has no peaks
            start = float(rng.uniform(lo_s, max(lo_s, hi_s - QUERY_S * 1.1 - 0.5)))
            a = int(start * sig.sr)
            src = sig.samples[0][a : a + int((QUERY_S * 1.1 + 0.5) * sig.sr)]
            src = np.asarray(soxr.resample(src, sig.sr, rb.Q_SR), np.float32)
            clean = None if indexed else src[: int(QUERY_S * rb.Q_SR)]
            for ci, cond in enumerate(CONDITIONS):
                qrng = np.random.default_rng(len(queries) * 31 + ci)
                y, sr = rb.make_query(src, 0.0, cond, qrng)
                queries.append(Query(name, indexed, cond, y[: int(QUERY_S * sr)], sr, clean))
    return refs, queries


AUDIBLE_DB = -60.0  # a 1 s block quieter than this (RMS re full scale) is silence


def audible_span_s(y: np.ndarray, sr: int) -> tuple[float, float]:
    """Start and end (seconds) of the span from the first to the last 1 s block louder
    than ``AUDIBLE_DB``; the whole signal when no block is (or every one is).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,), float
    sr : int
        Sample rate, Hz.
    """
    n_blocks = len(y) // sr
    if n_blocks == 0:
        return 0.0, len(y) / sr
    blocks = np.asarray(y[: n_blocks * sr], np.float64).reshape(n_blocks, sr)
    rms_db = 10.0 * np.log10(np.mean(blocks**2, axis=1) + 1e-20)
    loud = np.flatnonzero(rms_db > AUDIBLE_DB)
    if len(loud) == 0:
        return 0.0, len(y) / sr
    end_s = len(y) / sr if loud[-1] == n_blocks - 1 else float(loud[-1] + 1)
    return float(loud[0]), end_s


_SHARE_CACHE: dict[tuple[int, str], bool] = {}
_SHARE_AUDIO: dict[str, np.ndarray] = {}


def contains_recording(q: Query, song: str) -> bool:
    """Does held-out excerpt ``q`` contain a recorded passage of catalog song ``song`` (a
    real song's path)? bench/recognition.py's engine-independent waveform test
    (``waveform_share``: >= 2 consecutive 1 s windows correlating >= 0.5 at the best lag)
    on the clean excerpt. Some held-out songs reuse recordings of catalog songs; answering
    such an excerpt with the song it contains is not a false match."""
    if q.clean is None or not Path(song).exists():
        return False  # fillers hold no recorded audio
    key = (id(q.clean), song)
    if key not in _SHARE_CACHE:
        if song not in _SHARE_AUDIO:
            sig = rb.load(Path(song))
            _SHARE_AUDIO[song] = (
                np.zeros(0, np.float32)
                if sig is None
                else np.asarray(soxr.resample(sig.samples[0], sig.sr, rb.SHARE_SR), np.float32)
            )
        b = rb.waveform_share(q.clean, rb.Q_SR, [(song, _SHARE_AUDIO[song])])
        _SHARE_CACHE[key] = b["run"] >= rb.SHARED_RUN
    return _SHARE_CACHE[key]


def load_corpus_cached(
    max_songs: int, cache: str
) -> tuple[list[tuple[str, fp.Peaks, float]], list[Query]]:
    """``load_corpus``, kept in ``cache`` (a pickle) for reruns with the same peak picker."""
    import pickle

    key = (
        "audible-span-1",
        max_songs,
        fp.SR,
        fp.HOP,
        fp.N_FFT,
        fp.REF_DENSITY,
        fp.PEAK_DT,
        fp.PEAK_DF,
        CONDITIONS,
    )
    if cache and Path(cache).exists():
        with open(cache, "rb") as fh:
            got = pickle.load(fh)
        if got[0] == key:
            return got[1], got[2]
    refs, queries = load_corpus(max_songs)
    if cache:
        with open(cache, "wb") as fh:
            pickle.dump((key, refs, queries), fh)
    return refs, queries


# -- fillers --------------------------------------------------------------------------------
def filler_peaks(pool: list[fp.Peaks], rng: np.random.Generator) -> fp.Peaks:
    """One filler song: stretches of real reference peak maps, each transposed and
    time-stretched outside the search range, concatenated, back at reference density."""
    target = rng.uniform(FILLER_MIN_S, FILLER_MAX_S) * fp.FPS
    ts, fs, ss = [], [], []
    at = 0
    while at < target:
        p = pool[int(rng.integers(len(pool)))]
        seg_f = int(rng.uniform(SEG_MIN_S, SEG_MAX_S) * fp.FPS)
        t0 = int(rng.integers(0, max(1, p.n_frames - seg_f)))
        s = p.select(t0, t0 + seg_f)
        shift = int(rng.integers(SHIFT_ST[0], SHIFT_ST[1] + 1)) * rng.choice([-1, 1])
        shift *= fp.BANDS_PER_SEMITONE
        stretch = rng.uniform(*STRETCH) ** rng.choice([-1, 1])
        f = s.f + shift
        keep = (f >= 0) & (f < fp.N_BANDS - 1)
        ts.append(np.rint(s.t[keep] * stretch).astype(np.int32) + at)
        fs.append(f[keep].astype(np.float32))
        ss.append(s.strength[keep])
        at += int(round(seg_f * stretch))
    t = np.concatenate(ts)
    order = np.argsort(t, kind="stable")
    return fp.Peaks(t[order], np.concatenate(fs)[order], np.concatenate(ss)[order], at).strongest(
        fp.REF_DENSITY
    )


# engine 2+ stores peak maps (fp.canonical) and derives pair and triplet hashes; engine 1
# stored the pair hashes
PEAK_ENGINE = hasattr(fp, "canonical")


def ref_hashes(peaks: fp.Peaks) -> tuple[np.ndarray, np.ndarray]:
    """The reference pair hashes the engine scores with for these peaks."""
    if PEAK_ENGINE:
        return fp.reference_pairs(peaks)
    return fp.pair_hashes(peaks, fan_out=fp.FAN_OUT)


def ref_entry(name: str, peaks: fp.Peaks) -> tuple:  # type: ignore[type-arg]
    """What ``FingerprintIndex.build`` / ``add`` take for one reference."""
    return (name, peaks) if PEAK_ENGINE else (name, *ref_hashes(peaks))


def _dist(hashes: list[np.ndarray], bits: int = fp.HASH_BITS) -> np.ndarray:
    h = np.concatenate(hashes).astype(np.int64)
    if bits < 32 and h.max(initial=0) >= (1 << bits):
        h >>= 32 - bits  # mixed 32-bit hashes: their top bits
    c = np.bincount(h, minlength=1 << bits)
    return c.astype(np.float64) / max(1, c.sum())


def _js(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return 0.5 * kl(p) + 0.5 * kl(q)


def _compare(real: list[np.ndarray], fill: list[np.ndarray], bits: int) -> dict:
    """Hash-frequency statistics of real songs vs fillers, on equal numbers of hashes."""
    n_real = sum(len(h) for h in real)
    acc, fill_eq = 0, []
    for h in fill:
        fill_eq.append(h[: max(0, n_real - acc)])
        acc += len(fill_eq[-1])
        if acc >= n_real:
            break
    p_real, p_fill = _dist(real, bits), _dist(fill_eq, bits)
    p_a, p_b = _dist(real[0::2], bits), _dist(real[1::2], bits)

    def top_share(p: np.ndarray, frac: float) -> float:
        k = max(1, int(frac * len(p)))
        return float(np.sort(p)[::-1][:k].sum())

    # expected postings a query hash (drawn like real music) meets, per stored hash,
    # relative to uniform hashes: this is what query cost follows
    n_bins = float(1 << bits)
    return {
        "bins": 1 << bits,
        "real_hashes": int(n_real),
        "filler_hashes": int(sum(len(h) for h in fill_eq)),
        "top_0.1pct_hash_share": {
            "real": round(top_share(p_real, 0.001), 4),
            "filler": round(top_share(p_fill, 0.001), 4),
        },
        "top_1pct_hash_share": {
            "real": round(top_share(p_real, 0.01), 4),
            "filler": round(top_share(p_fill, 0.01), 4),
        },
        "js_divergence_bits": {
            "real_vs_filler": round(_js(p_real, p_fill), 4),
            "real_half_a_vs_half_b": round(_js(p_a, p_b), 4),
        },
        "collision_factor_vs_uniform": {
            "real_queries_on_real": round(float(np.dot(p_a, p_b) * n_bins), 2),
            "real_queries_on_filler": round(float(np.dot(p_real, p_fill) * n_bins), 2),
        },
    }


def filler_check(refs: list[tuple[str, fp.Peaks, float]], n_fillers: int, seed: int) -> dict:
    """Does the filler hash like real music? Compared on equal amounts of hashes, for the
    pair hashes and (engine 2+) the triplet hashes (their top 22 bits)."""
    rng = np.random.default_rng(seed)
    pool = [p for _, p, _ in refs]
    fillers = [filler_peaks(pool, rng) for _ in range(n_fillers)]
    out = {
        "kind": "filler_check",
        "note": "collision factor: sum_h p_query(h) p_index(h) * bins (1.0 = uniform "
        "hashes), what query cost follows; real-on-real compares two halves of the real "
        "songs so a song never meets itself; the JS divergence of the two real halves is "
        "the sampling floor for real-vs-filler",
        "pairs": _compare(
            [ref_hashes(p)[0] for _, p, _ in refs],
            [ref_hashes(q)[0] for q in fillers],
            fp.HASH_BITS,
        ),
    }
    if PEAK_ENGINE:
        from tonearm.recognition.index import reference_triplets

        out["triplets"] = _compare(
            [reference_triplets(p)[0] for _, p, _ in refs],
            [reference_triplets(q)[0] for q in fillers],
            22,
        )
    return out


# -- index ----------------------------------------------------------------------------------
def index_nbytes(ix: FingerprintIndex) -> int:
    """Everything the index keeps in memory: arrays plus ~200 B of metadata per asset."""
    if hasattr(ix, "nbytes"):
        return int(ix.nbytes)
    n = int(np.asarray(ix.main).nbytes + ix.starts.nbytes)
    n += sum(int(s.nbytes) for _, s in ix.segments)
    return n + 200 * len(ix.asset_ids)


def build_index(
    refs: list[tuple[str, fp.Peaks, float]], n_songs: int, seed: int, spill_dir: str = ""
) -> tuple[FingerprintIndex, float, float]:
    """The catalog: every indexed real song plus fillers up to ``n_songs``; with
    ``spill_dir``, built in ~4 bytes of RAM per posting (postings spilled to files there).
    Returns (index, seconds of audio, build CPU seconds)."""
    rng = np.random.default_rng(seed)
    pool = [p for _, p, _ in refs]
    c0 = time.process_time()

    def items():  # type: ignore[no-untyped-def]
        for name, p, _ in refs:
            yield ref_entry(name, p)
        for i in range(max(0, n_songs - len(refs))):
            q = filler_peaks(pool, rng)
            items.seconds += q.n_frames / fp.FPS  # type: ignore[attr-defined]
            yield ref_entry(f"filler-{i}", q)

    items.seconds = sum(d for _, _, d in refs)  # type: ignore[attr-defined]
    if spill_dir:
        ix = FingerprintIndex.build(items(), spill_dir=Path(spill_dir))
    elif hasattr(FingerprintIndex, "build"):
        ix = FingerprintIndex.build(items())
    else:
        ix = _bulk_build_v1(items())
    return ix, float(items.seconds), time.process_time() - c0  # type: ignore[attr-defined]


def _bulk_build_v1(items) -> FingerprintIndex:  # type: ignore[no-untyped-def]
    """Bulk build for the engine without ``FingerprintIndex.build``: the compacted state
    ``add`` + ``compact`` would reach, without its repeated merges (which need several
    times the final size in memory)."""
    from tonearm.recognition import index as ixm

    ix = FingerprintIndex()
    parts: list[np.ndarray] = []
    for idx, (aid, h, t) in enumerate(items):
        ix.asset_ids.append(aid)
        ix.idx_of[aid] = idx
        ix.n_hashes[idx] = len(h)
        ix.span_frames[idx] = int(t.max()) + 1 if len(t) else 0
        parts.append(ixm.make_keys(h, t, idx))
    total = sum(len(p) for p in parts)
    main = np.empty(total, np.uint64)
    at = 0
    parts.reverse()
    while parts:
        p = parts.pop()
        main[at : at + len(p)] = p
        at += len(p)
    main.sort()
    ix.main = main
    ix._build_starts()
    return ix


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run_size(
    refs: list[tuple[str, fp.Peaks, float]],
    queries: list[Query],
    n_songs: int,
    seed: int,
    spill_dir: str = "",
) -> dict:
    ix, audio_s, build_cpu_s = build_index(refs, n_songs, seed, spill_dir)
    nbytes = index_nbytes(ix)
    rss_built = rss_mb()
    rows = []
    for q in queries:
        sig = Signal(q.y, q.sr)
        c0 = time.process_time()
        ms = service.match_peaks(ix, service.query_peaks(sig))
        cpu_ms = (time.process_time() - c0) * 1000
        rows.append((q, ms[0].asset_id if ms else None, cpu_ms))
    cpu = np.array([r[2] for r in rows])
    pos = [r for r in rows if r[0].in_catalog]
    neg = [r for r in rows if not r[0].in_catalog]

    def false(r: tuple) -> bool:  # type: ignore[type-arg]
        """A held-out excerpt answered with a song whose recording it does not contain."""
        return r[1] is not None and not contains_recording(r[0], r[1])

    by_cond = {}
    for cond in CONDITIONS:
        pc = [r for r in pos if r[0].cond == cond]
        nc = [r for r in neg if r[0].cond == cond]
        cc = np.array([r[2] for r in rows if r[0].cond == cond])
        by_cond[cond] = {
            "top1": round(sum(r[1] == r[0].song for r in pc) / max(1, len(pc)), 3),
            "false_matches": round(sum(false(r) for r in nc) / max(1, len(nc)), 3),
            "any_match_not_in_catalog": round(
                sum(r[1] is not None for r in nc) / max(1, len(nc)), 3
            ),
            "cpu_ms_p50": round(float(np.percentile(cc, 50)), 1),
            "cpu_ms_p95": round(float(np.percentile(cc, 95)), 1),
        }
    hours = audio_s / 3600
    return {
        "kind": "size",
        "songs": len(ix),
        "query_cpu_ms_p50": round(float(np.percentile(cpu, 50)), 1),
        "query_cpu_ms_p95": round(float(np.percentile(cpu, 95)), 1),
        "top1": round(sum(r[1] == r[0].song for r in pos) / max(1, len(pos)), 4),
        "false_matches": round(sum(false(r) for r in neg) / max(1, len(neg)), 4),
        # held-out excerpts answered with any song (before the shared-recording check)
        "any_match_not_in_catalog": round(sum(r[1] is not None for r in neg) / max(1, len(neg)), 4),
        "answered_with_a_recording_they_contain": sum(
            r[1] is not None and not false(r) for r in neg
        ),
        "index_bytes_per_hour": int(nbytes / max(hours, 1e-9)),
        "index_mb": round(nbytes / 1e6, 1),
        "audio_hours": round(hours, 1),
        "keys": int(ix.n_keys),
        "build_cpu_s": round(build_cpu_s, 1),
        "rss_mb_after_build": round(rss_built, 0),
        "rss_mb_peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3, 0),
        "queries_in_catalog": len(pos),
        "queries_not_in_catalog": len(neg),
        "wrong_song": round(
            sum(r[1] is not None and r[1] != r[0].song for r in pos) / max(1, len(pos)), 4
        ),
        "false_match_songs": sorted({Path(r[0].song).name for r in neg if false(r)}),
        "by_condition": by_cond,
        "engine_version": fp.VERSION,
    }


def _child(refs, queries, n, seed, conn, spill_dir="") -> None:  # type: ignore[no-untyped-def]
    try:
        conn.send(run_size(refs, queries, n, seed, spill_dir))
    except BaseException as e:  # noqa: BLE001 - report any failure (MemoryError too)
        conn.send({"kind": "size", "songs": n, "error": repr(e)})
    conn.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--max-songs", type=int, default=0, help="real songs to read (0: all)")
    ap.add_argument("--check-fillers", type=int, default=300, help="fillers in the check")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--cache", default="", help="pickle of the decoded corpus (peaks + query audio) to reuse"
    )
    ap.add_argument(
        "--triplets",
        action="store_true",
        help="build the speed/pitch-invariant triplet shortlist (recognition.triplets)",
    )
    ap.add_argument(
        "--spill",
        default="",
        help="directory for the low-memory build (~4 bytes of RAM per posting; 12 on disk)",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.triplets:  # the children fork after this, so they build it too
        from tonearm.recognition import triplets

        triplets.ENABLED = True

    rb._warm_up()
    t0 = time.perf_counter()
    refs, queries = load_corpus_cached(args.max_songs, args.cache)
    if not refs:
        sys.exit("no music found: apt-get install the Debian packages named in DESIGN.md")
    print(
        json.dumps(
            {
                "kind": "corpus",
                "real_songs_indexed": len(refs),
                "real_hours_indexed": round(sum(d for _, _, d in refs) / 3600, 2),
                "held_out_songs": len({q.song for q in queries if not q.in_catalog}),
                "queries_per_size": len(queries),
                "conditions": CONDITIONS,
                "load_s": round(time.perf_counter() - t0, 1),
            }
        ),
        flush=True,
    )
    print(json.dumps(filler_check(refs, args.check_fillers, args.seed + 1)), flush=True)
    ctx = mp.get_context("fork")
    first: dict | None = None
    for n in sizes:
        a, b = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_child, args=(refs, queries, n, args.seed, b, args.spill))
        p.start()
        b.close()
        try:
            out = a.recv()
        except EOFError:
            out = {"kind": "size", "songs": n, "error": f"child died (exit {p.exitcode})"}
        p.join()
        if "error" not in out:
            if first is None:
                first = out
            out["cpu_p50_vs_first_size"] = round(
                out["query_cpu_ms_p50"] / max(first["query_cpu_ms_p50"], 1e-9), 2
            )
            out["cpu_p95_vs_first_size"] = round(
                out["query_cpu_ms_p95"] / max(first["query_cpu_ms_p95"], 1e-9), 2
            )
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
