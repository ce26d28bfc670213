"""Transcription of the scoring loop of Qwen-VL's eval_mm/evaluate_grounding.py: test oracle.

Changes, for testing only: the loop is a function of `merged_outputs`; the divisor (999 in the
script) is a parameter so the /1000 variant can be checked the same way; per-item IoUs are
collected. `box_area` is torchvision.ops.boxes.box_area (with its float32 `_upcast` no-op).
"""
# ruff: noqa
import re

import torch


def _upcast(t):
    if t.is_floating_point():
        return t if t.dtype in (torch.float32, torch.float64) else t.float()
    else:
        return t if t.dtype in (torch.int32, torch.int64) else t.int()


def box_area(boxes):
    boxes = _upcast(boxes)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1, boxes2):
    area1 = box_area(boxes1)
    area2 = box_area(boxes2)

    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])  # [N,M,2]
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])  # [N,M,2]

    wh = (rb - lt).clamp(min=0)  # [N,M,2]
    inter = wh[:, :, 0] * wh[:, :, 1]  # [N,M]

    union = area1[:, None] + area2 - inter

    iou = inter / union
    return iou, union


PATTERN = re.compile(r'\((.*?)\),\((.*?)\)')


def evaluate(merged_outputs, divisor=999):
    """merged_outputs: [{'answer': str, 'gt_bbox': [x1, y1, x2, y2], 'hw': (h, w)}]."""
    ious = []
    correct = total_cnt = 0
    for i, output in enumerate(merged_outputs):
        predict_bbox = re.findall(PATTERN, output['answer'])
        try:
            if ',' not in predict_bbox[0][0] or ',' not in predict_bbox[0][
                    1]:
                predict_bbox = (0., 0., 0., 0.)
            else:
                x1, y1 = [
                    float(tmp) for tmp in predict_bbox[0][0].split(',')
                ]
                x2, y2 = [
                    float(tmp) for tmp in predict_bbox[0][1].split(',')
                ]
                predict_bbox = (x1, y1, x2, y2)
        except:
            predict_bbox = (0., 0., 0., 0.)
        target_bbox = torch.tensor(output['gt_bbox'],
                                   dtype=torch.float32).view(-1, 4)
        predict_bbox = torch.tensor(predict_bbox,
                                    dtype=torch.float32).view(-1, 4) / divisor
        predict_bbox[:, 0::2] *= output['hw'][1]
        predict_bbox[:, 1::2] *= output['hw'][0]
        iou, _ = box_iou(predict_bbox, target_bbox)
        iou = iou.item()
        ious.append(iou)
        total_cnt += 1
        if iou >= 0.5:
            correct += 1

    return correct / total_cnt, ious
