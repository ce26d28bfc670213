"""The qwenvl command: answers, pictures and clear errors."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from qwenvl_testing import CHECKPOINT, SHARED
from qwenvl.cli.main import main

IMAGE = SHARED / "images" / "Menu.jpeg"


def test_chat_answers_one_prompt(capsys):
    assert main(["chat", "--model", str(CHECKPOINT), "--image", str(IMAGE), "--greedy", "--max-new-tokens", "4",
                 "What is this?"]) == 0
    assert capsys.readouterr().out.strip()


def test_chat_interactive_session(capsys, monkeypatch):
    lines = iter(["hello", ":image " + str(IMAGE), "and this?", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["chat", "--model", str(CHECKPOINT), "--greedy", "--max-new-tokens", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2  # two answers


def test_ground_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "boxes.png"
    assert main(["ground", "--model", str(CHECKPOINT), "--image", str(IMAGE), "the menu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(printed[:printed.rindex("}") + 1])
    assert "response" in result and isinstance(result["boxes"], list)
    assert Image.open(out).size == Image.open(IMAGE).size


def test_missing_model_dir_is_a_clear_error(tmp_path, capsys):
    assert main(["chat", "--model", str(tmp_path / "nope"), "hi"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["chat", "--model", str(tmp_path), "hi"]) == 2
    assert "no config.json" in capsys.readouterr().err


def test_bad_image_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image at all")
    assert main(["chat", "--model", str(CHECKPOINT), "--image", str(bad), "hi"]) == 2
    assert "bad.jpg" in capsys.readouterr().err


def test_without_model_and_without_a_shipped_one_the_error_says_what_to_do(tmp_path, capsys, monkeypatch):
    import qwenvl.default_model

    monkeypatch.setattr(qwenvl.default_model, "DEFAULT_MODEL", tmp_path / "default_model")
    for command in (["chat", "hi"], ["ground", "--image", str(IMAGE), "the menu"], ["demo", "--out", str(tmp_path)]):
        assert main(command) == 2, command
        err = capsys.readouterr().err
        assert "default model is missing" in err and "--model" in err, command


def test_every_subcommand_is_registered(capsys):
    for name in ("chat", "ground", "demo", "train", "finetune", "eval", "serve", "recipe", "clean"):
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: qwenvl " + name in capsys.readouterr().out


def test_without_model_the_shipped_one_answers(tmp_path, capsys):
    """`chat`, `ground` and `demo` fall back to the shipped default model."""
    assert main(["chat", "--image", str(IMAGE), "How many objects are there?"]) == 0
    assert capsys.readouterr().out.strip()
    out = tmp_path / "boxes.png"
    assert main(["ground", "--image", str(IMAGE), "the red circle", "--out", str(out)]) == 0
    assert Image.open(out).size == Image.open(IMAGE).size
    capsys.readouterr()
    assert main(["demo", "--seed", "5", "--out", str(tmp_path / "demo")]) == 0
    assert "synthetic answers right, seed 5" in capsys.readouterr().out
    assert "<img" in (tmp_path / "demo" / "index.html").read_text(encoding="utf-8")
