"""Fetching user-given URLs safely (SSRF guard, size limit, timeout).

Every URL the server fetches (``sourceFileUrl``, AudD ``url``, stream URLs) and every
webhook it calls goes through :func:`guard_url`: only http(s), and no loopback,
link-local, private, multicast or reserved addresses unless explicitly allowed. The
host is resolved and checked before connecting, and the address actually connected to is
checked again before any of the body is read, so a DNS answer that changes between the
check and the connect (rebinding) cannot deliver an internal response to the caller.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from tonearm.core.audio.errors import AudioError


class UnsafeURL(ValueError):
    """The URL is malformed, not http(s), or points at a forbidden address."""


def _forbidden(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.ip_network("100.64.0.0/10"))
    )


def resolve_host(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise UnsafeURL(f"cannot resolve host {host!r}") from e
    return sorted({str(info[4][0]) for info in infos})


def guard_url(url: str, allow_private: bool = False) -> str:
    """Check ``url``; returns the IP address it resolved to (the one to connect to).

    Raises
    ------
    UnsafeURL
    """
    if not isinstance(url, str) or not url or len(url) > 4096:
        raise UnsafeURL("URL is empty or too long")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise UnsafeURL(f"malformed URL: {e}") from e
    if parts.scheme not in ("http", "https"):
        raise UnsafeURL("only http and https URLs are accepted")
    host = parts.hostname
    if not host:
        raise UnsafeURL("URL has no host")
    if parts.username or parts.password:
        raise UnsafeURL("credentials in URLs are not accepted")
    port = port or (443 if parts.scheme == "https" else 80)
    addrs = resolve_host(host, port)
    if not addrs:
        raise UnsafeURL(f"cannot resolve host {host!r}")
    if not allow_private:
        for a in addrs:
            if _forbidden(ipaddress.ip_address(a.split("%")[0])):
                raise UnsafeURL(
                    f"{host} resolves to a private, loopback or link-local address ({a}); "
                    "refused (set TONEARM_ALLOW_PRIVATE_URLS=true to allow)"
                )
    return addrs[0]


def check_peer(resp: httpx.Response) -> None:
    """Refuse a response whose connected peer is a forbidden address (rebinding)."""
    stream = resp.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer and _forbidden(ipaddress.ip_address(str(peer[0]).split("%")[0])):
        raise AudioError("bad_url", "the URL connected to a private or loopback address")


def fetch_bytes(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float = 30.0,
    allow_private: bool = False,
    max_redirects: int = 5,
) -> bytes:
    """GET ``url`` and return the body, enforcing the SSRF guard on every redirect hop.

    Raises
    ------
    AudioError
        reason ``bad_url`` (refused, unreachable, HTTP error) or ``too_large``.
    """
    current = url
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for _ in range(max_redirects + 1):
            try:
                guard_url(current, allow_private)
            except UnsafeURL as e:
                raise AudioError("bad_url", str(e)) from e
            try:
                with client.stream("GET", current, headers={"User-Agent": "tonearm"}) as resp:
                    if not allow_private:
                        check_peer(resp)
                    if resp.is_redirect:
                        loc = resp.headers.get("location")
                        if not loc:
                            raise AudioError("bad_url", "redirect without a location")
                        current = str(resp.url.join(loc))
                        continue
                    if resp.status_code >= 400:
                        raise AudioError("bad_url", f"the URL answered HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise AudioError(
                            "too_large", f"file is {declared} bytes, over the limit of {max_bytes}"
                        )
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        buf += chunk
                        if len(buf) > max_bytes:
                            raise AudioError(
                                "too_large", f"file is over the limit of {max_bytes} bytes"
                            )
                    return bytes(buf)
            except httpx.TimeoutException as e:
                raise AudioError("bad_url", f"timed out after {timeout_s:g} s") from e
            except httpx.HTTPError as e:
                raise AudioError("bad_url", f"cannot download: {e}") from e
    raise AudioError("bad_url", "too many redirects")


class ChunkReader(io.RawIOBase):
    """A non-seekable binary file over an iterator of byte chunks (what PyAV reads a live
    HTTP stream through)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._it = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


STREAM_FORMATS = {
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/aac": "aac",
    "audio/aacp": "aac",
    "audio/x-aac": "aac",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
}


def stream_format(content_type: str | None) -> str | None:
    """FFmpeg's format name for a stream's Content-Type (None: let FFmpeg probe)."""
    ct = (content_type or "").split(";")[0].strip().lower()
    return STREAM_FORMATS.get(ct)


@contextlib.contextmanager
def open_http_stream(
    url: str, allow_private: bool = False, timeout_s: float = 20.0, max_redirects: int = 5
) -> Iterator[tuple[ChunkReader, str | None]]:
    """Connect to a live audio stream (Icecast, Shoutcast, a plain file) with the SSRF
    guard on every redirect hop; gives a file over its body and FFmpeg's format name.

    Meant as the :data:`tonearm.core.audio.decode.Opener` of a
    :class:`tonearm.core.audio.stream.StreamingDecoder`, bound with
    ``functools.partial(open_http_stream, url, allow_private, timeout_s)`` (it then runs in
    the decoding child, so the connection lives and dies with it).

    Raises
    ------
    AudioError
        reason ``bad_url``: refused, unreachable, HTTP error, too many redirects.
    """
    current = url
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        for _ in range(max_redirects + 1):
            try:
                guard_url(current, allow_private)
            except UnsafeURL as e:
                raise AudioError("bad_url", f"refused: {e}") from e
            try:
                with client.stream(
                    "GET", current, headers={"User-Agent": "tonearm", "Icy-MetaData": "0"}
                ) as resp:
                    if not allow_private:
                        check_peer(resp)
                    if resp.is_redirect and resp.headers.get("location"):
                        current = str(resp.url.join(resp.headers["location"]))
                        continue
                    if resp.status_code >= 400:
                        raise AudioError("bad_url", f"the stream answered HTTP {resp.status_code}")
                    fmt = stream_format(resp.headers.get("content-type"))
                    yield ChunkReader(resp.iter_bytes()), fmt
                    return
            except httpx.TimeoutException as e:
                raise AudioError("bad_url", f"timed out after {timeout_s:g} s") from e
            except httpx.HTTPError as e:
                raise AudioError("bad_url", f"cannot connect: {e}") from e
    raise AudioError("bad_url", "too many redirects")
