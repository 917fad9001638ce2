# ruff: noqa: E402
"""How many aisfx windows a music embedding needs: K sampled windows vs the current 24.

For each real track (the ingest bench's music set) the music vector is computed as ingest
does (22,050 Hz mono, centred 120 s excerpt, DSP blocks + aisfx windows of 2.32 s without
overlap) with at most K model windows taken evenly over the excerpt, for several K; "all"
is every window of the excerpt (up to 51: the most a 120 s excerpt has). It reports

- agreement with the K = 24 vectors (today's ingest) and with the "all" vectors: the cosine
  of each track's two vectors, the overlap of the 5 and 10 nearest neighbours within the
  set, top-1 agreement;
- what a user gets: soundtrack precision@5 and mAP (label = the track's folder: a game's
  soundtrack or a supertux world; queries whose label has >= 2 other tracks), and track
  identity: a 30 s excerpt from the START of each track (mostly outside the centred
  excerpt the catalog vector describes), embedded as an upload is, queries the catalog
  vectors: top-1 = its own track, and its mean rank;
- the model's CPU seconds per window.

All window vectors are computed once; each K picks its windows with the same rule as
:func:`tonearm.core.embeddings.aisfx_model.windows`. ``--half``: odd-numbered tracks only
(0) or even-numbered (1), to check a choice on a held-out half.

Run: ``python bench/music_windows.py [--music 48] [--ks 8,12,16,20,24] [--half 0|1]``
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from ingest import corpus
from tonearm.core.audio.decode import decode
from tonearm.core.embeddings.aisfx_model import (
    WINDOW_FRAMES,
    PendingEmbedding,
    complete,
    finish,
    run_windows,
)
from tonearm.core.embeddings.music import MusicEmbedder
from tonearm.core.features.onset import ANALYSIS_SR

QUERY_S = (5.0, 35.0)  # the upload excerpt: seconds from the start of the track


def pick(n_starts: int, k: int) -> np.ndarray:
    """Indices of the windows :func:`windows` keeps when capped at ``k``."""
    if n_starts <= k:
        return np.arange(n_starts)
    return np.linspace(0, n_starts - 1, k).round().astype(int)


def neighbours(m: np.ndarray, n: int) -> list[set[int]]:
    s = m @ m.T
    np.fill_diagonal(s, -np.inf)
    return [set(np.argsort(-row)[:n].tolist()) for row in s]


def precision_at_k(v: np.ndarray, labels: list[str], k: int) -> tuple[float, float, int]:
    """Mean precision@k and mAP over queries whose label has >= 2 other members."""
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    lab = np.array(labels)
    p_at, aps = [], []
    for i, li in enumerate(labels):
        rel = (lab == li) & (np.arange(len(lab)) != i)
        if rel.sum() < 2:
            continue
        hits = rel[np.argsort(-sims[i])]
        p_at.append(hits[: min(k, int(rel.sum()))].mean())
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return float(np.mean(p_at)), float(np.mean(aps)), len(p_at)


def overlap(a: list[set[int]], b: list[set[int]], n: int) -> float:
    return round(float(np.mean([len(x & y) / n for x, y in zip(a, b, strict=True)])), 3)


def agreement(m: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    cos = np.sum(m * ref, axis=1)
    n5, n10 = neighbours(m, 5), neighbours(m, 10)
    r5, r10 = neighbours(ref, 5), neighbours(ref, 10)
    eye = 2 * np.eye(len(m))
    return {
        "cosine_mean": round(float(cos.mean()), 4),
        "cosine_min": round(float(cos.min()), 4),
        "top5_overlap": overlap(n5, r5, 5),
        "top10_overlap": overlap(n10, r10, 10),
        "top1_same": round(
            float(np.mean(np.argmax(m @ m.T - eye, 1) == np.argmax(ref @ ref.T - eye, 1))), 3
        ),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--music", type=int, default=48)
    ap.add_argument("--ks", default="8,12,16,20,24")
    ap.add_argument("--half", type=int, choices=(0, 1), default=None)
    args = ap.parse_args()
    ks: list[int | str] = [int(k) for k in args.ks.split(",")]
    if 24 not in ks:
        ks.append(24)
    ks.append("all")
    files = [f for f, _ in corpus(args.music, 0)["music"]]
    if args.half is not None:
        files = files[args.half :: 2]
    emb = MusicEmbedder(max_windows=10_000)  # every window: the cap is applied here per K
    upload = MusicEmbedder()  # how a query excerpt is embedded
    vecs: dict[int | str, list[np.ndarray]] = {k: [] for k in ks}
    queries, labels, cpu_per_window, n_windows = [], [], [], []
    for f in files:
        sig = decode(f, mono=True, sr=ANALYSIS_SR, isolate=False)
        p = emb.prepare(sig)
        assert isinstance(p, PendingEmbedding)
        t = time.process_time()
        allv = run_windows(p.windows, batch=64)
        cpu_per_window.append((time.process_time() - t) / len(p.windows))
        n_windows.append(len(allv))
        for k in ks:
            sel = allv if k == "all" else allv[pick(len(allv), int(k))]
            vecs[k].append(finish(p, sel))
        q0, q1 = QUERY_S
        queries.append(complete(upload.prepare(sig.slice_s(q0, min(q1, sig.duration_s)))))
        labels.append(f.parent.name)
        print(f"{f.name}: {len(allv)} windows", file=sys.stderr, flush=True)
    mats = {k: np.stack(v) for k, v in vecs.items()}
    Q = np.stack(queries)
    out: dict = {
        "tracks": len(files),
        "half": args.half,
        "labels": {x: labels.count(x) for x in sorted(set(labels))},
        "windows_per_track_median": int(np.median(n_windows)),
        "model_cpu_s_per_window": round(float(np.median(cpu_per_window)), 4),
        "window_s": round(WINDOW_FRAMES * 1024 / 44100, 2),
        "query_excerpt_s": list(QUERY_S),
        "by_windows": {},
    }
    for k in ks:
        m = mats[k]
        p5, mean_ap, nq = precision_at_k(m, labels, 5)
        sims = Q @ m.T
        own = sims[np.arange(len(m)), np.arange(len(m))]
        rank = 1 + np.sum(sims > own[:, None], axis=1)
        out["by_windows"][str(k)] = {
            "soundtrack_precision@5": round(p5, 4),
            "soundtrack_mAP": round(mean_ap, 4),
            "soundtrack_queries": nq,
            "excerpt_finds_track_top1": round(float(np.mean(rank == 1)), 3),
            "excerpt_rank_mean": round(float(rank.mean()), 2),
            "vs_24": agreement(m, mats[24]),
            "vs_all": agreement(m, mats["all"]),
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
