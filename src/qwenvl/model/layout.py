"""Memory layouts that make CPU decoding fast without changing the math.

Decoding multiplies one or a few vectors by each weight matrix, so it is bound by how fast a
kernel streams the weights. Measured on this project's 2-core AMD EPYC machine:
MKL's fp32 GEMV over a row-major (out, in) matrix reaches ~12 GB/s, while the same matrix stored
column-major (`x @ Wᵀ` with Wᵀ contiguous) streams at ~26 GB/s; for bf16 the column-major form is
also the faster one. On the 2-core Intel Xeon machine both layouts stream the LLM's small matrices
at 40-57 GB/s (they sit in its 300 MB L3). The fp32 `lm_head` stays row-major, and the GEMM form
that streams it fastest differs between the two processors, so it is timed at first use
(`QWenLMHeadModel.logits`). Parameters keep their official shapes;
only the strides change, and checkpoints are saved contiguous as before.
"""

from __future__ import annotations

import torch

LLM_LINEAR_SUFFIXES = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.w1.weight", ".mlp.w2.weight",
                       ".mlp.c_proj.weight")


def wants_column_major(name: str, dtype: torch.dtype) -> bool:
    """Whether a CPU parameter is best stored transposed (stride (1, rows)); the loader obeys."""
    if name.startswith("transformer.h.") and name.endswith(LLM_LINEAR_SUFFIXES):
        return True
    return name == "lm_head.weight" and dtype != torch.float32
