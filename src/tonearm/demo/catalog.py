"""The demo catalog: music and sound effects synthesized offline, ingested for real.

Deterministic: the same pieces, names and metadata on every machine. Files are rendered
into a staging folder under the data directory (``DATA/demo-src/v<N>/``) with a CSV
sidecar per kind, then go through :func:`tonearm.catalog.ingest.ingest_paths` so every
default analyzer runs, exactly as for a user's own files. Rendered files are reused and
ingest is idempotent by content hash, so a second build adds nothing and is quick.

``truth.json`` in the staging folder keeps what the synthesizer knows and an analyzer has
to find out: beat and downbeat times, tempo, key and mode per piece, and which sound
effects are deliberate near-duplicates of which.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import IngestOutcome, ingest_paths
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.demo.synth import SFX_CATEGORIES, STYLES, SongSpec, render_sfx, render_song
from tonearm.demo.synth.song import song_beats, song_sections

DEMO_VERSION = 1
MUSIC_SR = 22050
SFX_SR = 44100
TARGET_SONG_S = 32.0

# (stage, done, total); stages: "render music", "render sfx", "ingest music", "ingest sfx"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoArtist:
    name: str
    style: str
    album: str
    label: str
    year: int
    titles: tuple[str, ...]
    bpms: tuple[float, ...]
    keys: tuple[str, ...]  # e.g. "A minor"
    meter: int | None = None
    humanize_ms: float = 0.0
    genre: str | None = None  # default: the style's genre
    tempo_change: int | None = None  # index of a title that speeds up or slows down


ARTISTS: tuple[DemoArtist, ...] = (
    DemoArtist(
        "Velvet Cassette", "lofi", "Rainy Window Tapes", "Dustbin Records", 2021,
        ("Rainy Window", "Coffee Rings", "Late Library", "Tape Hiss Lullaby", "Streetlight Nap"),
        (72, 80, 88, 64, 84), ("A minor", "F major", "D minor", "Eb major", "C minor"),
        humanize_ms=12,
    ),
    DemoArtist(
        "Neon Harbor", "edm", "Pulse District", "Voltline", 2023,
        ("Harbor Lights", "Midnight Circuit", "Pulse District", "Afterglow", "Skyline Run"),
        (124, 126, 128, 120, 130), ("F minor", "A minor", "G major", "C major", "D minor"),
    ),
    DemoArtist(
        "The Rust Coyotes", "rock", "Gravel & Gasoline", "Highway Nine", 2019,
        ("Gravel and Gasoline", "Dust Devil", "Burnout Boulevard", "Ironwood", "Last Exit"),
        (140, 112, 168, 100, 152), ("E minor", "A major", "D major", "G minor", "E major"),
        humanize_ms=6, tempo_change=4,
    ),
    DemoArtist(
        "Aurora Drift", "ambient", "Tidal Hours", "Stillwater", 2022,
        ("Tidal Hours", "Glacier Breath", "Slow Satellites", "Paper Moon"),
        (60, 66, 72, 76), ("D major", "B minor", "Ab major", "E minor"),
    ),
    DemoArtist(
        "Halvorsen Film Orchestra", "orchestral", "Banners of the North", "Northlight Scores",
        2020,
        ("Banners of the North", "The Long Watch", "Ember Crown", "Frostfall March", "Homecoming"),
        (96, 70, 108, 112, 80), ("D minor", "Bb major", "C minor", "G minor", "F major"),
        humanize_ms=8, tempo_change=1,
    ),
    DemoArtist(
        "Pixel Fox", "chiptune", "Cartridge Hearts", "8-Bit Orchard", 2018,
        ("Cartridge Hearts", "Boss Rush", "Overworld Picnic", "Save Point", "Turbo Tunnel"),
        (150, 176, 136, 132, 180), ("C major", "E minor", "G major", "A minor", "D major"),
    ),
    DemoArtist(
        "Marguerite Okafor Trio", "jazz", "Waltz for a Quiet Room", "Blue Lantern", 2017,
        ("Waltz for a Quiet Room", "Sidewalk Café", "Rosewood", "Blue Lantern", "Night Owl Waltz"),
        (138, 120, 160, 104, 176), ("Bb major", "F major", "D minor", "Eb major", "G minor"),
        humanize_ms=10,
    ),
    DemoArtist(
        "Willow & Wren", "folk", "Hearthlight", "Meadowgate", 2021,
        ("Hearthlight", "River Road", "Barley Fields", "The Lantern Keeper", "Crooked Oak"),
        (96, 110, 84, 76, 118), ("G major", "D major", "E minor", "A minor", "C major"),
        humanize_ms=9,
    ),
    DemoArtist(
        "Low Tide Collective", "lofi", "Late Bus Home", "Dustbin Records", 2024,
        ("Late Bus Home", "Three Quarter Dreams", "Window Seat"),
        (78, 90, 68), ("G minor", "C major", "B minor"),
        meter=3, humanize_ms=14, genre="Lo-Fi Jazz",
    ),
    DemoArtist(
        "Kilowatt Kids", "chiptune", "Arcade Sunrise", "Voltline", 2024,
        ("Arcade Sunrise", "High Score", "Insert Coin"),
        (160, 144, 170), ("F major", "C minor", "A major"),
        genre="Chiptune",
    ),
)  # fmt: skip

SFX_CREATORS = (
    (4101, "Foley Forge"),
    (4102, "Sonic Atelier"),
    (4103, "Fieldline Recordings"),
    (4104, "UI Sound Lab"),
)
_SFX_WORDS = {
    "IMPACTS": ("impact", "hit", "strike"),
    "WHOOSHES": ("whoosh", "swoosh", "pass by", "movement"),
    "FOOTSTEPS": ("footsteps", "walking", "steps", "foley"),
    "USER INTERFACE": ("ui", "interface", "button", "menu", "game"),
    "EXPLOSIONS": ("explosion", "blast", "boom"),
    "AMBIENCE": ("ambience", "background", "atmosphere", "loop"),
    "WATER": ("water", "liquid"),
    "DOORS": ("door", "house", "foley"),
    "GUNS": ("gun", "gunshot", "weapon", "firearm"),
    "MAGIC": ("magic", "fantasy", "spell", "shimmer"),
    "ALARMS": ("alarm", "warning", "alert"),
    "ELECTRICITY": ("electric", "electricity", "power"),
    "BIRDS": ("bird", "nature", "animal", "outdoors"),
    "VEHICLES": ("vehicle", "engine", "car", "motor"),
}
# how a person would title a clip of a (category, subcategory), and variant adjectives
_SFX_TITLES = {
    "IMPACTS": "{sub} Impact",
    "WHOOSHES": "{sub}",
    "FOOTSTEPS": "Footsteps {sub}",
    "USER INTERFACE": "UI {sub}",
    "EXPLOSIONS": "{sub} Explosion",
    "AMBIENCE": "{sub} Ambience",
    "WATER": "Water {sub}",
    "DOORS": "Door {sub}",
    "GUNS": "{sub} Gunshot",
    "MAGIC": "Magic {sub}",
    "ALARMS": "{sub} Alarm",
    "ELECTRICITY": "Electric {sub}",
    "BIRDS": "{sub} Chirps",
    "VEHICLES": "{sub} Rev",
}
_SFX_ADJECTIVES = {
    "IMPACTS": ("Heavy", "Sharp"),
    "WHOOSHES": ("Fast", "Airy"),
    "FOOTSTEPS": ("Brisk", "Slow"),
    "USER INTERFACE": ("Soft", "Crisp"),
    "EXPLOSIONS": ("Close", "Distant"),
    "AMBIENCE": ("Calm", "Steady"),
    "WATER": ("Gentle", "Lively"),
    "DOORS": ("Old", "Heavy"),
    "GUNS": ("Close", "Distant"),
    "MAGIC": ("Bright", "Mystic"),
    "ALARMS": ("Urgent", "Steady"),
    "ELECTRICITY": ("Harsh", "Low"),
    "BIRDS": ("Morning", "Lively", "Evening"),
    "VEHICLES": ("Idle", "Revving", "Rough"),
}


@dataclass
class DemoSummary:
    music_added: int = 0
    music_skipped: int = 0
    sfx_added: int = 0
    sfx_skipped: int = 0
    rendered: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    staging_dir: str = ""
    seconds: float = 0.0

    @property
    def added(self) -> int:
        return self.music_added + self.sfx_added

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "added": self.added}


@dataclass
class _Item:
    file: str  # name inside the kind's folder
    meta: dict[str, Any]
    render: Callable[[], Signal]
    fmt: str  # encode() format
    truth: dict[str, Any]


def _bars_for(bpm: float, meter: int) -> int:
    bars = int(round(TARGET_SONG_S * bpm / 60.0 / meter / 4.0)) * 4
    return max(8, bars)


def _tempo_word(bpm: float) -> str:
    return (
        "slow" if bpm < 85 else "mid-tempo" if bpm < 125 else "fast" if bpm < 155 else "very fast"
    )


def _slug(s: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in s)
    return "-".join(p for p in keep.split("-") if p)


def music_items() -> list[_Item]:
    """Every demo music piece (deterministic order)."""
    items: list[_Item] = []
    track_no = 0
    for ai, art in enumerate(ARTISTS):
        info = STYLES[art.style]
        meter = art.meter or info.meter
        for ti, title in enumerate(art.titles):
            track_no += 1
            bpm = float(art.bpms[ti])
            key, mode = art.keys[ti].split()
            bars = _bars_for(bpm, meter)
            curve = None
            if art.tempo_change == ti:
                curve = ((0.0, bpm), (float(bars), bpm * (1.25 if ti % 2 == 0 else 0.8)))
            spec = SongSpec(
                style=art.style, bpm=bpm, meter=meter, key=key, mode=mode, bars=bars,
                seed=1000 + 37 * ai + ti, humanize_ms=art.humanize_ms, tempo_curve=curve,
                lead_in_s=0.0 if ti % 3 else 0.25,
            )  # fmt: skip
            moods = list(info.moods)
            mood_a, mood_b = moods[ti % len(moods)], moods[(ti + 1) % len(moods)]
            genre = art.genre or info.genre
            meter_txt = "3/4 waltz time" if meter == 3 else f"{meter}/4"
            change = ""
            if curve:
                change = (
                    " It speeds up towards the end."
                    if curve[1][1] > bpm
                    else (" It slows down towards the end.")
                )
            description = (
                f"{mood_a.capitalize()}, {mood_b} {genre.lower()} instrumental in {key} {mode}, "
                f"{_tempo_word(bpm)} at {bpm:g} BPM in {meter_txt}: {info.description}.{change}"
            )
            tags = ", ".join(
                dict.fromkeys(
                    [genre.lower(), art.style, *moods, "instrumental", f"{key} {mode}", mode,
                     _tempo_word(bpm)]
                )
            )  # fmt: skip
            fmt = "mp3_320" if track_no % 4 == 0 else "flac"
            ext = ".mp3" if fmt.startswith("mp3") else ".flac"
            file = f"{track_no:03d}-{_slug(art.name)}-{_slug(title)}{ext}"
            meta = {
                "name": title,
                "artist": art.name,
                "album": art.album,
                "genre": genre,
                "bpm": bpm,
                "description": description,
                "tags": tags,
                "label": art.label,
                "release_date": f"{art.year}-{1 + (ti * 2) % 12:02d}-{1 + ti * 5:02d}",
                "isrc": f"QZTA{art.year % 100:02d}{ai:02d}{ti + 1:03d}",
                "creator_name": art.name,
            }
            items.append(
                _Item(file, meta, partial(_render_music, spec), fmt,
                      {"spec": {**asdict(spec)}, "style": art.style})
            )  # fmt: skip
    return items


def _render_music(spec: SongSpec) -> Signal:
    sig, _, _ = render_song(spec, MUSIC_SR)
    return sig


def sfx_items() -> list[_Item]:
    """Every demo sound effect, near-duplicates last (deterministic order)."""
    items: list[_Item] = []
    n = 0
    for ci, (cat, info) in enumerate(SFX_CATEGORIES.items()):
        subs = list(info.subcategories.items())
        per_sub = 2 if len(subs) > 1 else 3
        for si, (sub, sub_desc) in enumerate(subs):
            for v in range(per_sub):
                n += 1
                seed = 500 + 17 * ci + 5 * si + v
                adjectives = _SFX_ADJECTIVES[cat]
                word = adjectives[(si + v) % len(adjectives)]
                adj = word.lower()
                cid, cname = SFX_CREATORS[(ci + v) % len(SFX_CREATORS)]
                title = _SFX_TITLES[cat].format(sub=sub.title())
                name = f"{word} {title} {v + 1:02d}"
                file = f"{n:03d}-{_slug(cat)}-{_slug(sub)}-{v + 1:02d}.wav"
                tags = ", ".join(
                    dict.fromkeys([*_SFX_WORDS[cat], sub.lower(), adj, f"{info.cat_short}"])
                )
                meta = {
                    "name": name,
                    "description": f"{sub_desc.capitalize()}, {adj} variant.",
                    "category": cat,
                    "subcategory": sub,
                    "tags": tags,
                    "creator_id": cid,
                    "creator_name": cname,
                }
                items.append(
                    _Item(file, meta, partial(render_sfx, cat, sub, seed, SFX_SR),
                          "wav", {"category": cat, "subcategory": sub, "seed": seed})
                )  # fmt: skip
    # deliberate near-duplicates: re-encoded, trimmed, gain-changed copies
    dup_plan = (
        ("mp3", 0), ("mp3", 9), ("trim", 4), ("trim", 20), ("gain", 14), ("gain", 30),
    )  # fmt: skip
    for how, idx in dup_plan:
        src = items[idx]
        n += 1
        base = src.file.rsplit(".", 1)[0].split("-", 1)[1]
        ext = ".mp3" if how == "mp3" else ".wav"
        file = f"{n:03d}-{base}-{how}{ext}"
        label = {"mp3": "MP3", "trim": "trimmed", "gain": "louder"}[how]
        meta = {**src.meta, "name": f"{src.meta['name']} ({label})"}
        meta["description"] = f"{src.meta['description']} Alternate upload ({label} copy)."
        items.append(
            _Item(file, meta, partial(_near_duplicate, src.render, how),
                  "mp3_128" if how == "mp3" else "wav",
                  {**src.truth, "duplicate_of": src.file, "edit": how})
        )  # fmt: skip
    return items


def _near_duplicate(render: Callable[[], Signal], how: str) -> Signal:
    sig = render()
    if how == "trim":  # drop the first 30 ms of sound and the tail silence
        y = sig.samples
        nz = np.flatnonzero(np.abs(y).max(axis=0) > 1e-4)
        a = int(nz[0]) + int(0.03 * sig.sr) if nz.size else 0
        b = int(nz[-1]) + 1 if nz.size else y.shape[1]
        return Signal(y[:, a:b], sig.sr)
    if how == "gain":  # +4 dB, kept below full scale
        g = min(10 ** (4 / 20), 0.98 / max(1e-9, float(np.abs(sig.samples).max())))
        return Signal(sig.samples * g, sig.sr)
    return sig  # "mp3": the encoder does the change


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _write_csv(path: Path, items: list[_Item]) -> None:
    cols = ["file", *dict.fromkeys(k for it in items for k in it.meta)]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".csv")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for it in items:
            w.writerow({"file": it.file, **it.meta})
    os.replace(tmp, path)


def staging_dir(catalog: Catalog) -> Path:
    return catalog.data_dir / "demo-src" / f"v{DEMO_VERSION}"


def _render_all(
    items: list[_Item], folder: Path, stage: str, progress: Progress | None, truth: dict[str, Any]
) -> int:
    rendered = 0
    for i, it in enumerate(items):
        path = folder / it.file
        if not path.exists():
            sig = it.render()
            _write_atomic(path, encode(sig, it.fmt))
            rendered += 1
        truth[it.file] = it.truth
        if progress:
            progress(stage, i + 1, len(items))
    return rendered


def _song_truth(items: list[_Item]) -> dict[str, Any]:
    """Beat/downbeat truth per song (cheap: the grid only, no audio)."""
    out: dict[str, Any] = {}
    for it in items:
        spec = SongSpec(**it.truth["spec"])
        beats, downbeats = song_beats(spec)
        out[it.file] = {
            **it.truth,
            "bpm": spec.bpm,
            "meter": spec.meter,
            "key": spec.key,
            "mode": spec.mode,
            "sections": song_sections(spec),
            "beat_times_s": [round(float(t), 6) for t in beats],
            "downbeat_times_s": [round(float(t), 6) for t in downbeats],
        }
    return out


def build_demo_catalog(
    catalog: Catalog,
    progress: Progress | None = None,
    *,
    limit: int | None = None,
    analyses: list[str] | None = None,
) -> DemoSummary:
    """Render (once) and ingest the demo catalog.

    Parameters
    ----------
    catalog : Catalog
    progress : callable, optional
        ``progress(stage, done, total)`` after each file of each stage.
    limit : int, optional
        At most this many music pieces and this many sound effects (for quick tests);
        ``None``: the whole catalog (45 music pieces, 72 sound effects).
    analyses : list of str, optional
        Analyzers to run (``None``: the defaults, as ``tonearm ingest``).

    Returns
    -------
    DemoSummary
        Counts of assets added and skipped (already present) per kind.
    """
    t0 = time.perf_counter()
    root = staging_dir(catalog)
    music = music_items()
    sfx = sfx_items()
    if limit is not None:
        music, sfx = music[:limit], _limited_sfx(sfx, limit)
    summary = DemoSummary(staging_dir=str(root))
    truth_music: dict[str, Any] = {}
    truth_sfx: dict[str, Any] = {}
    summary.rendered += _render_all(music, root / "music", "render music", progress, truth_music)
    summary.rendered += _render_all(sfx, root / "sfx", "render sfx", progress, truth_sfx)
    _write_csv(root / "music.csv", music)
    _write_csv(root / "sfx.csv", sfx)
    truth = {"version": DEMO_VERSION, "music": _song_truth(music), "sfx": truth_sfx}
    _write_atomic(root / "truth.json", json.dumps(truth, indent=1).encode())

    for kind, items, folder in (("music", music, "music"), ("sfx", sfx, "sfx")):
        stage = f"ingest {kind}"
        on_progress = _counter(progress, stage, len(items))
        s = ingest_paths(
            catalog,
            [root / folder / it.file for it in items],
            kind=kind,
            metadata_csv=root / f"{kind}.csv",
            analyses=analyses,
            on_progress=on_progress,
        )
        setattr(summary, f"{kind}_added", len(s.added))
        setattr(summary, f"{kind}_skipped", len(s.skipped))
        summary.failed += [{"path": f.path, "reason": f.reason or ""} for f in s.failed]
    summary.seconds = round(time.perf_counter() - t0, 2)
    return summary


def _counter(progress: Progress | None, stage: str, total: int) -> Callable[[IngestOutcome], None]:
    done = [0]

    def on_progress(_o: IngestOutcome) -> None:
        done[0] += 1
        if progress:
            progress(stage, done[0], total)

    return on_progress


def _limited_sfx(items: list[_Item], limit: int) -> list[_Item]:
    """The first ``limit`` originals plus the near-duplicates of those among them."""
    originals = [it for it in items if "duplicate_of" not in it.truth][:limit]
    kept = {it.file for it in originals}
    dups = [it for it in items if it.truth.get("duplicate_of") in kept]
    return originals + dups
