"""AudD's wire format for recognition results: pure mapping from catalog assets and engine
matches to the JSON AudD clients parse (``result`` of recognize, enterprise chunks, stream
callbacks, longpoll events). No HTTP, no storage writes.

Field choices where AudD's contract leaves room (documented in the README):

- ``title`` is the asset name; ``artist``/``album``/``release_date``/``label`` are empty
  strings when the catalog has none (AudD always sends these keys).
- ``song_link`` is ``asset.extra["song_link"]`` if stored, else our own page for the asset
  (``{base_url}/ui/assets/{asset_id}``).
- ``return=apple_music,spotify,deezer,napster,musicbrainz`` returns what the catalog stores
  under those keys in ``asset.extra``; absent keys are left out (we never call those
  services).
- A song added through ``/upload/`` (AudD's custom catalog) matches as
  ``{"timecode", "audio_id"}`` only, exactly as AudD's custom-DB matches do.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from typing import Any

from tonearm.storage.base import Asset

RETURN_SOURCES = ("apple_music", "spotify", "deezer", "napster", "musicbrainz")
CHUNK_S = 12.0  # AudD's enterprise endpoint works in 12-second chunks


def mmss(seconds: float) -> str:
    """``MM:SS`` to the nearest second (match offsets carry frame jitter: 8.99 s is 00:09);
    minutes keep counting past 99."""
    s = max(0, int(math.floor(seconds + 0.5))) if math.isfinite(seconds) else 0
    return f"{s // 60:02d}:{s % 60:02d}"


def parse_return(value: object) -> list[str]:
    """The known identifiers of a comma-separated ``return`` parameter, in order, deduped.
    Unknown ones (e.g. ``lyrics``) are ignored, as AudD ignores what it cannot serve."""
    if not isinstance(value, str):
        return []
    out: list[str] = []
    for part in value.split(","):
        p = part.strip().lower()
        if p in RETURN_SOURCES and p not in out:
            out.append(p)
    return out


def audio_id_wire(audio_id: str) -> int | str:
    """AudD's audio_id is an integer; a non-numeric id set through a sidecar stays a string."""
    s = str(audio_id).strip()
    return int(s) if s.lstrip("-").isdigit() else s


def is_custom(asset: Asset) -> bool:
    return asset.audio_id is not None and str(asset.audio_id) != ""


def song_link(asset: Asset, base_url: str) -> str:
    link = asset.extra.get("song_link") if isinstance(asset.extra, dict) else None
    if isinstance(link, str) and link:
        return link
    return f"{base_url.rstrip('/')}/ui/assets/{asset.asset_id}"


def metadata_fields(asset: Asset) -> dict[str, Any]:
    """The public-DB fields AudD always sends for a song."""
    return {
        "artist": asset.artist or "",
        "title": asset.name or "",
        "album": asset.album or "",
        "release_date": asset.release_date or "",
        "label": asset.label or "",
    }


def extras(asset: Asset, returns: Iterable[str]) -> dict[str, Any]:
    extra = asset.extra if isinstance(asset.extra, dict) else {}
    return {k: extra[k] for k in returns if k in extra and extra[k] is not None}


def recognize_result(
    asset: Asset, offset_s: float, *, returns: Iterable[str] = (), base_url: str
) -> dict[str, Any]:
    """``result`` of AudD ``recognize`` for a match at ``offset_s`` seconds into ``asset``."""
    if is_custom(asset):
        return {"timecode": mmss(offset_s), "audio_id": audio_id_wire(str(asset.audio_id))}
    r = metadata_fields(asset)
    r["timecode"] = mmss(offset_s)
    r["song_link"] = song_link(asset, base_url)
    r.update(extras(asset, returns))
    return r


def score_0_100(score: float) -> int:
    return int(max(0, min(100, round(float(score) * 100))))


def enterprise_song(
    asset: Asset,
    *,
    score: float,
    song_offset_s: float,
    returns: Iterable[str] = (),
    base_url: str,
) -> dict[str, Any]:
    """One entry of an enterprise chunk's ``songs``: score 0-100 and the song's fields."""
    r: dict[str, Any] = {"score": score_0_100(score)}
    r.update(metadata_fields(asset))
    r["timecode"] = mmss(song_offset_s)
    if asset.isrc:
        r["isrc"] = asset.isrc
    upc = asset.extra.get("upc") if isinstance(asset.extra, dict) else None
    if isinstance(upc, str) and upc:
        r["upc"] = upc
    r["song_link"] = song_link(asset, base_url)
    if is_custom(asset):
        r["audio_id"] = audio_id_wire(str(asset.audio_id))
    # AudD's enterprise endpoint does not serve Spotify data
    r.update(extras(asset, [k for k in returns if k != "spotify"]))
    return r


def callback_song(
    asset: Asset, *, score: float, returns: Iterable[str] = (), base_url: str
) -> dict[str, Any]:
    """One entry of a stream callback's ``results``."""
    r = metadata_fields(asset)
    r["score"] = score_0_100(score)
    r["song_link"] = song_link(asset, base_url)
    if is_custom(asset):
        r["audio_id"] = audio_id_wire(str(asset.audio_id))
    r.update(extras(asset, returns))
    return r


def longpoll_category(api_token: str, radio_id: int | str) -> str:
    """AudD's longpoll category: MD5(MD5(api_token) + str(radio_id))[:9]."""
    inner = hashlib.md5(api_token.encode("utf-8")).hexdigest()
    return hashlib.md5((inner + str(radio_id)).encode("utf-8")).hexdigest()[:9]


def go_duration(seconds: float) -> str:
    """A duration the way AudD's (Go) servers print ``execution_time``: ``159.226763ms``,
    ``2.5s``, ``1m3.25s``."""
    if seconds < 1.0:
        return f"{seconds * 1000:.6f}".rstrip("0").rstrip(".") + "ms"
    if seconds < 60.0:
        return f"{seconds:.6f}".rstrip("0").rstrip(".") + "s"
    m, s = divmod(seconds, 60.0)
    h, m = divmod(int(m), 60)
    sec = f"{s:.6f}".rstrip("0").rstrip(".") + "s"
    return (f"{h}h" if h else "") + f"{m}m" + sec
