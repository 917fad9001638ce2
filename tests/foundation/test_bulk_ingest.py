"""Bulk ingest: the same catalog as the sequential ingest, a pool that survives bad files,
resumable after a kill, the model batched across files without changing a vector."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tonearm.catalog.bulk import bulk_ingest
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_paths
from tonearm.catalog.pool import TaskFailed, WorkerPool
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal
from tonearm.demo.synth import SongSpec, render_sfx, render_song
from tonearm.settings import Settings
from tonearm.storage.blobs import catalog_blobs


def _clip(freq: float, seconds: float = 1.0, sr: int = 22050) -> Signal:
    t = np.arange(int(seconds * sr)) / sr
    return Signal(0.3 * np.sin(2 * np.pi * freq * t) * np.exp(-2 * t), sr)


def snapshot(catalog: Catalog) -> dict[str, Any]:
    """Everything an ingest wrote, keyed by content hash (ids and timestamps left out)."""
    out: dict[str, Any] = {}
    for a in catalog.store.list_assets():
        fields = {
            k: v for k, v in a.__dict__.items() if k not in ("asset_id", "created_at", "updated_at")
        }
        rows = catalog.store.execute(
            "SELECT name, version, data, blob FROM analyses WHERE asset_id = ? ORDER BY name",
            (a.asset_id,),
        )
        analyses = {
            r["name"]: (r["version"], r["data"], None if r["blob"] is None else bytes(r["blob"]))
            for r in rows
        }
        if catalog.settings.keep_originals:  # the original is in the store
            assert catalog_blobs(catalog).get(a.file_path)
        out[a.content_hash] = (fields, analyses)
    return out


def assert_same_catalog(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal snapshots; embedding vectors equal up to float rounding (the workers run
    BLAS on one thread, so sums may be ordered differently than in a multi-threaded
    process: ~1e-8)."""
    assert a.keys() == b.keys()
    for h in a:
        (fa, an_a), (fb, an_b) = a[h], b[h]
        assert fa == fb
        assert an_a.keys() == an_b.keys()
        for name in an_a:
            (va, da, ba), (vb, db, bb) = an_a[name], an_b[name]
            assert (va, da) == (vb, db), name
            if name == "embedding":
                assert np.allclose(
                    np.frombuffer(ba, "<f4"), np.frombuffer(bb, "<f4"), rtol=0, atol=1e-6
                )
            else:
                assert ba == bb, name


def fresh_catalog(root: Path, name: str) -> Catalog:
    s = Settings(data=root / name)
    s.ensure_dirs()
    return Catalog.open(s)


@pytest.fixture
def sfx_folder(tmp_path: Path) -> Path:
    d = tmp_path / "sfx"
    (d / "sub").mkdir(parents=True)
    (d / "a.wav").write_bytes(encode(_clip(300), "wav"))
    (d / "sub" / "b.flac").write_bytes(encode(_clip(500, 2.5), "flac"))
    (d / "c.ogg").write_bytes(encode(render_sfx("IMPACTS", seed=1, sr=44100), "ogg"))
    (d / "same-as-a.wav").write_bytes((d / "a.wav").read_bytes())
    (d / "broken.mp3").write_bytes(b"ID3" + b"\x00" * 20 + b"garbage" * 10)
    (d / "empty.wav").write_bytes(b"")
    return d


# -- the pool ------------------------------------------------------------------------------
def test_pool_survives_errors_crashes_and_hangs() -> None:
    # the limit includes a replacement worker's start, which takes ~20 s on a loaded machine
    with WorkerPool[str](2, timeout_s=60.0) as pool:
        pids = set()
        got = dict(
            pool.map_unordered(
                # stdlib functions so the workers need nothing from this test module
                _dispatch,
                [
                    ("ok", ("pid",)),
                    ("error", ("int", "not a number")),
                    ("crash", ("exit",)),
                    ("hang", ("sleep", 600)),
                    ("after", ("pid",)),
                ],
            )
        )
        assert isinstance(got["ok"], int) and isinstance(got["after"], int)
        pids = {got["ok"], got["after"]}
        assert all(p != os.getpid() for p in pids)
        err, crash, hang = got["error"], got["crash"], got["hang"]
        assert isinstance(err, TaskFailed) and err.kind == "ValueError"
        assert "not a number" in err.message
        assert isinstance(crash, TaskFailed) and crash.kind == "crashed"
        assert isinstance(hang, TaskFailed) and hang.kind == "timeout"
        assert pool.size == 2 and pool.idle == 2  # dead and hung workers were replaced


def test_pool_workers_are_long_lived() -> None:
    with WorkerPool[int](1) as pool:
        pids = {r for _, r in pool.map_unordered(_dispatch, [(i, ("pid",)) for i in range(6)])}
    assert len(pids) == 1


def _dispatch(what: str, *args: Any) -> Any:
    # resolved in the worker by name: this module is importable there (pytest's sys.path)
    if what == "pid":
        return os.getpid()
    if what == "int":
        return int(args[0])
    if what == "exit":
        os._exit(3)
    if what == "sleep":
        time.sleep(float(args[0]))
    return None


# -- bulk vs sequential ----------------------------------------------------------------------
def test_bulk_equals_sequential_sfx(tmp_path: Path, sfx_folder: Path) -> None:
    seq = fresh_catalog(tmp_path, "seq")
    s1 = ingest_paths(seq, [sfx_folder], kind="sfx")
    for batch in (True, False):
        cat = fresh_catalog(tmp_path, f"bulk-{batch}")
        s2 = bulk_ingest(cat, [sfx_folder], kind="sfx", workers=2, batch_models=batch)
        assert_same_catalog(snapshot(cat), snapshot(seq))
        assert len(s2.added) == len(s1.added) == 3
        assert {Path(f.path).name for f in s2.failed} == {"broken.mp3", "empty.wav"}
        assert all(f.reason for f in s2.failed)
        assert s2.seconds_of_audio == pytest.approx(s1.seconds_of_audio)
        # a rerun reads nothing it has already: every file is skipped
        s3 = bulk_ingest(cat, [sfx_folder], kind="sfx", workers=1, batch_models=batch)
        assert not s3.added and len(s3.skipped) == 4


def test_bulk_equals_sequential_music(tmp_path: Path) -> None:
    d = tmp_path / "music"
    d.mkdir()
    for i, (style, bpm) in enumerate([("rock", 120), ("edm", 128), ("jazz", 150)]):
        song, _, _ = render_song(SongSpec(style=style, bpm=bpm, bars=6, seed=i), sr=22050)
        (d / f"{style}.flac").write_bytes(encode(song, "flac"))
    seq = fresh_catalog(tmp_path, "seq")
    ingest_paths(seq, [d], kind="music")
    cat = fresh_catalog(tmp_path, "bulk")
    s = bulk_ingest(cat, [d], kind="music", workers=2)
    assert len(s.added) == 3 and not s.failed
    assert_same_catalog(snapshot(cat), snapshot(seq))
    names = {r[0] for r in cat.store.execute("SELECT DISTINCT name FROM analyses")}
    assert {"fingerprint", "beats", "embedding", "mir", "search_text"} <= names


def test_fingerprint_only_bulk_decodes_straight_to_the_fingerprint_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprint-only: the worker decodes to mono 8 kHz (no full-rate copy); the catalog
    (fields: duration, rate, channels; fingerprints) equals the sequential ingest's."""
    from tonearm.catalog import bulk

    d = tmp_path / "fp"
    d.mkdir()
    rng = np.random.default_rng(2)
    for name, sr, ch, fmt, n in [
        ("stereo44", 44100, 2, "ogg", 44100 * 3 + 37),
        ("mono22", 22050, 1, "flac", 22050 * 2 + 11),
        ("six48", 48000, 6, "wav", 48000 * 2 + 5),
        ("stereo32", 32000, 2, "mp3", 32000 * 3),
    ]:
        t = np.arange(n) / sr
        y = 0.3 * np.sin(2 * np.pi * (200 + 300 * t)[None, :] * t) + 0.05 * rng.standard_normal(
            (ch, n)
        )
        (d / f"{name}.{fmt}").write_bytes(encode(Signal(y.astype(np.float32), sr), fmt))
    real = Path("/usr/share/games/frozen-bubble/snd/frozen-mainzik-1p.ogg")  # fb-music-high
    if real.exists():
        (d / real.name).write_bytes(real.read_bytes())
    assert bulk._common_mono_rate(bulk.select_analyzers(["fingerprint"])) == 8000
    assert bulk._common_mono_rate(bulk.select_analyzers(["fingerprint", "mir"])) is None
    seq = fresh_catalog(tmp_path, "seq")
    ingest_paths(seq, [d], kind="music", analyses=["fingerprint"])
    cat = fresh_catalog(tmp_path, "bulk")
    s = bulk_ingest(cat, [d], kind="music", analyses=["fingerprint"], workers=1)
    assert len(s.added) == (5 if real.exists() else 4) and not s.failed
    assert_same_catalog(snapshot(cat), snapshot(seq))
    # and in process, against the full-rate path of the same worker code
    task = bulk.FileTask(
        str(d / "six48.wav"),
        bulk.file_hash(d / "six48.wav"),
        "music",
        str(tmp_path),
        bulk.audio_limits(Settings()).catalog_file,
        keep_original=False,
    )
    bulk.init_worker(["fingerprint"], None)
    fast = bulk.prepare_file(task)
    monkeypatch.setattr(bulk, "_common_mono_rate", lambda analyzers: None)
    slow = bulk.prepare_file(task)
    assert fast.fields == slow.fields and fast.fields["channels"] == 6
    assert [(n, r.data, r.blob) for n, r in fast.results] == [
        (n, r.data, r.blob) for n, r in slow.results
    ]


# -- resumable ----------------------------------------------------------------------------
RUN = """
import sys
from pathlib import Path
from tonearm.catalog.bulk import bulk_ingest
from tonearm.catalog.context import Catalog
from tonearm.settings import Settings

if __name__ == "__main__":
    s = Settings(data=Path(sys.argv[1])); s.ensure_dirs()
    c = Catalog.open(s)
    summary = bulk_ingest(c, [sys.argv[2]], kind="sfx", analyses=["fingerprint", "mir"],
                          workers=2)
    print("interrupted" if summary.interrupted else "done", len(summary.added), flush=True)
"""


def _count(data: Path) -> int:
    db = data / "tonearm.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return int(con.execute("SELECT COUNT(*) FROM assets").fetchone()[0])
    except sqlite3.OperationalError:  # not migrated yet
        return 0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_ingest_resumes_to_the_clean_catalog(tmp_path: Path, sig: signal.Signals) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    n = 40
    for i in range(n):
        (folder / f"clip{i:02d}.wav").write_bytes(encode(_clip(200 + 37 * i, 2.0), "wav"))
    script = tmp_path / "run.py"
    script.write_text(RUN)
    data = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen(
        [sys.executable, str(script), str(data), str(folder)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while _count(data) < 1 and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    at_kill = _count(data)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert 1 <= at_kill < n, "the ingest must be stopped midway"
    if sig == signal.SIGINT:  # Ctrl-C: stops cleanly, says so
        assert p.returncode == 0 and out.startswith("interrupted"), err
    after_kill = _count(data)
    assert after_kill < n
    # rerun: finishes the rest
    r = subprocess.run(
        [sys.executable, str(script), str(data), str(folder)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0 and r.stdout.split() == ["done", str(n - after_kill)], r.stderr
    resumed = Catalog.open(Settings(data=data))
    clean = fresh_catalog(tmp_path, "clean")
    bulk_ingest(clean, [folder], kind="sfx", analyses=["fingerprint", "mir"], workers=2)
    a, b = snapshot(resumed), snapshot(clean)
    assert len(a) == n and a.keys() == b.keys()
    for h in a:  # same rows and analyses (an interrupted run may leave a stored original
        assert a[h] == b[h]  # behind; it is reused, never duplicated)
    hashes = [r[0] for r in resumed.store.execute("SELECT content_hash FROM assets")]
    assert len(hashes) == len(set(hashes)) == n
    leftovers = list((data / "files").rglob(".tmp-*"))
    assert not leftovers or sig == signal.SIGKILL  # only a hard kill can leave a temp file


# -- spread over the job queue, and the CLI -------------------------------------------------
def test_queue_batches_equal_sequential(tmp_path: Path, sfx_folder: Path) -> None:
    from tonearm.jobs.ingest_batch import files_with_metadata, submit_batches, wait_batches

    seq = fresh_catalog(tmp_path, "seq")
    ingest_paths(seq, [sfx_folder], kind="sfx")
    cat = fresh_catalog(tmp_path, "queued")
    files = files_with_metadata([sfx_folder])
    ids = submit_batches(cat, files, kind="sfx", analyses=None, batch_files=2)
    assert len(ids) == 3  # 6 files, 2 per job
    summary = wait_batches(cat, ids, files, batch_files=2)  # embedded queue: runs them here
    assert len(summary.added) == 3 and len(summary.skipped) == 1
    assert {Path(f.path).name for f in summary.failed} == {"broken.mp3", "empty.wav"}
    assert_same_catalog(snapshot(cat), snapshot(seq))


@pytest.mark.parametrize("keep", [True, False])
def test_queue_through_the_blob_store_needs_no_shared_disk(
    tmp_path: Path, sfx_folder: Path, keep: bool
) -> None:
    """A blob store that is not the data directory: the files are uploaded at submit time
    and the jobs read them from there after the folder is gone (nothing reads the paths),
    giving the sequential catalog; uploads no asset keeps are removed."""
    from tonearm.jobs.ingest_batch import files_with_metadata, submit_batches, wait_batches

    def node(name: str, blobs: str) -> Catalog:
        s = Settings(data=tmp_path / name, blob_url=str(tmp_path / blobs), keep_originals=keep)
        s.ensure_dirs()
        return Catalog.open(s)

    seq = node("seq", "seq-blobs")
    ingest_paths(seq, [sfx_folder], kind="sfx")
    queued = node("queued", "blobs")
    files = files_with_metadata([sfx_folder])
    ids = submit_batches(queued, files, kind="sfx", analyses=None, batch_files=2)
    uploaded = sorted(p for p in (tmp_path / "blobs").rglob("*") if p.is_file())
    assert len(uploaded) == 5  # a, b, c, broken, empty (same-as-a is a's content)
    for f in sorted(sfx_folder.rglob("*"), reverse=True):  # no shared disk from here on
        f.unlink() if f.is_file() else f.rmdir()
    summary = wait_batches(queued, ids, files, batch_files=2)
    assert len(summary.added) == 3 and len(summary.skipped) == 1
    assert {Path(f.path).name for f in summary.failed} == {"broken.mp3", "empty.wav"}
    assert_same_catalog(snapshot(queued), snapshot(seq))
    left = sorted(str(p.relative_to(tmp_path / "blobs")) for p in (tmp_path / "blobs").rglob("*"))
    kept = sorted(a.file_path for a in queued.store.list_assets() if a.file_path)
    assert [p for p in left if (tmp_path / "blobs" / p).is_file()] == kept
    assert len(kept) == (3 if keep else 0)
    for c in (seq, queued):
        c.close()


def test_cli_ingest_workers_queue_and_device(tmp_path: Path, sfx_folder: Path) -> None:
    import json

    from typer.testing import CliRunner

    from tonearm.cli import _register, app

    _register()

    runner = CliRunner()
    base = ["ingest", "--kind", "sfx", "--analyses", "fingerprint,mir", "--json"]
    r = runner.invoke(
        app, [*base, str(sfx_folder), "--workers", "2", "--data", str(tmp_path / "a")]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout[r.stdout.index("{") :])
    assert got["added"] == 3 and got["skipped"] == 1 and len(got["failed"]) == 2
    assert sum(got["failed_by_reason"].values()) == 2 and not got["interrupted"]
    manifest = tmp_path / "list.txt"
    manifest.write_text(
        "# files\n" + "\n".join(str(p) for p in sorted(sfx_folder.rglob("*")) if p.is_file())
    )
    r = runner.invoke(
        app, [*base, "--queue", "--manifest", str(manifest), "--data", str(tmp_path / "b")]
    )
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout[r.stdout.index("{") :])
    assert got["added"] == 3 and got["skipped"] == 1 and len(got["failed"]) == 2
    a = fresh_catalog(tmp_path, "a")
    b = fresh_catalog(tmp_path, "b")
    assert snapshot(a) == snapshot(b)
    r = runner.invoke(app, [*base, str(sfx_folder), "--device", "tpu9"])
    assert r.exit_code == 2 and "device" in r.output


def test_model_batched_across_files_gives_each_files_vector() -> None:
    from tonearm.core.embeddings.aisfx_model import (
        AisfxEmbedder,
        PendingEmbedding,
        aisfx_available,
        finish,
        run_windows,
    )
    from tonearm.core.embeddings.music import MusicEmbedder

    if not aisfx_available()[0]:
        pytest.skip("aisfx/torch not installed")
    song, _, _ = render_song(SongSpec(style="rock", bpm=120, bars=8, seed=3), sr=22050)
    shot = render_sfx("IMPACTS", seed=2, sr=44100)
    music, sfx = MusicEmbedder(), AisfxEmbedder()
    pm, ps = music.prepare(song), sfx.prepare(shot)
    assert isinstance(pm, PendingEmbedding) and isinstance(ps, PendingEmbedding)
    both = run_windows(np.concatenate([pm.windows, ps.windows]), batch=64)
    k = len(pm.windows)
    assert np.allclose(finish(pm, both[:k]), music.embed(song), atol=1e-6)
    assert np.allclose(finish(ps, both[k:]), sfx.embed(shot), atol=1e-6)
    # silence needs no model: prepare returns the finished (zero) vector
    silent = music.prepare(Signal(np.zeros(22050 * 3, dtype=np.float32), 22050))
    assert isinstance(silent, np.ndarray) and not silent.any()
