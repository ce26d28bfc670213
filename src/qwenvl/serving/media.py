"""A client's image URL → checked, decoded pixels and a content key, under the server's policy.

`data:` URLs are always accepted; `file://` URLs and absolute paths only under the configured
local root; http(s) only when remote images are enabled, through `netguard` (public addresses
only, redirects vetted, size and time capped). Decoding reuses `data.images` (pixel limits read
from the header before decoding, decompression bombs refused). The key is a hash of the encoded
bytes, so the same picture sent twice, by any route, shares one cache entry of features; and a
picture whose features are already cached is not decoded again (identical bytes decoded fine
before): only its header is read, for its size. Should its features be evicted before the engine
gets to it, the engine decodes it then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from PIL import Image

from ..data.image_sources import ImageError, ImageLimits, read_source, short
from ..data.images import load_image, preprocess
from . import netguard


@dataclass(frozen=True)
class MediaPolicy:
    limits: ImageLimits  # allow_remote and allowed_local_root say which routes are open
    image_size: int  # the vision tower's input side
    allow_address: Callable = netguard.is_public_address


@dataclass(frozen=True)
class LoadedImage:
    key: str  # sha256 of the encoded bytes
    width: int
    height: int
    data: bytes
    policy: MediaPolicy
    decoded: torch.Tensor | None = None  # (3, S, S) when decoded at load time

    def pixels(self) -> torch.Tensor:
        """The preprocessed (3, S, S) pixels, decoding now if that was skipped."""
        if self.decoded is not None:
            return self.decoded
        return preprocess(load_image(self.data, self.policy.limits), self.policy.image_size)


def load(url: str, policy: MediaPolicy, cached: Callable[[str], bool] = lambda key: False) -> LoadedImage:
    """Read, check and preprocess one image; ImageError names the URL and the problem.

    `cached(key)` says whether the features of these bytes are already known: then only the
    header is read.
    """
    data = image_bytes(url, policy)
    key = hashlib.sha256(data).hexdigest()
    if cached(key):
        with Image.open(io.BytesIO(data)) as header:
            return LoadedImage(key, header.width, header.height, data, policy)
    image = load_image(data, policy.limits)
    return LoadedImage(key, image.width, image.height, data, policy, preprocess(image, policy.image_size))


def image_bytes(url: str, policy: MediaPolicy) -> bytes:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    local = dataclasses.replace(policy.limits, allow_remote=False)  # core readers never fetch
    if scheme == "data":
        return read_source(url, local).data
    if scheme in ("http", "https"):
        if not policy.limits.allow_remote:
            raise ImageError(f"{short(url)}: remote images are disabled on this server "
                             "(start it with --allow-remote-images)")
        return netguard.fetch(url, policy.limits, policy.allow_address)
    if scheme == "file" or url.startswith("/"):
        _check_local(url, policy.limits.allowed_local_root)
        return read_source(url, local).data
    raise ImageError(f"{short(url)}: unsupported image URL; use a data: URL with base64, http(s):// or file://")


def _check_local(url: str, root: Path | None) -> None:
    """Refuse paths outside the root before touching them, so refusals say nothing about existence."""
    if root is None:
        raise ImageError(f"{short(url)}: local files are disabled on this server "
                         "(start it with --allowed-local-media-path DIR)")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise ImageError(f"{short(url)}: invalid URL: {e}") from None
    path = Path(urllib.request.url2pathname(parts.path) if parts.scheme else url)
    if parts.scheme and parts.netloc not in ("", "localhost"):
        raise ImageError(f"{short(url)}: file URLs must name a local file")
    try:
        inside = path.resolve().is_relative_to(Path(root).resolve())
    except (OSError, ValueError) as e:  # a NUL byte, a symlink loop
        raise ImageError(f"{short(url)}: invalid path: {e}") from None
    if not inside:
        raise ImageError(f"{short(url)}: refused: outside the allowed local media path")
