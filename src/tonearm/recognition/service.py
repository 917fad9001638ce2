"""Recognition service: identify excerpts, maintain the fingerprint index.

Public interface used by the AudD API, streams, the long-file scanner and the CLI::

    recognize(catalog, signal, top_k=1) -> list[Match]      # [] when nothing matches
    scan_windows(catalog, signal, ...) -> list[WindowResult]  # per-window raw results

Every track played in a long file (one entry per play) comes from ONE scanner,
:mod:`tonearm.recognition.enterprise` (``scan_path`` / ``scan_file``), behind AudD's
``/enterprise/``, ``tonearm scan`` and the Python API alike.
    index_asset(catalog, asset_id, blob) / remove_asset(catalog, asset_id)
    get_index(catalog) / rebuild_index(catalog)
"""

from __future__ import annotations

import fcntl
import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from tonearm.catalog.context import Catalog
from tonearm.core.audio.signal import Signal
from tonearm.recognition import fingerprint as fp
from tonearm.recognition import triplets as tp
from tonearm.recognition.index import FingerprintIndex
from tonearm.recognition.match import HYPOTHESES, Candidate, vote, vote_assets
from tonearm.storage.base import ALL_TENANTS

ANALYSIS_NAME = fp.ANALYSIS_NAME
CACHE_KEY = "fingerprint_index"
_load_lock = threading.Lock()

# Calibration (bench/recognition.py, held-out real songs): the evidence is
#   strength = (votes - background) / sqrt(1 + background)
# where background is the chance votes expected in the winning cell (the asset's hits
# spread over its length, leaving out cells where the passage repeats): long, dense songs
# collect more chance votes. The score is a logistic in strength, 0.5 at the no-match
# threshold, and MIN_SCORE is that threshold.
# SCORE_MID = 12, chosen on the 416 tuning excerpts of the 1,000-song run (<= 0.5 % false
# matches, every 10 s degradation >= 94 % top-1) and confirmed by the bench on fresh
# excerpts never used for tuning (the bench's "no_match_threshold"). The previous rule,
# votes / (1 + background) >= 10, let 3.5 % of fresh held-out excerpts match (mostly
# arrangements of catalog songs) although it gave 0.7 % on the excerpts it was tuned on.
SCORE_MID = 12.0
SCORE_SCALE = 0.75
MIN_SCORE = 0.5
# Verification of marginal matches. A recording that is in the catalog lines up over the
# whole excerpt, so its consistent votes spread over most of the query: over >= 45 % of
# the query's span in every correct match with strength < 24 in the 1,000-song bench
# (10 s and 5 s queries, all degradations; >= 59 % for 90 % of them). Two held-out songs
# (colobot music009, Hv2) reuse 2-3 s stretches of a catalog recording (music007,
# Humanitarian; the waveforms line up there, r 0.4-0.9 in 1 s windows, and nowhere else
# in the excerpt): their excerpts got strength 13-19 from votes packed into 11-30 % of
# the query. We identify the song being played, not a short borrowed passage, so a
# match below STRONG_EVIDENCE whose votes cover less than MIN_SPREAD of the query is not
# reported (its strength is capped under SCORE_MID); stronger evidence is trusted as is
# (a long-file window that overlaps the end of a track, a query that is partly silence).
# MIN_SPREAD = 0 turns the check off.
MIN_SPREAD = 0.4
STRONG_EVIDENCE = 2 * SCORE_MID
# a clear hit under the identity hypothesis skips the tempo/pitch hypotheses
STRONG_VOTES = 12  # distinct query anchor frames
STRONG_SHARE = 0.08  # of the query's peaks
STRONG_SPREAD = 0.6


@dataclass
class Match:
    """One recognized catalog asset.

    Attributes
    ----------
    asset_id : str
    offset_s : float
        Timecode: where the excerpt's start is inside the catalog asset, seconds.
    score : float
        Calibrated confidence 0..1 (the AudD API shows it as 0-100).
    votes : int
        Offset-consistent hash matches.
    speed : float
        Estimated tempo ratio of the query vs the reference (1.03: query plays 3 % faster).
    pitch_semitones : float
        Estimated pitch shift of the query vs the reference.
    query_start_s, query_end_s : float
        Span of the query in which consistent matches were found.
    """

    asset_id: str
    offset_s: float
    score: float
    votes: int
    speed: float = 1.0
    pitch_semitones: float = 0.0
    query_start_s: float = 0.0
    query_end_s: float = 0.0
    background: float = 0.0  # chance votes expected in the winning cell
    spread: float = 1.0  # share of the query's span covered by the consistent votes
    hyp: int = 0  # index of its tempo/pitch hypothesis (match.HYPOTHESES)


@dataclass
class WindowResult:
    """Raw result of one scan window (AudD enterprise chunks)."""

    start_s: float
    end_s: float
    matches: list[Match] = field(default_factory=list)


# -- index management ---------------------------------------------------------------------
def _index_path(catalog: Catalog) -> Path:
    return catalog.index_dir / "fingerprint"


def rebuild_index(catalog: Catalog) -> FingerprintIndex:
    """Rebuild the index from the stored ``fingerprint`` analyses and persist it."""
    if catalog.settings.fingerprint_index != "local":  # shared: refill the engine's copy
        from tonearm.recognition.shared_index import rebuild_shared

        return cast(FingerprintIndex, rebuild_shared(catalog, CACHE_KEY))
    path = _index_path(catalog)
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("seg-*.npy"):
        old.unlink(missing_ok=True)
    ix = FingerprintIndex(path)
    with ix.lock:
        ix.path = None  # build in memory, persist once
        for a in catalog.store.iter_analyses(ANALYSIS_NAME):
            if a.blob is None or a.data.get("version") != fp.VERSION:
                continue
            h, t = fp.unpack(a.blob)
            ix.add(a.asset_id, h, t)
        ix.path = path
        ix.compact()
    return ix


def refingerprint(catalog: Catalog, *, progress: Callable[[float], None] | None = None) -> int:
    """Re-analyse every asset whose fingerprint is missing or from an older engine version
    (decoding its stored file), then rebuild the index. Returns how many were redone."""
    from tonearm.catalog.analyzers import select_analyzers
    from tonearm.catalog.decoding import decode_audio
    from tonearm.catalog.ingest import asset_path
    from tonearm.core.audio.limits import Purpose
    from tonearm.core.features.analysis_input import AnalysisInput
    from tonearm.storage.base import Analysis

    # the analyzer, as the catalog's plugins declare it (the analyzer calls this module)
    (analyzer,) = select_analyzers([ANALYSIS_NAME], catalog.plugins)
    assets = [a for a in catalog.store.iter_assets() if a.kind in analyzer.kinds]
    redone = 0
    for i, asset in enumerate(assets):
        cur = catalog.store.get_analysis(asset.asset_id, ANALYSIS_NAME)
        if cur is None or cur.blob is None or cur.data.get("version") != fp.VERSION:
            try:
                sig = decode_audio(catalog, asset_path(catalog, asset), Purpose.CATALOG_FILE)
            except Exception:  # a missing or unreadable file: leave that asset unindexed
                continue
            r = analyzer.analyze(AnalysisInput(sig), asset.kind)
            catalog.store.put_analysis(
                Analysis(asset.asset_id, ANALYSIS_NAME, analyzer.version, r.data, r.blob)
            )
            redone += 1
        if progress:
            progress((i + 1) / max(1, len(assets)))
    catalog.cache[CACHE_KEY] = rebuild_index(catalog)
    return redone


def get_index(catalog: Catalog) -> FingerprintIndex:
    """The catalog's fingerprint index, loaded once per process and reloaded when another
    process (e.g. a CLI ingest) changed it on disk. With a shared backend
    (``settings.fingerprint_index``), a view of it with the same surface."""
    if catalog.settings.fingerprint_index != "local":
        from tonearm.recognition.shared_index import shared_index

        return cast(FingerprintIndex, shared_index(catalog, CACHE_KEY))
    ix = catalog.cache.get(CACHE_KEY)
    if ix is not None and not ix.changed_on_disk():
        return ix
    with _load_lock:
        ix = catalog.cache.get(CACHE_KEY)
        if ix is not None and not ix.changed_on_disk():
            return ix
        path = _index_path(catalog)
        loaded = FingerprintIndex.load(path)
        if loaded is None:
            loaded = rebuild_index(catalog)
        catalog.cache[CACHE_KEY] = loaded
        return loaded


@contextmanager
def _writer_lock(catalog: Catalog) -> Iterator[None]:
    """Serialize index writers across processes (a server and a CLI ingest, say): the
    writer first reloads whatever the other process persisted, then adds to it."""
    path = _index_path(catalog)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def index_asset(catalog: Catalog, asset_id: str, hashes_blob: bytes) -> None:
    """Add an asset's packed hashes (the analysis blob) to the index."""
    h, t = fp.unpack(hashes_blob)
    with _writer_lock(catalog):
        get_index(catalog).add(str(asset_id), h, t)


def remove_asset(catalog: Catalog, asset_id: str) -> None:
    with _writer_lock(catalog):
        get_index(catalog).remove(str(asset_id))


# -- recognition --------------------------------------------------------------------------
def strength(votes: int, background: float = 0.0) -> float:
    """Evidence of a match: the votes above the chance level, in units of its spread
    (a z-score-like statistic: chance votes in a cell are ~Poisson(background))."""
    return (votes - background) / math.sqrt(1.0 + background)


def verified_strength(votes: int, background: float = 0.0, spread: float = 1.0) -> float:
    """``strength``, capped under the no-match threshold when the evidence is marginal
    (< STRONG_EVIDENCE) and confined to a small part of the query (``spread`` <
    MIN_SPREAD): a short shared sound, not the recording."""
    z = strength(votes, background)
    if z < STRONG_EVIDENCE and spread < MIN_SPREAD:
        return min(z, SCORE_MID * spread / MIN_SPREAD)
    return z


def match_strength(m: Match) -> float:
    """``verified_strength`` of a reported match (what its score is computed from)."""
    return verified_strength(m.votes, m.background, m.spread)


def calibrated_score(votes: int, background: float = 0.0, spread: float = 1.0) -> float:
    """Confidence 0..1 from the consistent votes, the chance votes expected and the
    share of the query they cover."""
    z = (verified_strength(votes, background, spread) - SCORE_MID) / SCORE_SCALE
    return float(1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))))


def _background(ix: FingerprintIndex, c: Candidate) -> float:
    """Chance votes expected in one 3-frame cell: the asset's hits spread over its span
    (hits of cells where the passage repeats are real, not chance: left out)."""
    span = ix.span_frames.get(c.asset_idx, 0) + (c.q_last - c.q_first) + 1
    return 3.0 * max(0, c.asset_hits - c.votes - c.repeat_hits) / max(1.0, float(span))


def _to_match(ix: FingerprintIndex, c: Candidate, q_span: int) -> Match | None:
    aid = ix.asset_ids[c.asset_idx] if c.asset_idx < len(ix.asset_ids) else None
    if aid is None:
        return None
    tempo, shift = HYPOTHESES[c.hyp]
    bg = _background(ix, c)
    spread = min(1.0, (c.q_last - c.q_first) / q_span) if q_span > 0 else 1.0
    return Match(
        asset_id=aid,
        offset_s=round(max(0.0, c.offset_frames) / fp.FPS, 3),
        score=round(calibrated_score(c.votes, bg, spread), 4),
        votes=c.votes,
        speed=tempo,
        pitch_semitones=round(shift / fp.BANDS_PER_SEMITONE, 3),
        query_start_s=round(c.q_first / fp.FPS, 3),
        query_end_s=round((c.q_last + 1) / fp.FPS, 3),
        background=round(bg, 4),
        spread=round(spread, 3),
        hyp=c.hyp,
    )


def _clear_hit(cands: list[Candidate], peaks: fp.Peaks) -> bool:
    """Only an unmistakable hit (identity, or the hint) skips the other hypotheses. A
    tempo-shifted query also collects votes at identity, but only within a short stretch
    of the query (the alignment drifts by the tempo error), so require votes spread over
    most of it."""
    q_span = int(peaks.t.max() - peaks.t.min()) if len(peaks.t) else 0
    return bool(cands) and (
        cands[0].votes >= max(STRONG_VOTES, STRONG_SHARE * len(peaks.t))
        and (cands[0].q_last - cands[0].q_first) >= STRONG_SPREAD * q_span
    )


@dataclass
class IdentityStats:
    """What the identity pass of this thread's last ``match_peaks`` did."""

    shares: list[float] = field(default_factory=list)  # rarest share of each try, in order
    postings: int = 0  # index postings the identity tries read
    settled: bool = False  # a clear hit: no other hypothesis was tried
    triplet: bool = False  # settled by the triplet shortlist (no probe, no sweep)
    triplet_postings: int = 0  # triplet postings the shortlist read
    triplet_votes: int = 0  # the shortlist's leading votes


_last_stats = threading.local()


def last_identity_stats() -> IdentityStats | None:
    """The identity pass's figures for this thread's last query (None before any)."""
    got: IdentityStats | None = getattr(_last_stats, "value", None)
    return got


def match_peaks(
    ix: FingerprintIndex,
    peaks: fp.Peaks,
    *,
    top_k: int = 1,
    min_score: float = MIN_SCORE,
    hint: int | None = None,
) -> list[Match]:
    """Recognize from precomputed query peaks (query density).

    ``hint``: a tempo/pitch hypothesis to try with the identity first (a long file's
    previous window matched under it: a mix played 3 % fast stays 3 % fast), so a window
    of the same play needs no sweep of all the others."""
    stats = IdentityStats()
    _last_stats.value = stats
    if len(ix) == 0 or len(peaks.t) < 2:
        return []
    n_cand = top_k + 2
    first = [0] if not hint else [0, hint]
    long_query = len(peaks.t) > 0 and (int(peaks.t.max()) - int(peaks.t.min())) / fp.FPS >= (
        PROBE_MIN_S
    )
    if SHORTLIST and (IDENTITY_RAREST < 1.0 or IDENTITY_BUDGET > 0) and long_query:
        # the identity pass on the rarest hashes finds the leading assets; their exact
        # votes (every hash) decide whether the identity hit is clear. On a large catalog
        # the rarest tenth first: it settles most clear hits for a fraction of the reads.
        shares = [IDENTITY_RAREST]
        if 0 < IDENTITY_EARLY < IDENTITY_RAREST and _long_lists(ix):
            shares.insert(0, IDENTITY_EARLY)
        for share in shares:
            cands, _, n_hits = vote(
                ix,
                peaks,
                first,
                max_candidates=n_cand,
                rarest=share,
                budget=IDENTITY_BUDGET,
            )
            stats.shares.append(share)
            stats.postings += n_hits
            cands = vote_assets(
                ix, peaks, first, [c.asset_idx for c in cands], max_candidates=n_cand
            )
            if _clear_hit(cands, peaks):
                break
    else:
        cands, _, n_hits = vote(ix, peaks, first, max_candidates=n_cand)
        stats.shares.append(1.0)
        stats.postings += n_hits
    q_span = int(peaks.t.max() - peaks.t.min()) if len(peaks.t) else 0
    strong = _clear_hit(cands, peaks)
    stats.settled = strong
    if not strong and long_query and getattr(ix, "triplets", None) is not None:
        settled = _triplet_settle(ix, peaks, cands, n_cand, stats)
        if settled is not None:
            cands, strong = settled, True
    if not strong:
        probe = _probe(ix, peaks)
        if probe is None:  # every hypothesis in full
            cands, _, _ = vote(ix, peaks, list(range(len(HYPOTHESES))), max_candidates=n_cand)
        else:
            hyps = sorted({0} | {c.hyp for c in probe})
            if SHORTLIST:
                # the identity pass covered every asset at hypothesis 0; the probe found
                # the assets that can win under another hypothesis: vote on those only
                shortlist = [c.asset_idx for c in probe + cands]
                cands = vote_assets(ix, peaks, hyps, shortlist, max_candidates=n_cand)
            else:
                cands, _, _ = vote(ix, peaks, hyps, max_candidates=n_cand)
    out: list[Match] = []
    for c in cands:
        m = _to_match(ix, c, q_span)
        if m is not None and m.score >= min_score:
            out.append(m)
        if len(out) >= top_k:
            break
    return out


# the tempo/pitch sweep: on queries of at least PROBE_MIN_S seconds, a probe picks the
# hypotheses of its PROBE_ASSETS best assets, and only those are voted on with every hash
# (SHORTLIST: only for those assets and the identity pass's leading ones, by binary search,
# at a cost that does not grow with the catalog). The probe looks up, under every
# hypothesis, the hashes of every PROBE_STRIDE-th query frame; PROBE_RAREST < 1 instead
# keeps that share of each hypothesis' hashes with postings that have the fewest, up to
# PROBE_BUDGET postings per hypothesis when > 0 (both off: the rarest fifth halved query
# CPU at 10k and 100k songs with the same answers up to 10k, but lost 3 of 312 catalog
# excerpts at 100k; a budget lost answers at 10k). Shorter queries (too few anchors for a
# part of them to find the right hypothesis) vote on every hypothesis in full. From
# PROBE_MIN_S up, with SHORTLIST, the identity pass also finds its leading assets from the
# rarer half of the hashes with postings and votes exactly on those.
# bench/results/recognition_scale/README.md (session 6, scale helper)
PROBE_STRIDE = 5
PROBE_ASSETS = 8
PROBE_MIN_S = 8.0
PROBE_RAREST = 1.0  # < 1: the probe takes this share of every hypothesis' rarest hashes
PROBE_BUDGET = 0  # > 0: ... and at most this many postings per hypothesis
SHORTLIST = True  # the full vote covers only the probe's and the identity pass's assets
IDENTITY_RAREST = 0.5  # with SHORTLIST, < 1: the identity pass's shortlist from the rarest hashes
IDENTITY_BUDGET = 0  # > 0: ... and at most this many of their postings
IDENTITY_EARLY = 0.1  # 0 < it < IDENTITY_RAREST: the identity pass first on this share
# ... only from this many postings per hash on average (n_keys / 2^HASH_BITS; 512 is ~32k
# songs): a query the tenth does not settle pays for the try, which at 10k songs (160)
# cost more than the clear hits saved; at 100k (1,591) the clear hits gain 3.8x.
# bench/results/recognition_scale/session8/README.md (scale2)
EARLY_MIN_LIST = 512


# the triplet shortlist (recognition.triplets; on when the index holds one): its
# TRIPLET_ASSETS leading assets are voted on exactly under the hypotheses within
# TRIPLET_TEMPO_NEAR of their tempo; a clear hit there with at least TRIPLET_SETTLE of
# evidence settles the query (no probe, no sweep); anything else goes on to the sweep.
# bench/results/recognition_scale/session11/README.md
TRIPLET_ASSETS = 4
TRIPLET_MIN_VOTES = 4
TRIPLET_TEMPO_NEAR = 0.013
TRIPLET_SETTLE = STRONG_EVIDENCE
TRIPLET_VOTE_MIN = 8  # below this many leading votes, no exact vote: straight to the sweep


def _triplet_settle(
    ix: FingerprintIndex,
    peaks: fp.Peaks,
    cands: list[Candidate],
    n_cand: int,
    stats: IdentityStats,
) -> list[Candidate] | None:
    """The candidates of the exact vote of the triplet shortlist (and the identity pass's
    leaders) under the hypotheses near the shortlist's tempi, when that vote is a clear,
    strong hit; None otherwise (the sweep decides)."""
    tix = ix.triplets
    if tix is None or tix.n_main != len(ix.main):
        return None
    _, dead = ix.ranges(np.zeros(0, np.uint32))
    short, n_read = tp.shortlist(
        tix, ix.base, ix.lut, dead, peaks, max_assets=TRIPLET_ASSETS, min_votes=TRIPLET_MIN_VOTES
    )
    stats.triplet_postings = n_read
    stats.triplet_votes = short[0].votes if short else 0
    if stats.triplet_votes < max(1, TRIPLET_VOTE_MIN):
        return None
    hyps = sorted(
        {0}
        | {
            i
            for i, (a, _) in enumerate(HYPOTHESES)
            for s in short
            if abs(a - s.tempo) <= TRIPLET_TEMPO_NEAR
        }
    )
    assets = [s.asset_idx for s in short] + [c.asset_idx for c in cands]
    got = vote_assets(ix, peaks, hyps, assets, max_candidates=n_cand)
    if not _clear_hit(got, peaks):
        return None
    if strength(got[0].votes, _background(ix, got[0])) < TRIPLET_SETTLE:
        return None
    stats.triplet = True
    return got


def _long_lists(ix: FingerprintIndex) -> bool:
    """Whether the catalog's posting lists are long enough for the early try to pay."""
    return bool(ix.n_keys >= EARLY_MIN_LIST * (1 << fp.HASH_BITS))


def _probe(ix: FingerprintIndex, peaks: fp.Peaks) -> list[Candidate] | None:
    """The probe's leading (asset, hypothesis) cells; None: no probe for this query."""
    every = list(range(len(HYPOTHESES)))
    span_s = (int(peaks.t.max()) - int(peaks.t.min())) / fp.FPS if len(peaks.t) else 0.0
    if span_s < PROBE_MIN_S or (PROBE_STRIDE <= 1 and PROBE_RAREST >= 1.0 and PROBE_BUDGET <= 0):
        return None
    cands, _, _ = vote(
        ix,
        peaks,
        every,
        max_candidates=PROBE_ASSETS,
        anchor_stride=PROBE_STRIDE,
        rarest=PROBE_RAREST,
        budget=PROBE_BUDGET,
    )
    return cands


def sweep_hypotheses(ix: FingerprintIndex, peaks: fp.Peaks) -> list[int]:
    """The tempo/pitch hypotheses worth a full vote for this query."""
    probe = _probe(ix, peaks)
    if probe is None:
        return list(range(len(HYPOTHESES)))
    return sorted({0} | {c.hyp for c in probe})


def query_peaks(signal: Signal) -> fp.Peaks:
    return fp.signal_peaks(signal, fp.QUERY_DENSITY)


def recognize(
    catalog: Catalog,
    signal: Signal,
    *,
    top_k: int = 1,
    min_score: float = MIN_SCORE,
    tenant: str | None = ALL_TENANTS,
) -> list[Match]:
    """Identify the catalog asset(s) an excerpt comes from; [] when nothing matches.

    Parameters
    ----------
    signal : Signal
        The excerpt (any rate, any channels); a few seconds are enough.
    top_k : int
        How many distinct assets to return at most, best first.
    tenant : str or None
        Whose catalog: the shared catalog plus this account's own assets (None: the
        shared catalog only); ``ALL_TENANTS`` (default): every asset.
    """
    return recognize_peaks(
        catalog, query_peaks(signal), top_k=top_k, min_score=min_score, tenant=tenant
    )


def recognize_peaks(
    catalog: Catalog,
    peaks: fp.Peaks,
    *,
    top_k: int = 1,
    min_score: float = MIN_SCORE,
    tenant: str | None = ALL_TENANTS,
    hint: int | None = None,
) -> list[Match]:
    """:func:`recognize` from the excerpt's query peaks (:func:`query_peaks`), for a caller
    that keeps the peaks (the stream monitor's boundary search); ``hint`` as for
    :func:`match_peaks`."""
    ix = get_index(catalog)
    want = top_k if tenant == ALL_TENANTS else top_k + 2
    while True:
        matches = match_peaks(ix, peaks, top_k=want, min_score=min_score, hint=hint)
        live = _visible(catalog, matches, tenant)
        # other accounts' assets took the top places: ask for more candidates
        if len(live) >= top_k or len(matches) < want or want >= MAX_TENANT_CANDIDATES:
            return live[:top_k]
        want *= 4


MAX_TENANT_CANDIDATES = 128  # how deep recognition looks past other accounts' matches


def _visible(catalog: Catalog, matches: list[Match], tenant: str | None) -> list[Match]:
    """The matches on assets that exist and ``tenant`` may see (one query for all)."""
    owners = catalog.store.asset_tenants([m.asset_id for m in matches])
    live = []
    for m in matches:
        if m.asset_id not in owners:
            # an asset deleted from the store without going through remove_asset
            remove_asset(catalog, m.asset_id)
            continue
        owner = owners[m.asset_id]
        if tenant == ALL_TENANTS or owner is None or owner == tenant:
            live.append(m)
    return live


# -- long files ---------------------------------------------------------------------------
def scan_windows(
    catalog: Catalog,
    signal: Signal,
    *,
    window_s: float = 12.0,
    hop_s: float = 6.0,
    top_k: int = 1,
    progress: Callable[[float], None] | None = None,
) -> list[WindowResult]:
    """Recognize every window [k*hop_s, k*hop_s + window_s) of a long signal."""
    ix = get_index(catalog)
    y = fp.prepare(signal)
    logspec = fp.log_spectrogram(y)
    if progress:
        progress(0.05)
    # peaks picked over the whole file once; per-window density is what a query would see
    all_peaks = fp.find_peaks(logspec, fp.QUERY_DENSITY)
    duration = len(y) / fp.SR
    win_f = max(1, int(round(window_s * fp.FPS)))
    hop_f = max(1, int(round(hop_s * fp.FPS)))
    last = max(0, all_peaks.n_frames - win_f)
    starts = list(range(0, last + 1, hop_f))
    if starts[-1] < last:  # one more window flush with the end, so the tail is covered
        starts.append(last)
    out: list[WindowResult] = []
    for i, t0 in enumerate(starts):
        p = all_peaks.select(t0, t0 + win_f)
        ms = match_peaks(ix, p, top_k=top_k)
        out.append(WindowResult(t0 / fp.FPS, min(duration, (t0 + win_f) / fp.FPS), ms))
        if progress:
            progress(0.05 + 0.95 * (i + 1) / len(starts))
    deleted = {m.asset_id for w in out for m in w.matches}
    gone = {a for a in deleted if catalog.store.get_asset(a) is None}
    if gone:
        for a in gone:
            remove_asset(catalog, a)
        for w in out:
            w.matches = [m for m in w.matches if m.asset_id not in gone]
    return out
