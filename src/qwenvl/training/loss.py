"""The training loss: next-token cross-entropy summed over the supervised positions of a batch.

`LossModule` makes the whole training forward one module call, which is what DDP and FSDP wrap.
That matters for a batch without images while the vision tower trains: it still runs the
tower (on a blank image, adding zero times its output), before the LLM as always, so that every
process runs the same modules in the same order and produces a gradient for every weight;
otherwise the processes' collectives would not match and the run would hang or abort.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .packing import Batch
from .samples import IGNORE


def token_loss_sum(model: nn.Module, batch: Batch) -> torch.Tensor:
    """Summed cross-entropy over the supervised positions (logits are computed only there)."""
    supervised = batch.targets != IGNORE
    logits = model(batch.input_ids, pixel_values=batch.pixels, positions=batch.positions,
                   attention_mask=batch.attention_mask, select=supervised)
    return F.cross_entropy(logits.float(), batch.targets[supervised], reduction="sum")


class LossModule(nn.Module):
    """`model` plus its loss as one forward: batch → summed token loss."""

    def __init__(self, model: nn.Module, image_size: int, vision_trains: bool):
        super().__init__()
        self.model = model
        self.image_size, self.vision_trains = image_size, vision_trains

    def forward(self, batch: Batch) -> torch.Tensor:
        keepalive = 0.0
        if self.vision_trains and batch.pixels is None:
            blank = torch.zeros(1, 3, self.image_size, self.image_size, device=batch.input_ids.device)
            keepalive = base_model(self.model).encode_images(blank).sum() * 0.0
        return token_loss_sum(self.model, batch) + keepalive


def base_model(model: nn.Module) -> nn.Module:
    """The QWenLMHeadModel inside DDP, the loss module and peft."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    if isinstance(model, LossModule):
        model = model.model
    if hasattr(model, "get_base_model"):
        model = model.get_base_model()
    return model
