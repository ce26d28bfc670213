"""`qwenvl eval` through its parser: a run prints its scores and leaves results and a report."""

from __future__ import annotations

import json

import pytest
from eval_cli_entry import main
from eval_fixtures import sample
from qwenvl_testing import CHECKPOINT

from qwenvl.generation import GenerationConfig


def test_eval_command_runs_and_resumes(tmp_path, capsys):
    data, images, count = sample("docvqa_val", tmp_path / "images")
    argv = ["--model", str(CHECKPOINT), "--task", "docvqa_val", "--data", str(data), "--images", str(images),
            "--out", str(tmp_path / "out"), "--format", "base", "--batch-size", "2", "--max-new-tokens", "3",
            "--limit", "2", "--samples", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "docvqa_val: ANLS" in printed and "(2 items, 0 errors, 0 parse failures)" in printed
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["items"] == 2 and results["settings"]["limit"] == 2 and results["settings"]["max_new_tokens"] == 3
    assert main(argv[:-4] + ["--limit", str(count)]) == 0  # more items later: only the new one runs
    rows = (tmp_path / "out" / "predictions.rank0.jsonl").read_text().splitlines()
    assert len(rows) == count


def test_unknown_task_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="unknown task 'imagenet'; choose from: flickr30k, nocaps, vqav2_val"):
        main(["--model", "no-such-dir", "--task", "imagenet", "--data", "x"])


def test_min_new_tokens_holds_back_the_stop_token(vl, tokenizer):
    """The official scripts' min_new_tokens: with the first greedy token as a stop token, a plain run
    stops at once, and a run with a minimum goes on."""
    prompt = tokenizer.encode("<img>apple</img>What is this? Answer:")
    images = [CHECKPOINT.parent / "apple.jpeg"]
    first = vl.generate_batch([prompt], images, GenerationConfig(max_new_tokens=1))[0][0]
    plain = GenerationConfig(max_new_tokens=6, stop_token_ids=(first,))
    assert vl.generate_batch([prompt], images, plain)[0] == [first]
    held = vl.generate_batch([prompt], images, GenerationConfig(max_new_tokens=6, min_new_tokens=3,
                                                                stop_token_ids=(first,)))[0]
    assert len(held) >= 3 and first not in held[:3]
    with pytest.raises(ValueError, match="min_new_tokens must be a non-negative integer"):
        GenerationConfig(min_new_tokens=-1)
