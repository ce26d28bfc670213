"""The training configuration: typed dataclasses read from YAML or TOML plus `key=value` overrides.

A stage is nothing but a config: what is trainable, the image size, the data mix and the
schedule. Files may start from another with `base: other.yaml` (path relative to the file);
overrides use dotted keys and YAML values (`optim.lr=1e-5`, `data.datasets=[{path: a.jsonl}]`).
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from ..interface.chatml import DEFAULT_SYSTEM

GROUPS = ("vit", "adapter", "llm")


@dataclass
class ModelSpec:
    path: str | None = None  # official-format checkpoint directory to start from
    preset: str | None = None  # or a preset name, randomly initialised (with `llm` / `vision` size overrides)
    llm: dict = field(default_factory=dict)
    vision: dict = field(default_factory=dict)
    tokenizer: str | None = None  # qwen.tiktoken or a folder holding it; default: `path`
    image_size: int | None = None  # train at this size (the ViT position grid is interpolated); default: the model's


@dataclass
class DatasetSpec:
    path: str  # .json / .jsonl manifest, a .tar shard, a folder of shards or a glob
    root: str | None = None  # image paths in a manifest are relative to this (default: its folder)
    weight: float = 1.0  # share of the mixture
    task: str = "pair"  # format of records without a "task" field (see training.formats)
    name: str | None = None  # for reports; default: the file name


@dataclass
class DataConfig:
    datasets: list[DatasetSpec] = field(default_factory=list)
    seq_len: int = 2048
    batch_size: int = 1  # rows per micro-batch per process
    pack: bool = True  # several samples per row; else one sample per row, padded to the longest
    workers: int = 2  # loader processes per training process (0: load in the training process)
    mask_prompt: bool = False  # pretraining formats: supervise only the answer
    system: str = DEFAULT_SYSTEM  # system message of fine-tuning dialogues


@dataclass
class OptimConfig:
    lr: float = 2e-4
    min_lr: float = 0.0  # the cosine schedule's floor
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.05
    warmup_steps: int = 500
    steps: int = 50000
    grad_clip: float = 1.0
    accumulation: int = 1  # micro-batches per optimizer step
    vit_layer_decay: float = 0.95  # layer-wise lr decay for the ViT (1.0: off)
    vision_lr_scale: float = 1.0  # lr multiplier of the whole vision tower (ViT and adapter) when it trains with the LLM


@dataclass
class LoraSpec:
    r: int = 64
    alpha: float = 16.0
    dropout: float = 0.05
    targets: list[str] = field(default_factory=lambda: ["llm"])  # groups (vit, adapter, llm) or module-name regexes
    full: list[str] = field(default_factory=lambda: ["adapter"])  # groups trained in full beside the LoRA weights


@dataclass
class RunConfig:
    out_dir: str = "runs/train"
    parallel: str = "ddp"  # ddp | fsdp (FSDP2 fully_shard)
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # bfloat16 autocast, where the device multiplies bf16 fast (`training.precision`)
    activation_checkpointing: bool = False
    seed: int = 0
    save_every: int = 1000
    keep_checkpoints: int = 2


@dataclass
class TrainConfig:
    stage: str = "train"  # a name for logs
    trainable: list[str] = field(default_factory=lambda: list(GROUPS))
    model: ModelSpec = field(default_factory=ModelSpec)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    lora: LoraSpec | None = None

    def __post_init__(self):
        problems = []
        unknown = [g for g in self.trainable if g not in GROUPS]
        if unknown:
            problems.append(f"trainable has unknown group(s) {unknown}; use {', '.join(GROUPS)}")
        if (self.model.path is None) == (self.model.preset is None):
            problems.append("give exactly one of model.path (a checkpoint) and model.preset (random init)")
        if self.model.preset and not self.model.tokenizer:
            problems.append("a preset model needs model.tokenizer (qwen.tiktoken or its folder)")
        if self.run.parallel not in ("ddp", "fsdp"):
            problems.append(f"run.parallel must be ddp or fsdp, got {self.run.parallel!r}")
        if self.lora is not None and (self.run.parallel != "ddp" or self.model.path is None):
            problems.append("LoRA runs fine-tune a checkpoint (model.path) with run.parallel=ddp")
        if not self.data.datasets:
            problems.append("data.datasets is empty")
        if self.optim.accumulation < 1 or self.data.batch_size < 1 or self.optim.steps < 1:
            problems.append("optim.steps, optim.accumulation and data.batch_size must be at least 1")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None, overrides: list[str] = (), defaults: dict | None = None) -> TrainConfig:
    """A TrainConfig from a YAML/TOML file (or only `defaults`) with `key=value` overrides applied."""
    data = copy.deepcopy(merge(defaults or {}, read_file(Path(path)) if path else {}))
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not key=value")
        set_dotted(data, key.strip(), parse_value(value))
    return from_dict(TrainConfig, data, "config")


def read_file(path: Path) -> dict:
    """One config file, with its `base:` chain merged underneath."""
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} not found")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        data = tomllib.loads(text)
    elif path.suffix in (".yaml", ".yml"):
        import yaml
        data = yaml.safe_load(text) or {}
    else:
        raise ValueError(f"config {path} must be .yaml, .yml or .toml")
    if not isinstance(data, dict):
        raise ValueError(f"config {path} must hold a mapping")
    base = data.pop("base", None)
    return merge(read_file(path.parent / base), data) if base else data


def parse_value(text: str):
    import yaml
    return yaml.safe_load(text)


def merge(base: dict, top: dict) -> dict:
    """`top` over `base`, recursively for mappings; lists and values are replaced whole."""
    out = dict(base)
    for k, v in top.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def set_dotted(data: dict, key: str, value) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        if isinstance(node, list):
            node = node[int(p)]
        else:
            if not isinstance(node.get(p), (dict, list)):
                node[p] = {}
            node = node[p]
    if isinstance(node, list):
        node[int(parts[-1])] = value
    else:
        node[parts[-1]] = value


def from_dict(cls, data, where: str):
    """Build dataclass `cls` from plain data, naming any unknown key or wrongly typed value."""
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown key(s) in {where}: {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def _coerce(value, tp, where: str):
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), where)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {value!r}")
        items = [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            pass
    if tp is dict and isinstance(value, dict) or tp in (int, str, bool, float) and type(value) is tp:
        return value
    raise ValueError(f"{where} must be {getattr(tp, '__name__', tp)}, got {value!r}")
