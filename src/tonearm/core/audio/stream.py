"""The one child-process decoder: a child decodes and sends float32 blocks.

Every isolated decode runs here: a whole file (:func:`tonearm.core.audio.decode.decode`
collects the blocks) and, block by block, what never fits in memory: long files (an
hours-long mix for an enterprise scan, ``tonearm scan``) and live streams. The child
decodes with :func:`tonearm.core.audio.pcm.iter_pcm` (FFmpeg decodes at the file's rate,
the downmix is the channel mean, soxr resamples: the same arithmetic as a catalog
reference's fingerprint) and sends blocks through a pipe. ``send`` blocks while the parent
is busy, so neither side holds more than a block or two; a hostile file can only crash or
hang the child.

Usage for a file::

    with stream_for(path, Purpose.LONG_FILE, limits, sr=8000) as dec:
        total = dec.duration_s  # what the container declares, or None
        for block in dec:  # np.ndarray (n,), float32, at 8000 Hz
            ...

Usage for a live stream (recognition/streams/monitor.py): pass an :data:`Opener`, a
picklable callable that opens the connection *in the child* and gives a file object and
FFmpeg's format name, e.g. ``functools.partial(open_http_stream, url, allow_private,
timeout_s)`` from ``tonearm.net.fetch``; use ``Purpose.STREAM`` (no length or total
time limit) and ``stall_timeout_s`` for "no data for this long". ``dec.info["format"]``
says what was opened; the end of the input is the end of iteration (``dec.end_reason``
says why it ended: ``"eof"`` or ``"truncated: ..."`` for a broken tail), and any failure
(refused URL, HTTP error, undecodable data) is an :class:`AudioError` raised from the
iteration, after the blocks that decoded.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.limits import AudioLimits, DecodeLimits, Purpose
from tonearm.core.audio.pcm import (
    PCM_BLOCK_S,
    Opener,
    Source,
    check_source,
    container_duration_s,
    decode_context,
    iter_pcm,
    open_container,
)

DEFAULT_BLOCK_S = 10.0  # PCM per message from the decoding child


def _stream_child(
    conn: Any,
    source: Source | Opener,
    sr: int | None,
    mono: bool,
    max_duration_s: float | None,
    block_s: float,
    span_s: tuple[int, float] | None = None,
) -> None:
    """Child process: send ("info", {...}), then ("pcm", (float32 bytes, channels, rate))
    blocks, then ("eof", reason) or ("error", (reason, text))."""
    try:
        with open_container(source) as container:
            conn.send(
                (
                    "info",
                    {
                        "duration_s": container_duration_s(container),
                        "format": getattr(container.format, "name", None),
                    },
                )
            )
            parts: list[np.ndarray] = []
            n = sent = 0
            out_sr = 0
            end = "eof"

            def flush() -> None:
                nonlocal parts, n, sent
                y = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)
                conn.send(("pcm", (y.tobytes(), y.shape[0], out_sr)))
                sent += n
                parts, n = [], 0

            try:
                # the loop's own blocks no longer than ours: a live stream's latency stays
                for x, out_sr in iter_pcm(
                    container,
                    mono=mono,
                    sr=sr,
                    max_duration_s=max_duration_s,
                    block_s=min(block_s, PCM_BLOCK_S),
                    span_s=span_s,
                ):
                    parts.append(x)
                    n += x.shape[1]
                    if n >= max(1, int(block_s * out_sr)):
                        flush()
            except AudioError as e:
                if e.reason != "corrupt" or not (sent or n):
                    raise
                end = f"truncated: {e.message}"
            if parts:
                flush()
            if not sent:
                raise AudioError("empty", "the file contains no audio samples")
            conn.send(("eof", end))
    except AudioError as e:
        with contextlib.suppress(Exception):
            conn.send(("error", (e.reason, e.message)))
    except Exception as e:  # reported to the parent
        with contextlib.suppress(Exception):
            conn.send(("error", ("corrupt", f"{type(e).__name__}: {e}")))
    finally:
        conn.close()


class StreamingDecoder:
    """Iterate over the PCM blocks of an input decoded in a child process.

    Parameters
    ----------
    source : path, bytes or Opener
        An :data:`Opener` is called in the child (e.g. to connect to a live stream).
    sr : int, optional
        Output rate in Hz (soxr); None keeps the input's own rate (see :attr:`sr_out`).
    limits : DecodeLimits
        ``max_bytes`` is checked before starting (paths and bytes), ``max_duration_s``
        while decoding, ``timeout_s`` bounds the total time spent waiting for the decoder
        (the time the consumer takes between blocks does not count).
    block_s : float
        Seconds of audio per block (the last one may be shorter).
    stall_timeout_s : float, optional
        Longest wait for any one message (a live stream that stopped sending).
    mono : bool
        Downmix to one channel (the channel mean). Blocks are then shape (n,); without
        it, shape (n_channels, n).
    span_s : (int, float), optional
        Decode only this stretch of the input (seconds, the start a whole second; see
        :func:`tonearm.core.audio.pcm.iter_pcm`).

    Iteration yields float32 blocks at ``sr``; it raises
    :class:`AudioError` like :func:`tonearm.core.audio.decode.decode`.
    """

    def __init__(
        self,
        source: Source | Opener,
        sr: int | None,
        limits: DecodeLimits | None = None,
        *,
        block_s: float = DEFAULT_BLOCK_S,
        stall_timeout_s: float | None = None,
        mono: bool = True,
        span_s: tuple[int, float] | None = None,
    ) -> None:
        limits = limits or DecodeLimits()
        if not callable(source):
            check_source(source, limits.max_bytes)
        self.source, self.limits, self.mono = source, limits, mono
        self.span_s = span_s
        self.sr = None if sr is None else int(sr)
        self.sr_out: int | None = self.sr  # the rate of the blocks (known by the first one)
        self.block_s, self.stall_timeout_s = block_s, stall_timeout_s
        self.info: dict[str, Any] = {}
        self.end_reason: str | None = None
        self._conn: Any = None
        self._proc: Any = None
        self._pending: tuple[str, Any] | None = None  # a message read before iterating
        self._waited = 0.0

    @property
    def duration_s(self) -> float | None:
        """The duration the container declares (after :meth:`start`; None: unknown)."""
        d = self.info.get("duration_s")
        return None if d is None else float(d)

    def start(self) -> StreamingDecoder:
        """Start the child and wait for it to open the input (idempotent)."""
        if self._conn is not None:
            return self
        ctx = decode_context()
        parent, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(
            target=_stream_child,
            args=(
                child,
                self.source,
                self.sr,
                self.mono,
                self.limits.max_duration_s,
                self.block_s,
                self.span_s,
            ),
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._conn = parent
        kind, payload = self._recv()
        if kind == "info":
            self.info = dict(payload)
        else:
            self._pending = (kind, payload)
        return self

    def _recv(self) -> tuple[str, Any]:
        left = self.stall_timeout_s
        total = self.limits.timeout_s
        if total is not None:
            rest = max(0.0, total - self._waited)
            left = rest if left is None else min(left, rest)
        t = time.monotonic()
        ready = self._conn.poll(left)
        self._waited += time.monotonic() - t
        if not ready:
            if total is not None and self._waited >= total:
                raise AudioError("timeout", f"decoding took longer than {total:g} s")
            raise AudioError("timeout", f"no audio for {self.stall_timeout_s:g} s")
        try:
            msg: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError) as e:
            raise self._child_died() from e
        return msg

    def _child_died(self) -> AudioError:
        """What to say when the decoding child went away without a word: killed by a
        signal (the decoder crashed on this input) or exited (it could not run at all)."""
        code = None
        if self._proc is not None:
            self._proc.join(2.0)
            code = self._proc.exitcode
        if code is not None and code < 0:
            return AudioError(
                "corrupt", f"the decoder crashed on this input (killed by signal {-code})"
            )
        if code is not None and code > 0:
            # not the file's fault: e.g. the child could not start (importing the caller's
            # script failed) or ran out of memory
            return AudioError(
                "corrupt",
                f"the decoder process exited with code {code} before reading the input",
            )
        return AudioError("corrupt", "the decoder crashed on this input")

    def __iter__(self) -> Iterator[np.ndarray]:
        self.start()
        try:
            while True:
                if self._pending is not None:
                    kind, payload = self._pending
                    self._pending = None
                else:
                    kind, payload = self._recv()
                if kind == "pcm":
                    data, channels, self.sr_out = payload
                    y = np.frombuffer(data, dtype=np.float32)
                    yield y if self.mono else y.reshape(channels, -1)
                elif kind == "eof":
                    self.end_reason = str(payload)
                    return
                elif kind == "error":
                    reason, message = payload
                    raise AudioError(reason, message)
        finally:
            self.close()

    def read_all(self) -> np.ndarray:
        """Every block concatenated, float32, shape (n,) (mono) or (n_channels, n), for
        inputs that fit in memory."""
        blocks = list(self)
        if blocks:
            return np.concatenate(blocks, axis=-1)
        return np.zeros(0 if self.mono else (1, 0), dtype=np.float32)

    def kill(self) -> None:
        """End the child from another thread: the iterating thread then gets an
        :class:`AudioError` (the decoder went away) at its next read."""
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.kill()

    def close(self) -> None:
        """Stop the child (safe to call twice)."""
        if self._conn is not None:
            self._conn.close()
        if self._proc is not None:
            if self._proc.is_alive():
                self._proc.kill()
            self._proc.join(5)
            self._proc = None

    def __enter__(self) -> StreamingDecoder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def stream_for(
    source: Source | Opener,
    purpose: Purpose,
    limits: AudioLimits,
    *,
    sr: int,
    block_s: float = DEFAULT_BLOCK_S,
    stall_timeout_s: float | None = None,
) -> StreamingDecoder:
    """A :class:`StreamingDecoder` (not started) for ``source`` under ``purpose``'s
    limits (``LONG_FILE`` or ``STREAM``; the others work too, for a mono PCM stream of a
    short input)."""
    return StreamingDecoder(
        source,
        sr,
        limits.for_purpose(Purpose(purpose)),
        block_s=block_s,
        stall_timeout_s=stall_timeout_s,
    )
