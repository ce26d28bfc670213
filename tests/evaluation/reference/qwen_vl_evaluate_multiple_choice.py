"""Transcription of the scoring loop of Qwen-VL's eval_mm/evaluate_multiple_choice.py: test oracle.

The model forward is replaced by given per-token losses: `losses` is one [options, tokens]
float tensor per item (what `cross_entropy(..., reduction='none').split(chunk_sizes)` yields).
"""
# ruff: noqa


def score(losses, target_lengths, answers):
    results = []
    preds = []
    target_losses = []
    for loss, target_length, answer in zip(losses, target_lengths,
                                           answers):

        target_loss = loss.mean(-1)
        for _ in range(len(target_length)):
            target_loss[_] = loss[_, -target_length[_]:].mean()
        pred = target_loss.argmin().item()
        preds.append(pred)
        target_losses.append(target_loss)
        if pred == answer:
            results.append(1)
        else:
            results.append(0)
    return sum(results) / len(results), preds, target_losses
