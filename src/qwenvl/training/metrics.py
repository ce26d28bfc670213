"""Run metrics: one JSON line per step, a loss-curve PNG, and the progress bar's summary."""

from __future__ import annotations

import json
import os
from pathlib import Path


class MetricsLog:
    """Appends step records to `metrics.jsonl`; on resume, drops records past the restart step.

    Steps done after the checkpoint a run resumes from are done again, so their old lines go.
    """

    def __init__(self, path: str | Path, start_step: int, enabled: bool = True):
        self.path, self.enabled = Path(path), enabled
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_metrics(self.path) if r["step"] <= start_step] if self.path.exists() else []
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        os.replace(tmp, self.path)

    def write(self, record: dict) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")


def read_metrics(path: str | Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def plot_loss(metrics_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """The training loss against the step, with the learning rate on a second axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = read_metrics(metrics_path)
    steps = [r["step"] for r in records]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(steps, [r["loss"] for r in records], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss", color="tab:blue")
    lr = ax.twinx()
    lr.plot(steps, [r["lr"] for r in records], color="tab:orange", alpha=0.6, label="lr")
    lr.set_ylabel("learning rate", color="tab:orange")
    ax.set_title(title or "training loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path)
    plt.close(fig)


def postfix(record: dict) -> dict:
    """The progress bar's fields: loss, learning rate, tokens/s."""
    return {"loss": f"{record['loss']:.4f}", "lr": f"{record['lr']:.2e}", "tok/s": f"{record['tokens_per_s']:.0f}"}
