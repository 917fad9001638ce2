"""Similar SFX, session 8: test-time views of short clips, per-window matching of short
queries, held out on both real SFX sets.

A clip shorter than one aisfx window (2.32 s) is one zero-padded window, so pooling,
trimming and re-ranking of its single vector change little (NOTES.md, session 7). This bench
embeds each such clip several more ways, caches every view, and combines them:

- ``frame offsets``: the clip's log-mel placed 2, 4 or 6 frames into the padded window (the
  trunk pools 2x2 three times, so the offset modulo 8 moves the pooling grid);
- ``sub-hop shift``: 512 samples of silence before the clip (other STFT frames);
- ``mel shifts``: the log-mel moved by -1 and +1 bands (a small pitch change);
- ``crops``: half-length crops at the start and end, each zero-padded (a clip under 32
  frames keeps its full window there);
- ``placement``: the clip centred in the window and at its end; ``unpadded``: the clip at
  its own length (the trunk takes any length of at least 16 frames).

Each combination averages (or max-pools) the chosen views into one vector per short clip;
longer clips keep their windows. It is scored as plain mean-pooled vectors and through the
shipped pipeline (max pooling, whitening fitted on the library, query expansion), and
fused with shipped. Per-window matching: a short query's single window against each
reference's best window (whitened windows), alone and added to shipped for short queries.

Every rule's setting is chosen on the tuning queries and reported on the held-out ones,
beside plain mean-pooled aisfx and shipped of the same run, with 95 % bootstrap intervals
over the held-out queries.

Run: ``bench/real_discovery.py --parts sfx,sfx2`` once (cache), then
``.venv/bin/python bench/sfx_short.py [sfx] [sfx2]`` (prints JSON; both sets by default).
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
import sfx_candidates as sc  # noqa: E402
import sfx_heldout as sh  # noqa: E402
from tonearm.core.audio.signal import Signal  # noqa: E402
from tonearm.core.embeddings.base import l2_normalize  # noqa: E402

# row layout of a short clip's views (see short_views)
VIEWS = [
    "pad", "frame+2", "frame+4", "frame+6", "sample+512", "mel-1", "mel+1",
    "crop-start", "crop-end", "centred", "end", "unpadded",
]  # fmt: skip
ROW = {name: i for i, name in enumerate(VIEWS)}


def _mono44(sig: Signal) -> np.ndarray:
    from tonearm.core.embeddings import aisfx_model as am

    y = sig.mono()
    if sig.sr != am.AISFX_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, sig.sr, am.AISFX_SR)
    return y


def _padded(spec: np.ndarray, at: int) -> np.ndarray:
    from tonearm.core.embeddings import aisfx_model as am

    out = np.zeros((am.WINDOW_FRAMES, spec.shape[1]), np.float32)
    part = spec[: am.WINDOW_FRAMES - at]
    out[at : at + len(part)] = part
    return out


def short_views(sig: Signal) -> np.ndarray:
    """(len(VIEWS), 512) aisfx vectors of a clip shorter than one window; (0, 512) for a
    longer clip (it keeps its ordinary windows)."""
    from tonearm.core.embeddings import aisfx_model as am

    y = _mono44(sig)
    spec = am.log_mel(y)
    n = spec.shape[0]
    if n > am.WINDOW_FRAMES:
        return np.zeros((0, 512), np.float32)
    room = am.WINDOW_FRAMES - n
    w = [_padded(spec, k) for k in (0, 2, 4, 6)]  # may cut a clip's last frames (<= 6)
    w.append(_padded(am.log_mel(np.r_[np.zeros(512, np.float32), y]), 0))
    for m in (-1, 1):
        s = np.zeros_like(spec)
        if m > 0:
            s[:, m:] = spec[:, :-m]
        else:
            s[:, :m] = spec[:, -m:]
        w.append(_padded(s, 0))
    c = n // 2
    crops = c >= 16  # below 32 frames a half crop is too short for the trunk: the full clip
    if crops:
        w += [_padded(spec[:c], 0), _padded(spec[n - c :], 0)]
    w += [_padded(spec, room // 2), _padded(spec, room)]
    v = am.run_windows(np.stack(w))
    if not crops:
        v = np.concatenate([v[:7], v[:1], v[:1], v[7:]])
    u = spec if n >= 16 else np.pad(spec, ((0, 16 - n), (0, 0)))
    return np.concatenate([v, am.run_windows(u[None])]).astype(np.float32)


def combined(windows: list[np.ndarray], views: list[np.ndarray], rows: list[str],
             how: str = "mean") -> list[np.ndarray]:  # fmt: skip
    """Each clip's windows, a short clip's single window replaced by the pooled views."""
    out = []
    for w, v in zip(windows, views, strict=True):
        if len(v) == 0:
            out.append(w)
            continue
        sel = l2_normalize(v[[ROW[r] for r in rows]])
        p = sel.mean(axis=0) if how == "mean" else sel.max(axis=0)
        out.append(p[None] * float(np.linalg.norm(w[0]) / max(np.linalg.norm(p), 1e-9)))
    return out


def plain_and_shipped(ws: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    mean_v = l2_normalize(np.stack([w.mean(axis=0) for w in ws]))
    max_v = l2_normalize(np.stack([w.max(axis=0) for w in ws]))
    return mean_v @ mean_v.T, sc.shipped_sims(max_v)[0]


SHIFTS = ["pad", "frame+2", "frame+4", "frame+6", "sample+512"]
RULES: dict[str, tuple[list[str], str]] = {
    "frame offsets 0/2/4/6, mean": (["pad", "frame+2", "frame+4", "frame+6"], "mean"),
    "frame offsets 0/2/4/6, max": (["pad", "frame+2", "frame+4", "frame+6"], "max"),
    "frame offsets 0/4, mean": (["pad", "frame+4"], "mean"),
    "sub-hop shift 0/512, mean": (["pad", "sample+512"], "mean"),
    "frame + sub-hop shifts, mean": (SHIFTS, "mean"),
    "mel shifts -1/0/+1, mean": (["pad", "mel-1", "mel+1"], "mean"),
    "crops + full, mean": (["pad", "crop-start", "crop-end"], "mean"),
    "crops + full, max": (["pad", "crop-start", "crop-end"], "max"),
    "placements (start, centre, end), mean": (["pad", "centred", "end"], "mean"),
    "centred only": (["centred"], "mean"),
    "end only": (["end"], "mean"),
    "padded + unpadded, mean": (["pad", "unpadded"], "mean"),
    "shifts + crops, mean": (SHIFTS + ["crop-start", "crop-end"], "mean"),
    "shifts + placements, mean": (SHIFTS + ["centred", "end"], "mean"),
    "everything, mean": (list(VIEWS), "mean"),
}


def best_window(windows: list[np.ndarray], short: np.ndarray) -> np.ndarray:
    """sim(i, j) for a short query i: its window against j's best window (whitened
    windows, as :func:`sfx_candidates.max_over_windows`); rows of longer queries are 0."""
    mw = sc.max_over_windows(windows)
    return np.where(short[:, None], mw, 0.0)


def one_set(which: str) -> dict[str, Any]:
    clips, labels, vecs, queries, split = sh.load_set(which)
    windows = list(vecs["_windows"])
    vv = rd.Vectors("aisfx-short-views-v1", short_views)
    views = []
    for n, c in enumerate(clips):
        views.append(vv.get(c.key, "orig", lambda c=c: rs.load(c.path)))
        if n % 100 == 99:
            rd.log(f"  {which}: {n + 1}/{len(clips)} clips' short views")
    views = [v if v.ndim == 2 else np.zeros((0, 512), np.float32) for v in views]
    short = np.array([len(v) > 0 for v in views])
    # the view "pad" is the ordinary window: check the cache agrees
    for w, v in zip(windows, views, strict=True):
        if len(v):
            assert np.allclose(l2_normalize(w[0]), l2_normalize(v[0]), atol=1e-3)
    plain, ship = plain_and_shipped(windows)
    m: dict[str, Any] = {}

    def ev(name: str, make: Callable[[Any], np.ndarray], grid: list[Any]) -> None:
        m[name] = sh.evaluate(name, make, grid, labels, split)

    ev("aisfx mean-pooled (baseline)", lambda _: plain, [0])
    ev("tonearm as shipped", lambda _: ship, [0])
    for name, (rows, how) in RULES.items():
        p, s = plain_and_shipped(combined(windows, views, rows, how))
        ev(f"{name}: plain", lambda _, p=p: p, [0])
        ev(f"{name}: shipped pipeline", lambda _, s=s: s, [0])
        ev(f"{name}: shipped + a x its shipped", lambda a, s=s: ship + a * s, [0.5, 1.0, 2.0])
    # one rule for all: chosen among RULES on the tuning queries (shipped pipeline)
    cand = {n: plain_and_shipped(combined(windows, views, *r))[1] for n, r in RULES.items()}
    ev("best view rule (chosen on tuning), shipped pipeline", lambda n: cand[n], list(cand))
    bw = best_window(windows, short)
    ev("short queries: best reference window", lambda _: np.where(short[:, None], bw, ship), [0])
    ev("shipped + a x best window (short queries)", lambda a: ship + a * bw,
       [0.1, 0.25, 0.5, 1.0])  # fmt: skip
    sh.add_ratios(m)
    return {
        "set": which,
        "clips": len(clips),
        "short_clips": int(short.sum()),
        "queries": {h: len(q) for h, q in split.items()},
        "short_queries": {h: int(short[q].sum()) for h, q in split.items()},
        "methods": m,
    }


def main() -> None:
    sets = [a for a in ("sfx", "sfx2") if a in sys.argv[1:]] or ["sfx", "sfx2"]
    out = {"bench": "sfx_short", "sets": {w: one_set(w) for w in sets}}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
