"""Similar SFX on held-out queries: what each idea adds over plain mean-pooled aisfx, with
everything fitted (whitening, weights, re-ranking parameters) on the tuning half only.

Reads the cached per-clip aisfx windows and MFCC statistics of ``bench/real_discovery.py
--parts sfx`` (run that first: same cache, ``TONEARM_BENCH_CACHE``). The library is every
clip of the set; queries are the labelled clips of each half (split by file). Fitting
(whitening statistics) uses only the tuning half's clips; a parameter grid is scored on the
tuning queries and the best setting is then reported on the held-out queries, beside the
baseline of the same run.

Run: ``.venv/bin/python bench/sfx_heldout.py [--set sfx|sfx2] [--trimmed]`` (prints JSON).
``--set``: the first real set (default) or the second one (``real_sets.SFX2_ROOTS``, run
``real_discovery.py --parts sfx2`` first). ``--trimmed`` also embeds every clip cut to its
audible span (``core.audio.bounds.sound_bounds``) first. Each method's held-out ratio to the
baseline comes with a 95 % bootstrap interval over the held-out queries (the same resampled
queries for both).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_discovery as rd  # noqa: E402
import real_sets as rs  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402
from tonearm.discovery import sfx_rank  # noqa: E402


def whiten_fit(v: np.ndarray, fit: np.ndarray) -> np.ndarray:
    w = sfx_rank.fit_whitening(v[fit])
    return np.asarray(w.apply(v))


def qe_sims(z: np.ndarray) -> np.ndarray:
    """discovery.sfx_rank's query expansion, each clip against all others."""
    n = len(z)
    sims = np.zeros((n, n), np.float32)
    for i in range(n):
        others = np.arange(n) != i
        sims[i, others] = sfx_rank.rerank_scores(z[i], z[others])
        sims[i, i] = 1.0
    return sims


def k_reciprocal(sims: np.ndarray, k1: int, lam: float) -> np.ndarray:
    """k-reciprocal re-ranking (Zhong et al. 2017, without local query expansion):
    similarity = 1 - ((1 - lam) * Jaccard distance of the k-reciprocal neighbour sets,
    Gaussian-weighted + lam * original distance)."""
    n = len(sims)
    dist = np.clip(1.0 - sims, 0.0, 2.0)
    order = np.argsort(-sims, axis=1)
    topk = order[:, : k1 + 1]
    v = np.zeros((n, n), np.float64)
    for i in range(n):
        recip = [j for j in topk[i] if i in topk[j]]
        r = np.array(recip, dtype=np.int64)
        w = np.exp(-dist[i, r])
        v[i, r] = w / w.sum()
    jac = np.zeros((n, n))
    for i in range(n):
        mn = np.minimum(v[i][None, :], v).sum(axis=1)
        mx = np.maximum(v[i][None, :], v).sum(axis=1)
        jac[i] = 1.0 - mn / np.maximum(mx, 1e-12)
    final = (1 - lam) * jac + lam * dist
    return 1.0 - final


def window_match(windows: list[np.ndarray], fit: np.ndarray, whiten: bool) -> np.ndarray:
    """Per-window matching: sim(i, j) = mean over i's windows of the best cosine to j's
    windows, symmetrised."""
    ws = [w if w.ndim == 2 and len(w) else np.zeros((1, windows[0].shape[1])) for w in windows]
    allw = np.concatenate(ws)
    owner = np.concatenate([np.full(len(w), i) for i, w in enumerate(ws)])
    if whiten:
        fit_rows = np.isin(owner, np.flatnonzero(fit))
        wt = sfx_rank.fit_whitening(l2_normalize(allw[fit_rows]))
        allw = np.asarray(wt.apply(l2_normalize(allw)))
    allw = l2_normalize(allw)
    starts = np.r_[0, np.cumsum([len(w) for w in ws])[:-1]]
    n = len(ws)
    s = allw @ allw.T
    colmax = np.maximum.reduceat(s, starts, axis=1)  # (Nw, n): best of j's windows
    one_way = np.zeros((n, n))
    for i in range(n):
        a, b = starts[i], starts[i] + len(ws[i])
        one_way[i] = colmax[a:b].mean(axis=0)
    return 0.5 * (one_way + one_way.T)


def trimmed_windows(clips: list[rs.Clip]) -> list[np.ndarray]:
    """aisfx windows of each clip cut to its audible span (core.audio.bounds), cached."""
    from tonearm.core.audio.bounds import sound_bounds

    def trimmed(sig: Any) -> np.ndarray:
        b = sound_bounds(sig.samples, sig.sr)
        if b.end_s is not None and b.start_s is not None and b.end_s > b.start_s:
            sig = sig.slice_s(b.start_s, b.end_s)
        return rd.aisfx_windows(sig)

    tv = rd.Vectors("aisfx-windows-trimmed", trimmed)
    out = []
    for n, c in enumerate(clips):
        out.append(tv.get(c.key, "orig", lambda c=c: rs.load(c.path)))
        if n % 50 == 49:
            rd.log(f"  {n + 1}/{len(clips)} trimmed clips embedded")
    return out


def per_query_p10(sims: np.ndarray, labels: list[str | None], queries: list[int]) -> np.ndarray:
    """Precision@10 of each query (as :func:`real_discovery.precision_at_k` averages it)."""
    return np.array([rd.precision_at_k(sims, labels, [i])["precision@10"] for i in queries])


def bootstrap_ratio(
    p: np.ndarray, base: np.ndarray, n: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % interval of mean(p) / mean(base) over queries resampled with replacement."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(p), (n, len(p)))
    r = p[idx].mean(axis=1) / np.maximum(base[idx].mean(axis=1), 1e-12)
    return float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5))


def add_ratios(methods: dict[str, dict[str, Any]]) -> None:
    """Each method's held-out precision@10 as a ratio to plain mean-pooled aisfx, with 95 %
    intervals against plain and against the shipped ranking; the per-query scores are
    dropped. ``methods`` needs the "aisfx mean-pooled (baseline)" and "tonearm as shipped"
    rows."""
    base_h = methods["aisfx mean-pooled (baseline)"]["held_out"]["precision@10"]
    base_q = methods["aisfx mean-pooled (baseline)"]["_per_query"]
    ship_q = methods["tonearm as shipped"]["_per_query"]
    for v in methods.values():
        pq = v.pop("_per_query")
        v["held_out_vs_plain"] = round(v["held_out"]["precision@10"] / base_h, 3)
        v["held_out_vs_plain_ci95"] = [round(x, 3) for x in bootstrap_ratio(pq, base_q)]
        v["held_out_vs_shipped_ci95"] = [round(x, 3) for x in bootstrap_ratio(pq, ship_q)]


def evaluate(
    name: str,
    make: Callable[[Any], np.ndarray],
    grid: list[Any],
    labels: list[str | None],
    split: dict[str, list[int]],
) -> dict[str, Any]:
    """Best setting on the tuning queries, reported on both halves."""
    best: tuple[float, Any, np.ndarray] | None = None
    tried = []
    for g in grid:
        sims = make(g)
        p = rd.precision_at_k(sims, labels, split["tuning"])["precision@10"]
        tried.append((str(g), p))
        if best is None or p > best[0]:
            best = (p, g, sims)
    assert best is not None
    _, g, sims = best
    return {
        "_per_query": per_query_p10(sims, labels, split["held_out"]),
        "setting": str(g),
        "tuning": rd.precision_at_k(sims, labels, split["tuning"]),
        "held_out": rd.precision_at_k(sims, labels, split["held_out"]),
        "grid_on_tuning": tried if len(grid) > 1 else None,
    }


def load_set(
    which: str,
) -> tuple[list[rs.Clip], list[str | None], dict[str, np.ndarray], list[int], dict[str, list[int]]]:
    """A real SFX set's clips, their labels, their vectors (``real_discovery.sfx_vectors``),
    the query clips (labelled, in a category of at least 3) and those queries split by
    ``real_sets.split_of`` into ``tuning`` and ``held_out``."""
    clips = rs.sfx_clips(which)
    labels = [c.label for c in clips]
    vecs = rd.sfx_vectors(clips)
    counts = {k: labels.count(k) for k in {x for x in labels if x}}
    queries = [i for i, lab in enumerate(labels) if lab and counts[lab] >= 3]
    split = {h: [i for i in queries if rs.split_of(clips[i].key) == h]
             for h in ("tuning", "held_out")}  # fmt: skip
    return clips, labels, vecs, queries, split


def main() -> None:
    which = sys.argv[sys.argv.index("--set") + 1] if "--set" in sys.argv else "sfx"
    clips, labels, vecs, _, split = load_set(which)
    windows = list(vecs["_windows"])
    fit = np.array([rs.split_of(c.key) == "tuning" for c in clips])
    mean_v = vecs["aisfx-mean"]
    max_v = l2_normalize(np.stack([w.max(axis=0) for w in windows]))
    mfcc = vecs["mfcc-stats"]
    mfcc_s = mfcc @ mfcc.T
    z_max = whiten_fit(max_v, fit)
    z_mean = whiten_fit(mean_v, fit)
    tonearm = qe_sims(z_max)
    out: dict[str, Any] = {
        "set": which,
        "clips": len(clips),
        "queries": {h: len(q) for h, q in split.items()},
        "fit": "whitening and every parameter on the tuning half's clips / queries only",
        "methods": {},
    }
    m = out["methods"]
    m["aisfx-mean (baseline)"] = evaluate("base", lambda _: mean_v @ mean_v.T, [0], labels, split)
    m["aisfx-max"] = evaluate("max", lambda _: max_v @ max_v.T, [0], labels, split)
    m["mean whitened"] = evaluate("mw", lambda _: z_mean @ z_mean.T, [0], labels, split)
    m["max whitened"] = evaluate("xw", lambda _: z_max @ z_max.T, [0], labels, split)
    m["tonearm (max whitened + QE)"] = evaluate("t", lambda _: tonearm, [0], labels, split)
    # what the service does: the whitening fitted on every clip of the library (no labels)
    shipped = qe_sims(whiten_fit(max_v, np.ones(len(clips), bool)))
    m["tonearm as shipped (whitening fit on every clip)"] = evaluate(
        "ts", lambda _: shipped, [0], labels, split
    )
    m["mean whitened + QE"] = evaluate("mq", lambda _: qe_sims(z_mean), [0], labels, split)
    m["tonearm + k-reciprocal"] = evaluate(
        "kr",
        lambda g: k_reciprocal(tonearm, g[0], g[1]),
        [(k, lam) for k in (5, 10, 20) for lam in (0.3, 0.6)],
        labels,
        split,
    )
    win = window_match(windows, fit, whiten=False)
    winw = window_match(windows, fit, whiten=True)
    m["per-window matching"] = evaluate("w", lambda _: win, [0], labels, split)
    m["per-window matching, whitened"] = evaluate("ww", lambda _: winw, [0], labels, split)
    m["tonearm + per-window (weighted)"] = evaluate(
        "tw", lambda a: tonearm + a * winw, [0.25, 0.5, 1.0, 2.0], labels, split
    )
    m["tonearm + MFCC stats (weighted)"] = evaluate(
        "tm", lambda a: tonearm + a * mfcc_s, [0.05, 0.1, 0.2, 0.3, 0.5], labels, split
    )
    m["tonearm + per-window + MFCC"] = evaluate(
        "twm",
        lambda g: tonearm + g[0] * winw + g[1] * mfcc_s,
        [(a, b) for a in (0.25, 0.5, 1.0) for b in (0.05, 0.1, 0.2)],
        labels,
        split,
    )
    if "--trimmed" in sys.argv:
        tw = trimmed_windows(clips)
        t_mean = l2_normalize(np.stack([w.mean(axis=0) for w in tw]))
        t_max = l2_normalize(np.stack([w.max(axis=0) for w in tw]))
        zt = whiten_fit(t_max, fit)
        t_tonearm = qe_sims(zt)
        m["trimmed, aisfx-mean"] = evaluate("tr", lambda _: t_mean @ t_mean.T, [0], labels, split)
        m["trimmed, tonearm (max whitened + QE)"] = evaluate(
            "trt", lambda _: t_tonearm, [0], labels, split
        )
        m["tonearm + trimmed tonearm (weighted)"] = evaluate(
            "tpt", lambda a: tonearm + a * t_tonearm, [0.5, 1.0, 2.0], labels, split
        )
    base = m["aisfx-mean (baseline)"]["held_out"]["precision@10"]
    base_q = m["aisfx-mean (baseline)"]["_per_query"]
    for v in m.values():
        v["held_out_vs_baseline"] = round(v["held_out"]["precision@10"] / base, 3)
        lo, hi = bootstrap_ratio(v.pop("_per_query"), base_q)
        v["held_out_vs_baseline_ci95"] = [round(lo, 3), round(hi, 3)]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
