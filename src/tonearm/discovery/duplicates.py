"""Duplicates: the same recording (re-encoded, trimmed, resampled, level-changed, slightly
sped up), never a different take, a similar sound or another song of the same album.

- SFX: a pair is a duplicate when its embedding cosine passes :data:`SFX_PREFILTER` (a
  cheap candidate filter every measured copy passes), the two log-mel pictures line up
  over most of their length (:func:`~tonearm.core.embeddings.alignment.align_best` >=
  :data:`SFX_ALIGN_MIN`), AND the waveforms themselves line up at that speed
  (:func:`~tonearm.core.embeddings.alignment.wave_score` >= :data:`SFX_WAVE_MIN`, at
  2 kHz, or at 8 kHz over the first second where 2 kHz falls short: :func:`sfx_wave`): two
  takes of a footstep or two runs of an engine have the same picture but not the same
  samples. The numbers are measured by ``bench/real_discovery.py --parts sfx-dup``.
- Music: the audio fingerprint (``tonearm.recognition``): excerpts spread over each
  recording must be recognized in the other at one consistent alignment, both ways
  (:func:`music_pair_matches`). A timbre embedding cannot tell two songs of one album apart.
  A short trimmed remnant cannot hold most of the longer recording's excerpts, so one way
  also suffices when every excerpt of the shorter is found in the longer at one alignment
  and the longer holds at most :data:`MUSIC_TRIM_MAX_S` of audio beyond it
  (:func:`music_trimmed_copy`): a jingle reused inside a longer song still is no duplicate.
- Groups (:func:`complete_linkage`): every two members of a group are duplicates of each
  other, so a chain a~b~c never joins a and c when they are not duplicates themselves
  (single-linkage union-find did: footsteps ended up with door knocks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tonearm.core.audio.signal import Signal

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.recognition.fingerprint import Peaks
    from tonearm.recognition.index import FingerprintIndex

log = logging.getLogger("tonearm.discovery")

SFX_PREFILTER = 0.75  # cosine of aisfx vectors (v2-max); the lowest copy measured: 0.80
SFX_ALIGN_MIN = 0.75  # align_score (log-mel pictures): a cheap second filter
SFX_WAVE_MIN = 0.85  # wave_score (the waveforms line up): the decision

# music: excerpts at these fractions of a recording, each MUSIC_EXCERPT_S long
MUSIC_EXCERPT_AT = (0.2, 0.5, 0.8)
MUSIC_EXCERPT_S = 10.0
MUSIC_MIN_EXCERPTS = 2  # of 3 found in the other recording
MUSIC_MIN_SCORE = 0.5  # recognition's calibrated score of each excerpt match
MUSIC_OFFSET_TOL_S = 4.0  # the excerpts' matches must agree on one alignment (and speed)
# one way is enough when the longer recording holds at most this much audio (seconds, in
# total) beyond the shorter one found wholly inside it: a trimmed copy
MUSIC_TRIM_MAX_S = 10.0
# a track that loops (the same bars repeated note for note) matches an excerpt equally well
# at every repeat, and the vote keeps one per asset: other offsets of an identity match that
# gather this share of its votes are kept too, when the match is this sure (the same audio)
MUSIC_REPEAT_SHARE = 0.9
MUSIC_REPEAT_MIN_SCORE = 0.9
# ... and when its best offset holds this share of the excerpt's query anchor frames: copies
# measured .79-1.0 (MP3 included), two songs over one loop with a melody at -2 dB .59
MUSIC_REPEAT_MIN_COVERAGE = 0.75


# -- grouping ---------------------------------------------------------------------------------
def complete_linkage(n: int, edges: Iterable[tuple[float, int, int]]) -> list[list[int]]:
    """Groups of items in which every two members are joined by an edge.

    Parameters
    ----------
    n : int
        Number of items (0..n-1).
    edges : iterable of (score, i, j)
        The duplicate pairs; merged best score first. Two groups merge only when every
        cross pair is an edge (complete linkage at the duplicate threshold), so chains of
        look-alikes never join unrelated items.

    Returns
    -------
    list of groups (sorted member lists) with at least two members, largest first.
    """
    adj: list[set[int]] = [set() for _ in range(n)]
    ordered = sorted(edges, key=lambda e: -e[0])
    for _, i, j in ordered:
        if i != j:
            adj[i].add(j)
            adj[j].add(i)
    group = list(range(n))
    members: dict[int, set[int]] = {i: {i} for i in range(n)}
    for _, i, j in ordered:
        gi, gj = group[i], group[j]
        if gi == gj:
            continue
        a, b = members[gi], members[gj]
        if all(b <= (adj[x] | {x}) for x in a):
            if len(a) < len(b):
                gi, gj, a, b = gj, gi, b, a
            a |= b
            for x in b:
                group[x] = gi
            del members[gj]
    out = [sorted(m) for m in members.values() if len(m) > 1]
    out.sort(key=lambda g: (-len(g), g[0]))
    return out


# -- SFX ----------------------------------------------------------------------------------------
def sfx_is_duplicate(cosine: float, align: float, wave: float) -> bool:
    """The SFX rule on one pair's embedding cosine, picture alignment and waveform scores."""
    return cosine >= SFX_PREFILTER and align >= SFX_ALIGN_MIN and wave >= SFX_WAVE_MIN


def sfx_wave(
    lo: tuple[np.ndarray, np.ndarray],
    hi: Callable[[], tuple[np.ndarray, np.ndarray]],
    speed: float,
) -> float:
    """The waveform score of a pair: its 2 kHz prints (``lo``), and when those fall short
    of :data:`SFX_WAVE_MIN`, the better of that and its 8 kHz prints (``hi()``, computed
    only then): copies of high-pitched clicks only line up in the upper band."""
    from tonearm.core.embeddings.alignment import wave_score

    wv = wave_score(lo[0], lo[1], speed)
    if wv < SFX_WAVE_MIN:
        ha, hb = hi()
        wv = max(wv, wave_score(ha, hb, speed))
    return wv


# -- music --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExcerptHit:
    asset_id: str
    excerpt_start_s: float  # where the excerpt starts in the querying recording
    offset_s: float  # where it was found in the other recording
    speed: float
    score: float


def excerpt_hits(ix: FingerprintIndex, signal: Signal, *, top_k: int = 8) -> list[list[ExcerptHit]]:
    """Recognition results of the :data:`MUSIC_EXCERPT_AT` excerpts of one recording (one
    list per distinct excerpt: a recording no longer than :data:`MUSIC_EXCERPT_S` has one).

    Every tempo/pitch hypothesis of the engine is voted on: ``service.match_peaks`` stops
    at the identity hypothesis when one asset matches strongly, and here the recording
    itself (or an identical copy) always does, which would hide its sped-up copies.
    """
    from tonearm.recognition import service
    from tonearm.recognition.match import HYPOTHESES, vote

    out: list[list[ExcerptHit]] = []
    d = signal.duration_s
    taken: set[float] = set()
    for frac in MUSIC_EXCERPT_AT:
        start = max(0.0, min(d - MUSIC_EXCERPT_S, frac * d - MUSIC_EXCERPT_S / 2))
        if round(start, 3) in taken:
            # a recording shorter than one excerpt: its excerpts are all the whole of it,
            # counted once (else the whole recording found scores 1 of 3)
            continue
        taken.add(round(start, 3))
        ex = signal.slice_s(start, min(d, start + MUSIC_EXCERPT_S))
        peaks = service.query_peaks(ex)
        if len(ix) == 0 or len(peaks.t) < 2:
            out.append([])
            continue
        q_span = int(peaks.t.max() - peaks.t.min())
        cands, _, _ = vote(ix, peaks, list(range(len(HYPOTHESES))), max_candidates=top_k)
        hits = []
        sure: dict[int, ExcerptHit] = {}  # asset number -> its sure identity-speed hit
        for c in cands:
            m = service._to_match(ix, c, q_span)
            if m is not None:
                hit = ExcerptHit(m.asset_id, start, m.offset_s, m.speed, m.score)
                hits.append(hit)
                if abs(hit.speed - 1.0) < 1e-9 and hit.score >= MUSIC_REPEAT_MIN_SCORE:
                    sure[c.asset_idx] = hit
        if sure:
            hits += repeat_hits(ix, peaks, start, sure)
        out.append(hits)
    return out


def repeat_hits(
    ix: FingerprintIndex, peaks: Peaks, start_s: float, best: dict[int, ExcerptHit]
) -> list[ExcerptHit]:
    """More offsets of an excerpt in assets it already matches at identity speed: each
    offset whose votes (distinct query anchor frames, +-1 frame) reach
    :data:`MUSIC_REPEAT_SHARE` of that asset's best offset, at least
    :data:`MUSIC_OFFSET_TOL_S` away from a stronger one, when the best offset holds
    :data:`MUSIC_REPEAT_MIN_COVERAGE` of the excerpt's anchor frames. A looping track
    holds its excerpts at every repeat, and which repeat the vote keeps is arbitrary.

    ``best``: asset number in ``ix`` -> its identity-speed hit (:func:`excerpt_hits`)."""
    from tonearm.recognition import fingerprint as fp

    h, tq = fp.pair_hashes(peaks, fan_out=fp.QUERY_FAN_OUT)
    if len(h) == 0:
        return []
    owner, asset, frame = ix.lookup(h)
    out: list[ExcerptHit] = []
    sep = int(MUSIC_OFFSET_TOL_S * fp.FPS)
    for k in sorted(best):
        aid = best[k].asset_id
        sel = asset == k
        if not sel.any():
            continue
        delta = frame[sel].astype(np.int64) - tq[owner[sel]].astype(np.int64)
        anchor = tq[owner[sel]].astype(np.int64)
        # one vote per distinct (offset, query anchor frame)
        pairs = np.unique(delta * (1 << 32) + anchor)
        d = pairs >> 32
        lo = int(d.min())
        votes = np.bincount(d - lo)
        votes = votes + np.r_[0, votes[:-1]] + np.r_[votes[1:], 0]  # +-1 frame of jitter
        top = int(votes.max())
        if top < MUSIC_REPEAT_MIN_COVERAGE * len(np.unique(tq)):
            continue  # not the same audio throughout: a shared loop under other parts
        taken = [int(round(best[k].offset_s * fp.FPS)) - lo]
        for x in np.argsort(-votes, kind="stable"):
            if votes[x] < MUSIC_REPEAT_SHARE * top:
                break
            if all(abs(int(x) - t) > sep for t in taken):
                taken.append(int(x))
                out.append(ExcerptHit(aid, start_s, (int(x) + lo) / fp.FPS, 1.0,
                                      best[k].score * float(votes[x]) / top))  # fmt: skip
    return out


def music_alignment(hits: list[list[ExcerptHit]], other: str) -> tuple[float, float, float]:
    """(share, start_s, speed): the share of the excerpts found in ``other`` at one
    consistent alignment (0..1), where the querying recording starts inside ``other`` at
    that alignment (seconds) and its speed there.

    Consistent: ``offset - excerpt_start * speed`` (where the recording starts inside the
    other one) agrees within :data:`MUSIC_OFFSET_TOL_S` across the excerpts counted.
    """
    found = [h for per in hits for h in per if h.asset_id == other and h.score >= MUSIC_MIN_SCORE]
    if not found or not hits:
        return 0.0, 0.0, 1.0
    # where the querying recording starts inside the other one; ``speed`` is the query's
    # tempo vs the other (1.02: the query plays 2 % faster, so its second t is the other's
    # second 1.02 t)
    starts = np.array([h.offset_s - h.excerpt_start_s * h.speed for h in found])
    best = (0.0, 0.0, 1.0)
    for s in starts:
        agree = [h for h, x in zip(found, starts, strict=True) if abs(x - s) <= MUSIC_OFFSET_TOL_S]
        n = len({h.excerpt_start_s for h in agree})
        # a match at another tempo is weaker evidence (two songs built on one drum loop
        # line up at their tempo ratio): it must hold for every excerpt
        if any(abs(h.speed - 1.0) > 1e-3 for h in agree) and n < len(hits):
            n = min(n, MUSIC_MIN_EXCERPTS - 1)
        if n / len(hits) > best[0]:
            best = (n / len(hits), float(s), float(np.median([h.speed for h in agree])))
    return best


def music_pair_matches(hits: list[list[ExcerptHit]], other: str) -> float:
    """Share of the excerpts found in ``other`` at one consistent alignment (0..1), see
    :func:`music_alignment`."""
    return music_alignment(hits, other)[0]


def music_trimmed_copy(
    hits: list[list[ExcerptHit]], other: str, duration_s: float, other_duration_s: float
) -> bool:
    """Whether the querying recording (``hits``, ``duration_s`` long) is a trimmed copy of
    the longer ``other``: every one of its excerpts found there at one alignment, its
    whole span inside ``other``, and ``other`` no more than :data:`MUSIC_TRIM_MAX_S`
    longer than that span. A jingle found inside a song, with the rest of the song
    around it, fails the last condition."""
    share, start, speed = music_alignment(hits, other)
    if share < 1.0 - 1e-9:
        return False
    # the query's span inside the other recording, in the other's seconds
    end = start + duration_s * speed
    tol = MUSIC_OFFSET_TOL_S
    if start < -tol or end > other_duration_s + tol:
        return False
    return other_duration_s - duration_s * speed <= MUSIC_TRIM_MAX_S


def music_is_duplicate(share_ab: float, share_ba: float) -> bool:
    """Both recordings found in each other over most of their length."""
    need = MUSIC_MIN_EXCERPTS / len(MUSIC_EXCERPT_AT)
    return share_ab >= need - 1e-9 and share_ba >= need - 1e-9


def music_pair_is_duplicate(
    hits_a: list[list[ExcerptHit]],
    hits_b: list[list[ExcerptHit]],
    a: str,
    b: str,
    durations_s: tuple[float, float] | None = None,
) -> tuple[bool, float]:
    """(duplicate, score) of recordings ``a`` and ``b`` from their excerpt hits: found in
    each other both ways (:func:`music_is_duplicate`), or, with their ``durations_s``
    known, the shorter a trimmed copy of the longer (:func:`music_trimmed_copy`). The
    score is the smaller share of the two ways (the shorter's share for a trimmed copy)."""
    ab = music_pair_matches(hits_a, b)
    ba = music_pair_matches(hits_b, a)
    if music_is_duplicate(ab, ba):
        return True, min(ab, ba)
    if durations_s is not None:
        da, db = durations_s
        if da <= db and music_trimmed_copy(hits_a, b, da, db):
            return True, ab
        if db < da and music_trimmed_copy(hits_b, a, db, da):
            return True, ba
    return False, min(ab, ba)


def music_duplicate_edges(
    ids: list[str],
    hits: Callable[[str], list[list[ExcerptHit]]],
    duration_s: Callable[[str], float] | None = None,
) -> list[tuple[float, int, int]]:
    """(score, i, j) of every duplicate pair among ``ids``, from each one's excerpt hits
    (and, when given, its duration: trimmed copies, :func:`music_pair_is_duplicate`)."""
    pos = {a: i for i, a in enumerate(ids)}
    cache = {a: hits(a) for a in ids}
    pairs: set[tuple[int, int]] = set()
    for a in ids:
        for per in cache[a]:
            for h in per:
                if h.asset_id != a and h.asset_id in pos:
                    i, j = pos[a], pos[h.asset_id]
                    pairs.add((min(i, j), max(i, j)))
    edges = []
    for i, j in sorted(pairs):
        a, b = ids[i], ids[j]
        durs = None if duration_s is None else (duration_s(a), duration_s(b))
        dup, score = music_pair_is_duplicate(cache[a], cache[b], a, b, durs)
        if dup:
            edges.append((score, i, j))
    return edges


# -- service ------------------------------------------------------------------------------------
def _load(catalog: Catalog, asset_id: str) -> Signal | None:
    from tonearm.catalog.ingest import asset_path
    from tonearm.core.audio.decode import decode

    a = catalog.store.get_asset(asset_id)
    if a is None:
        return None
    path = asset_path(catalog, a)
    if not path.exists():
        return None
    s = catalog.settings
    try:
        return decode(path, max_duration_s=s.max_duration_s, timeout_s=s.decode_timeout_s)
    except Exception as e:  # unreadable file: not a duplicate of anything
        log.warning("duplicates: cannot decode %s: %s", asset_id, e)
        return None


def _align_prints(catalog: Catalog) -> dict[str, np.ndarray]:
    store: dict[str, np.ndarray] = catalog.cache.setdefault("align_prints", {})
    return store


def align_print_of(catalog: Catalog, asset_id: str) -> np.ndarray:
    """The asset's :func:`align_print` (computed from its file once per process)."""
    from tonearm.core.embeddings.alignment import N_MELS, align_print

    cache = _align_prints(catalog)
    if asset_id not in cache:
        s = _load(catalog, asset_id)
        cache[asset_id] = align_print(s) if s is not None else np.zeros((0, N_MELS), np.float32)
    return cache[asset_id]


def wave_print_of(catalog: Catalog, asset_id: str, *, hi: bool = False) -> np.ndarray:
    """The asset's :func:`wave_print` (``hi``: :func:`wave_print_hi`), computed from its
    file once per process."""
    from tonearm.core.embeddings.alignment import wave_print, wave_print_hi

    cache: dict[str, np.ndarray] = catalog.cache.setdefault(
        "wave_prints_hi" if hi else "wave_prints", {}
    )
    if asset_id not in cache:
        s = _load(catalog, asset_id)
        fn = wave_print_hi if hi else wave_print
        cache[asset_id] = fn(s) if s is not None else np.zeros(0, np.float32)
    return cache[asset_id]


def sfx_pair(catalog: Catalog, a: str, b: str, cosine: float) -> tuple[bool, float]:
    """(is duplicate, waveform score) of two SFX assets with embedding ``cosine``."""
    from tonearm.core.embeddings.alignment import align_best

    if cosine < SFX_PREFILTER:
        return False, 0.0
    al, speed = align_best(align_print_of(catalog, a), align_print_of(catalog, b))
    if al < SFX_ALIGN_MIN:
        return False, 0.0
    wv = sfx_wave(
        (wave_print_of(catalog, a), wave_print_of(catalog, b)),
        lambda: (wave_print_of(catalog, a, hi=True), wave_print_of(catalog, b, hi=True)),
        speed,
    )
    return sfx_is_duplicate(cosine, al, wv), wv


def music_hits_of(catalog: Catalog, asset_id: str) -> list[list[ExcerptHit]]:
    """Excerpt hits of one music asset in the catalog's fingerprint index (cached)."""
    from tonearm.recognition import service

    cache: dict[str, list[list[ExcerptHit]]] = catalog.cache.setdefault("dup_music_hits", {})
    durs: dict[str, float] = catalog.cache.setdefault("dup_music_duration_s", {})
    if asset_id not in cache:
        s = _load(catalog, asset_id)
        cache[asset_id] = excerpt_hits(service.get_index(catalog), s) if s is not None else []
        durs[asset_id] = s.duration_s if s is not None else 0.0
    return cache[asset_id]


def music_duration_of(catalog: Catalog, asset_id: str) -> float:
    """The decoded duration of a music asset (seconds), cached with its excerpt hits."""
    music_hits_of(catalog, asset_id)
    durs: dict[str, float] = catalog.cache["dup_music_duration_s"]
    return durs.get(asset_id, 0.0)


def music_pair(catalog: Catalog, a: str, b: str) -> bool:
    """Whether two music assets are the same recording (fingerprint: both ways, or the
    shorter a trimmed copy of the longer)."""
    return music_pair_is_duplicate(
        music_hits_of(catalog, a),
        music_hits_of(catalog, b),
        a,
        b,
        (music_duration_of(catalog, a), music_duration_of(catalog, b)),
    )[0]


def duplicate_groups(
    catalog: Catalog, kind: str = "sfx", k: int = 20, threshold: float | None = None
) -> list[list[tuple[str, float]]]:
    """Groups of duplicates of ``kind``, largest first; each a list of (asset_id, best
    score to another member): the alignment score for SFX, the share of excerpts found
    for music. ``threshold``: pairs whose embedding score is >= it instead (any kind)."""
    from tonearm.discovery.index import get_index

    if kind == "music" and threshold is None:
        from tonearm.recognition import service

        ids = [a for a in service.get_index(catalog).asset_ids if a is not None]
        ids = [a for a in ids if (x := catalog.store.get_asset(a)) is not None and x.kind == kind]
        edges = music_duplicate_edges(
            ids, lambda a: music_hits_of(catalog, a), lambda a: music_duration_of(catalog, a)
        )
    else:
        idx = get_index(catalog)
        ids, edges = [], []
        for (pkind, model_id), part in list(idx.parts.items()):
            if pkind != kind or not part.rows:
                continue
            keys, m = part.packed()
            base = len(ids)
            ids += [str(x) for x in keys.tolist()]
            pos = {str(x): base + r for r, x in enumerate(keys.tolist())}
            for row, key in enumerate(keys.tolist()):
                res = idx.search(kind, model_id, m[row], limit=k, exclude=str(key))
                for h in res.hits:
                    if h.score < (SFX_PREFILTER if threshold is None else threshold):
                        break
                    if h.asset_id not in pos or pos[h.asset_id] < base + row:
                        continue  # each pair once
                    if threshold is not None:
                        edges.append((h.score, base + row, pos[h.asset_id]))
                        continue
                    dup, al = sfx_pair(catalog, str(key), h.asset_id, h.score)
                    if dup:
                        edges.append((al, base + row, pos[h.asset_id]))
    best: dict[int, float] = {}
    for s, i, j in edges:
        best[i] = max(best.get(i, 0.0), s)
        best[j] = max(best.get(j, 0.0), s)
    groups = complete_linkage(len(ids), edges)
    return [[(ids[x], round(best.get(x, 0.0), 4)) for x in g] for g in groups]
