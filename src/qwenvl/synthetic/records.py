"""The record every generator yields, and its grounding entries on the Qwen-VL [0, 1000) grid.

A record is a plain dict:
    {"task": str, "images": [PIL.Image, ...], "prompt": str, "answer": str, "lang": "en" | "zh",
     "boxes": [entry, ...], "seed": int}
Images are shown to the model in order, each as a "Picture N: <img>…</img>" line before the
prompt (Qwen-VL's list format); the prompt itself holds no image tags. Box entries mirror
`interface.grounding.grounding_to_dict`, plus the index of the image they belong to:
    {"type": "box", "image": i, "ref": str | None, "box": [x1, y1, x2, y2], "pixel_box": [...]}
    {"type": "quad", "image": i, "ref": str | None, "quad": [[x, y] * 4], "pixel_quad": [...]}
Pixel boxes are right/bottom exclusive; quads run clockwise from the text's top-left corner.
"""

from __future__ import annotations

from ..interface.grounding import format_box, format_quad, normalize_box

Record = dict


def grid_box(pixel_box, width: int, height: int) -> tuple[int, int, int, int]:
    """Pixel corners → the [0, 1000) grid: int(v / size * 1000), clipped to 0..999."""
    return normalize_box(pixel_box, width, height)


def grid_point(x: float, y: float, width: int, height: int) -> tuple[int, int]:
    """One pixel point on the grid, with the same formula as boxes."""
    return normalize_box((x, y, x, y), width, height)[:2]


def box_text(pixel_box, width: int, height: int) -> str:
    """`<box>(x1,y1),(x2,y2)</box>` for a pixel box."""
    return format_box(*grid_box(pixel_box, width, height))


def quad_text(pixel_quad, width: int, height: int) -> str:
    """`<quad>(x1,y1),…,(x4,y4)</quad>` for four pixel points."""
    return format_quad([grid_point(x, y, width, height) for x, y in pixel_quad])


def box_entry(ref: str | None, pixel_box, width: int, height: int, image: int = 0) -> dict:
    return {"type": "box", "image": image, "ref": ref, "box": list(grid_box(pixel_box, width, height)),
            "pixel_box": [int(v) for v in pixel_box]}


def quad_entry(ref: str | None, pixel_quad, width: int, height: int, image: int = 0) -> dict:
    return {"type": "quad", "image": image, "ref": ref,
            "quad": [list(grid_point(x, y, width, height)) for x, y in pixel_quad],
            "pixel_quad": [[float(x), float(y)] for x, y in pixel_quad]}


def record(task: str, images: list, prompt: str, answer: str, lang: str, seed: int,
           boxes: list[dict] | None = None) -> Record:
    return {"task": task, "images": images, "prompt": prompt, "answer": answer, "lang": lang,
            "boxes": boxes or [], "seed": seed}
