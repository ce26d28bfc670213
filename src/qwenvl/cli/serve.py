"""`qwenvl serve`: the OpenAI-compatible API and the web UI for a checkpoint, with uvicorn.

SIGTERM (or Ctrl-C) stops accepting connections, lets requests in flight finish (up to
--graceful-timeout seconds), then stops the engine.
"""

from __future__ import annotations

from pathlib import Path

from .main import common_model_args, load

MiB = 1 << 20


def add_parser(p) -> None:
    common_model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--served-model-name", default=None, help="the model id clients send (default: the directory name)")
    p.add_argument("--allowed-local-media-path", type=Path, default=None,
                   help="let requests read local image files (file:// URLs, absolute paths) under this directory")
    p.add_argument("--max-num-seqs", type=int, default=16, help="sequences decoded together, at most")
    p.add_argument("--max-queue", type=int, default=64, help="sequences waiting for a seat; beyond: HTTP 429")
    p.add_argument("--max-model-len", type=int, default=None,
                   help="prompt + completion tokens (default: the model's max_position_embeddings)")
    p.add_argument("--max-images", type=int, default=8, help="images per conversation")
    p.add_argument("--max-image-bytes", type=int, default=20 * MiB)
    p.add_argument("--max-image-pixels", type=int, default=25_000_000, help="width x height, read before decoding")
    p.add_argument("--image-timeout", type=float, default=10.0, help="seconds for fetching one remote image")
    p.add_argument("--feature-cache-size", type=int, default=64, help="images whose features are kept")
    p.add_argument("--prefix-cache-mb", type=int, default=1024,
                   help="memory for keys/values of recent prompts, reused by prompts that start the same (0: off)")
    p.add_argument("--max-request-bytes", type=int, default=64 * MiB)
    p.add_argument("--graceful-timeout", type=float, default=120.0,
                   help="seconds to let requests in flight finish after SIGTERM")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(run=run)


def make_app(vl, args):
    """The FastAPI app for a loaded `QwenVL` and the parsed flags."""
    from ..serving.app import create_app

    return create_app(make_engine(vl, args), vl.tokenizer, vl.generation_config, settings(vl, args))


def make_engine(vl, args):
    from ..serving.engine import Engine

    return Engine(vl.model, vl.tokenizer, max_seqs=args.max_num_seqs, max_waiting=args.max_queue,
                  feature_cache_size=args.feature_cache_size, max_context=context_window(vl, args),
                  prefix_cache_bytes=args.prefix_cache_mb * MiB)


def settings(vl, args):
    """What the HTTP layer enforces: model name, context window, image policy, request limits."""
    from ..data.images import ImageLimits
    from ..serving.media import MediaPolicy
    from ..serving.prepare import ServeSettings

    limits = ImageLimits(max_bytes=args.max_image_bytes, max_pixels=args.max_image_pixels,
                         allow_remote=args.allow_remote_images, timeout_s=args.image_timeout,
                         allowed_local_root=args.allowed_local_media_path)
    return ServeSettings(model_name=args.served_model_name or Path(args.model).resolve().name,
                         context_window=context_window(vl, args), media=MediaPolicy(limits, vl.cfg.vision.image_size),
                         max_images=args.max_images, max_n=min(8, args.max_num_seqs),
                         max_request_bytes=args.max_request_bytes)


def context_window(vl, args) -> int:
    return args.max_model_len or vl.cfg.llm.max_position_embeddings


def run(args) -> int:
    import uvicorn

    if args.allowed_local_media_path is not None and not args.allowed_local_media_path.is_dir():
        raise FileNotFoundError(f"--allowed-local-media-path {args.allowed_local_media_path} is not a directory")
    app = make_app(load(args), args)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=args.graceful_timeout)
    return 0
