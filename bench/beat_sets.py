# ruff: noqa: E501
"""Render the beat-tracking development sets with exact beat grids (bench only, not tests).

Sets (written to /tmp/tonearm-bench-beats/sets/<set>/<name>.wav + <name>.json, kept fixed:
an existing file is never re-rendered)
----
lmms       the demo and "shorties" projects of Debian ``lmms-common``
           (/usr/share/lmms/projects), rendered headless with ``lmms -r``. The project's
           ``<head bpm=... timesig_*>`` gives the grid: LMMS songs start at tick 0 and none
           of these projects automates the tempo, so beat k is at ``k * 60 / bpm``.
gmidi      MIDI files shipped in Debian packages (``openttd-openmsx``: 31 pieces by several
           composers; ``planetblupi-music-midi``: 10), rendered with fluidsynth and
           FluidR3_GM (``fluid-soundfont-gm``); grid from the file's tempo map and time
           signatures as for MuseScore. Hand-written sequences, not our generator. A file
           is kept only when its notes sit on its grid (at least 60 % of note-ons within
           25 ms of a beat or a beat's half, third or quarter): a performance recorded
           without a click would have a tempo map that says nothing about its beats.
musescore  the demo scores of Debian ``musescore3`` (/usr/share/mscore3-*/demos), rendered
           with ``mscore3 -o x.wav``; the grid comes from the same score exported as MIDI
           (its tempo map holds the score's tempo marks, and its time signatures give the
           beat: a quarter in x/4, a dotted quarter in 6/8, 9/8, 12/8).
classic    classical scores (string quartets, chorales, songs, piano and wind pieces) from the
           corpus inside the ``music21`` wheel (PyPI; only its MusicXML files are used, no
           music21 code), rendered and gridded by mscore3 exactly as ``musescore``. Fetch it
           with ``pip download --no-deps music21`` and unzip it to $MUSIC21_CORPUS (default
           $TMPDIR/m21/music21/corpus). CLASSIC_HELD_OUT names the pieces kept out of tuning.
classic2   14 more scores from the same corpus, rendered the same way: a second held-out set
           (CLASSIC2; session 11).

Reference beats are kept only where the render is audible (from 0.1 s before the first
to the last 50 ms frame within 45 dB of the loudest), so silent intros and the
reverb tail do not count.

Each JSON: ``{"beats": [s...], "bpm": median, "meter": n, "source": path,
"tempo_changes": bool}``. Run: ``.venv/bin/python bench/beat_sets.py [lmms musescore]``.
"""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(tempfile.gettempdir()) / "tonearm-bench-beats" / "sets"
LMMS_GLOBS = [
    "/usr/share/lmms/projects/demos/**/*.mmp*",
    "/usr/share/lmms/projects/shorties/*.mmp*",
]
MUSESCORE_GLOB = "/usr/share/mscore3-*/demos/*.msc[xz]"
GMIDI_GLOBS = [
    "/usr/share/games/openttd/baseset/openmsx/*.mid",
    "/usr/share/planetblupi/music/*.mid",
]
SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# music21 corpus paths (without extension). Chosen before anything was tracked: quartets
# (bowed attacks), chorales and songs (fermatas, voices), a trio sonata, a clarinet piece,
# piano pieces for contrast. The second list was never looked at while tuning.
CLASSIC_DEV = [
    "beethoven/opus18no1/movement1", "beethoven/opus18no1/movement3",
    "haydn/opus74no1/movement1", "haydn/opus1no1/movement1", "mozart/k80/movement1",
    "mozart/k155/movement1", "mozart/k458/movement1", "schumann_robert/opus41no1/movement1",
    "corelli/opus3no1/1grave", "bach/bwv250", "bach/bwv253",
    "handel/rinaldo/Lascia_chio_pianga", "verdi/laDonnaEMobile", "joplin/maple_leaf_rag",
]  # fmt: skip
CLASSIC_HELD_OUT = [
    "beethoven/opus59no1/movement1", "beethoven/opus18no1/movement2",
    "haydn/opus74no1/movement3", "haydn/opus1no1/movement3", "mozart/k80/movement3",
    "mozart/k156/movement1", "mozart/k458/movement3", "schumann_robert/opus41no1/movement3",
    "bach/bwv251", "bach/bwv254", "weber/concertino_clarinet",
    "mozart/k545/movement1_exposition", "schumann_clara/polonaise_op1n1",
]  # fmt: skip
# The ``classic2`` set: a second held-out set, chosen by name in session 11 (after
# CLASSIC_HELD_OUT had been looked at twice) and tracked once, by two frozen rules that did
# not land (bench/results/beats/NOTES.md, session 11 (classic)). Nothing was tuned on it.
CLASSIC2 = [
    "beethoven/opus59no2/movement1", "beethoven/opus59no3/movement1",
    "beethoven/opus59no3/movement4", "beethoven/opus18no3", "beethoven/opus18no4",
    "haydn/opus74no1/movement4", "haydn/opus1no1/movement5", "mozart/k156/movement3",
    "mozart/k458/movement4", "mozart/k80/movement4", "mozart/k155/movement3",
    "schubert/Lindenbaum", "cpebach/h186", "schumann_clara/polonaise_op1n2",
]  # fmt: skip


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).name.rsplit(".", 1)[0])


def audible_span(wav: Path, floor_db: float = 45.0) -> tuple[float, float]:
    """First and last time (s) a 50 ms frame of ``wav`` is within ``floor_db`` of the loudest."""
    import soundfile as sf

    y, sr = sf.read(str(wav), dtype="float32", always_2d=True)
    m = y.mean(axis=1)
    hop = int(0.05 * sr)
    n = len(m) // hop
    rms = np.sqrt(np.mean(m[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms / rms.max())
    on = np.nonzero(db > -floor_db)[0]
    return float(on[0] * hop / sr), float((on[-1] + 1) * hop / sr)


def audible(wav: Path) -> bool:
    """Whether a render holds sound: a failed mscore3 render (e.g. its soundfont not yet
    installed) writes a file of one constant sample value, which would score as silence."""
    import soundfile as sf

    y, _ = sf.read(str(wav), dtype="float32", always_2d=True)
    return bool(y.size and float(np.ptp(y, axis=0).max()) > 1e-3)


def _trim(beats: np.ndarray, wav: Path) -> np.ndarray:
    t0, t1 = audible_span(wav)
    return beats[(beats >= t0 - 0.1) & (beats <= t1)]


def lmms_project(path: str) -> tuple[float, int]:
    """(bpm, beats per bar) from an LMMS project (``.mmpz``: 4-byte length + zlib XML)."""
    raw = Path(path).read_bytes()
    text = zlib.decompress(raw[4:]).decode() if path.endswith("z") else raw.decode()
    head = re.search(r"<head[^>]*>", text)
    if head is None:
        raise ValueError(f"no <head> in {path}")
    attrs = dict(re.findall(r'(\w+)="([^"]*)"', head.group(0)))
    if "bpm" not in attrs:  # an automated tempo is a child element: not a fixed grid
        raise ValueError(f"tempo not fixed in {path}")
    return float(attrs["bpm"]), int(attrs.get("timesig_numerator", 4))


def render_lmms(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = sorted({f for g in LMMS_GLOBS for f in glob.glob(g, recursive=True)})
    for f in files:
        name = _slug(f)
        wav, meta = out / f"{name}.wav", out / f"{name}.json"
        if meta.exists():
            continue
        try:
            bpm, meter = lmms_project(f)
        except ValueError as e:
            print(f"skip {f}: {e}", file=sys.stderr)
            continue
        r = subprocess.run(
            ["lmms", "--allowroot", "-r", f, "-o", str(wav), "-f", "wav", "-s", "44100"],
            capture_output=True, timeout=900, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        )  # fmt: skip
        if r.returncode != 0 or not wav.exists() or not audible(wav):
            print(f"skip {f}: lmms exit {r.returncode} (or no sound)", file=sys.stderr)
            wav.unlink(missing_ok=True)
            continue
        import soundfile as sf

        dur = sf.info(str(wav)).duration
        beats = _trim(np.arange(0.0, dur, 60.0 / bpm), wav)
        meta.write_text(json.dumps({"beats": beats.round(6).tolist(), "bpm": bpm, "meter": meter,
                                    "source": f, "tempo_changes": False}))  # fmt: skip
        print(f"lmms {name}: {bpm} BPM {meter}/4, {dur:.0f} s", file=sys.stderr)


def midi_beats(mid_path: Path) -> tuple[np.ndarray, int, bool]:
    """Beat times (s) of a MIDI file from its tempo map and time signatures.

    Returns the beats, the most common beats per bar and whether the tempo changes.
    """
    import mido

    mid = mido.MidiFile(str(mid_path))
    tpq = mid.ticks_per_beat
    tempos: list[tuple[int, int]] = []  # (tick, us per quarter)
    sigs: list[tuple[int, int, int]] = []  # (tick, numerator, denominator)
    end = 0
    for track in mid.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                tempos.append((tick, msg.tempo))
            elif msg.type == "time_signature":
                sigs.append((tick, msg.numerator, msg.denominator))
        end = max(end, tick)
    tempos = sorted(tempos) or [(0, 500000)]
    if tempos[0][0] > 0:
        tempos.insert(0, (0, 500000))
    sigs = sorted(sigs) or [(0, 4, 4)]
    # one event per tick (every track repeats the signatures), last one wins
    sigs = sorted({t: (t, n, d) for t, n, d in sigs}.values())
    # beat ticks: each signature segment starts a bar at its tick, except a pickup (a first
    # bar shorter than the next signature's bar) whose beats count back from the downbeat
    beat_ticks: list[float] = []
    meters: list[int] = []

    def step_of(num: int, den: int) -> float:
        compound = den == 8 and num in (6, 9, 12)
        return tpq * 4 / den * (3 if compound else 1)

    for i, (t0, num, den) in enumerate(sigs):
        t1 = sigs[i + 1][0] if i + 1 < len(sigs) else end
        step = step_of(num, den)
        if (
            i == 0
            and len(sigs) > 1
            and t1 - t0
            < step_of(*sigs[1][1:])
            * sigs[1][1]
            / (3 if sigs[1][2] == 8 and sigs[1][1] in (6, 9, 12) else 1)
        ):
            nstep = step_of(*sigs[1][1:])
            beat_ticks += sorted(t1 - nstep * k for k in range(1, 64) if t1 - nstep * k >= t0)
            continue
        compound = den == 8 and num in (6, 9, 12)
        meters.append(num // 3 if compound else num)
        beat_ticks += list(np.arange(t0, t1, step))
    # tick -> seconds through the tempo map
    tt = np.array([t for t, _ in tempos], dtype=np.float64)
    us = np.array([u for _, u in tempos], dtype=np.float64)
    sec_at = np.concatenate([[0.0], np.cumsum(np.diff(tt) * us[:-1] / tpq / 1e6)])
    bt = np.asarray(beat_ticks)
    k = np.searchsorted(tt, bt, side="right") - 1
    times = sec_at[k] + (bt - tt[k]) * us[k] / tpq / 1e6
    bpms = 60e6 / us
    changes = bool(bpms.max() / bpms.min() > 1.04)
    return times, int(np.bincount(meters).argmax()), changes


def on_grid_fraction(mid_path: Path, beats_s: np.ndarray, tol_s: float = 0.025) -> float:
    """Share of note-ons within ``tol_s`` of a beat or of a half, third or quarter of one."""
    import mido

    grid = [beats_s]
    ibi = np.diff(beats_s)
    for k in (2, 3, 4):
        for j in range(1, k):
            grid.append(beats_s[:-1] + ibi * j / k)
    g = np.sort(np.concatenate(grid))
    ons, t = [], 0.0
    for msg in mido.MidiFile(str(mid_path)):
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            ons.append(t)
    if not ons or len(g) < 2:
        return 0.0
    o = np.asarray(ons)
    o = o[(o >= g[0]) & (o <= g[-1])]
    if not len(o):
        return 0.0
    i = np.clip(np.searchsorted(g, o), 1, len(g) - 1)
    d = np.minimum(np.abs(o - g[i - 1]), np.abs(o - g[i]))
    return float(np.mean(d <= tol_s))


def render_gmidi(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted({f for g in GMIDI_GLOBS for f in glob.glob(g)}):
        name = _slug(f)
        wav, meta = out / f"{name}.wav", out / f"{name}.json"
        if meta.exists():
            continue
        try:
            times, meter, changes = midi_beats(Path(f))
        except Exception as e:  # noqa: BLE001
            print(f"skip {f}: {e}", file=sys.stderr)
            continue
        frac = on_grid_fraction(Path(f), times)
        if frac < 0.6:
            print(f"skip {f}: only {frac:.0%} of its notes on its grid", file=sys.stderr)
            continue
        subprocess.run(
            ["fluidsynth", "-ni", "-q", "-g", "0.6", "-F", str(wav), "-r", "44100", SF2, f],
            capture_output=True, timeout=900,
        )  # fmt: skip
        if not wav.exists() or not audible(wav):
            print(f"skip {f}: fluidsynth wrote no sound", file=sys.stderr)
            wav.unlink(missing_ok=True)
            continue
        beats = _trim(times, wav)
        bpm = float(60.0 / np.median(np.diff(beats)))
        meta.write_text(json.dumps({"beats": beats.round(6).tolist(), "bpm": bpm, "meter": meter,
                                    "source": f, "tempo_changes": changes,
                                    "on_grid": round(frac, 3)}))  # fmt: skip
        print(f"gmidi {name}: {bpm:.1f} BPM, {meter} per bar, changes={changes}, "
              f"on grid {frac:.0%}", file=sys.stderr)  # fmt: skip


CLASSIC_MEASURES = 48  # the bench scores 90 s; rendering whole movements takes minutes each


def first_measures(src: str, dst: Path, n: int = CLASSIC_MEASURES) -> None:
    """Write the first ``n`` measures of every part of MusicXML ``src`` (.mxl or .xml) to ``dst``."""
    import xml.etree.ElementTree as ET
    import zipfile

    if src.endswith(".mxl"):
        with zipfile.ZipFile(src) as z:
            cont = ET.fromstring(z.read("META-INF/container.xml"))
            root_path = next(e.get("full-path") for e in cont.iter() if e.get("full-path"))
            data = z.read(str(root_path))
    else:
        data = Path(src).read_bytes()
    tree = ET.ElementTree(ET.fromstring(data))
    for part in tree.getroot().iter("part"):
        for m in part.findall("measure")[n:]:
            part.remove(m)
    tree.write(dst, encoding="utf-8", xml_declaration=True)


def classic_scores(out: Path, names: list[str] | None = None) -> list[tuple[str, str]]:
    """(name, path) of the ``classic`` set's scores (or of ``names``, corpus paths without
    extension), cut to their first measures in ``out``."""
    root = Path(os.environ.get("MUSIC21_CORPUS", CACHE.parent.parent / "m21/music21/corpus"))
    out.mkdir(parents=True, exist_ok=True)
    got = []
    for rel in CLASSIC_DEV + CLASSIC_HELD_OUT if names is None else names:
        for ext in (".mxl", ".xml", ".musicxml"):
            if (root / (rel + ext)).exists():
                name = re.sub(r"[^A-Za-z0-9_-]+", "_", rel)
                cut = out / f"{name}.musicxml"
                if not cut.exists():
                    first_measures(str(root / (rel + ext)), cut)
                got.append((name, str(cut)))
                break
        else:
            print(f"skip {rel}: not under {root}", file=sys.stderr)
    return got


def render_musescore(out: Path, scores: list[tuple[str, str]] | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    if scores is None:
        scores = [(_slug(f), f) for f in sorted(glob.glob(MUSESCORE_GLOB))]
    for name, f in scores:
        wav, mid, meta = out / f"{name}.wav", out / f"{name}.mid", out / f"{name}.json"
        if meta.exists():
            continue
        for target in (wav, mid):
            if target.exists():
                continue
            subprocess.run(
                ["mscore3", "-o", str(target), f], capture_output=True, timeout=900, env=env
            )
        if not (wav.exists() and mid.exists()) or not audible(wav):
            print(f"skip {f}: mscore3 failed (no file, or no sound in it)", file=sys.stderr)
            wav.unlink(missing_ok=True)
            continue
        times, meter, changes = midi_beats(mid)
        beats = _trim(times, wav)
        bpm = float(60.0 / np.median(np.diff(beats)))
        meta.write_text(json.dumps({"beats": beats.round(6).tolist(), "bpm": bpm, "meter": meter,
                                    "source": f, "tempo_changes": changes}))  # fmt: skip
        print(
            f"{out.name} {name}: {bpm:.1f} BPM, {meter} per bar, changes={changes}", file=sys.stderr
        )


def load_set(name: str) -> list[dict[str, Any]]:
    """Items of a rendered set: name, wav path, reference beats, bpm, meter, tempo_changes."""
    items = []
    for meta in sorted((CACHE / name).glob("*.json")):
        d = json.loads(meta.read_text())
        items.append({"name": f"{name}/{meta.stem}", "wav": meta.with_suffix(".wav"), **d})
    return items


def main() -> None:
    sets = sys.argv[1:] or ["lmms", "musescore"]
    if "musescore" in sets:
        render_musescore(CACHE / "musescore")
    if "lmms" in sets:
        render_lmms(CACHE / "lmms")
    if "gmidi" in sets:
        render_gmidi(CACHE / "gmidi")
    if "classic" in sets:
        render_musescore(CACHE / "classic", classic_scores(CACHE / "classic"))
    if "classic2" in sets:
        render_musescore(CACHE / "classic2", classic_scores(CACHE / "classic2", CLASSIC2))


if __name__ == "__main__":
    main()
