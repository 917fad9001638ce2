"""Decode any common container (mp3, wav, flac, ogg/vorbis, opus, m4a/aac) into a Signal.

Decoding runs through PyAV (FFmpeg). Hostile files must neither hang nor crash the
server, so by default the decode runs in a child process with a wall-clock limit; a
segfault or hang in FFmpeg kills only that child.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.core.audio.errors import AudioError
from tonearm.core.audio.signal import Signal

Source = str | os.PathLike[str] | bytes


def _decode_inprocess(
    source: Source, max_duration_s: float | None, mono: bool, sr: int | None
) -> tuple[np.ndarray, int]:
    import av

    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        if not data:
            raise AudioError("empty", "the file is empty (0 bytes)")
        fobj: Any = io.BytesIO(data)
    else:
        path = Path(source)
        if not path.exists():
            raise AudioError("not_audio", f"no such file: {path}")
        if path.stat().st_size == 0:
            raise AudioError("empty", "the file is empty (0 bytes)")
        fobj = str(path)
    try:
        container = av.open(fobj, mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError as e:
        raise AudioError("not_audio", "not a recognised audio format") from e
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise AudioError("corrupt", f"cannot open audio: {e}") from e
    chunks: list[np.ndarray] = []
    try:
        if not container.streams.audio:
            raise AudioError("not_audio", "no audio stream found")
        stream = container.streams.audio[0]
        in_sr = int(stream.codec_context.sample_rate or stream.rate or 0)
        if in_sr <= 0:
            raise AudioError("corrupt", "audio stream has no sample rate")
        layout = "mono" if mono else None
        out_sr = sr or in_sr
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=out_sr)
        n = 0
        limit = None if max_duration_s is None else int(max_duration_s * out_sr) + 1
        try:
            for frame in container.decode(stream):
                for rf in resampler.resample(frame):
                    arr = rf.to_ndarray()
                    chunks.append(arr)
                    n += arr.shape[1]
                if limit is not None and n > limit:
                    raise AudioError(
                        "too_long", f"audio is longer than the limit of {max_duration_s:g} s"
                    )
            for rf in resampler.resample(None):
                chunks.append(rf.to_ndarray())
        except av.error.FFmpegError as e:
            if not chunks:
                raise AudioError("corrupt", f"audio data is corrupt: {e}") from e
            # a truncated tail: keep what decoded cleanly
    finally:
        container.close()
    if not chunks:
        raise AudioError("empty", "the file contains no audio samples")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    if samples.shape[1] == 0:
        raise AudioError("empty", "the file contains no audio samples")
    if not np.all(np.isfinite(samples)):
        samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
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
    _CTX.set_forkserver_preload(["tonearm.core.audio.decode", "av", "numpy"])


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
    """Decode a path or bytes into a :class:`Signal`.

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
        Downmix to one channel.
    sr : int, optional
        Resample to this rate (Hz) while decoding.
    isolate : bool
        Decode in a child process so a hostile file cannot hang or crash us.

    Raises
    ------
    AudioError
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
