"""Training Qwen-VL: the paper's three stages as configurations of one trainer.

config.py (what a run is) → build.py (the starting model) + stages.py (what trains) or lora.py →
datasets.py (sources.py, formats.py, sft.py, packing.py: records to packed batches) → loss.py →
optim.py (AdamW, layer-wise decay, cosine) → trainer.py (the loop; distributed.py, checkpointing.py,
metrics.py). Entry points: `qwenvl train CONFIG` and `qwenvl finetune` (cli/train.py, cli/finetune.py).
"""
