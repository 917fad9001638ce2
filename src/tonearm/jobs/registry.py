"""Job kinds: what runs a job of each kind, and the modules that register them.

Writing a job kind
------------------
::

    @register_job("analyze", result_file="analysis.json")
    def analyze_job(catalog, job, progress):
        progress(0.5)
        if bad:
            raise JobFailed("Could not download the source file")
        return {"requestId": job.id, "success": True, ...}

The returned dict is the result: stored on the job, written to
``results_dir/<requestId>/<result_file>`` and POSTed to the job's webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.jobs.records import Job

DEFAULT_TIMEOUT_S = 7 * 60.0  # the seed: "Requests will not take longer than 7 minutes"


class JobFailed(Exception):
    """A clean failure: ``reason`` is shown to the user (job error, failure webhook)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


ProgressFn = Callable[[float], None]
JobFn = Callable[["Catalog", "Job", ProgressFn], dict[str, Any]]


@dataclass
class JobKind:
    name: str
    fn: JobFn
    result_file: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    failure_payload: Callable[[Job, str], dict[str, Any]] | None = None


_KINDS: dict[str, JobKind] = {}


def register_job(
    kind: str,
    *,
    result_file: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    failure_payload: Callable[[Job, str], dict[str, Any]] | None = None,
) -> Callable[[JobFn], JobFn]:
    """Register ``fn(catalog, job, progress) -> result dict`` as the runner of ``kind``.

    Parameters
    ----------
    result_file
        If set, the result (or the failure payload) is also written to
        ``results_dir/<requestId>/<result_file>`` so it is served at the resultUrl.
    timeout_s
        Wall-clock limit; past it the job fails with a timeout reason.
    failure_payload
        ``(job, reason) -> dict`` for the failure webhook; default
        ``{"requestId", "sourceFileUrl" (if a param), "success": false, "message"}``.
    """

    def deco(fn: JobFn) -> JobFn:
        _KINDS[kind] = JobKind(kind, fn, result_file, timeout_s, failure_payload)
        return fn

    return deco


def registered_kinds() -> dict[str, JobKind]:
    return dict(_KINDS)


def job_kind(kind: str, catalog: Catalog | None = None) -> JobKind | None:
    """The runner of ``kind``; asks ``catalog``'s plugins once when it is not known yet."""
    if kind not in _KINDS and catalog is not None:
        load_job_kinds(catalog)
    return _KINDS.get(kind)


def load_job_kinds(catalog: Catalog) -> None:
    """Register the job kinds the catalog's plugins declare (hook ``tonearm_job_kinds``), so
    a worker process can run jobs submitted by another one."""
    for kinds in catalog.plugins.hook.tonearm_job_kinds():
        for k in kinds:
            _KINDS.setdefault(k.name, k)
