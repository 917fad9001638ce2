"""Bulk ingest at library scale: every core, models batched across files, resumable.

Same catalog as :func:`tonearm.catalog.ingest.ingest_paths` (same fields, analyses and
stored files), built differently:

- **Parent** (this process): lists the files, skips the ones already in the catalog
  *before* decoding them (same source path, size and a modification time older than the
  asset: no read at all; otherwise the SHA-256 content hash), hands new files to the pool,
  on an accelerator runs the embedding model over many files' windows at once
  (``batch_models``), and writes each asset with all its analyses in ONE transaction, then
  the analyzers' ``after_commit``.
- **Workers** (:class:`~tonearm.catalog.pool.WorkerPool`, long-lived processes, one task at
  a time, a time limit per file, a crash fails only its file): read the file, check its hash,
  store the original under ``files/`` (temp file + rename, named by the hash), decode it in
  process under the catalog-file limits, build one
  :class:`~tonearm.core.features.analysis_input.AnalysisInput` and run every analyzer on it
  (on the CPU each worker loads the embedding model once and runs it itself); with
  ``batch_models`` the embedding analyzer stops at the model's input windows
  (:meth:`prepare` of the embedders) and the parent finishes it.

Resumable: an interrupted run (Ctrl-C, kill, reboot) leaves whole assets or nothing (a
stored original without its row is reused by the next run); a rerun skips what is there.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tonearm.catalog.analyzers import AnalysisResult, Analyzer, select_analyzers
from tonearm.catalog.decoding import audio_limits
from tonearm.catalog.ingest import (
    KINDS,
    IngestOutcome,
    IngestSummary,
    iter_audio_files,
    original_key,
)
from tonearm.catalog.metadata import coerce, read_sidecar, read_tags
from tonearm.catalog.pool import TaskFailed, WorkerPool
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import DecodeLimits
from tonearm.storage.base import Analysis, DuplicateAsset
from tonearm.storage.blobs import catalog_blobs, is_data_dir

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.core.embeddings.aisfx_model import PendingEmbedding

EMBEDDING = "embedding"
BATCH_WINDOWS = 64  # model windows per forward pass over several files
MAX_BATCH_FILES = 64  # prepared files held for the model at most (bounded memory)
HASH_CHUNK = 1 << 20


def file_hash(path: str | Path) -> str:
    """SHA-256 of a file's bytes (the catalog's content hash), read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def check_device(device: str) -> None:
    """Raise ``ValueError`` unless ``device`` is "cpu" or an accelerator torch can use here."""
    if device == "cpu":
        return
    if not (device == "mps" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"device must be cpu, cuda, cuda:N or mps, got {device!r}")
    try:
        import torch
    except ImportError as e:
        raise ValueError(f"device {device!r} needs torch, which is not installed") from e
    ok = torch.backends.mps.is_available() if device == "mps" else torch.cuda.is_available()
    if not ok:
        raise ValueError(f"device {device!r} is not available on this machine")


def default_workers() -> int:
    """Worker processes by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


# -- worker side --------------------------------------------------------------------------
@dataclass(frozen=True)
class FileTask:
    """What a worker needs to prepare one file (picklable)."""

    path: str
    digest: str
    kind: str
    files_dir: str
    limits: DecodeLimits
    keep_original: bool = True  # False: catalog-only ingest, or the parent stores it
    source_path: str = ""  # recorded as the asset's source (default: the path, resolved)


@dataclass
class Prepared:
    """A file analysed by a worker, ready for the parent's transaction.

    Attributes
    ----------
    fields : dict
        Measured and tagged asset fields (before the user's metadata).
    results : list of (analyzer name, AnalysisResult)
    pending : PendingEmbedding, optional
        The embedding's model half, when the parent batches the model.
    stored : str
        Path of the stored original, relative to the data directory.
    """

    fields: dict[str, Any]
    results: list[tuple[str, AnalysisResult]]
    stored: str
    pending: PendingEmbedding | None = None


class FileChanged(Exception):
    """The file's bytes changed between the parent's hash and the worker's read."""


@dataclass
class _WorkerState:
    analyzers: list[Analyzer]
    embedder: Any  # the parent's embedder (unloaded copy) when the model is batched


_STATE: dict[str, _WorkerState] = {}


def init_worker(
    analyses: list[str] | None, embedders: dict[str, Any] | None, kind: str | None = None
) -> None:
    """Pool initializer: pick the analyzers once per worker (imports happen here) and,
    when the worker runs the embedding model itself, load it now (once per worker, before
    the first file's time limit starts)."""
    analyzers = select_analyzers(analyses)
    _STATE["w"] = _WorkerState(analyzers, embedders or {})
    # one BLAS/OpenMP thread per worker: the pool is the parallelism
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn/librosa
        pass
    if kind is not None and not embedders:
        for a in analyzers:
            if a.name == EMBEDDING and kind in a.kinds:
                model = a.batch_model(kind)  # type: ignore[attr-defined]
                with contextlib.suppress(Exception):  # no model: the analyzer says why
                    model.load()


def store_original(files_dir: Path, data: bytes, digest: str, suffix: str) -> Path:
    """Write the original bytes as ``files_dir/<hash[:2]>/<hash><suffix>`` (temp + rename;
    an existing file of that name, e.g. from an interrupted run, is kept)."""
    dest_dir = files_dir / digest[:2]
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{digest}{suffix.lower()}"
    if not dest.exists():
        fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return dest


def _common_mono_rate(analyzers: list[Analyzer]) -> int | None:
    """The one mono rate every analyzer reads (its ``mono_sr``), or None: decode the file
    at its own rate and channels."""
    rates = {getattr(a, "mono_sr", None) for a in analyzers}
    if len(rates) != 1:
        return None
    rate = rates.pop()
    return int(rate) if rate else None


def prepare_file(task: FileTask) -> Prepared:
    """Read, check, store, decode and analyse one file (runs in a worker).

    Raises
    ------
    AudioError, FileChanged, OSError, or an analyzer's exception (its name is prefixed).
    """
    from tonearm.core.audio.decode import check_source, decode
    from tonearm.core.audio.pcm import decode_inprocess
    from tonearm.core.audio.signal import Signal
    from tonearm.core.features.analysis_input import AnalysisInput
    from tonearm.core.features.onset import ANALYSIS_SR

    state = _STATE.get("w") or _WorkerState(select_analyzers(None), {})
    path = Path(task.path)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != task.digest:
        raise FileChanged("the file changed while it was being ingested")
    lim = task.limits
    check_source(data, lim.max_bytes)
    active = [a for a in state.analyzers if task.kind in a.kinds]
    mono_sr = _common_mono_rate(active)
    # the worker process is the isolation (the pool enforces the time limit)
    if mono_sr is None:
        signal = decode(data, max_duration_s=lim.max_duration_s, isolate=False)
        sr, channels, duration_s = signal.sr, signal.channels, signal.duration_s
        inp = AnalysisInput(signal)
    else:
        # e.g. fingerprint-only: decode straight to mono at its rate (the same samples as
        # the file's signal downmixed and resampled afterwards; no full-rate copy)
        info: dict[str, int] = {}
        samples, out_sr = decode_inprocess(data, lim.max_duration_s, True, mono_sr, info)
        sr, channels = info["sr"], info["channels"]
        duration_s = info["frames"] / sr
        inp = AnalysisInput(Signal(samples, out_sr), source_duration_s=duration_s)
    fields: dict[str, Any] = {
        "kind": task.kind,
        "name": path.stem,
        "duration": round(duration_s, 3),
        "content_hash": task.digest,
        "source_path": task.source_path or str(path.resolve()),
        "sample_rate": sr,
        "channels": channels,
    }
    fields.update(read_tags(path))
    results: list[tuple[str, AnalysisResult]] = []
    pending = None
    for a in active:
        try:
            embedder = state.embedder.get(task.kind) if a.name == EMBEDDING else None
            if embedder is not None:
                # the embedding analyzer's input: music at 22,050 Hz, sfx at its own rate
                sig = inp.at_rate(ANALYSIS_SR) if task.kind == "music" else inp.signal
                p = embedder.prepare(sig)
                if isinstance(p, np.ndarray):
                    results.append((a.name, a.result_for(p, embedder.model_id)))  # type: ignore[attr-defined]
                else:
                    pending = p
                continue
            results.append((a.name, a.analyze(inp, task.kind)))
        except AudioError as e:
            raise AudioError(e.reason, f"{a.name}: {e.message}") from e
        except Exception as e:
            raise RuntimeError(f"{a.name}: {type(e).__name__}: {e}") from e
    stored = ""
    if task.keep_original:
        dest = store_original(Path(task.files_dir), data, task.digest, path.suffix or ".bin")
        stored = str(dest.relative_to(Path(task.files_dir).parent))
    return Prepared(fields, results, stored, pending)


# -- parent side --------------------------------------------------------------------------
@dataclass
class _Item:
    path: Path
    root: Path
    label: str  # how outcomes name the file
    digest: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _known_sources(catalog: Catalog) -> dict[str, tuple[str, str, str]]:
    """source path -> (asset id, stored file, created_at) of every asset that has one."""
    return catalog.store.asset_sources()


def _unchanged(catalog: Catalog, f: Path, known: tuple[str, str, str]) -> bool:
    """Same size as the stored original and not modified since the asset was added (the
    quick check rsync makes): such a file is skipped without reading it."""
    _aid, stored, created_at = known
    try:
        st = f.stat()
        size = (catalog.data_dir / stored).stat().st_size
        created = datetime.fromisoformat(created_at.replace("Z", "+00:00")).timestamp()
    except (OSError, ValueError):
        return False
    return st.st_size == size and st.st_mtime < created


def commit_prepared(
    catalog: Catalog,
    prepared: Prepared,
    analyzers: dict[str, Analyzer],
    *,
    label: str,
    user: dict[str, Any],
) -> IngestOutcome:
    """Write one prepared file: the asset and all its analyses in ONE transaction, then
    the analyzers' ``after_commit`` (the same fields and analyses as ``ingest_bytes``)."""
    fields = dict(prepared.fields)
    fields.update(user)
    for _name, r in prepared.results:
        for k, v in r.fields.items():
            if k not in user:  # what the user said wins over what we measured
                fields[k] = v
    fields["file_path"] = prepared.stored
    # analyses in the analyzers' order, as the sequential ingest writes them
    order = {n: i for i, n in enumerate(analyzers)}
    results = sorted(prepared.results, key=lambda nr: order.get(nr[0], len(order)))
    digest = str(fields["content_hash"])
    try:
        asset = catalog.store.add_asset(
            fields,
            [Analysis("", name, analyzers[name].version, r.data, r.blob) for name, r in results],
        )
    except DuplicateAsset as e:
        return IngestOutcome(label, "skipped", e.asset_id, "already in catalog")
    except BaseException:
        if catalog.store.find_by_hash(digest) is None:
            (catalog.data_dir / prepared.stored).unlink(missing_ok=True)
        raise
    for name, r in results:
        analyzers[name].after_commit(catalog, asset, r)
    return IngestOutcome(label, "added", asset.asset_id)


def _put_original(catalog: Catalog, item: _Item) -> str:
    """Upload a file's original to the catalog's blob store (once per content); its key."""
    key = original_key(item.digest, item.path.suffix or ".bin")
    blobs = catalog_blobs(catalog)
    if not blobs.exists(key):
        with open(item.path, "rb") as fh:
            blobs.put(key, fh)
    return key


def _reason(err: TaskFailed) -> str:
    if err.kind == "AudioError" and err.payload and len(err.payload) == 2:
        return str(AudioError(err.payload[0], err.payload[1]))
    if err.kind == "timeout":
        return f"timeout: decoding and analysis {err.message}"
    if err.kind in ("RuntimeError", "crashed"):
        return err.message
    if err.kind in ("OSError", "FileNotFoundError", "PermissionError"):
        return f"cannot read: {err.message}"
    return f"{err.kind}: {err.message}"


def bulk_ingest(
    catalog: Catalog,
    paths: Iterable[str | Path],
    *,
    kind: str,
    metadata_csv: str | Path | None = None,
    analyses: list[str] | None = None,
    workers: int = 0,
    batch_models: bool | None = None,
    device: str = "cpu",
    file_metadata: Mapping[str, dict[str, Any]] | None = None,
    source_paths: Mapping[str, str] | None = None,
    on_progress: Callable[[IngestOutcome], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> IngestSummary:
    """Ingest every audio file under ``paths`` with a pool of ``workers`` processes
    (0: one per core). Same outcomes and catalog as :func:`ingest_paths`.

    Parameters
    ----------
    batch_models : bool, optional
        True: run the embedding model here over many files' windows at once (workers never
        load torch). False: each worker loads the model once and runs it on its own files.
        None (default): batched on an accelerator, in the workers on the CPU, where the
        model is most of an SFX file's CPU time and one parent process running it for
        every worker would use one core (bench/results/ingest/NOTES.md).
    device : str
        torch device of the batched model: "cpu" (default), "cuda", "cuda:N" or "mps"
        (an accelerator implies ``batch_models``).
    file_metadata : mapping, optional
        User metadata by file path (as given), before the CSV sidecar's rows.
    source_paths : mapping, optional
        The source path to record and report, by file path (as given): a file fetched from
        the blob store into a temporary folder keeps the path it was submitted from.

    ``summary.interrupted`` is set when Ctrl-C stopped it (between files; what was added
    stays, a rerun continues).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    check_device(device)
    if batch_models is None:
        batch_models = device != "cpu"
    chosen = select_analyzers(analyses)
    by_name = {a.name: a for a in chosen}
    sidecar = read_sidecar(metadata_csv) if metadata_csv else {}
    files = list(iter_audio_files(paths))
    if on_start:
        on_start(len(files))
    summary = IngestSummary()

    def report(o: IngestOutcome, seconds: float = 0.0) -> None:
        o.duration_s = seconds
        summary.record(o)
        summary.seconds_of_audio += seconds
        if on_progress:
            on_progress(o)

    embedders: dict[str, Any] = {}
    if batch_models and EMBEDDING in by_name and kind in by_name[EMBEDDING].kinds:
        model = by_name[EMBEDDING].batch_model(kind)  # type: ignore[attr-defined]
        if hasattr(model, "prepare"):
            embedders[kind] = model
    lim = audio_limits(catalog.settings).catalog_file
    timeout_s = (lim.timeout_s or 120.0) * 3  # decode limit plus the analyses after it
    n = workers or default_workers()
    known = _known_sources(catalog)
    keep = catalog.settings.keep_originals
    # workers write originals straight into the data directory when that is the blob store
    local_files = is_data_dir(catalog_blobs(catalog), catalog.data_dir)
    seen: dict[str, str] = {}  # content hash -> first file with it in this run
    waiting: list[tuple[_Item, Prepared]] = []  # prepared, their model half still to run

    def flush() -> None:
        from tonearm.core.embeddings.aisfx_model import finish, run_windows

        if not waiting:
            return
        pend = [p.pending for _, p in waiting if p.pending is not None]
        vecs = (
            run_windows(
                np.concatenate([p.windows for p in pend]), batch=BATCH_WINDOWS, device=device
            )
            if pend
            else np.zeros((0, 512), dtype=np.float32)
        )
        at = 0
        model_id = embedders[kind].model_id
        for item, prep in waiting:
            if prep.pending is not None:
                k = len(prep.pending.windows)
                v = finish(prep.pending, vecs[at : at + k])
                at += k
                try:
                    prep.results.append((EMBEDDING, by_name[EMBEDDING].result_for(v, model_id)))  # type: ignore[attr-defined]
                except ValueError as e:
                    report(IngestOutcome(item.label, "failed", None, f"{EMBEDDING}: {e}"))
                    continue
                prep.pending = None
            finish_item(item, prep)
        waiting.clear()

    def finish_item(item: _Item, prep: Prepared) -> None:
        if keep and not local_files:
            # the blob store is elsewhere (S3...): the original goes there from here
            try:
                prep.stored = _put_original(catalog, item)
            except Exception as e:  # a remote store fails in its own ways (botocore...)
                report(IngestOutcome(item.label, "failed", None, f"cannot store: {e}"))
                return
        o = commit_prepared(catalog, prep, by_name, label=item.label, user=item.meta)
        report(o, float(prep.fields.get("duration") or 0.0) if o.status == "added" else 0.0)

    def tasks() -> Iterator[tuple[_Item, tuple]]:
        for f, root in files:
            try:
                rel = str(f.relative_to(root))
            except ValueError:
                rel = f.name
            given = (file_metadata or {}).get(str(f))
            row = given if given is not None else sidecar.get(rel) or sidecar.get(f.name) or {}
            given_src = (source_paths or {}).get(str(f), "")
            item = _Item(f, root, given_src or str(f), meta=coerce(row))
            src = given_src or str(f.resolve())
            k = known.get(src)
            if k is not None and _unchanged(catalog, f, k):
                report(IngestOutcome(item.label, "skipped", k[0], "already in catalog"))
                continue
            try:
                item.digest = file_hash(f)
            except OSError as e:
                report(IngestOutcome(item.label, "failed", None, f"cannot read: {e.strerror}"))
                continue
            existing = catalog.store.find_by_hash(item.digest)
            if existing is not None:
                report(
                    IngestOutcome(item.label, "skipped", existing.asset_id, "already in catalog")
                )
                continue
            if item.digest in seen:
                why = f"same content as {seen[item.digest]}"
                report(IngestOutcome(item.label, "skipped", None, why))
                continue
            seen[item.digest] = item.label
            task = FileTask(
                str(f),
                item.digest,
                kind,
                str(catalog.files_dir),
                lim,
                keep_original=keep and local_files,
                source_path=given_src,
            )
            yield item, (task,)

    pool: WorkerPool[_Item] = WorkerPool(
        n,
        init=init_worker,
        init_args=(analyses, embedders or None, kind),
        timeout_s=timeout_s,
    )
    stop = threading.Event()
    restore = _catch_sigint(stop)
    try:
        it = tasks()
        exhausted = False
        while not stop.is_set():
            while not exhausted and pool.idle and not stop.is_set():
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                    break
                item, args = nxt
                pool.submit(item, prepare_file, *args)
            if not pool.busy:
                break
            # a short wait, so a Ctrl-C is noticed between files, never inside a commit
            for item, res in pool.results(timeout_s=0.5):
                if isinstance(res, TaskFailed):
                    report(IngestOutcome(item.label, "failed", None, _reason(res)))
                elif res.pending is not None:
                    waiting.append((item, res))
                else:
                    finish_item(item, res)
            n_windows = sum(len(p.pending.windows) for _, p in waiting if p.pending is not None)
            # run the model when a batch is full, or when nothing else is left to wait for
            if (
                n_windows >= BATCH_WINDOWS
                or len(waiting) >= MAX_BATCH_FILES
                or (exhausted and not pool.busy)
            ):
                flush()
        if stop.is_set():
            # files in flight or waiting for the model are not in the catalog: a rerun
            # does them
            summary.interrupted = True
        else:
            flush()
    finally:
        restore()
        pool.close()
    return summary


def _catch_sigint(stop: threading.Event) -> Callable[[], None]:
    """Turn the first Ctrl-C into ``stop`` (the loop ends between files; a second Ctrl-C
    raises as usual). Returns the function that restores the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # installed from C: Python's own is the closest
        previous = signal.default_int_handler

    def restore() -> None:
        signal.signal(signal.SIGINT, previous)

    def handler(signum: int, frame: Any) -> None:
        stop.set()
        restore()

    signal.signal(signal.SIGINT, handler)
    return restore
