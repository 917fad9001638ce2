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
    included, and only the postings array (memory-mapped) is left in the spill directory."""
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
    assert [f.name for f in (tmp_path / "spill").iterdir()] == ["main.npy"]
    q = (np.arange(64, dtype=np.uint32) * 977 % (1 << fp.HASH_BITS)).astype(np.uint32)
    assert _seen(spilled, q) == _seen(mem, q) != []


def test_adds_and_removes_are_journaled_not_rewritten(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Adding an asset appends a line to the journal instead of rewriting the whole
    manifest (which made per-file ingest of a large catalog quadratic); the manifest is
    rewritten once the journal holds a share of the assets. A reload (journal replayed)
    sees exactly the live assets, and another process's changes are noticed."""
    from tonearm.recognition import index as ixm

    monkeypatch.setattr(ixm, "JOURNAL_MIN", 16)
    writes = []
    real = FingerprintIndex._save_manifest

    def counting(self: FingerprintIndex) -> None:
        writes.append(len(self.asset_ids))
        real(self)

    monkeypatch.setattr(FingerprintIndex, "_save_manifest", counting)
    ix = FingerprintIndex(tmp_path)
    live = {}
    for k in range(60):
        ix.add(f"a{k}", *_asset(k))
        live[f"a{k}"] = _asset(k)
    assert len(writes) <= 4  # the first add, then every 16th (> 1/8 of the assets)
    reader = FingerprintIndex.load(tmp_path)
    assert reader is not None and not reader.changed_on_disk()
    for k in (3, 41, 59):
        ix.remove(f"a{k}")
        live.pop(f"a{k}")
    ix.add("a3", *_asset(103))  # replaced
    live["a3"] = _asset(103)
    assert reader.changed_on_disk()
    q = (np.arange(64, dtype=np.uint32) * 977 % (1 << fp.HASH_BITS)).astype(np.uint32)
    again = FingerprintIndex.load(tmp_path)
    assert again is not None
    assert sorted(again.idx_of) == sorted(live)
    assert _seen(again, q) == _seen(ix, q) == _expected(live, q)


def test_a_journal_line_torn_by_a_crash_loses_only_that_change(tmp_path: Path) -> None:
    """A crash in the middle of writing a journal line: on reload that change is absent,
    every change before it and every change written after the restart are there."""
    ix = FingerprintIndex(tmp_path)
    for k in range(5):
        ix.add(f"a{k}", *_asset(k))
    journal = tmp_path / f"journal-{ix.generation}.jsonl"
    text = journal.read_text()
    journal.write_text(text[: len(text) - 9])  # a4's line, cut short
    back = FingerprintIndex.load(tmp_path)
    assert back is not None and sorted(back.idx_of) == ["a0", "a1", "a2", "a3"]
    back.add("b", *_asset(50))
    back.remove("a1")
    again = FingerprintIndex.load(tmp_path)
    assert again is not None and sorted(again.idx_of) == ["a0", "a2", "a3", "b"]
    q = (np.arange(64, dtype=np.uint32) * 977 % (1 << fp.HASH_BITS)).astype(np.uint32)
    live = {a: _asset(k) for a, k in (("a0", 0), ("a2", 2), ("a3", 3), ("b", 50))}
    assert _seen(again, q) == _expected(live, q)


def test_a_stale_journal_of_a_replaced_index_is_ignored(tmp_path: Path) -> None:
    """The journal of the generation a new index's manifest starts at, left by an index
    of another version or layout it replaced, is not replayed into it."""
    (tmp_path / "journal-1.jsonl").write_text(
        '\n{"op": "add", "idx": 1, "id": "ghost", "n": 1, "span": 1, "seg": "seg-1.npy"}'
    )
    np.save(tmp_path / "seg-1.npy", np.zeros(1, np.uint64))
    ix = FingerprintIndex(tmp_path)
    ix.add("a0", *_asset(0))
    ix.add("a1", *_asset(1))
    back = FingerprintIndex.load(tmp_path)
    assert back is not None and sorted(back.idx_of) == ["a0", "a1"]
