"""Discovery on real libraries (issue 15): similar SFX and duplicates, baselines in the same run.

Sets (``bench/real_sets.py``, fixed from one run to the next):

- ``sfx``: ~400 real sound effects from Debian game and desktop packages, ~200 of them
  labelled by folder and file name in ~18 categories (the rest are distractors: retrieved,
  never queried). Same-category precision@10 (precision over the first min(10, n-1)
  results, n = the category size) and mAP, over all queries and per split (tuning /
  held-out by file). Methods: ``tonearm`` (what similar-SFX ranks by today: the ``sfx``
  embedding plus its re-ranking; ``tonearm-plain-cosine``: the same vectors without
  it), ``aisfx-mean`` (plain mean-pooled aisfx windows: the
  baseline to beat by 1.1x), ``mfcc-stats`` (20 MFCC mean and std, z-scored), ``random``.
- ``sfx2``: the second SFX set (session 6, ``real_sets.SFX2_ROOTS``: Wesnoth, Hedgewars,
  Teeworlds, LinCity-NG, Pingus; 595 clips, 345 labelled in 22 categories), same
  measures.
- ``sfx-dup``: 60 labelled clips x 5 near-duplicate edits (resampled 22.05 kHz, trimmed 5 %
  each end, -9 dB, MP3 128k, 2 % faster) among all the clips of ``sfx``. A variant is
  "caught" when the dedupe rule calls it a duplicate of its original; a distinct clip is
  "kept" when the rule does not call it a duplicate of one of its 10 nearest distinct
  neighbours (clips of one package with the same file stem, e.g. ``splash.wav`` /
  ``splash.ogg``, are the same recording and not counted as distinct). Groups: what
  ``tonearm duplicates`` would build over all clips + variants: variants in their
  original's group, distinct clips left alone, groups that join different recordings.
  ``tonearm-previous``: the rule before session 4 (picture filter .85, 2 kHz waveform only),
  measured in the same run.
- ``music-dup``: 30 real music tracks x 5 edits (resampled, trimmed 3 s / 5 s, -6 dB,
  MP3 128k, 2 % faster) among every real game track of ``real_sets.music_tracks`` (~160;
  different songs of one game, remixes and Hedgewars' "sudden death" versions included).
  Variants caught per split (by original song); distinct kept over every pair; groups
  must never join two different songs. The rule before session 6 on the same hits.
- ``demo-dup``: the demo catalog's deliberate SFX duplicate pairs are found and nothing
  else; its music (no duplicates) gives no group.

Run: ``.venv/bin/python bench/real_discovery.py [--parts sfx,sfx-dup,music-dup,demo-dup]``
Vectors are cached under /tmp/tonearm-bench-discovery (``TONEARM_BENCH_CACHE``). Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import real_sets as rs  # noqa: E402
from tonearm.core.audio.signal import Signal  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402

os.environ.setdefault("OMP_NUM_THREADS", "1")


def log(*a: Any) -> None:
    print(*a, file=sys.stderr, flush=True)


# -- vectors (cached) ------------------------------------------------------------------------
def aisfx_windows(sig: Signal) -> np.ndarray:
    from tonearm.core.embeddings.aisfx_model import window_embeddings

    return window_embeddings(sig)


def mfcc_stats(sig: Signal) -> np.ndarray:
    import librosa

    y = sig.mono()
    if sig.sr != 22050:
        from tonearm.core.audio.resample import resample

        y = resample(y, sig.sr, 22050)
    m = librosa.feature.mfcc(y=y.astype(np.float32), sr=22050, n_mfcc=20)
    return np.concatenate([m.mean(axis=1), m.std(axis=1)]).astype(np.float32)


class Vectors:
    """Per-clip vectors of one method, cached by (method, file, edit)."""

    def __init__(self, method: str, fn: Callable[[Signal], np.ndarray]) -> None:
        self.method, self.fn = method, fn

    def get(self, key: str, edit: str, signal: Callable[[], Signal | None]) -> np.ndarray:
        def compute() -> np.ndarray:
            s = signal()
            if s is None:
                return np.zeros(0, np.float32)
            return self.fn(s)

        return rs.cached(f"{self.method}/{rs.cache_key(key, edit)}", compute)


def tonearm_sfx_vectors() -> tuple[str, Callable[[Signal], np.ndarray]]:
    """(model id, embed) of what similar-SFX stores per clip today."""
    from tonearm.core.embeddings import audio_embedder

    e = audio_embedder("sfx", "model").embedder
    return e.model_id, e.embed


# -- metrics ---------------------------------------------------------------------------------
def precision_at_k(
    sims: np.ndarray, labels: list[str | None], queries: list[int], k: int = 10
) -> dict[str, float]:
    """Mean precision@k (over the first min(k, n-1) results) and mAP over ``queries``."""
    lab = np.array([x or "" for x in labels])
    p_at, aps = [], []
    for i in queries:
        li = labels[i]
        rel = (lab == li) & (np.arange(len(lab)) != i)
        s = sims[i].copy()
        s[i] = -np.inf
        order = np.argsort(-s, kind="stable")
        hits = rel[order]
        kk = min(k, int(rel.sum()))
        p_at.append(hits[:kk].mean())
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return {f"precision@{k}": round(float(np.mean(p_at)), 4),
            "mAP": round(float(np.mean(aps)), 4), "queries": len(p_at)}  # fmt: skip


def zscore_l2(m: np.ndarray) -> np.ndarray:
    mu, sd = m.mean(axis=0), m.std(axis=0) + 1e-6
    return l2_normalize((m - mu) / sd)


# -- parts -----------------------------------------------------------------------------------
def sfx_vectors(clips: list[rs.Clip]) -> dict[str, np.ndarray]:
    """Every method's (n, d) matrix over ``clips`` (rows L2-normalized)."""
    from tonearm.core.embeddings.aisfx_model import AisfxEmbedder

    model_id, embed = tonearm_sfx_vectors()
    tv = Vectors(f"tonearm-{model_id.replace('/', '_')}", embed)
    wv = Vectors("aisfx-windows", aisfx_windows)
    mv = Vectors("mfcc-stats", mfcc_stats)
    pooled = None
    if model_id in ("aisfx-ismir2022/v1", "aisfx-ismir2022/v2-max"):
        # the stored vector is a pooling of the cached windows: derived from them (one CNN
        # pass per clip), after checking on a few clips that it equals the embedder's output
        pool = "max" if model_id.endswith("max") else "mean"
        pooled = pool
        for c in clips[:: max(1, len(clips) // 4)][:4]:
            s = rs.load(c.path)
            if s is None:
                continue
            direct = AisfxEmbedder(pool=pool).embed(s)
            w = wv.get(c.key, "orig", lambda s=s: s)
            derived = l2_normalize(w.max(axis=0) if pool == "max" else w.mean(axis=0))
            assert np.allclose(direct, derived, atol=1e-4), c.key
    T, W, M = [], [], []
    t0 = time.perf_counter()
    for n, c in enumerate(clips):
        sig: list[Signal | None] = []

        def load(c: rs.Clip = c, sig: list[Signal | None] = sig) -> Signal | None:
            if not sig:
                sig.append(rs.load(c.path))
            return sig[0]

        W.append(wv.get(c.key, "orig", load))
        if pooled is None:
            T.append(tv.get(c.key, "orig", load))
        else:
            T.append(W[-1].max(axis=0) if pooled == "max" else W[-1].mean(axis=0))
        M.append(mv.get(c.key, "orig", load))
        if n % 50 == 49:
            log(f"  {n + 1}/{len(clips)} clips embedded ({time.perf_counter() - t0:.0f} s)")
    return {
        "tonearm": l2_normalize(np.stack(T)),
        "aisfx-mean": l2_normalize(np.stack([w.mean(axis=0) for w in W])),
        "mfcc-stats": zscore_l2(np.stack(M)),
        "_windows": np.array(W, dtype=object),
    }


def tonearm_sfx_sims(v: np.ndarray, fit_rows: np.ndarray | None = None) -> np.ndarray:
    """What similar-SFX ranks by (discovery.sfx_rank), the set being the library: the
    whitening fitted on every clip's vector (no labels; or on ``fit_rows`` only), each
    query expanded among the other clips."""
    from tonearm.discovery import sfx_rank

    n = len(v)
    if n < sfx_rank.MIN_FIT:
        return v @ v.T
    w = sfx_rank.fit_whitening(v if fit_rows is None else v[fit_rows])
    z = w.apply(v)
    sims = np.zeros((n, n), np.float32)
    for i in range(n):
        others = np.arange(n) != i
        sims[i, others] = sfx_rank.rerank_scores(z[i], z[others])
        sims[i, i] = 1.0
    return sims


def part_sfx(which: str = "sfx") -> dict[str, Any]:
    clips = rs.sfx_clips(which)
    labels = [c.label for c in clips]
    vecs = sfx_vectors(clips)
    counts = {k: labels.count(k) for k in sorted({x for x in labels if x})}
    queries = [i for i, lab in enumerate(labels) if lab and counts[lab] >= 3]
    split = {h: [i for i in queries if rs.split_of(clips[i].key) == h]
             for h in ("tuning", "held_out")}  # fmt: skip
    out: dict[str, Any] = {
        "clips": len(clips),
        "labelled": sum(1 for x in labels if x),
        "labels": counts,
        "queries": {h: len(v) for h, v in split.items()},
        "methods": {},
    }
    sims_by: dict[str, np.ndarray] = {m: v @ v.T for m, v in vecs.items() if not m.startswith("_")}
    sims_by["tonearm-plain-cosine"] = sims_by["tonearm"]
    sims_by["tonearm"] = tonearm_sfx_sims(vecs["tonearm"])
    for m, sims in sims_by.items():
        out["methods"][m] = {
            "all": precision_at_k(sims, labels, queries),
            **{h: precision_at_k(sims, labels, q) for h, q in split.items()},
        }
    # transfer check: whitening fitted on the tuning half's clips only, held-out queries
    tm = np.array([rs.split_of(c.key) == "tuning" for c in clips])
    out["methods"]["tonearm-whitening-fit-on-tuning-half-only"] = {
        "held_out": precision_at_k(tonearm_sfx_sims(vecs["tonearm"], tm), labels,
                                   split["held_out"])
    }  # fmt: skip
    rnd = [precision_at_k(np.random.default_rng(s).random((len(clips), len(clips))), labels,
                          queries)["precision@10"] for s in range(5)]  # fmt: skip
    out["methods"]["random"] = {"all": {"precision@10": round(float(np.mean(rnd)), 4)}}
    base = out["methods"]["aisfx-mean"]["all"]["precision@10"]
    out["tonearm_vs_plain"] = round(out["methods"]["tonearm"]["all"]["precision@10"] / base, 3)
    return out


def groups_single_linkage(sims: np.ndarray, thr: float, k: int = 20) -> list[list[int]]:
    """What discovery.similar.duplicate_groups does today: connected components of the
    pairs among each item's k nearest scoring >= thr (union-find)."""
    n = len(sims)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(n):
        s = sims[i].copy()
        s[i] = -np.inf
        for j in np.argsort(-s)[:k]:
            if s[j] < thr:
                break
            parent[find(i)] = find(int(j))
    comp: dict[int, list[int]] = {}
    for i in range(n):
        comp.setdefault(find(i), []).append(i)
    return [g for g in comp.values() if len(g) > 1]


def dup_report(
    sims: np.ndarray,
    rec: list[int],
    is_variant: list[bool],
    is_dup: Callable[[int, int], bool],
    groups: list[list[int]],
    names: list[str],
) -> dict[str, Any]:
    """Pair and group measures.

    ``sims``: (n, n) over every item (distinct clips first, then variants); ``rec``: the
    recording id of each item (a variant has its original's); ``is_dup(i, j)``: the rule.
    """
    n = len(rec)
    rec_a = np.array(rec)
    var = np.array(is_variant)
    # a variant's original, by name ("<key>~<edit>"): a recording id may hold two
    # originals (splash.wav / splash.ogg), the variants were made from one of them
    pos = {x: i for i, x in enumerate(names)}
    orig = {i: pos[names[i].rsplit("~", 1)[0]] for i in range(n) if is_variant[i]}
    caught = [is_dup(orig[i], i) for i in range(n) if var[i]]
    kept, worst = [], []
    dist_idx = np.flatnonzero(~var)
    for i in dist_idx:
        s = sims[i, dist_idx].copy()
        s[rec_a[dist_idx] == rec[i]] = -np.inf
        for j in dist_idx[np.argsort(-s)[:10]]:
            d = is_dup(int(i), int(j))
            kept.append(not d)
            if d and i < j:
                worst.append((names[i], names[j], round(float(sims[i, j]), 4)))
    gid = {x: g for g, members in enumerate(groups) for x in members}
    in_orig_group = [gid.get(i, -1) == gid.get(orig[i], -2) for i in range(n) if var[i]]
    alone = []
    for i in dist_idx:
        g = gid.get(int(i))
        alone.append(g is None or all(rec[j] == rec[i] for j in groups[g]))
    mixed = [g for g in groups if len({rec[j] for j in g}) > 1]
    return {
        "variants": int(var.sum()),
        "distinct": len(dist_idx),
        "pairs": {
            "variants_caught": round(float(np.mean(caught)), 4),
            "distinct_kept_top10": round(float(np.mean(kept)), 4),
            "distinct_pairs_called_duplicate": worst[:12],
        },
        "groups": {
            "n_groups": len(groups),
            "largest": max((len(g) for g in groups), default=0),
            "variants_with_original": round(float(np.mean(in_orig_group)), 4),
            "distinct_left_alone": round(float(np.mean(alone)), 4),
            "groups_joining_recordings": len(mixed),
            "example_mixed": [[names[j] for j in g][:6] for g in mixed[:5]],
        },
    }


def variant_items(
    bases: list[tuple[str, str]],
    load: Callable[[str], Signal | None],
    edits: Callable[[Signal], dict[str, Callable[[], Signal]]],
) -> list[tuple[str, str, Callable[[], Signal | None]]]:
    """(key, edit, lazy signal) of every edit of every base (key, path)."""
    out = []
    for key, path in bases:
        holder: list[Any] = []

        def base(path: str = path, holder: list[Any] = holder) -> Signal | None:
            if not holder:
                holder.append(load(path))
            return holder[0]

        for name in ("resampled_22k", "trimmed", "gain", "mp3_128", "faster_2pct"):

            def make(base: Callable[[], Signal | None] = base, name: str = name) -> Signal | None:
                s = base()
                if s is None:
                    return None
                e = edits(s)
                fn = next(v for k, v in e.items() if k.startswith(name))
                return fn()

            out.append((key, name, make))
    return out


def part_sfx_dup() -> dict[str, Any]:
    from tonearm.discovery.similar import dedupe_threshold

    clips = rs.sfx_clips()
    rec_of = rs.same_recording_groups(clips)
    labelled = [i for i, c in enumerate(clips) if c.label]
    bases = [labelled[int(j)] for j in np.linspace(0, len(labelled) - 1, 60).round()]
    model_id, embed = tonearm_sfx_vectors()
    tv = Vectors(f"tonearm-{model_id.replace('/', '_')}", embed)
    items = variant_items([(clips[i].key, clips[i].path) for i in bases], rs.load, rs.sfx_variants)
    names = [c.key for c in clips] + [f"{k}~{e}" for k, e, _ in items]
    rec = rec_of + [rec_of[bases[j // 5]] for j in range(len(items))]
    is_var = [False] * len(clips) + [True] * len(items)
    rec = identical_audio(clips, rec)
    t0 = time.perf_counter()
    vo = list(sfx_vectors(clips)["tonearm"])  # the originals' vectors (from cached windows)
    vv = []
    for n, (k, e, f) in enumerate(items):
        vv.append(tv.get(k, e, f))
        if n % 50 == 49:
            log(f"  {n + 1}/{len(items)} variants embedded ({time.perf_counter() - t0:.0f} s)")
    v = l2_normalize(np.stack(vo + vv))
    sims = np.clip(v @ v.T, 0, 1)
    thr = dedupe_threshold(model_id)
    out: dict[str, Any] = {"originals": len(bases), "clips": len(clips), "model": model_id}
    out["embedding-threshold"] = {
        "rule": f"cosine >= {thr} (dedupe_threshold); groups: single-linkage union-find",
        **dup_report(sims, rec, is_var, lambda i, j: bool(sims[i, j] >= thr),
                     groups_single_linkage(sims, thr), names),
    }  # fmt: skip
    out["tonearm"] = sfx_align_rule(clips, items, bases, sims, rec, is_var, names)
    # the rule before this version (align filter .85, 2 kHz wave print only), same run
    out["tonearm-previous"] = sfx_align_rule(
        clips, items, bases, sims, rec, is_var, names, align_min=0.85, hi_band=False
    )
    return out


def identical_audio(clips: list[rs.Clip], rec: list[int]) -> list[int]:
    """``rec`` with clips of identical decoded audio under different names (e.g. one
    sample shipped twice by a game) given one recording id: they are duplicates, not
    distinct sounds. Candidates: equal align prints; confirmed on the decoded samples."""
    from tonearm.core.embeddings.alignment import VERSION, align_print

    ap = Vectors(f"align-print-v{VERSION}", align_print)
    prints = [ap.get(c.key, "orig", lambda c=c: rs.load(c.path)) for c in clips]
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(prints):
        by_shape.setdefault(p.shape, []).append(i)
    out = list(rec)
    for idx in by_shape.values():
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1 :]:
                if out[a] == out[b] or not np.allclose(prints[a], prints[b], atol=1e-3):
                    continue
                sa, sb = rs.load(clips[a].path), rs.load(clips[b].path)
                if (sa is not None and sb is not None and sa.samples.shape == sb.samples.shape
                        and np.allclose(sa.samples, sb.samples, atol=1e-3)):  # fmt: skip
                    old, new = out[b], out[a]
                    out = [new if r == old else r for r in out]
                    log(f"  identical audio: {clips[a].key} = {clips[b].key}")
    return out


def sfx_align_rule(
    clips: list[rs.Clip],
    items: list[tuple[str, str, Callable[[], Signal | None]]],
    bases: list[int],
    sims: np.ndarray,
    rec: list[int],
    is_var: list[bool],
    names: list[str],
    align_min: float | None = None,
    hi_band: bool = True,
) -> dict[str, Any]:
    """discovery.duplicates: cosine prefilter, picture alignment, waveform check,
    complete-linkage groups; with the calibration evidence (waveform scores of copies vs
    of distinct look-alikes) and a threshold grid per split (tuning / held-out by file)."""
    from tonearm.core.embeddings.alignment import (
        VERSION,
        WAVE_VERSION,
        align_best,
        align_print,
        wave_print,
        wave_print_hi,
        wave_score,
    )
    from tonearm.discovery import duplicates as dd

    align_min = dd.SFX_ALIGN_MIN if align_min is None else align_min
    ap = Vectors(f"align-print-v{VERSION}", align_print)
    wp = Vectors(f"wave-print-v{WAVE_VERSION}", wave_print)
    wph = Vectors(f"wave-print-hi-v{WAVE_VERSION}", wave_print_hi)
    t0 = time.perf_counter()
    prints = [ap.get(c.key, "orig", lambda c=c: rs.load(c.path)) for c in clips]
    prints += [ap.get(k, e, f) for k, e, f in items]
    log(f"  align prints in {time.perf_counter() - t0:.0f} s")
    n = len(names)
    waves: dict[tuple[int, bool], np.ndarray] = {}

    def wave_of(i: int, hi: bool = False) -> np.ndarray:
        if (i, hi) not in waves:
            vec = wph if hi else wp
            if i < len(clips):
                c = clips[i]
                waves[i, hi] = vec.get(c.key, "orig", lambda c=c: rs.load(c.path))
            else:
                k, e, f = items[i - len(clips)]
                waves[i, hi] = vec.get(k, e, f)
        return waves[i, hi]

    al: dict[tuple[int, int], float] = {}  # the waveform score (0 below the align filter)

    def score(i: int, j: int) -> float:
        key = (min(i, j), max(i, j))
        if key not in al:
            a, sp = align_best(prints[key[0]], prints[key[1]])
            i0, i1 = key
            al[key] = (
                (
                    dd.sfx_wave(
                        (wave_of(i0), wave_of(i1)),
                        lambda: (wave_of(i0, True), wave_of(i1, True)),
                        sp,
                    )
                    if hi_band
                    else wave_score(wave_of(i0), wave_of(i1), sp)
                )
                if a >= align_min
                else 0.0
            )
        return al[key]

    t0 = time.perf_counter()
    pos = {x: i for i, x in enumerate(names)}
    orig = {i: pos[names[i].rsplit("~", 1)[0]] for i in range(n) if is_var[i]}
    for i in range(n):
        s = sims[i].copy()
        s[i] = -np.inf
        for j in np.argsort(-s)[:20]:
            if s[j] >= dd.SFX_PREFILTER:
                score(i, int(j))
    for i in range(n):
        if is_var[i]:
            score(orig[i], i)
    log(f"  {len(al)} pairs scored in {time.perf_counter() - t0:.0f} s")

    def is_dup(i: int, j: int, t: float = dd.SFX_WAVE_MIN) -> bool:
        return bool(sims[i, j] >= dd.SFX_PREFILTER) and score(i, j) >= t

    edges = [(v, i, j) for (i, j), v in al.items() if is_dup(i, j)]
    groups = dd.complete_linkage(n, edges)
    split_of_rec = {rec[i]: rs.split_of(clips[i].key) for i in range(len(clips))}
    calib: dict[str, Any] = {}
    for h in ("tuning", "held_out"):
        cv = [score(orig[i], i) for i in range(n) if is_var[i] and split_of_rec[rec[i]] == h]
        neg = [v for (i, j), v in al.items() if rec[i] != rec[j] and not is_var[i]
               and not is_var[j] and split_of_rec[rec[i]] == h]  # fmt: skip
        calib[h] = {
            "copies": len(cv),
            "copy_wave_min": round(min(cv), 4),
            "copy_wave_p01": round(float(np.percentile(cv, 1)), 4),
            "distinct_candidate_pairs": len(neg),
            "distinct_wave_max": round(max(neg, default=0.0), 4),
            "distinct_wave_p99": round(float(np.percentile(neg, 99)) if neg else 0.0, 4),
        }
    # the threshold grid, per split: variants caught and distinct top-10 neighbours kept
    var_pairs = [(orig[i], i) for i in range(n) if is_var[i]]
    dist = [i for i in range(n) if not is_var[i]]
    top10 = []
    for i in dist:
        s_i = sims[i, dist].copy()
        s_i[np.array([rec[j] == rec[i] for j in dist])] = -np.inf
        top10 += [(i, dist[int(j)]) for j in np.argsort(-s_i)[:10]]
    grid: dict[str, Any] = {}
    for t in np.round(np.arange(0.50, 0.991, 0.05), 2):
        row = {}
        for h in ("tuning", "held_out"):
            vp = [(a, b) for a, b in var_pairs if split_of_rec[rec[a]] == h]
            tp = [(a, b) for a, b in top10 if split_of_rec[rec[a]] == h]
            caught = float(np.mean([is_dup(a, b, float(t)) for a, b in vp]))
            kept = 1 - float(np.mean([is_dup(a, b, float(t)) for a, b in tp]))
            row[h] = {"caught": round(caught, 4), "kept": round(kept, 4)}
        grid[f"{t:.2f}"] = row
    calib["by_wave_threshold"] = grid
    rep = dup_report(sims, rec, is_var, is_dup, groups, names)
    for h in ("tuning", "held_out"):
        sub = [i for i in range(n) if is_var[i] and split_of_rec[rec[i]] == h]
        rep["pairs"][f"variants_caught_{h}"] = round(
            float(np.mean([is_dup(orig[i], i) for i in sub])), 4
        )
    missed = [names[i] for i in range(n) if is_var[i] and not is_dup(orig[i], i)]
    return {
        "rule": f"cosine >= {dd.SFX_PREFILTER}, align >= {align_min}, wave >= "
        f"{dd.SFX_WAVE_MIN}{' (2 or 8 kHz)' if hi_band else ' (2 kHz)'}; groups: complete linkage",
        **rep,
        "variants_missed": missed,
        "calibration": calib,
    }


N_MUSIC_ORIGINALS = 30


def part_music_dup() -> dict[str, Any]:
    """Every real music track of ``real_sets.music_tracks`` (distinct songs), 30 of them x 5
    edits. The rule (``tonearm``) and the rule before session 6 (``tonearm-previous``: both
    ways only, no trimmed-copy rule) are judged on the same excerpt hits. A distinct track is
    "kept" when the rule pairs it with no other distinct track (every pair is checked, not
    only nearest neighbours). ``--music-embedding`` adds the embedding-cosine baseline
    (slow: the music embedder over every track)."""
    tracks = rs.music_tracks()
    keys = [t.replace("/usr/share/", "") for t in tracks]
    bases = [int(j) for j in np.linspace(0, len(tracks) - 1, N_MUSIC_ORIGINALS).round()]

    def load(p: str) -> Signal | None:
        return rs.load(p, max_s=600.0)

    items = variant_items([(keys[i], tracks[i]) for i in bases], load, rs.music_variants)
    names = keys + [f"{k}~{e}" for k, e, _ in items]
    rec = list(range(len(tracks))) + [bases[j // 5] for j in range(len(items))]
    is_var = [False] * len(tracks) + [True] * len(items)
    split_of = [rs.split_of(keys[r]) for r in rec]  # by original song
    out: dict[str, Any] = {
        "originals": len(bases),
        "tracks": len(tracks),
        "variants": len(items),
        "split": "tuning / held-out by original song (md5 of its path)",
    }
    loaders: list[Callable[[], Signal | None]] = [lambda p=p: load(p) for p in tracks]
    loaders += [f for _, _, f in items]
    fpr = music_fingerprint_groups(names, loaders, "music-dup")
    pos = {k: i for i, k in enumerate(names)}
    for rule in ("tonearm", "tonearm-no-repeats", "tonearm-previous"):
        got = fpr[rule]
        edge_set = {(min(pos[a], pos[b]), max(pos[a], pos[b])) for a, b, _ in got["edges"]}
        groups = [[pos[k] for k in g] for g in got["groups"]]
        out[rule] = {
            "rule": got["rule"],
            **fingerprint_dup_report(rec, is_var, split_of, edge_set, groups, names),
            "variants_missed": got["variants_missed"],
        }
    if "--music-embedding" in sys.argv:
        from tonearm.core.embeddings import audio_embedder
        from tonearm.discovery.similar import dedupe_threshold

        emb = audio_embedder("music", "model").embedder
        tv = Vectors(f"tonearm-{emb.model_id.replace('/', '_')}", emb.embed)
        vo = [tv.get(k, "orig", lambda p=p: load(p)) for k, p in zip(keys, tracks, strict=True)]
        vv = [tv.get(k, e, f) for k, e, f in items]
        v = l2_normalize(np.stack(vo + vv))
        sims = np.clip(v @ v.T, 0, 1)
        thr = dedupe_threshold(emb.model_id)
        out["embedding-threshold"] = {
            "rule": f"cosine >= {thr} (dedupe_threshold); groups: single-linkage union-find",
            **dup_report(sims, rec, is_var, lambda i, j: bool(sims[i, j] >= thr),
                         groups_single_linkage(sims, thr), names),
        }  # fmt: skip
    return out


def fingerprint_dup_report(
    rec: list[int],
    is_var: list[bool],
    split_of: list[str],
    edge_set: set[tuple[int, int]],
    groups: list[list[int]],
    names: list[str],
) -> dict[str, Any]:
    """Variants caught (per split), distinct tracks kept (over every pair), groups."""
    n = len(rec)
    pos = {x: i for i, x in enumerate(names)}
    orig = {i: pos[names[i].rsplit("~", 1)[0]] for i in range(n) if is_var[i]}

    def linked(i: int, j: int) -> bool:
        return (min(i, j), max(i, j)) in edge_set

    caught = {h: [linked(orig[i], i) for i in orig if split_of[i] == h]
              for h in ("tuning", "held_out")}  # fmt: skip
    dist = [i for i in range(n) if not is_var[i]]
    wrong = sorted((a, b) for a, b in edge_set if rec[a] != rec[b])
    joined = {x for a, b in wrong for x in (a, b) if not is_var[x]}
    gid = {x: g for g, members in enumerate(groups) for x in members}
    mixed = [g for g in groups if len({rec[j] for j in g}) > 1]
    all_caught = caught["tuning"] + caught["held_out"]
    return {
        "variants": len(orig),
        "distinct": len(dist),
        "pairs": {
            "variants_caught": round(float(np.mean(all_caught)), 4),
            "variants_caught_n": f"{sum(all_caught)}/{len(all_caught)}",
            **{f"variants_caught_{h}": round(float(np.mean(v)), 4) for h, v in caught.items()},
            "distinct_kept_all_pairs": round(1 - len(joined) / len(dist), 4),
            "pairs_joining_recordings": [[names[a], names[b]] for a, b in wrong[:12]],
        },
        "groups": {
            "n_groups": len(groups),
            "largest": max((len(g) for g in groups), default=0),
            "variants_with_original": round(
                float(np.mean([gid.get(i, -1) == gid.get(o, -2) for i, o in orig.items()])), 4
            ),
            "groups_joining_recordings": len(mixed),
            "example_mixed": [[names[j] for j in g][:6] for g in mixed[:5]],
        },
    }


def demo_items() -> tuple[list[Any], list[Any]]:
    """(sfx items, music items) of the demo builder, wherever it lives."""
    try:
        from tonearm.demo import catalog as demo  # type: ignore[import-not-found]
    except ImportError:
        from tonearm.catalog import demo
    return demo.sfx_items(), demo.music_items()


def encoded(item: Any) -> Signal:
    """A demo item as the catalog stores it (rendered, encoded in its format, decoded)."""
    from tonearm.core.audio.decode import decode
    from tonearm.core.audio.encode import encode

    return decode(encode(item.render(), item.fmt), isolate=False)


def part_demo_dup() -> dict[str, Any]:
    """The demo's deliberate duplicate pairs found, and nothing else (SFX and music)."""
    from tonearm.core.embeddings.alignment import (
        VERSION,
        WAVE_VERSION,
        align_best,
        align_print,
        wave_print,
        wave_print_hi,
    )
    from tonearm.discovery import duplicates as dd
    from tonearm.discovery.similar import dedupe_threshold

    sfx, music = demo_items()
    model_id, embed = tonearm_sfx_vectors()
    tv = Vectors(f"demo-{model_id.replace('/', '_')}", embed)
    ap = Vectors(f"demo-align-print-v{VERSION}", align_print)
    v = l2_normalize(np.stack([tv.get(it.file, "orig", lambda it=it: encoded(it)) for it in sfx]))
    prints = [ap.get(it.file, "orig", lambda it=it: encoded(it)) for it in sfx]
    wp = Vectors(f"demo-wave-print-v{WAVE_VERSION}", wave_print)
    waves = [wp.get(it.file, "orig", lambda it=it: encoded(it)) for it in sfx]
    wph = Vectors(f"demo-wave-print-hi-v{WAVE_VERSION}", wave_print_hi)
    sims = np.clip(v @ v.T, 0, 1)
    truth = {
        tuple(sorted((i, j)))
        for i, it in enumerate(sfx)
        for j, o in enumerate(sfx)
        if it.truth.get("duplicate_of") == o.file
    }
    thr = dedupe_threshold(model_id)
    n = len(sfx)
    old = groups_single_linkage(sims, thr)
    edges = []
    for i in range(n):
        for j in range(i + 1, n):
            if sims[i, j] >= dd.SFX_PREFILTER:
                a, sp = align_best(prints[i], prints[j])
                if a < dd.SFX_ALIGN_MIN:
                    continue
                wv = dd.sfx_wave(
                    (waves[i], waves[j]),
                    lambda i=i, j=j: (
                        wph.get(sfx[i].file, "orig", lambda: encoded(sfx[i])),
                        wph.get(sfx[j].file, "orig", lambda: encoded(sfx[j])),
                    ),
                    sp,
                )
                if dd.sfx_is_duplicate(float(sims[i, j]), a, wv):
                    edges.append((wv, i, j))
    new = dd.complete_linkage(n, edges)

    def judge(groups: list[list[int]]) -> dict[str, Any]:
        pairs = {tuple(sorted((a, b))) for g in groups for a in g for b in g if a < b}
        return {
            "groups": len(groups),
            "largest": max((len(g) for g in groups), default=0),
            "true_pairs_found": f"{len(pairs & truth)}/{len(truth)}",
            "wrong_pairs": len(pairs - truth),
            "examples_wrong": [[sfx[a].file, sfx[b].file] for a, b in sorted(pairs - truth)[:5]],
        }

    out: dict[str, Any] = {
        "sfx": {"clips": n, "deliberate_pairs": len(truth),
                "embedding-threshold (single linkage)": judge(old),
                "tonearm": judge(new)},
    }  # fmt: skip
    fpr = music_fingerprint_groups(
        [it.file for it in music], [lambda it=it: encoded(it) for it in music], "demo"
    )
    out["music"] = {"recordings": fpr["recordings"], **{
        rule: {"groups": fpr[rule]["groups"], "edges": fpr[rule]["edges"]}
        for rule in ("tonearm", "tonearm-no-repeats", "tonearm-previous")}}  # fmt: skip
    return out


def music_fingerprint_groups(
    keys: list[str], loaders: list[Callable[[], Signal | None]], tag: str
) -> dict[str, Any]:
    """discovery.duplicates' music rule over ``keys``: fingerprint every recording into a
    fresh index, recognize each one's excerpts, keep mutual whole-length matches, group by
    complete linkage. Returns the groups (as keys) and the edges."""
    from tonearm.discovery import duplicates as dd
    from tonearm.recognition import fingerprint as fp
    from tonearm.recognition.index import FingerprintIndex

    ix = FingerprintIndex()
    sigs: dict[str, Signal] = {}
    t0 = time.perf_counter()
    for k, load in zip(keys, loaders, strict=True):
        s = load()
        if s is None:
            continue
        # kept as the fingerprint sees it (mono at its rate): ~20x less memory for ~300
        # full-length recordings; fingerprints and excerpt peaks are computed from it anyway
        s = s.to_mono().resample(fp.SR)
        sigs[k] = s
        h, t = fp.fingerprint(s)
        ix.add(k, h, t)
    log(f"  {tag}: {len(sigs)} recordings fingerprinted in {time.perf_counter() - t0:.0f} s")
    t0 = time.perf_counter()
    hits = {k: dd.excerpt_hits(ix, s) for k, s in sigs.items()}
    log(f"  {tag}: excerpts recognized in {time.perf_counter() - t0:.0f} s")
    ids = list(sigs)
    out: dict[str, Any] = {"recordings": len(ids)}
    # the vote's own hits (one per asset and excerpt, first), without the repeats of a
    # looping track that duplicates.repeat_hits appends after them
    voted = {k: [list({h.asset_id: h for h in reversed(per)}.values()) for per in v]
             for k, v in hits.items()}  # fmt: skip
    rules = {
        "tonearm": (
            hits,
            lambda a: sigs[a].duration_s,
            "fingerprint: 2 of 3 excerpts (20/50/80 %) found at one alignment both ways, or "
            f"the shorter found wholly in a longer one <= {dd.MUSIC_TRIM_MAX_S:g} s longer; "
            "every repeat of a sure excerpt match in a looping track; groups: complete linkage",
        ),
        "tonearm-no-repeats": (
            voted,
            lambda a: sigs[a].duration_s,
            "the same without the repeats of looping tracks",
        ),
        "tonearm-previous": (voted, None, "fingerprint, both ways only (before session 6)"),
    }
    for name, (hh, dur, desc) in rules.items():
        edges = dd.music_duplicate_edges(ids, lambda a, hh=hh: hh[a], dur)
        groups = dd.complete_linkage(len(ids), edges)
        # each variant against its original: what the rule saw when it missed one
        linked = {(ids[i], ids[j]) for _, i, j in edges} | {(ids[j], ids[i]) for _, i, j in edges}
        missed = []
        for k in ids:
            if "~" not in k:
                continue
            o = k.rsplit("~", 1)[0]
            if o in hh and (k, o) not in linked:
                per = [[(h.asset_id == o, round(h.score, 3)) for h in x][:3] for x in hh[k]]
                missed.append({
                    "variant": k,
                    "share_variant_in_original": dd.music_pair_matches(hh[k], o),
                    "share_original_in_variant": dd.music_pair_matches(hh[o], k),
                    "variant_excerpt_hits": per,
                    "duration_s": round(sigs[k].duration_s, 1),
                    "original_duration_s": round(sigs[o].duration_s, 1),
                })  # fmt: skip
        out[name] = {
            "rule": desc,
            "groups": [[ids[x] for x in g] for g in groups],
            "edges": [[ids[i], ids[j], round(s, 3)] for s, i, j in edges],
            "variants_missed": missed,
        }
    return out


PARTS: dict[str, Callable[[], dict[str, Any]]] = {
    "sfx": part_sfx,
    "sfx2": lambda: part_sfx("sfx2"),
    "sfx-dup": part_sfx_dup,
    "music-dup": part_music_dup,
    "demo-dup": part_demo_dup,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default=",".join(PARTS))
    args = ap.parse_args()
    result: dict[str, Any] = {"bench": "real_discovery", "cache": str(rs.CACHE)}
    for p in [x.strip() for x in args.parts.split(",") if x.strip()]:
        t = time.perf_counter()
        result[p] = PARTS[p]()
        result.setdefault("seconds", {})[p] = round(time.perf_counter() - t, 1)
        log(f"{p} done in {time.perf_counter() - t:.0f} s")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
