"""Weight layouts and GEMM forms that make CPU decoding fast without changing the math.

Decoding multiplies one or a few vectors by each weight matrix, so it is bound by how fast a
kernel streams the weights, and which kernel streams best depends on the processor and dtype
(benchmarks/RESULTS.md). On the 2-core AMD EPYC machines MKL's fp32 GEMV over a column-major
matrix (`x @ Wᵀ` with Wᵀ contiguous) streamed ~2× faster than over a row-major one; on the 2-core
Intel Xeon ones bf16 `W @ xᵀ` over 16 columns streams ~3× faster than any one-row form. So each
(shape, dtype) is timed once per process in every form on a probe matrix, the loader stores the
weight column-major where that form wins, and `linear` runs the fastest form for the layout it
finds. Parameters keep their official shapes; only the strides change, and checkpoints are saved
contiguous as before.
"""

from __future__ import annotations

import functools
import time

import torch
import torch.nn.functional as F
from torch import nn

LLM_LINEAR_SUFFIXES = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.w1.weight", ".mlp.w2.weight",
                       ".mlp.c_proj.weight")
MAX_DECODE_ROWS = 64  # above this, inputs are prefill-sized and the plain GEMM is right
PROBE_ELEMENTS = 1 << 27  # a taller matrix is timed on its first rows: the ranking holds, loading stays quick
SMALL_BATCH = 4  # up to this many rows, the form is the one timed for a single row
# Forms whose result for a row depends on how many rows come with it (MKL's GEMV for one row, its
# GEMM for more sum in different orders; on an AVX2-only CPU the GEMM over 2 columns and over 3-4
# differ too). Up to SMALL_BATCH rows they run one row at a time, so a seeded sample drawn beside
# others equals the one drawn alone, bit for bit. `column_gemm_16` pads every call to the same 16
# columns, so it sums alike whatever the row count.
ROW_COUNT_DEPENDENT = ("row_gemm", "column_major", "column_gemm")


def _column_gemm(x: torch.Tensor, w: torch.Tensor, at_least: int = 2) -> torch.Tensor:
    """`(W @ xᵀ)ᵀ` with x padded to `at_least` rows by repeating its first: MKL takes a slow GEMV
    path for one column, and its bf16 GEMM streams W fastest at 16 columns."""
    rows = x.shape[0]
    if rows < at_least:
        x = torch.cat([x, x[:1].expand(at_least - rows, -1)])
    return (w @ x.T)[:, :rows].T


# name → (weight stored column-major?, (x: (rows, in), w: (out, in)) → (rows, out))
FORMS = {
    "row_gemm": (False, F.linear),
    "column_gemm": (False, _column_gemm),
    "column_gemm_16": (False, lambda x, w: _column_gemm(x, w, 16)),
    "column_major": (True, F.linear),
}


def best_times(calls: dict, rounds: int = 7) -> dict:
    """Best seconds of each call over `rounds`, the calls taken in turn within each round so that a
    burst of load from elsewhere on the machine slows every call alike instead of deciding the
    winner; round 0 warms every call up (kernel selection, weight packing)."""
    times = dict.fromkeys(calls, float("inf"))
    for k in range(rounds + 1):
        for key, call in calls.items():
            t0 = time.perf_counter()
            call()
            if k:
                times[key] = min(times[key], time.perf_counter() - t0)
    return times


@functools.cache
def form_times(shape: tuple[int, int], dtype: torch.dtype, rows: int, rounds: int = 7) -> dict[str, float]:
    """Seconds each form takes to multiply `rows` vectors by an (out, in) `shape` matrix on this CPU
    (`best_times`)."""
    shape = (min(shape[0], max(1, PROBE_ELEMENTS // shape[1])), shape[1])
    probes = {False: torch.full(shape, 0.01, dtype=dtype), True: torch.full(shape[::-1], 0.01, dtype=dtype).t()}
    x = torch.full((rows, shape[1]), 0.01, dtype=dtype)
    return best_times({name: functools.partial(form, x, probes[transposed])
                       for name, (transposed, form) in FORMS.items()}, rounds)


@functools.cache
def fastest_form(shape: tuple[int, int], dtype: torch.dtype, rows: int, column_major: bool | None = None) -> str:
    """The fastest form for the given storage (`column_major` None: either, column-major only when
    it beats every row-major form by 10%, as the transposed copy costs time and memory at load)."""
    times = form_times(shape, dtype, rows)
    row = min((n for n in times if not FORMS[n][0]), key=times.get)
    col = min((n for n in times if FORMS[n][0]), key=times.get)
    if column_major is None:
        return col if times[col] < 0.9 * times[row] else row
    return col if column_major else row


def wants_column_major(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> bool:
    """Whether a CPU parameter is best stored transposed (stride (1, rows)); the loader obeys."""
    decoded = name == "lm_head.weight" or (name.startswith("transformer.h.") and name.endswith(LLM_LINEAR_SUFFIXES))
    return decoded and len(shape) == 2 and FORMS[fastest_form(tuple(shape), dtype, 1)][0]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear`, in the fastest form for this weight's layout when decoding a few rows on CPU."""
    rows = x.shape[:-1].numel()
    if (weight.device.type != "cpu" or rows > MAX_DECODE_ROWS or rows == 0 or torch.is_grad_enabled()
            or weight.dim() != 2):
        return F.linear(x, weight, bias)
    column_major = weight.stride() == (1, weight.shape[0])
    if not column_major and not weight.is_contiguous():
        return F.linear(x, weight, bias)
    name = fastest_form(tuple(weight.shape), weight.dtype, 1 if rows <= SMALL_BATCH else 8, column_major)
    flat, form = x.reshape(rows, -1), FORMS[name][1]
    if name in ROW_COUNT_DEPENDENT and 1 < rows <= SMALL_BATCH:
        out = torch.cat([form(flat[i:i + 1], weight) for i in range(rows)])  # each row as if alone
    else:
        out = form(flat, weight)
    out = out.reshape(*x.shape[:-1], weight.shape[0])
    return out if bias is None else out + bias


class Linear(nn.Linear):
    """`nn.Linear` (same parameters and names) that decodes through `linear`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)
