"""Typed configuration for Qwen-VL and the one adapter to the official `config.json`.

The official file is a flat dict for the LLM plus a `visual` dict for the vision tower; the
adapter's sizes are derived (256 queries, heads = output_dim / 128). We keep three dataclasses
so each module receives only what it needs, and translate to and from the official keys in
`from_official` / `to_official`, nowhere else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_START_ID = 151857  # `<img>` in Qwen's vocabulary; official configs carry it in `visual`


@dataclass(frozen=True)
class VisionConfig:
    """OpenCLIP-style ViT: patchify, learned position grid, pre-norm blocks."""

    image_size: int = 448
    patch_size: int = 14
    width: int = 1664
    layers: int = 48
    heads: int = 16
    mlp_ratio: float = 4.9231
    image_start_id: int = IMAGE_START_ID

    @property
    def grid(self) -> int:
        return self.image_size // self.patch_size

    @property
    def mlp_width(self) -> int:
        return int(self.width * self.mlp_ratio)


@dataclass(frozen=True)
class AdapterConfig:
    """Position-aware cross-attention resampler: `n_queries` learned queries → LLM width."""

    n_queries: int = 256
    output_dim: int = 4096
    head_dim: int = 128

    @property
    def heads(self) -> int:
        return max(self.output_dim // self.head_dim, 1)

    @property
    def grid(self) -> int:
        return int(math.isqrt(self.n_queries))


@dataclass(frozen=True)
class LLMConfig:
    """Qwen decoder: RMSNorm, fused qkv with bias, rotary, SwiGLU, untied lm_head."""

    vocab_size: int = 151936
    hidden_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    kv_channels: int = 128
    intermediate_size: int = 22016
    layer_norm_epsilon: float = 1e-6
    rotary_emb_base: float = 10000.0
    rotary_pct: float = 1.0
    seq_length: int = 2048
    max_position_embeddings: int = 8192
    use_dynamic_ntk: bool = True
    use_logn_attn: bool = True
    no_bias: bool = True
    emb_dropout_prob: float = 0.0
    attn_dropout_prob: float = 0.0
    initializer_range: float = 0.02

    @property
    def head_dim(self) -> int:
        return self.kv_channels

    @property
    def rotary_dim(self) -> int:
        return int(self.kv_channels * self.rotary_pct)


@dataclass(frozen=True)
class QwenVLConfig:
    llm: LLMConfig = field(default_factory=LLMConfig)
    vision: VisionConfig = field(default_factory=VisionConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    torch_dtype: str = "bfloat16"

    def __post_init__(self) -> None:
        problems = []
        if self.adapter.output_dim != self.llm.hidden_size:
            problems.append(f"visual.output_dim {self.adapter.output_dim} != hidden_size {self.llm.hidden_size}")
        if self.llm.kv_channels * self.llm.num_attention_heads != self.llm.hidden_size:
            problems.append("kv_channels * num_attention_heads must equal hidden_size")
        if self.vision.width % self.vision.heads:
            problems.append(f"visual.width {self.vision.width} is not divisible by visual.heads {self.vision.heads}")
        if self.vision.image_size % self.vision.patch_size:
            problems.append("visual.image_size must be a multiple of visual.patch_size")
        if self.adapter.grid ** 2 != self.adapter.n_queries:
            problems.append("the number of image queries must be a square")
        if self.llm.intermediate_size % 2:
            problems.append("intermediate_size must be even (SwiGLU halves it)")
        if problems:
            raise ValueError("invalid Qwen-VL config: " + "; ".join(problems))

    def replace(self, **parts) -> "QwenVLConfig":
        return dataclasses.replace(self, **parts)

    # ---- the official config.json --------------------------------------------------------

    @classmethod
    def from_official(cls, d: dict) -> "QwenVLConfig":
        """Build from the official `config.json` dict; `auto_map` and code references are ignored."""
        if "quantization_config" in d:
            method = d["quantization_config"].get("quant_method", "unknown")
            raise NotImplementedError(
                f"quantized checkpoints ({method}, e.g. Qwen-VL-Chat-Int4) are not supported yet; "
                "use the bf16 release")
        if d.get("model_type") not in (None, "qwen") or "visual" not in d:
            raise ValueError("not a Qwen-VL config: expected model_type 'qwen' and a 'visual' section")
        try:
            llm = LLMConfig(**{f.name: d[f.name] for f in dataclasses.fields(LLMConfig) if f.name in d})
            v = d["visual"]
            vision = VisionConfig(**{f.name: v[f.name] for f in dataclasses.fields(VisionConfig) if f.name in v})
            adapter = AdapterConfig(output_dim=v.get("output_dim", llm.hidden_size),
                                    n_queries=v.get("n_queries", 256))
        except TypeError as e:
            raise ValueError(f"invalid Qwen-VL config: {e}") from None
        dtype = d.get("torch_dtype") or ("bfloat16" if d.get("bf16") else "float16" if d.get("fp16") else "float32")
        return cls(llm=llm, vision=vision, adapter=adapter, torch_dtype=dtype)

    def to_official(self) -> dict:
        """The official `config.json` dict (no `auto_map`: we never point at remote code)."""
        llm = dataclasses.asdict(self.llm)
        visual = dataclasses.asdict(self.vision)
        visual["output_dim"] = self.adapter.output_dim
        if self.adapter.n_queries != 256:
            visual["n_queries"] = self.adapter.n_queries
        return {
            "architectures": ["QWenLMHeadModel"],
            "model_type": "qwen",
            **llm,
            "bf16": self.torch_dtype == "bfloat16",
            "fp16": self.torch_dtype == "float16",
            "fp32": self.torch_dtype == "float32",
            "scale_attn_weights": True,
            "tie_word_embeddings": False,
            "tokenizer_type": "QWenTokenizer",
            "torch_dtype": self.torch_dtype,
            "use_cache": True,
            "use_flash_attn": False,
            "onnx_safe": None,
            "visual": visual,
        }

    @classmethod
    def load(cls, path: str | Path) -> "QwenVLConfig":
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no config.json at {path}")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not valid JSON: {e}") from None
        return cls.from_official(d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_official(), indent=2) + "\n", encoding="utf-8")


def _preset(llm: dict, vision: dict) -> QwenVLConfig:
    l = LLMConfig(**llm)
    return QwenVLConfig(llm=l, vision=VisionConfig(**vision), adapter=AdapterConfig(output_dim=l.hidden_size))


PRESETS: dict[str, QwenVLConfig] = {
    # The released Qwen-VL / Qwen-VL-Chat (9.6B).
    "qwen-vl-7b": _preset({}, {}),
    # The 188M-parameter checkpoint the speed targets are stated on.
    "bench-188m": _preset(
        dict(hidden_size=512, num_hidden_layers=6, num_attention_heads=4, kv_channels=128, intermediate_size=2816),
        dict(width=384, layers=6, heads=6, image_size=448, mlp_ratio=4.0)),
    # Same shapes as the golden checkpoint: for quick tests.
    "tiny": _preset(
        dict(hidden_size=128, num_hidden_layers=2, num_attention_heads=4, kv_channels=32, intermediate_size=352,
             seq_length=256),
        dict(width=64, layers=2, heads=4, image_size=112, mlp_ratio=2.0)),
}


def preset(name: str) -> QwenVLConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
