"""Decode any common container (mp3, wav, flac, ogg/vorbis, opus, m4a/aac) into a Signal.

Decoding runs through PyAV (FFmpeg). Hostile files must neither hang nor crash the
server, so by default the decode runs in a child process with a wall-clock limit; a
segfault or hang in FFmpeg kills only that child.

There is one decode loop (:func:`iter_pcm`): FFmpeg only decodes, at the file's own rate;
a downmix is the channel mean and every rate change is soxr's (the same arithmetic as
:meth:`Signal.to_mono` and :meth:`Signal.resample`, which fingerprint the references).
:func:`decode_for` decodes a whole file under the limits of a :class:`Purpose`; long
files and live streams go through :class:`tonearm.core.audio.stream.StreamingDecoder`.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import AudioLimits, Purpose
from tonearm.core.audio.signal import Signal

# A callable run in the decoding child that opens the input: a context manager giving a
# readable binary file object and FFmpeg's format name (None: probe). It must be picklable
# (a module-level function or a functools.partial of one), e.g. an HTTP stream opener.
Opener = Callable[[], AbstractContextManager[tuple[Any, str | None]]]
Source = str | os.PathLike[str] | bytes
RESAMPLE_QUALITY = "HQ"  # soxr recipe: the one Signal.resample uses


def check_source(source: Source, max_bytes: int | None) -> int:
    """Size of a path or bytes in bytes, after the checks every decode makes first.

    Raises
    ------
    AudioError
        ``not_audio`` (no such file), ``empty`` (0 bytes), ``too_large`` (over ``max_bytes``).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        size = len(source)
    else:
        p = Path(source)
        if not p.is_file():
            raise AudioError("not_audio", f"no such file: {p}")
        size = p.stat().st_size
    if size == 0:
        raise AudioError("empty", "the file is empty (0 bytes)")
    if max_bytes is not None and size > max_bytes:
        raise AudioError("too_large", f"file is {size} bytes, over the limit of {max_bytes}")
    return size


@contextlib.contextmanager
def open_container(source: Source | Opener) -> Iterator[Any]:
    """The PyAV container of a path, bytes or :data:`Opener` (closed on exit)."""
    import av

    with contextlib.ExitStack() as stack:
        fmt: str | None = None
        fobj: Any
        if callable(source):
            fobj, fmt = stack.enter_context(source())
        elif isinstance(source, bytes | bytearray | memoryview):
            if not len(source):
                raise AudioError("empty", "the file is empty (0 bytes)")
            fobj = io.BytesIO(bytes(source))
        else:
            path = Path(source)
            if not path.exists():
                raise AudioError("not_audio", f"no such file: {path}")
            if path.stat().st_size == 0:
                raise AudioError("empty", "the file is empty (0 bytes)")
            fobj = str(path)
        try:
            container = av.open(fobj, mode="r", format=fmt, metadata_errors="ignore")
        except av.error.InvalidDataError as e:
            raise AudioError("not_audio", "not a recognised audio format") from e
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise AudioError("corrupt", f"cannot open audio: {e}") from e
        stack.callback(container.close)
        yield container


def container_duration_s(container: Any) -> float | None:
    """The duration the container declares, in seconds (None: it does not say)."""
    if not container.streams.audio:
        return None
    stream = container.streams.audio[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return float(container.duration) / 1_000_000
    return None


def iter_pcm(
    container: Any,
    *,
    mono: bool = False,
    sr: int | None = None,
    max_duration_s: float | None = None,
) -> Iterator[tuple[np.ndarray, int]]:
    """Decode the first audio stream of ``container`` block by block.

    Parameters
    ----------
    container : av.container.InputContainer
    mono : bool
        Downmix to one channel (the channel mean).
    sr : int, optional
        Output rate in Hz (soxr, streaming); default the stream's own rate.
    max_duration_s : float, optional
        Raise ``too_long`` as soon as the output passes this length.

    Yields
    ------
    (samples, sr) : samples of shape (n_channels, n), float32, finite; the rate in Hz.
    A broken tail after some audio ends the decode cleanly (what decoded is kept).

    Raises
    ------
    AudioError
        ``not_audio``, ``corrupt`` (nothing decodes), ``too_long``.
    """
    import av
    import soxr

    if not container.streams.audio:
        raise AudioError("not_audio", "no audio stream found")
    stream = container.streams.audio[0]
    in_sr = int(stream.codec_context.sample_rate or stream.rate or 0)
    if in_sr <= 0:
        raise AudioError("corrupt", "audio stream has no sample rate")
    out_sr = int(sr or in_sr)
    # FFmpeg only converts to planar float at the stream's own rate (a rate change
    # mid-stream is brought back to it); the layout is fixed by the first frame
    converter = av.AudioResampler(format="fltp", layout=None, rate=in_sr)
    rs: Any = None  # soxr.ResampleStream, once the channel count is known
    limit = None if max_duration_s is None else int(max_duration_s * out_sr) + 1
    n_out = 0

    def finish(x: np.ndarray, last: bool) -> np.ndarray:
        nonlocal rs
        if mono and x.shape[0] > 1:
            x = x.mean(axis=0, dtype=np.float32, keepdims=True)
        if out_sr == in_sr:
            return x
        if rs is None:
            rs = soxr.ResampleStream(
                in_sr, out_sr, x.shape[0], dtype="float32", quality=RESAMPLE_QUALITY
            )
        y = rs.resample_chunk(np.ascontiguousarray(x.T), last=last)
        return np.ascontiguousarray(np.asarray(y, dtype=np.float32).reshape(-1, x.shape[0]).T)

    def emit(x: np.ndarray) -> np.ndarray:
        nonlocal n_out
        if not np.all(np.isfinite(x)):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        n_out += x.shape[1]
        if limit is not None and n_out > limit:
            raise AudioError("too_long", f"audio is longer than the limit of {max_duration_s:g} s")
        return x

    n_ch = 0
    try:
        for frame in container.decode(stream):
            for rf in converter.resample(frame):
                x = np.asarray(rf.to_ndarray(), dtype=np.float32)
                n_ch = n_ch or x.shape[0]
                y = finish(x, last=False)
                if y.shape[1]:
                    yield emit(y), out_sr
        for rf in converter.resample(None):
            y = finish(np.asarray(rf.to_ndarray(), dtype=np.float32), last=False)
            if y.shape[1]:
                yield emit(y), out_sr
    except av.error.FFmpegError as e:
        if not n_ch:
            raise AudioError("corrupt", f"audio data is corrupt: {e}") from e
        # a truncated tail: keep what decoded cleanly
    if rs is not None:  # soxr's delay line
        y = finish(np.zeros((1 if mono else n_ch, 0), dtype=np.float32), last=True)
        if y.shape[1]:
            yield emit(y), out_sr


def _decode_inprocess(
    source: Source, max_duration_s: float | None, mono: bool, sr: int | None
) -> tuple[np.ndarray, int]:
    chunks: list[np.ndarray] = []
    out_sr = sr or 0
    with open_container(source) as container:
        for x, block_sr in iter_pcm(container, mono=mono, sr=sr, max_duration_s=max_duration_s):
            chunks.append(x)
            out_sr = block_sr
    if not chunks:
        raise AudioError("empty", "the file contains no audio samples")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if samples.shape[1] == 0:
        raise AudioError("empty", "the file contains no audio samples")
    return samples, out_sr


def _child(conn: Any, source: Source, max_duration_s: float | None, mono: bool, sr: int | None):
    try:
        conn.send(("ok", _decode_inprocess(source, max_duration_s, mono, sr)))
    except AudioError as e:
        conn.send(("audio_error", (e.reason, e.message)))
    except Exception as e:  # pragma: no cover - reported to the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


_CTX = mp.get_context("forkserver") if os.name == "posix" else mp.get_context("spawn")
if os.name == "posix":
    # the forkserver imports these once; each decode child then starts warm (~4x faster)
    _CTX.set_forkserver_preload(["tonearm.core.audio.decode", "av", "numpy", "soxr"])


def decode_context() -> Any:
    """The multiprocessing context decoding children are started from."""
    return _CTX


def decode(
    source: Source,
    *,
    max_bytes: int | None = None,
    max_duration_s: float | None = None,
    timeout_s: float | None = 60.0,
    mono: bool = False,
    sr: int | None = None,
    isolate: bool = True,
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

    Raises
    ------
    AudioError
    """
    check_source(source, max_bytes)
    if not isolate:
        samples, out_sr = _decode_inprocess(source, max_duration_s, mono, sr)
        return Signal(samples, out_sr)

    parent, child = _CTX.Pipe(duplex=False)
    proc = _CTX.Process(target=_child, args=(child, source, max_duration_s, mono, sr), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(timeout_s):
            raise AudioError("timeout", f"decoding took longer than {timeout_s:g} s")
        try:
            kind, payload = parent.recv()
        except EOFError as e:
            raise AudioError("corrupt", "the decoder crashed on this file") from e
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    if kind == "ok":
        samples, out_sr = payload
        return Signal(samples, out_sr)
    if kind == "audio_error":
        reason, message = payload
        raise AudioError(reason, message)
    raise AudioError("corrupt", f"cannot decode: {payload}")


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
