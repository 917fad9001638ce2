"""Similarity quality and speed: aisfx vs DSP-only vs combined embeddings.

Parts (``--parts``, default all):

- ``sfx``: retrieval precision@k of same-label sounds on (a) real sound effects from the
  Debian packages sound-theme-freedesktop, supertux-data and frozen-bubble-data, labelled
  by file name with the rules in ``REAL_LABELS``, and (b) synthesized UCS-style SFX
  (tonearm.demo.synth.sfx, label = category); plus mAP.
- ``dup``: near-duplicate detection. Copies of each clip (MP3 128k re-encode, 6 dB quieter,
  resampled to 22.05 kHz, 30 ms trimmed at both ends) against different clips of the same
  label; ROC AUC, and precision/recall at the ``dedupe`` threshold in use, and the
  threshold that this measurement suggests (lowest copy score, 1st percentile).
- ``latency``: query latency (p50/p95 ms) at 10k and 100k synthetic 512-d vectors, usearch
  HNSW vs exact brute force (the baseline), and HNSW recall@20.
- ``music``: music "more like this": label = soundtrack folder (supertux2 worlds, xmoto,
  frozen-bubble), precision@5 for aisfx-only, DSP-only and aisfx+DSP at several weights, and
  whether a second excerpt of the same track finds the first (track identity).

Run: ``.venv/bin/python bench/similarity.py [--parts sfx,dup,latency,music] [--quick]``
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.core.embeddings.base import l2_normalize

# file-name keyword -> label; first match wins; unmatched files are distractors (queried
# never, retrieved possibly)
REAL_LABELS: list[tuple[str, str]] = [
    (r"audio-channel-", "speech-channel"),
    (r"^coin", "coin"),
    (r"explosion|firecracker|fireworks|thunder", "explosion"),
    (r"splash|waterfall|rain|gulp", "water"),
    (r"jump|^hop|trampoline", "jump"),
    (r"bell|phone|alarm-clock", "bell-ring"),
    (r"yeti_|grunts|hurt|mr_tree|tree_howling", "creature-voice"),
    (r"fire|flame|sizzle|lava|fizz", "fire"),
    (r"brick|stomp|squish|splat|thud|kick|darthit|bump|shardhit|wood", "impact"),
    (r"crack|shatter|icecrash", "shatter"),
    (r"dialog-|window-|message|complete|suspend|device-|power-|network-|service-|menu_|cancel",
     "ui-chime"),
]  # fmt: skip
REAL_GLOBS = [
    "/usr/share/sounds/freedesktop/stereo/*.oga",
    "/usr/share/games/supertux2/sounds/*",
    "/usr/share/games/frozen-bubble/snd/*.ogg",
]
MUSIC_GLOBS = {
    "supertux-antarctic": "/usr/share/games/supertux2/music/antarctic/*.ogg",
    "supertux-forest": "/usr/share/games/supertux2/music/forest/*.ogg",
    "supertux-misc": "/usr/share/games/supertux2/music/misc/*.ogg",
    "supertux-retro": "/usr/share/games/supertux2/music/retro/*.ogg",
    "xmoto": "/usr/share/games/xmoto/Textures/Musics/*.ogg",
}


def label_of(path: str) -> str | None:
    name = Path(path).stem.lower()
    for pat, lab in REAL_LABELS:
        if re.search(pat, name):
            return lab
    return None


def load(path: str, max_s: float = 30.0) -> Signal | None:
    try:
        s = decode(path, isolate=False, max_duration_s=3600)
    except Exception:
        return None
    if s.duration_s > max_s:
        s = s.slice_s(0, max_s)
    return s if s.n_samples > 0 and np.any(s.samples) else None


def embedders() -> dict[str, Any]:
    from tonearm.core.embeddings import aisfx_model
    from tonearm.core.embeddings.dsp import DspEmbedder

    out: dict[str, Any] = {"dsp": DspEmbedder()}
    ok, why = aisfx_model.aisfx_available()
    if ok:
        out["aisfx"] = aisfx_model.AisfxEmbedder()
    else:
        print(f"aisfx unavailable: {why}", file=sys.stderr)
    return out


def embed_all(signals: list[Signal], models: dict[str, Any]) -> dict[str, np.ndarray]:
    vecs = {name: np.stack([m.embed(s) for s in signals]) for name, m in models.items()}
    if "aisfx" in vecs:
        for w in (0.5, 1.0):
            vecs[f"aisfx+dsp(w={w:g})"] = l2_normalize(
                np.concatenate([vecs["aisfx"], w * vecs["dsp"]], axis=1)
            )
    return vecs


def precision_at_k(v: np.ndarray, labels: list[str | None], k: int) -> dict[str, float]:
    """Mean precision@k and mAP over queries whose label has >= 2 other members."""
    sims = v @ v.T
    np.fill_diagonal(sims, -np.inf)
    lab = np.array([x or "" for x in labels])
    p_at, aps = [], []
    for i, li in enumerate(labels):
        if not li:
            continue
        rel = (lab == li) & (np.arange(len(lab)) != i)
        if rel.sum() < 2:
            continue
        order = np.argsort(-sims[i])
        hits = rel[order]
        kk = min(k, int(rel.sum()))
        p_at.append(hits[:kk].mean())
        ranks = np.flatnonzero(hits) + 1
        aps.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return {f"precision@{k}": round(float(np.mean(p_at)), 4), "mAP": round(float(np.mean(aps)), 4),
            "queries": len(p_at)}  # fmt: skip


def synth_sfx(per_cat: int) -> tuple[list[Signal], list[str]]:
    from tonearm.demo.synth.sfx import SFX_CATEGORIES, render_sfx

    sigs, labs = [], []
    for cat in SFX_CATEGORIES:
        for seed in range(per_cat):
            sigs.append(render_sfx(cat, seed=1000 + seed))
            labs.append(cat)
    return sigs, labs


def real_sfx() -> tuple[list[Signal], list[str | None], list[str]]:
    sigs, labs, names = [], [], []
    for g in REAL_GLOBS:
        for p in sorted(glob.glob(g)):
            if not p.endswith((".wav", ".ogg", ".oga")):
                continue
            s = load(p, max_s=20.0)
            if s is None:
                continue
            sigs.append(s)
            labs.append(label_of(p))
            names.append(p)
    return sigs, labs, names


def part_sfx(quick: bool, cache: dict[str, Any]) -> dict[str, Any]:
    models = embedders()
    out: dict[str, Any] = {}
    sigs, labs, names = real_sfx()
    cache["real"] = (sigs, labs)
    t = time.perf_counter()
    vecs = embed_all(sigs, models)
    out["real"] = {
        "clips": len(sigs),
        "labelled": sum(1 for x in labs if x),
        "labels": {k: labs.count(k) for k in sorted({x for x in labs if x})},
        "embed_seconds": round(time.perf_counter() - t, 1),
        "models": {m: precision_at_k(v, list(labs), 5) for m, v in vecs.items()},
    }
    ssigs, slabs = synth_sfx(4 if quick else 8)
    cache["synth"] = (ssigs, slabs)
    svecs = embed_all(ssigs, models)
    out["synth"] = {
        "clips": len(ssigs),
        "categories": len(set(slabs)),
        "models": {m: precision_at_k(v, list(slabs), 10) for m, v in svecs.items()},
    }
    return out


def variants(s: Signal) -> dict[str, Signal]:
    trim = int(0.03 * s.sr)
    y = s.samples
    return {
        "mp3_128": decode(encode(s, "mp3_128"), isolate=False),
        "gain_-6dB": Signal(y * 0.5, s.sr),
        "resampled_22k": s.resample(22050),
        "trimmed_30ms": Signal(y[:, trim:-trim] if y.shape[1] > 3 * trim else y, s.sr),
    }


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    allv = np.concatenate([pos, neg])
    ranks = np.argsort(np.argsort(allv)) + 1
    rp = ranks[: len(pos)].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def part_dup(quick: bool, cache: dict[str, Any]) -> dict[str, Any]:
    from tonearm.discovery.similar import dedupe_threshold

    models = embedders()
    if "synth" not in cache:
        cache["synth"] = synth_sfx(4 if quick else 6)
    ssigs, slabs = cache["synth"]
    if "real" not in cache:
        rs, rl, _ = real_sfx()
        cache["real"] = (rs, rl)
    rsigs, rlabs = cache["real"]
    base = list(ssigs) + [s for s, lab in zip(rsigs, rlabs, strict=True) if lab]
    labels = list(slabs) + [lab for lab in rlabs if lab]
    if quick:
        base, labels = base[::2], labels[::2]
    out: dict[str, Any] = {"originals": len(base)}
    copies: list[Signal] = []
    owner: list[int] = []
    kinds: list[str] = []
    for i, s in enumerate(base):
        for kname, c in variants(s).items():
            copies.append(c)
            owner.append(i)
            kinds.append(kname)
    for name, m in models.items():
        model_id = m.model_id
        vb = np.stack([m.embed(s) for s in base])
        vc = np.stack([m.embed(c) for c in copies])
        pos = np.clip(np.einsum("ij,ij->i", vc, vb[owner]), 0, 1)
        same = np.array([[a == b for b in labels] for a in labels])
        np.fill_diagonal(same, False)
        neg = np.clip((vb @ vb.T)[same], 0, 1)
        thr = dedupe_threshold(model_id)
        rec = float((pos >= thr).mean())
        fp = int((neg >= thr).sum())
        prec = float((pos >= thr).sum() / max(1, (pos >= thr).sum() + fp))
        grid = {}
        best_f1, best_t = -1.0, thr
        for t in np.round(np.arange(0.80, 1.0001, 0.005), 3):
            tp = int((pos >= t).sum())
            fp_t = int((neg >= t).sum())
            r_t = tp / len(pos)
            p_t = tp / max(1, tp + fp_t)
            f1 = 2 * p_t * r_t / max(1e-9, p_t + r_t)
            if f1 > best_f1:
                best_f1, best_t = f1, float(t)
            if abs((t * 100) % 1) < 1e-6:  # report every 0.01
                grid[f"{t:.2f}"] = {"recall": round(r_t, 3), "precision": round(p_t, 3)}
        out[name] = {
            "model_id": model_id,
            "roc_auc": round(roc_auc(pos, neg), 4),
            "best_f1_threshold": best_t,
            "best_f1": round(best_f1, 4),
            "by_threshold": grid,
            "threshold_in_use": thr,
            "recall_at_threshold": round(rec, 4),
            "precision_at_threshold": round(prec, 4),
            "false_positive_pairs": fp,
            "negative_pairs": int(len(neg)),
            "copy_score_min": round(float(pos.min()), 4),
            "copy_score_p01": round(float(np.percentile(pos, 1)), 4),
            "copy_score_by_kind_min": {
                k: round(float(pos[np.array(kinds) == k].min()), 4) for k in sorted(set(kinds))
            },
            "same_label_score_max": round(float(neg.max()), 4),
            "same_label_score_p99": round(float(np.percentile(neg, 99)), 4),
            "same_label_score_p999": round(float(np.percentile(neg, 99.9)), 4),
        }
    return out


def part_latency(quick: bool) -> dict[str, Any]:
    from usearch.index import Index

    from tonearm.discovery import index as vindex

    rng = np.random.default_rng(0)
    dim = 512
    out: dict[str, Any] = {"dim": dim, "baseline": "exact numpy brute force (float32 matvec)"}
    sizes = (10_000,) if quick else (10_000, 100_000)
    for n in sizes:
        # clustered vectors (like real embeddings), not uniform noise, so HNSW recall means
        # something
        centers = rng.standard_normal((max(10, n // 100), dim)).astype(np.float32)
        m = centers[rng.integers(0, len(centers), n)] + 0.6 * rng.standard_normal((n, dim))
        m = l2_normalize(m.astype(np.float32))
        t = time.perf_counter()
        idx = Index(ndim=dim, metric="ip", dtype="f32", connectivity=vindex.HNSW_CONNECTIVITY,
                    expansion_add=vindex.HNSW_EXPANSION_ADD,
                    expansion_search=vindex.HNSW_EXPANSION_SEARCH)  # fmt: skip
        idx.add(np.arange(n), m)
        build = time.perf_counter() - t
        qs = l2_normalize(m[rng.integers(0, n, 200)] + 0.1 * rng.standard_normal((200, dim)))
        ta, te, recall = [], [], []
        for q in qs:
            t0 = time.perf_counter()
            r = idx.search(q, 20)
            ta.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            s = m @ q
            top = np.argpartition(-s, 20)[:20]
            te.append(time.perf_counter() - t0)
            recall.append(len(set(r.keys.tolist()) & set(top.tolist())) / 20)
        out[f"n={n}"] = {
            "hnsw_build_s": round(build, 1),
            "hnsw_p50_ms": round(1000 * float(np.percentile(ta, 50)), 3),
            "hnsw_p95_ms": round(1000 * float(np.percentile(ta, 95)), 3),
            "exact_p50_ms": round(1000 * float(np.percentile(te, 50)), 3),
            "exact_p95_ms": round(1000 * float(np.percentile(te, 95)), 3),
            "hnsw_recall@20": round(float(np.mean(recall)), 4),
        }
        print(json.dumps({f"n={n}": out[f"n={n}"]}), file=sys.stderr, flush=True)
    return out


def part_music(quick: bool) -> dict[str, Any]:
    from tonearm.core.embeddings import aisfx_model
    from tonearm.core.embeddings.dsp import dsp_features, prepare
    from tonearm.core.embeddings.music import beat_features

    tracks: list[tuple[str, Signal, Signal]] = []
    per = 4 if quick else 8
    for lab, g in MUSIC_GLOBS.items():
        for p in sorted(glob.glob(g))[:per]:
            s = load(p, max_s=95.0)
            if s is None or s.duration_s < 50:
                continue
            tracks.append((lab, s.slice_s(5, 35), s.slice_s(50, 80)))
    labels = [t[0] for t in tracks]
    have_model = aisfx_model.aisfx_available()[0]

    def blocks(s: Signal) -> tuple[np.ndarray, np.ndarray]:
        y = prepare(s.mono(), s.sr)
        dsp = l2_normalize(np.concatenate([dsp_features(y), beat_features(y)]))
        a = (
            aisfx_model.AisfxEmbedder(hop_frames=100, max_windows=24).embed(s)
            if have_model
            else np.zeros(512, np.float32)
        )
        return a, dsp

    a1, d1, a2, d2 = [], [], [], []
    for _, x, y in tracks:
        a, d = blocks(x)
        a1.append(a)
        d1.append(d)
        a, d = blocks(y)
        a2.append(a)
        d2.append(d)
    A1, D1, A2, D2 = map(np.stack, (a1, d1, a2, d2))
    counts = {k: labels.count(k) for k in sorted(set(labels))}
    out: dict[str, Any] = {"tracks": len(tracks), "labels": counts}
    configs = {"dsp-only": (0.0, 1.0)}
    if have_model:
        configs.update({"aisfx-only": (1.0, 0.0), "w_dsp=0.5": (1.0, 0.5),
                        "w_dsp=0.7": (1.0, 0.7), "w_dsp=1.0": (1.0, 1.0),
                        "w_dsp=1.5": (1.0, 1.5)})  # fmt: skip
    for name, (wa, wd) in configs.items():
        v1 = l2_normalize(np.concatenate([wa * A1, wd * D1], axis=1))
        v2 = l2_normalize(np.concatenate([wa * A2, wd * D2], axis=1))
        sims = v2 @ v1.T  # second excerpt queries the first excerpts
        ident = float(np.mean(np.argmax(sims, axis=1) == np.arange(len(tracks))))
        out[name] = {**precision_at_k(v1, list(labels), 5),
                     "same_track_top1": round(ident, 4)}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="sfx,dup,latency,music")
    ap.add_argument("--quick", action="store_true", help="smaller sets (a few minutes)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result: dict[str, Any] = {"bench": "similarity", "quick": args.quick}
    cache: dict[str, Any] = {}
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    for p in parts:
        t = time.perf_counter()
        if p == "sfx":
            result["sfx"] = part_sfx(args.quick, cache)
        elif p == "dup":
            result["near_duplicates"] = part_dup(args.quick, cache)
        elif p == "latency":
            result["latency"] = part_latency(args.quick)
        elif p == "music":
            result["music"] = part_music(args.quick)
        else:
            raise SystemExit(f"unknown part {p}")
        result.setdefault("seconds", {})[p] = round(time.perf_counter() - t, 1)
        print(f"{p} done in {time.perf_counter() - t:.0f}s", file=sys.stderr)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
