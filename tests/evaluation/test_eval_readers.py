"""Each benchmark's public annotation format read into items: ids, questions, references, splits,
options, boxes and image paths in the benchmark's own folder layout."""

from __future__ import annotations

import json

import pytest
from eval_fixtures import FIXTURES, SAMPLES, sample

from qwenvl.evaluation.tasks import TASKS, get_task


def read(task, tmp_path):
    data, images, count = sample(task, tmp_path)
    items = get_task(task).read(data, images)
    assert len(items) == count
    assert len({i.id for i in items}) == count
    return {i.id: i for i in items}


@pytest.mark.parametrize("task", sorted(SAMPLES))
def test_every_fixture_reads_and_its_images_are_found(task, tmp_path):
    items = read(task, tmp_path)
    for item in items.values():
        for src in item.images:
            assert src.startswith("data:image/") or src.startswith(str(tmp_path)) and (tmp_path / src).is_file()


def test_every_task_has_a_fixture():
    synthetic = {t for t in TASKS if t.startswith("synth_")}
    assert set(TASKS) - synthetic == set(SAMPLES)


def test_karpathy_keeps_the_test_split_with_all_five_captions(tmp_path):
    items = read("flickr30k", tmp_path)
    assert sorted(items) == ["0", "2"]  # imgid 1 is train, 3 is val
    assert len(items["0"].answers) == 5 and items["0"].answers[0].startswith("A man in a red jacket")
    assert items["2"].images[0] == str(tmp_path / "flickr30k-images/1001773457.jpg")


def test_nocaps_groups_captions_by_image_and_keeps_domains(tmp_path):
    items = read("nocaps", tmp_path)
    assert items["1"].answers == ("A red tractor in a field.", "A tractor parked on farmland.")
    assert [items[k].group for k in "0123"] == ["in-domain", "near-domain", "out-domain", "in-domain"]


def test_vqa_api_pairs_questions_with_their_ten_answers(tmp_path):
    items = read("vqav2_val", tmp_path)
    bus = items["42000"]
    assert bus.question == "What color is the bus?" and len(bus.answers) == 10 and bus.answers.count("red") == 8
    assert bus.images[0] == str(tmp_path / "val2014/COCO_val2014_000000000042.jpg")
    assert {i.group for i in items.values()} == {"other", "yes/no", "number"}
    # OK-VQA from its questions file, images straight in the root (the other COCO layout)
    ok = read("okvqa_val", tmp_path)
    assert ok["9260"].images[0] == str(tmp_path / "COCO_val2014_000000000926.jpg")


def test_gqa_vizwiz_textvqa(tmp_path):
    gqa = read("gqa_testdev", tmp_path)
    assert gqa["201307251"].answers == ("dog",) and gqa["201307251"].group == "query"
    assert gqa["201307251"].images[0] == str(tmp_path / "images/n161313.jpg")
    viz = read("vizwiz_val", tmp_path)
    assert viz["VizWiz_val_00000001.jpg"].answers.count("yes") == 9
    assert viz["VizWiz_val_00000002.jpg"].images[0] == str(tmp_path / "val/VizWiz_val_00000002.jpg")
    text = read("textvqa_val", tmp_path)
    assert text["34603"].answers == ("1989",) * 10 and text["34603"].question == "what year is on the coin?"


def test_document_tasks(tmp_path):
    doc = read("docvqa_val", tmp_path)
    assert doc["24580"].answers == ("ITC Limited", "itc limited")
    assert doc["24580"].images[0] == str(tmp_path / "documents/nkbl0226_1.png")
    chart = read("chartqa_test_human", tmp_path)
    assert chart["test_human-1"].answers == ("23.5",) and chart["test_human-1"].question.startswith("What percentage")
    augmented = read("chartqa_test_augmented", tmp_path)
    assert augmented["test_augmented-1"].answers == ("Yes",)
    test = read("ocrvqa_test", tmp_path)  # split 3 only: two books, five questions
    assert test["0001234579-1"].answers == ("Cookbooks, Food & Wine",)
    assert read("ocrvqa_val", tmp_path)["0001234587-0"].images[0] == str(tmp_path / "images/0001234587.png")


def test_multiple_choice_readers(tmp_path):
    sqa = read("scienceqa_test_img", tmp_path)  # test split with an image: 5 and 9 (6 has none, 7 is train)
    assert sorted(sqa) == ["5", "9"]
    assert sqa["9"].choices == ("duck", "cat", "squirrel") and sqa["9"].answer == 0
    assert sqa["9"].context.startswith("Ducks live near water") and sqa["5"].context == ""
    ai2d = read("ai2d_test", tmp_path)  # image 1 is not in ai2d_test_ids.csv
    assert sorted(ai2d) == ["0.png-0", "0.png-1", "2.png-0"]
    assert ai2d["0.png-1"].choices[ai2d["0.png-1"].answer] == "nose"
    seed = read("seed_bench_img", tmp_path)  # the video question (dimension 10) is left out
    assert "v101" not in seed and seed["101670"].answer == 2 and seed["101671"].group == "Text Understanding"
    mmb = read("mmbench_dev", tmp_path)
    assert mmb["1"].choices == ("circle", "square") and mmb["1"].context == "The picture was drawn by hand."
    assert mmb["2"].choices == ("1", "2", "3") and mmb["2"].context == ""  # "None" and "nan" are missing, as in pandas
    assert mmb["1000000"].images == mmb["0"].images  # a short number points at another row's image
    assert mmb["1000000"].meta["circular"] == 0 and mmb["1000000"].answer == 3


def test_refcoco_conversions(tmp_path):
    qwen = read("refcoco_val", tmp_path)
    assert qwen["2"].question == "giraffe on right" and qwen["2"].box == (385.53, 60.03, 600.5, 357.19)
    assert qwen["2"].size == (640, 426)
    mdetr = read("refcocog_val", tmp_path)  # COCO x, y, w, h becomes corners
    assert mdetr["0"].box == pytest.approx((385.53, 60.03, 600.5, 357.19))
    assert mdetr["0"].images[0] == str(tmp_path / "train2014/COCO_train2014_000000000025.jpg")


def test_mme_reads_both_folder_layouts(tmp_path):
    items = read("mme", tmp_path)
    art = items["artwork/10002/0"]
    assert art.answers == ("Yes",) and art.images[0] == str(tmp_path / "artwork/images/10002.jpg")
    assert items["existence/000000018295/1"].images[0].endswith(".png")
    assert {i.group for i in items.values()} == {"existence", "artwork", "code_reasoning"}


def test_unreadable_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset.json"):
        get_task("ocrvqa_test").read(tmp_path, None)
    bad = tmp_path / "val.json"
    bad.write_text("[{")
    with pytest.raises(ValueError, match="val.json is not valid JSON"):
        get_task("vizwiz_val").read(bad, None)
    rows = json.loads((FIXTURES / "scienceqa/problems.json").read_text())
    rows["5"]["answer"] = 7
    (tmp_path / "problems.json").write_text(json.dumps(rows))
    with pytest.raises(ValueError, match="item 5 has no valid answer"):
        get_task("scienceqa_test_img").read(tmp_path, None)


@pytest.mark.parametrize("task, name, rows, missing", [
    ("textvqa_val", "TextVQA_0.5.1_val.json", {"data": [{"question_id": 1, "image_id": "a", "answers": ["x"]}]},
     "question"),
    ("docvqa_val", "val_v1.0.json", {"data": [{"questionId": 1, "image": "documents/a.png", "question": "q"}]},
     "answers"),
])
def test_a_record_without_a_required_field_is_named(task, name, rows, missing, tmp_path):
    (tmp_path / name).write_text(json.dumps(rows))
    with pytest.raises(ValueError, match=f"{name}: a record of {task} has no field '{missing}'"):
        get_task(task).items(tmp_path / name)
