"""What a decode is for, and the limits that go with it.

Every way audio comes in names its :class:`Purpose`; the caller's service builds one
:class:`AudioLimits` from the settings (core never reads settings) and the decoder applies
the purpose's :class:`DecodeLimits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Purpose(StrEnum):
    """Why audio is decoded; decides the limits and whether it is decoded whole."""

    CATALOG_FILE = "catalog_file"  # a whole file into memory: ingest, edit sources, CLI
    QUERY_EXCERPT = "query_excerpt"  # a short excerpt to recognize (AudD's 25 s, 10 MB)
    LONG_FILE = "long_file"  # an hours-long recording, decoded as a stream of blocks
    STREAM = "stream"  # a live stream: no length limit, no total time limit


@dataclass(frozen=True)
class DecodeLimits:
    """Limits of one decode.

    Attributes
    ----------
    max_bytes : int, optional
        Inputs larger than this are refused (reason ``too_large``).
    max_duration_s : float, optional
        Audio longer than this is refused (reason ``too_long``); decoding stops early.
    timeout_s : float, optional
        Wall-clock limit for the time spent waiting for the decoder (reason ``timeout``).
    """

    max_bytes: int | None = None
    max_duration_s: float | None = None
    timeout_s: float | None = 60.0


@dataclass(frozen=True)
class AudioLimits:
    """The limits of each purpose (built from the settings by a service)."""

    catalog_file: DecodeLimits
    query_excerpt: DecodeLimits
    long_file: DecodeLimits
    stream: DecodeLimits

    def for_purpose(self, purpose: Purpose) -> DecodeLimits:
        limits: DecodeLimits = getattr(self, Purpose(purpose).value)
        return limits
