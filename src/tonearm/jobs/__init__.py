"""Background jobs (analyze, export, long-file scans, bulk ingest) and result delivery."""

from tonearm.jobs.queue import (
    Job,
    JobFailed,
    JobQueue,
    get_queue,
    is_job_id,
    new_job_id,
    register_job,
)

__all__ = ["Job", "JobFailed", "JobQueue", "get_queue", "is_job_id", "new_job_id", "register_job"]
