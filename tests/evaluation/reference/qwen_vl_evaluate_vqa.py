"""Transcription of the scoring parts of Qwen-VL's eval_mm/evaluate_vqa.py: test oracle.

`postprocess_gqa` is the body of the script's `if 'gqa' in args.dataset:` loop, unchanged.
"""
# ruff: noqa
from typing import Optional


# https://github.com/google-research/pix2struct/blob/main/pix2struct/metrics.py#L81
def relaxed_correctness(target: str,
                        prediction: str,
                        max_relative_change: float = 0.05) -> bool:

    def _to_float(text: str) -> Optional[float]:
        try:
            if text.endswith('%'):
                # Convert percentages to floats.
                return float(text.rstrip('%')) / 100.0
            else:
                return float(text)
        except ValueError:
            return None

    prediction_float = _to_float(prediction)
    target_float = _to_float(target)
    if prediction_float is not None and target_float:
        relative_change = abs(prediction_float -
                              target_float) / abs(target_float)
        return relative_change <= max_relative_change
    else:
        return prediction.lower() == target.lower()


def evaluate_relaxed_accuracy(entries):
    scores = []
    for elem in entries:
        if isinstance(elem['annotation'], str):
            elem['annotation'] = [elem['annotation']]
        score = max([
            relaxed_correctness(elem['answer'].strip(), ann)
            for ann in elem['annotation']
        ])
        scores.append(score)
    return sum(scores) / len(scores)


def evaluate_exact_match_accuracy(entries):
    scores = []
    for elem in entries:
        if isinstance(elem['annotation'], str):
            elem['annotation'] = [elem['annotation']]
        score = max([
            (1.0 if
             (elem['answer'].strip().lower() == ann.strip().lower()) else 0.0)
            for ann in elem['annotation']
        ])
        scores.append(score)
    return sum(scores) / len(scores)


def postprocess_gqa(merged_outputs):
    for entry in merged_outputs:
        response = entry['answer']
        response = response.strip().split('.')[0].split(
            ',')[0].split('!')[0].lower()
        if 'is ' in response:
            response = response.split('is ')[1]
        if 'are ' in response:
            response = response.split('are ')[1]
        if 'a ' in response:
            response = response.split('a ')[1]
        if 'an ' in response:
            response = response.split('an ')[1]
        if 'the ' in response:
            response = response.split('the ')[1]
        if ' of' in response:
            response = response.split(' of')[0]
        response = response.strip()
        entry['answer'] = response
