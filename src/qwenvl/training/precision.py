"""Mixed precision where it pays: bfloat16 autocast only on devices that multiply bf16 natively.

On a CPU without native bf16 (AVX2 only: no AVX512-BF16, no AMX) oneDNN's bf16 matrix products run
far below float32 (measured on a 2-core AMD EPYC: 9 against 81 GFLOP/s, a 512×256 by 256×1408
product), so bf16 autocast there would turn the hour's recipe into most of a day. Whether a CPU's
bf16 is fast is measured once per process, not guessed from its name, on a product the size of a
training step's: on a 2-core Xeon with AMX a 128×256 by 256×256 product took 75 µs in bf16 and 81 in
float32 (call overhead), where the recipe's 4800×256 by 256×1408 ran at 1170 against 218 GFLOP/s.
"""

from __future__ import annotations

import functools
import logging

import torch

from ..model.layout import best_times

log = logging.getLogger(__name__)

PROBE = (1024, 256, 1024)  # m, k, n: a linear layer of the miniature LLM over a batch's tokens


def _times() -> dict[torch.dtype, float]:
    """Best seconds of one product in bf16 and in float32, taken in turn (`best_times`)."""
    operands = {dtype: (torch.randn(*PROBE[:2]).to(dtype), torch.randn(*PROBE[1:]).to(dtype))
                for dtype in (torch.bfloat16, torch.float32)}
    return best_times({dtype: functools.partial(torch.matmul, a, b) for dtype, (a, b) in operands.items()})


@functools.cache
def bf16_is_fast(device_type: str) -> bool:
    """Whether bf16 matrix products on `device_type` are clearly faster than float32 ones (where
    they merely tie, float32 is the more exact)."""
    if device_type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return True
    times = _times()
    fast = times[torch.bfloat16] < 0.9 * times[torch.float32]
    if not fast:
        log.warning("this CPU has no fast bfloat16 matrix products: training runs in float32")
    return fast


def autocast(device_type: str, bf16: bool = True) -> torch.autocast:
    """bfloat16 autocast when asked for and fast on `device_type`; float32 otherwise."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16 and bf16_is_fast(device_type))
