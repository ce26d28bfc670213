"""The closed vocabulary of the synthetic world: colours, shapes, sizes and numbers, in English and Chinese.

Every generator names things through these tables, so a word means the same pixels everywhere
(scenes, questions, captions, the text corpus) and a tiny model can learn the mapping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Colour:
    name: str
    zh: str
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Shape:
    name: str
    plural: str
    zh: str


@dataclass(frozen=True)
class Size:
    name: str
    zh: str
    side: tuple[float, float]  # object side as a fraction of the image side: far apart so sizes read at a glance


# Chromatic colours plus black and white; no grey, which is reserved for backgrounds.
COLOURS = (
    Colour("red", "红色", (220, 40, 40)),
    Colour("orange", "橙色", (250, 140, 20)),
    Colour("yellow", "黄色", (245, 215, 30)),
    Colour("green", "绿色", (40, 170, 60)),
    Colour("cyan", "青色", (30, 200, 210)),
    Colour("blue", "蓝色", (40, 80, 220)),
    Colour("purple", "紫色", (140, 60, 190)),
    Colour("pink", "粉色", (250, 130, 190)),
    Colour("brown", "棕色", (130, 80, 40)),
    Colour("black", "黑色", (20, 20, 20)),
    Colour("white", "白色", (250, 250, 250)),
)

SHAPES = (
    Shape("circle", "circles", "圆形"),
    Shape("square", "squares", "正方形"),
    Shape("triangle", "triangles", "三角形"),
    Shape("star", "stars", "星形"),
    Shape("diamond", "diamonds", "菱形"),
    Shape("hexagon", "hexagons", "六边形"),
    Shape("cross", "crosses", "十字"),
    Shape("heart", "hearts", "心形"),
    Shape("arrow", "arrows", "箭头"),
    Shape("house", "houses", "房子"),
    Shape("moon", "moons", "月亮"),
)

SIZES = (
    Size("small", "小的", (0.12, 0.17)),
    Size("medium", "中号的", (0.22, 0.28)),
    Size("big", "大的", (0.34, 0.42)),
)

COLOUR = {c.name: c for c in COLOURS}
SHAPE = {s.name: s for s in SHAPES}
SIZE = {s.name: s for s in SIZES}

NUMBERS_EN = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
NUMBERS_ZH = ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十")
DIGITS_ZH = ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十")  # counting aloud uses 二, not 两
