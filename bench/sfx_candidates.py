"""Similar SFX, session 7: why the shipped ranking gains on the first real set and not on
the second, and the candidates not measured before, held out on both sets.

Reads the cached aisfx windows of ``bench/real_discovery.py --parts sfx,sfx2`` (run that
first, same ``TONEARM_BENCH_CACHE``). Every candidate starts from what the service does:
max-pooled aisfx vectors whitened on every clip of the library (no labels), then query
expansion (``discovery.sfx_rank``). Its parameters are chosen on the tuning queries and
reported on the held-out ones, beside plain mean-pooled aisfx and the shipped ranking of
the same run; each held-out ratio comes with a 95 % bootstrap interval over the held-out
queries, against plain and against shipped.

- ``diagnosis``: per category and per clip-length bucket, precision@10 of plain and shipped
  over every labelled query; clip lengths (decoded, at most 30 s as embedded), loops by
  name.
- hubness reduction: CSLS (each candidate's similarity minus ``beta`` x the mean of its
  ``k`` best similarities) and mutual proximity (Gaussian, per row), on the shipped
  similarities and on the whitened ones without query expansion;
- max over window pairs (the best cosine between any window of one clip and any of the
  other, windows whitened), alone and added to shipped;
- the whitening's dimensions and power, and query expansion's k and alpha, re-chosen;
- looped short clips: a clip shorter than one 2.32 s aisfx window is repeated to fill it
  instead of being zero-padded (one more aisfx pass per short clip, cached), alone and
  added to shipped;
- unpadded short clips: such a clip embedded at its own length (aisfx's trunk pools over
  time globally, so it takes any length; at least 16 frames), alone and added to shipped.

Run: ``.venv/bin/python bench/sfx_candidates.py`` (prints JSON).
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
import sfx_heldout as sh  # noqa: E402
from tonearm.core.audio.signal import Signal  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402
from tonearm.discovery import sfx_rank  # noqa: E402

WINDOW_S = 100 * 1024 / 44100  # one aisfx window (core.embeddings.aisfx_model)


def shipped_sims(
    v: np.ndarray, dims: int = 64, power: float = 0.25, k: int = 3, alpha: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities (n, n), whitened rows): sfx_rank's whitening fitted on every row,
    each row's query expanded among the others."""
    z = np.asarray(sfx_rank.fit_whitening(v, dims=dims, power=power).apply(v))
    n = len(z)
    sims = np.zeros((n, n), np.float32)
    for i in range(n):
        o = np.arange(n) != i
        q2 = sfx_rank.expanded_query(z[i], z[o], k, alpha)
        sims[i, o] = np.clip(z[o] @ q2, 0, 1)
        sims[i, i] = 1
    return sims, z


def csls(s: np.ndarray, k: int, beta: float) -> np.ndarray:
    t = s.copy()
    np.fill_diagonal(t, -np.inf)
    r = np.sort(t, axis=1)[:, -k:].mean(axis=1)
    return np.asarray(s - beta * r[None, :])


def mutual_proximity(s: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    t = s.astype(np.float64).copy()
    np.fill_diagonal(t, np.nan)
    mu, sd = np.nanmean(t, axis=1), np.nanstd(t, axis=1) + 1e-6
    a = norm.sf((s - mu[:, None]) / sd[:, None])
    b = norm.sf((s - mu[None, :]) / sd[None, :])
    return np.asarray(1 - a * b)


def max_over_windows(windows: list[np.ndarray]) -> np.ndarray:
    """sim(i, j) = the best cosine between a window of i and a window of j (whitened)."""
    ws = [w if w.ndim == 2 and len(w) else np.zeros((1, windows[0].shape[1])) for w in windows]
    allw = l2_normalize(np.concatenate(ws))
    allw = l2_normalize(np.asarray(sfx_rank.fit_whitening(allw).apply(allw)))
    starts = np.r_[0, np.cumsum([len(w) for w in ws])[:-1]]
    colmax = np.maximum.reduceat(allw @ allw.T, starts, axis=1)
    return np.asarray(np.maximum.reduceat(colmax, starts, axis=0))


def looped_windows(sig: Signal) -> np.ndarray:
    """aisfx windows with a clip shorter than one window repeated to fill it."""
    if sig.duration_s >= WINDOW_S:
        return rd.aisfx_windows(sig)
    reps = int(np.ceil(WINDOW_S / max(sig.duration_s, 1e-3)))
    s = np.tile(sig.samples, (1, reps))[:, : int(WINDOW_S * sig.sr)]
    return rd.aisfx_windows(Signal(s, sig.sr))


def unpadded_windows(sig: Signal) -> np.ndarray:
    """aisfx windows with a clip shorter than one window embedded at its own length."""
    from tonearm.core.embeddings import aisfx_model as am

    y = sig.mono()
    if sig.sr != am.AISFX_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, sig.sr, am.AISFX_SR)
    spec = am.log_mel(y)
    if spec.shape[0] >= am.WINDOW_FRAMES:
        return am.run_windows(am.windows(spec, 50, 32))
    if spec.shape[0] < 16:  # three 2x2 poolings need a few frames
        spec = np.pad(spec, ((0, 16 - spec.shape[0]), (0, 0)))
    return am.run_windows(spec[None])


def one_set(which: str) -> dict[str, Any]:
    clips, labels, vecs, queries, split = sh.load_set(which)
    windows = list(vecs["_windows"])
    mean_v = vecs["aisfx-mean"]
    max_v = l2_normalize(np.stack([w.max(axis=0) for w in windows]))
    ship, z = shipped_sims(max_v)
    zz = z @ z.T
    lv = rd.Vectors("aisfx-windows-tiled", looped_windows)
    lw = [lv.get(c.key, "orig", lambda c=c: rs.load(c.path)) for c in clips]
    l_ship, _ = shipped_sims(l2_normalize(np.stack([w.max(axis=0) for w in lw])))
    l_mean = l2_normalize(np.stack([w.mean(axis=0) for w in lw]))
    uv = rd.Vectors("aisfx-windows-unpadded", unpadded_windows)
    uw = [uv.get(c.key, "orig", lambda c=c: rs.load(c.path)) for c in clips]
    u_ship, _ = shipped_sims(l2_normalize(np.stack([w.max(axis=0) for w in uw])))
    u_mean = l2_normalize(np.stack([w.mean(axis=0) for w in uw]))
    mw = max_over_windows(windows)
    m: dict[str, Any] = {}

    def ev(name: str, make: Callable[[Any], np.ndarray], grid: list[Any]) -> None:
        m[name] = sh.evaluate(name, make, grid, labels, split)

    hub = [(k, b) for k in (5, 10, 20) for b in (0.25, 0.5, 1.0)]
    ev("aisfx mean-pooled (baseline)", lambda _: mean_v @ mean_v.T, [0])
    ev("tonearm as shipped", lambda _: ship, [0])
    ev("whitened max, no QE", lambda _: zz, [0])
    ev("shipped + CSLS (k, beta)", lambda g: csls(ship, *g), hub)
    ev("whitened + CSLS, no QE (k, beta)", lambda g: csls(zz, *g), hub)
    ev("shipped + mutual proximity", lambda _: mutual_proximity(ship), [0])
    ev("whitened + mutual proximity, no QE", lambda _: mutual_proximity(zz), [0])
    ev("max over window pairs", lambda _: mw, [0])
    ev("shipped + a x max over window pairs", lambda a: ship + a * mw, [0.1, 0.25, 0.5, 1.0])
    wgrid = {(d, p): shipped_sims(max_v, dims=d, power=p)[0]
             for d in (32, 64, 128) for p in (0.25, 0.5)}  # fmt: skip
    ev("shipped, whitening (dims, power) re-chosen", lambda g: wgrid[g], list(wgrid))
    qgrid = {(k, a): shipped_sims(max_v, k=k, alpha=a)[0]
             for k in (0, 3, 5, 8) for a in (1.0, 3.0)}  # fmt: skip
    ev("shipped, query expansion (k, alpha) re-chosen", lambda g: qgrid[g], list(qgrid))
    ev("looped short clips, mean-pooled", lambda _: l_mean @ l_mean.T, [0])
    ev("looped short clips, shipped pipeline", lambda _: l_ship, [0])
    ev("shipped + a x looped shipped", lambda a: ship + a * l_ship, [0.5, 1.0, 2.0])
    ev("unpadded short clips, mean-pooled", lambda _: u_mean @ u_mean.T, [0])
    ev("unpadded short clips, shipped pipeline", lambda _: u_ship, [0])
    ev("shipped + a x unpadded shipped", lambda a: ship + a * u_ship, [0.5, 1.0, 2.0])
    ev("shipped + a x plain mean-pooled", lambda a: ship + a * (mean_v @ mean_v.T),
       [0.25, 0.5, 1.0, 2.0])  # fmt: skip
    sh.add_ratios(m)
    return {
        "set": which,
        "clips": len(clips),
        "queries": {h: len(q) for h, q in split.items()},
        "methods": m,
        "diagnosis": diagnosis(clips, labels, queries, mean_v @ mean_v.T, ship),
    }


def diagnosis(
    clips: list[rs.Clip],
    labels: list[str | None],
    queries: list[int],
    plain: np.ndarray,
    ship: np.ndarray,
) -> dict[str, Any]:
    def p10(sims: np.ndarray, i: int) -> float:
        return rd.precision_at_k(sims, labels, [i])["precision@10"]

    pp = {i: p10(plain, i) for i in queries}
    ps = {i: p10(ship, i) for i in queries}
    durs = []
    for c in clips:
        s = rs.load(c.path)
        durs.append(float("nan") if s is None else s.duration_s)
    d = np.array(durs)

    def summary(sel: list[int]) -> dict[str, Any]:
        ds = d[sel]
        return {
            "queries": len(sel),
            "plain": round(float(np.mean([pp[i] for i in sel])), 3),
            "shipped": round(float(np.mean([ps[i] for i in sel])), 3),
            "shipped_minus_plain": round(float(np.mean([ps[i] - pp[i] for i in sel])), 3),
            "median_s": round(float(np.nanmedian(ds)), 2),
            "share_under_1s": round(float(np.mean(ds < 1.0)), 2),
            "share_longer_than_a_window": round(float(np.mean(ds > WINDOW_S)), 2),
            "loops_by_name": sum("loop" in clips[i].key.lower() for i in sel),
        }

    cats = sorted({labels[i] or "" for i in queries})
    buckets = ((0, 0.5), (0.5, 1.0), (1.0, WINDOW_S), (WINDOW_S, 1e9))
    return {
        "library_median_s": round(float(np.nanmedian(d)), 2),
        "library_share_under_1s": round(float(np.mean(d < 1.0)), 2),
        "library_share_longer_than_a_window": round(float(np.mean(d > WINDOW_S)), 2),
        "by_category": {c: summary([i for i in queries if labels[i] == c]) for c in cats},
        "by_length_s": {
            f"{lo:.2f}-{hi:.2f}": summary([i for i in queries if lo <= d[i] < hi])
            for lo, hi in buckets
        },
    }


def main() -> None:
    out = {"bench": "sfx_candidates", "sets": {w: one_set(w) for w in ("sfx", "sfx2")}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
