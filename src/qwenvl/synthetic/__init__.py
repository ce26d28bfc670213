"""Deterministic, streamed synthetic data for training a tiny Qwen-VL from nothing.

Scenes of coloured shapes (captions, VQA, referring grounding, grounded captions, region
descriptions, multi-image questions), SynthDoG-style rendered text (OCR, OCR with quads, text
VQA) and a text corpus, in English and Chinese, all pure functions of a seed.

    from qwenvl.synthetic import iter_samples, write_dataset
    for rec in iter_samples("grounding", seed=0, n=4):
        rec["images"], rec["prompt"], rec["answer"]
    write_dataset("out/train", ["caption", "vqa_count"], n=1000, seed=0, split="train")
"""

from .corpus import iter_corpus, paragraph
from .dataset import read_manifest, write_dataset
from .fonts import FontSet, FontsNotFound, find_fonts
from .records import grid_box, grid_point
from .scenes import Scene, SceneConfig, SceneObject, make_scene, render_scene, sample_scene
from .seeds import SPLITS, child_seed, sample_seed, split_of
from .stream import TASKS, iter_samples, make_sample
from .text_render import TextConfig, TextItem, TextScene, render_text_scene, sample_text_scene

__all__ = ["SPLITS", "TASKS", "FontSet", "FontsNotFound", "Scene", "SceneConfig", "SceneObject", "TextConfig",
           "TextItem", "TextScene", "child_seed", "find_fonts", "grid_box", "grid_point", "iter_corpus",
           "iter_samples", "make_sample", "make_scene", "paragraph", "read_manifest", "render_scene",
           "render_text_scene", "sample_scene", "sample_seed", "sample_text_scene", "split_of", "write_dataset"]
