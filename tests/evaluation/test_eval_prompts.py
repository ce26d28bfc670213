"""Prompts as the paper and the official eval_mm scripts write them, in base and chat format,
with deterministic few-shot examples."""

from __future__ import annotations

import pytest
from eval_fixtures import sample

from qwenvl.evaluation.prompting import ShotPicker, build_prompt, option_targets, resolve_format
from qwenvl.evaluation.runner import EvalSettings, shot_picker
from qwenvl.evaluation.tasks import get_task

SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


def items_of(task, tmp_path):
    data, images, _ = sample(task, tmp_path)
    return {i.id: i for i in get_task(task).read(data, images)}


def base_text(task, item, tokenizer, shots=()):
    prompt = build_prompt(get_task(task), item, "base", tokenizer, shots)
    assert prompt.images == list(item.images) * (1 + len(shots)) or shots
    return tokenizer.decode(prompt.ids)


@pytest.mark.parametrize("task, item_id, expected", [
    ("vqav2_val", "42000", "<img>{}</img>What color is the bus? Answer:"),
    ("flickr30k", "0", "<img>{}</img>Describe the image in English:"),
    ("refcoco_val", "0", "<img>{}</img><ref>the bowl on the left</ref><box>"),
    ("mme", "existence/000000006040/0", "<img>{}</img>Is there a train in this image? Please answer yes or no. Answer:"),
    ("scienceqa_test_img", "9", ("<img>{}</img>Context: Ducks live near water. The feet of the animal are adapted "
                                 "for swimming.\nQuestion: Which animal's feet are also adapted for swimming?\n"
                                 "Options: A. duck\nB. cat\nC. squirrel\nAnswer:")),
    ("scienceqa_test_img", "5", ("<img>{}</img>Context: N/A\nQuestion: Which of these states is farthest north?\n"
                                 "Options: A. West Virginia\nB. Louisiana\nC. Arizona\nD. Oklahoma\nAnswer:")),
    ("seed_bench_img", "101669", ("<img>{}</img>\nQuestion: How many towels are in the image?\nOptions: A. One\n"
                                  "B. Two\nC. Three\nD. Four\nAnswer:")),
])
def test_base_prompts_are_the_papers(task, item_id, expected, tokenizer, tmp_path):
    item = items_of(task, tmp_path)[item_id]
    assert base_text(task, item, tokenizer) == expected.format(item.images[0])


def test_chat_prompts_are_chatml_with_the_pictures_in_list_format(tokenizer, tmp_path):
    item = items_of("vqav2_val", tmp_path)["42000"]
    prompt = build_prompt(get_task("vqav2_val"), item, "chat", tokenizer)
    assert prompt.images == [item.images[0]]
    assert tokenizer.decode(prompt.ids) == (f"{SYSTEM}<|im_start|>user\nPicture 1:<img>{item.images[0]}</img>\n"
                                            "What color is the bus? Answer:<|im_end|>\n<|im_start|>assistant\n")
    ref = items_of("refcoco_val", tmp_path)["1"]
    text = tokenizer.decode(build_prompt(get_task("refcoco_val"), ref, "chat", tokenizer).ids)
    assert "</img>\nFind <ref>orange slices</ref><|im_end|>" in text


def test_inline_images_travel_beside_the_ids(tokenizer, tmp_path):
    item = items_of("mmbench_dev", tmp_path)["1"]
    prompt = build_prompt(get_task("mmbench_dev"), item, "base", tokenizer)
    assert prompt.images == [item.images[0]] and item.images[0].startswith("data:image/")
    assert prompt.ids.count(tokenizer.img_start_id) == 1
    assert tokenizer.decode(prompt.ids).endswith("Context: The picture was drawn by hand.\nQuestion: Which shape is "
                                                 "shown?\nOptions: A. circle\nB. square\nAnswer:")


def test_options_are_ranked_by_their_letters(tokenizer, tmp_path):
    item = items_of("seed_bench_img", tmp_path)["101669"]
    base = option_targets(tokenizer, item, "base")
    assert [tokenizer.decode(t) for t in base] == [" A", " B", " C", " D"] and all(len(t) == 1 for t in base)
    assert [tokenizer.decode(t) for t in option_targets(tokenizer, item, "chat")] == ["A", "B", "C", "D"]


def test_few_shot_examples_precede_the_question_as_the_official_script_joins_them(tokenizer, tmp_path):
    items = items_of("vqav2_val", tmp_path)
    pool = list(items.values())
    picker = ShotPicker(pool, 1, seed=0)
    # 42001 shows the same image as 42000, so the only possible example is 73000
    assert [s.id for s in picker(items["42000"])] == ["73000"]
    text = base_text("vqav2_val", items["42000"], tokenizer, picker(items["42000"]))
    image_42, image_73 = items["42000"].images[0], items["73000"].images[0]
    assert text == (f"<img>{image_73}</img>How many people are there? Answer: 2"
                    f"<img>{image_42}</img>What color is the bus? Answer:")
    chat = tokenizer.decode(build_prompt(get_task("vqav2_val"), items["42000"], "chat", tokenizer,
                                         picker(items["42000"])).ids)
    assert chat.startswith(f"{SYSTEM}<|im_start|>user\nPicture 1:<img>{image_73}</img>\nHow many people are there? "
                           "Answer:<|im_end|>\n<|im_start|>assistant\n2<|im_end|>\n<|im_start|>user\n")


def test_few_shot_choice_is_deterministic_and_depends_on_the_seed(tmp_path):
    items = list(items_of("mme", tmp_path).values())
    first = [[s.id for s in ShotPicker(items, 2, seed=0)(i)] for i in items]
    again = [[s.id for s in ShotPicker(list(reversed(items))[::-1], 2, seed=0)(i)] for i in items]
    other = [[s.id for s in ShotPicker(items, 2, seed=1)(i)] for i in items]
    assert first == again and first != other
    for item, shots in zip(items, first):
        assert len(set(shots)) == 2 and item.id not in shots
        assert all(not set(item.images) & set(s.images) for s in (x for x in items if x.id in shots))


def test_few_shot_is_refused_where_the_paper_had_none(tmp_path):
    data, images, _ = sample("seed_bench_img", tmp_path)
    settings = EvalSettings(task="seed_bench_img", data=data, images=images, out=tmp_path / "out", shots=2)
    with pytest.raises(ValueError, match="no few-shot prompt"):
        shot_picker(get_task("seed_bench_img"), settings)
    with pytest.raises(ValueError, match="3 shots need more than 3 items"):
        ShotPicker(list(items_of("vqav2_val", tmp_path).values()), 3)


def test_format_follows_the_checkpoint_unless_given():
    assert resolve_format("auto", "chatml") == "chat" and resolve_format("auto", "raw") == "base"
    assert resolve_format("base", "chatml") == "base"
    with pytest.raises(ValueError, match="format must be"):
        resolve_format("html", "raw")
