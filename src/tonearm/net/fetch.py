"""Fetching user-given URLs safely (SSRF guard, size limit, timeout).

Every URL the server fetches (``sourceFileUrl``, AudD ``url``, stream URLs) and every
webhook it calls goes through :func:`guard_url`: only http(s), and no loopback,
link-local, private, multicast or reserved addresses unless explicitly allowed. The
host is resolved and checked before connecting, and the address actually connected to is
checked again before any of the body is read, so a DNS answer that changes between the
check and the connect (rebinding) cannot deliver an internal response to the caller.

Connections are **pinned**: the client connects to the very address that passed the check
(TLS still verifies the name, and SNI and Host carry it), through :class:`PinnedBackend`,
an httpcore network backend. The same backend holds a **total deadline**: every connect,
read and write waits at most for what is left of it, so a server trickling one byte at a
time cannot hold a request past ``timeout_s`` (a per-read timeout would never fire).

``allowlist`` (``settings.private_allowlist``) names private hosts or CIDRs that are
reachable even with the guard on, next to the all-or-nothing ``allow_private``.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
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


def _allowlisted(
    host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allowlist: Sequence[str]
) -> bool:
    """Whether ``host`` (as written in the URL) or its address ``ip`` is on the allowlist
    of private hosts and networks."""
    for entry in allowlist:
        entry = entry.strip()
        if not entry:
            continue
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if host.lower().rstrip(".") == entry.lower().rstrip("."):
                return True
    return False


def address_allowed(
    host: str, addr: str, allow_private: bool = False, allowlist: Sequence[str] = ()
) -> bool:
    if allow_private:
        return True
    ip = ipaddress.ip_address(addr.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not _forbidden(ip) or _allowlisted(host, ip, allowlist)


def guard_url(url: str, allow_private: bool = False, allowlist: Sequence[str] = ()) -> str:
    """Check ``url``; returns the IP address it resolved to (the one to connect to).

    Raises
    ------
    UnsafeURL
    """
    if not isinstance(url, str) or not url or len(url) > 4096:
        raise UnsafeURL("URL is empty or too long")
    try:
        url.encode("utf-8")
        parts = urlsplit(url)
        port = parts.port
    except (ValueError, UnicodeError) as e:
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
    for a in addrs:
        if not address_allowed(host, a, allow_private, allowlist):
            raise UnsafeURL(
                f"{host} resolves to a private, loopback or link-local address ({a}); "
                "refused (allow it with TONEARM_PRIVATE_ALLOWLIST, or all of them with "
                "TONEARM_ALLOW_PRIVATE_URLS=true)"
            )
    return addrs[0]


def check_peer(resp: httpx.Response, allowlist: Sequence[str] = ()) -> None:
    """Refuse a response whose connected peer is a forbidden address (rebinding)."""
    stream = resp.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    host = resp.request.url.host
    if peer and not address_allowed(host, str(peer[0]), False, allowlist):
        raise AudioError("bad_url", "the URL connected to a private or loopback address")


class Deadline:
    """A total time budget (monotonic); ``lift()`` ends it (a live stream, once open)."""

    def __init__(self, total_s: float) -> None:
        self.total_s = float(total_s)
        self.end: float | None = time.monotonic() + self.total_s

    def remaining(self) -> float | None:
        return None if self.end is None else self.end - time.monotonic()

    def bound(self, timeout: float | None, exc: type[Exception]) -> float | None:
        """``timeout`` cut to what is left; raises ``exc`` when nothing is."""
        rem = self.remaining()
        if rem is None:
            return timeout
        if rem <= 0:
            raise exc(f"deadline of {self.total_s:g} s passed")
        return rem if timeout is None else min(timeout, rem)

    def lift(self) -> None:
        self.end = None


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose every wait is cut to the deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner = inner
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        t = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, t), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects a host only to the address pinned for it (the one that passed
    :func:`guard_url`), within the deadline. An unpinned host is refused."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.pins: dict[str, str] = {}
        self._sync = httpcore.SyncBackend()

    def pin(self, url: str, addr: str) -> None:
        self.pins[httpx.URL(url).raw_host.decode("ascii").lower()] = addr

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addr = self.pins.get(host.lower().strip("[]"))
        if addr is None:
            raise httpcore.ConnectError(f"{host} was not checked; not connecting")
        t = self.deadline.bound(timeout, httpcore.ConnectTimeout)
        stream = self._sync.connect_tcp(addr, port, t, local_address, socket_options)
        return _DeadlineStream(stream, self.deadline)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not fetched")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def pinned_client(timeout_s: float) -> tuple[httpx.Client, PinnedBackend]:
    """An httpx client that connects only to pinned addresses, within a total deadline of
    ``timeout_s`` from now (``backend.deadline``)."""
    backend = PinnedBackend(Deadline(timeout_s))
    transport = httpx.HTTPTransport()
    ssl_context = transport._pool._ssl_context
    transport._pool = httpcore.ConnectionPool(ssl_context=ssl_context, network_backend=backend)
    client = httpx.Client(transport=transport, timeout=timeout_s, follow_redirects=False)
    return client, backend


def fetch_bytes(
    url: str,
    *,
    max_bytes: int,
    timeout_s: float = 30.0,
    allow_private: bool = False,
    max_redirects: int = 5,
    allowlist: Sequence[str] = (),
) -> bytes:
    """GET ``url`` and return the body, enforcing the SSRF guard on every redirect hop,
    connecting only to the checked address, all within ``timeout_s`` in total.

    Raises
    ------
    AudioError
        reason ``bad_url`` (refused, unreachable, HTTP error, deadline) or ``too_large``.
    """
    current = url
    client, backend = pinned_client(timeout_s)
    with client:
        for _ in range(max_redirects + 1):
            try:
                backend.pin(current, guard_url(current, allow_private, allowlist))
            except UnsafeURL as e:
                raise AudioError("bad_url", str(e)) from e
            try:
                with client.stream("GET", current, headers={"User-Agent": "tonearm"}) as resp:
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
            except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as e:
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
    url: str,
    allow_private: bool = False,
    timeout_s: float = 20.0,
    max_redirects: int = 5,
    allowlist: Sequence[str] = (),
) -> Iterator[tuple[ChunkReader, str | None]]:
    """Connect to a live audio stream (Icecast, Shoutcast, a plain file) with the SSRF
    guard on every redirect hop; gives a file over its body and FFmpeg's format name.

    Connecting (redirects and the answer's headers) must be done within ``timeout_s`` in
    total; the body then flows as long as it comes, each read waiting at most
    ``timeout_s``.

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
    client, backend = pinned_client(timeout_s)
    with client:
        for _ in range(max_redirects + 1):
            try:
                backend.pin(current, guard_url(current, allow_private, allowlist))
            except UnsafeURL as e:
                raise AudioError("bad_url", f"refused: {e}") from e
            try:
                with client.stream(
                    "GET", current, headers={"User-Agent": "tonearm", "Icy-MetaData": "0"}
                ) as resp:
                    if resp.is_redirect and resp.headers.get("location"):
                        current = str(resp.url.join(resp.headers["location"]))
                        continue
                    if resp.status_code >= 400:
                        raise AudioError("bad_url", f"the stream answered HTTP {resp.status_code}")
                    fmt = stream_format(resp.headers.get("content-type"))
                    backend.deadline.lift()  # connected: a live stream has no end
                    yield ChunkReader(resp.iter_bytes()), fmt
                    return
            except httpx.TimeoutException as e:
                raise AudioError("bad_url", f"timed out after {timeout_s:g} s") from e
            except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as e:
                raise AudioError("bad_url", f"cannot connect: {e}") from e
    raise AudioError("bad_url", "too many redirects")
