"""Fetching an http(s) image for a client without letting the client reach this server's network.

A URL in a request makes the server connect somewhere, so before every connection (the first
and each redirect) the host is resolved and every address it resolves to must be public:
loopback, private, link-local, shared (CGNAT), multicast, reserved addresses and cloud metadata
endpoints are refused. The connection then goes to the vetted address itself, so a second DNS
answer cannot swap in another one. Size and time are capped: the declared and streamed size by
`max_bytes`, the whole fetch (redirects included) by `timeout_s`, enforced by a watchdog that
shuts the socket down.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
import urllib.parse
from typing import Callable

from ..data.image_sources import ImageError, ImageLimits, short

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
# Metadata services that answer on addresses the generic checks would let through.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("168.63.129.16", "100.100.100.200",
                                                                  "169.254.169.254", "fd00:ec2::254"))

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_RESOLVER = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="qwenvl-dns")


def is_public_address(ip: Address) -> bool:
    """True for a globally routable unicast address; IPv4 embedded in IPv6 is judged as IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not is_public_address(embedded):
            return False
    return ip.is_global and not ip.is_multicast and not ip.is_reserved and ip not in METADATA_ADDRESSES


def fetch(url: str, limits: ImageLimits, allow: Callable[[Address], bool] = is_public_address) -> bytes:
    """The body of an http(s) URL, following up to MAX_REDIRECTS redirects, each one vetted."""
    name = short(url)
    deadline = time.monotonic() + limits.timeout_s
    for _ in range(MAX_REDIRECTS + 1):
        conn, target = _connection(url, name, deadline, limits, allow)
        try:
            with _watchdog(conn, _remaining(deadline, name, limits)):
                conn.request("GET", target, headers={"User-Agent": "qwenvl", "Accept": "image/*"})
                response = conn.getresponse()
                location = response.getheader("Location") if response.status in _REDIRECTS else None
                if location is None:
                    return _body(response, name, deadline, limits)
        except (OSError, http.client.HTTPException) as e:
            raise _fetch_error(name, e, deadline, limits) from None
        finally:
            conn.close()
        url = _redirected(url, location, name)
    raise ImageError(f"{name}: more than {MAX_REDIRECTS} redirects")


def _redirected(url: str, location: str, name: str) -> str:
    try:
        return urllib.parse.urljoin(url, location)
    except ValueError as e:
        raise ImageError(f"{name}: invalid redirect to {short(location)}: {e}") from None


def _connection(url: str, name: str, deadline: float, limits: ImageLimits, allow):
    """An unopened connection pinned to the vetted address of the URL's host, and the request target."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as e:
        raise ImageError(f"{name}: invalid URL: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageError(f"{name}: refused: {short(url)} is not an http(s) URL with a host")
    address = _vetted_address(parts.hostname, port, name, allow, _remaining(deadline, name, limits))
    connection_type = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    conn = connection_type(parts.hostname, port, address, timeout=_remaining(deadline, name, limits))
    return conn, urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))


def _vetted_address(host: str, port: int, name: str, allow, seconds: float) -> str:
    """The first address of `host`, after checking that every address it resolves to is allowed.

    The lookup runs on a resolver thread so that a slow DNS answer also ends at the deadline.
    """
    try:
        infos = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM).result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        raise ImageError(f"{name}: resolving {host!r} took longer than the download's time limit") from None
    except (socket.gaierror, UnicodeError) as e:
        raise ImageError(f"{name}: cannot resolve host {host!r}: {e}") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    refused = sorted({str(a) for a in addresses if not allow(a)})
    if refused or not addresses:
        raise ImageError(f"{name}: refused: host {host!r} resolves to a non-public address "
                         f"({', '.join(refused) or 'none'})")
    return str(addresses[0])


def _body(response: http.client.HTTPResponse, name: str, deadline: float, limits: ImageLimits) -> bytes:
    if response.status >= 300:
        raise ImageError(f"{name}: HTTP {response.status} {response.reason}")
    declared = response.getheader("Content-Length", "")
    if declared.isdigit() and int(declared) > limits.max_bytes:
        raise ImageError(f"{name}: {declared} bytes exceeds max_bytes {limits.max_bytes}")
    chunks, size = [], 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > limits.max_bytes:
            raise ImageError(f"{name}: download exceeds max_bytes {limits.max_bytes}")
        chunks.append(chunk)
    _remaining(deadline, name, limits)  # the watchdog ends a slow body as if it were complete
    return b"".join(chunks)


@contextlib.contextmanager
def _watchdog(conn: "_PinnedHTTP", seconds: float):
    """Shut the connection's socket down after `seconds`, so no slow peer outlasts the deadline."""
    timer = threading.Timer(seconds, conn.abort)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def _remaining(deadline: float, name: str, limits: ImageLimits) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise ImageError(f"{name}: download took longer than timeout_s {limits.timeout_s}")
    return left


def _fetch_error(name: str, e: Exception, deadline: float, limits: ImageLimits) -> ImageError:
    if time.monotonic() >= deadline or isinstance(e, TimeoutError):
        return ImageError(f"{name}: download took longer than timeout_s {limits.timeout_s}")
    return ImageError(f"{name}: cannot fetch: {type(e).__name__}: {e}")


class _PinnedHTTP(http.client.HTTPConnection):
    """An HTTP connection to an address checked in advance, whatever DNS says now."""

    def __init__(self, host: str, port: int, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self.address = address
        self.live: socket.socket | None = None  # kept after http.client hands the socket to the response

    def connect(self) -> None:
        self.sock = self.live = socket.create_connection((self.address, self.port), self.timeout)

    def abort(self) -> None:
        """Unblock a read in progress (called by the deadline watchdog from another thread)."""
        if self.live is not None:
            with contextlib.suppress(OSError):
                self.live.shutdown(socket.SHUT_RDWR)


class _PinnedHTTPS(_PinnedHTTP):
    """HTTPS to a checked address, with the certificate verified for the URL's host name."""

    default_port = 443

    def connect(self) -> None:
        super().connect()
        self.sock = self.live = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)
