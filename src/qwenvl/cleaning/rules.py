"""The fixed order of the cleaning rules: a dropped pair is charged to the first rule it fails.

Qwen-VL (arXiv 2308.12966, Appendix A) lists the rules but not an order; ours checks input
integrity first (nothing else can be judged without an image and a caption), then the cheap
text rules, then image decoding, the CLIP score and finally the corpus-wide duplicate rules,
which need every other verdict first. Caption cleaning (HTML, irregular patterns) runs between
`dataset_tag` and `emoji`, so text filters judge the caption that would be written.
"""

from __future__ import annotations

RULES: dict[str, str] = {
    "tar_corrupt": "the tar archive is truncated or has corrupt headers where this pair's members are",
    "metadata_json": "metadata is not a JSON object (broken .json member or manifest line)",
    "missing_image": "no image member, no image field, or the image file does not exist",
    "missing_caption": "no .txt member or caption field",
    "text_encoding": "caption is not valid UTF-8",
    "dataset_tag": "caption contains a dataset-specific tag such as `<PERSON>` (CC12M) or `[SEP]`",
    "emoji": "caption contains emoji",
    "language": "caption has characters other than English/Chinese text, digits and punctuation",
    "text_length": "cleaned caption is too short or too long (characters or words)",
    "image_decode": "image too many bytes or pixels (checked before decoding), or does not decode",
    "image_min_size": "image's shorter side is below the minimum",
    "aspect_ratio": "image's long/short side ratio is above the maximum",
    "clip_score": "image-text similarity below the source's threshold",
    "duplicate": "exact duplicate of an earlier pair (image hash, text or both, see dedup.key)",
    "near_duplicate": "image within dedup.max_hamming bits (dHash) of an earlier kept image",
}

RULE_ORDER: tuple[str, ...] = tuple(RULES)

# Problems a reader finds while parsing a shard; the pipeline reports them at their place in
# RULE_ORDER, so attribution does not depend on which format the pair came from.
READER_RULES: tuple[str, ...] = (
    "tar_corrupt", "metadata_json", "missing_image", "missing_caption", "text_encoding")
