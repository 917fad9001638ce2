# ruff: noqa: E402
"""Demo catalog tempo check: every demo song's analysed tempo against its known BPM (bench only).

The 45 demo songs (``tonearm.demo.catalog.music_items``, our synthesizer: a check that the
catalog's ``bpm`` is right, not evidence of accuracy) are rendered and tracked twice: from the
audio alone, and with the song's CSV BPM as ``bpm_hint`` (what a catalog ingest does). A
song passes when its tempo is within 4 % of the known BPM, or when it is one of the demo's
tempo-change songs and :func:`tonearm.core.features.beats.tempo_changes` flags it.

Run: ``.venv/bin/python bench/beat_demo.py [--out bench/results/beats/demo.json]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tonearm.core.features.beats import tempo_changes, track_beats
from tonearm.demo.catalog import music_items


def check(bpm: float, got: float, changes: bool, flagged: bool) -> str:
    if changes:
        return "ok (flagged)" if flagged else "tempo change not flagged"
    if bpm > 0 and abs(got - bpm) / bpm <= 0.04:
        return "ok"
    r = got / bpm if bpm else 0.0
    for name, m in (("double", 2.0), ("half", 0.5), ("3:2", 1.5), ("2:3", 2 / 3)):
        if abs(r - m) / m <= 0.04:
            return name
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    items = music_items()
    if args.limit:
        items = items[: args.limit]
    for it in items:
        spec = it.truth["spec"]
        bpm = float(it.meta["bpm"])
        changes = spec.get("tempo_curve") is not None
        sig = it.render()
        y = sig.mono()
        row: dict[str, Any] = {"file": it.file, "bpm": bpm, "tempo_change": changes}
        for mode, hint in (("audio", None), ("hint", bpm)):
            b = track_beats(y, sig.sr, bpm_hint=hint)
            flagged = tempo_changes(b.times_s)
            row[mode] = {
                "bpm": round(b.bpm, 1),
                "flagged": flagged,
                "result": check(bpm, b.bpm, changes, flagged),
            }
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    summary = {
        mode: {
            "ok": sum(r[mode]["result"].startswith("ok") for r in rows),
            "n": len(rows),
            "wrong": {
                r["file"]: f"{r[mode]['result']} ({r[mode]['bpm']} vs {r['bpm']})"
                for r in rows
                if not r[mode]["result"].startswith("ok")
            },
            "steady_flagged": sum(r[mode]["flagged"] and not r["tempo_change"] for r in rows),
        }
        for mode in ("audio", "hint")
    }
    out = {"summary": summary, "items": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
