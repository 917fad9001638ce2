# ruff: noqa: E402
"""Beat activations compared under tonearm's own decoder, per set (bench only).

Caches both activations (spectral flux, BeatNet's CRNN) of every item of bench/beats.py's
sets under /tmp/tonearm-bench-beats/act-*.npz, then decodes each with
``tonearm.core.features.beats._decode`` and scores it like bench/beats.py (the real set
against madmom's cached beats: run bench/beats.py on it first). Fast to re-run while the
decoder changes. Run: ``.venv/bin/python bench/beat_activations.py [--sets ...]
[--acts dsp,beatnet,blend]``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import hashlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

_spec = importlib.util.spec_from_file_location("bench_beats", Path(__file__).with_name("beats.py"))
assert _spec and _spec.loader
bb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bb)


def item_key(y: np.ndarray) -> str:
    return hashlib.sha1(y.tobytes()[:2_000_000] + str(len(y)).encode()).hexdigest()[:16]


def activations(y: np.ndarray, sr: int, key: str) -> dict[str, Any]:
    """Both activations at the spectrogram's frame rate (cached)."""
    from tonearm.core.features.beats import dsp_activation
    from tonearm.core.features.onset import ANALYSIS_SR, spectrogram

    f = bb.CACHE / f"act-{key}.npz"
    if f.exists():
        d = np.load(f)
        if "down" in d.files:
            return {k: d[k] for k in d.files} | {"fps": float(d["fps"])}
    if sr != ANALYSIS_SR:
        from tonearm.core.audio.resample import resample

        y = resample(y, sr, ANALYSIS_SR, quality="MQ")
    t0 = time.process_time()
    spec = spectrogram(y, ANALYSIS_SR)
    dsp = dsp_activation(spec)
    t1 = time.process_time()
    from tonearm.core.features.beatnet import BEATNET_FPS, beatnet_activation

    beat50, down50 = beatnet_activation(y, ANALYSIS_SR)
    t2 = time.process_time()
    t = np.arange(len(dsp)) / spec.fps
    t50 = np.arange(len(down50)) / BEATNET_FPS
    net = np.interp(t, t50, beat50 + down50, right=0.0).astype(np.float32)  # trained_activation
    down = np.interp(t, t50, down50, right=0.0)  # the downbeat part alone (bar cues)
    if spec.energy.size:  # as track_beats_spectrogram does for the network's output
        net[spec.energy <= 1e-6 * spec.energy.max()] = 0.0
        down[spec.energy <= 1e-6 * spec.energy.max()] = 0.0
    out = {"dsp": dsp, "beatnet": net, "down": down.astype(np.float32), "fps": np.float64(spec.fps),
           "cpu_dsp": np.float64(t1 - t0), "cpu_beatnet": np.float64(t2 - t1)}  # fmt: skip
    bb.CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(f, **out)
    return out


def load_items(sets: list[str], quick: bool) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for s in sets:
        if s in ("lmms", "musescore"):
            got = bb.rendered_set(s, quick)
        elif s == "midi":
            got = bb.midi_set(quick)
        elif s == "synth":
            got = bb.synth_set(quick)
        else:
            got = bb.real_set(12 if quick else 24, 60.0)
        for it in got:
            it["set"] = s
            it["key"] = item_key(it["y"])
            if it["ref"] is None:
                f = bb.CACHE / f"madmom-{it['key']}.json"
                if not f.exists():
                    print(f"no madmom beats for {it['name']}: skipped", file=sys.stderr)
                    continue
                ref = np.asarray(json.loads(f.read_text())["beats"])
                it["ref"], it["bpm"] = ref, bb.tempo_of(ref)
            items.append(it)
    return items


def main() -> None:
    from tonearm.core.features import beats as tb

    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="lmms,musescore,real,midi")
    ap.add_argument("--acts", default="dsp,beatnet,blend")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("-v", action="store_true", help="per item rows")
    args = ap.parse_args()
    items = load_items(args.sets.split(","), args.quick)
    acts = args.acts.split(",")
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    for it in items:
        a = activations(it["y"], it["sr"], it["key"])
        for kind in acts:
            act = a["beatnet"] if kind == "beatnet" else a["dsp"]
            if kind == "blend":
                act = 0.5 * (a["dsp"] + a["beatnet"])
            t0 = time.process_time()
            down = None if kind == "dsp" else a["down"]
            res = tb._decode(
                act.astype(np.float32), a["fps"], bpm_hint=None, kind=kind, downbeat=down
            )
            dc = time.process_time() - t0
            sc = bb.beat_scores(it["ref"], res.times_s)
            sc.update(bb.tempo_scores(it["bpm"], bb.tempo_of(res.times_s)))
            act_cpu = float(a["cpu_dsp"]) + (float(a["cpu_beatnet"]) if kind != "dsp" else 0.0)
            sc["x_realtime_cpu"] = len(it["y"]) / it["sr"] / max(dc + act_cpu, 1e-6)
            rows.setdefault(it["set"], {}).setdefault(kind, []).append(sc)
            if args.v:
                print(it["name"], kind, {k: round(v, 3) for k, v in sc.items()},
                      f"bpm {bb.tempo_of(res.times_s):.1f} ref {it['bpm']:.1f}")  # fmt: skip
    out: dict[str, Any] = {}
    for s, by in rows.items():
        out[s] = {}
        for kind, rs in by.items():
            summ: dict[str, float] = {"n": len(rs)}
            for m in ("F", "CMLt", "AMLt", "Acc1", "Acc2", "signed_err_ms", "x_realtime_cpu"):
                v = [r[m] for r in rs if r[m] == r[m]]
                agg = np.median if m in ("signed_err_ms", "x_realtime_cpu") else np.mean
                summ[m] = round(float(agg(v)), 3) if v else float("nan")
            out[s][kind] = summ
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
