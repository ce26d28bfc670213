"""What may be said about objects in a scene: unique referring descriptions and clear spatial relations.

A description is only offered when it picks out exactly one object, and a relation only when
the two boxes do not overlap along that axis, so every question built on them has one answer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .scenes import Scene, SceneObject

POSITIONS = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class Description:
    """Attributes that must match; None leaves one open. `position` picks one of exactly two look-alikes."""

    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    position: str | None = None


def left_of(a: SceneObject, b: SceneObject) -> bool:
    """a lies wholly left of b."""
    return a.box[2] <= b.box[0]


def above(a: SceneObject, b: SceneObject) -> bool:
    """a lies wholly above b."""
    return a.box[3] <= b.box[1]


def relation(a: SceneObject, b: SceneObject, axis: str) -> str | None:
    """Where a is relative to b along 'x' (left/right) or 'y' (above/below); None when they overlap."""
    before, names = (left_of, ("left", "right")) if axis == "x" else (above, ("above", "below"))
    if before(a, b):
        return names[0]
    if before(b, a):
        return names[1]
    return None


def _matches(desc: Description, obj: SceneObject) -> bool:
    return all(want is None or want == have for want, have in
               ((desc.shape, obj.shape), (desc.colour, obj.colour), (desc.size, obj.size)))


def referents(scene: Scene, desc: Description) -> list[SceneObject]:
    """The objects `desc` picks out (a positional description picks one of two separated look-alikes)."""
    group = [o for o in scene.objects if _matches(desc, o)]
    if desc.position is None:
        return group
    if len(group) != 2:
        return []
    axis = "x" if desc.position in ("left", "right") else "y"
    rel = relation(group[0], group[1], axis)
    if rel is None:
        return []
    first_is_first = rel in ("left", "above")
    wants_first = desc.position in ("left", "top")
    return [group[0] if first_is_first == wants_first else group[1]]


def unique_descriptions(scene: Scene, obj: SceneObject, with_shape: bool = True) -> list[Description]:
    """Every description that refers to `obj` alone; without the shape when the shape is what is asked."""
    out = []
    for colour in (None, obj.colour):
        for size in (None, obj.size):
            base = Description(obj.shape if with_shape else None, colour, size)
            for desc in [base] + [replace(base, position=p) for p in POSITIONS]:
                found = referents(scene, desc)
                if len(found) == 1 and found[0] is obj:
                    out.append(desc)
    return out
