"""Dense supervision only a synthetic world can give: what every patch of a picture shows.

Each patch is labelled with the shape and colour of the object whose box holds it (or
background), that object's box on the scene lattice, the patch's own lattice cell, and the
character of rendered text drawn over its centre (or none); a linear head reads them from the
ViT's patch tokens. CLIP pretraining learns through it, and so do the stages that train the
vision tower, so that what the LLM must read out (which object, and where) stays in the tokens.
A probe reads no character from any tower the reference recipe trains (runs 22 and 25,
`benchmarks/probe_glyphs.py`), though 1000 steps on English text alone teach a fresh tower half the
letters, and a reading phase with the scenes last leaves a quarter of them in the LLM's image
tokens (run 27). Measured (benchmarks/RESULTS.md): scene captions alone leave shape at chance;
shape and colour labels alone left a lone object's lattice cell at chance in the tokens; stages
trained on text losses alone eroded whatever the labels had put there.
The head is not part of the model and is not saved with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..synthetic.scenes import Scene, SceneConfig, cell_owners
from ..synthetic.text_render import TextScene, glyph_owners
from ..synthetic.vocab import COLOURS, SHAPES
from ..synthetic.words import CHINESE, ENGLISH
from ..training.packing import Batch
from .loop import text_loss

SHAPE_IDS = {s.name: i for i, s in enumerate(SHAPES)}  # background: len(SHAPES)
COLOUR_IDS = {c.name: i for i, c in enumerate(COLOURS)}  # background: len(COLOURS)
_LETTERS = "".join(ENGLISH)
GLYPH_IDS = {c: i for i, c in enumerate(sorted({*_LETTERS, *_LETTERS.upper(), *"".join(CHINESE)}))}  # none: len
CHINESE_GLYPHS = frozenset(i for c, i in GLYPH_IDS.items() if not c.isascii())  # ids of Chinese characters
NO_LABEL = -100  # no object on the patch (box labels), no objects in the picture (rendered text), no glyph id
LATTICE = SceneConfig().grid  # scenes' objects stand on this lattice; boxes and places are read on it
# Kinds of label and their class counts: the object's shape and colour (or background), its box
# on the lattice (corners 0…LATTICE), the patch's own lattice cell, and the character on it (or none).
PATCH_CLASSES = {"shape": len(SHAPES) + 1, "colour": len(COLOURS) + 1, "x1": LATTICE + 1, "y1": LATTICE + 1,
                 "x2": LATTICE + 1, "y2": LATTICE + 1, "col": LATTICE, "row": LATTICE, "char": len(GLYPH_IDS) + 1}


def patch_labels(scene: Scene | TextScene, grid: int) -> list[list[int]]:
    """Per kind of `PATCH_CLASSES`, the label of each patch of a grid×grid ViT. A scene's patches
    carry no character; rendered text's carry no object."""
    cells = [(i % grid * LATTICE // grid, i // grid * LATTICE // grid) for i in range(grid * grid)]
    places = [[c for c, _ in cells], [r for _, r in cells]]
    if isinstance(scene, TextScene):
        chars = [GLYPH_IDS.get(c, NO_LABEL) if c else len(GLYPH_IDS) for c in glyph_owners(scene, grid)]
        return [[NO_LABEL] * len(cells)] * 6 + places + [chars]
    owners = [scene.objects[o] if o >= 0 else None for o in cell_owners(scene, grid)]
    unit = scene.width / LATTICE
    boxes = [[round(o.box[k] / unit) if o else NO_LABEL for o in owners] for k in range(4)]
    return [[SHAPE_IDS[o.shape] if o else len(SHAPES) for o in owners],
            [COLOUR_IDS[o.colour] if o else len(COLOURS) for o in owners], *boxes, *places,
            [len(GLYPH_IDS)] * len(cells)]


def patch_head(width: int) -> nn.Linear:
    return nn.Linear(width, sum(PATCH_CLASSES.values()))


def dense_loss(head: nn.Module, tokens: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The sum over kinds of label of the patches' cross-entropy; `tokens` (N, patches, width),
    `labels` (N, len(PATCH_CLASSES), patches). A kind no patch carries adds nothing."""
    loss = tokens.new_zeros((), dtype=torch.float32)
    for k, logits in enumerate(head(tokens).float().split(list(PATCH_CLASSES.values()), dim=-1)):
        if bool((labels[:, k] != NO_LABEL).any()):
            loss = loss + F.cross_entropy(logits.flatten(0, 1), labels[:, k].flatten(), ignore_index=NO_LABEL)
    return loss


class PatchSupervised(nn.Module):
    """A Qwen-VL model with the patch head beside it, for a stage that trains the vision tower.

    The model sits under `module`, a prefix the trainer strips, so its parameters keep their
    official names (and their per-group learning rates). Gradients are clipped apart for the ViT
    with the head and for the rest (adapter, LLM): the dense loss gives the ViT gradients ten
    times the LLM's, and one global clip scaled the LLM's steps down with them, so it never
    learnt to read the picture (measured: benchmarks/RESULTS.md, run 6).
    """

    def __init__(self, model: nn.Module, head: nn.Module, weight: float = 1.0):
        super().__init__()
        self.module, self.patch_head, self.weight = model, head, weight

    def clip_groups(self) -> list[list[nn.Parameter]]:
        """(adapter and LLM, ViT and patch head): trainable parameters, clipped apart."""
        visual = self.module.transformer.visual
        vit = {id(visual.positional_embedding)}
        vit |= {id(p) for part in (visual.conv1, visual.ln_pre, visual.transformer, self.patch_head)
                for p in part.parameters()}
        trainable = [p for p in self.parameters() if p.requires_grad]
        groups = [[p for p in trainable if id(p) not in vit], [p for p in trainable if id(p) in vit]]
        return [g for g in groups if g]


def supervised_lm_loss(wrapped: PatchSupervised, item) -> torch.Tensor:
    """The stage's LM loss on a `data.Item`, plus the dense loss on its pictures' patch labels."""
    batch, labels = item.batch, item.patch_labels
    model = wrapped.module
    if batch.pixels is None:
        return text_loss(model, batch, None)
    visual = model.transformer.visual
    tokens = visual.patches(batch.pixels)
    return text_loss(model, batch, visual.pool(tokens)) + wrapped.weight * dense_loss(wrapped.patch_head, tokens,
                                                                                       labels)
