"""Decoding image sources into RGB safely, and the official Qwen-VL preprocessing into pixels.

Parity with the official code (`Image.open(src).convert("RGB")`, then torchvision's bicubic
`Resize((S, S))`, `ToTensor`, CLIP `Normalize`) is kept wherever it is well defined:
- alpha is dropped, not composited: RGBA/LA/PA/P-with-transparency become the colours stored
  under the alpha, as Pillow's `convert("RGB")` gives;
- EXIF orientation is not applied: the model sees the pixels as stored;
- animated GIF/WebP/PNG give their first frame.
The one deliberate difference: 16/32-bit and float greyscale (I;16, I, F) are scaled to 8 bits,
where Pillow's `convert("RGB")` clips everything above 255 to white.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from .image_sources import ImageError, ImageLimits, SourceBytes, read_image_bytes, read_source

__all__ = ["CLIP_MEAN", "CLIP_STD", "ImageError", "ImageLimits", "load_image", "preprocess",
           "preprocess_batch", "read_image_bytes"]

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_MEAN = torch.tensor(CLIP_MEAN, dtype=torch.float32).view(3, 1, 1)
_STD = torch.tensor(CLIP_STD, dtype=torch.float32).view(3, 1, 1)

# Common raster formats that Pillow decodes itself (multi-picture JPEGs come in as JPEG). EPS is
# left out on purpose: Pillow hands it to Ghostscript, an interpreter that untrusted input must
# never reach; rare formats are left out to keep the decoders exposed to untrusted input few.
DECODABLE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF", "ICO", "PPM", "TGA", "JPEG2000", "AVIF", "QOI")


def load_image(source, limits: ImageLimits = ImageLimits()) -> Image.Image:
    """An RGB image from a path, URL, bytes, base64 string, data URL or PIL image, within `limits`."""
    if isinstance(source, Image.Image):
        return _decoded_rgb(source, _pil_name(source), limits)
    read = read_source(source, limits)
    return _decoded_rgb(_open(read), read.name, limits, read.hint)


def preprocess(image: Image.Image, image_size: int) -> torch.Tensor:
    """The official transform: bicubic resize to image_size², /255, CLIP mean/std → (3, S, S) float32."""
    _check_image_size(image_size)
    rgb = image if image.mode == "RGB" else _to_rgb(image, _pil_name(image))
    resized = rgb.resize((image_size, image_size), Image.Resampling.BICUBIC)
    pixels = torch.from_numpy(np.array(resized, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    return (pixels - _MEAN) / _STD


def preprocess_batch(images: Sequence[Image.Image], image_size: int) -> torch.Tensor:
    """`preprocess` for each image, stacked → (N, 3, S, S); N may be 0."""
    _check_image_size(image_size)
    pixels = [preprocess(image, image_size) for image in images]
    return torch.stack(pixels) if pixels else torch.empty(0, 3, image_size, image_size)


def _check_image_size(image_size: int) -> None:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size <= 0:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")


def _pil_name(image: Image.Image) -> str:
    return f"<PIL image {image.width}x{image.height} {image.mode}>"


def _open(read: SourceBytes) -> Image.Image:
    """Identify the format and read the header only: Image.open decodes no pixels yet."""
    if not read.data:
        raise ImageError(f"{read.name}: empty input")
    Image.init()
    formats = [f for f in DECODABLE_FORMATS if f in Image.OPEN]  # AVIF, WebP may be built out
    with _pillow_errors(read.name, read.hint):
        return Image.open(io.BytesIO(read.data), formats=formats)


def _decoded_rgb(image: Image.Image, name: str, limits: ImageLimits, hint: str = "") -> Image.Image:
    """Pixel count from the header checked, then decoded and converted to RGB."""
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ImageError(f"{name}: {width}x{height} = {width * height} pixels exceeds max_pixels "
                         f"{limits.max_pixels}; refused before decoding")
    if width * height == 0:
        raise ImageError(f"{name}: image has no pixels ({width}x{height})")
    with _pillow_errors(name, hint):
        image.load()
    return _to_rgb(image, name)


@contextlib.contextmanager
def _pillow_errors(name: str, hint: str):
    """Pillow's failures as ImageError naming the input; its bomb warning refuses too.

    Pillow raises many types on malformed input (OSError, SyntaxError, struct.error, EOFError...),
    so any exception means the input does not decode.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image (no supported format recognised){hint}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{name}: refused as a decompression bomb: {e}") from None
    except Exception as e:
        text = str(e)
        if isinstance(e, EOFError) or "truncat" in text.lower():
            raise ImageError(f"{name}: truncated image ({text or type(e).__name__}){hint}") from None
        raise ImageError(f"{name}: corrupt image ({type(e).__name__}: {text}){hint}") from None


def _to_rgb(image: Image.Image, name: str) -> Image.Image:
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        return Image.fromarray(_wide_to_uint8(image), "L").convert("RGB")
    try:
        return image.convert("RGB")
    except ValueError as e:
        raise ImageError(f"{name}: unsupported image mode {image.mode}: {e}") from None


def _wide_to_uint8(image: Image.Image) -> np.ndarray:
    """16/32-bit or float greyscale → 0..255 by its full scale (Pillow's convert would clip).

    I;16 has the 16-bit range. I and F carry no range, so the full scale is the first of
    1 (F only: 0..1 floats), 255 and 65535 that holds the brightest pixel, else that pixel.
    Negative and non-finite values become black.
    """
    values = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if image.mode.startswith("I;16"):
        full = 65535.0
    else:
        peak = float(values.max())
        scales = (1.0, 255.0, 65535.0) if image.mode == "F" else (255.0, 65535.0)
        full = next((s for s in scales if peak <= s), peak)
    return np.clip(np.rint(values * (255.0 / full)), 0, 255).astype(np.uint8)
