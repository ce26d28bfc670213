"""Weight layouts and GEMM forms that make CPU decoding fast without changing the math.

Decoding multiplies one or a few vectors by each weight matrix, so it is bound by how fast a
kernel streams the weights, and which kernel streams best depends on the processor and dtype
(benchmarks/RESULTS.md). On the 2-core AMD EPYC machines MKL's fp32 GEMV over a column-major
matrix streamed ~2× faster than over a row-major one, and oneDNN's bf16 GEMM over a weight packed
in its own blocked layout ran 1.7× faster than any strided bf16 form; on the 2-core Intel Xeon ones
bf16 `W @ xᵀ` over 16 columns streamed ~3× faster than any one-row form until oneDNN's packed GEMM
was tried there, which streamed the `lm_head` fastest cold in both dtypes. So where oneDNN packs the
dtype, the loader packs every decoding matrix; elsewhere each (shape, dtype) is timed once per
process in every form on a probe matrix and the weight stored as the winner needs ("row" or
"column"); `linear` runs the fastest form for the storage it finds. The vision tower's linears,
which see 1024 rows an image, are packed too: at
their shapes oneDNN's GEMM over a packed weight beat `addmm`. Parameters keep their official
shapes and names; a packed one is an opaque oneDNN tensor that `Linear` writes out dense, so state
dicts and checkpoints are as before; with gradients on it is unpacked per call, which is correct
but slow, so training loads plain row-major weights.
"""

from __future__ import annotations

import functools
import time

import torch
import torch.nn.functional as F
from torch import nn

LLM_LINEAR_SUFFIXES = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.w1.weight", ".mlp.w2.weight",
                       ".mlp.c_proj.weight")
# The ViT's and the adapter's linears see 1024 rows an image at 448 px: oneDNN's GEMM over a packed
# weight ran them 10-13% faster than addmm in float32 and 5% in bfloat16 (bit-identical in bf16).
VIT_BLOCK_SUFFIXES = (".attn.in_proj.weight", ".attn.out_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
MAX_DECODE_ROWS = 64  # above this, inputs are prefill-sized and the plain GEMM is right
PROBE_ELEMENTS = 1 << 24  # a taller matrix is timed on its first rows: the ranking holds, loading stays quick
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


def _packed(x: torch.Tensor, w: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """oneDNN's GEMM over a weight packed by `pack`; each row's result is the same whatever the row count."""
    return torch.ops.mkldnn._linear_pointwise(x, w, bias, "none", [], "")


def pack(w: torch.Tensor) -> torch.Tensor:
    """(out, in) weight → the same matrix in oneDNN's blocked layout for `_packed`."""
    return torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), None)


@functools.cache
def _can_pack(dtype: torch.dtype) -> bool:
    try:
        _packed(torch.ones(1, 2, dtype=dtype), pack(torch.ones(3, 2, dtype=dtype)))
        return True
    except (AttributeError, RuntimeError):  # a build without oneDNN, or fp16 on a CPU without fp16 support
        return False


# name → (storage the weight needs, (x: (rows, in), w: (out, in)) → (rows, out))
FORMS = {
    "row_gemm": ("row", F.linear),
    "column_gemm": ("row", _column_gemm),
    "column_gemm_16": ("row", lambda x, w: _column_gemm(x, w, 16)),
    "column_major": ("column", F.linear),
    "packed": ("packed", _packed),
}


def stored(w: torch.Tensor, storage: str) -> torch.Tensor:
    """`w` (row-major) in `storage`."""
    if storage == "column":
        return w.t().contiguous().t()
    return pack(w) if storage == "packed" else w


def storage_of(w: torch.Tensor) -> str:
    if w.is_mkldnn:
        return "packed"
    return "column" if w.dim() == 2 and w.stride() == (1, w.shape[0]) else "row"


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
    probe = torch.full(shape, 0.01, dtype=dtype)
    storages = ("row", "column", "packed") if _can_pack(dtype) else ("row", "column")
    probes = {s: stored(probe, s) for s in storages}
    x = torch.full((rows, shape[1]), 0.01, dtype=dtype)
    return best_times({name: functools.partial(form, x, probes[storage])
                       for name, (storage, form) in FORMS.items() if storage in probes}, rounds)


@functools.cache
def fastest_form(shape: tuple[int, int], dtype: torch.dtype, rows: int, storage: str | None = None) -> str:
    """The fastest form for the given storage (None: any; a column-major one only when it beats every
    row-major form by 10%, as its transposed copy costs time at load; packing needs no margin)."""
    times = form_times(shape, dtype, rows)
    best = {s: min((n for n in times if FORMS[n][0] == s), key=times.get)
            for s in {FORMS[n][0] for n in times}}
    if storage is not None:
        return best[storage]
    winner = min(best.values(), key=times.get)
    if FORMS[winner][0] == "column" and times[winner] >= 0.9 * times[best["row"]]:
        return best["row"]
    return winner


def storage_for(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> str:
    """How a CPU inference parameter is best stored ("row", "column" or "packed"); the loader obeys.
    Every decoding matrix is packed where oneDNN packs the dtype: a matrix cannot be timed as decoding
    meets it (cold, after the rest of the model streamed through), and timed warm the forms ranked
    wrongly. Packed, the 188M benchmark's LLM blocks decoded 1.3-1.8× faster than in the forms the warm
    probe picked, and its `lm_head` 1.1-1.6× faster at 1 and 8 rows in fp32 (benchmarks/RESULTS.md).
    Without packing, the probe's fastest form decides."""
    if len(shape) != 2:
        return "row"
    vit = name.startswith("transformer.visual.transformer.resblocks.") and name.endswith(VIT_BLOCK_SUFFIXES)
    if vit or name == "transformer.visual.attn_pool.kv_proj.weight":
        return "packed" if _can_pack(dtype) else "row"
    decoded = name == "lm_head.weight" or (name.startswith("transformer.h.") and name.endswith(LLM_LINEAR_SUFFIXES))
    if not decoded:
        return "row"
    if _can_pack(dtype):
        return "packed"
    return FORMS[fastest_form(tuple(shape), dtype, 1)][0]


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """`F.linear`, in the fastest form for this weight's storage when decoding a few rows on CPU."""
    rows = x.shape[:-1].numel()
    if weight.is_mkldnn:
        if torch.is_grad_enabled() or torch.is_autocast_enabled("cpu") or x.dtype != weight.dtype:
            return F.linear(x, weight.to_dense(), bias)  # correct, not fast: training loads plain weights
        out = _packed(x.reshape(rows, x.shape[-1]), weight, bias) if rows else x.new_empty(rows, weight.shape[0])
        return out.reshape(*x.shape[:-1], weight.shape[0])
    if (weight.device.type != "cpu" or rows > MAX_DECODE_ROWS or rows == 0 or torch.is_grad_enabled()
            or weight.dim() != 2):
        return F.linear(x, weight, bias)
    storage = storage_of(weight)
    if storage == "row" and not weight.is_contiguous():
        return F.linear(x, weight, bias)
    name = fastest_form(tuple(weight.shape), weight.dtype, 1 if rows <= SMALL_BATCH else 8, storage)
    flat, form = x.reshape(rows, -1), FORMS[name][1]
    if name in ROW_COUNT_DEPENDENT and 1 < rows <= SMALL_BATCH:
        out = torch.cat([form(flat[i:i + 1], weight) for i in range(rows)])  # each row as if alone
    else:
        out = form(flat, weight)
    out = out.reshape(*x.shape[:-1], weight.shape[0])
    return out if bias is None else out + bias


class Linear(nn.Linear):
    """`nn.Linear` (same parameters and names) that decodes through `linear`, writes a packed weight
    out dense and unpacks it before a move or cast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)

    def _apply(self, fn, recurse=True):
        """Moving or casting (`.to`, `.float()`, `.cuda()`) unpacks first: oneDNN tensors support neither."""
        if self.weight.is_mkldnn:
            self.weight = nn.Parameter(self.weight.to_dense(), requires_grad=self.weight.requires_grad)
        return super()._apply(fn, recurse)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        if self.weight.is_mkldnn:
            destination[prefix + "weight"] = self.weight.to_dense()
