"""Bulk ingest spread over ``tonearm worker`` processes: the ``ingest_batch`` job kind.

``tonearm ingest --queue`` cuts a folder or a manifest into batches of files and submits one
``ingest_batch`` job per batch on the existing job queue (embedded SQLite, or Redis with
``tonearm worker`` processes on other machines). Each job runs
:func:`tonearm.catalog.bulk.bulk_ingest` on its files with the worker's own small pool, so
a job gives the same assets, fields and analyses as a sequential ingest; files are read
from a path every worker can see (a shared mount). A job that is retried after its worker
died skips what it already added (content-hash idempotence).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tonearm.catalog.bulk import bulk_ingest
from tonearm.catalog.ingest import IngestOutcome, IngestSummary, iter_audio_files
from tonearm.catalog.metadata import read_sidecar
from tonearm.jobs.queue import Job, ProgressFn, register_job

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog

JOB_KIND = "ingest_batch"
BATCH_FILES = 16  # files per job: small enough to spread, large enough to batch the model
JOB_TIMEOUT_S = 6 * 3600.0


def batch_params(
    files: list[tuple[Path, dict[str, Any]]],
    *,
    kind: str,
    analyses: list[str] | None,
    workers: int = 1,
) -> dict[str, Any]:
    """The parameters of one ``ingest_batch`` job: absolute paths and their metadata."""
    return {
        "files": [{"path": str(f.resolve()), "metadata": meta} for f, meta in files],
        "kind": kind,
        "analyses": analyses,
        "workers": workers,
    }


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
) -> list[str]:
    """One ``ingest_batch`` job per ``batch_files`` files; returns the job ids."""
    from tonearm.jobs.queue import get_queue

    queue = get_queue(catalog)
    return [
        queue.submit(JOB_KIND, batch_params(b, kind=kind, analyses=analyses, workers=workers)).id
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
    meta = {f["path"]: f.get("metadata") or {} for f in files}
    done: list[IngestOutcome] = []

    def on_progress(o: IngestOutcome) -> None:
        done.append(o)
        progress(len(done) / max(1, len(files)))

    summary = bulk_ingest(
        catalog,
        [f["path"] for f in files],
        kind=p["kind"],
        analyses=p.get("analyses"),
        workers=int(p.get("workers") or 1),
        file_metadata=meta,
        on_progress=on_progress,
    )
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
