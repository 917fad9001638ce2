"""The settings' audio limits for each decode purpose, and the service-level way in.

Core never reads :class:`~tonearm.settings.Settings`; this module turns them into the
:class:`~tonearm.core.audio.limits.AudioLimits` the decoder applies. Services, routers and
CLI commands decode through :func:`decode_audio` (a whole file) or :func:`stream_audio`
(a long file or a live stream, block by block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tonearm.core.audio.decode import Opener, Source, decode_for
from tonearm.core.audio.limits import AudioLimits, DecodeLimits, Purpose
from tonearm.core.audio.signal import Signal
from tonearm.core.audio.stream import DEFAULT_BLOCK_S, StreamingDecoder, stream_for

if TYPE_CHECKING:
    from tonearm.catalog.context import Catalog
    from tonearm.settings import Settings

# encoder padding: a 25.0 s MP3 decodes a few ms longer than AudD's 25 s limit
QUERY_DURATION_SLACK_S = 0.5
QUERY_MAX_TIMEOUT_S = 60.0  # an excerpt that takes longer than this is not worth waiting for


def audio_limits(s: Settings) -> AudioLimits:
    """The limits of every purpose from the settings."""
    whole = DecodeLimits(
        max_bytes=s.max_upload_bytes,
        max_duration_s=s.max_duration_s,
        timeout_s=s.decode_timeout_s,
    )
    return AudioLimits(
        catalog_file=whole,
        query_excerpt=DecodeLimits(
            max_bytes=s.recognize_max_bytes,
            max_duration_s=s.recognize_max_duration_s + QUERY_DURATION_SLACK_S,
            timeout_s=min(s.decode_timeout_s, QUERY_MAX_TIMEOUT_S),
        ),
        long_file=whole,
        stream=DecodeLimits(max_bytes=None, max_duration_s=None, timeout_s=None),
    )


def decode_audio(catalog: Catalog, source: Source, purpose: Purpose) -> Signal:
    """Decode a whole file (``CATALOG_FILE`` or ``QUERY_EXCERPT``) under the catalog's
    settings. Raises :class:`~tonearm.core.audio.errors.AudioError`."""
    return decode_for(source, purpose, audio_limits(catalog.settings))


def stream_audio(
    catalog: Catalog,
    source: Source | Opener,
    purpose: Purpose,
    *,
    sr: int,
    block_s: float = DEFAULT_BLOCK_S,
    stall_timeout_s: float | None = None,
) -> StreamingDecoder:
    """A streaming decoder (mono blocks at ``sr``) under the catalog's settings; start it
    with ``.start()`` or a ``with`` block."""
    return stream_for(
        source,
        purpose,
        audio_limits(catalog.settings),
        sr=sr,
        block_s=block_s,
        stall_timeout_s=stall_timeout_s,
    )
