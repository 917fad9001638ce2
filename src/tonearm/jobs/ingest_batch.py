"""Bulk ingest spread over ``tonearm worker`` processes: the ``ingest_batch`` job kind.

``tonearm ingest --queue`` cuts a folder or a manifest into batches of files and submits one
``ingest_batch`` job per batch on the existing job queue (embedded SQLite, or Redis with
``tonearm worker`` processes on other machines). Each job runs
:func:`tonearm.catalog.bulk.bulk_ingest` on its files with the worker's own small pool, so
a job gives the same assets, fields and analyses as a sequential ingest. Files reach the
workers one of two ways:

- through the blob store, when the catalog's is not the local data directory
  (``TONEARM_BLOB_URL=s3://...``): each file is uploaded once at submit time (under its
  original's key ``files/ab/<hash>.<ext>`` when originals are kept, else under
  ``ingest/``, removed when its job is done) and the job fetches it, so a cluster needs no
  shared disk; the asset records the path it was submitted from;
- else by path, which every worker must see (a shared mount).

A job that is retried after its worker died skips what it already added (content-hash
idempotence).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tonearm.catalog.bulk import bulk_ingest, file_hash
from tonearm.catalog.ingest import IngestOutcome, IngestSummary, iter_audio_files, original_key
from tonearm.catalog.metadata import read_sidecar
from tonearm.jobs.queue import Job, ProgressFn, register_job

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

JOB_KIND = "ingest_batch"
BATCH_FILES = 16  # files per job: small enough to spread, large enough to batch the model
JOB_TIMEOUT_S = 6 * 3600.0


STAGING = "ingest/"  # blob prefix of uploads that are not kept as originals


def batch_params(
    files: list[tuple[Path, dict[str, Any]]],
    *,
    kind: str,
    analyses: list[str] | None,
    workers: int = 1,
    blobs: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The parameters of one ``ingest_batch`` job: absolute paths and their metadata, and
    the blob key of each file that was uploaded (``blobs``: resolved path -> key)."""
    out = []
    for f, meta in files:
        entry: dict[str, Any] = {"path": str(f.resolve()), "metadata": meta}
        key = (blobs or {}).get(entry["path"])
        if key:
            entry["blob"] = key
        out.append(entry)
    return {"files": out, "kind": kind, "analyses": analyses, "workers": workers}


def uses_blobs(catalog: Catalog) -> bool:
    """Whether ``--queue`` sends files through the blob store (it is not the local data
    directory, so other machines cannot be assumed to see this one's paths)."""
    from tonearm.storage.blobs import catalog_blobs, is_data_dir

    return not is_data_dir(catalog_blobs(catalog), catalog.data_dir)


def upload_files(catalog: Catalog, files: Iterable[Path]) -> dict[str, str]:
    """Upload each file to the blob store (once per content): resolved path -> key. A file
    that cannot be read gets no key; its job reports it as its sequential ingest would."""
    from tonearm.storage.blobs import catalog_blobs

    store = catalog_blobs(catalog)
    keys: dict[str, str] = {}
    for f in files:
        try:
            digest = file_hash(f)
        except OSError:
            continue
        key = original_key(digest, f.suffix or ".bin")
        if not catalog.settings.keep_originals:
            key = STAGING + key.removeprefix("files/")
        if not store.exists(key):
            with open(f, "rb") as fh:
                store.put(key, fh)
        keys[str(f.resolve())] = key
    return keys


def files_with_metadata(
    paths: Iterable[str | Path], metadata_csv: str | Path | None = None
) -> list[tuple[Path, dict[str, Any]]]:
    """Every audio file under ``paths`` with its CSV sidecar row (as ``ingest_paths``
    matches them: path relative to the root given, else the bare name)."""
    sidecar = read_sidecar(metadata_csv) if metadata_csv else {}
    out = []
    for f, root in iter_audio_files(paths):
        try:
            rel = str(f.relative_to(root))
        except ValueError:
            rel = f.name
        out.append((f, sidecar.get(rel) or sidecar.get(f.name) or {}))
    return out


def read_manifest(path: str | Path) -> list[Path]:
    """Paths listed one per line (``#`` comments and blank lines ignored); relative paths
    are relative to the manifest's folder."""
    base = Path(path).parent
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line)
            out.append(p if p.is_absolute() else base / p)
    return out


def submit_batches(
    catalog: Catalog,
    files: list[tuple[Path, dict[str, Any]]],
    *,
    kind: str,
    analyses: list[str] | None,
    batch_files: int = BATCH_FILES,
    workers: int = 1,
    via_blobs: bool | None = None,
) -> list[str]:
    """One ``ingest_batch`` job per ``batch_files`` files; returns the job ids.

    ``via_blobs``: upload the files to the blob store and let the jobs read them from
    there (default: when the blob store is not the local data directory)."""
    from tonearm.jobs.queue import get_queue

    if via_blobs is None:
        via_blobs = uses_blobs(catalog)
    keys = upload_files(catalog, [f for f, _ in files]) if via_blobs else None
    queue = get_queue(catalog)
    return [
        queue.submit(
            JOB_KIND, batch_params(b, kind=kind, analyses=analyses, workers=workers, blobs=keys)
        ).id
        for b in batches(files, batch_files)
    ]


def wait_batches(
    catalog: Catalog,
    job_ids: list[str],
    files: list[tuple[Path, dict[str, Any]]],
    *,
    batch_files: int = BATCH_FILES,
    on_progress: Callable[[IngestOutcome], None] | None = None,
) -> IngestSummary:
    """Wait for the jobs (running them here when no worker serves the embedded queue) and
    gather their outcomes into one summary; a failed job fails each of its files."""
    from tonearm.jobs.queue import get_queue

    queue = get_queue(catalog)
    summary = IngestSummary()
    for job_id, b in zip(job_ids, batches(files, batch_files), strict=True):
        job = queue.wait(job_id, timeout_s=JOB_TIMEOUT_S)
        if job.status == "succeeded" and job.result:
            outs = [
                IngestOutcome(
                    o["path"], o["status"], o.get("assetId"), o.get("reason"), o["seconds"]
                )
                for o in job.result["outcomes"]
            ]
        else:
            why = job.error or f"job {job_id} is {job.status}"
            outs = [IngestOutcome(str(f), "failed", None, f"job failed: {why}") for f, _ in b]
        for o in outs:
            summary.record(o)
            summary.seconds_of_audio += o.duration_s
            if on_progress:
                on_progress(o)
    return summary


def _local_files(
    catalog: Catalog,
    files: list[dict[str, Any]],
    tmp: Path,
    on_progress: Callable[[IngestOutcome], None],
) -> tuple[list[str], dict[str, dict[str, Any]], dict[str, str]]:
    """Local paths of a job's files (uploaded ones fetched into ``tmp`` under their own
    names, for the asset's name and tags), their metadata and recorded source paths."""
    from tonearm.storage.blobs import catalog_blobs

    store = catalog_blobs(catalog)
    paths: list[str] = []
    meta: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for i, f in enumerate(files):
        local = f["path"]
        if f.get("blob"):
            local = str(tmp / str(i) / Path(f["path"]).name)
            Path(local).parent.mkdir()
            try:
                Path(local).write_bytes(store.get(f["blob"]))
            except KeyError:
                # an upload is removed once its job is done: the same content in a later
                # job is then the asset that job added
                digest = Path(f["blob"]).stem
                had = catalog.store.find_by_hash(digest)
                on_progress(
                    IngestOutcome(f["path"], "skipped", had.asset_id, "already in catalog")
                    if had is not None
                    else IngestOutcome(f["path"], "failed", None, "cannot read: not uploaded")
                )
                continue
            sources[local] = f["path"]
        paths.append(local)
        meta[local] = f.get("metadata") or {}
    return paths, meta, sources


def _drop_uploads(catalog: Catalog, files: list[dict[str, Any]]) -> None:
    """Remove the job's uploads that no asset keeps (staged copies; originals of files
    that failed)."""
    from tonearm.storage.blobs import catalog_blobs

    store = catalog_blobs(catalog)
    for f in files:
        key = f.get("blob")
        if key and (key.startswith(STAGING) or not catalog.store.file_in_use(key)):
            store.delete(key)


def batches(items: Iterable[Any], size: int = BATCH_FILES) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for x in items:
        batch.append(x)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@register_job(JOB_KIND, timeout_s=JOB_TIMEOUT_S)
def ingest_batch_job(catalog: Catalog, job: Job, progress: ProgressFn) -> dict[str, Any]:
    """Ingest the job's files; the result lists every file's outcome."""
    p = job.params
    files = p["files"]
    done: list[IngestOutcome] = []

    def on_progress(o: IngestOutcome) -> None:
        done.append(o)
        progress(len(done) / max(1, len(files)))

    tmp = Path(tempfile.mkdtemp(prefix="tonearm-ingest-"))
    try:
        paths, meta, sources = _local_files(catalog, files, tmp, on_progress)
        summary = bulk_ingest(
            catalog,
            paths,
            kind=p["kind"],
            analyses=p.get("analyses"),
            workers=int(p.get("workers") or 1),
            file_metadata=meta,
            source_paths=sources,
            on_progress=on_progress,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _drop_uploads(catalog, files)
    return {
        "requestId": job.id,
        "success": True,
        "outcomes": [
            {
                "path": o.path,
                "status": o.status,
                "assetId": o.asset_id,
                "reason": o.reason,
                "seconds": o.duration_s,
            }
            for o in done
        ],
        "secondsOfAudio": round(summary.seconds_of_audio, 3),
    }
