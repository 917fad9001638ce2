"""Job results: the files served at ``/results/<requestId>/<name>``, the failure payload,
and webhook delivery of a finished job's result."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tonearm.jobs.records import Job, is_job_id
from tonearm.storage.blobs import catalog_blobs, delete_prefix, is_data_dir, local_copy

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog


def result_key(job_id: str, name: str) -> str:
    """Blob key of a job's result file (``results/<requestId>/<name>``)."""
    return f"results/{job_id}/{name}"


def result_dir(catalog: Catalog, job_id: str) -> Path:
    return catalog.results_dir / job_id


def default_failure_payload(job: Job, reason: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"requestId": job.id}
    if "sourceFileUrl" in job.params:
        payload["sourceFileUrl"] = job.params["sourceFileUrl"]
    payload.update({"success": False, "message": reason, "creditCost": 0})
    return payload


def write_result(catalog: Catalog, job_id: str, name: str, payload: dict[str, Any]) -> None:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    blobs = catalog_blobs(catalog)
    # atomic in every blob store: readers see the old file or the whole new one
    blobs.put(result_key(job_id, name), data, "application/json")
    if not is_data_dir(blobs, catalog.data_dir):  # this node's copy
        local = result_dir(catalog, job_id) / name
        local.parent.mkdir(parents=True, exist_ok=True)
        tmp = local.with_name(f".{name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(local)


def result_path(catalog: Catalog, job_id: str, name: str) -> Path | None:
    """A local file with result ``name`` of a job (``results_dir/<id>/<name>``), fetched
    from the blob store when it lives elsewhere (S3: another node wrote it); None when
    there is no such result. What ``GET /results/<requestId>/<name>`` serves."""
    if not is_job_id(job_id) or not name or "/" in name or name.startswith("."):
        return None
    local = result_dir(catalog, job_id) / name
    blobs = catalog_blobs(catalog)
    if is_data_dir(blobs, catalog.data_dir):
        return local if local.is_file() else None
    return local_copy(blobs, result_key(job_id, name), local)


def delete_results(catalog: Catalog, job_id: str) -> None:
    """Every result file of a job, in the blob store and this node's copy."""
    delete_prefix(catalog_blobs(catalog), f"results/{job_id}/")
    shutil.rmtree(result_dir(catalog, job_id), ignore_errors=True)


def deliver_result(
    catalog: Catalog,
    job_id: str,
    url: str,
    payload: dict[str, Any],
    key_id: int | None,
    *,
    backoff_s: Sequence[float],
    timeout_s: float,
) -> None:
    """POST a finished job's payload to its webhook, signed with the key's secret; the
    attempts and the outcome are recorded on the job."""
    from tonearm.jobs.webhooks import deliver, webhook_secret

    store = catalog.store
    secret = webhook_secret(catalog, key_id) if key_id is not None else None
    outcome = deliver(
        url,
        payload,
        secret=secret,
        allow_private=catalog.settings.allow_private_urls,
        allowlist=catalog.settings.private_allowlist,
        backoff_s=backoff_s,
        timeout_s=timeout_s,
        on_attempt=lambda n: store.set_job_webhook(job_id, attempts=n),
    )
    store.set_job_webhook(job_id, status=outcome)
