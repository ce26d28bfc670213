"""Model invariants on random tiny models: cache, batching, long context, save/load."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from qwenvl_testing import CHECKPOINT, random_model
from qwenvl.checkpoint import CheckpointError, load_model, save_model
from qwenvl.generation import GenerationConfig, generate_tokens
from qwenvl.interface import QwenTokenizer
from qwenvl.model.language import ntk_alpha


def _ids(tokenizer, n_images: int, text: str) -> list[int]:
    ids = []
    for _ in range(n_images):
        ids += tokenizer.image_span("")
    return ids + tokenizer.encode(text)


@pytest.fixture(scope="module")
def tok():
    return QwenTokenizer.from_pretrained(CHECKPOINT)


@pytest.mark.parametrize("seq_length", [256, 64])  # prompts past seq_length: NTK and log-n active
def test_cached_decoding_equals_full_forward(tok, seq_length):
    model = random_model(seq_length=seq_length)
    ids = torch.tensor([_ids(tok, 1, "hello there, how are you today?")])
    features = torch.randn(1, 256, 128)
    cache = model.new_cache(1, ids.shape[1] + 8)
    with torch.no_grad():
        step_logits = [model(ids, image_features=features, cache=cache, last_only=True)[:, -1]]
        seq = ids
        for _ in range(6):
            nxt = step_logits[-1].argmax(-1, keepdim=True)
            seq = torch.cat([seq, nxt], 1)
            step_logits.append(model(nxt, cache=cache, last_only=True)[:, -1])
        full = model(seq, image_features=features)
    # A full forward picks NTK from its own length; these lengths share one factor with the prompt's.
    length = ids.shape[1]
    assert ntk_alpha(length, seq_length) == ntk_alpha(seq.shape[1], seq_length) > 1
    for i, logits in enumerate(step_logits):
        assert torch.allclose(logits[0], full[0, length - 1 + i], atol=1e-4, rtol=1e-4), i


def test_last_only_equals_the_last_position_of_a_full_forward(tok):
    """The last block runs its attention output and MLP for the last position alone, with or without a
    padding mask, and still caches every position's k and v."""
    model = random_model()
    ids = torch.tensor([tok.encode("the quick brown fox jumps"), tok.encode("over the lazy dog again")])
    mask = torch.ones(2, 1, ids.shape[1], ids.shape[1], dtype=torch.bool).tril()
    mask[1, :, :, :2] = False  # row 1 left-padded by two
    mask[1, :, :2, :2] = torch.eye(2, dtype=torch.bool)
    with torch.no_grad():
        for m in (None, mask):
            full = model(ids, attention_mask=m)
            cache = model.new_cache(2, ids.shape[1])
            last = model(ids, attention_mask=m, cache=cache, last_only=True)
            assert last.shape == (2, 1, full.shape[-1])
            assert torch.allclose(last[:, 0], full[:, -1], atol=1e-5)
            reference = model.new_cache(2, ids.shape[1])
            model(ids, attention_mask=m, cache=reference)
            assert all(torch.equal(a, b) for a, b in zip(cache.k, reference.k))


def test_select_equals_the_selected_positions_of_a_full_forward(tok):
    """A loss's forward: the last block computes only the selected positions (a different number in
    each row, one row none), and logits and every weight's gradient equal a full forward's there."""
    ids = torch.tensor([tok.encode("the quick brown fox jumps over"), tok.encode("a lazy dog sleeps in the sun")[:6]])
    t = ids.shape[1]
    mask = torch.ones(2, 1, t, t, dtype=torch.bool).tril()
    mask[1, :, 3:, :3] = False  # row 1 packs two examples: 0-2 and 3-5
    select = torch.zeros(2, t, dtype=torch.bool)
    select[0, [1, 4, 5]] = True
    select[1, 2] = True
    for m, sel in ((None, select), (mask, select), (mask, torch.zeros_like(select))):
        full_model, part_model = random_model(), random_model()
        part_model.load_state_dict(full_model.state_dict())
        full = full_model(ids, attention_mask=m)[sel]
        part = part_model(ids, attention_mask=m, select=sel)
        assert part.shape == full.shape == (int(sel.sum()), full_model.cfg.llm.vocab_size)
        assert torch.allclose(part, full, atol=1e-5)
        full.square().sum().backward()
        part.square().sum().backward()
        for (name, a), b in zip(full_model.named_parameters(), part_model.parameters()):
            assert (a.grad is None) == (b.grad is None), name
            if a.grad is not None:
                assert (a.grad - b.grad).abs().max() <= 1e-5 * max(a.grad.abs().max(), 1.0), name


def test_cached_decoding_equals_full_forward_within_seq_length(tok):
    model = random_model()
    ids = torch.tensor([tok.encode("the quick brown fox jumps over the lazy dog")])
    out = list(generate_tokens(model, [ids[0].tolist()], GenerationConfig(max_new_tokens=10, eos_token_id=None)))
    seq = torch.cat([ids, torch.tensor([[s[0] for s in out]])], 1)
    with torch.no_grad():
        full = model(seq)
    assert full[0, ids.shape[1] - 1:-1].argmax(-1).tolist() == [s[0] for s in out]


def test_a_generated_image_token_decodes_as_a_plain_token(tok):
    """A model may sample `<img>` or `</img>` while decoding; as in the official model after its first
    forward, such ids are embedded as tokens (no span opens) instead of failing the step."""
    model = random_model()
    prompt, img, after = tok.encode("hello there"), tok.img_start_id, tok.encode(" a")[0]
    spare = [tok.special_tokens["<|extra_0|>"], tok.special_tokens["<|extra_1|>"]]  # given `<img>`'s, `</img>`'s rows
    with torch.no_grad():
        model.transformer.wte.weight[spare] = model.transformer.wte.weight[[img, img + 1]]
        cache = model.new_cache(1, len(prompt) + 3)
        model(torch.tensor([prompt]), cache=cache)
        steps = [model(torch.tensor([[t]]), cache=cache)[0, -1] for t in (img, img + 1, after)]
        full = model(torch.tensor([prompt + spare + [after]]))[0, len(prompt):]
    for i, logits in enumerate(steps):
        assert torch.allclose(logits, full[i], atol=1e-4, rtol=1e-4), i
    with pytest.raises(ValueError, match="unbalanced"):  # in a prompt, a lone `<img>` is still an error
        model(torch.tensor([prompt + [img, after]]))


def test_batched_generation_equals_one_at_a_time(tok):
    model = random_model(seq_length=300)  # prompts straddle seq_length: per-row NTK and log-n matter
    prompts = [_ids(tok, 1, "describe the picture"), tok.encode("short"),
               _ids(tok, 2, "compare the two pictures in detail please") + tok.encode(" more" * 30)]
    n_images = [1, 0, 2]
    features = torch.randn(sum(n_images), 256, 128)
    cfg = GenerationConfig(max_new_tokens=12, eos_token_id=None)
    batched = [[] for _ in prompts]
    for step in generate_tokens(model, prompts, cfg, features):
        for row, t in step.items():
            batched[row].append(t)
    start = 0
    for i, p in enumerate(prompts):
        f = features[start:start + n_images[i]] if n_images[i] else None
        start += n_images[i]
        single = [s[0] for s in generate_tokens(model, [p], cfg, f)]
        assert batched[i] == single, i


def test_rows_leave_the_batch_when_they_stop(tok):
    model = random_model()
    prompts = [tok.encode("a b c"), tok.encode("d e f g")]
    first = [s[0] for s in generate_tokens(model, [prompts[0]], GenerationConfig(max_new_tokens=3, eos_token_id=None))]
    cfg = GenerationConfig(max_new_tokens=8, eos_token_id=None, stop_token_ids=(first[1],))
    steps = list(generate_tokens(model, prompts, cfg))
    assert [s.get(0) for s in steps[:2]] == first[:2]
    assert all(0 not in s for s in steps[2:])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_save_load_round_trip_is_bit_exact(tmp_path, dtype):
    model = random_model().to(getattr(torch, dtype))
    save_model(model, tmp_path / "a", source_dir=CHECKPOINT, max_shard_bytes=10 << 20)
    assert (tmp_path / "a" / "model.safetensors.index.json").is_file()  # sharded
    assert (tmp_path / "a" / "qwen.tiktoken").is_file()
    loaded = load_model(tmp_path / "a", dtype=dtype)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    assert json.loads((tmp_path / "a" / "config.json").read_text())["torch_dtype"] == dtype


def test_golden_checkpoint_resaves_identically(tmp_path):
    model = load_model(CHECKPOINT, dtype="bfloat16")
    save_model(model, tmp_path / "b", source_dir=CHECKPOINT)
    again = load_model(tmp_path / "b", dtype="bfloat16")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_pytorch_bin_checkpoints_load_through_weights_only(tmp_path):
    model = random_model()
    d = tmp_path / "bin"
    save_model(model, d)
    (d / "model.safetensors").unlink()
    torch.save(model.state_dict(), d / "pytorch_model.bin")
    loaded = load_model(d)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


def _copy_checkpoint(tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT, d)
    return d


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no config.json"):
        load_model(tmp_path)


def test_wrong_config_is_a_clear_error(tmp_path):
    d = _copy_checkpoint(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["num_hidden_layers"] = 3
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"missing keys: .*transformer\.h\.2\."):
        load_model(d)
    cfg["num_hidden_layers"], cfg["hidden_size"] = 2, 256
    cfg["visual"]["output_dim"] = 256
    cfg["kv_channels"] = 64
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_model(d)
    (d / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_model(d)
    (d / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="not a Qwen-VL config"):
        load_model(d)


def test_unexpected_keys_are_listed(tmp_path):
    from safetensors.torch import load_file, save_file
    d = _copy_checkpoint(tmp_path)
    state = load_file(d / "model.safetensors")
    state["transformer.extra.weight"] = torch.zeros(2)
    del state["lm_head.weight"]
    (d / "model.safetensors").unlink()
    save_file(state, d / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"missing keys: lm_head\.weight.*unexpected keys: transformer\.extra"):
        load_model(d)


def test_gptq_checkpoints_are_refused_clearly(tmp_path):
    d = _copy_checkpoint(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "gptq", "bits": 4}
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(NotImplementedError, match="not supported yet"):
        load_model(d)


def test_remote_code_is_never_imported(tmp_path):
    d = _copy_checkpoint(tmp_path)
    (d / "modeling_qwen.py").write_text("raise SystemExit('remote code ran')\n")
    cfg = json.loads((d / "config.json").read_text())
    cfg["auto_map"] = {"AutoModelForCausalLM": "modeling_qwen.QWenLMHeadModel"}
    (d / "config.json").write_text(json.dumps(cfg))
    assert load_model(d).cfg.llm.hidden_size == 128


def test_no_weights_is_a_clear_error(tmp_path):
    d = _copy_checkpoint(tmp_path)
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="holds no weights"):
        load_model(d)


def test_truncated_or_corrupt_weights_are_clear_errors(tmp_path):
    d = _copy_checkpoint(tmp_path)
    data = (CHECKPOINT / "model.safetensors").read_bytes()
    (d / "model.safetensors").unlink()
    (d / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="bad dtype, shape or offsets|truncated"):
        load_model(d)
    (d / "model.safetensors").write_bytes(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(d)


def test_loading_converts_dtype_in_place_of_a_full_copy(tmp_path):
    model = random_model()
    save_model(model, tmp_path / "f32")
    loaded = load_model(tmp_path / "f32", dtype="bfloat16")
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.to(torch.bfloat16)), k


@pytest.mark.parametrize("rows", [1, 2, 9, 64, 300])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_every_decode_form_computes_the_linear(rows, dtype):
    from qwenvl.model.layout import FORMS, fastest_form, linear, stored

    model = random_model()
    w = model.lm_head.weight.detach().to(dtype)
    hidden = torch.randn(rows, model.cfg.llm.hidden_size).to(dtype)
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    with torch.no_grad():
        expected = torch.nn.functional.linear(hidden.float(), w.float())
        for name, (storage, form) in FORMS.items():
            weight = stored(w, storage)
            assert torch.allclose(form(hidden, weight).float(), expected, atol=tol, rtol=tol), name
            assert torch.allclose(linear(hidden[None], weight)[0].float(), expected, atol=tol, rtol=tol), name
        assert torch.allclose(model.to(dtype).logits(hidden[None])[0].float(), expected, atol=tol, rtol=tol)
    assert fastest_form(tuple(w.shape), dtype, 1) in FORMS
    assert FORMS[fastest_form(tuple(w.shape), dtype, 1, storage="row")][0] == "row"


def test_packed_weights_load_save_and_backpropagate(tmp_path):
    """The loader packs the LLM's small matrices and the ViT's for CPU inference; a state dict and a save are dense
    and equal to the checkpoint, and with gradients on the packed model computes the same function."""
    from qwenvl.model.layout import storage_of

    model = random_model()
    save_model(model, tmp_path / "a")
    loaded = load_model(tmp_path / "a")
    storages = {n: storage_of(p) for n, p in loaded.named_parameters()}
    assert storages["transformer.h.0.mlp.w1.weight"] == "packed"
    assert storages["transformer.visual.transformer.resblocks.0.mlp.c_fc.weight"] == "packed"  # 1024 rows an image
    assert storages["transformer.visual.attn_pool.attn.out_proj.weight"] == "row"  # MultiheadAttention's own
    state = loaded.state_dict()
    assert all(not v.is_mkldnn and torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    save_model(loaded, tmp_path / "b")
    again = load_model(tmp_path / "b").state_dict()
    assert all(torch.equal(again[k], v) for k, v in state.items())
    ids = torch.tensor([[1, 2, 3]])
    pixels = torch.randn(2, 3, model.cfg.vision.image_size, model.cfg.vision.image_size)
    with torch.no_grad():
        assert torch.allclose(loaded(ids), model(ids), atol=1e-5)
        assert torch.allclose(loaded.transformer.visual(pixels), model.transformer.visual(pixels), atol=1e-5)
        w1 = loaded.transformer.h[0].mlp.w1  # packed, and no rows at all
        assert w1(torch.empty(2, 0, model.cfg.llm.hidden_size)).shape == (2, 0, w1.out_features)
    out = loaded(ids)
    assert torch.allclose(out, model(ids), atol=1e-5)
    out.sum().backward()
    assert loaded.transformer.h[0].mlp.w1.weight.grad is not None
    loaded.transformer.visual(pixels).sum().backward()
    assert loaded.transformer.visual.transformer.resblocks[0].mlp.c_fc.weight.grad is not None
    cast = loaded.to(torch.bfloat16)  # a cast unpacks: the weights come out dense and equal
    assert storage_of(cast.transformer.h[0].mlp.w1.weight) == "row"
    assert all(torch.equal(v, state[k].to(torch.bfloat16)) for k, v in cast.state_dict().items())


def test_resized_position_tables_follow_their_table():
    from qwenvl.model.adapter import ResizedGrid, resize_grid

    table = torch.randn(256, 8)
    resized = ResizedGrid()
    with torch.no_grad():
        first = resized(table, 1024)
        assert torch.equal(first, resize_grid(table, 1024)) and resized(table, 1024) is first
        table.mul_(2)  # an in-place update (an optimizer step, a copy_) must not reuse the old resize
        assert torch.allclose(resized(table, 1024), 2 * first, atol=1e-5)
        other = torch.randn(256, 8)
        assert torch.equal(resized(other, 1024), resize_grid(other, 1024))
        assert resized(other, 256) is other
    grad_table = torch.randn(256, 8, requires_grad=True)
    resized(grad_table, 1024).sum().backward()  # with gradients on, the resize stays in the graph
    assert grad_table.grad is not None


@pytest.mark.parametrize("name", ["row_gemm", "column_gemm", "column_gemm_16", "column_major", "packed"])
def test_a_row_decodes_the_same_alone_or_beside_others(name, monkeypatch):
    import qwenvl.model.layout as layout

    monkeypatch.setattr(layout, "fastest_form", lambda *a, **k: name)
    w = layout.stored(torch.randn(3000, 64), layout.FORMS[name][0])
    x = torch.randn(4, 64)
    with torch.no_grad():
        alone = layout.linear(x[:1], w)
        for rows in (2, 3, 4):
            assert torch.equal(layout.linear(x[:rows], w)[:1], alone), rows


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_loads_compute_the_float32_function(tmp_path, dtype):
    """Each dtype takes only the storages this CPU supports for it (oneDNN packs fp16 only with
    AVX512-FP16 or AVX-NE-CONVERT), and computes what float32 does within its precision."""
    model = random_model()
    save_model(model, tmp_path / "a")
    half = load_model(tmp_path / "a", dtype=dtype)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        assert torch.allclose(half(ids).float(), model(ids), atol=5e-2, rtol=5e-2)


def test_a_model_of_fewer_queries_gets_image_spans_of_that_many_positions(tmp_path):
    """`visual.n_queries` in a config sets the span between `<img>` and `</img>` for every loader,
    and a span of another length is refused with the count the model needs."""
    import dataclasses

    from qwenvl.api import QwenVL
    from qwenvl.config import preset
    from qwenvl.model import QWenLMHeadModel

    cfg = preset("tiny")
    cfg = cfg.replace(adapter=dataclasses.replace(cfg.adapter, n_queries=16))
    torch.manual_seed(0)
    save_model(QWenLMHeadModel(cfg).eval(), tmp_path, source_dir=CHECKPOINT)
    assert json.loads((tmp_path / "config.json").read_text())["visual"]["n_queries"] == 16
    vl = QwenVL.from_pretrained(tmp_path)
    tok16 = QwenTokenizer.from_pretrained(tmp_path)
    assert vl.tokenizer.image_tokens == tok16.image_tokens == 16
    image = CHECKPOINT.parents[1] / "images" / "demo.jpeg"
    ids = tok16.encode(f"Picture 1: <img>{image}</img>\nWhat is it?")
    assert ids.index(tok16.img_end_id) - ids.index(tok16.img_start_id) == 17
    logits = vl(torch.tensor([ids]), images=[str(image)])
    assert logits.shape[:2] == (1, len(ids)) and torch.isfinite(logits).all()
    response, history = vl.chat(None, [{"image": str(image)}, {"text": "What is it?"}], max_new_tokens=3)
    assert isinstance(response, str) and len(history) == 1
    with pytest.raises(ValueError, match="exactly 16 positions"):
        vl(torch.tensor([_ids(QwenTokenizer.from_pretrained(CHECKPOINT), 1, "hi")]), images=[str(image)])


def test_an_image_span_that_cannot_be_written_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="image_tokens must be at least 1"):
        QwenTokenizer(CHECKPOINT / "qwen.tiktoken", image_tokens=0)
    shutil.copy(CHECKPOINT / "qwen.tiktoken", tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"visual": {"n_queries": "many"}}))
    with pytest.raises(ValueError, match=r"config.json: cannot read visual.n_queries"):
        QwenTokenizer.from_pretrained(tmp_path)
