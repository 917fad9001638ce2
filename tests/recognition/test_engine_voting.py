"""Bounded voting vs exhaustive voting, with many distractors indexed.

The matcher only evaluates the (asset, hypothesis) buckets whose upper bound can still
reach the leading assets. These tests compare it with a plain exhaustive count written
here, and check that degraded excerpts (speed, tempo, pitch, noise) are still found at
the right timecode when hundreds of distractor songs compete for the votes.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from test_engine_audio import add_noise, random_song

from tonearm.core.audio.signal import Signal
from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import FingerprintIndex
from tonearm.recognition.match import HYPOTHESES, vote
from tonearm.recognition.service import match_peaks, query_peaks

N_SONGS = 4
N_DISTRACTORS = 300


def _distractor(p: fp.Peaks, rng: np.random.Generator) -> fp.Peaks:
    """A song's peak map transposed and stretched outside the search range: it shares the
    song's statistics (so it collects chance hits), never its alignment."""
    shift = rng.uniform(2, 8) * fp.BANDS_PER_SEMITONE * rng.choice([-1, 1])
    stretch = rng.uniform(1.10, 1.25) ** rng.choice([-1, 1])
    f = p.f + shift
    keep = (f >= 0) & (f < fp.N_BANDS - 1)
    return fp.Peaks(
        np.rint(p.t[keep] * stretch).astype(np.int32),
        f[keep].astype(np.float32),
        p.strength[keep],
        int(p.n_frames * stretch),
    )


@pytest.fixture(scope="module")
def songs() -> list[Signal]:
    return [random_song(50 + seed, 40.0) for seed in range(N_SONGS)]


def _build(songs: list[Signal], compact: bool) -> FingerprintIndex:
    rng = np.random.default_rng(3)
    ix = FingerprintIndex()
    peaks = [fp.signal_peaks(s, fp.REF_DENSITY) for s in songs]
    for i in range(N_DISTRACTORS):
        ix.add(f"d{i}", *fp.pair_hashes(_distractor(peaks[i % len(peaks)], rng)))
        if i == N_DISTRACTORS // 2:
            for k, p in enumerate(peaks):  # real songs in the middle of the asset range
                ix.add(f"song{k}", *fp.pair_hashes(p, fan_out=fp.FAN_OUT))
    if compact:
        ix.compact()
    return ix


@pytest.fixture(scope="module")
def index(songs: list[Signal]) -> FingerprintIndex:
    return _build(songs, compact=True)


def exhaustive(ix: FingerprintIndex, peaks: fp.Peaks) -> dict[int, tuple[int, int, int]]:
    """asset -> (votes, hypothesis, offset) of its best cell, by counting every cell."""
    n_h = len(HYPOTHESES)
    best: dict[int, tuple[int, int, int]] = {}
    for h_id, (tempo, shift) in enumerate(HYPOTHESES):
        hashes, tq = fp.pair_hashes(peaks, fan_out=fp.QUERY_FAN_OUT, tempo=tempo, shift_bands=shift)
        owner, asset, frame = ix.lookup(hashes)
        t = tq[owner].astype(np.int64)
        offset = frame - np.rint(t * tempo).astype(np.int64)
        cells: dict[tuple[int, int], set[int]] = {}
        for a, o, q in zip(asset.tolist(), offset.tolist(), t.tolist(), strict=True):
            cells.setdefault((a, o), set()).add(q)
        for (a, o), qs in cells.items():
            v = len(qs) + len(cells.get((a, o - 1), ())) + len(cells.get((a, o + 1), ()))
            if a not in best or v > best[a][0]:
                best[a] = (v, h_id, o)
    assert n_h == len(HYPOTHESES)
    return best


def _speed(sig: Signal, start: float, length: float, speed: float) -> Signal:
    src = sig.slice_s(start, start + length * speed + 0.1)
    y = soxr.resample(src.samples[0], src.sr * speed, src.sr)[: int(length * src.sr)]
    return Signal(np.asarray(y, np.float32), src.sr)


def _tempo(sig: Signal, start: float, length: float, rate: float) -> Signal:
    import librosa

    src = sig.slice_s(start, start + length * rate + 0.2)
    y = librosa.effects.time_stretch(src.samples[0], rate=rate)[: int(length * src.sr)]
    return Signal(np.asarray(y, np.float32), src.sr)


def _pitch(sig: Signal, start: float, length: float, semitones: float) -> Signal:
    import librosa

    src = sig.slice_s(start, start + length)
    y = librosa.effects.pitch_shift(src.samples[0], sr=src.sr, n_steps=semitones)
    return Signal(np.asarray(y, np.float32), src.sr)


# (name, song, start s, make the excerpt, expected speed)
CASES = [
    ("speed+3%", 0, 11.0, lambda s, a: _speed(s, a, 9.0, 1.03), 1.03),
    ("speed-3%", 1, 23.5, lambda s, a: _speed(s, a, 9.0, 0.97), 0.97),
    ("tempo+5%", 2, 6.0, lambda s, a: _tempo(s, a, 9.0, 1.05), 1.05),
    ("pitch-1st", 3, 17.25, lambda s, a: _pitch(s, a, 9.0, -1.0), 1.0),
    ("speed+3%_noise3dB", 2, 27.0, lambda s, a: add_noise(_speed(s, a, 9.0, 1.03), 3.0, 1), 1.03),
    ("short5s_tempo-5%", 0, 30.0, lambda s, a: _tempo(s, a, 5.0, 0.95), 0.95),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_degraded_excerpt_found_at_timecode_among_distractors(index, songs, case) -> None:  # type: ignore[no-untyped-def]
    _, k, start, make, speed = case
    m = match_peaks(index, query_peaks(make(songs[k], start)))
    assert m, "no match"
    assert m[0].asset_id == f"song{k}"
    assert abs(m[0].offset_s - start) <= 0.5
    assert m[0].speed == pytest.approx(speed, abs=0.011)


@pytest.mark.parametrize("case", CASES[:4], ids=[c[0] for c in CASES[:4]])
def test_bounded_vote_equals_exhaustive(index, songs, case) -> None:  # type: ignore[no-untyped-def]
    _, k, start, make, _ = case
    peaks = query_peaks(make(songs[k], start))
    ref = exhaustive(index, peaks)
    ranked = sorted(ref.items(), key=lambda kv: -kv[1][0])
    cands, _, n_hits = vote(index, peaks, list(range(len(HYPOTHESES))), max_candidates=3)
    assert n_hits > 20 * len(cands)  # the distractors did compete
    # the leading assets and their vote counts are exactly those of exhaustive counting
    assert [c.votes for c in cands] == [v[0] for _, v in ranked[:3]]
    top_asset, (votes, _, offset) = ranked[0]
    assert cands[0].asset_idx == top_asset == index.idx_of[f"song{k}"]
    assert abs(cands[0].offset_frames - offset) <= 1.5
    # and the best cell of the winner is a real alignment, far above the runner-up
    assert votes > 3 * ranked[1][1][0]


def test_same_result_from_segments_and_after_delete(songs) -> None:
    seg = _build(songs, compact=False)
    main = _build(songs, compact=True)
    q = query_peaks(_speed(songs[1], 12.0, 8.0, 0.97))
    a, b = match_peaks(seg, q), match_peaks(main, q)
    assert a and b and a[0].asset_id == b[0].asset_id == "song1"
    assert (a[0].votes, a[0].offset_s) == (b[0].votes, b[0].offset_s)
    # a tombstoned asset never wins, compacted or not
    for ix in (seg, main):
        ix.remove("song1")
        assert match_peaks(ix, q) == []


def test_looped_song_is_not_weakened_by_its_repeats() -> None:
    """A passage that plays five times: the other plays are real votes, not chance ones,
    so the match is about as strong as in a song where it plays once."""
    from tonearm.recognition.service import strength

    loop = random_song(77, 12.0)
    other = random_song(78, 36.0)
    y = loop.samples[0]
    looped = Signal(np.concatenate([other.samples[0][: 12 * loop.sr], y, y, y, y, y]), loop.sr)
    once = Signal(np.concatenate([other.samples[0], other.samples[0][: 24 * loop.sr], y]), loop.sr)
    q = query_peaks(add_noise(Signal(y[int(1.5 * loop.sr) : int(10.5 * loop.sr)], loop.sr), 3.0))
    got = {}
    for name, sig in (("looped", looped), ("once", once)):
        ix = FingerprintIndex()
        ix.add(name, *fp.fingerprint(sig))
        m = match_peaks(ix, q, min_score=0.0)
        assert m and m[0].asset_id == name
        assert (m[0].offset_s - 1.5) % 12.0 == pytest.approx(0.0, abs=0.5)  # one of the plays
        got[name] = strength(m[0].votes, m[0].background)
    assert got["looped"] >= 0.9 * got["once"]


def test_vote_spread_measures_how_much_of_the_query_is_shared() -> None:
    """A query that shares only its first 2 s with the catalog song has its consistent
    votes packed into that part; a whole excerpt spreads them over the query."""
    a, b = random_song(91, 40.0), random_song(92, 40.0)
    sr = a.sr
    ix = FingerprintIndex()
    ix.add("a", *fp.fingerprint(a))
    whole = a.samples[0][20 * sr : 30 * sr]
    part = np.concatenate([a.samples[0][20 * sr : 22 * sr], b.samples[0][5 * sr : 13 * sr]])
    m_whole = match_peaks(ix, query_peaks(Signal(whole, sr)), min_score=0.0)
    m_part = match_peaks(ix, query_peaks(Signal(part, sr)), min_score=0.0)
    assert m_whole and m_whole[0].asset_id == "a" and m_whole[0].spread > 0.85
    assert m_part and m_part[0].asset_id == "a" and m_part[0].spread < 0.3


def test_marginal_evidence_confined_to_a_short_part_is_not_a_match() -> None:
    """Verification: marginal evidence must cover most of the query; strong evidence is
    trusted however short (a long-file window overlapping a track's end)."""
    from tonearm.recognition import service

    marginal = int(service.SCORE_MID + 4)  # votes with no background: strength = votes
    assert marginal < service.STRONG_EVIDENCE
    strong = int(service.STRONG_EVIDENCE + 2)
    narrow, wide = 0.5 * service.MIN_SPREAD, min(1.0, 1.5 * service.MIN_SPREAD)
    assert service.calibrated_score(marginal, 0.0, wide) > service.MIN_SCORE
    assert service.calibrated_score(marginal, 0.0, narrow) < service.MIN_SCORE
    assert service.verified_strength(marginal, 0.0, narrow) < service.SCORE_MID
    assert service.calibrated_score(strong, 0.0, narrow) > service.MIN_SCORE
    # the cap never raises the evidence
    for v in (3, marginal, strong):
        for s in (0.0, narrow, wide, 1.0):
            assert service.verified_strength(v, 1.0, s) <= service.strength(v, 1.0)


def test_very_common_hashes_are_not_looked_up(index, songs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A query hash with more postings than the cap adds no hit; the rest count in full."""
    from tonearm.recognition import match

    peaks = query_peaks(songs[1].slice_s(10.0, 19.0))
    _, _, hits_all = vote(index, peaks, [0])
    monkeypatch.setattr(match, "CAP_MIN", 4)
    monkeypatch.setattr(match, "CAP_FACTOR", 2.0)
    cap = match.max_postings(index)
    cands, _, hits = vote(index, peaks, [0])
    h, _, _ = match._hash_hypotheses(peaks, [0], fp.QUERY_FAN_OUT)
    owner, _, _ = index.lookup(h)
    per_hash = np.bincount(owner, minlength=len(h))
    assert (per_hash > cap).any() and hits < hits_all
    assert hits == per_hash[per_hash <= cap].sum()
    assert cands and cands[0].asset_idx == index.idx_of["song1"]


@pytest.mark.parametrize("probe", [(3, 1.0), (1, 0.2)], ids=["every_3rd_frame", "rarest_fifth"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_probed_sweep_finds_degraded_excerpts(index, songs, case, probe, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The probe (every 3rd query frame, or every hypothesis' rarest fifth of the hashes,
    every hypothesis) keeps the right hypothesis among the few it passes on to the full
    vote; short excerpts get every hypothesis in full."""
    from tonearm.recognition import service

    monkeypatch.setattr(service, "PROBE_STRIDE", probe[0])
    monkeypatch.setattr(service, "PROBE_RAREST", probe[1])
    _, k, start, make, speed = case
    peaks = query_peaks(make(songs[k], start))
    hyps = service.sweep_hypotheses(index, peaks)
    if (peaks.t.max() - peaks.t.min()) / fp.FPS < service.PROBE_MIN_S:
        assert hyps == list(range(len(HYPOTHESES)))
    else:
        assert len(hyps) <= service.PROBE_ASSETS + 1 < len(HYPOTHESES)
    m = match_peaks(index, peaks)
    assert m and m[0].asset_id == f"song{k}"
    assert abs(m[0].offset_s - start) <= 0.5
    assert m[0].speed == pytest.approx(speed, abs=0.011)


def _all_postings(ix: FingerprintIndex) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every live asset's (hashes, frames) as the index holds them."""
    owner, asset, frame = ix.lookup(np.arange(1 << fp.HASH_BITS, dtype=np.uint32))
    return {
        aid: (owner[asset == a].astype(np.uint32), frame[asset == a])
        for a, aid in enumerate(ix.asset_ids)
        if aid is not None
    }


def _keyed_twin(ix: FingerprintIndex) -> FingerprintIndex:
    """The same postings as ``ix`` (compacted), held as segment keys (not compacted), so
    ``vote`` counts them per (asset, hypothesis) after decoding each posting's asset."""
    twin = FingerprintIndex()
    for aid, (h, t) in _all_postings(ix).items():
        twin.add(aid, h, t)
        twin.span_frames[twin.idx_of[aid]] = ix.span_frames[ix.idx_of[aid]]
    assert twin.segments and len(twin.main) == 0
    return twin


def _shifted(p: fp.Peaks, frames: int) -> fp.Peaks:
    """A query whose peaks come ``frames`` later (query frames past 2^12)."""
    return fp.Peaks(p.t + frames, p.f, p.strength, p.n_frames + frames)


def test_timeline_vote_equals_keyed_vote(songs) -> None:  # type: ignore[no-untyped-def]
    """Voting on the compacted timeline (no posting mapped to its asset until its bucket
    is evaluated) gives exactly the candidates of per-asset voting over the same postings:
    assets, votes, hypothesis, offset, query span, hits and repeats; with assets deleted
    from the compacted part, and for queries whose anchors lie past query frame 4095."""
    main = _build(songs, compact=True)
    for aid in ("d3", "d150", "song2"):
        main.remove(aid)  # tombstones in the compacted part
    assert len(main.segments) == 0 and main.deleted
    keyed = _keyed_twin(main)
    queries = [query_peaks(make(songs[k], start)) for _, k, start, make, _ in CASES[:5]] + [
        query_peaks(songs[2].slice_s(5.0, 14.0)),
        query_peaks(songs[0].slice_s(3.0, 8.0)),
    ]
    queries += [_shifted(queries[0], 5000), _shifted(queries[3], 70000)]
    every = list(range(len(HYPOTHESES)))
    for q in queries:
        for hyps in ([0], every, [0, 3, 11]):
            for stride in (1, 3):
                a, _, hits_a = vote(main, q, hyps, max_candidates=5, anchor_stride=stride)
                b, _, hits_b = vote(keyed, q, hyps, max_candidates=5, anchor_stride=stride)
                ids_a = [main.asset_ids[c.asset_idx] for c in a]
                ids_b = [keyed.asset_ids[c.asset_idx] for c in b]
                assert ids_a == ids_b
                strip = [(c.hyp, c.offset_frames, c.votes, c.q_first, c.q_last) for c in a]
                assert strip == [(c.hyp, c.offset_frames, c.votes, c.q_first, c.q_last) for c in b]
                assert [(c.asset_hits, c.repeat_hits) for c in a] == [
                    (c.asset_hits, c.repeat_hits) for c in b
                ]
                # deleted assets' postings are still in the compacted part until the next
                # compaction (and counted as hits there), never in the twin
                assert hits_a >= hits_b
    assert "song2" not in {main.asset_ids[c.asset_idx] for c in a if main.asset_ids[c.asset_idx]}


@pytest.mark.parametrize("delta", [-2, -1, 0, 1])
def test_timeline_vote_exact_when_the_match_straddles_a_bucket_edge(songs, delta) -> None:  # type: ignore[no-untyped-def]
    """The timeline is cut into buckets of 2^BLOCK_SHIFT frames; a match whose cell (and
    its +-1 frame neighbours: a sped-up excerpt spreads its votes over two offsets) lies
    on a bucket edge keeps every vote."""
    from tonearm.recognition import match

    _, k, start, make, _ = CASES[0]
    q = query_peaks(make(songs[k], start))
    song = fp.pair_hashes(fp.signal_peaks(songs[k], fp.REF_DENSITY), fan_out=fp.FAN_OUT)
    alone = FingerprintIndex.build([("song", *song)])
    (c,), _, _ = vote(alone, q, list(range(len(HYPOTHESES))), max_candidates=1)
    _, tq, _ = match._hash_hypotheses(q, [c.hyp], fp.QUERY_FAN_OUT)
    pad = int(np.rint(tq * HYPOTHESES[c.hyp][0]).max()) + 1
    # a first asset whose span puts the winning cell at the edge + delta
    width = (1 << match.BLOCK_SHIFT) - int(round(c.offset_frames)) - pad + delta
    filler = (np.array([5, 6, 7], np.uint32), np.array([0, 3, width - 1], np.int32))
    ix = FingerprintIndex.build([("filler", *filler), ("song", *song)])
    assert ix.base[1] == width
    keyed = _keyed_twin(ix)
    a, _, _ = vote(ix, q, [c.hyp], max_candidates=2)
    b, _, _ = vote(keyed, q, [c.hyp], max_candidates=2)
    assert a[0].asset_idx == ix.idx_of["song"]
    assert (a[0].votes, a[0].offset_frames, a[0].asset_hits) == (
        c.votes,
        c.offset_frames,
        c.asset_hits,
    )
    assert [(x.votes, x.offset_frames, x.asset_hits) for x in a] == [
        (x.votes, x.offset_frames, x.asset_hits) for x in b
    ]


def _long_timeline(songs: list[Signal]) -> FingerprintIndex:
    """The real songs between long, sparse fillers made of their own hashes: a timeline of
    hundreds of 2^BLOCK_SHIFT-frame buckets that collect hits everywhere."""
    rng = np.random.default_rng(9)
    refs = [fp.pair_hashes(fp.signal_peaks(s, fp.REF_DENSITY), fan_out=fp.FAN_OUT) for s in songs]
    pool = np.concatenate([h for h, _ in refs])
    ix = FingerprintIndex()
    for j in range(8):
        n = 40_000
        frames = np.sort(rng.integers(0, 1_000_000, n)).astype(np.int32)
        ix.add(f"long{j}", rng.choice(pool, n).astype(np.uint32), frames)
        if j % 2:
            k = j // 2
            ix.add(f"song{k}", *refs[k])
    ix.compact()
    return ix


def test_timeline_buckets_are_a_stable_sort_of_the_hits(songs) -> None:  # type: ignore[no-untyped-def]
    """The timeline vote's buckets hold exactly what one stable counting sort of the hits
    by (hypothesis, block) gives, in the same order, also when a thread's buffer is reused
    from a larger vote before; and the answers are those of per-asset voting over the same
    postings."""
    from tonearm.recognition import match

    ix = _long_timeline(songs)
    keyed = _keyed_twin(ix)
    every = list(range(len(HYPOTHESES)))
    queries = [query_peaks(make(songs[k], start)) for _, k, start, make, _ in CASES[:4]]
    for q in queries:
        for hyps in ([0], every):
            hashes, tq, hyp = match._hash_hypotheses(q, hyps, fp.QUERY_FAN_OUT)
            (src,), dead = ix.ranges(hashes)
            tl = match._TimelineVote(src, tq, hyp, dead, 5)
            assert tl.n_blocks > 100
            assert np.shares_memory(tl.vals, match._scratch.vals)  # the thread's buffer
            # the reference: every hit in query-hash order, stably sorted by bucket
            cols = np.unique(hyp)
            col = np.searchsorted(cols, hyp)
            n_per = src.hi - src.lo
            owner = np.repeat(np.arange(len(hashes)), n_per)
            pos = np.concatenate([np.arange(a, b) for a, b in zip(src.lo, src.hi, strict=True)])
            g = src.keys[pos].astype(np.int64) + tl.pad - tl.shift[owner]
            bucket = col[owner] * tl.n_blocks + (g >> match.BLOCK_SHIFT)
            val = (g << match._TL_TQ_BITS) | (tq[owner] & match._TL_TQ_MASK)
            order = np.argsort(bucket, kind="stable")
            assert np.array_equal(tl.vals, val[order])
            counts = np.bincount(bucket, minlength=len(cols) * tl.n_blocks)
            assert np.array_equal(np.diff(tl.starts), counts)
            a, _, _ = vote(ix, q, hyps, max_candidates=5)
            b, _, _ = vote(keyed, q, hyps, max_candidates=5)
            assert [ix.asset_ids[c.asset_idx] for c in a] == [
                keyed.asset_ids[c.asset_idx] for c in b
            ]
            assert [(c.hyp, c.offset_frames, c.votes, c.asset_hits) for c in a] == [
                (c.hyp, c.offset_frames, c.votes, c.asset_hits) for c in b
            ]
    assert ix.asset_ids[a[0].asset_idx] == f"song{CASES[3][1]}"


def test_buckets_by_bound_as_a_stable_sort() -> None:
    """Buckets are evaluated highest bound first, ties in bucket order (a counting sort
    standing in for a stable comparison sort), and those with bound 0 never."""
    from tonearm.recognition import match

    rng = np.random.default_rng(2)
    for n, top in ((0, 1), (1, 3), (500, 4), (20_000, 300)):
        bound = rng.integers(0, top, n).astype(np.int64)
        want = np.argsort(-bound, kind="stable")
        assert np.array_equal(match._by_bound(bound), want[bound[want] > 0])


def test_vote_on_a_few_assets_equals_the_full_vote(songs) -> None:  # type: ignore[no-untyped-def]
    """``vote_assets`` (binary search of each asset's run of postings) finds exactly the
    candidates the full vote finds for those assets: compacted, tombstoned or in
    segments."""
    from tonearm.recognition.match import vote_assets

    main = _build(songs, compact=True)
    main.remove("d7")
    keyed = _keyed_twin(main)
    # compacted distractors plus the songs (and more distractors) added since, in segments
    post = _all_postings(main)
    mixed = FingerprintIndex()
    for i in range(40):
        mixed.add(f"x{i}", *post[f"d{i + 10}"])
    mixed.compact()
    for k in range(N_SONGS):
        mixed.add(f"song{k}", *post[f"song{k}"])
        mixed.add(f"y{k}", *post[f"d{k + 60}"])
    assert mixed.segments and len(mixed.main)
    every = list(range(len(HYPOTHESES)))
    for _, k, start, make, _ in CASES[:4]:
        q = query_peaks(make(songs[k], start))
        for ix in (main, keyed, mixed):
            full, _, _ = vote(ix, q, every, max_candidates=5)
            top = [c.asset_idx for c in full]
            assert full[0].asset_idx == ix.idx_of[f"song{k}"]
            dead = main.idx_of["d6"] + 1 if ix is main else len(ix.asset_ids) - 1
            few = vote_assets(ix, q, every, [*reversed(top), dead], max_candidates=5)
            assert [vars(c) for c in few] == [vars(c) for c in full]
            # one asset alone: its own best cell, as in the full vote
            (one,) = vote_assets(ix, q, every, [top[2]], max_candidates=5)
            assert vars(one) == vars(full[2])


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_shortlisted_sweep_reports_what_the_full_sweep_reports(
    index, songs, case, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """With SHORTLIST the sweep's full vote covers only the probe's and the identity
    pass's assets: the reported match (asset, timecode, votes, score) is the one the
    catalog-wide vote on the probe's hypotheses reports."""
    from tonearm.recognition import service

    _, k, start, make, _ = case
    peaks = query_peaks(make(songs[k], start))
    got = {}
    for on in (False, True):
        monkeypatch.setattr(service, "SHORTLIST", on)
        got[on] = match_peaks(index, peaks, top_k=1)
    assert got[True] and got[True][0].asset_id == f"song{k}"
    assert got[True] == got[False]


def test_rarest_hashes_take_each_hypothesis_rarest_first_within_the_budget() -> None:
    """Per hypothesis: fewest postings first, stopped by the share of the hashes that have
    postings (absent ones cost nothing and are kept) and by the budget."""
    from tonearm.recognition.match import rarest_hashes

    per_hash = np.array([50, 1, 7, 0, 30, 0, 2, 9, 400, 3])
    hyp = np.array([0, 0, 0, 0, 0, 0, 3, 3, 3, 3])
    assert rarest_hashes(per_hash, hyp).all()
    # half of hypothesis 0's four hashes with postings (1, 7) and its two absent ones;
    # half of hypothesis 3's four (2, 3)
    keep = rarest_hashes(per_hash, hyp, share=0.5)
    assert np.flatnonzero(keep).tolist() == [1, 2, 3, 5, 6, 9]
    # a budget of 10: hypothesis 0 takes 0, 0, 1, 7 (8 postings), not 30; hypothesis 3
    # takes 2, 3 (5), not 9 (14)
    keep = rarest_hashes(per_hash, hyp, budget=10)
    assert np.flatnonzero(keep).tolist() == [1, 2, 3, 5, 6, 9]
    keep = rarest_hashes(per_hash, hyp, share=0.25, budget=10)
    assert np.flatnonzero(keep).tolist() == [1, 3, 5, 6]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_budgeted_passes_find_degraded_excerpts(index, songs, case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """With postings budgets that let the identity pass and the probe read only a small
    part of what they would (the rarest hashes), the song is still found at its timecode
    and speed among the distractors, and the probe reads no more than its budget."""
    from tonearm.recognition import service

    _, k, start, make, speed = case
    peaks = query_peaks(make(songs[k], start))
    every = list(range(len(HYPOTHESES)))
    _, _, probe_all = vote(index, peaks, every)
    budget = 60  # postings per hypothesis
    _, _, probe_budgeted = vote(index, peaks, every, budget=budget)
    assert probe_budgeted <= budget * len(HYPOTHESES) < probe_all / 8
    monkeypatch.setattr(service, "PROBE_STRIDE", 1)
    monkeypatch.setattr(service, "PROBE_BUDGET", budget)
    monkeypatch.setattr(service, "IDENTITY_BUDGET", 4 * budget)
    m = match_peaks(index, peaks)
    assert m and m[0].asset_id == f"song{k}"
    assert abs(m[0].offset_s - start) <= 0.5
    assert m[0].speed == pytest.approx(speed, abs=0.011)


def test_query_hashes_are_computed_once_per_query(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A query's passes hash the same hypotheses again: the hashes are kept for the last
    query only (a new peaks object is hashed afresh)."""
    from tonearm.recognition import match

    song = random_song(7, 12.0)
    p1 = query_peaks(song)
    p2 = query_peaks(song)
    calls = []
    real = fp.pair_hashes

    def spy(*a, **k):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(fp, "pair_hashes", spy)
    a = match._hash_hypotheses(p1, [0, 3], fp.QUERY_FAN_OUT)
    b = match._hash_hypotheses(p1, [0, 3], fp.QUERY_FAN_OUT, anchor_stride=5)
    assert len(calls) == 2
    c = match._hash_hypotheses(p2, [0, 3], fp.QUERY_FAN_OUT)
    assert len(calls) == 4
    for x, y in zip(a, c, strict=True):
        assert np.array_equal(x, y)
    keep = a[1] % 5 == 0
    assert np.array_equal(b[0], a[0][keep]) and np.array_equal(b[1], a[1][keep])


def test_rarest_hashes_same_selection_whether_hypotheses_are_runs_or_interleaved() -> None:
    """The per-run (compiled) path picks exactly what the general path picks (distinct
    counts: among equal ones either path keeps the earlier hash)."""
    from tonearm.recognition.match import rarest_hashes

    rng = np.random.default_rng(5)
    per_hash = rng.permutation(300) * (rng.random(300) < 0.7)
    hyp = np.repeat(np.arange(6), 50)  # one run per hypothesis
    perm = rng.permutation(300)  # the same hashes interleaved: general path
    for share, budget in ((1.0, 600), (0.2, 0), (0.5, 900), (0.05, 0)):
        runs = rarest_hashes(per_hash, hyp, share, budget)
        mixed = rarest_hashes(per_hash[perm], hyp[perm], share, budget)
        assert np.array_equal(runs[perm], mixed)
        assert 0 < runs.sum() < len(runs)


def _identity_tries(index, peaks, monkeypatch, *, early: bool, long_lists: bool):  # type: ignore[no-untyped-def]
    """The match and the identity pass's stats, with the early tenth on or off and the
    catalog's mean posting list counted as long or short (the test catalog is small, so
    the threshold is set at its own mean, either side)."""
    from tonearm.recognition import service

    mean_list = index.n_keys / (1 << fp.HASH_BITS)
    monkeypatch.setattr(service, "EARLY_MIN_LIST", mean_list if long_lists else mean_list * 1.01)
    monkeypatch.setattr(service, "IDENTITY_EARLY", 0.1 if early else 0.0)
    m = match_peaks(index, peaks)
    stats = service.last_identity_stats()
    assert stats is not None
    return m, stats


def test_identity_pass_settles_a_clean_excerpt_on_its_rarest_tenth(
    index, songs, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """On a catalog with long posting lists a clean excerpt is a clear identity hit from
    the leaders of its rarest tenth of hashes: the rarer-half pass is not run, far fewer
    postings are read, and the match is the one the rarer half gives."""
    from tonearm.recognition import service

    sr = songs[1].sr
    peaks = query_peaks(Signal(songs[1].samples[:, 5 * sr : 15 * sr], sr))
    ref, ref_stats = _identity_tries(index, peaks, monkeypatch, early=False, long_lists=True)
    got, stats = _identity_tries(index, peaks, monkeypatch, early=True, long_lists=True)
    assert ref and ref[0].asset_id == "song1" and abs(ref[0].offset_s - 5.0) <= 0.1
    assert got == ref
    assert ref_stats.shares == [service.IDENTITY_RAREST] and ref_stats.settled
    assert stats.shares == [0.1] and stats.settled
    assert 0 < stats.postings < ref_stats.postings / 3


@pytest.mark.parametrize("case", CASES[:2], ids=[c[0] for c in CASES[:2]])
def test_identity_tenth_falls_back_to_the_rarer_half(index, songs, case, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A speed-shifted excerpt is no clear identity hit on the tenth: the rarer half is
    tried next and the sweep gives the answer main's path gives; under the catalog-size
    threshold only the rarer half is tried."""
    from tonearm.recognition import service

    _, k, start, make, _ = case
    peaks = query_peaks(make(songs[k], start))
    ref, ref_stats = _identity_tries(index, peaks, monkeypatch, early=False, long_lists=True)
    got, stats = _identity_tries(index, peaks, monkeypatch, early=True, long_lists=True)
    small, small_stats = _identity_tries(index, peaks, monkeypatch, early=True, long_lists=False)
    assert ref and ref[0].asset_id == f"song{k}"
    assert got == ref and small == ref
    assert stats.shares == [0.1, service.IDENTITY_RAREST] and not stats.settled
    assert small_stats.shares == ref_stats.shares == [service.IDENTITY_RAREST]
    assert small_stats.postings == ref_stats.postings


def test_kept_vote_buffers_stay_within_one_budget_for_all_threads(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A server runs queries on many threads: each keeps its vote buffer only while the
    buffers all threads keep fit one budget; past it a vote gets a fresh buffer of the right
    size, and a thread's ending gives its share back."""
    import threading

    from tonearm.recognition import match

    monkeypatch.setattr(match, "SCRATCH_KEEP_HITS", 1 << 18)
    monkeypatch.setattr(match, "SCRATCH_KEEP_BYTES", 3 * 8 * (1 << 18))
    before = match.kept_scratch_bytes()
    got: list[tuple[int, bool]] = []
    go = threading.Barrier(6)
    done = threading.Event()

    def query() -> None:
        go.wait()
        v = match._scratch_vals(200_000)
        v[:] = 1  # usable whole
        got.append((len(v), np.shares_memory(v, getattr(match._scratch, "vals", np.empty(0)))))
        done.wait()

    threads = [threading.Thread(target=query, daemon=True) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        for _ in range(3000):
            if len(got) == 6:
                break
            threading.Event().wait(0.01)
        assert len(got) == 6
        assert all(n == 200_000 for n, _ in got)
        assert sum(kept for _, kept in got) == 3  # three fit the budget, three did not keep
        assert match.kept_scratch_bytes() - before <= match.SCRATCH_KEEP_BYTES
    finally:
        done.set()
        for t in threads:
            t.join(timeout=10)
    import gc

    gc.collect()
    assert match.kept_scratch_bytes() == before  # the ended threads' buffers are given back
