"""The miniature Qwen-VL: the paper's architecture at a size two CPU cores can train in an hour.

Every part keeps its official shape rules (ViT patch 14 with a 16×16 position table, a
cross-attention adapter with 2D sin-cos positions, a Qwen decoder); only widths and depths shrink.
The adapter compresses as the paper's does, four patches to a query: 1024 patches at 448 px → 256
queries there, 256 patches at 224 px → 64 here, one per cell of the synthetic world's 8×8 lattice.
The LLM pays for every image token (256 made a stage-2 step 1.6× as long, measured on the 2-core
AMD EPYC: 0.63 against 0.39 s), and each question's search for its object runs over 64 of them.
The LLM has four blocks: six scored level with four, within the seed spread, and took 6.6 minutes
more (run 36).
"""

from __future__ import annotations

import torch

from ..config import AdapterConfig, LLMConfig, QwenVLConfig, VisionConfig
from ..model.adapter import sincos_2d
from ..training.build import init_weights

LOW_RES, HIGH_RES = 112, 224  # stage 1 (8×8 patches, the position table interpolated) → stages 2-3 (16×16)


def vocab_size(n_tokens: int, multiple: int = 64) -> int:
    """The embedding rows: every token of the tokenizer, rounded up for aligned matmuls."""
    return -(-n_tokens // multiple) * multiple


def miniature_config(n_tokens: int, image_start_id: int, image_size: int = HIGH_RES) -> QwenVLConfig:
    """The recipe's model for a tokenizer of `n_tokens` ids whose `<img>` is `image_start_id`."""
    llm = LLMConfig(vocab_size=vocab_size(n_tokens), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                    kv_channels=64, intermediate_size=1408, seq_length=2048)
    vision = VisionConfig(image_size=image_size, patch_size=14, width=192, layers=6, heads=3, mlp_ratio=4.0,
                          image_start_id=image_start_id)
    return QwenVLConfig(llm=llm, vision=vision, adapter=AdapterConfig(output_dim=llm.hidden_size, n_queries=64),
                        torch_dtype="float32")


def init_miniature(model) -> None:
    """The recipe's initialisation: the trainer's for the LLM, 2D sin-cos for the ViT's position
    table (a clean code of where each patch is, which the grounding answers must read out), and
    the adapter as local pooling (`local_adapter_init`)."""
    init_weights(model, model.cfg.llm.initializer_range)
    visual = model.transformer.visual
    with torch.no_grad():
        visual.positional_embedding.copy_(0.5 * sincos_2d(visual.cfg.width, 16))
    local_adapter_init(model)


def local_adapter_init(model, sharpness: float = 4.0, content: float = 0.1) -> None:
    """Start the adapter as local pooling: query i attends around grid cell i and passes its features on.

    The learnt queries are switched off (`ln_q` weight 0, so a query is its 2D sin-cos position),
    every head's q/k projections keep the highest frequencies of both axes of those positions,
    and `ln_kv` starts small so the keys' content barely moves the scores: each query then looks
    at its own cell and its neighbours (about 0.78 of the weight on the cell at `sharpness` 4).
    v and out start as identities. The LLM thus starts from image tokens that are patches in
    reading order, and learns where things are in far fewer steps than from a random
    cross-attention. Everything stays trainable.
    """
    pool = model.transformer.visual.attn_pool
    dim, heads = pool.query.shape[1], pool.attn.num_heads
    head = dim // heads
    f = head // 4  # frequencies kept per block: column sin, column cos, row sin, row cos
    if f == 0 or f > dim // 4:
        raise ValueError(f"cannot make a local adapter with {heads} heads of {head} dims over {dim} dims")
    keep = [b * (dim // 4) + k for b in range(4) for k in range(f)]
    pick = torch.zeros(head, dim)
    pick[torch.arange(head), torch.tensor(keep)] = 1.0
    eye = torch.eye(dim)
    with torch.no_grad():
        pool.ln_q.weight.zero_()
        pool.ln_q.bias.zero_()
        pool.ln_kv.weight.fill_(content)
        qk = sharpness * pick.repeat(heads, 1)
        pool.attn.in_proj_weight.copy_(torch.cat([qk, qk, eye]))
        pool.attn.in_proj_bias.zero_()
        pool.attn.out_proj.weight.copy_(eye)
        pool.attn.out_proj.bias.zero_()
