"""CIDEr-D for captioning (Flickr30K, NoCaps), through pycocoevalcap as Qwen-VL's
evaluate_caption.py runs it (COCOEvalCap: PTB-tokenize references, then predictions, then Cider).

pycocoevalcap's PTBTokenizer runs Stanford CoreNLP, so a Java runtime must be on PATH. It feeds
all captions to Java one per line and re-pairs output lines with captions by position, guarding
only against "\\n"; a caption holding another character Java breaks lines on would shift every
later caption onto the wrong image. We turn those characters into spaces first, which changes
nothing except that case (Java treats them as whitespace otherwise).
"""

from __future__ import annotations

import shutil
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

_JAVA_LINE_BREAKS = str.maketrans({"\r": " ", "\x0b": " ", "\x0c": " ", "\u2028": " ", "\u2029": " "})


@dataclass(frozen=True)
class CiderScore:
    """Corpus CIDEr-D (pycocoevalcap scale: papers print 100x) and each image's score."""

    value: float
    per_image: dict[Hashable, float]


def ptb_tokenize(captions: Mapping[Hashable, Sequence[str]]) -> dict[Hashable, list[str]]:
    """COCO-caption tokenization: lower-cased PTB tokens, punctuation tokens dropped."""
    if shutil.which("java") is None:
        raise RuntimeError("CIDEr's PTB tokenizer runs Stanford CoreNLP: install a Java runtime "
                           "(e.g. Debian's default-jre-headless)")
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    entries = {key: [{"caption": text.translate(_JAVA_LINE_BREAKS)} for text in texts]
               for key, texts in captions.items()}
    return PTBTokenizer().tokenize(entries)


def cider_score(predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]]) -> CiderScore:
    """CIDEr-D of one caption per image against that image's reference captions.

    Document frequencies come from the references of exactly the images scored, so the same
    prediction can score differently in a different set: both mappings must cover the same images.
    """
    if set(predictions) != set(references):
        raise ValueError("predictions and references must cover the same image ids")
    if not predictions:
        raise ValueError("nothing to score: no images")
    if any(isinstance(refs, str) or not refs for refs in references.values()):
        raise ValueError("each image needs a non-empty list of reference captions")
    from pycocoevalcap.cider.cider import Cider

    gts = ptb_tokenize(references)
    res = ptb_tokenize({key: [predictions[key]] for key in references})
    value, scores = Cider().compute_score(gts, res)
    return CiderScore(float(value), {key: float(s) for key, s in zip(gts, scores)})


def cider(predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]]) -> float:
    """Corpus CIDEr-D (see `cider_score`)."""
    return cider_score(predictions, references).value
