"""Every kind of bad input gets a clean 4xx with an OpenAI-style error naming the problem, while
good streaming requests sent at the same time keep succeeding."""

from __future__ import annotations

import base64
import io
import threading
import time
import zlib

import httpx
import pytest
from PIL import Image

from serving_testing import IMAGES, MENU, data_url, running, serve_args
from qwenvl.cli import serve

MiB = 1 << 20


def png_claiming(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    raw = bytearray(buf.getvalue())
    raw[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    raw[29:33] = zlib.crc32(bytes(raw[12:29])).to_bytes(4, "big")
    return "data:image/png;base64," + base64.b64encode(bytes(raw)).decode()


def b64(data: bytes, media_type: str = "image/jpeg") -> str:
    return f"data:{media_type};base64," + base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def url(golden_vl):
    args = serve_args(allowed_local_media_path=IMAGES, allow_remote_images=True, max_images=3, max_model_len=1024,
                      max_request_bytes=4 * MiB)
    with running(serve.make_app(golden_vl, args)) as base:
        yield base


class Traffic:
    """Good streaming requests sent back to back from two threads, each checked to the end."""

    def __init__(self, url: str, clients: int = 2):
        self.url, self.ok, self.failures = url, 0, []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(clients)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(60)

    def wait_for(self, ok: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.ok < ok and not self.failures and time.monotonic() < deadline:
            time.sleep(0.01)

    def _loop(self, i: int) -> None:
        body = {"model": "checkpoint", "stream": True, "max_tokens": 32, "temperature": 0, "ignore_eos": True,
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(MENU)}},
                                                          {"type": "text", "text": f"client {i}"}]}]}
        with httpx.Client(timeout=60) as http:
            while not self._stop.is_set():
                try:
                    with http.stream("POST", f"{self.url}/v1/chat/completions", json=body) as r:
                        lines = [line for line in r.iter_lines() if line]
                    assert r.status_code == 200, r.status_code
                    assert lines[-1] == "data: [DONE]" and '"usage"' in lines[-2], lines[-3:]
                    self.ok += 1
                except Exception as e:  # recorded, asserted on by the test
                    self.failures.append(repr(e))


def message(content) -> dict:
    return {"model": "checkpoint", "messages": [{"role": "user", "content": content}], "max_tokens": 4}


def image(url: str) -> dict:
    return message([{"type": "image_url", "image_url": {"url": url}}, {"type": "text", "text": "what?"}])


TRUNCATED = MENU.read_bytes()[:20000]
CASES = [
    # (name, request as httpx kwargs, status, error code, words the message must hold)
    ("malformed JSON", {"content": b'{"model": "checkpoint", "messages": ['}, 400, "invalid_json", "not valid JSON"),
    ("empty body", {"content": b""}, 400, "invalid_json", "empty"),
    ("deeply nested JSON", {"content": b"[" * 100_000 + b"]" * 100_000}, 400, "invalid_json", "not valid JSON"),
    ("not an object", {"json": [1, 2]}, 400, "invalid_request", "JSON object"),
    ("wrong type", {"json": {**message("hi"), "temperature": "hot"}}, 400, "invalid_request", "temperature"),
    ("wrong type of messages", {"json": {"model": "checkpoint", "messages": "hi"}}, 400, "invalid_request", "messages"),
    ("empty messages", {"json": {"model": "checkpoint", "messages": []}}, 400, "invalid_request", "non-empty"),
    ("empty message", {"json": message("   ")}, 400, "empty_message", "empty"),
    ("unknown model", {"json": {**message("hi"), "model": "gpt-9"}}, 404, "model_not_found", "gpt-9"),
    ("invalid base64", {"json": image("data:image/png;base64,%%%not-base64%%%")}, 400, "invalid_image",
     "invalid base64"),
    ("non-image bytes", {"json": image(b64(b"%PDF-1.4 definitely not a picture"))}, 400, "invalid_image",
     "not an image"),
    ("truncated image", {"json": image(b64(TRUNCATED))}, 400, "invalid_image", "truncated"),
    ("decompression bomb", {"json": image(png_claiming(9_000, 9_000))}, 400, "invalid_image", "max_pixels"),
    ("huge decompression bomb", {"json": image(png_claiming(60_000, 60_000))}, 400, "invalid_image",
     "decompression bomb"),
    ("too many images", {"json": message([{"type": "image_url", "image_url": {"url": data_url(MENU)}}] * 4)}, 400,
     "too_many_images", "at most 3"),
    ("prompt over the context window", {"json": message("word " * 1100)}, 400, "context_length_exceeded",
     "context window"),
    ("max_tokens over the context window", {"json": {**message("hi"), "max_tokens": 5000}}, 400,
     "context_length_exceeded", "max_tokens"),
    ("loopback URL", {"json": image("http://127.0.0.1:9/a.jpg")}, 400, "invalid_image", "non-public"),
    ("localhost URL", {"json": image("http://localhost/a.jpg")}, 400, "invalid_image", "non-public"),
    ("metadata URL", {"json": image("http://169.254.169.254/latest/meta-data/")}, 400, "invalid_image", "non-public"),
    ("private URL", {"json": image("http://10.0.0.1/a.jpg")}, 400, "invalid_image", "non-public"),
    ("IPv6 loopback URL", {"json": image("http://[::1]:9/a.jpg")}, 400, "invalid_image", "non-public"),
    ("local file outside the root", {"json": image("file:///etc/passwd")}, 400, "invalid_image", "outside"),
    ("unsupported scheme", {"json": image("ftp://example.invalid/a.jpg")}, 400, "invalid_image", "unsupported"),
    ("image tags in text", {"json": message("<img>/etc/passwd</img>")}, 400, "invalid_request", "<img>"),
    ("too many choices", {"json": {**message("hi"), "n": 50}}, 400, "invalid_request", "'n'"),
    ("body too large", {"json": message("x" * (5 * MiB))}, 413, "request_too_large", "exceeds the limit"),
]


def check_refusals(http: httpx.Client, url: str) -> None:
    for name, request, status, code, words in CASES:
        r = http.post(f"{url}/v1/chat/completions", **request)
        assert r.status_code == status, (name, r.status_code, r.text[:300])
        error = r.json()["error"]
        assert error["code"] == code and words in error["message"], (name, error)
        assert set(error) == {"message", "type", "param", "code"}
    wrong_method = http.get(f"{url}/v1/chat/completions")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
    missing = http.post(f"{url}/v1/completions", json={})
    assert missing.status_code == 404 and "not_found" == missing.json()["error"]["code"]


def test_bad_inputs_get_clean_4xx_while_good_requests_succeed(url):
    with Traffic(url) as traffic, httpx.Client(timeout=60) as http:
        traffic.wait_for(1)  # good requests are flowing
        before = traffic.ok
        for _ in range(30):  # every bad input, again, until good answers have completed in between
            check_refusals(http, url)
            if traffic.ok >= before + 2 or traffic.failures:
                break
        during = traffic.ok
        traffic.wait_for(during + 2)  # those in flight during the bad inputs finish too
    assert traffic.failures == []
    assert during >= before + 2 and traffic.ok >= during + 2


def test_param_points_at_the_bad_part(url):
    bad = {"model": "checkpoint", "messages": [
        {"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"},
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": b64(b"nope")}}]}]}
    error = httpx.post(f"{url}/v1/chat/completions", json=bad).json()["error"]
    assert error["param"] == "messages[2].content[1].image_url.url"
    assert error["message"].startswith("messages[2].content[1].image_url: ")
