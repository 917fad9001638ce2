"""The ``analyze`` job: fetch ``sourceFileUrl`` (SSRF-guarded), decode, analyze, and
deliver Audjust's payload ``{requestId, sourceFileUrl, result, success, creditCost}``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tonearm.editing.analyze import (
    MAX_SIMILARITY_DURATION_S,
    RAW_FEATURES,
    analyze,
    load_source,
)
from tonearm.editing.credits import analyze_cost
from tonearm.editing.resize import MAX_BEATS
from tonearm.jobs import Job, JobFailed, register_job

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog


# -- the job -----------------------------------------------------------------------------
def _analyze_job(catalog: Catalog, job: Job, progress: Callable[[float], None]) -> dict[str, Any]:
    url = str(job.params["sourceFileUrl"])
    raw = RAW_FEATURES in (job.params.get("features") or [])
    progress(0.05)
    signal = load_source(catalog, url)
    progress(0.4)
    if signal.duration_s < 0.5:
        raise JobFailed("The source file is too short to analyze (under 0.5 s)")
    if signal.duration_s > MAX_SIMILARITY_DURATION_S:
        raise JobFailed(
            f"The source file is too long to analyze: {signal.duration_s / 60:.1f} minutes "
            f"(limit {MAX_SIMILARITY_DURATION_S / 60:g} minutes)"
        )
    result = analyze(signal, raw_features=raw)
    if len(result["boundaries"]) - 1 > MAX_BEATS:  # so that /resize accepts what we return
        raise JobFailed(
            f"The source file has too many beats to analyze: {len(result['boundaries']) - 1} "
            f"(limit {MAX_BEATS})"
        )
    progress(0.95)
    return {
        "requestId": job.id,
        "sourceFileUrl": url,
        "result": result,
        "success": True,
        "creditCost": analyze_cost(signal.duration_s, raw),
    }


register_job("analyze", result_file="analysis.json")(_analyze_job)
