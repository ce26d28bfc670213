"""The explicit attention form computes what the fused kernel computes, and is used only where chosen."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import qwenvl.model.attention as attn


def _qkv(t: int, keys: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(t * 1000 + keys)
    q = torch.randn(2, 3, t, 16, generator=g)
    k, v = torch.randn(2, 2, 3, keys, 16, generator=g)
    return q.to(dtype), k.to(dtype), v.to(dtype)


@pytest.mark.parametrize("t,keys", [(7, 7), (1, 9), (5, 5)])
def test_explicit_equals_sdpa_plain_causal_and_masked(t, keys):
    q, k, v = _qkv(t, keys)
    assert torch.allclose(attn.explicit(q, k, v), F.scaled_dot_product_attention(q, k, v), atol=1e-5)
    if t == keys:
        assert torch.allclose(attn.explicit(q, k, v, causal=True),
                              F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-5)
    mask = torch.rand(2, 1, t, keys, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[..., 0] = True  # every query may attend somewhere
    assert torch.allclose(attn.explicit(q, k, v, mask), F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
                          atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("limit,blocks", [(3 * 11 * 11 - 1, [4, 4, 3] * 2), (2 * 3 * 11 * 11 - 1, [11, 11])])
def test_scores_in_blocks_compute_what_all_at_once_does(monkeypatch, dtype, limit, blocks):
    """Scores over the cache's limit go an item at a time, and by 4 queries of 11 (the last block short)
    where an item's are over it too: plain, causal and masked, against one block and against the fused
    kernel. With gradients, or scores within the limit, they go at once."""
    q, k, v = _qkv(11, 11, dtype)
    mask = torch.rand(2, 1, 11, 11, generator=torch.Generator().manual_seed(2)) > 0.4
    mask[..., 0] = True
    cases = [{}, {"causal": True}, {"mask": mask}, {"mask": mask[..., :1, :]}, {"mask": mask[:1]},
             {"mask": mask[0, 0]}]
    whole = [attn.explicit(q, k, v, **case) for case in cases]
    monkeypatch.setattr(attn, "QUERY_BLOCK", 4)
    monkeypatch.setattr(attn, "SCORES_IN_CACHE", limit)
    for case, ref in zip(cases, whole):
        ours = attn.explicit(q, k, v, **case)
        assert torch.allclose(ours.float(), ref.float(), atol=1e-6 if dtype == torch.float32 else 1e-2)
        m = case.get("mask")
        fused = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=m,
                                               is_causal=case.get("causal", False))
        assert torch.allclose(ours.float(), fused, atol=1e-5 if dtype == torch.float32 else 3e-2)
    seen = []
    monkeypatch.setattr(attn, "_block", lambda q, *a: seen.append(q.shape[-2]) or q)
    attn.explicit(q, k, v)
    assert seen == blocks
    attn.explicit(q.clone().requires_grad_(), k, v)
    monkeypatch.setattr(attn, "SCORES_IN_CACHE", 2 * 3 * 11 * 11)  # exactly these scores
    attn.explicit(q, k, v)
    assert seen == blocks + [11, 11]


def test_a_query_with_no_allowed_key_stays_finite():
    q, k, v = _qkv(3, 4)
    mask = torch.ones(2, 1, 3, 4, dtype=torch.bool)
    mask[:, :, 1] = False  # a left-padding row
    out = attn.explicit(q, k, v, mask)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, :, 0], F.scaled_dot_product_attention(q, k, v, attn_mask=mask)[:, :, 0], atol=1e-5)


def _count_explicit(monkeypatch, faster) -> list:
    calls = []
    monkeypatch.setattr(attn, "explicit", lambda *a, **kw: calls.append(1) or torch.zeros(()))
    monkeypatch.setattr(attn, "explicit_is_faster", faster)
    return calls


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_bfloat16_takes_the_explicit_form_only_where_chosen_for_its_mode(monkeypatch, mode):
    q, k, v = _qkv(6, 6, torch.bfloat16)
    trained = q.clone().requires_grad_()  # an input that needs gradients: the training form
    calls = _count_explicit(monkeypatch, lambda dtype, training=False: training == (mode == "training"))
    ours, other = (trained, q) if mode == "training" else (q, trained)
    attn.attention(ours, k, v, causal=True)
    assert len(calls) == 1
    attn.attention(ours.float(), k.float(), v.float())  # float32: always the fused kernel
    attn.attention(other, k, v)  # the other mode: the fused kernel
    assert len(calls) == 1
    with torch.no_grad():
        attn.attention(trained, k, v)  # no gradients are taken: inference
    assert len(calls) == 1 + (mode == "inference")
    monkeypatch.setattr(attn, "explicit_is_faster", lambda dtype, training=False: False)
    attn.attention(ours, k, v)
    assert len(calls) == 1 + (mode == "inference")


def test_training_keeps_the_fused_kernel_where_the_scores_would_not_fit(monkeypatch):
    q, k, v = _qkv(6, 6, torch.bfloat16)
    trained = q.clone().requires_grad_()
    calls = _count_explicit(monkeypatch, lambda dtype, training=False: True)
    monkeypatch.setattr(attn, "MAX_TRAINING_SCORES", 2 * 3 * 6 * 6)  # exactly these scores
    attn.attention(trained, k, v)
    assert len(calls) == 1
    monkeypatch.setattr(attn, "MAX_TRAINING_SCORES", 2 * 3 * 6 * 6 - 1)  # one score too many to keep
    out = attn.attention(trained, k, v)
    assert len(calls) == 1 and out.shape == q.shape
    attn.attention(q, k, v)  # inference keeps no scores: no limit
    assert len(calls) == 2


def test_bfloat16_explicit_gradients_match_the_fused_kernel():
    q, k, v = _qkv(24, 24)
    mask = torch.ones(24, 24, dtype=torch.bool).tril().expand(2, 1, 24, 24)
    grads = []
    for form in (attn.explicit, lambda *a: F.scaled_dot_product_attention(*a[:3], attn_mask=a[3])):
        leaves = [t.to(torch.bfloat16).requires_grad_() for t in (q, k, v)]
        (form(*leaves, mask).float() * torch.linspace(-1, 1, 16)).sum().backward()
        grads.append([t.grad.float() for t in leaves])
    for ours, fused in zip(*grads):
        assert torch.allclose(ours, fused, atol=3e-2, rtol=3e-2)
    assert isinstance(attn.explicit_is_faster(torch.bfloat16, training=True), bool)


def test_bfloat16_explicit_is_close_to_the_fused_kernel():
    q, k, v = _qkv(32, 32, torch.bfloat16)
    fused = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    assert torch.allclose(attn.explicit(q, k, v, causal=True).float(), fused, atol=3e-2, rtol=3e-2)
    assert isinstance(attn.explicit_is_faster(torch.bfloat16), bool)


def test_the_first_bfloat16_call_may_come_inside_activation_checkpointing():
    """The form's probe runs forward and backward on its own tensors; inside a checkpointed forward those
    must not count among the saved tensors, or the recomputation (without the probe) is refused."""
    from torch.utils.checkpoint import checkpoint
    attn.explicit_is_faster.cache_clear()  # the probe runs at this first call, as in a fresh process
    q, k, v = (t.to(torch.bfloat16).requires_grad_() for t in _qkv(8, 8))
    out = checkpoint(lambda q, k, v: attn.attention(q, k, v, causal=True), q, k, v, use_reentrant=False)
    out.float().sum().backward()
    assert q.grad is not None and torch.isfinite(q.grad.float()).all()
