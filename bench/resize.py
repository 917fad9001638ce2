# ruff: noqa: E402
"""Resize benchmark on real music: tonearm's beat-graph search vs naive edits, as JSON.

Songs: recordings from the Debian music packages (asc-music, fb-music-high, drascula-music),
71 s to 7 min. Targets: 15 s, 30 s, 60 s and 2x the song's length.

Methods (all rendered with the same crossfading renderer, so only the choice of cuts
differs):

- ``tonearm``: the best candidate of :func:`tonearm.editing.resize.resize` (beats and
  similarity from the analyze service).
- ``middle_block``: keep the start and the end and remove (or, lengthening, repeat) one
  block from the middle, cut at plain seconds.
- ``random_beat_cut``: same, but the cut lands on beats and jumps a whole number of bars,
  at a random place (beat-aligned, not similarity-aware): isolates the value of the search.
- ``fade_out``: the first ``target`` seconds with a fade-out (lengthening: the song, then the
  song again from the start, faded out at the target). Shortening this way has no seam
  but loses the real ending (``keeps_end_fraction``).
- loops (``loop_15s``, ``loop_30s``): the best loop of :func:`tonearm.editing.loop.find_loops`
  rendered twice in a row, so its wrap (end back to start) is a seam, next to a loop of
  the same length starting on a random beat.
- ``song_itself`` (reference, not an edit): "seams" rendered at beats where nothing is cut
  (segments ``[0, t]``, ``[t, end]``, same renderer), i.e. the song's own beat-to-beat
  change measured exactly like the seams. Indistinguishable seams score like this row.

Measures per edit: duration error, number of cuts, whether the real ending is kept, and the
*seam score* measured on the rendered audio: for each seam, the change in log-mel spectrum
and in chroma between the beat before and the beat after it, divided by the song's own
median beat-to-beat change (1.0 = an ordinary beat transition of this song). A seam is
"ordinary" when both changes are within the song's own 90th percentile.

Seam flux ratio (``seam_flux_ratio_*``, ``seams_over_1_5x_flux``): the largest SuperFlux
(tonearm's onset front end) within 50 ms of a seam in the rendered edit, divided by the
99.5th percentile of the song's own flux, i.e. the seam's spectral change relative to the
largest the song makes by itself. Target: no seam above 1.5.

Speed: CPU time (``time.process_time``; the machine is shared) of the whole ``/resize``
request path (:func:`tonearm.editing.resize_service.run_resize`: parse and decode the
similarity string, search, format 20 candidates), after one warm-up call (numba's
compiled kernels load once per process), median of 3 runs per target; ``load_average``
is ``/proc/loadavg`` at the start and end.

Per-seam detail (``seams`` in the JSON, tonearm's best edit only): the song, the target,
the cut (source time left and landing time), the seam's flux ratio and the flux ratio the
*source* has at the landing beat (the same measure on the unedited song around the beat the
edit lands on): a seam whose ratio is about the landing beat's own is the song's own accent
(a crash on a downbeat), not a change the cut made. ``tonearm_seams_over_1_5x_made_by_the_cut``
counts the seams over 1.5x where the source stays at or under 1.5x at the landing beat.

Song sets (``--set``): ``default`` (the list below), ``real`` (the real-recording set of
bench/beats.py: 21 songs from 8 Debian packages, whole songs) and ``lmms`` (the LMMS demo
renders of bench/beat_sets.py).

Run: ``.venv/bin/python bench/resize.py [--quick] [--songs N] [--targets 30s,1.5x]
[--set real] [--no-naive] [--reference-beats 40]`` (default: the 8 shortest, every target).
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SONGS = [  # shortest first (71 s to 7:21)
    "/usr/share/scummvm/drascula/audio/track10.ogg",
    "/usr/share/scummvm/drascula/audio/track13.ogg",
    "/usr/share/scummvm/drascula/audio/track14.ogg",
    "/usr/share/scummvm/drascula/audio/track11.ogg",
    "/usr/share/scummvm/drascula/audio/track1.ogg",
    "/usr/share/games/frozen-bubble/snd/introzik.ogg",
    "/usr/share/games/asc/music/machine_wars.mp3",
    "/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg",
    "/usr/share/games/asc/music/time_to_strike.mp3",
    "/usr/share/games/asc/music/frontiers.mp3",
]


def song_files(which: str) -> list[str]:
    """Audio files of a song set (see the module docstring)."""
    if which == "default":
        return [p for p in SONGS if Path(p).is_file()]
    sys.path.insert(0, str(Path(__file__).parent))
    if which == "lmms":
        from beat_sets import load_set

        return [str(it["wav"]) for it in load_set("lmms")]
    if which == "real":
        import glob

        from beats import REAL_GLOBS

        by_pkg: dict[str, list[str]] = {}
        for g in REAL_GLOBS:
            for f in sorted(glob.glob(g)):
                by_pkg.setdefault(str(Path(f).parent), []).append(f)
        picked: list[str] = []  # round robin over the packages, as bench/beats.py's real set
        while len(picked) < 24 and any(by_pkg.values()):
            for k in list(by_pkg):
                if by_pkg[k] and len(picked) < 24:
                    picked.append(by_pkg[k].pop(0))
        return picked
    raise SystemExit(f"unknown set {which}")


FEATURE_SR = 22050
HOP = 512


def features(y: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(log-mel dB (40, T), chroma (12, T), frames per second) of mono ``y``."""
    import librosa

    if sr != FEATURE_SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=FEATURE_SR)
    mel = librosa.power_to_db(
        librosa.feature.melspectrogram(y=y, sr=FEATURE_SR, hop_length=HOP, n_mels=40),
        ref=1.0,
        top_db=None,
    )
    mel = np.maximum(mel, -80.0)
    chroma = librosa.feature.chroma_stft(y=y, sr=FEATURE_SR, hop_length=HOP)
    return mel, chroma, FEATURE_SR / HOP


def change_at(
    mel: np.ndarray, chroma: np.ndarray, fps: float, t_s: float, win_s: float
) -> tuple[float, float]:
    """(spectral, chroma) change between the ``win_s`` before and after ``t_s``."""
    c = int(round(t_s * fps))
    w = max(1, int(round(win_s * fps)))
    a, b = max(0, c - w), min(mel.shape[1], c + w)
    if c - a < 1 or b - c < 1:
        return float("nan"), float("nan")
    m1, m2 = mel[:, a:c].mean(axis=1), mel[:, c:b].mean(axis=1)
    spec = float(np.sqrt(np.mean((m1 - m2) ** 2)))  # dB RMS
    c1, c2 = chroma[:, a:c].mean(axis=1), chroma[:, c:b].mean(axis=1)
    cos = float(c1 @ c2 / (np.linalg.norm(c1) * np.linalg.norm(c2) + 1e-9))
    return spec, 1.0 - cos


def flux(y: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """SuperFlux of ``y`` (tonearm's onset front end at 22050 Hz) and its frame rate."""
    from tonearm.core.audio.resample import resample
    from tonearm.core.features.onset import ANALYSIS_SR, spectrogram, superflux

    if sr != ANALYSIS_SR:
        y = resample(y, sr, ANALYSIS_SR, quality="MQ")
    spec = spectrogram(np.asarray(y, dtype=np.float32), ANALYSIS_SR)
    return superflux(spec.logspec).astype(np.float64), spec.fps


def song_baseline(sig: Any, beats_s: np.ndarray, win_s: float) -> dict[str, float]:
    """The song's own beat-to-beat changes (medians, 90th percentiles) and the 99.5th
    percentile of its spectral flux (the largest change the song makes by itself)."""
    fl, _ = flux(sig.mono(), sig.sr)
    mel, chroma, fps = features(sig.mono(), sig.sr)
    ch = np.array([change_at(mel, chroma, fps, t, win_s) for t in beats_s[1:-1]])
    ch = ch[np.all(np.isfinite(ch), axis=1)]
    return {
        "spec_median": float(np.median(ch[:, 0])),
        "chroma_median": float(np.median(ch[:, 1])),
        "spec_p90": float(np.percentile(ch[:, 0], 90)),
        "chroma_p90": float(np.percentile(ch[:, 1], 90)),
        "flux_p995": float(np.percentile(fl, 99.5)),
    }


def seams_of(segments_s: list[list[float]]) -> list[float]:
    out, t = [], 0.0
    for a, b in segments_s[:-1]:
        t += b - a
        out.append(t)
    return out


def flux_ratio_at(y: np.ndarray, sr: int, t: float, flux_p995: float) -> float | None:
    """Largest SuperFlux within 50 ms of ``t`` (on 2 s of ``y`` around it) over ``flux_p995``."""
    a = max(0, int((t - 1.0) * sr))
    b = min(len(y), int((t + 1.0) * sr))
    fl, ffps = flux(y[a:b], sr)
    c = int(round((t - a / sr) * ffps))
    near = fl[max(0, c - 5) : c + 6]
    return float(near.max() / max(flux_p995, 1e-9)) if near.size else None


def measure(
    sig: Any,
    segments_s: list[list[float]],
    target_s: float,
    base: dict[str, float],
    win_s: float,
) -> dict[str, Any]:
    """Render (without loudness matching: a global gain changes neither measure) and score
    every seam on a few beats of rendered audio around it."""
    from tonearm.editing.render import render_segments

    out = render_segments(sig, segments_s, loudness=False)
    seams = seams_of(segments_s)
    scores, ordinary, flux_ratio = [], [], []
    y = out.mono()
    for t in seams:
        # spectral change at the seam (largest flux within 50 ms of it) relative to the
        # song's own 99.5th percentile: above 1.0 the seam is a change the song never makes
        fr = flux_ratio_at(y, out.sr, t, base["flux_p995"])
        if fr is not None:
            flux_ratio.append(fr)
        a = max(0, int((t - 3 * win_s) * out.sr))
        b = min(len(y), int((t + 3 * win_s) * out.sr))
        mel, chroma, fps = features(y[a:b], out.sr)
        spec, chro = change_at(mel, chroma, fps, t - a / out.sr, win_s)
        if not np.isfinite(spec):
            continue
        s = 0.5 * (spec / base["spec_median"] + chro / max(base["chroma_median"], 1e-6))
        scores.append(s)
        ordinary.append(spec <= base["spec_p90"] and chro <= base["chroma_p90"])
    return {
        "duration_error_s": abs(out.duration_s - target_s),
        "cuts": len(seams),
        "keeps_end": abs(segments_s[-1][1] - sig.duration_s) < 0.05,
        "seam_scores": scores,
        "seams_ordinary": ordinary,
        "seam_flux_ratio": flux_ratio,
    }


def naive_edits(
    duration_s: float, target_s: float, beats_s: np.ndarray, rng: np.random.Generator
) -> dict[str, list[list[float]]]:
    d, t = duration_s, target_s
    edits: dict[str, list[list[float]]] = {}
    if t < d:
        edits["middle_block"] = [[0.0, t / 2], [d - t / 2, d]]
        edits["fade_out"] = [[0.0, t]]
    else:
        extra = t - d
        mid = d / 2
        if extra <= d:
            edits["middle_block"] = [[0.0, mid + extra / 2], [mid - extra / 2, d]]
        else:
            edits["middle_block"] = [[0.0, d], [0.0, extra]]
        edits["fade_out"] = [[0.0, d], [0.0, min(d, extra)]]
    # random beat-aligned cut by whole bars, keeping both ends
    bt = np.asarray(beats_s)
    n = len(bt) - 1
    beat = float(np.median(np.diff(bt)))
    off = int(round((d - t) / beat / 4.0)) * 4  # beats to skip (negative: repeat)
    cands = [b for b in range(4, n - 4) if 4 <= b + off <= n - 4] if off else []
    if cands:
        b = int(rng.choice(cands))
        edits["random_beat_cut"] = [[0.0, float(bt[b])], [float(bt[b + off]), d]]
    return edits


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scores = [s for r in rows for s in r["seam_scores"]]
    ordinary = [o for r in rows for o in r["seams_ordinary"]]
    fr = [x for r in rows for x in r.get("seam_flux_ratio", [])]
    flux_summary = (
        {
            "seam_flux_ratio_max": round(float(np.max(fr)), 3),
            "seam_flux_ratio_median": round(float(np.median(fr)), 3),
            "seams_over_1_5x_flux": int(np.sum(np.asarray(fr) > 1.5)),
        }
        if fr
        else {}
    )
    if rows and rows[0].get("reference"):
        return {
            **flux_summary,
            "seams": len(scores),
            "seam_score_median": round(float(np.median(scores)), 3) if scores else None,
            "seam_score_mean": round(float(np.mean(scores)), 3) if scores else None,
            "seams_ordinary_fraction": round(float(np.mean(ordinary)), 3) if ordinary else None,
        }
    bars = [x for r in rows for x in r.get("whole_bar_jumps", [])]
    extra = {"whole_bar_jump_fraction": round(float(np.mean(bars)), 3)} if bars else {}
    return {
        **extra,
        **flux_summary,
        "edits": len(rows),
        "mean_abs_duration_error_s": round(
            float(np.mean([r["duration_error_s"] for r in rows])), 3
        ),
        "max_abs_duration_error_s": round(float(np.max([r["duration_error_s"] for r in rows])), 3),
        "mean_cuts": round(float(np.mean([r["cuts"] for r in rows])), 2),
        "keeps_end_fraction": round(float(np.mean([r["keeps_end"] for r in rows])), 3),
        "seams": len(scores),
        "seam_score_median": round(float(np.median(scores)), 3) if scores else None,
        "seam_score_mean": round(float(np.mean(scores)), 3) if scores else None,
        "seams_ordinary_fraction": round(float(np.mean(ordinary)), 3) if ordinary else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="the 3 shortest songs")
    ap.add_argument("--songs", type=int, default=None)
    ap.add_argument("--targets", default="", help="subset, e.g. 30s,1.5x")
    ap.add_argument("--set", default="default", help="default, real or lmms")
    ap.add_argument("--no-naive", action="store_true", help="tonearm's edits only")
    ap.add_argument("--no-loops", action="store_true")
    ap.add_argument("--reference-beats", type=int, default=40)
    ap.add_argument("--max-minutes", type=float, default=30.0, help="skip longer songs")
    args = ap.parse_args()
    files = song_files(args.set)
    n_songs = args.songs or (3 if args.quick else (8 if args.set == "default" else len(files)))

    from tonearm.core.audio.decode import decode
    from tonearm.editing.analyze import analyze_signal
    from tonearm.editing.loop import find_loops
    from tonearm.editing.resize import resize
    from tonearm.editing.resize_service import RequestError, inputs_from_analysis, run_resize
    from tonearm.editing.similarity import encode_similarity

    load_start = Path("/proc/loadavg").read_text().split()[:3]
    # warm-up: numba loads its compiled kernels on the first call in a process
    resize(np.eye(40, dtype=np.float32), np.arange(41) * 0.5, 10.0)
    rng = np.random.default_rng(0)
    per_method: dict[str, dict[str, list[dict[str, Any]]]] = {}
    songs_out = []
    resize_times = []
    seam_rows: list[dict[str, Any]] = []
    for path in files[:n_songs]:
        try:
            sig = decode(path, isolate=False, max_duration_s=None, timeout_s=None)
        except Exception as e:  # noqa: BLE001
            print(f"skip {path}: {e}", file=sys.stderr)
            continue
        if sig.duration_s < 20 or sig.duration_s > args.max_minutes * 60:
            continue
        t0 = time.process_time()
        analysis = analyze_signal(sig)
        t_an = time.process_time() - t0
        sim, bounds = inputs_from_analysis(analysis, sig.duration_s)
        beat_s = float(np.median(np.diff(bounds)))
        base = song_baseline(sig, bounds, beat_s)
        targets = {"15s": 15.0, "30s": 30.0, "60s": 60.0, "1.5x": 1.5 * sig.duration_s,
                   "2x": 2 * sig.duration_s}  # fmt: skip
        if args.targets:
            targets = {k: v for k, v in targets.items() if k in args.targets.split(",")}
        song_row: dict[str, Any] = {
            "file": path,
            "duration_s": round(sig.duration_s, 2),
            "bpm": round(analysis.bpm, 1),
            "beats": len(bounds) - 1,
            "analyze_cpu_s": round(t_an, 2),
            "resize_cpu_s": {},
        }
        wire_sim = encode_similarity(sim)
        wire_bounds = [round(float(x), 2) for x in bounds]
        for tname, target in targets.items():
            body = {
                "targetLengthSeconds": target,
                "similarity": wire_sim,
                "boundaries": wire_bounds,
            }
            times = []
            try:
                for _ in range(3):
                    t0 = time.process_time()  # CPU time: the machine may be shared
                    answer = run_resize("bench", body)
                    times.append(time.process_time() - t0)
            except RequestError as e:  # e.g. 1.5x of a 20-minute file: over the search's limit
                print(f"skip {path} {tname}: {e}", file=sys.stderr)
                continue
            dt = float(np.median(times))
            song_row["resize_cpu_s"][tname] = round(dt, 3)
            resize_times.append((sig.duration_s, dt))
            best = answer["result"][0]
            sb = best["segmentsBeats"]
            jumps = [sb[k + 1][0] - sb[k][1] for k in range(len(sb) - 1)]
            methods = {"tonearm": [list(s) for s in best["segmentsSeconds"]]}
            if not args.no_naive:
                methods.update(naive_edits(sig.duration_s, target, bounds, rng))
            for m, segs in methods.items():
                r = measure(sig, segs, target, base, beat_s)
                if m == "tonearm":
                    r["whole_bar_jumps"] = [j % 4 == 0 for j in jumps]
                    segs_s = methods[m]
                    y_src = sig.mono()
                    for k, (t_out, fr) in enumerate(
                        zip(seams_of(segs_s), r["seam_flux_ratio"], strict=False)
                    ):
                        left, land = segs_s[k][1], segs_s[k + 1][0]
                        seam_rows.append({
                            "file": path, "target": tname, "seam_s": round(t_out, 2),
                            "cut_from_s": left, "land_s": land, "beats_jumped": jumps[k],
                            "flux_ratio": round(fr, 3),
                            "landing_own_ratio": round(
                                flux_ratio_at(y_src, sig.sr, land, base["flux_p995"]) or 0.0, 3
                            ),
                        })  # fmt: skip
                per_method.setdefault(tname, {}).setdefault(m, []).append(r)
        # reference: the song's own beat transitions, rendered and scored like seams
        # (its own random generator and 40 beats per song: a stable reference)
        inner = np.arange(2, len(bounds) - 2)
        ref_rng = np.random.default_rng(1)
        n_ref = min(args.reference_beats, len(inner))
        for k in ref_rng.choice(inner, size=n_ref, replace=False):
            t = float(bounds[k])
            segs = [[max(0.0, t - 4 * beat_s), t], [t, min(sig.duration_s, t + 4 * beat_s)]]
            r = measure(sig, segs, segs[1][1] - segs[0][0], base, beat_s)
            per_method.setdefault("reference", {}).setdefault("song_itself", []).append(
                {**r, "reference": True}
            )
        # loops: the wrap from the loop's end back to its start is one seam (rendered as
        # two passes); baseline: a loop of the target length from a random beat
        for lname, target in (("loop_15s", 15.0), ("loop_30s", 30.0)):
            if args.no_loops or target > bounds[-1] - bounds[0]:
                continue
            loops = find_loops(sim, bounds, target)
            if loops:
                lp = loops[0]
                segs = [[lp.start_s, lp.end_s], [lp.start_s, lp.end_s]]
                r = measure(sig, segs, 2 * target, base, beat_s)
                per_method.setdefault(lname, {}).setdefault("tonearm_loop", []).append(r)
            k = int(rng.integers(1, max(2, int(np.searchsorted(bounds, bounds[-1] - target)))))
            t0_s = float(bounds[k])
            segs = [[t0_s, t0_s + target], [t0_s, t0_s + target]]
            r = measure(sig, segs, 2 * target, base, beat_s)
            per_method.setdefault(lname, {}).setdefault("random_loop", []).append(r)
        songs_out.append(song_row)
        print(f"done {path}", file=sys.stderr)

    report: dict[str, Any] = {
        "benchmark": "resize",
        "set": args.set,
        "songs": songs_out,
        "seams": seam_rows,
        "seam_score": "per seam: mean of (log-mel dB RMS change, chroma cosine distance) "
        "between the beat before and after the seam, each divided by the song's own median "
        "beat-to-beat change; 1.0 = ordinary",
        "by_target": {
            t: {m: summarize(rows) for m, rows in methods.items()}
            for t, methods in per_method.items()
        },
        "overall": {},
        # tonearm's seams over 1.5x, and those of them where the source itself stays under
        # 1.5x at the landing beat (a change the cut made, not the song's own accent)
        "tonearm_seams_over_1_5x": sum(r["flux_ratio"] > 1.5 for r in seam_rows),
        "tonearm_seams_over_1_5x_made_by_the_cut": sum(
            r["flux_ratio"] > 1.5 and r["landing_own_ratio"] <= 1.5 for r in seam_rows
        ),
    }
    all_methods = sorted({m for ms in per_method.values() for m in ms})
    for m in all_methods:
        if m.endswith("_loop"):
            continue  # loops are reported per target only (not edits of the target)
        rows = [r for ms in per_method.values() for r in ms.get(m, [])]
        report["overall"][m] = summarize(rows)
    report["resize_cpu_s"] = {
        "what": "CPU seconds of run_resize (parse + decode string + search + format), "
        "median of 3, after a warm-up",
        "max": round(max(t for _, t in resize_times), 3),
        "max_for_songs_over_4_min": round(
            max((t for d, t in resize_times if d >= 240), default=0.0), 3
        ),
    }
    report["load_average"] = {
        "start": load_start,
        "end": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
