"""Generation settings, read from a checkpoint's `generation_config.json` and overridden per call."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 512
    min_new_tokens: int = 0  # stop tokens are suppressed before this many new tokens (HF semantics)
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    stop_strings: tuple[str, ...] = ()
    ignore_eos: bool = False
    eos_token_id: int | None = 151643
    pad_token_id: int = 151643
    max_window_size: int = 6144
    chat_format: str = "chatml"

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 0:
            problems.append(f"max_new_tokens must be a non-negative integer, got {self.max_new_tokens!r}")
        if not isinstance(self.min_new_tokens, int) or self.min_new_tokens < 0:
            problems.append(f"min_new_tokens must be a non-negative integer, got {self.min_new_tokens!r}")
        if self.do_sample and not self.temperature > 0:
            problems.append(f"temperature must be > 0 when sampling, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            problems.append(f"top_k must be a non-negative integer, got {self.top_k!r}")
        if not self.repetition_penalty > 0:
            problems.append(f"repetition_penalty must be > 0, got {self.repetition_penalty!r}")
        if problems:
            raise ValueError("invalid generation settings: " + "; ".join(problems))

    @classmethod
    def from_file(cls, path: str | Path) -> "GenerationConfig":
        """Read the official `generation_config.json`; unknown keys are ignored."""
        path = Path(path)
        if path.is_dir():
            path = path / "generation_config.json"
        if not path.is_file():
            return cls()
        d = json.loads(path.read_text(encoding="utf-8"))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def updated(self, **overrides) -> "GenerationConfig":
        """A copy with per-call overrides (None means keep); unknown names are an error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise TypeError(f"unknown generation argument(s): {', '.join(unknown)}")
        changes = {k: v for k, v in overrides.items() if v is not None}
        for key in ("stop_token_ids", "stop_strings"):
            if key in changes:
                value = changes[key]
                changes[key] = (value,) if isinstance(value, (str, int)) else tuple(value)
        return dataclasses.replace(self, **changes)

    def stop_ids(self) -> set[int]:
        if self.ignore_eos:
            return set()
        ids = set(self.stop_token_ids)
        if self.eos_token_id is not None:
            ids.add(self.eos_token_id)
        return ids
