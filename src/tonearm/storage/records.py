"""All record mixins in one base: ``SqliteStore`` and ``PostgresStore`` inherit it."""

from __future__ import annotations

from tonearm.storage.jobs import JobRecords
from tonearm.storage.streams import StreamRecords
from tonearm.storage.usage import UsageRecords


class Records(JobRecords, StreamRecords, UsageRecords):
    """Jobs, uploads, webhook secrets, usage, key limits and streams (SQL in ``storage/``)."""


__all__ = ["Records"]
