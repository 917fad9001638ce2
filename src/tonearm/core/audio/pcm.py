"""The one decode loop: PyAV (FFmpeg) decodes at the file's own rate; a downmix is the
channel mean and every rate change is soxr's (the arithmetic of :meth:`Signal.to_mono` and
:meth:`Signal.resample`, which fingerprint the references). Both the whole-file decode
(:mod:`tonearm.core.audio.decode`) and the streaming decoder
(:mod:`tonearm.core.audio.stream`) run it, in a child process started from
:func:`decode_context`.
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

# A callable run in the decoding child that opens the input: a context manager giving a
# readable binary file object and FFmpeg's format name (None: probe). It must be picklable
# (a module-level function or a functools.partial of one), e.g. an HTTP stream opener.
Opener = Callable[[], AbstractContextManager[tuple[Any, str | None]]]
Source = str | os.PathLike[str] | bytes
RESAMPLE_QUALITY = "HQ"  # soxr recipe: the one Signal.resample uses
PCM_BLOCK_S = 1.0  # input audio gathered per block of the decode loop


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


WAV_PROBE_BYTES = 65536


def probe_options(head: bytes) -> dict[str, str]:
    """FFmpeg open options for a file starting with ``head`` (its first 12 bytes or more).

    A RIFF/RF64 WAVE file declares its codec, rate and channels in its header, yet FFmpeg's
    stream probe reads up to 5 MB of it (a whole 2 s clip: 20 ms of a short effect's
    ingest); 64 KiB is plenty for what the header does not say (a compressed codec inside
    WAV). Other formats keep FFmpeg's defaults."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return {"probesize": str(WAV_PROBE_BYTES)}
    return {}


@contextlib.contextmanager
def open_container(source: Source | Opener) -> Iterator[Any]:
    """The PyAV container of a path, bytes or :data:`Opener` (closed on exit)."""
    import av

    with contextlib.ExitStack() as stack:
        fmt: str | None = None
        fobj: Any
        options: dict[str, str] = {}
        if callable(source):
            fobj, fmt = stack.enter_context(source())
        elif isinstance(source, bytes | bytearray | memoryview):
            if not len(source):
                raise AudioError("empty", "the file is empty (0 bytes)")
            options = probe_options(bytes(source[:12]))
            fobj = io.BytesIO(bytes(source))
        else:
            path = Path(source)
            if not path.exists():
                raise AudioError("not_audio", f"no such file: {path}")
            if path.stat().st_size == 0:
                raise AudioError("empty", "the file is empty (0 bytes)")
            with contextlib.suppress(OSError), open(path, "rb") as fh:
                options = probe_options(fh.read(12))
            fobj = str(path)
        try:
            container = av.open(
                fobj, mode="r", format=fmt, metadata_errors="ignore", options=options
            )
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
    block_s: float = PCM_BLOCK_S,
    source_info: dict[str, int] | None = None,
    span_s: tuple[int, float] | None = None,
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
    block_s : float
        Decoded frames are gathered (FFmpeg's audio FIFO) into blocks of about this many
        seconds of input before they reach numpy: codec frames are small (~20 ms for
        Vorbis), and per-frame array work cost more than the decode itself. Downmix and
        soxr are blockwise arithmetic, so the samples do not depend on it.
    source_info : dict, optional
        Filled with the stream's own ``sr``, ``channels`` and ``frames`` (samples per
        channel before any downmix or rate change): what a caller that decodes straight to
        a mono analysis rate still records about the file.
    span_s : (int, float), optional
        Only the input from ``span_s[0]`` (whole seconds: a sample of every rate, so the
        output's first sample is the whole decode's sample ``span_s[0] * sr``) to
        ``span_s[1]`` seconds: the decoder seeks to the start and stops past the end. The
        resampler starts without history there: its first and last few milliseconds
        differ from the whole decode's.

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
    if stream.codec_context is None:  # e.g. Speex in Ogg: a codec this FFmpeg cannot decode
        raise AudioError("unsupported", "no decoder for this audio codec")
    in_sr = int(stream.codec_context.sample_rate or stream.rate or 0)
    if in_sr <= 0:
        raise AudioError("corrupt", "audio stream has no sample rate")
    out_sr = int(sr or in_sr)
    # FFmpeg only converts to planar float at the stream's own rate (a rate change
    # mid-stream is brought back to it); the layout is fixed by the first frame
    converter = av.AudioResampler(format="fltp", layout=None, rate=in_sr)
    # the decoder's own integer or float samples go to the FIFO as they are when the
    # first frame is at the stream's rate: numpy converts each 1 s block (the same values
    # as FFmpeg's conversion) instead of a filter graph call per codec frame
    direct: str | None = None
    layout0: Any = None
    decided = False
    rs: Any = None  # soxr.ResampleStream, once the channel count is known
    limit = None if max_duration_s is None else int(max_duration_s * out_sr) + 1
    n_out = 0
    frames, at = _frames_from(container, stream, in_sr, span_s)
    # a span: input samples to drop before it, and to keep (None: all)
    skip = 0 if span_s is None else max(0, int(span_s[0]) * in_sr - at)
    left = None if span_s is None else max(0, int(np.ceil(span_s[1] * in_sr)) - skip - at)

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

    fifo = av.AudioFifo()
    block = max(1, int(block_s * in_sr))

    def drain() -> np.ndarray | None:
        rf = fifo.read()  # everything buffered, as one frame
        if rf is None:
            return None
        nonlocal skip, left
        if direct is None:
            x = np.asarray(rf.to_ndarray(), dtype=np.float32)
        else:
            x = to_float_planar(rf, direct, n_ch, mono=mono)
        if skip or left is not None:
            x = x[:, min(skip, x.shape[1]) :]
            skip = max(0, skip - rf.samples)
            if left is not None:
                x = x[:, :left]
                left -= x.shape[1]
        y = finish(x, last=False)
        return emit(y) if y.shape[1] else None

    n_ch = 0
    n_in = 0
    try:
        for frame in frames:
            if left == 0:
                break
            if not decided:
                decided = True
                fmt = frame.format.name
                if fmt in DIRECT_FORMATS and frame.sample_rate == in_sr:
                    direct = fmt
                    # planar float is FFmpeg's pass-through (no layout check): kept as it was
                    layout0 = None if fmt == "fltp" else frame.layout
            if direct is not None:
                if layout0 is not None and frame.layout != layout0:
                    raise ValueError("Frame does not match AudioResampler setup.")
                ready: Any = (frame,)
            else:
                ready = converter.resample(frame)
            for rf in ready:
                if not rf.samples:
                    continue
                n_ch = n_ch or len(rf.layout.channels)
                n_in += rf.samples
                rf.pts = None  # the FIFO checks timestamps are contiguous; we need no pts
                fifo.write(rf)  # checks the format and rate
                if fifo.samples >= block and (y := drain()) is not None:
                    yield y, out_sr
        for rf in converter.resample(None) if left != 0 else ():
            if rf.samples:
                n_in += rf.samples
                rf.pts = None
                fifo.write(rf)
    except av.error.FFmpegError as e:
        if not n_ch:
            raise AudioError("corrupt", f"audio data is corrupt: {e}") from e
        # a truncated tail: keep what decoded cleanly
    if source_info is not None:
        source_info.update(sr=in_sr, channels=n_ch, frames=n_in)
    if (y := drain()) is not None:
        yield y, out_sr
    if rs is not None:  # soxr's delay line
        y = finish(np.zeros((1 if mono else n_ch, 0), dtype=np.float32), last=True)
        if y.shape[1]:
            yield emit(y), out_sr


# codecs whose frames start where their timestamps say after a seek, to the sample (a
# lossy codec's priming and a seek's estimate move MP3's by milliseconds): others are
# decoded from their start (and still stop past a span's end)
SEEK_EXACT_CODECS = frozenset({"flac", "wavpack", "alac", "tta"})


def _frames_from(
    container: Any, stream: Any, in_sr: int, span_s: tuple[int, float] | None
) -> tuple[Iterator[Any], int]:
    """The decoded frames from (at most) ``span_s[0]`` seconds in, and the input sample
    the first one starts at: a seek to the frame before it where the codec's timestamps
    are exact (:data:`SEEK_EXACT_CODECS`, PCM), else from the start."""
    import itertools

    import av

    name = getattr(stream.codec_context, "name", "") or ""
    exact = name in SEEK_EXACT_CODECS or name.startswith("pcm_")
    if span_s is None or int(span_s[0]) <= 0 or stream.time_base is None or not exact:
        return iter(container.decode(stream)), 0
    j0 = int(span_s[0]) * in_sr
    with contextlib.suppress(av.error.FFmpegError, ValueError, OSError):
        container.seek(int(int(span_s[0]) / stream.time_base), stream=stream)
        frames = iter(container.decode(stream))
        first = next(frames, None)
        if first is not None and first.pts is not None:
            at = int(round(float(first.pts * first.time_base) * in_sr))
            if 0 <= at <= j0:
                return itertools.chain([first], frames), at
    container.seek(0, stream=stream)  # the seek missed: the whole input, from its start
    return iter(container.decode(stream)), 0


# sample formats taken straight from the decoder -> (offset, scale) of FFmpeg's conversion
# to float, ``(x - offset) * scale``: integers become float32 by rounding to nearest (exact
# up to 24 bits) and the scale is a power of two, so numpy gives the same values
DIRECT_FORMATS: dict[str, tuple[float, float]] = {
    "u8": (128.0, 1.0 / (1 << 7)),
    "s16": (0.0, 1.0 / (1 << 15)),
    "s32": (0.0, 1.0 / (1 << 31)),
    "flt": (0.0, 1.0),
    "dbl": (0.0, 1.0),
}
DIRECT_FORMATS.update({f"{k}p": v for k, v in DIRECT_FORMATS.items()})


_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}


def frame_channels(frame: Any, fmt: str, channels: int) -> list[np.ndarray]:
    """Views of each channel's samples of an audio frame in one of :data:`DIRECT_FORMATS`
    (no copy), shape (n,) each, in the decoder's own dtype."""
    n = frame.samples
    dtype = _DTYPES[fmt.rstrip("p")]
    if fmt.endswith("p"):
        return [np.frombuffer(frame.planes[c], dtype=dtype, count=n) for c in range(channels)]
    x = np.frombuffer(frame.planes[0], dtype=dtype, count=n * channels)
    return [x[c::channels] for c in range(channels)]


def _as_float(x: np.ndarray, fmt: str, out: np.ndarray) -> np.ndarray:
    offset, scale = DIRECT_FORMATS[fmt]
    out[...] = x  # to float32: rounds to nearest, as FFmpeg's conversion does
    if offset:
        out -= np.float32(offset)
    if scale != 1.0:
        out *= np.float32(scale)
    return out


def to_float_planar(frame: Any, fmt: str, channels: int, *, mono: bool = False) -> np.ndarray:
    """An audio frame in one of :data:`DIRECT_FORMATS` as planar float32, shape
    (channels, n), or (1, n) with ``mono``: the channel mean, the same values as
    ``x.mean(axis=0, dtype=np.float32)`` of the planar samples (the channels added in
    order, then divided by their number) without the planar copy."""
    rows = frame_channels(frame, fmt, channels)
    n = frame.samples
    if not mono or channels == 1:
        out = np.empty((channels, n), dtype=np.float32)
        for c, r in enumerate(rows):
            _as_float(r, fmt, out[c])
        return out
    acc = _as_float(rows[0], fmt, np.empty((1, n), dtype=np.float32)[0])
    tmp = np.empty(n, dtype=np.float32)
    for r in rows[1:]:
        acc += _as_float(r, fmt, tmp)
    np.true_divide(acc, channels, out=acc)
    return acc[None, :]


def decode_inprocess(
    source: Source,
    max_duration_s: float | None,
    mono: bool,
    sr: int | None,
    source_info: dict[str, int] | None = None,
    span_s: tuple[int, float] | None = None,
) -> tuple[np.ndarray, int]:
    chunks: list[np.ndarray] = []
    out_sr = sr or 0
    with open_container(source) as container:
        for x, block_sr in iter_pcm(
            container,
            mono=mono,
            sr=sr,
            max_duration_s=max_duration_s,
            source_info=source_info,
            span_s=span_s,
        ):
            chunks.append(x)
            out_sr = block_sr
    if not chunks:
        raise AudioError("empty", "the file contains no audio samples")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if samples.shape[1] == 0:
        raise AudioError("empty", "the file contains no audio samples")
    return samples, out_sr


from multiprocessing import spawn  # noqa: E402


def _preparation_data(name: str) -> dict[str, Any]:
    """multiprocessing's data for a new child, without the parent's ``__main__``.

    A child normally re-runs the parent's main script (``init_main_from_path``) so that
    functions defined there unpickle. Decode children run functions of tonearm only, and
    re-running a user's plain script (no ``if __name__ == "__main__"`` guard) would decode
    again inside the child and crash it. So a script, a notebook and ``python -`` all work.
    """
    data: dict[str, Any] = spawn.get_preparation_data(name)
    data.pop("init_main_from_path", None)
    data.pop("init_main_from_name", None)
    return data


if os.name == "posix":
    from multiprocessing import forkserver, popen_forkserver, reduction, util
    from multiprocessing.context import ForkServerContext, ForkServerProcess

    class _Popen(popen_forkserver.Popen):
        # as popen_forkserver.Popen._launch (CPython 3.11-3.13), with _preparation_data
        def _launch(self, process_obj: Any) -> None:
            prep_data = _preparation_data(process_obj._name)
            buf = io.BytesIO()
            mp.context.set_spawning_popen(self)
            try:
                reduction.dump(prep_data, buf)
                reduction.dump(process_obj, buf)
            finally:
                mp.context.set_spawning_popen(None)
            fds: list[int] = getattr(self, "_fds")  # noqa: B009 - private, untyped in typeshed
            self.sentinel, w = forkserver.connect_to_new_process(fds)
            _parent_w = os.dup(w)
            close_fds = getattr(util, "close_fds")  # noqa: B009
            self.finalizer = util.Finalize(self, close_fds, (_parent_w, self.sentinel))
            with open(w, "wb", closefd=True) as f:
                f.write(buf.getbuffer())
            self.pid = forkserver.read_signed(self.sentinel)

    class _Process(ForkServerProcess):
        @staticmethod
        def _Popen(process_obj: Any) -> _Popen:
            return _Popen(process_obj)

    class _DecodeContext(ForkServerContext):
        Process = _Process

    _CTX: Any = _DecodeContext()
    # the forkserver imports these once; each decode child then starts warm (~4x faster)
    _CTX.set_forkserver_preload(["tonearm.core.audio.stream", "av", "numpy", "soxr"])
else:  # pragma: no cover - tonearm runs on POSIX
    _CTX = mp.get_context("spawn")


def decode_context() -> Any:
    """The multiprocessing context decoding children are started from."""
    return _CTX
