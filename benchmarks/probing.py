"""What the probe benchmarks share: the options of a probe run and the model whose tokens it reads."""

from __future__ import annotations

import argparse

from qwenvl.model import QWenLMHeadModel


def probe_options(parser: argparse.ArgumentParser, steps: int, batch: int, lr: float, held_out: int,
                  every: int) -> None:
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--held-out", type=int, default=held_out)
    parser.add_argument("--every", type=int, default=every, help="score the held-out set every this many steps")
    parser.add_argument("--threads", type=int, default=2)


def probed_model(path: str | None, image_size: int, trainable: bool) -> QWenLMHeadModel:
    """The checkpoint at `path`, or with None the recipe's model at initialisation. A tower that
    trains gets row-major weights, as training loads them (`training.build`): the inference
    loader's packed ones are slow to train through."""
    if path is None:
        from qwenvl.recipe.sizes import init_miniature, miniature_config
        model = QWenLMHeadModel(miniature_config(1024, 1000, image_size))
        init_miniature(model)
        return model
    from qwenvl.checkpoint import load_model
    return load_model(path, dtype="float32", inference=not trainable)
