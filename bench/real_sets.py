"""Real benchmark sets for discovery (similar SFX, duplicates, search), built from Debian packages.

Every set is a pure function of the installed files (sorted paths, fixed rules, no random
draws without a fixed seed), so two runs on the same machine measure the same thing.

- :func:`sfx_clips`: real sound effects of sound-theme-freedesktop, supertux-data,
  frozen-bubble-data, boswars-data, fillets-ng-data and colobot-common-sounds. Labels come
  from the folder and file names with the rules of :data:`SFX_LABELS` (a rule labels a file
  only where its name says what the sound is; e.g. boswars ``*.ready`` / ``*.underattack``
  are the game's spoken announcements, fillets-ng ``sound/linux/en/key*`` are key presses).
  Files the rules do not label (colobot's ``soundNNN.wav``, fillets-ng's level sounds with
  Czech abbreviations) stay in the set as distractors: retrieved possibly, never queried.
  Byte-identical files are kept once; at most :data:`CAP_PER_LABEL` clips per label (evenly
  spaced over the sorted list) so keyboard clicks do not dominate.
- :func:`split_of`: the tuning / held-out split, by file (md5 of the path, even = tuning).
- :func:`sfx_variants` / :func:`music_variants`: the near-duplicate edits (resampled to
  22.05 kHz, trimmed, gain-changed, MP3 128k re-encode, 2 % faster).
- :func:`music_tracks`: real game music (the directories of ``bench/recognition.py`` plus
  supertux-data and xmoto).

Cached vectors live under ``TONEARM_BENCH_CACHE`` (default /tmp/tonearm-bench-discovery).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tonearm.core.audio.decode import decode
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal

CACHE = Path(os.environ.get("TONEARM_BENCH_CACHE", "/tmp/tonearm-bench-discovery"))
CAP_PER_LABEL = 24
SFX_ROOTS = {
    "/usr/share/sounds/freedesktop/stereo": "freedesktop",
    "/usr/share/games/supertux2/sounds": "supertux",
    "/usr/share/games/frozen-bubble/snd": "frozen-bubble",
    "/usr/share/games/boswars": "boswars",
    "/usr/share/games/fillets-ng/sound": "fillets-ng",
    "/usr/share/games/colobot/sounds": "colobot",
}
AUDIO_EXT = (".wav", ".ogg", ".oga", ".wv")

# The second SFX set (session 6): other games, other studios, a different mix of foley,
# weapons, creatures, UI and city ambience. Packages: wesnoth-1.16-data, hedgewars-data,
# teeworlds-data (WavPack .wv), lincity-ng-data, pingus-data.
SFX2_ROOTS = {
    "/usr/share/games/wesnoth/1.16/data/core/sounds": "wesnoth",
    "/usr/share/games/wesnoth/1.16/sounds": "wesnoth-ui",
    "/usr/share/games/hedgewars/Data/Sounds": "hedgewars",
    "/usr/share/games/teeworlds/data/audio": "teeworlds",
    "/usr/share/games/lincity-ng/sounds": "lincity",
    "/usr/share/games/pingus/data/sounds": "pingus",
}
# files left out of the second set: hedgewars' ten other voice packs (the same ~60 lines
# each: one pack, Default, stays), music
SFX2_EXCLUDE = r"hedgewars/voices/(?!default/)|teeworlds/music_|ride_of_the_valkyries"
_CREATURE = r"(wolf|gryphon|horse|drake|bat|tusker|yeti|hiss|naga|mermaid|mermen)"
_HUMANOID = r"(human|human-female|human-old|orc|orc-small|dwarf|elf|goblin|troll|ogre)"
_MELEE = r"(sword|axe|mace|club|flail|hatchet|staff|spear|knife|dagger|fist|claws|pincers)"
# (regex on "<root name>/<path below the root>", lower case) -> label; first match wins.
# Written from the file names alone, before any embedding of these files was computed.
SFX2_LABELS: list[tuple[str, str]] = [
    # voiced pain and death cries of people and humanoids
    (rf"wesnoth/{_HUMANOID}-(hit|die)(-\d)?\.", "pain-cry"),
    (r"teeworlds/vo_teefault_(pain|cry)", "pain-cry"),
    (r"hedgewars/voices/default/(ow\d|ooff\d|ouch|nooo)", "pain-cry"),
    # animals and monsters hit, dying, growling
    (rf"wesnoth/{_CREATURE}-(hit|die|growl|shriek)", "creature"),
    (r"wesnoth/(hiss|hiss-big|hiss-die|hiss-hit)\.", "creature"),
    # a melee weapon that misses: the swing through the air; throws
    (rf"wesnoth/{_MELEE}(-\d)?-miss|wesnoth/miss-\d|wesnoth/throw-\d|wesnoth/dagger-swish",
     "swing"),
    (r"teeworlds/wp_hammer_swing|teeworlds/wp_ninja_attack", "swing"),
    # a melee weapon that lands
    (rf"wesnoth/{_MELEE}(-\d)?\.", "melee-hit"),
    (r"teeworlds/wp_(hammer|ninja)_hit|hedgewars/(baseballbat|hammer|firepunch_hit)\.",
     "melee-hit"),
    (r"wesnoth/(bow|crossbow|sling|throwing-knife|dart|bow-puny)(-big)?(-fire)?(-miss)?\.",
     "bow"),
    (r"wesnoth/(gunshot|thunderstick|dragonstick)|teeworlds/wp_(gun|shotty)_fire"
     r"|hedgewars/(gun|shotgunfire|minigun)\.", "gunfire"),
    (r"wesnoth/magic|wesnoth/(lightning|heal|slowed|petrified|entangle)", "magic"),
    (r"explosion|teeworlds/wp_flump_explo|hedgewars/(grenade|mine|airmine|melon)impact",
     "explosion"),
    (r"teeworlds/foley_foot|hedgewars/steps|wesnoth/horse(-elf)?-canter", "footsteps"),
    (r"teeworlds/(foley_body|foley_land|sfx_hit_)|hedgewars/(bump|graveimpact)\.", "impact"),
    (r"wesnoth-ui/(button|checkbox|select|slider|expand|contract)|lincity/(click|window)",
     "ui-click"),
    (r"wesnoth-ui/(chat|receive|join|leave|arrive)|teeworlds/sfx_msg", "ui-chime"),
    (r"teeworlds/(sfx_pickup|sfx_spawn_wpn)|hedgewars/collectcrate|wesnoth/gold\.", "pickup"),
    (r"hedgewars/voices/default/|pingus/(goodidea|letsgo|ohno|yipee)", "speech"),
    (r"splash|droplet|water|lincity/parklandlake", "water"),
    (r"lincity/(industry|coalmine|oremine|mill|blacksmith|powercoal|substation)", "industry"),
    (r"lincity/(trafic|railtrain|dirttrack)|hedgewars/(plane|rcplane|ufo)\.", "vehicle"),
    (r"wesnoth/(fire|flame|torch|melee-fire)|hedgewars/(flamethrower|blowtorch)"
     r"|lincity/fire", "fire"),
    (r"lincity/(build|raze|monumentconstruction)", "construction"),
    (r"wesnoth/horn-signals/", "horn"),
    (r"hedgewars/\d[a-g]\.", "musical-note"),
    (r"teeworlds/wp_laser", "laser"),
]  # fmt: skip

# (regex on "<root name>/<path below the root>", lower case) -> label; first match wins.
SFX_LABELS: list[tuple[str, str]] = [
    # spoken words: freedesktop channel tests, boswars announcements, fillets-ng dialogue
    # colobot-common-sounds: soundNNN.wav is entry NNN of the game's SoundType enum, whose
    # comments say what each is (colobot/colobot src/sound/sound_type.h)
    (r"colobot/sound0(02|56|57|58|76)\.", "explosion"),  # building/bot/power explosion, thunder
    (r"colobot/sound0(05|27|59|60)\.", "footsteps"),  # grass, underwater, rock #1, rock #2
    (r"colobot/sound0(03|04|06|07|08|32|46|47|71|81)\.", "engine"),  # jet and bot engines
    (r"colobot/sound0(20|33|34|35|36|37|66)\.", "creature-voice"),  # alien roars, screams
    (r"colobot/sound0(09|14|41|52)\.", "ui-chime"),  # error, warning, info, message
    (r"colobot/sound0(12|13|28)\.", "water"),  # splash, swimming
    (r"colobot/sound0(25|49|78)\.", "gunfire"),  # shooter bots, phazer
    (r"colobot/sound0(01|43|53|54|55|74)\.", "impact"),  # bump, slam, bangs, thumper
    (r"colobot/sound0(10|15|16|19|30|40|44)\.", "machinery"),  # converter, derrick, lab...
    (r"colobot/sound021\.", "fire"),  # burning
    (r"mot-x-motor", "engine"),
    # a destroyed vehicle or building in boswars (sfx_*.die, vehicle *_die) explodes
    (r"boswars/units/(apcs|artil|buggy|destroyer|harvester)/.*die\.wav$", "explosion"),
    (r"boswars/units/.*/sfx_.*\.die\.wav$", "explosion"),
    (r"fillets-ng/warcraft/en/war-[ak]-(ready|move)", "speech"),
    (r"freedesktop/audio-channel-", "speech"),
    (r"boswars/units/.*(\.|_)(ready|underattack|completed)\.wav$", "speech"),
    (r"boswars/units/.*\.unit\.(ready|underattack)", "speech"),
    (r"boswars/campaigns/tutorial/", "speech"),
    (r"fillets-ng/.*/deu-[lp]-", "speech"),
    (r"fillets-ng/linux/en/(key|enter|space)", "keyboard"),
    (r"typewriter", "keyboard"),
    (r"/coin", "coin"),
    (r"explosion|firecracker|fireworks|thunder|lightning", "explosion"),
    (r"sp-bubles", "bubbles"),
    (r"splash|waterfall|rain\.|gulp", "water"),
    (r"jump|/hop\.|trampoline", "jump"),
    (r"phone|alarm-clock|bell|bat-t-budik", "bell-ring"),
    (r"yeti_|grunts|hurt\.|mr_tree\.|tree_howling", "creature-voice"),
    (r"fire\.|flame|sizzle|lava|fizz", "fire"),
    (r"brick|stomp|squish|splat|thud|kick|darthit|bump|shardhit|wood\.|sp-impact", "impact"),
    (r"crack|shatter|icecrash", "shatter"),
    (r"boswars/units/(assault|bazoo|grenadier|gturret)/.*_attack\.wav$", "gunfire"),
    (r"boswars/sounds/.*_g_hit", "gunfire"),
    (r"shoot\.|dartfire|laser\.", "gunfire"),
    (r"unlocking-|turnkey|locked\.", "lock"),
    (r"freedesktop/(dialog-|window-|message|complete|suspend|device-|power-|network-|service-)",
     "ui-chime"),
    (r"frozen-bubble/(menu_|cancel|chatted|pause)", "ui-chime"),
]  # fmt: skip


@dataclass(frozen=True)
class Clip:
    path: str
    label: str | None
    key: str  # "<root name>/<relative path>", the name used in reports


def _rel(path: Path, roots: dict[str, str] | None = None) -> str:
    for r, name in (SFX_ROOTS if roots is None else roots).items():
        if str(path).startswith(r + "/"):
            return f"{name}/{str(path)[len(r) + 1 :]}"
    return str(path)


def label_of(key: str, rules: list[tuple[str, str]] | None = None) -> str | None:
    k = key.lower()
    for pat, lab in SFX_LABELS if rules is None else rules:
        if re.search(pat, k):
            return lab
    return None


def split_of(key: str) -> str:
    """ "tuning" or "held_out", by file (fixed: md5 of its key)."""
    return "tuning" if hashlib.md5(key.encode()).digest()[0] % 2 == 0 else "held_out"


def sfx_clips(which: str = "sfx") -> list[Clip]:
    """The real SFX set (labelled + distractors), deterministic order. ``which``: "sfx"
    (the first set, :data:`SFX_ROOTS`) or "sfx2" (:data:`SFX2_ROOTS`)."""
    roots, rules = (SFX_ROOTS, SFX_LABELS) if which == "sfx" else (SFX2_ROOTS, SFX2_LABELS)
    files: list[Path] = []
    for r in roots:
        files += sorted(p for p in Path(r).rglob("*") if p.suffix.lower() in AUDIO_EXT)
    seen: set[str] = set()
    clips: list[Clip] = []
    for p in files:
        if "/music/" in str(p) or "/intro/" in str(p) or "/sound/music/" in str(p):
            continue  # music, not effects
        h = hashlib.md5(p.read_bytes()).hexdigest()
        if h in seen:
            continue
        seen.add(h)
        key = _rel(p, roots)
        if which == "sfx2" and re.search(SFX2_EXCLUDE, key.lower()):
            continue
        clips.append(Clip(str(p), label_of(key, rules), key))
    by_label: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        if c.label:
            by_label.setdefault(c.label, []).append(i)
    drop: set[int] = set()
    for idx in by_label.values():
        if len(idx) > CAP_PER_LABEL:
            keep = set(np.linspace(0, len(idx) - 1, CAP_PER_LABEL).round().astype(int).tolist())
            drop |= {x for j, x in enumerate(idx) if j not in keep}
    return [c for i, c in enumerate(clips) if i not in drop]


def same_recording_groups(clips: list[Clip]) -> list[int]:
    """Group id per clip: clips of one package with the same file stem (``splash.wav`` /
    ``splash.ogg``) are the same recording in two encodings, i.e. true duplicates."""
    ids: dict[str, int] = {}
    out = []
    for c in clips:
        k = c.key.split("/")[0] + "/" + Path(c.key).stem.lower()
        out.append(ids.setdefault(k, len(ids)))
    return out


def load(path: str, max_s: float = 30.0) -> Signal | None:
    try:
        s = decode(path, isolate=False, max_duration_s=3600)
    except Exception:
        return None
    if s.duration_s > max_s:
        s = s.slice_s(0, max_s)
    return s if s.n_samples > 0 and np.any(s.samples) else None


def _faster(s: Signal, ratio: float) -> Signal:
    """Played ``ratio`` times faster (tape-style: tempo and pitch), same sample rate."""
    from tonearm.core.audio.resample import resample

    y = np.stack([resample(ch, int(round(s.sr * ratio)), s.sr) for ch in s.samples])
    return Signal(y.astype(np.float32), s.sr)


def _trim(s: Signal, head_s: float, tail_s: float) -> Signal:
    a, b = int(head_s * s.sr), s.n_samples - int(tail_s * s.sr)
    return Signal(s.samples[:, a:b], s.sr) if b - a > s.sr // 10 else s


def sfx_variants(s: Signal) -> dict[str, Callable[[], Signal]]:
    """Near-duplicate edits of a sound effect (lazy)."""
    d = s.duration_s
    return {
        "resampled_22k": lambda: s.resample(22050),
        "trimmed": lambda: _trim(s, max(0.01, 0.05 * d), max(0.01, 0.05 * d)),
        "gain_-9dB": lambda: Signal(s.samples * 0.355, s.sr),
        "mp3_128": lambda: decode(encode(s, "mp3_128"), isolate=False),
        "faster_2pct": lambda: _faster(s, 1.02),
    }


def music_variants(s: Signal) -> dict[str, Callable[[], Signal]]:
    """Near-duplicate edits of a music track: the same recording (lazy)."""
    return {
        "resampled_22k": lambda: s.resample(22050),
        "trimmed": lambda: _trim(s, 3.0, 5.0),
        "gain_-6dB": lambda: Signal(s.samples * 0.5, s.sr),
        "mp3_128": lambda: decode(encode(s, "mp3_128"), isolate=False),
        "faster_2pct": lambda: _faster(s, 1.02),
    }


MUSIC_DIRS = [
    "/usr/share/games/asc/music",
    "/usr/share/scummvm/drascula/audio",
    "/usr/share/games/colobot/music",
    "/usr/share/games/fillets-ng/music",
    "/usr/share/games/supertux2/music",
    "/usr/share/games/xmoto/Textures/Musics",
    # session 6: more songs, among them Hedgewars' "sudden death" versions of its themes
    "/usr/share/games/hedgewars/Data/Music",
    "/usr/share/games/lincity-ng/music",
]


def music_tracks() -> list[str]:
    """Real music files, byte-identical copies once, deterministic order."""
    out, seen = [], set()
    for d in MUSIC_DIRS:
        for p in sorted(Path(d).rglob("*")):
            if p.suffix.lower() not in (".ogg", ".mp3", ".flac"):
                continue
            h = hashlib.md5(p.read_bytes()).hexdigest()
            if h not in seen:
                seen.add(h)
                out.append(str(p))
    return out


def cached(name: str, fn: Callable[[], np.ndarray]) -> np.ndarray:
    """``fn()`` stored as ``CACHE/name.npy`` (computed once)."""
    path = CACHE / f"{name}.npy"
    if path.exists():
        return np.load(path)
    v = np.asarray(fn())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, v)
    tmp.replace(path)
    return v


def cache_key(*parts: str) -> str:
    return hashlib.md5("|".join(parts).encode()).hexdigest()


# (GM program, label): the instrument a score is rendered with, for ``instrument_renders``
RENDER_INSTRUMENTS = [
    (0, "piano"),
    (24, "acoustic-guitar"),
    (48, "strings"),
    (19, "organ"),
    (73, "flute"),
    (30, "distorted-guitar"),
    (81, "synth-lead"),
    (52, "choir"),
    (61, "brass"),
]
RENDER_MAX_S = 40.0


def instrument_renders(out: Path) -> list[tuple[Path, str, str]]:
    """The MuseScore demo scores of Debian ``musescore3`` (via ``bench/beat_sets.py``), each
    rendered by fluidsynth (FluidR3 GM) once per instrument of :data:`RENDER_INSTRUMENTS`:
    every part's program set to that instrument, the drum channel dropped, the first
    :data:`RENDER_MAX_S` seconds. Files are named ``track_NNN.wav`` in an order that follows
    neither score nor instrument, so the name says nothing.

    Returns (path, instrument label, score name) per render, sorted by path.
    """
    import json

    import mido
    import soundfile as sf

    from beat_sets import CACHE as BEAT_CACHE
    from beat_sets import render_musescore
    from midi_render import render_midi

    scores = BEAT_CACHE / "musescore"
    render_musescore(scores)
    out.mkdir(parents=True, exist_ok=True)
    manifest = out / "manifest.json"
    if manifest.exists():
        rows = json.loads(manifest.read_text())
        return [(out / r[0], r[1], r[2]) for r in rows]
    items = []
    for mid_path in sorted(scores.glob("*.mid")):
        for program, label in RENDER_INSTRUMENTS:
            items.append((mid_path, program, label))
    items.sort(key=lambda t: hashlib.md5(f"{t[0].stem}|{t[2]}".encode()).hexdigest())
    rows = []
    for n, (mid_path, program, label) in enumerate(items, 1):
        mid = mido.MidiFile(str(mid_path))
        for track in mid.tracks:
            kept = mido.MidiTrack()
            carry = 0
            for msg in track:
                if getattr(msg, "channel", None) == 9:
                    carry += msg.time  # drop the drum channel, keep the timing
                    continue
                if msg.type == "program_change":
                    msg = msg.copy(program=program)
                kept.append(msg.copy(time=msg.time + carry))
                carry = 0
            # channels that never get a program change play program 0: set it first
            chans = sorted({m.channel for m in kept if hasattr(m, "channel")})
            for ch in chans:
                kept.insert(0, mido.Message("program_change", channel=ch, program=program))
            track[:] = kept
        import io

        buf = io.BytesIO()
        mid.save(file=buf)
        sig = render_midi(buf.getvalue(), sr=22050)
        sig = sig.slice_s(0, min(RENDER_MAX_S, sig.duration_s))
        name = f"track_{n:03d}.wav"
        sf.write(str(out / name), sig.samples.T, sig.sr)
        rows.append((name, label, mid_path.stem))
    manifest.write_text(json.dumps(rows))
    return [(out / r[0], r[1], r[2]) for r in rows]
