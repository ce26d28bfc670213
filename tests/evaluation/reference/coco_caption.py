"""COCOEvalCap.evaluate (pycocoevalcap eval.py) restricted to its Cider scorer: test oracle.

Qwen-VL's evaluate_caption.py builds `COCO(annotation_file)`, `coco.loadRes(results_file)` and
`COCOEvalCap(coco, coco_result).evaluate()`; this runs that path, minus the other scorers
(METEOR and SPICE need model downloads), and returns the CIDEr it would record.
"""
# ruff: noqa
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
from pycocotools.coco import COCO


def evaluate_cider(annotation_file, results_file):
    coco = COCO(annotation_file)
    coco_result = coco.loadRes(results_file)

    # COCOEvalCap.__init__
    params = {'image_id': coco.getImgIds()}

    # COCOEvalCap.evaluate
    imgIds = params['image_id']
    gts = {}
    res = {}
    for imgId in imgIds:
        gts[imgId] = coco.imgToAnns[imgId]
        res[imgId] = coco_result.imgToAnns[imgId]

    tokenizer = PTBTokenizer()
    gts  = tokenizer.tokenize(gts)
    res = tokenizer.tokenize(res)

    score, scores = Cider().compute_score(gts, res)
    return score, dict(zip(gts.keys(), scores))
