"""Decode any common container (mp3, wav, flac, ogg/vorbis, opus, m4a/aac) into a Signal.

Decoding runs through PyAV (FFmpeg). Hostile files must neither hang nor crash the
server, so by default the decode runs in the one child-process decoder
(:class:`tonearm.core.audio.stream.StreamingDecoder`, its blocks collected) with a
wall-clock limit; a segfault or hang in FFmpeg kills only that child.

There is one decode loop (:func:`tonearm.core.audio.pcm.iter_pcm`): FFmpeg only decodes,
at the file's own rate;
a downmix is the channel mean and every rate change is soxr's (the same arithmetic as
:meth:`Signal.to_mono` and :meth:`Signal.resample`, which fingerprint the references).
:func:`decode_for` decodes a whole file under the limits of a :class:`Purpose`; long
files and live streams go through :class:`tonearm.core.audio.stream.StreamingDecoder`.
"""

from __future__ import annotations

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import AudioLimits, DecodeLimits, Purpose
from tonearm.core.audio.pcm import Opener, Source, check_source, decode_inprocess
from tonearm.core.audio.signal import Signal

__all__ = ["Opener", "Source", "decode", "decode_for"]

WHOLE_BLOCK_S = 30.0  # audio per message from the decoding child of a whole-file decode


def decode(
    source: Source,
    *,
    max_bytes: int | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = 60.0,
    mono: bool = False,
    sr: int | None = None,
    isolate: bool = True,
    span_s: tuple[int, float] | None = None,
) -> Signal:
    """Decode a path or bytes into a :class:`Signal` (services: use :func:`decode_for`).

    Parameters
    ----------
    source : path or bytes
    max_bytes : int, optional
        Reject inputs larger than this (reason ``too_large``).
    max_duration_s : float, optional
        Reject audio longer than this (reason ``too_long``); decoding stops early.
    timeout_s : float, optional
        Wall-clock limit for the decode (reason ``timeout``). Needs ``isolate``.
    mono : bool
        Downmix to one channel (channel mean, as :meth:`Signal.mono`).
    sr : int, optional
        Resample to this rate (Hz, soxr) while decoding.
    isolate : bool
        Decode in a child process so a hostile file cannot hang or crash us.
    span_s : (int, float), optional
        Decode only the audio from ``span_s[0]`` (a whole second: the result's first
        sample is the whole decode's sample ``span_s[0] * sr``) to ``span_s[1]`` seconds,
        seeking to the start where the container allows.

    Raises
    ------
    AudioError
    """
    check_source(source, max_bytes)
    if not isolate:
        samples, out_sr = decode_inprocess(source, max_duration_s, mono, sr, span_s=span_s)
        return Signal(samples, out_sr)
    # the one child-process decoder, collected: a hostile file only crashes or hangs it
    from tonearm.core.audio.stream import StreamingDecoder

    dec = StreamingDecoder(
        source,
        sr,
        DecodeLimits(max_bytes=None, max_duration_s=max_duration_s, timeout_s=timeout_s),
        mono=mono,
        block_s=WHOLE_BLOCK_S,
        span_s=span_s,
    )
    blocks = [np.atleast_2d(b) for b in dec]
    if not blocks or dec.sr_out is None:  # pragma: no cover - the child reports "empty"
        raise AudioError("empty", "the file contains no audio samples")
    return Signal(np.concatenate(blocks, axis=1), dec.sr_out)


def decode_for(source: Source, purpose: Purpose, limits: AudioLimits) -> Signal:
    """The one way a whole file comes in: decode ``source`` under ``purpose``'s limits.

    The Signal keeps the file's own rate and channels; analyses take what they need from
    it (:meth:`Signal.to_mono`, :meth:`Signal.resample`: soxr), so a query excerpt and a
    catalog reference reach the fingerprinter through the same arithmetic.

    Parameters
    ----------
    source : path or bytes
    purpose : Purpose
        ``CATALOG_FILE`` or ``QUERY_EXCERPT``. Long files and live streams are decoded as
        a stream of blocks: :func:`tonearm.core.audio.stream.stream_for`.
    limits : AudioLimits
        Built from the settings by the caller's service.

    Raises
    ------
    AudioError
        ``too_large``, ``too_long``, ``timeout``, ``empty``, ``not_audio``, ``corrupt``.
    ValueError
        For a purpose that is decoded as a stream.
    """
    purpose = Purpose(purpose)
    if purpose in (Purpose.LONG_FILE, Purpose.STREAM):
        raise ValueError(f"{purpose.value} audio is decoded as a stream: use stream_for")
    lim = limits.for_purpose(purpose)
    return decode(
        source,
        max_bytes=lim.max_bytes,
        max_duration_s=lim.max_duration_s,
        timeout_s=lim.timeout_s,
    )
