"""Pretraining the ViT contrastively on image–caption pairs, what Qwen-VL inherits from OpenCLIP.

The image tower is the model's own ViT trunk (`conv1` … `transformer`), pooled by a mean and a
projection that are thrown away afterwards, as Qwen-VL throws away OpenCLIP's pooling head.
The text tower is a small Transformer over the recipe's tokens. Pairs are scene captions and
pictures of rendered text with their text, in English and Chinese; the loss is CLIP's
symmetric InfoNCE with a learnt temperature, plus the dense loss of `dense` (what object, which
box and which place every patch shows). Measured (benchmarks/RESULTS.md): with captions alone,
400 steps leave the ViT's features at chance on shape.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..data.images import preprocess_batch
from ..synthetic import child_seed, sample_seed
from ..synthetic.scenes import SceneConfig, render_scene, sample_scene
from ..synthetic.tasks import caption
from ..synthetic.templates import LANGS
from ..synthetic.text_render import TextConfig, render_text_scene, sample_text_scene
from ..training.stages import apply_stage
from .data import SIZE
from .dense import dense_loss, patch_head, patch_labels
from .loop import Schedule, train

EMBED = 128
MAX_TEXT = 64



class TextTower(nn.Module):
    def __init__(self, vocab: int, width: int = 128, layers: int = 2, heads: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Parameter(torch.randn(MAX_TEXT, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.ln = nn.LayerNorm(width)
        self.proj = nn.Linear(width, EMBED, bias=False)

    def forward(self, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, T) ids with a (B, T) validity mask → (B, EMBED), the mean over valid tokens."""
        x = self.embed(ids) + self.position[:ids.shape[1]]
        x = self.ln(self.encoder(x, src_key_padding_mask=~valid))
        pooled = (x * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
        return self.proj(pooled)


class CLIP(nn.Module):
    def __init__(self, visual, vocab: int, head: nn.Module):
        super().__init__()
        self.visual = visual
        self.image_ln = nn.LayerNorm(visual.cfg.width)
        self.image_proj = nn.Linear(visual.cfg.width, EMBED, bias=False)
        self.text = TextTower(vocab)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.patch_head = head

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor, valid: torch.Tensor,
                labels: torch.Tensor) -> torch.Tensor:
        """The symmetric InfoNCE loss of a batch of matching pairs plus the patches' dense loss
        (`labels`: (B, len(PATCH_CLASSES), patches), one cross-entropy per kind of label)."""
        tokens = self.visual.patches(pixels)
        image = F.normalize(self.image_proj(self.image_ln(tokens.mean(1))), dim=-1)
        text = F.normalize(self.text(ids, valid), dim=-1)
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * image.float() @ text.float().T
        target = torch.arange(len(ids))
        contrastive = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        return contrastive + dense_loss(self.patch_head, tokens, labels)


CLIP_OBJECTS = 3


def pair(seed: int, grid: int) -> tuple:
    """(picture, text, patch labels): a scene and its caption, or rendered text and the text, half
    and half (`patch_labels`).

    Scenes hold at most `CLIP_OBJECTS` objects: the caption of a crowded scene is told from the
    others of a batch by its colours alone, and the tower is to learn shapes too.
    """
    rng = random.Random(seed)
    lang = rng.choice(LANGS)
    if rng.random() < 0.5:
        scene = sample_scene(child_seed(seed, "scene"), SceneConfig(size=SIZE, max_objects=CLIP_OBJECTS))
        return render_scene(scene), caption(scene, rng, lang).answer, patch_labels(scene, grid)
    scene = sample_text_scene(child_seed(seed, "text"), lang, TextConfig(size=SIZE))
    return render_text_scene(scene), " ".join(it.text for it in scene.reading_order()), patch_labels(scene, grid)


def pair_batches(tokenizer, batch_size: int, image_size: int, patch_size: int, seed: int) -> Iterator[tuple]:
    index, grid = 0, image_size // patch_size
    while True:
        pairs = [pair(sample_seed("clip", seed, index + i, "train"), grid) for i in range(batch_size)]
        index += batch_size
        ids = [tokenizer.encode(p[1])[:MAX_TEXT] for p in pairs]
        width = max(map(len, ids))
        valid = torch.tensor([[k < len(t) for k in range(width)] for t in ids])
        padded = torch.tensor([t + [tokenizer.eod_id] * (width - len(t)) for t in ids])
        yield preprocess_batch([p[0] for p in pairs], image_size), padded, valid, torch.tensor([p[2] for p in pairs])


def pretrain_clip(model, tokenizer, schedule: Schedule, image_size: int, batch_size: int = 64, seed: int = 0,
                  out_dir: Path | None = None, progress: bool = True, head: nn.Module | None = None) -> dict:
    """Train the ViT trunk of `model` contrastively and through the patch `head` (`dense`), which
    the caller keeps for the stages; the towers' own heads are discarded afterwards."""
    apply_stage(model, ["vit"])
    head = head if head is not None else patch_head(model.cfg.vision.width)
    clip = CLIP(model.transformer.visual, model.cfg.llm.vocab_size, head)
    batches = pair_batches(tokenizer, batch_size, image_size, model.cfg.vision.patch_size, seed)
    # Both towers attend over at most 64 positions, where the plain softmax-attention kernel is ~2.5×
    # faster through backward than the flash one (measured: 0.88 → 0.74 s per step of 64 pairs).
    with sdpa_kernel(SDPBackend.MATH):
        return train(clip, batches, schedule, "clip", out_dir, loss_fn=lambda m, batch: m(*batch),
                     progress=progress, ahead=True)
