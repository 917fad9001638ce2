"""How audio reaches recognition: excerpts, local files and long files.

Routers, the web UI and the CLI call these with bytes or paths; none of them needs to know
the fingerprint rate. An excerpt is decoded at its own rate and fingerprinted exactly like
a catalog reference (channel mean, soxr to the fingerprint rate, in
:func:`tonearm.recognition.fingerprint.fingerprint`); a long file is decoded by the one
streaming decoder straight to mono blocks at the fingerprint rate (soxr again).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tonearm.catalog.decoding import decode_audio, stream_audio
from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import Purpose
from tonearm.core.audio.signal import Signal
from tonearm.core.audio.stream import DEFAULT_BLOCK_S, StreamingDecoder
from tonearm.storage.base import ALL_TENANTS

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.recognition.service import Match

MIN_QUERY_S = 1.0  # shorter excerpts are refused (AudD's error 300: "too small")


def fingerprint_sr() -> int:
    """The rate (Hz) the fingerprint engine works at."""
    from tonearm.recognition.fingerprint import SR

    return int(SR)


def decode_query(catalog: Catalog, data: bytes | Path) -> Signal:
    """Decode an excerpt under the query limits (AudD's 10 MB and 25 s).

    Raises
    ------
    AudioError
        ``too_large``/``too_long`` over the limits, ``too_short`` under ``MIN_QUERY_S``,
        and the decoder's reasons for bad audio.
    """
    signal = decode_audio(catalog, data, Purpose.QUERY_EXCERPT)
    if signal.duration_s < MIN_QUERY_S:
        raise AudioError("too_short", f"the excerpt is shorter than {MIN_QUERY_S:g} s")
    return signal


def recognize_signal(
    catalog: Catalog, signal: Signal, *, top_k: int = 1, tenant: str | None = ALL_TENANTS
) -> list[Match]:
    """The catalog assets an excerpt comes from, best first ([]: no match); ``tenant``:
    only the shared catalog and that account's assets."""
    from tonearm.recognition import service

    return service.recognize(catalog, signal, top_k=top_k, tenant=tenant)


def recognize_bytes(
    catalog: Catalog, data: bytes, *, top_k: int = 1, tenant: str | None = ALL_TENANTS
) -> list[Match]:
    """Decode (query limits) and recognize one excerpt. Raises AudioError."""
    return recognize_signal(catalog, decode_query(catalog, data), top_k=top_k, tenant=tenant)


def decode_local_file(catalog: Catalog, path: Path) -> Signal:
    """A local file to recognize (``tonearm recognize``), under the catalog file limits."""
    return decode_audio(catalog, path, Purpose.CATALOG_FILE)


def stream_long_file(
    catalog: Catalog, path: Path, *, block_s: float = DEFAULT_BLOCK_S
) -> StreamingDecoder:
    """A started streaming decoder of a long file: mono blocks at the fingerprint rate."""
    return stream_audio(
        catalog, path, Purpose.LONG_FILE, sr=fingerprint_sr(), block_s=block_s
    ).start()


def decode_long_file(catalog: Catalog, path: Path) -> Signal:
    """A long file whole in memory, mono at the fingerprint rate (4 bytes a sample: ~115 MB
    an hour), through the same streaming decoder as :func:`stream_long_file`."""
    dec = stream_long_file(catalog, path)
    y = dec.read_all()
    if y.size == 0:  # pragma: no cover - the decoder raises "empty" first
        raise AudioError("empty", "the file contains no audio samples")
    return Signal(np.asarray(y, dtype=np.float32), fingerprint_sr())
