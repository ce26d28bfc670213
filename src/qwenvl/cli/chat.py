"""`qwenvl chat`: one streamed answer for PROMPT, or an interactive session when none is given."""

from __future__ import annotations

import sys

from .main import common_model_args, generation_args, generation_overrides, load


def add_parser(p) -> None:
    common_model_args(p, default_model=True)
    generation_args(p)
    p.add_argument("--image", action="append", default=[], help="image path or URL (repeatable)")
    p.add_argument("--system", default=None, help="system message")
    p.add_argument("prompt", nargs="?", help="the question; omit for an interactive session")
    p.set_defaults(run=run)


def first_query(images: list[str], text: str) -> list[dict]:
    return [{"image": src} for src in images] + [{"text": text}]


def run(args) -> int:
    from ..interface.chatml import DEFAULT_SYSTEM

    vl = load(args)
    for src in args.image:  # fail before the first question, naming the bad image
        vl.pixels([src])
    gen = generation_overrides(args)
    system = args.system if args.system is not None else DEFAULT_SYSTEM
    if args.prompt is not None:
        answer(vl, first_query(args.image, args.prompt), [], system, gen)
        return 0
    history, images = [], list(args.image)
    print("qwenvl chat — empty line or Ctrl-D to quit; ':image PATH' adds an image to the next question",
          file=sys.stderr)
    while True:
        try:
            line = input("> ").strip()
        except EOFError:
            return 0
        if not line:
            return 0
        if line.startswith(":image "):
            src = line.split(" ", 1)[1].strip()
            vl.pixels([src])
            images.append(src)
            continue
        query = first_query(images, line) if images else line
        images = []
        history = answer(vl, query, history, system, gen)


def answer(vl, query, history, system, gen) -> list:
    parts = []
    for delta in vl.chat_stream(None, query, history, system, **gen):
        parts.append(delta)
        print(delta, end="", flush=True)
    print()
    text = "".join(parts).strip()
    return list(history) + [(vl.tokenizer.from_list_format(query) if isinstance(query, list) else query, text)]
