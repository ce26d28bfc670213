"""The hand-made benchmark samples in fixtures/, and their images made on the fly.

Each entry: task → (annotation path under fixtures/, image files relative to the image root in the
benchmark's own layout, number of items). Images are tiny solid-colour pictures, one colour per file.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from PIL import Image

FIXTURES = Path(__file__).resolve().parent / "fixtures"

SAMPLES = {
    "flickr30k": ("flickr30k", ["flickr30k-images/1000092795.jpg", "flickr30k-images/1001773457.jpg"], 2),
    "nocaps": ("nocaps", ["0013ea2087020901.jpg", "00223d8b5b83d2ba.jpg", "0039ab7c7a5dd2fb.jpg",
                          "004bff1b6b3cde3d.jpg"], 4),
    "vqav2_val": ("vqav2", ["val2014/COCO_val2014_000000000042.jpg", "val2014/COCO_val2014_000000000073.jpg"], 3),
    "okvqa_val": ("okvqa/OpenEnded_mscoco_val2014_questions.json",
                  ["COCO_val2014_000000000573.jpg", "COCO_val2014_000000000926.jpg"], 2),
    "gqa_testdev": ("gqa", ["images/n288870.jpg", "images/n161313.jpg"], 3),
    "vizwiz_val": ("vizwiz", ["val/VizWiz_val_00000000.jpg", "val/VizWiz_val_00000001.jpg",
                              "val/VizWiz_val_00000002.jpg"], 3),
    "textvqa_val": ("textvqa", ["train_images/0054c91397f2fe05.jpg", "train_images/0067ac1a5b3b8f4b.jpg"], 2),
    "docvqa_val": ("docvqa", ["documents/pybv0228_81.png", "documents/nkbl0226_1.png", "documents/mxcj0037_1.png"], 3),
    "chartqa_test_human": ("chartqa", ["png/41699051005347.png", "png/multi_col_1007.png"], 3),
    "chartqa_test_augmented": ("chartqa", ["png/two_col_100022.png"], 2),
    "ocrvqa_val": ("ocrvqa", ["images/0001234587.png"], 1),
    "ocrvqa_test": ("ocrvqa/dataset.json", ["images/0001234560.jpg", "images/0001234579.jpg"], 5),
    "scienceqa_test_img": ("scienceqa", ["images/test/5/image.png", "images/test/9/image.png"], 2),
    "ai2d_test": ("ai2d", ["images/0.png", "images/2.png"], 3),
    "seed_bench_img": ("seed_bench", ["1454426_2591111986.jpg", "2055633_1306596391.jpg"], 3),
    "mmbench_dev": ("mmbench", [], 4),
    "mme": ("mme", ["existence/000000006040.jpg", "existence/000000018295.png", "artwork/images/10002.jpg",
                    "code_reasoning/0020.png"], 8),
    **{f"{name}_{split}": ("refcoco/refcoco_val.jsonl", ["train2014/COCO_train2014_000000000009.jpg",
                                                         "train2014/COCO_train2014_000000000025.jpg"], 3)
       for name, splits in (("refcoco", ("val", "testA", "testB")), ("refcoco+", ("val", "testA", "testB")),
                            ("refcocog", ("val", "test"))) for split in splits},
}
SAMPLES["refcocog_val"] = ("refcoco/final_refcocog_val.json", SAMPLES["refcocog_val"][1], 2)


def make_images(root: Path, relpaths) -> Path:
    """Small pictures at `root/relpath`, each a colour derived from its name (so they differ)."""
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        h = zlib.crc32(rel.encode())
        Image.new("RGB", (64, 48), (h & 255, (h >> 8) & 255, (h >> 16) & 255)).save(path)
    return root


def sample(task: str, root: Path) -> tuple[Path, Path, int]:
    """(annotation path, image root with the images made, item count) of a task's fixture."""
    data, images, count = SAMPLES[task]
    return FIXTURES / data, make_images(root, images), count
