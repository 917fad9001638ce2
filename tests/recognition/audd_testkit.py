"""Shared pieces of the AudD API tests: synthesized songs, a catalog built from them,
local HTTP servers (files, streams, callback receiver) and the contract's schemas."""

from __future__ import annotations

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tonearm.catalog.analyzers import select_analyzers
from tonearm.catalog.context import Catalog
from tonearm.catalog.ingest import ingest_bytes
from tonearm.core.audio.encode import encode
from tonearm.core.audio.signal import Signal

SR = 22050
CONTRACT = Path("/work/shared/reference/audd/openapi.yaml")


def song(seed: int, duration_s: float = 20.0, sr: int = SR) -> np.ndarray:
    """A distinct synthetic 'song': a random melody of harmonic notes over a bass line and
    noise-burst percussion, all drawn from ``seed``. Shape (n,), float32, peak ~0.8."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * sr)
    y = np.zeros(n, dtype=np.float64)
    t = 0
    while t < n:
        dur = int(rng.uniform(0.12, 0.45) * sr)
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        k = np.arange(min(dur, n - t))
        env = np.exp(-k / (0.35 * dur)) * (1 - np.exp(-k / (0.005 * sr)))
        note = sum(
            (0.6 / h) * np.sin(2 * np.pi * f0 * h * k / sr + rng.uniform(0, 6.28))
            for h in range(1, 5)
        )
        y[t : t + k.size] += env * note
        if rng.random() < 0.35:
            m = min(int(0.05 * sr), n - t)
            y[t : t + m] += 0.3 * rng.standard_normal(m) * np.exp(-np.arange(m) / (0.01 * sr))
        t += dur
    bass_f = 55.0 * 2 ** (rng.integers(0, 12, size=int(duration_s) + 1) / 12)
    idx = np.minimum((np.arange(n) / sr).astype(int), bass_f.size - 1)
    y += 0.25 * np.sin(2 * np.pi * np.cumsum(bass_f[idx]) / sr)
    y *= 0.8 / (np.max(np.abs(y)) + 1e-9)
    return y.astype(np.float32)


@dataclass
class SongCatalog:
    catalog: Catalog
    songs: dict[str, np.ndarray] = field(default_factory=dict)  # asset_id -> samples
    titles: dict[str, str] = field(default_factory=dict)  # asset_id -> title


def build_catalog(catalog: Catalog, specs: list[tuple[int, float, dict[str, Any]]]) -> SongCatalog:
    """Ingest songs ``(seed, duration_s, metadata)`` with the fingerprint analyzer."""
    out = SongCatalog(catalog)
    fp = select_analyzers(["fingerprint"])
    for seed, dur, meta in specs:
        y = song(seed, dur)
        data = encode(Signal(y, SR), "wav")
        o = ingest_bytes(
            catalog,
            data,
            filename=f"song{seed}.wav",
            kind="music",
            metadata={"name": f"Song {seed}", **meta},
            analyzers=fp,
            source_path=f"/music/song{seed}.wav",
        )
        assert o.status == "added", o.reason
        assert o.asset_id is not None
        out.songs[o.asset_id] = y
        out.titles[o.asset_id] = meta.get("name", f"Song {seed}")
    return out


def excerpt(y: np.ndarray, start_s: float, dur_s: float, fmt: str = "wav", sr: int = SR) -> bytes:
    seg = y[int(start_s * sr) : int((start_s + dur_s) * sr)]
    return encode(Signal(seg, sr), fmt)


# -- local HTTP servers ----------------------------------------------------------------------
class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(handler_cls: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run ``handler_cls`` on 127.0.0.1 (random port) for the block; yields the base URL."""
    srv = _Server(("127.0.0.1", 0), handler_cls)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()


def file_server(files: dict[str, bytes]) -> Any:
    """Serves ``files`` (path -> bytes); other paths are 404."""

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = files.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return serve(H)


def stream_server(mp3: bytes, chunk: int = 4096) -> Any:
    """An Icecast-like endpoint: ``/live`` streams ``mp3`` (audio/mpeg, no length) then
    closes; counts connections in ``H.connections``."""

    class H(http.server.BaseHTTPRequestHandler):
        connections = 0

        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            if self.path != "/live":
                self.send_response(404)
                self.end_headers()
                return
            type(self).connections += 1
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.send_header("icy-name", "tonearm test radio")
            self.end_headers()
            try:
                for i in range(0, len(mp3), chunk):
                    self.wfile.write(mp3[i : i + chunk])
            except (BrokenPipeError, ConnectionResetError):
                pass

    return serve(H)


def live_server(mp3: bytes, duration_s: float, speed: float = 3.0, chunk: int = 2048) -> Any:
    """A live radio: ``/live`` plays ``mp3`` (``duration_s`` long) once, ``speed`` times
    faster than real time, from the first connection on; every listener hears the same
    moment (a listener joining late starts there), and once the programme is over the
    stream is down (503). ``H.served`` counts the listeners that got audio."""

    class H(http.server.BaseHTTPRequestHandler):
        served = 0
        started: float | None = None
        lock = threading.Lock()

        def log_message(self, *a: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802
            cls = type(self)
            with cls.lock:
                if cls.started is None:
                    cls.started = time.monotonic()
                t0 = cls.started
            rate = len(mp3) / duration_s * speed  # bytes per wall-clock second
            pos = int((time.monotonic() - t0) * rate) // chunk * chunk
            if self.path != "/live" or pos >= len(mp3):
                self.send_response(404 if self.path != "/live" else 503)
                self.end_headers()
                return
            with cls.lock:
                cls.served += 1
            self.send_response(200)
            self.send_header("Content-Type", "audio/mpeg")
            self.end_headers()
            try:
                while pos < len(mp3):
                    wait = t0 + pos / rate - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    self.wfile.write(mp3[pos : pos + chunk])
                    pos += chunk
            except (BrokenPipeError, ConnectionResetError):
                pass

    return serve(H), H


class Receiver:
    """Collects JSON POST bodies (a callback URL)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(n) or b"null")
                with rec.lock:
                    rec.bodies.append(body)
                self.send_response(200)
                self.end_headers()

        return H


# -- the contract ----------------------------------------------------------------------------
_SPEC: dict[str, Any] | None = None


def contract() -> dict[str, Any]:
    global _SPEC
    if _SPEC is None:
        import yaml

        _SPEC = yaml.safe_load(CONTRACT.read_text())
    return _SPEC


def validate(instance: Any, schema_name: str) -> None:
    """Validate against ``#/components/schemas/<schema_name>`` of AudD's OpenAPI, $refs
    resolved inside the document; raises jsonschema.ValidationError."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = contract()
    res = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:audd", res)
    schema = {"$ref": f"urn:audd#/components/schemas/{schema_name}"}
    validator = jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(instance)


def fixture(name: str) -> Any:
    return json.loads((CONTRACT.parent / "fixtures" / name).read_text())
