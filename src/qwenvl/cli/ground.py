"""`qwenvl ground`: boxes for an expression, printed as JSON and drawn on the image."""

from __future__ import annotations

import json

from .main import common_model_args, load


def add_parser(p) -> None:
    common_model_args(p, default_model=True)
    p.add_argument("--image", required=True, help="image path or URL")
    p.add_argument("--out", default="boxes.png", help="where to write the picture with boxes (PNG)")
    p.add_argument("expression", help='what to find, e.g. "the red apple"')
    p.set_defaults(run=run)


def run(args) -> int:
    from ..data.images import load_image
    from ..interface.draw import draw_grounding
    from ..interface.grounding import grounding_to_dict

    vl = load(args)
    image = load_image(args.image, vl.image_limits)
    text, items = vl.ground(image, args.expression)
    w, h = image.size
    print(json.dumps({"response": text, "boxes": [grounding_to_dict(i, w, h) for i in items]},
                     ensure_ascii=False, indent=2))
    draw_grounding(image, items).save(args.out, format="PNG")
    print(f"wrote {args.out}" + ("" if items else " (no box found)"))
    return 0
