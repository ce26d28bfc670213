"""Image bytes from where prompts point: paths, file:// and http(s):// URLs, bytes, base64, data URLs.

Prompts and API requests carry image sources from outside, so every reader is bounded by
`ImageLimits` before a byte reaches a decoder, and every error names the input: in a batch or
a server log the message says which image was at fault.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import os
import re
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
_CHUNK = 64 * 1024
_NAME_CHARS = 100


@dataclass(frozen=True)
class ImageLimits:
    """What one image source may cost, checked before any pixel is decoded.

    max_bytes: the encoded size (file, download, decoded base64).
    max_pixels: width × height from the header. 64 M (8000 × 8000) is beyond real photos and
        below Pillow's own bomb threshold (~89.5 M), so this check is the one that speaks; a
        decoded RGB image that size is ~192 MB. Raising it past Pillow's threshold also needs
        `PIL.Image.MAX_IMAGE_PIXELS` raised, or Pillow's check still refuses.
    allow_remote: http(s) URLs are fetched only when True, because fetching makes this machine
        request whatever URL a prompt holds (a server-side request forgery risk).
    timeout_s: for each network operation, and for the whole download.
    allowed_local_root: when set, local paths and file:// URLs must resolve (symlinks followed)
        inside it.
    """

    max_bytes: int = 32 * MiB
    max_pixels: int = 64_000_000
    allow_remote: bool = False
    timeout_s: float = 10.0
    allowed_local_root: Path | None = None

    def __post_init__(self):
        for field in ("max_bytes", "max_pixels", "timeout_s"):
            if not getattr(self, field) > 0:
                raise ValueError(f"ImageLimits.{field} must be positive, got {getattr(self, field)!r}")


class ImageError(ValueError):
    """An image source could not be read or decoded; the message starts with the input's name."""


@dataclass(frozen=True)
class SourceBytes:
    """The encoded bytes of a source and the name its errors use.

    `hint` is added to decode errors when reading the source involved a guess (a string that is
    no file was read as base64), so a mistyped path is not reported as a mere corrupt image.
    """

    data: bytes
    name: str
    hint: str = ""


def read_image_bytes(source, limits: ImageLimits = ImageLimits()) -> bytes:
    """The encoded bytes of a path, file:// or http(s):// URL, bytes, base64 string or data URL."""
    return read_source(source, limits).data


def read_source(source, limits: ImageLimits = ImageLimits()) -> SourceBytes:
    """`read_image_bytes` keeping the source's name (and any guess made) for later errors."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = f"<bytes: {len(data)} bytes>"
        _check_size(len(data), name, limits)
        return SourceBytes(data, name)
    if isinstance(source, os.PathLike):
        name = short(os.fspath(source))
        return SourceBytes(_read_local(Path(source), name, limits), name)
    if not isinstance(source, str):
        raise ImageError(f"<{type(source).__name__}>: not an image source; expected a path, URL, "
                         "bytes, base64 string or PIL image")
    if source[:5].lower() == "data:":
        return _read_data_url(source, limits)
    url = _URL.match(source)
    if url:
        return SourceBytes(_read_url(source, url.group(1).lower(), limits), short(source))
    return _read_plain_string(source, limits)


def short(text: str) -> str:
    """`text` cut to about 100 characters for messages: base64 sources can be megabytes long."""
    if not text:
        return "<empty string>"
    return text if len(text) <= _NAME_CHARS else f"{text[:_NAME_CHARS]}... ({len(text)} chars)"


def _check_size(size: int, name: str, limits: ImageLimits) -> None:
    if size > limits.max_bytes:
        raise ImageError(f"{name}: {size} bytes exceeds max_bytes {limits.max_bytes}")


def _read_plain_string(text: str, limits: ImageLimits) -> SourceBytes:
    """An existing path first (what the official code passes), else base64, else a missing file."""
    name = short(text)
    if os.path.exists(text):
        return SourceBytes(_read_local(Path(text), name, limits), name)
    try:
        data = _b64decode(text, name, limits)
    except binascii.Error:
        raise ImageError(f"{name}: no such file (nor a URL or valid base64)") from None
    return SourceBytes(data, name, hint=" (read as base64, since no file has that name)")


def _b64decode(text: str, name: str, limits: ImageLimits) -> bytes:
    """Strict base64 (standard or URL-safe alphabet); binascii.Error when `text` is not base64."""
    compact = "".join(text.split())  # MIME base64 wraps lines
    if not compact.isascii():
        raise binascii.Error("non-ASCII characters")
    urlsafe = "-" in compact or "_" in compact
    decoded = base64.b64decode(compact, altchars=b"-_" if urlsafe else None, validate=True)
    _check_size(len(decoded), name, limits)
    return decoded


def _read_data_url(url: str, limits: ImageLimits) -> SourceBytes:
    """`data:[type][;base64],payload`; without `;base64` the payload is percent-encoded."""
    header, comma, payload = url.partition(",")
    media_type = header[5:].split(";")[0] or "no type"
    name = f"<data URL: {short(media_type)}, {len(url)} chars>"
    if not comma:
        raise ImageError(f"{name}: malformed data URL (no comma before the payload)")
    if header.lower().endswith(";base64"):
        try:
            return SourceBytes(_b64decode(urllib.parse.unquote(payload), name, limits), name)
        except binascii.Error as e:
            raise ImageError(f"{name}: invalid base64: {e}") from None
    data = urllib.parse.unquote_to_bytes(payload)
    _check_size(len(data), name, limits)
    return SourceBytes(data, name)


def _read_url(url: str, scheme: str, limits: ImageLimits) -> bytes:
    name = short(url)
    if scheme == "file":
        parts = urllib.parse.urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ImageError(f"{name}: file URLs must name a local file, not host {parts.netloc!r}")
        return _read_local(Path(urllib.request.url2pathname(parts.path)), name, limits)
    if scheme in ("http", "https"):
        return _read_remote(url, name, limits)
    raise ImageError(f"{name}: unsupported URL scheme {scheme!r} (use a path, file://, http:// or https://)")


def _read_local(path: Path, name: str, limits: ImageLimits) -> bytes:
    """A regular file, at most max_bytes, inside `allowed_local_root` when one is set.

    The root check resolves symlinks first, then opens the resolved path without following a
    final symlink, so a link swapped in after the check is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)  # a FIFO must not block the open
    if limits.allowed_local_root is not None:
        root = Path(limits.allowed_local_root).resolve()
        path = path.resolve()
        if not path.is_relative_to(root):
            raise ImageError(f"{name}: refused: resolves outside allowed_local_root {root}")
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except OSError as e:
        raise ImageError(f"{name}: cannot open: {e.strerror or e}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{name}: not a regular file")
        _check_size(info.st_size, name, limits)
        with open(fd, "rb", closefd=False) as f:
            data = f.read(limits.max_bytes + 1)  # the file may have grown since fstat
    finally:
        os.close(fd)
    _check_size(len(data), name, limits)
    return data


def _read_remote(url: str, name: str, limits: ImageLimits) -> bytes:
    """An http(s) download, refused past max_bytes (declared or streamed) or past timeout_s."""
    if not limits.allow_remote:
        raise ImageError(f"{name}: remote images are disabled; enable them with "
                         "ImageLimits(allow_remote=True) (CLI: --allow-remote-images)")
    deadline = time.monotonic() + limits.timeout_s
    request = urllib.request.Request(url, headers={"User-Agent": "qwenvl"})
    try:
        with urllib.request.urlopen(request, timeout=limits.timeout_s) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit():
                _check_size(int(declared), name, limits)
            chunks, size = [], 0
            while chunk := response.read1(_CHUNK):  # read1: returns as data arrives, so the deadline holds
                size += len(chunk)
                if size > limits.max_bytes:
                    raise ImageError(f"{name}: download exceeds max_bytes {limits.max_bytes}")
                if time.monotonic() > deadline:
                    raise ImageError(f"{name}: download took longer than timeout_s {limits.timeout_s}")
                chunks.append(chunk)
    except urllib.error.HTTPError as e:
        raise ImageError(f"{name}: HTTP {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise ImageError(f"{name}: cannot fetch: {e.reason}") from None
    except TimeoutError:
        raise ImageError(f"{name}: timed out after {limits.timeout_s} s") from None
    except (OSError, http.client.HTTPException) as e:
        raise ImageError(f"{name}: cannot fetch: {type(e).__name__}: {e}") from None
    return b"".join(chunks)
