"""Per-piece diagnosis of bench/beats.py results: where each tracker loses (bench only).

Reads the per-set JSON that ``bench/beats.py --out DIR`` writes and prints, per piece, each
tracker's F, CMLt, AMLt, tempo and a failure class:

ok        F >= .9
x2, /2    tempo at double / half the reference (4 % tolerance)
3:2, 2:3  tempo at 3/2 or 2/3 of the reference
offbeat   reference tempo, but F < .5 while AMLt >= .7 (beats between the reference's)
timing    reference tempo, CMLt above F by > .15: continuity holds (beats within 17.5 % of
          an interval) but beats fall > 70 ms from the reference
partial   reference tempo, F between .5 and .9 (lost lock part of the time)
other     anything else

Run: ``.venv/bin/python bench/beat_diag.py DIR [--md]`` (``--md``: a markdown table).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

RATIOS = {"x2": 2.0, "/2": 0.5, "3:2": 1.5, "2:3": 2 / 3, "x3": 3.0, "/3": 1 / 3}


def failure_class(row: dict[str, Any], ref_bpm: float) -> str:
    """The class (see module doc) of one tracker's scores on one piece."""
    f, cmlt, amlt, bpm = row.get("F", 0.0), row.get("CMLt", 0.0), row.get("AMLt", 0.0), row["bpm"]
    if f >= 0.9:
        return "ok"
    if bpm <= 0 or ref_bpm <= 0:
        return "other"
    for name, r in RATIOS.items():
        if abs(bpm / ref_bpm - r) <= 0.04 * r:
            return name
    if abs(bpm / ref_bpm - 1) <= 0.04:
        if cmlt > f + 0.15:
            return "timing"
        if f < 0.5 and amlt >= 0.7:
            return "offbeat"
        return "partial"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--md", action="store_true")
    ap.add_argument("--trackers", default="tonearm,tonearm-dsp,madmom,librosa")
    args = ap.parse_args()
    trackers = args.trackers.split(",")
    for f in sorted(Path(args.dir).glob("beats-*.json")):
        d = json.loads(f.read_text())
        ts = [t for t in trackers if t in d["trackers"]]
        print(f"\n### {d['set']} ({d['n']})\n")
        if args.md:
            print("| piece | ref BPM | " + " | ".join(ts) + " |")
            print("|---|---|" + "---|" * len(ts))
        counts: dict[str, dict[str, int]] = {t: {} for t in ts}
        for it in d["items"]:
            ref_bpm = float(it.get("ref_bpm") or it.get("madmom", {}).get("bpm", 0.0))
            cells = []
            for t in ts:
                r = it[t]
                if "F" not in r:
                    cells.append(f"ref {r['bpm']:.0f}")
                    continue
                c = failure_class(r, ref_bpm)
                counts[t][c] = counts[t].get(c, 0) + 1
                cells.append(f"{r['F']:.2f}/{r['CMLt']:.2f}/{r['AMLt']:.2f} {r['bpm']:.0f} {c}")
            name = it["name"].split("/", 1)[1][:34]
            if args.md:
                print(f"| {name} | {ref_bpm:.0f} | " + " | ".join(cells) + " |")
            else:
                print(f"{name:34s} {ref_bpm:5.0f}  " + "  ".join(f"{c:28s}" for c in cells))
        print("\nclasses: " + "; ".join(f"{t} {counts[t]}" for t in ts))


if __name__ == "__main__":
    main()
