"""The embedded index's layout: timeline postings, segments, compaction, persistence.

Every lookup must return exactly the (asset, frame) postings of the live assets, whatever
mix of compacted and recent assets, deletions and reloads led there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tonearm.recognition import fingerprint as fp
from tonearm.recognition.index import LUT_SHIFT, FingerprintIndex


def _asset(seed: int, n: int = 400, span: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Hashes drawn from a small pool (so assets share hashes) and anchor frames."""
    rng = np.random.default_rng(seed)
    h = rng.integers(0, 64, n).astype(np.uint32) * 977 % (1 << fp.HASH_BITS)
    t = np.sort(rng.integers(0, span, n)).astype(np.int32)
    return h.astype(np.uint32), t


def _expected(live: dict[str, tuple[np.ndarray, np.ndarray]], q: np.ndarray) -> list:
    out = []
    for i, hq in enumerate(q.tolist()):
        for aid, (h, t) in live.items():
            out += [(i, aid, int(f)) for f in t[h == hq].tolist()]
    return sorted(out)


def _seen(ix: FingerprintIndex, q: np.ndarray) -> list:
    owner, asset, frame = ix.lookup(q)
    ids = ix.asset_ids
    return sorted(
        (int(o), ids[a], int(f))
        for o, a, f in zip(owner.tolist(), asset.tolist(), frame.tolist(), strict=True)
    )


def test_postings_survive_adds_deletes_compactions_and_reloads(tmp_path: Path) -> None:
    q = (np.arange(64, dtype=np.uint32) * 977 % (1 << fp.HASH_BITS)).astype(np.uint32)
    ix = FingerprintIndex(tmp_path)
    live: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    # short assets (a few frames: several per lookup-table block) next to long ones
    spans = [3000, 5, 2, 40_000, 1, 700, 3 << LUT_SHIFT, 9]
    for k, span in enumerate(spans):
        live[f"a{k}"] = _asset(k, n=max(2, min(400, span)), span=span)
        ix.add(f"a{k}", *live[f"a{k}"])
    assert _seen(ix, q) == _expected(live, q)  # segments only
    ix.compact()
    assert _seen(ix, q) == _expected(live, q)  # compacted
    for gone in ("a1", "a3"):  # tombstones in the compacted part ...
        ix.remove(gone)
        del live[gone]
    live["b0"] = _asset(100)
    ix.add("b0", *live["b0"])
    live["b1"] = _asset(101, span=50)
    ix.add("b1", *live["b1"])
    ix.remove("b0")  # ... and in a segment
    del live["b0"]
    live["a5"] = _asset(105)  # a replacement goes to a segment
    ix.add("a5", *live["a5"])
    assert _seen(ix, q) == _expected(live, q)
    reloaded = FingerprintIndex.load(tmp_path)
    assert reloaded is not None and _seen(reloaded, q) == _expected(live, q)
    ix.compact()
    assert len(ix.asset_ids) == len(live)  # renumbered densely
    assert _seen(ix, q) == _expected(live, q)
    reloaded = FingerprintIndex.load(tmp_path)
    assert reloaded is not None and _seen(reloaded, q) == _expected(live, q)
    # postings take 4 bytes each once compacted
    assert reloaded.main.dtype == np.uint32 and len(reloaded.main) == ix.n_keys


def test_bulk_build_equals_adds() -> None:
    q = (np.arange(64, dtype=np.uint32) * 977 % (1 << fp.HASH_BITS)).astype(np.uint32)
    items = [(f"a{k}", *_asset(k, span=100 + 900 * k)) for k in range(6)]
    built = FingerprintIndex.build(items)
    added = FingerprintIndex()
    for aid, h, t in items:
        added.add(aid, h, t)
    assert _seen(built, q) == _seen(added, q) != []


def test_index_of_another_layout_is_rebuilt(tmp_path: Path) -> None:
    ix = FingerprintIndex(tmp_path)
    ix.add("a", *_asset(1))
    ix.compact()
    m = (tmp_path / "manifest.json").read_text().replace('"layout": 2', '"layout": 1')
    (tmp_path / "manifest.json").write_text(m)
    assert FingerprintIndex.load(tmp_path) is None


def test_spilled_build_equals_in_memory_build(tmp_path: Path) -> None:
    """The low-memory bulk build (postings spilled to files, placed in one pass) gives
    the very arrays of the in-memory build, frames past MAX_FRAME and empty assets
    included, and the files are gone afterwards."""
    from tonearm.recognition.index import MAX_FRAME

    items = [(f"a{k}", *_asset(k, span=100 + 900 * k)) for k in range(6)]
    items.insert(2, ("empty", np.zeros(0, np.uint32), np.zeros(0, np.int32)))
    long_h, long_t = _asset(9, span=MAX_FRAME + 5000)
    items.append(("long", long_h, long_t))
    mem = FingerprintIndex.build(items)
    spilled = FingerprintIndex.build(items, spill_dir=tmp_path / "spill")
    for name in ("main", "starts", "base", "lut"):
        a, b = getattr(mem, name), getattr(spilled, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert spilled.asset_ids == mem.asset_ids and spilled.span_frames == mem.span_frames
    assert spilled.n_main_assets == mem.n_main_assets == len(items)
    assert list((tmp_path / "spill").iterdir()) == []
    q = (np.arange(64, dtype=np.uint32) * 977 % (1 << fp.HASH_BITS)).astype(np.uint32)
    assert _seen(spilled, q) == _seen(mem, q) != []
