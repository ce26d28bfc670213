"""Helpers for the serving tests: a server on a loopback port in a thread, a scripted engine, images."""

from __future__ import annotations

import argparse
import base64
import contextlib
import socket
import threading
import time
from pathlib import Path

import uvicorn

from qwenvl_testing import CHECKPOINT, SHARED
from qwenvl.serving.engine import EngineStats
from qwenvl.serving.events import Delta, Done

IMAGES = SHARED / "images"
APPLE = IMAGES / "apple.jpeg"
MENU = IMAGES / "Menu.jpeg"


def data_url(path: Path, media_type: str = "image/jpeg") -> str:
    return f"data:{media_type};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, port: int | None = None):
    """Serve `app` on 127.0.0.1 in a background thread; yield its base URL; stop it afterwards."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=30))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


def serve_args(**overrides) -> argparse.Namespace:
    """The flags of `qwenvl serve` for the golden checkpoint, as the CLI's parser would give them."""
    from qwenvl.cli import serve
    parser = argparse.ArgumentParser()
    serve.add_parser(parser)
    args = parser.parse_args(["--model", str(CHECKPOINT)])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


class ScriptedEngine:
    """An engine double answering every request with a fixed text, streamed in small pieces.

    The web UI draws boxes parsed from the answer; the tiny random model never writes a box,
    so UI tests script one. It records each request's prompt ids for the tests to read.
    """

    def __init__(self, answer: str, piece: int = 4, delay_s: float = 0.01):
        self.answer, self.piece, self.delay_s = answer, piece, delay_s
        self.prompts: list[list[int]] = []
        self.closing = False

    def start(self):
        return self

    def shutdown(self, timeout=None) -> bool:
        self.closing = True
        return True

    def has_features(self, key: str) -> bool:
        return False

    def stats(self) -> EngineStats:
        return EngineStats(0, 0, 0, 0, 0, 0, 0, 0)

    def submit(self, work) -> None:
        self.prompts.append(list(work.prompt))
        threading.Thread(target=self._answer, args=(work,), daemon=True).start()

    def _answer(self, work) -> None:
        for choice in range(len(work.configs)):
            for i in range(0, len(self.answer), self.piece):
                time.sleep(self.delay_s)
                work.handle.emit(Delta(choice, self.answer[i:i + self.piece]))
            work.handle.emit(Done(choice, "stop", list(range(len(self.answer)))))
