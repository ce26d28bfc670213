"""Image URLs under the server's policy: data URLs, local roots, and remote fetches that cannot reach
this machine's network (loopback, private, link-local, metadata), redirects included, time and size capped.

Every HTTP server here listens on loopback; the tests that fetch successfully use a policy that
allows 127.0.0.1 only, to show that the redirect target is checked again.
"""

from __future__ import annotations

import base64
import dataclasses
import http.server
import io
import ipaddress
import threading
import time
import zlib

import pytest
import torch
from PIL import Image

from serving_testing import IMAGES, MENU
from qwenvl.data.image_sources import ImageError, ImageLimits
from qwenvl.serving import media, netguard

JPEG = MENU.read_bytes()


def only_127_0_0_1(ip) -> bool:
    return ip == ipaddress.ip_address("127.0.0.1")


class Site:
    """A loopback HTTP server whose paths are scripted: {path: (status, headers, body or writer) or handler}."""

    def __init__(self, routes: dict, host: str = "127.0.0.1"):
        self.routes, self.hits = routes, []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                site.hits.append(self.path)
                route = site.routes[self.path]
                if callable(route):
                    return route(self)
                status, headers, body = route
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if callable(body):
                    body(self.wfile)
                else:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    sites = []

    def make(routes, host="127.0.0.1"):
        sites.append(Site(routes, host))
        return sites[-1]
    yield make
    for s in sites:
        s.close()


LIMITS = ImageLimits(max_bytes=1 << 20, allow_remote=True, timeout_s=2.0)


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
    ("::ffff:8.8.8.8", False),  # IPv4-mapped addresses are refused outright
    ("127.0.0.1", False), ("127.1.2.3", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("169.254.1.1", False), ("100.64.0.1", False), ("100.100.100.200", False),
    ("168.63.129.16", False), ("0.0.0.0", False), ("224.0.0.1", False), ("240.0.0.1", False),
    ("255.255.255.255", False), ("::1", False), ("::", False), ("fe80::1", False), ("fc00::1", False),
    ("fd00:ec2::254", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
    ("2002:7f00:1::", False), ("ff02::1", False),
])
def test_address_policy(address, public):
    assert netguard.is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "169.254.169.254", "10.0.0.1", "0.0.0.0"])
def test_non_public_hosts_are_refused_before_connecting(site, host):
    s = site({"/a.jpg": (200, {}, JPEG)})
    port = s.url.rsplit(":", 1)[1]
    with pytest.raises(ImageError, match="refused: host .* non-public address"):
        netguard.fetch(f"http://{host}:{port}/a.jpg", LIMITS)
    assert s.hits == []


def test_fetch_and_every_redirect_is_vetted(site):
    target = site({"/secret": (200, {}, b"internal")}, host="127.0.0.2")
    s = site({"/a.jpg": (200, {"Content-Length": str(len(JPEG))}, JPEG),
              "/hop": (302, {"Location": "/a.jpg"}, b""),
              "/to-other": (302, {"Location": f"{target.url}/secret"}, b""),
              "/to-metadata": (307, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
              "/loop": (301, {"Location": "/loop"}, b"")})
    assert netguard.fetch(f"{s.url}/a.jpg", LIMITS, only_127_0_0_1) == JPEG
    assert netguard.fetch(f"{s.url}/hop", LIMITS, only_127_0_0_1) == JPEG
    with pytest.raises(ImageError, match="127.0.0.2"):
        netguard.fetch(f"{s.url}/to-other", LIMITS, only_127_0_0_1)
    assert target.hits == []  # refused before connecting
    with pytest.raises(ImageError, match="169.254.169.254"):
        netguard.fetch(f"{s.url}/to-metadata", LIMITS, only_127_0_0_1)
    with pytest.raises(ImageError, match="more than 5 redirects"):
        netguard.fetch(f"{s.url}/loop", LIMITS, only_127_0_0_1)


def test_size_caps(site):
    big = b"x" * (LIMITS.max_bytes + 1)

    def stream(wfile):  # no Content-Length: the cap applies while reading
        for i in range(0, len(big), 65536):
            wfile.write(big[i:i + 65536])
    s = site({"/declared": (200, {"Content-Length": str(len(big))}, b""),
              "/streamed": (200, {"Connection": "close"}, stream),
              "/missing": (404, {}, b"")})
    with pytest.raises(ImageError, match="exceeds max_bytes"):
        netguard.fetch(f"{s.url}/declared", LIMITS, only_127_0_0_1)
    with pytest.raises(ImageError, match="download exceeds max_bytes"):
        netguard.fetch(f"{s.url}/streamed", LIMITS, only_127_0_0_1)
    with pytest.raises(ImageError, match="HTTP 404"):
        netguard.fetch(f"{s.url}/missing", LIMITS, only_127_0_0_1)


def test_slow_servers_hit_the_deadline(site):
    def drip(wfile):  # one byte every 0.2 s: each read is quick, the whole download is not
        for _ in range(40):
            wfile.write(b"x")
            wfile.flush()
            time.sleep(0.2)

    def silent(handler):  # accepts the request, never answers in time
        time.sleep(4)
    s = site({"/drip": (200, {"Connection": "close"}, drip), "/silent": silent})
    limits = dataclasses.replace(LIMITS, timeout_s=1.0)
    for path in ("/drip", "/silent"):
        t0 = time.monotonic()
        with pytest.raises(ImageError, match="longer than timeout_s"):
            netguard.fetch(f"{s.url}{path}", limits, only_127_0_0_1)
        assert time.monotonic() - t0 < 2.5


def policy(**limits) -> media.MediaPolicy:
    return media.MediaPolicy(dataclasses.replace(LIMITS, allow_remote=False, **limits), image_size=112)


def test_routes_of_image_urls(tmp_path):
    data = "data:image/jpeg;base64," + base64.b64encode(JPEG).decode()
    loaded = media.load(data, policy())
    assert loaded.pixels().shape == (3, 112, 112) and (loaded.width, loaded.height) == Image.open(MENU).size
    known = media.load(data, policy(), cached=lambda key: key == loaded.key)  # features cached: not decoded
    assert known.decoded is None and (known.width, known.height) == (loaded.width, loaded.height)
    assert torch.equal(known.pixels(), loaded.pixels())  # decoded on demand, should the features be gone
    assert media.load(f"file://{MENU}", policy(allowed_local_root=IMAGES)).key == loaded.key  # same content
    assert media.load(str(MENU), policy(allowed_local_root=IMAGES)).key == loaded.key
    refusals = {
        "http://8.8.8.8/a.jpg": (policy(), "remote images are disabled"),
        str(MENU): (policy(), "local files are disabled"),
        "file:///etc/passwd": (policy(allowed_local_root=IMAGES), "outside the allowed local media path"),
        f"{IMAGES}/../../etc/hostname": (policy(allowed_local_root=IMAGES), "outside"),
        f"{tmp_path}/nope.jpg": (policy(allowed_local_root=IMAGES), "outside"),  # existence is not revealed
        "ftp://example.invalid/a.jpg": (policy(), "unsupported image URL"),
        "aGVsbG8=": (policy(), "unsupported image URL"),
    }
    for url, (p, match) in refusals.items():
        with pytest.raises(ImageError, match=match):
            media.load(url, p)


def png_header(width: int, height: int) -> bytes:
    """A tiny JPEG claiming a huge size: its header is all that should ever be read."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    raw[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")  # the IHDR checksum
    return bytes(raw)


@pytest.mark.parametrize("payload, match", [
    ("data:image/png;base64,@@@notbase64@@@", "invalid base64"),
    ("data:image/png;base64," + base64.b64encode(b"just some text, no image").decode(), "not an image"),
    ("data:image/jpeg;base64," + base64.b64encode(JPEG[:len(JPEG) // 2]).decode(), "truncated"),
    ("data:image/png;base64," + base64.b64encode(png_header(9_000, 9_000)).decode(), "exceeds max_pixels"),
    ("data:image/png;base64," + base64.b64encode(png_header(50_000, 50_000)).decode(), "decompression bomb"),
    ("data:image/png;base64," + base64.b64encode(b"x" * ((1 << 20) + 1)).decode(), "exceeds max_bytes"),
])
def test_bad_image_data_is_named(payload, match):
    with pytest.raises(ImageError, match=match):
        media.load(payload, policy())


def test_malformed_urls_are_image_errors(site):
    for url in ("http://127.0.0.1:99999/a.jpg", "http:///a.jpg", "http://[::1/a.jpg"):
        with pytest.raises(ImageError):
            netguard.fetch(url, LIMITS)
    with pytest.raises(ImageError, match="invalid URL"):
        media.load("file://[::1/a.jpg", policy(allowed_local_root=IMAGES))
    with pytest.raises(ImageError, match="invalid path"):
        media.load(f"{IMAGES}/a\x00.jpg", policy(allowed_local_root=IMAGES))
    s = site({"/bad": (302, {"Location": "http://[::1/x"}, b"")})
    with pytest.raises(ImageError, match="invalid redirect"):
        netguard.fetch(f"{s.url}/bad", LIMITS, only_127_0_0_1)
