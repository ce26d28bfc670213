"""Qwen-VL's multilingual image-text corpus cleaning (arXiv 2308.12966, Appendix A).

Filters (drop a pair) and cleaners (edit its caption) run per pair in the fixed order of
`rules.RULE_ORDER`; exact and near duplicates are removed corpus-wide in a deterministic pass.
Entry point: `qwenvl clean` / `python -m qwenvl.cleaning` (see `cli.py`), or `runner.run`.
"""
