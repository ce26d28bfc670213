"""The HTTP layer: OpenAI-compatible routes, server-sent events, health, metrics and the web UI.

Request handling is: read the body (size-capped) → `prepare` in a worker thread (checks, prompt,
images) → submit to the engine → relay its events, as one JSON body or as SSE chunks ending
with a usage chunk and `[DONE]`. A watcher notices when the client disconnects and cancels the
request in the engine. Every refusal is an OpenAI-style error body with a 4xx status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..generation import GenerationConfig
from . import responses as bodies
from .engine import QueueFull, ShuttingDown, Work
from .errors import APIError, bad_request
from .events import Delta, Done, Failed, Handle
from .metrics import CONTENT_TYPE, Metrics
from .prepare import Prepared, ServeSettings, prepare
from .protocol import model_not_found

log = logging.getLogger("qwenvl.serving")
STATIC = Path(__file__).with_name("static")
CHAT_PATH = "/v1/chat/completions"
# Requests prepared at once (images fetched, decoded): a decoded picture is held whole in memory.
PREPARE_THREADS = 8


class Pending:
    """The events of one submitted request, read on the event loop until every choice is done."""

    def __init__(self, choices: int):
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._left = choices
        self.client_gone = False
        self.handle = Handle(self._deliver)

    def _deliver(self, event) -> None:  # engine thread
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            self._loop.call_soon_threadsafe(self._queue.put_nowait, event)

    def gone(self) -> None:
        """The client disconnected: stop the engine's work and end the iteration."""
        self.client_gone = True
        self.handle.cancel()
        self._queue.put_nowait(None)

    async def events(self):
        while self._left:
            event = await self._queue.get()
            if event is None:
                return
            yield event
            if isinstance(event, Failed):
                return
            self._left -= isinstance(event, Done)


def create_app(engine, tokenizer, defaults: GenerationConfig, settings: ServeSettings,
               metrics: Metrics | None = None) -> FastAPI:
    """The application around an engine (started and shut down by the app's lifespan)."""
    metrics = metrics or Metrics()
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.preparing = anyio.CapacityLimiter(PREPARE_THREADS)
        engine.start()
        yield
        await run_in_threadpool(engine.shutdown)

    app = FastAPI(title="qwenvl", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.metrics = metrics

    @app.exception_handler(APIError)
    async def api_error(request: Request, e: APIError):
        metrics.request_done(request.url.path, e.status)
        return JSONResponse(e.body(), e.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, e: HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return JSONResponse(APIError(e.status_code, f"{request.method} {request.url.path}: {e.detail}", code).body(),
                            e.status_code)

    @app.exception_handler(Exception)
    async def crash(request: Request, e: Exception):
        log.exception("unhandled error")
        metrics.request_done(request.url.path, 500)
        error = APIError(500, f"internal error: {type(e).__name__}", "internal_error", kind="server_error")
        return JSONResponse(error.body(), 500)

    @app.get("/health")
    async def health():
        stats = engine.stats()
        status = 503 if engine.closing else 200
        return JSONResponse({"status": "shutting_down" if engine.closing else "ok", "model": settings.model_name,
                             "running": stats.running, "waiting": stats.waiting}, status)

    @app.get("/metrics")
    async def prometheus():
        return PlainTextResponse(metrics.render(engine.stats()), media_type=CONTENT_TYPE)

    @app.get("/v1/models")
    async def models():
        return bodies.models(settings.model_name, created)

    @app.get("/v1/models/{name:path}")
    async def model(name: str):
        if name != settings.model_name:
            raise model_not_found(name)
        return bodies.model_card(name, created)

    @app.post(CHAT_PATH)
    async def chat_completions(request: Request):
        started = time.monotonic()
        body = await _read_json(request, settings.max_request_bytes)
        prepared = await anyio.to_thread.run_sync(prepare, body, tokenizer, defaults, settings, engine.has_features,
                                                  limiter=request.app.state.preparing)
        pending = Pending(len(prepared.configs))
        try:
            engine.submit(Work(prepared.prompt, prepared.images, prepared.configs, pending.handle))
        except QueueFull as e:
            raise APIError(429, f"server busy: {e}; retry later", "queue_full", kind="rate_limit_error") from None
        except ShuttingDown as e:
            raise APIError(503, f"{e}; retry on another server", "shutting_down", kind="server_error") from None
        relay = Relay(request, pending, prepared, bodies.Envelope.new(settings.model_name), metrics, started)
        if prepared.request.stream:
            return StreamingResponse(relay.sse(), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        return JSONResponse(await relay.complete())

    @app.get("/")
    async def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


class Relay:
    """Turns one request's engine events into its HTTP answer, watching for the client leaving."""

    def __init__(self, request: Request, pending: Pending, prepared: Prepared, env: bodies.Envelope,
                 metrics: Metrics, started: float):
        self.request, self.pending, self.prepared, self.env = request, pending, prepared, env
        self.metrics, self.started = metrics, started
        n = len(prepared.configs)
        self.texts, self.reasons, self.tokens = [""] * n, [None] * n, [0] * n
        self._first_seen = False
        self._ended = False  # answered in full, or failed

    async def complete(self) -> dict:
        async with self._watching():
            async for event in self.pending.events():
                if isinstance(event, Failed):
                    self._ended = True
                    raise APIError(500, event.message, "generation_failed", kind="server_error")
                self._note(event)
            if not self.pending.client_gone:
                self._finished()
        choices = [bodies.choice(i, text, reason, self.prepared.latest_image)
                   for i, (text, reason) in enumerate(zip(self.texts, self.reasons))]
        return bodies.completion(self.env, choices, self._usage())

    async def sse(self):
        async with self._watching():
            roles = [bodies.delta_choice(i, {"role": "assistant", "content": ""}) for i in range(len(self.texts))]
            yield _sse(bodies.chunk(self.env, roles))
            async for event in self.pending.events():
                if isinstance(event, Failed):
                    self._ended = True
                    self.metrics.request_done(CHAT_PATH, 500)
                    yield _sse(APIError(500, event.message, "generation_failed", kind="server_error").body())
                    return
                self._note(event)
                if isinstance(event, Delta):
                    choice = bodies.delta_choice(event.choice, {"content": event.text})
                else:
                    grounding = bodies.grounding(self.texts[event.choice], self.prepared.latest_image)
                    choice = bodies.delta_choice(event.choice, {}, event.reason, grounding)
                yield _sse(bodies.chunk(self.env, [choice]))
            if not self.pending.client_gone:
                self._finished()
                yield _sse(bodies.chunk(self.env, [], self._usage()))
                yield "data: [DONE]\n\n"

    def _note(self, event) -> None:
        if isinstance(event, Delta):
            if not self._first_seen:
                self._first_seen = True
                self.metrics.time_to_first_token.observe(time.monotonic() - self.started)
            self.texts[event.choice] += event.text
        else:
            self.reasons[event.choice] = event.reason
            self.tokens[event.choice] = len(event.token_ids)

    def _usage(self) -> dict:
        return bodies.usage(len(self.prepared.prompt), sum(self.tokens))

    def _finished(self) -> None:
        self._ended = True
        self.metrics.request_done(CHAT_PATH, 200, time.monotonic() - self.started)

    @contextlib.asynccontextmanager
    async def _watching(self):
        """Cancel the engine's work when the client disconnects, and whenever the answer ends early."""
        watcher = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            watcher.cancel()
            self.pending.handle.cancel()
            if not self._ended:
                self.metrics.cancelled += 1

    async def _watch(self) -> None:
        while (await self.request.receive())["type"] != "http.disconnect":
            pass
        self.pending.gone()


def _sse(body: dict) -> str:
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


async def _read_json(request: Request, cap: int):
    """The body as JSON, refused past `cap` bytes (declared or received) or when it does not parse."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise APIError(413, f"the request body of {declared} bytes exceeds the limit of {cap} bytes",
                       "request_too_large")
    data = bytearray()
    async for part in request.stream():
        data += part
        if len(data) > cap:
            raise APIError(413, f"the request body exceeds the limit of {cap} bytes", "request_too_large")
    if not data:
        raise bad_request("the request body is empty; send a JSON object", None, "invalid_json")
    try:
        return json.loads(bytes(data))
    except (ValueError, RecursionError) as e:
        raise bad_request(f"the request body is not valid JSON: {e}", None, "invalid_json") from None
