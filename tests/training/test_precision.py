import pytest
import torch

from qwenvl.training import precision


@pytest.fixture
def timed(monkeypatch):
    """Make the CPU's measured matmul times what a test says, and forget any earlier verdict."""
    def set_times(bf16: float, fp32: float):
        monkeypatch.setattr(precision, "_times", lambda: {torch.bfloat16: bf16, torch.float32: fp32})
        precision.bf16_is_fast.cache_clear()
    yield set_times
    precision.bf16_is_fast.cache_clear()


def product_dtype(context) -> torch.dtype:
    with context:
        return (torch.ones(2, 2) @ torch.ones(2, 2)).dtype


def test_bf16_autocast_only_where_bf16_multiplies_fast(timed):
    timed(bf16=1.0, fp32=3.0)  # AMX: bf16 ~3x float32
    assert product_dtype(precision.autocast("cpu")) == torch.bfloat16
    timed(bf16=8.0, fp32=1.0)  # AVX2 only: bf16 emulated, ~8x slower
    assert product_dtype(precision.autocast("cpu")) == torch.float32
    timed(bf16=1.0, fp32=1.05)  # a tie: float32, the more exact
    assert product_dtype(precision.autocast("cpu")) == torch.float32


def test_asking_for_float32_is_never_overruled(timed):
    timed(bf16=1.0, fp32=3.0)
    assert product_dtype(precision.autocast("cpu", bf16=False)) == torch.float32

