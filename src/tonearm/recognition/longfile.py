"""The long-file merge, pure: AudD's enterprise parameters, which 12-second chunks to
recognize, and how chunk matches become one entry per track played.

Functions over options, numbers and matches only (no decoding, storage or jobs): the job
that decodes a file and asks the catalog is :mod:`tonearm.recognition.enterprise`.

Parameters, as AudD defines them (all optional):

- ``skip_first_seconds``: start scanning this far into the file;
- ``every``/``skip``: scan ``every`` consecutive 12 s chunks, then skip ``skip`` chunks,
  and repeat (defaults 1 and 0: every chunk);
- ``limit``: recognize at most this many chunks;
- ``accurate_offsets``: add ``start_offset``/``end_offset`` (ms within the chunk) and
  ``start_seconds``/``end_seconds`` (in the file) to each song.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tonearm.core.audio.errors import AudioError
from tonearm.recognition import wire
from tonearm.recognition.wire import CHUNK_S

HOP_S = CHUNK_S  # one recognition window per AudD chunk (the merged view joins them)


@dataclass
class ScanOptions:
    skip: int = 0
    every: int = 1
    limit: int | None = None
    skip_first_seconds: float = 0.0
    accurate_offsets: bool = False
    returns: tuple[str, ...] = ()
    # whose songs count: the shared catalog plus this account's ("*": every asset)
    tenant: str | None = "*"

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ScanOptions:
        """Parse AudD's parameters; raises ValueError with a message for bad values."""

        def intp(name: str, default: int | None, minimum: int) -> int | None:
            v = params.get(name)
            if v is None or (isinstance(v, str) and v.strip() == ""):
                return default
            try:
                n = int(str(v).strip())
            except ValueError as e:
                raise ValueError(f"the {name} parameter must be an integer") from e
            if n < minimum:
                raise ValueError(f"the {name} parameter must be at least {minimum}")
            return n

        skip_first = intp("skip_first_seconds", 0, 0) or 0
        if str(params.get("use_timecode", "")).lower() == "true" and params.get("url"):
            skip_first = timecode_from_url(str(params["url"])) or skip_first
        return cls(
            skip=intp("skip", 0, 0) or 0,
            every=intp("every", 1, 1) or 1,
            limit=intp("limit", None, 1),
            skip_first_seconds=float(skip_first),
            accurate_offsets=str(params.get("accurate_offsets", "")).lower() in ("true", "1"),
            returns=tuple(wire.parse_return(params.get("return"))),
        )


def timecode_from_url(url: str) -> int | None:
    """Seconds from a source URL's ``t``/``time_continue``/``start`` parameter
    (``90``, ``90s``, ``1m30s``, ``1h2m3s``)."""
    try:
        q = parse_qs(urlsplit(url).query)
    except ValueError:
        return None
    for name in ("t", "time_continue", "start"):
        if name in q and q[name]:
            v = q[name][0].strip().lower()
            if v.isdigit():
                return int(v)
            m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", v)
            if m and any(m.groups()):
                h, mi, s = (int(x or 0) for x in m.groups())
                return h * 3600 + mi * 60 + s
    return None


def selected_chunks(duration_s: float, opts: ScanOptions) -> list[int]:
    """Indices k of the 12 s chunks [skip_first + 12k, +12) to recognize."""
    n = 0
    t = opts.skip_first_seconds
    chunks: list[int] = []
    k = 0
    period = opts.every + opts.skip
    while t + k * CHUNK_S < duration_s - 1e-6:
        if k % period < opts.every:
            chunks.append(k)
            n += 1
            if opts.limit is not None and n >= opts.limit:
                break
        k += 1
    return chunks


@dataclass
class ChunkMatch:
    """One song heard in one chunk, in file and song seconds."""

    asset_id: str
    chunk: int
    file_start_s: float
    file_end_s: float
    song_start_s: float  # the song's own time at file_start_s
    score: float
    speed: float = 1.0
    shift_bands: float = 0.0  # the file's pitch above the song's, in fingerprint bands
    # other catalog songs heard over this play because they contain the passage being
    # played (a reused recording, a shared loop): reported inside the play, never as plays
    also: list[str] = field(default_factory=list)
    # the alignments (anchor_s) of the chunk matches a merged play is made of: a repeated
    # section moves the alignment inside one play
    anchors: list[float] = field(default_factory=list)
    # the alignment of the piece heard nearest the play's end: the one the end is placed
    # with when a repeated section fits several equally well
    end_anchor_s: float | None = None
    # where the chunks heard the song (first and last vote of the play's pieces), in file
    # seconds: the evidence a boundary refinement may not move far from
    heard_s: tuple[float, float] | None = None
    pieces: int = 1  # the chunk matches a merged play is made of

    @property
    def anchor_s(self) -> float:
        """Where the song's t=0 lies in the file: equal for chunks of one continuous play."""
        return self.file_start_s - self.song_start_s / self.speed


# a song heard for less than this is a passage it shares with what plays (a sample, a reused
# recording inside another track), not a track played; the chunks still list it
MIN_PLAY_S = 8.0
# a song heard over at least this much of one chunk may be a play whose other chunks noise
# hid: the long-file scanner keeps it until its boundaries, placed on the song's own audio,
# say how long it played (MIN_PLAY_S is then applied to that length)
MIN_HEARD_S = CHUNK_S / 2

ANCHOR_TOL_S = 2.0  # two pieces whose song t=0 lies this close in the file: one alignment
DROPOUT_S = 2 * CHUNK_S + 1.0  # a play whose alignment holds may go unheard this long...
JUMP_GAP_S = CHUNK_S + 1.0  # ...one whose song position jumps (a repeated section), this long
RESTART_S = 3.0  # slack for a restart: the song ran out this soon after the next piece begins
RESTART_EDGE_S = 0.5  # a piece this close after the song ran out follows its end


def _restarts(last: ChunkMatch, cm: ChunkMatch, duration: float | None) -> bool:
    """``cm`` is the song started over after the play whose last chunk match is ``last``:
    its song position went back, and the play's own alignment ran out of song before ``cm``
    (a song has nothing past its end; ``cm``'s position itself may be a repeated section's
    other occurrence). Without the duration: the song's beginning lies in the gap."""
    if cm.anchor_s - last.anchor_s <= RESTART_S:
        return False
    if duration is None or not math.isfinite(duration):
        gap = max(0.0, cm.file_start_s - last.file_end_s)
        return cm.song_start_s / cm.speed - gap < RESTART_S
    runs_out = last.anchor_s + duration / last.speed  # file time the play's song ends
    if runs_out > cm.file_start_s + RESTART_S:
        return False
    # within the slack (a restart crossfaded into the song's own end), the new piece must
    # put the song's start after that end: a section repeated near the end puts it
    # earlier, a restart matched at its opening's repeat comes after the end anyway
    return runs_out <= cm.file_start_s + RESTART_EDGE_S or cm.anchor_s >= runs_out - RESTART_S


def continues(
    pieces: list[ChunkMatch],
    cm: ChunkMatch,
    duration: float | None = None,
    *,
    quiet_gap: bool = False,
) -> bool:
    """The merge rule: chunk match ``cm`` (same song, starting no earlier than the play's
    last piece) belongs to the play made of ``pieces``.

    A play is a stretch where one song's alignment holds: ``cm`` continues it when its song
    t=0 lies where one of the play's pieces puts it (``ANCHOR_TOL_S``) and the song went
    unheard at most ``DROPOUT_S`` (chunks lost in noise, a quiet passage). Songs repeat
    sections (choruses, loops, a DJ's loop) and a repeat may be matched at the other
    occurrence, which moves the alignment: a piece that follows within ``JUMP_GAP_S`` still
    continues the play, unless it is the song starting over after its end
    (:func:`_restarts`); within ``DROPOUT_S`` when no other song was heard in between
    (``quiet_gap``: the chunks there heard nothing, a repeat in a passage noise hid)."""
    last = max(pieces, key=lambda c: c.file_end_s)
    gap = cm.file_start_s - last.file_end_s
    if any(abs(cm.anchor_s - c.anchor_s) <= ANCHOR_TOL_S for c in pieces):
        return gap <= DROPOUT_S
    return gap <= (DROPOUT_S if quiet_gap else JUMP_GAP_S) and not _restarts(last, cm, duration)


def merge_chunks(
    matches: list[ChunkMatch],
    *,
    durations: dict[str, float] | None = None,
    min_heard_s: float = MIN_PLAY_S,
) -> list[ChunkMatch]:
    """One entry per track played (the merge rule is :func:`continues`; ``durations``:
    asset id -> song length, for telling a restart from a repeat). Plays of different songs
    over the same stretch are folded into one (:func:`_fold_shared_passages`); a play the
    chunks heard for less than ``min_heard_s`` seconds is dropped."""
    plays: list[ChunkMatch] = []
    open_: dict[str, ChunkMatch] = {}
    pieces: dict[int, list[ChunkMatch]] = {}  # play -> the chunk matches it is made of

    def quiet(a_s: float, b_s: float, aid: str) -> bool:
        """No other song was heard between ``a_s`` and ``b_s``."""
        return not any(
            m.asset_id != aid and m.file_start_s < b_s and m.file_end_s > a_s for m in matches
        )

    for cm in sorted(matches, key=lambda x: (x.file_start_s, -x.score)):
        p = open_.get(cm.asset_id)
        if p is not None and continues(
            pieces[id(p)],
            cm,
            (durations or {}).get(cm.asset_id),
            quiet_gap=quiet(p.file_end_s, cm.file_start_s, cm.asset_id),
        ):
            p.file_end_s = max(p.file_end_s, cm.file_end_s)
            p.score = max(p.score, cm.score)
            pieces[id(p)].append(cm)
            continue
        play = replace(cm, also=[])
        plays.append(play)
        pieces[id(play)] = [cm]
        open_[cm.asset_id] = play
    for p in plays:
        _majority_alignment(p, pieces[id(p)])
        p.anchors = sorted({round(c.anchor_s, 2) for c in pieces[id(p)]})
        p.end_anchor_s = round(max(pieces[id(p)], key=lambda c: c.file_end_s).anchor_s, 2)
        p.heard_s = (p.file_start_s, p.file_end_s)
        p.pieces = len(pieces[id(p)])
    # a short passage inside another song's play is listed in its also_matches first
    plays = _fold_shared_passages(plays)
    plays = [p for p in plays if p.file_end_s - p.file_start_s >= min_heard_s]
    plays.sort(key=lambda x: x.file_start_s)
    return plays


CROSSFADE_MAX_S = 12.0  # two plays overlapping at most this much are a crossfade


def split_crossfades(plays: list[ChunkMatch]) -> None:
    """Where one play fades into the next, both songs are heard at once; the boundary is the
    middle of the stretch where both are heard (the crossfade's midpoint), so consecutive
    plays touch instead of overlapping. ``plays`` is sorted by start; changed in place."""
    for a, b in zip(plays, plays[1:], strict=False):
        overlap = a.file_end_s - b.file_start_s
        if a.asset_id == b.asset_id or overlap <= 0 or overlap > CROSSFADE_MAX_S:
            continue
        mid = b.file_start_s + overlap / 2
        a.file_end_s = mid
        b.song_start_s += (mid - b.file_start_s) * b.speed
        b.file_start_s = mid


SHARED_OVERLAP = 0.7  # a play this much inside another song's (longer) play shares its audio


def _overlap_s(a: ChunkMatch, b: ChunkMatch) -> float:
    return max(0.0, min(a.file_end_s, b.file_end_s) - max(a.file_start_s, b.file_start_s))


SAME_EDGE_S = 2.0  # two songs heard from and to the same second (to this much)...
SAME_SCORE = 0.1  # ...with scores this close are one recording over the play


def ingest_order(asset_id: str) -> tuple[int, int, str]:
    """Sort key: earliest ingested first (asset ids are increasing row ids; others after,
    by name)."""
    if asset_id.isascii() and asset_id.isdigit():
        return (0, int(asset_id), "")
    return (1, 0, asset_id)


def same_recording(a: ChunkMatch, b: ChunkMatch) -> bool:
    """``a`` and ``b`` (plays of two songs) are one recording over the play: their songs
    are heard from and to the same second (``SAME_EDGE_S``) at scores within
    ``SAME_SCORE``: the audio cannot tell them apart (game packages ship one recording
    under two names)."""
    return (
        a.asset_id != b.asset_id
        and abs(a.file_start_s - b.file_start_s) <= SAME_EDGE_S
        and abs(a.file_end_s - b.file_end_s) <= SAME_EDGE_S
        and abs(a.score - b.score) <= SAME_SCORE
    )


def _fold_order(plays: list[ChunkMatch]) -> list[ChunkMatch]:
    """Plays in the order they claim the file: the song whose alignment holds over the
    longest stretch first, then the higher score; among songs that are one recording over
    the play (:func:`same_recording`), which the audio cannot rank, the earliest ingested
    first (a deterministic tie rule: the same song is reported every time)."""
    order = sorted(plays, key=lambda p: (-(p.file_end_s - p.file_start_s), -p.score))
    out: list[ChunkMatch] = []
    for p in order:
        if p in out:
            continue
        ties = [q for q in order if q is p or (q not in out and same_recording(p, q))]
        out += sorted(ties, key=lambda q: ingest_order(q.asset_id))
    return out


def _fold_shared_passages(plays: list[ChunkMatch]) -> list[ChunkMatch]:
    """One play per stretch of the file: when several catalog songs contain the passage
    being played, the song whose alignment holds over the longest stretch (then the higher
    score; :func:`_fold_order`) is the play; the others go to its ``also`` list. A song
    that overlaps another only at its edge (a crossfade) stays a play of its own."""
    kept: list[ChunkMatch] = []
    for p in _fold_order(plays):
        host = next(
            (
                q
                for q in kept
                if q.asset_id != p.asset_id
                and (
                    _overlap_s(p, q) >= SHARED_OVERLAP * (p.file_end_s - p.file_start_s)
                    or _shadowed(p, [q])
                )
            ),
            None,
        )
        if host is None:
            kept.append(p)
        else:
            for aid in (p.asset_id, *p.also):
                if aid != host.asset_id and aid not in host.also:
                    host.also.append(aid)
    return kept


SHADOW_MAX_S = CHUNK_S  # a piece shorter than this...
SHADOW_HOST_S = 3 * CHUNK_S  # ...inside a play at least this long of another song...
SHADOW_EDGE_S = 1.0  # ...(to this much) is a passage the two songs share, not a play


def _shadowed(p: ChunkMatch, plays: list[ChunkMatch]) -> bool:
    """A few seconds of another song heard in the middle of a long play: songs share
    passages (a drum loop, a sample), and the chunks report them, but the song was not
    played. A piece that reaches past the play's ends (a crossfade) is kept."""
    if p.file_end_s - p.file_start_s >= SHADOW_MAX_S:
        return False
    return any(
        q.asset_id != p.asset_id
        and q.file_end_s - q.file_start_s >= SHADOW_HOST_S
        and q.file_start_s - SHADOW_EDGE_S <= p.file_start_s
        and p.file_end_s <= q.file_end_s + SHADOW_EDGE_S
        for q in plays
    )


def _majority_alignment(play: ChunkMatch, pieces: list[ChunkMatch]) -> None:
    """The play's speed and pitch, and the song's position at its start, from what most of
    the play agrees with (by seconds heard): a repeated section matched at its other
    occurrence, or a first piece of a few seconds matched at the next speed step, even the
    play's first one, does not decide where in the song the play began or how fast it
    plays."""
    rates: dict[tuple[float, float], float] = {}  # (speed, shift) -> seconds
    for c in pieces:
        key = (c.speed, c.shift_bands)
        rates[key] = rates.get(key, 0.0) + c.file_end_s - c.file_start_s
    speed, shift = max(rates, key=lambda k: rates[k])  # ties: the first piece's
    if (speed, shift) != (play.speed, play.shift_bands):
        anchor = next(c.anchor_s for c in pieces if (c.speed, c.shift_bands) == (speed, shift))
        play.speed, play.shift_bands = speed, shift
        play.song_start_s = max(0.0, (play.file_start_s - anchor) * speed)
    if len({round(c.anchor_s) for c in pieces}) <= 1:
        return
    support: list[tuple[float, float]] = []  # (anchor, seconds)
    for c in pieces:
        heard = c.file_end_s - c.file_start_s
        for i, (a, w) in enumerate(support):
            if abs(a - c.anchor_s) <= 2.0:
                support[i] = (a, w + heard)
                break
        else:
            support.append((c.anchor_s, heard))
    best = max(support, key=lambda x: x[1])[0]
    if abs(best - play.anchor_s) > 2.0:
        play.song_start_s = max(0.0, (play.file_start_s - best) * play.speed)


def _assign_windows(
    by_chunk: dict[int, tuple[list[Any], float]],
    windows: Iterable[Any],
    seg_start_s: float,
    sf: float,
    keep: Callable[[int], bool] = lambda k: True,
    tail: bool = True,
) -> None:
    """File the windows of a scan that began at ``seg_start_s`` under their chunks: chunk k
    -> (matches, file time where their query starts). A window that is not on the 12 s grid
    (one flush with the end of the file, ``tail``) serves the last, partial chunk."""
    for w in sorted(windows, key=lambda w: w.start_s):
        start = seg_start_s + w.start_s
        k_f = (start - sf) / CHUNK_S
        if abs(k_f - round(k_f)) < 1e-3:
            if keep(int(round(k_f))):
                by_chunk[int(round(k_f))] = (w.matches, start)
        elif tail:
            k_last = int((seg_start_s + w.end_s - sf - 1e-6) // CHUNK_S)
            by_chunk.setdefault(k_last, (w.matches, start))


def _n_selected_before(k: int, opts: ScanOptions) -> int:
    period = opts.every + opts.skip
    return (k // period) * opts.every + min(k % period, opts.every)


def _is_selected(k: int, opts: ScanOptions) -> bool:
    if k % (opts.every + opts.skip) >= opts.every:
        return False
    return opts.limit is None or _n_selected_before(k, opts) < opts.limit


def _last_selected(opts: ScanOptions) -> int | None:
    """The last chunk ``limit`` lets through (None: no limit)."""
    if opts.limit is None:
        return None
    full, rest = divmod(opts.limit - 1, opts.every)
    return full * (opts.every + opts.skip) + rest


CSV_COLUMNS = (
    "offset",
    "score",
    "artist",
    "title",
    "album",
    "release_date",
    "label",
    "timecode",
    "isrc",
    "upc",
    "song_link",
    "audio_id",
    "start_offset",
    "end_offset",
)


def to_csv(body: dict[str, Any]) -> str:
    """``response_type=csv``: one row per song per chunk."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for chunk in body.get("result") or []:
        for s in chunk["songs"]:
            row = {**s, "offset": chunk["offset"]}
            w.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return buf.getvalue()


AUDIO_ERROR_CODES = {
    "too_large": 400,
    "too_long": 400,
    "empty": 700,
    "bad_url": 600,
}


def audio_error_code(e: AudioError) -> int:
    return AUDIO_ERROR_CODES.get(e.reason, 500)


def parse_failure(reason: str | None) -> tuple[int, str]:
    """(AudD code, message) from a failed job's reason."""
    m = re.match(r"#(\d+): (.*)", reason or "", re.S)
    if m:
        return int(m.group(1)), m.group(2)
    return 100, reason or "the scan failed"
