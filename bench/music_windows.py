# ruff: noqa: E402
"""How many aisfx windows a music embedding needs: sampled windows vs the current 24.

For each real track (the ingest bench's music set) the music vector is computed as ingest
does (22,050 Hz mono, centred 120 s excerpt, DSP blocks + aisfx windows of 2.32 s without
overlap) with at most K model windows taken evenly over the excerpt, for several K. Against
the K = 24 vectors (today's ingest) it reports the cosine of each track's two vectors, the
overlap of the 5 and 10 nearest neighbours within the set, top-1 agreement, and the model's
CPU seconds per track. All window vectors are computed once; each K picks its windows with
the same rule as :func:`tonearm.core.embeddings.aisfx_model.windows`.

Run: ``python bench/music_windows.py [--music 48] [--ks 4,6,8,12,16,24]``
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
    finish,
    run_windows,
)
from tonearm.core.embeddings.music import MusicEmbedder
from tonearm.core.features.onset import ANALYSIS_SR


def pick(n_starts: int, k: int) -> np.ndarray:
    """Indices of the windows :func:`windows` keeps when capped at ``k``."""
    if n_starts <= k:
        return np.arange(n_starts)
    return np.linspace(0, n_starts - 1, k).round().astype(int)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--music", type=int, default=48)
    ap.add_argument("--ks", default="4,6,8,12,16,24")
    args = ap.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    ref_k = 24
    files = [f for f, _ in corpus(args.music, 0)["music"]]
    emb = MusicEmbedder(max_windows=10_000)  # every window: the cap is applied here per K
    vecs: dict[int, list[np.ndarray]] = {k: [] for k in ks}
    cpu_per_window = []
    for f in files:
        sig = decode(f, mono=True, sr=ANALYSIS_SR, isolate=False)
        p = emb.prepare(sig)
        assert isinstance(p, PendingEmbedding)
        t = time.process_time()
        allv = run_windows(p.windows, batch=64)
        cpu_per_window.append((time.process_time() - t) / len(p.windows))
        for k in ks:
            vecs[k].append(finish(p, allv[pick(len(allv), k)]))
        print(f"{f.name}: {len(allv)} windows", file=sys.stderr, flush=True)
    mats = {k: np.stack(v) for k, v in vecs.items()}
    ref = mats[ref_k]

    def neighbours(m: np.ndarray, n: int) -> list[set[int]]:
        s = m @ m.T
        np.fill_diagonal(s, -np.inf)
        return [set(np.argsort(-row)[:n].tolist()) for row in s]

    out = {
        "tracks": len(files),
        "audio_min": None,
        "reference_windows": ref_k,
        "model_cpu_s_per_window": round(float(np.median(cpu_per_window)), 4),
        "window_s": round(WINDOW_FRAMES * 1024 / 44100, 2),
        "by_windows": {},
    }
    r5, r10 = neighbours(ref, 5), neighbours(ref, 10)
    for k in ks:
        m = mats[k]
        cos = np.sum(m * ref, axis=1)
        n5, n10 = neighbours(m, 5), neighbours(m, 10)
        out["by_windows"][k] = {
            "cosine_to_ref_mean": round(float(cos.mean()), 4),
            "cosine_to_ref_min": round(float(cos.min()), 4),
            "top5_overlap": round(
                float(np.mean([len(a & b) / 5 for a, b in zip(n5, r5, strict=False)])), 3
            ),
            "top10_overlap": round(
                float(np.mean([len(a & b) / 10 for a, b in zip(n10, r10, strict=False)])), 3
            ),
            "top1_same": round(
                float(np.mean(np.argmax(m @ m.T - 2 * np.eye(len(m)), 1) ==
                              np.argmax(ref @ ref.T - 2 * np.eye(len(m)), 1))), 3
            ),
        }  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
