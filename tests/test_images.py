"""Image sources, safe decoding and the official preprocessing (golden parity on apple.jpeg)."""

from __future__ import annotations

import base64
import http.server
import io
import struct
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from qwenvl.data.images import (CLIP_MEAN, CLIP_STD, ImageError, ImageLimits, load_image, preprocess,
                                preprocess_batch, read_image_bytes)

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
APPLE = SHARED / "golden" / "apple.jpeg"


def encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **save_args)
    return buf.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG: a few KB that would decode to width × height pixels."""
    row = b"\0" * (1 + (width + 7) // 8)
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def apple_bytes() -> bytes:
    return APPLE.read_bytes()


@pytest.fixture(scope="module")
def apple_rgb() -> np.ndarray:
    with Image.open(APPLE) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture
def small_png(tmp_path) -> Path:
    path = tmp_path / "small.png"
    Image.new("RGB", (8, 6), (10, 200, 30)).save(path)
    return path


# ---- the official preprocessing --------------------------------------------------------------

def test_golden_parity():
    from safetensors.torch import load_file

    golden = load_file(SHARED / "golden" / "golden.safetensors")["vision.pixels"]
    pixels = preprocess(load_image(APPLE), 112)
    assert pixels.shape == (3, 112, 112) and pixels.dtype == torch.float32
    diff = (pixels - golden).abs().max().item()
    print(f"golden vision.pixels max abs diff: {diff:.3g}")
    assert diff <= 1e-6


def test_preprocess_normalises_with_clip_statistics():
    pixels = preprocess(Image.new("RGB", (1, 1), (255, 0, 128)), 4)
    expected = [(v / 255 - m) / s for v, m, s in zip((255, 0, 128), CLIP_MEAN, CLIP_STD, strict=True)]
    assert torch.allclose(pixels[:, 0, 0], torch.tensor(expected), atol=1e-6)
    assert torch.equal(pixels, pixels[:, :1, :1].expand(3, 4, 4))  # a constant image stays constant


def test_preprocess_batch_stacks_and_allows_empty():
    images = [load_image(APPLE), Image.new("RGB", (3, 5), (1, 2, 3))]
    batch = preprocess_batch(images, 28)
    assert batch.shape == (2, 3, 28, 28)
    assert torch.equal(batch[1], preprocess(images[1], 28))
    assert preprocess_batch([], 28).shape == (0, 3, 28, 28)
    with pytest.raises(ValueError, match="image_size"):
        preprocess_batch(images, 0)


# ---- sources ---------------------------------------------------------------------------------

SOURCES = {
    "str path": lambda p, data: str(p),
    "Path": lambda p, data: p,
    "file URL": lambda p, data: p.resolve().as_uri(),
    "bytes": lambda p, data: data,
    "bytearray": lambda p, data: bytearray(data),
    "base64": lambda p, data: base64.b64encode(data).decode(),
    "base64 wrapped": lambda p, data: base64.encodebytes(data).decode(),
    "base64 url-safe": lambda p, data: base64.urlsafe_b64encode(data).decode(),
    "data URL": lambda p, data: "data:image/jpeg;base64," + base64.b64encode(data).decode(),
}


@pytest.mark.parametrize("kind", SOURCES)
def test_every_source_kind_reads_the_same_bytes_and_pixels(kind, apple_bytes, apple_rgb):
    source = SOURCES[kind](APPLE, apple_bytes)
    assert read_image_bytes(source) == apple_bytes
    image = load_image(source)
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), apple_rgb)


def test_pil_image_source_is_converted(apple_rgb):
    with Image.open(APPLE) as im:
        image = load_image(im.convert("RGBA"))
    assert image.mode == "RGB" and np.array_equal(np.asarray(image), apple_rgb)


def test_percent_encoded_data_url(small_png):
    from urllib.parse import quote

    data = small_png.read_bytes()
    assert read_image_bytes("data:image/png," + quote(data)) == data


def test_exif_orientation_is_not_applied_like_the_official_code():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = encode(Image.new("RGB", (40, 20), "red"), "JPEG", exif=exif)
    assert load_image(data).size == (40, 20)


# ---- remote URLs -----------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.routes.get(self.path)
        if self.path == "/slow":
            time.sleep(1.0)
            body = b""
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.path != "/unsized":
            self.send_header("Content-Length", str(len(body) if self.path != "/declared-big" else 10**9))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the client hung up on purpose

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch, small_png):
    monkeypatch.setenv("no_proxy", "*")  # never route 127.0.0.1 through a proxy from the environment
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.requests = []
    httpd.routes = {"/small.png": small_png.read_bytes(), "/unsized": b"x" * 50_000, "/declared-big": b""}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_remote_refused_by_default_without_any_request(server):
    httpd, base = server
    with pytest.raises(ImageError, match="remote images are disabled.*allow_remote=True") as e:
        load_image(f"{base}/small.png")
    assert f"{base}/small.png" in str(e.value)
    assert httpd.requests == []


def test_remote_fetch_when_enabled(server, small_png):
    httpd, base = server
    image = load_image(f"{base}/small.png", ImageLimits(allow_remote=True, timeout_s=5))
    assert image.size == (8, 6) and image.getpixel((0, 0)) == (10, 200, 30)
    assert httpd.requests == ["/small.png"]


@pytest.mark.parametrize("path", ["/declared-big", "/unsized"])
def test_remote_size_cap_declared_and_streamed(server, path):
    _, base = server
    with pytest.raises(ImageError, match="max_bytes 10000") as e:
        read_image_bytes(base + path, ImageLimits(allow_remote=True, max_bytes=10_000, timeout_s=5))
    assert path in str(e.value)


def test_remote_timeout_and_http_error(server):
    _, base = server
    start = time.monotonic()
    with pytest.raises(ImageError, match="timed out") as e:
        read_image_bytes(f"{base}/slow", ImageLimits(allow_remote=True, timeout_s=0.3))
    assert time.monotonic() - start < 0.9 and "/slow" in str(e.value)
    with pytest.raises(ImageError, match="HTTP 404"):
        read_image_bytes(f"{base}/missing.png", ImageLimits(allow_remote=True, timeout_s=5))


# ---- local access ----------------------------------------------------------------------------

def test_allowed_local_root_refuses_escapes(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    Image.new("RGB", (2, 2), "blue").save(root / "in.png")
    Image.new("RGB", (2, 2), "red").save(outside / "secret.png")
    (root / "link.png").symlink_to(outside / "secret.png")
    limits = ImageLimits(allowed_local_root=root)

    assert load_image(root / "in.png", limits).getpixel((0, 0)) == (0, 0, 255)
    for escape in [outside / "secret.png", root / "link.png", str(root / ".." / "outside" / "secret.png"),
                   (outside / "secret.png").as_uri()]:
        with pytest.raises(ImageError, match="outside allowed_local_root") as e:
            load_image(escape, limits)
        assert str(escape)[:60] in str(e.value)
    assert load_image(root / "link.png").getpixel((0, 0)) == (255, 0, 0)  # no root: links are fine


def test_remote_host_in_file_url_and_unknown_scheme_refused():
    with pytest.raises(ImageError, match="local file"):
        read_image_bytes("file://example.com/etc/passwd")
    with pytest.raises(ImageError, match="unsupported URL scheme 'ftp'"):
        read_image_bytes("ftp://127.0.0.1/a.png")


# ---- bad inputs: each error names the input --------------------------------------------------

def _expect(source, reason: str, name: str, limits: ImageLimits = ImageLimits()) -> str:
    with pytest.raises(ImageError) as e:
        load_image(source, limits)
    message = str(e.value)
    assert name in message and reason in message, message
    return message


def test_corrupt_and_non_image_bytes():
    _expect(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image", "<bytes: 48 bytes>")
    noise = np.random.default_rng(0).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    damaged = bytearray(encode(Image.fromarray(noise), "PNG"))
    start = damaged.index(b"IDAT") + 4
    damaged[start:start + 100] = b"\xff" * 100  # a good header, then a broken zlib stream
    _expect(bytes(damaged), "corrupt image", f"<bytes: {len(damaged)} bytes>")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_real_files(tmp_path, fmt):
    with Image.open(APPLE) as im:
        data = encode(im.convert("RGB").resize((200, 150)), fmt)
    path = tmp_path / f"cut.{fmt.lower()}"
    path.write_bytes(data[: len(data) // 2])
    _expect(path, "truncated image", str(path))


def test_empty_text_missing_and_directory(tmp_path):
    empty, text = tmp_path / "empty.jpg", tmp_path / "notes.txt"
    empty.write_bytes(b"")
    text.write_text("just some words, not pixels\n" * 10)
    _expect(empty, "empty input", str(empty))
    _expect(str(text), "not an image", str(text))
    _expect(str(tmp_path / "missing.jpg"), "no such file", str(tmp_path / "missing.jpg"))
    _expect(tmp_path / "missing.jpg", "no such file", str(tmp_path / "missing.jpg"))
    _expect(tmp_path, "not a regular file", str(tmp_path))
    _expect(b"", "empty input", "<bytes: 0 bytes>")


def test_base64_errors():
    _expect("data:image/png;base64,@@not-base64@@", "invalid base64", "<data URL: image/png")
    _expect("data:image/png;base64", "malformed data URL", "<data URL")
    # no such file and not base64 ('.' is outside the alphabet)
    _expect("photos/cat.jpg", "no such file", "photos/cat.jpg")
    # valid base64 but no file of that name: the error says both readings
    message = _expect("photos/cats1", "not an image", "photos/cats1")
    assert "read as base64, since no file has that name" in message


def test_long_sources_are_cut_in_messages():
    source = "/nowhere/" + "x" * 5000 + ".jpg"
    message = _expect(source, "no such file", source[:100])
    assert len(message) < 200 and "(5013 chars)" in message


def test_size_and_type_limits(apple_bytes):
    _expect(APPLE, "exceeds max_bytes 1000", str(APPLE), ImageLimits(max_bytes=1000))
    _expect(base64.b64encode(apple_bytes).decode(), "exceeds max_bytes 1000", "/9j/", ImageLimits(max_bytes=1000))
    _expect(12345, "not an image source", "<int>")
    _expect(Image.new("RGB", (0, 4)), "no pixels", "<PIL image 0x4 RGB>")
    with pytest.raises(ValueError, match="max_pixels"):
        ImageLimits(max_pixels=0)


def test_eps_is_not_handed_to_ghostscript():
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n%%EndComments\nshowpage\n"
    assert Image.open(io.BytesIO(eps)).format == "EPS"  # Pillow alone would accept it
    _expect(eps, "not an image", f"<bytes: {len(eps)} bytes>")


@pytest.mark.parametrize("side, max_pixels, reason", [
    (9000, 64_000_000, "exceeds max_pixels"),  # our header check
    (10000, 150_000_000, "decompression bomb"),  # Pillow's warning, made a refusal
    (20000, 500_000_000, "decompression bomb"),  # Pillow's error
])
def test_decompression_bomb_refused_before_decoding(monkeypatch, side, max_pixels, reason):
    data = bilevel_png(side, side)  # 81 M / 100 M / 400 M pixels in a few KB
    assert len(data) < 100_000
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self))
    start = time.monotonic()
    _expect(data, reason, f"<bytes: {len(data)} bytes>", ImageLimits(max_pixels=max_pixels))
    assert time.monotonic() - start < 0.5
    assert loads == []  # refused from the header: no pixel was decoded


def test_pixel_limit_applies_to_pil_images_too():
    limits = ImageLimits(max_pixels=9999)
    _expect(Image.new("L", (100, 100)), "exceeds max_pixels 9999", "<PIL image 100x100 L>", limits)


# ---- modes -----------------------------------------------------------------------------------

def test_one_pixel_image():
    image = load_image(encode(Image.new("RGB", (1, 1), (5, 6, 7)), "PNG"))
    assert image.size == (1, 1) and image.getpixel((0, 0)) == (5, 6, 7)
    assert preprocess(image, 14).shape == (3, 14, 14)


def test_sixteen_bit_gradient_stays_a_gradient():
    ramp = np.tile(np.linspace(0, 65535, 256).round().astype(np.uint16), (4, 1))
    data = encode(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    grey = np.asarray(load_image(data))[..., 0].astype(int)
    assert grey[0, 0] == 0 and grey[0, -1] == 255 and grey[0, 128] == round(ramp[0, 128] / 257)
    assert (np.diff(grey[0]) >= 0).all() and len(np.unique(grey)) > 200
    assert (np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) == 255).mean() > 0.9  # what Pillow alone gives


@pytest.mark.parametrize("mode, values, expected", [
    ("I", [0, 1000, 65535], [0, 4, 255]),
    ("I", [0, 100, 255], [0, 100, 255]),
    ("F", [0.0, 0.5, 1.0], [0, 128, 255]),
    ("F", [0.0, 127.5, 255.0], [0, 128, 255]),
    ("F", [-3.0, float("nan"), 1.0], [0, 0, 255]),
])
def test_wide_modes_scale_to_eight_bits(mode, values, expected):
    image = Image.fromarray(np.array([values], dtype=np.int32 if mode == "I" else np.float32), mode)
    assert np.asarray(load_image(image))[0, :, 0].tolist() == expected


def test_cmyk_jpeg():
    data = encode(Image.new("RGB", (16, 16), (220, 30, 30)).convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    r, g, b = np.asarray(load_image(data)).reshape(-1, 3).mean(0)
    assert r > 180 and g < 70 and b < 70


def test_alpha_is_dropped_like_official_convert():
    rgba = Image.new("RGBA", (3, 3), (10, 20, 30, 0))
    assert load_image(encode(rgba, "PNG")).getpixel((1, 1)) == (10, 20, 30)


def test_palette_with_transparency():
    image = Image.new("P", (4, 4), 1)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    data = encode(image, "PNG", transparency=0)
    assert "transparency" in Image.open(io.BytesIO(data)).info
    assert load_image(data).getpixel((0, 0)) == (0, 255, 0)


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    assert load_image(data).getpixel((4, 4)) == (255, 0, 0)


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "PA", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"])
def test_every_mode_matches_official_convert(mode):
    rng = np.random.default_rng(0)
    image = Image.frombytes(mode, (7, 5), rng.bytes(len(Image.new(mode, (7, 5)).tobytes())))
    if mode in ("P", "PA"):
        image.putpalette(rng.bytes(768))
    expected = np.asarray(image.convert("RGB"))
    assert expected.std() > 0  # random pixels, so a constant result could not pass
    rgb = load_image(image)
    assert rgb.mode == "RGB" and np.array_equal(np.asarray(rgb), expected)


def test_grey_png_replicates_channels():
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (2, 1))
    rgb = np.asarray(load_image(encode(Image.fromarray(ramp, "L"), "PNG")))
    assert all(np.array_equal(rgb[..., c], ramp) for c in range(3))


def test_all_shared_photos_load():
    photos = sorted((SHARED / "images").glob("*.jp*g"))
    assert len(photos) >= 5
    for photo in photos:
        image = load_image(photo)
        assert image.mode == "RGB" and min(image.size) > 0
