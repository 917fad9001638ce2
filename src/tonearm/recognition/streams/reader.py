"""The stream reader: a child process that connects (SSRF-guarded), decodes with PyAV as the
bytes arrive and sends mono PCM back through a pipe, so a hostile stream can crash or hang
only that child."""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from tonearm.core.audio.pcm import decode_context
from tonearm.net.fetch import ChunkReader, stream_format


def _reader_main(
    conn: Any,
    url: str,
    allow_private: bool,
    sr: int,
    timeout_s: float,
    block_s: float,
    allowlist: tuple[str, ...] = (),
) -> None:
    """Child process: connect, decode as bytes arrive, send ("pcm", float32 mono bytes)."""
    try:
        import av

        from tonearm.net.fetch import UnsafeURL, guard_url, pinned_client

        current = url
        # connected to the checked address only, and connecting (redirects and headers)
        # within timeout_s in total; then each read waits at most timeout_s
        client, backend = pinned_client(timeout_s)
        with client:
            for _ in range(6):
                try:
                    backend.pin(current, guard_url(current, allow_private, allowlist))
                except UnsafeURL as e:
                    conn.send(("error", f"refused: {e}"))
                    return
                with client.stream(
                    "GET", current, headers={"User-Agent": "tonearm", "Icy-MetaData": "0"}
                ) as resp:
                    if resp.is_redirect and resp.headers.get("location"):
                        current = str(resp.url.join(resp.headers["location"]))
                        continue
                    if resp.status_code >= 400:
                        conn.send(("error", f"the stream answered HTTP {resp.status_code}"))
                        return
                    backend.deadline.lift()
                    conn.send(("connected", resp.headers.get("content-type", "")))
                    reader = ChunkReader(resp.iter_bytes())
                    container = av.open(
                        reader, mode="r", format=stream_format(resp.headers.get("content-type"))
                    )
                    try:
                        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
                        parts: list[np.ndarray] = []
                        n = 0
                        block = max(1, int(block_s * sr))
                        try:
                            for frame in container.decode(audio=0):
                                for rf in resampler.resample(frame):
                                    a = rf.to_ndarray().reshape(-1)
                                    parts.append(a)
                                    n += a.size
                                if n >= block:
                                    conn.send(("pcm", np.concatenate(parts).tobytes()))
                                    parts, n = [], 0
                        except av.error.FFmpegError as e:
                            if parts:
                                conn.send(("pcm", np.concatenate(parts).tobytes()))
                            conn.send(("error", f"stream data cannot be decoded: {e}"))
                            return
                        for rf in resampler.resample(None):
                            parts.append(rf.to_ndarray().reshape(-1))
                        if parts:
                            conn.send(("pcm", np.concatenate(parts).astype(np.float32).tobytes()))
                    finally:
                        container.close()
                    conn.send(("eof", "the stream ended"))
                    return
            conn.send(("error", "too many redirects"))
    except Exception as e:  # reported to the monitor, which reconnects
        with contextlib.suppress(Exception):
            conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()


# the decoders' context: children never re-run the parent's __main__ (see decode_context)
_CTX = decode_context()
