# ruff: noqa: E402
"""Grid over the tracker's tempo-decision constants on the cached activations (bench only).

Uses bench/beat_activations.py's cached activations (run it first) and memoizes decodes,
so a grid of dozens of settings costs a few minutes. Prints, per setting, the mean F and
Acc1 of every set, best first by the worst set's F (an improvement must hold on all sets).
Run: ``.venv/bin/python bench/beat_tune.py [--sets ...] [--acts dsp,beatnet]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from typing import Any

import numpy as np

from beat_activations import activations, bb, load_items
from tonearm.core.features import beats as tb

_orig_decode = tb.decode_beats
_memo: dict[tuple[Any, ...], np.ndarray] = {}


def _memo_decode(act: np.ndarray, fps: float, **kw: float) -> np.ndarray:
    key = (id(act), fps, *sorted((k, round(float(v), 2)) for k, v in kw.items()))
    if key not in _memo:
        _memo[key] = _orig_decode(act, fps, **kw)
    return _memo[key]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="lmms,musescore,real,midi")
    ap.add_argument("--acts", default="dsp,beatnet,blend")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument(
        "--grid",
        default='{"HALF_PENALTY": [0.2, 0.5]}',
        help="JSON: module constant of tonearm.core.features.beats -> values",
    )
    args = ap.parse_args()
    tb.decode_beats = _memo_decode  # type: ignore[assignment]
    items = load_items(args.sets.split(","), args.quick)
    acts: list[tuple[dict[str, Any], str, np.ndarray, float]] = []
    for it in items:
        a = activations(it["y"], it["sr"], it["key"])
        it["down"] = a["down"]
        for kind in args.acts.split(","):
            act = a["beatnet"] if kind == "beatnet" else a["dsp"]
            if kind == "blend":
                act = 0.5 * (a["dsp"] + a["beatnet"])
            acts.append((it, kind, np.ascontiguousarray(act, dtype=np.float32), a["fps"]))
    grid = json.loads(args.grid)
    results = []
    for values in itertools.product(*grid.values()):
        cfg = dict(zip(grid, values, strict=True))
        for k, v in cfg.items():
            setattr(tb, k, v)
        per: dict[str, dict[str, list[float]]] = {}
        for it, kind, act, fps in acts:
            down = None if kind == "dsp" else it["down"]
            res = tb._decode(act, fps, bpm_hint=None, kind=kind, downbeat=down)
            sc = bb.beat_scores(it["ref"], res.times_s)
            sc.update(bb.tempo_scores(it["bpm"], bb.tempo_of(res.times_s)))
            d = per.setdefault(f"{kind}", {})
            for m in ("F", "Acc1", "AMLt"):
                d.setdefault(f"{it['set']}.{m}", []).append(sc[m])
        for kind, d in per.items():
            summ = {k: round(float(np.mean(v)), 3) for k, v in d.items()}
            worst = min(v for k, v in summ.items() if k.endswith(".F"))
            results.append((worst, kind, cfg, summ))
            row = {"worst_F": worst, "act": kind, **cfg, **summ}
            print(json.dumps(row, default=str), flush=True)
    results.sort(key=lambda r: -r[0])
    print("best first:")
    for worst, kind, cfg, summ in results[: args.top]:
        print(json.dumps({"worst_F": worst, "act": kind, **cfg, **summ}, default=str))
    print("decodes:", len(_memo))


if __name__ == "__main__":
    main()
