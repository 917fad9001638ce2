"""Export: render groups of segments of a source file to MP3/WAV files (Audjust ``/export``).

The source is fetched once (SSRF-guarded) and decoded once; each group becomes the blob
``results/<requestId>/export_<n>.<ext>`` of the catalog's blob store (the data directory's
``results/`` by default, S3-compatible storage with ``TONEARM_BLOB_URL=s3://...``, from
which any API server serves it). A group that cannot be made (a segment
beyond the end of the audio, a stretch too large...) is reported in ``failures`` under
its URL; the others are still made. Also the ``resize`` job (resize with a webhook).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal
from tonearm.editing.render import (
    SegmentError,
    render_loop_segments,
    render_segments,
    source_loudness,
    stretch_to_length,
)
from tonearm.jobs import Job, JobFailed, register_job

EXPORT_FORMATS = {"mp3_128": "mp3", "mp3_256": "mp3", "mp3_320": "mp3", "wav": "wav"}
MAX_GROUPS = 50
MAX_SEGMENTS_PER_GROUP = 1000
MAX_OUTPUT_S_PER_GROUP = 3 * 3600.0


def export_file_name(index: int, export_format: str) -> str:
    """``export_1.mp3``, ``export_2.wav``... (1-based, like Audjust)."""
    return f"export_{index + 1}.{EXPORT_FORMATS[export_format]}"


def export_urls(base: str, request_id: str, export_format: str, n_groups: int) -> list[str]:
    """The resultUrls of an export, in the order of its groups."""
    return [f"{base}/{request_id}/{export_file_name(i, export_format)}" for i in range(n_groups)]


def credit_cost_export(total_output_s: float) -> int:
    """Audjust's price: 1 credit per started minute of total output, at least 1."""
    from tonearm.editing.credits import export_cost

    return export_cost(total_output_s)


def render_group(
    signal: Signal,
    segments_s: list[list[float]],
    *,
    loop: bool = False,
    exact_length_s: float | None = None,
    reference_lufs: float | None = None,
) -> Signal:
    """One output: the joined segments (or a seamless loop of them), optionally stretched
    to exactly ``exact_length_s``. Raises SegmentError."""
    if loop:
        out = render_loop_segments(signal, segments_s, reference_lufs=reference_lufs)
    else:
        out = render_segments(signal, segments_s, reference_lufs=reference_lufs)
    if exact_length_s is not None:
        out = stretch_to_length(out, int(round(exact_length_s * signal.sr)))
    return out


def export_groups(
    signal: Signal,
    groups: list[list[list[float]]],
    export_format: str,
    out_dir: Path,
    result_urls: list[str],
    *,
    loop: bool = False,
    exact_length_s: float | None = None,
    progress: Any = None,
    blobs: Any = None,
    key_prefix: str = "",
) -> tuple[dict[str, str], float]:
    """Render and encode every group into ``out_dir`` (or, with ``blobs``, into that blob
    store under ``key_prefix``); returns (failures by URL, seconds of audio written)."""
    import mimetypes

    from tonearm.core.audio.encode import encode

    if blobs is None:
        out_dir.mkdir(parents=True, exist_ok=True)
    ref = source_loudness(signal)
    failures: dict[str, str] = {}
    total_s = 0.0
    for i, group in enumerate(groups):
        url = result_urls[i]
        try:
            out = render_group(
                signal, group, loop=loop, exact_length_s=exact_length_s, reference_lufs=ref
            )
            data = encode(out, export_format)
        except (SegmentError, AudioError) as e:
            failures[url] = str(e) if isinstance(e, SegmentError) else e.message
            continue
        name = export_file_name(i, export_format)
        if blobs is not None:  # atomic in every store: a served file is always whole
            blobs.put(f"{key_prefix}{name}", data, mimetypes.guess_type(name)[0])
        else:
            path = out_dir / name
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)  # atomic: a served file is always whole
        total_s += out.duration_s
        if progress is not None:
            progress(0.3 + 0.7 * (i + 1) / len(groups))
    return failures, total_s


def fetch_and_decode(catalog: Any, url: str) -> Signal:
    """The source file at ``url`` (SSRF-guarded fetch, isolated decode). Raises JobFailed."""
    try:  # the analyze service also reads our own /upload URLs straight from disk
        from tonearm.editing.analyze import load_source
    except ImportError:
        pass
    else:
        return load_source(catalog, url)
    from tonearm.catalog.decoding import decode_audio
    from tonearm.core.audio.limits import Purpose
    from tonearm.net.fetch import fetch_bytes

    s = catalog.settings
    try:
        data = fetch_bytes(
            url,
            max_bytes=s.fetch_max_bytes,
            timeout_s=s.fetch_timeout_s,
            allow_private=s.allow_private_urls,
            allowlist=s.private_allowlist,
        )
    except AudioError as e:
        raise JobFailed(f"Could not retrieve the source file: {e.message}") from e
    try:
        return decode_audio(catalog, data, Purpose.CATALOG_FILE)
    except AudioError as e:
        raise JobFailed(f"Could not decode the source file: {e.message}") from e


def _export_failure_payload(job: Job, reason: str) -> dict[str, Any]:
    p = job.params
    urls = export_urls(p["resultsBase"], job.id, p["exportFormat"], len(p["segmentsGroups"]))
    # per-group reasons when every group failed; the whole reason otherwise (no source)
    failures = job.extra.get("failures") or {u: reason for u in urls}
    return {
        "requestId": job.id,
        "sourceFileUrl": p.get("sourceFileUrl"),
        "resultUrls": urls,
        "failures": failures,
        "success": False,
        "message": reason,
        "creditCost": 0,
    }


@register_job("export", result_file="export.json", failure_payload=_export_failure_payload)
def export_job(catalog: Any, job: Job, progress: Any) -> dict[str, Any]:
    p = job.params
    urls = export_urls(p["resultsBase"], job.id, p["exportFormat"], len(p["segmentsGroups"]))
    progress(0.0)
    signal = fetch_and_decode(catalog, p["sourceFileUrl"])
    progress(0.3)
    from tonearm.jobs.queue import result_key
    from tonearm.storage.blobs import catalog_blobs

    out_dir = catalog.results_dir / job.id
    failures, total_s = export_groups(
        signal,
        p["segmentsGroups"],
        p["exportFormat"],
        out_dir,
        urls,
        loop=bool(p.get("loop", False)),
        exact_length_s=p.get("exactLengthSeconds"),
        progress=progress,
        blobs=catalog_blobs(catalog),
        key_prefix=result_key(job.id, ""),
    )
    if len(failures) == len(urls):
        job.extra["failures"] = failures
        first = next(iter(failures.values()))
        raise JobFailed(f"No file could be generated: {first}")
    return {
        "requestId": job.id,
        "sourceFileUrl": p["sourceFileUrl"],
        "resultUrls": urls,
        "failures": failures,
        "success": True,
        "creditCost": credit_cost_export(total_s),
    }


@register_job("resize", result_file="resize.json")
def resize_job(catalog: Any, job: Job, progress: Any) -> dict[str, Any]:
    """Resize (or loop search) for requests that gave a resultWebhook."""
    from tonearm.editing.resize_service import run_resize

    return run_resize(job.id, job.params)
