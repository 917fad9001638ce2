"""The speed/pitch-invariant triplet shortlist (recognition.triplets).

A catalog excerpt played faster, slower or transposed is settled by the shortlist's exact
vote without the tempo/pitch probe; every answer is the one the engine gives without the
shortlist; the shortlist is persisted with the compacted index and dropped when stale.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_engine_audio import random_song
from test_engine_voting import CASES, _build

from tonearm.core.audio.signal import Signal
from tonearm.recognition import fingerprint as fp
from tonearm.recognition import service
from tonearm.recognition import triplets as tp
from tonearm.recognition.index import FingerprintIndex
from tonearm.recognition.service import last_identity_stats, match_peaks, query_peaks


@pytest.fixture(scope="module")
def songs() -> list[Signal]:
    return [random_song(50 + seed, 40.0) for seed in range(4)]


@pytest.fixture(scope="module")
def indexes(songs: list[Signal]) -> tuple[FingerprintIndex, FingerprintIndex]:
    """(without the shortlist, with it): the same postings."""
    plain = _build(songs, compact=True)
    mp = pytest.MonkeyPatch()
    mp.setattr(tp, "ENABLED", True)
    try:
        with_triplets = _build(songs, compact=True)
    finally:
        mp.undo()
    assert plain.triplets is None and with_triplets.triplets is not None
    return plain, with_triplets


def _no_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_a: object, **_k: object) -> None:
        raise AssertionError("the probe ran")

    monkeypatch.setattr(service, "_probe", fail)


# the 9 s catalog excerpts whose speed or pitch differs (the 5 s one has no probe)
SWEEPING = [c for c in CASES if not c[0].startswith("short")]


@pytest.mark.parametrize("case", SWEEPING[:4], ids=[c[0] for c in SWEEPING[:4]])
def test_speed_or_pitch_changed_excerpt_settled_without_the_sweep(
    indexes, songs, case, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    _, k, start, make, speed = case
    _, ix = indexes
    _no_probe(monkeypatch)
    m = match_peaks(ix, query_peaks(make(songs[k], start)))
    stats = last_identity_stats()
    assert stats is not None and stats.triplet and not stats.settled
    assert stats.triplet_postings > 0
    assert m and m[0].asset_id == f"song{k}"
    assert abs(m[0].offset_s - start) <= 0.5
    assert m[0].speed == pytest.approx(speed, abs=0.011)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_same_answers_with_and_without_the_shortlist(indexes, songs, case) -> None:  # type: ignore[no-untyped-def]
    _, k, start, make, _ = case
    plain, ix = indexes
    peaks = query_peaks(make(songs[k], start))
    assert match_peaks(ix, peaks) == match_peaks(plain, peaks)
    assert not last_identity_stats().triplet  # type: ignore[union-attr]


def test_unknown_audio_is_not_settled_by_the_shortlist(indexes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plain, ix = indexes
    peaks = query_peaks(random_song(999, 12.0))
    assert match_peaks(ix, peaks) == match_peaks(plain, peaks) == []
    stats = last_identity_stats()
    assert stats is not None and not stats.triplet


def test_deleted_song_is_not_shortlisted(songs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tp, "ENABLED", True)
    ix = _build(songs, compact=True)
    _, k, start, make, _ = SWEEPING[0]
    peaks = query_peaks(make(songs[k], start))
    _, dead = ix.ranges(np.zeros(0, np.uint32))
    short, _ = tp.shortlist(ix.triplets, ix.base, ix.lut, dead, peaks)  # type: ignore[arg-type]
    assert short and ix.asset_ids[short[0].asset_idx] == f"song{k}"
    ix.remove(f"song{k}")
    _, dead = ix.ranges(np.zeros(0, np.uint32))
    short, _ = tp.shortlist(ix.triplets, ix.base, ix.lut, dead, peaks)  # type: ignore[arg-type]
    assert all(ix.asset_ids[s.asset_idx] != f"song{k}" for s in short)
    m = match_peaks(ix, peaks)
    assert not m or m[0].asset_id != f"song{k}"


def _peaks(seed: int, seconds: float = 20.0) -> fp.Peaks:
    return fp.signal_peaks(random_song(seed, seconds), fp.REF_DENSITY)


@pytest.mark.parametrize(("tempo", "bands"), [(1.0, 0), (1.04, 0), (1.0, 3), (0.97, -3)])
def test_reference_triplets_are_found_by_a_changed_query(tempo: float, bands: int) -> None:
    """Time differences scaled and bands shifted: the query's keys still hold most of the
    reference's (the key is invariant up to rounding and the cells the query widens)."""
    ref = _peaks(7)
    ref_keys, ref_pos = tp.ref_triplets_of_pairs(*fp.pair_hashes(ref, fan_out=fp.FAN_OUT))
    assert len(ref_keys) > 100
    q = fp.Peaks(
        np.rint(ref.t / tempo).astype(np.int32),
        (ref.f + bands).astype(np.float32),
        ref.strength,
        ref.n_frames,
    )
    keep = (q.f >= 1) & (q.f < fp.N_BANDS - 1)
    q = fp.Peaks(q.t[keep], q.f[keep], q.strength[keep], q.n_frames)
    q_keys, q_t = tp.query_keys(q)
    # a reference anchor is found when one of its query anchor's keys equals its key
    found = np.isin(
        ref_keys * 4096 + np.rint(ref_pos / tempo).astype(np.int64), q_keys * 4096 + q_t
    )
    assert found.mean() >= 0.5


def test_shortlist_persisted_with_the_index_and_dropped_when_stale(  # type: ignore[no-untyped-def]
    songs, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(tp, "ENABLED", True)
    ix = FingerprintIndex(tmp_path)
    for k, s in enumerate(songs[:2]):
        ix.add(f"song{k}", *fp.fingerprint(s))
    ix.compact()
    assert ix.triplets is not None
    got = FingerprintIndex.load(tmp_path)
    assert got is not None and got.triplets is not None
    assert np.array_equal(np.asarray(got.triplets.post), ix.triplets.post)
    assert np.array_equal(got.triplets.starts, ix.triplets.starts)
    # a manifest that does not describe the stored shortlist: no shortlist, same index
    mf = tmp_path / "manifest.json"
    m = json.loads(mf.read_text())
    m["triplets"]["n_post"] += 1
    mf.write_text(json.dumps(m))
    got = FingerprintIndex.load(tmp_path)
    assert got is not None and got.triplets is None and len(got) == 2
    # compacted with the shortlist off: its files go
    monkeypatch.setattr(tp, "ENABLED", False)
    ix.compact()
    assert ix.triplets is None and not (tmp_path / "triplet-post.npy").exists()
    got = FingerprintIndex.load(tmp_path)
    assert got is not None and got.triplets is None


def test_index_holds_every_reference_triplet_at_its_timeline_position(songs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Derived from the compacted pair postings (read back by timeline range, in several
    passes), the index finds each song's triplets, computed from its own pair hashes."""
    monkeypatch.setattr(tp, "DROP_SHARE", 0.0)
    ix = FingerprintIndex()
    pairs = {f"song{k}": fp.fingerprint(s) for k, s in enumerate(songs)}
    for aid, (h, t) in pairs.items():
        ix.add(aid, h, t)
    ix.compact()
    tix = tp.build(ix.main, ix.starts, int(ix.base[-1]), chunk_postings=1000)
    assert tix is not None
    for aid, (h, t) in pairs.items():
        keys, frames = tp.ref_triplets_of_pairs(h, t)
        base = int(ix.base[ix.idx_of[aid]])
        pos, q = tp._lookup(
            tix.starts, tix.post, tix.pos_bits, tix.check_bits, keys, np.arange(len(keys))
        )
        found = set(zip(q.tolist(), pos.tolist(), strict=True))
        assert all((i, base + int(f)) in found for i, f in enumerate(frames))
    assert len(tix.post) == sum(len(tp.ref_triplets_of_pairs(*p)[0]) for p in pairs.values())
