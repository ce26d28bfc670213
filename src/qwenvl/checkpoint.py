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
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from safetensors.torch import save_file

from .config import QwenVLConfig
from .model import QWenLMHeadModel
from .model.layout import pack, storage_for

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


ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16,
             "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
             "BOOL": torch.bool}
MAX_HEADER_BYTES = 100 << 20


@dataclass(frozen=True)
class StoredTensor:
    """A tensor still on disk in a .safetensors file: read straight into its destination."""

    path: Path
    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    offset: int
    nbytes: int

    def read_into(self, dst: torch.Tensor, chunk_bytes: int = 16 << 20) -> torch.Tensor:
        """Fill `dst` (any dtype, layout or device) in row chunks, so no full-size temporary exists."""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            if dst.dtype == self.dtype and dst.is_contiguous() and dst.device.type == "cpu":
                return self._read(f, dst.reshape(-1), dst)
            flat_dst = dst.reshape(dst.shape[0], -1) if dst.dim() > 1 else dst.reshape(1, -1)
            row_bytes = flat_dst[0].numel() * self.dtype.itemsize
            rows = max(1, chunk_bytes // max(row_bytes, 1))
            buf = torch.empty((min(rows, flat_dst.shape[0]), flat_dst.shape[1]), dtype=self.dtype)
            for i in range(0, flat_dst.shape[0], rows):
                part = buf[:min(rows, flat_dst.shape[0] - i)]
                self._read(f, part.reshape(-1), part)
                flat_dst[i:i + part.shape[0]].copy_(part)
        return dst

    def _read(self, f, flat: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        want = flat.numel() * flat.element_size()
        if want and f.readinto(flat.view(torch.uint8).numpy()) != want:
            raise CheckpointError(f"{self.path} is truncated (tensor {self.name})")
        return out


def read_safetensors(path: Path) -> list[StoredTensor]:
    """The tensors of a .safetensors file, largest first, as references to read later.

    Plain file reads (not a memory map) keep the file's pages out of this process's resident
    memory, and reading straight into each destination means loading costs the weights plus a
    small buffer, in any target dtype.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 0 < n <= min(MAX_HEADER_BYTES, size - 8):
            raise CheckpointError(f"{path} is not a safetensors file (header length {n})")
        try:
            header = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{path} has a corrupt safetensors header: {e}") from None
    header.pop("__metadata__", None)
    out = []
    for name, info in header.items():
        dtype = ST_DTYPES.get(info.get("dtype"))
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        numel = 1
        for d in shape:
            numel *= d
        if dtype is None or end - begin != numel * dtype.itemsize or 8 + n + end > size:
            raise CheckpointError(f"{path}: tensor {name} has a bad dtype, shape or offsets")
        out.append(StoredTensor(path, name, shape, dtype, 8 + n + begin, end - begin))
    return sorted(out, key=lambda t: -t.nbytes)


def iter_tensors(files: list[Path]) -> Iterator[tuple[str, "torch.Tensor | StoredTensor"]]:
    """Yield (name, tensor or on-disk reference); pickles only through `weights_only=True`."""
    for f in files:
        if f.suffix == ".safetensors":
            yield from ((t.name, t) for t in read_safetensors(f))
        else:
            try:
                state = torch.load(f, map_location="cpu", weights_only=True, mmap=True)
            except Exception as e:
                raise CheckpointError(f"cannot read {f} safely (weights_only=True): {e}") from None
            yield from state.items()


def load_state(model: QWenLMHeadModel, tensors: Iterator[tuple[str, torch.Tensor]], dtype: torch.dtype,
               device: torch.device | str, inference: bool = True) -> None:
    """Assign tensors to a (meta) model with a strict check that names every problem; for CPU
    `inference`, in the storage that decodes fastest (`layout.storage_for`), else row-major."""
    expected = model.state_dict()
    inference = inference and torch.device(device).type == "cpu"
    if inference:  # time the layouts now, before any weight takes memory
        for name, t in expected.items():
            storage_for(name, tuple(t.shape), dtype)
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
        state[name] = placed(t, dtype, torch.device(device),
                             storage_for(name, tuple(t.shape), dtype) if inference else "row")
        del t
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


def placed(t: "torch.Tensor | StoredTensor", dtype: torch.dtype, device: torch.device, storage: str = "row") -> torch.Tensor:
    """`t` in the model's dtype, device and storage, allocating the dense result once (a packed
    weight is made from it and the dense copy freed, largest tensors first, so loading peaks at the
    weights plus one small tensor)."""
    if isinstance(t, torch.Tensor) and t.dtype == dtype and t.device == device and storage == "row":
        return t
    if storage == "column":
        out = torch.empty(tuple(t.shape)[::-1], dtype=dtype).t()
    else:
        out = torch.empty(t.shape, dtype=dtype, device=device)
    out = t.read_into(out) if isinstance(t, StoredTensor) else out.copy_(t)
    return pack(out) if storage == "packed" else out


def load_model(path: str | Path, dtype: str | torch.dtype | None = "float32",
               device: torch.device | str = "cpu", inference: bool = True) -> QWenLMHeadModel:
    """An official-format directory → an eval-mode model in `dtype` on `device`; without
    `inference`, with row-major weights that can be trained or read directly (`load_state`)."""
    path = check_model_dir(path)
    cfg = QwenVLConfig.load(path)
    dtype = resolve_dtype(dtype, cfg)
    files = weight_files(path)
    with torch.device("meta"):
        model = QWenLMHeadModel(cfg)
    load_state(model, iter_tensors(files), dtype, device, inference)
    return model.eval()


def save_model(model: QWenLMHeadModel, path: str | Path, *, source_dir: str | Path | None = None,
               max_shard_bytes: int = 4 << 30) -> None:
    """Write `model` as an official-format directory (see `save_state`)."""
    save_state(model.state_dict(), model.cfg, path, source_dir=source_dir, max_shard_bytes=max_shard_bytes)


def save_state(state: dict[str, torch.Tensor], cfg: QwenVLConfig, path: str | Path, *,
               source_dir: str | Path | None = None, max_shard_bytes: int = 4 << 30) -> None:
    """Write a state dict with official names as an official-format directory (sharded with an index when large).

    Files are written under temporary names and renamed, so an interrupted save never leaves a
    half-written weight file under its final name. Side files (tokenizer, generation config)
    are copied from `source_dir` when given.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    shards = _split(state, max_shard_bytes)
    dtype = next(iter(state.values())).dtype
    cfg = cfg.replace(torch_dtype={torch.float32: "float32", torch.bfloat16: "bfloat16",
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
