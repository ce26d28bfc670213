"""Read and write official-format Qwen-VL checkpoint directories.

A directory holds `config.json`, weights as `model.safetensors` (or shards listed in
`model.safetensors.index.json`, or legacy `pytorch_model*.bin`), `generation_config.json`,
`qwen.tiktoken`. Weights load tensor by tensor into a model built on the meta device, so
peak memory stays near the size of the weights in the chosen dtype. Code shipped with a
checkpoint (`auto_map`, `*.py`) is never imported.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Iterator

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import QwenVLConfig
from .model import QWenLMHeadModel
from .model.layout import decode_layout

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
          "float16": torch.float16, "fp16": torch.float16}
SIDE_FILES = ("generation_config.json", "qwen.tiktoken", "tokenizer_config.json")


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded as Qwen-VL; the message says why."""


def resolve_dtype(dtype: str | torch.dtype | None, cfg: QwenVLConfig | None = None) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype in (None, "auto"):
        return DTYPES.get(cfg.torch_dtype if cfg else "float32", torch.float32)
    try:
        return DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of float32, bfloat16, float16") from None


def check_model_dir(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model directory {path} does not exist")
    if not path.is_dir():
        raise CheckpointError(f"{path} is not a directory; give the checkpoint directory")
    if not (path / "config.json").is_file():
        raise CheckpointError(f"{path} has no config.json: not a Qwen-VL checkpoint directory")
    return path


def weight_files(path: Path) -> list[Path]:
    """The weight files of a directory, safetensors first, in index order."""
    for index_name, single in (("model.safetensors.index.json", "model.safetensors"),
                               ("pytorch_model.bin.index.json", "pytorch_model.bin")):
        index = path / index_name
        if index.is_file():
            try:
                names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError) as e:
                raise CheckpointError(f"{index} is not a valid weight index: {e}") from None
            missing = [n for n in names if not (path / n).is_file()]
            if missing:
                raise CheckpointError(f"{index} lists missing shard(s): {', '.join(missing)}")
            return [path / n for n in names]
        if (path / single).is_file():
            return [path / single]
    raise CheckpointError(f"{path} holds no weights (model.safetensors, its index, or pytorch_model.bin)")


def iter_tensors(files: list[Path]) -> Iterator[tuple[str, torch.Tensor]]:
    """Yield (name, tensor) one at a time; pickles only through `weights_only=True`."""
    for f in files:
        if f.suffix == ".safetensors":
            try:
                with safe_open(str(f), framework="pt") as st:
                    # The biggest matrix first: its layout change then overlaps nothing else.
                    for name in sorted(st.keys(), key=lambda n: n != "lm_head.weight"):
                        yield name, st.get_tensor(name)
            except Exception as e:
                raise CheckpointError(f"cannot read {f}: {e}") from None
        else:
            try:
                state = torch.load(f, map_location="cpu", weights_only=True, mmap=True)
            except Exception as e:
                raise CheckpointError(f"cannot read {f} safely (weights_only=True): {e}") from None
            yield from state.items()


def load_state(model: QWenLMHeadModel, tensors: Iterator[tuple[str, torch.Tensor]], dtype: torch.dtype,
               device: torch.device | str) -> None:
    """Assign tensors to a (meta) model with a strict check that names every problem."""
    expected = model.state_dict()
    state, unexpected, bad_shape = {}, [], []
    for name, t in tensors:
        if name.endswith((".qweight", ".qzeros", ".scales", ".g_idx")):
            raise CheckpointError("GPTQ-quantized (Int4) checkpoints are not supported yet; use the bf16 release")
        if name not in expected:
            unexpected.append(name)
            continue
        if tuple(t.shape) != tuple(expected[name].shape):
            bad_shape.append(f"{name}: checkpoint {tuple(t.shape)} vs config {tuple(expected[name].shape)}")
            continue
        state[name] = decode_layout(name, t.to(device=device, dtype=dtype))
    missing = sorted(set(expected) - set(state) - {n.split(':')[0] for n in bad_shape})
    if missing or unexpected or bad_shape:
        parts = []
        for label, names in (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad_shape)):
            if names:
                shown = ", ".join(names[:20]) + (f" … ({len(names)} in all)" if len(names) > 20 else "")
                parts.append(f"{label} keys: {shown}")
        raise CheckpointError("checkpoint does not match its config.json; " + "; ".join(parts))
    model.load_state_dict(state, strict=True, assign=True)
    model.transformer.visual.attn_pool.pos_embed.requires_grad_(False)


def load_model(path: str | Path, dtype: str | torch.dtype | None = "float32",
               device: torch.device | str = "cpu") -> QWenLMHeadModel:
    """An official-format directory → an eval-mode model in `dtype` on `device`."""
    path = check_model_dir(path)
    cfg = QwenVLConfig.load(path)
    dtype = resolve_dtype(dtype, cfg)
    files = weight_files(path)
    with torch.device("meta"):
        model = QWenLMHeadModel(cfg)
    load_state(model, iter_tensors(files), dtype, device)
    return model.eval()


def save_model(model: QWenLMHeadModel, path: str | Path, *, source_dir: str | Path | None = None,
               max_shard_bytes: int = 4 << 30) -> None:
    """Write `model` as an official-format directory (sharded with an index when large).

    Files are written under temporary names and renamed, so an interrupted save never leaves a
    half-written weight file under its final name. Side files (tokenizer, generation config)
    are copied from `source_dir` when given.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    shards = _split(state, max_shard_bytes)
    dtype = next(iter(state.values())).dtype
    cfg = model.cfg.replace(torch_dtype={torch.float32: "float32", torch.bfloat16: "bfloat16",
                                         torch.float16: "float16"}[dtype])
    names = ["model.safetensors"] if len(shards) == 1 else \
        [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    for name, shard in zip(names, shards):
        _atomic(path / name, lambda tmp, shard=shard: save_file(shard, str(tmp), metadata={"format": "pt"}))
    if len(shards) > 1:
        index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
                 "weight_map": {k: n for n, shard in zip(names, shards) for k in shard}}
        _atomic(path / "model.safetensors.index.json", lambda tmp: tmp.write_text(json.dumps(index, indent=2)))
    _atomic(path / "config.json", lambda tmp: cfg.save(tmp))
    if source_dir is not None:
        for name in SIDE_FILES:
            src = Path(source_dir) / name
            if src.is_file() and src.resolve() != (path / name).resolve():
                _atomic(path / name, lambda tmp, src=src: shutil.copyfile(src, tmp))


def _split(state: dict[str, torch.Tensor], max_bytes: int) -> list[dict[str, torch.Tensor]]:
    shards, size = [{}], 0
    for k, v in state.items():
        n = v.numel() * v.element_size()
        if shards[-1] and size + n > max_bytes:
            shards.append({})
            size = 0
        shards[-1][k] = v
        size += n
    return shards


def _atomic(final: Path, write) -> None:
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    write(tmp)
    os.replace(tmp, final)
