"""The web UI end to end in headless Chromium (Debian's chromium driven by Playwright).

A scripted engine gives grounded answers (the tiny random model never writes a box); one test
runs the real engine to check streaming against the model itself.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import sync_playwright

from serving_testing import APPLE, MENU, ScriptedEngine, running, serve_args
from qwenvl.cli import serve
from qwenvl.serving.app import create_app

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ANSWER_EN = "It is <ref>the apple</ref><box>(100,200),(500,600)</box> on the table."
ANSWER_ZH = "<ref>苹果</ref><box>(250,250),(750,750)</box>"
BLUE = [31, 119, 180]  # PALETTE[0]: the first box's colour


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def ui_server(vl, engine):
    return running(create_app(engine, vl.tokenizer, vl.generation_config, serve.settings(vl, serve_args())))


def pixel(page, selector: str, x_frac: float, y_frac: float) -> list[int]:
    return page.eval_on_selector(selector, """(c, [fx, fy]) => Array.from(
        c.getContext('2d').getImageData(Math.round(fx * c.width), Math.round(fy * c.height), 1, 1).data.slice(0, 3))""",
                                 [x_frac, y_frac])


def ask(page, text: str, image=None) -> None:
    if image is not None:
        page.set_input_files("#image", str(image))
        page.wait_for_selector("#attachments img")
    page.fill("#prompt", text)
    page.click("#send")
    page.wait_for_selector(".msg.assistant[data-done='1']:last-child", timeout=30_000)


def test_upload_ask_for_a_box_and_see_it_drawn(golden_vl, browser):
    engine = ScriptedEngine(ANSWER_EN)
    with ui_server(golden_vl, engine) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_function("document.getElementById('model').textContent.length > 0")
        ask(page, "Where is the apple? Draw a box.", APPLE)
        canvas = "figure.grounded canvas[data-boxes='1']"
        page.wait_for_selector(canvas, timeout=10_000)
        # the box outline is drawn in the first palette colour at its normalized place: x=0.1..0.5, y=0.2..0.6
        assert pixel(page, canvas, 0.1, 0.4) == BLUE
        assert pixel(page, canvas, 0.3, 0.6) == BLUE
        assert pixel(page, canvas, 0.3, 0.4) != BLUE  # inside the box: the photo, not the outline
        assert page.inner_text(".msg.assistant .ref") == "the apple"
        assert "the apple" in page.inner_text("ul.boxes")
        assert page.locator(".msg.user img.thumb").count() == 1
    assert len(engine.prompts) == 1 and golden_vl.tokenizer.img_start_id in engine.prompts[0]


def test_second_turn_in_chinese_keeps_the_history(golden_vl, browser):
    engine = ScriptedEngine(ANSWER_ZH)
    with ui_server(golden_vl, engine) as url:
        page = browser.new_page()
        page.goto(url)
        page.click("#lang")
        assert page.inner_text("#send") == "发送"
        assert page.get_attribute("html", "lang") == "zh-CN"
        ask(page, "这是什么？", MENU)
        ask(page, "框出苹果")
        canvases = page.locator("figure.grounded canvas[data-boxes='1']")
        canvases.nth(1).wait_for(timeout=10_000)
        assert page.locator(".msg.assistant").nth(1).locator(".ref").inner_text() == "苹果"
        assert "苹果" in page.locator("ul.boxes").nth(1).inner_text()
        page.click("#lang")
        assert page.inner_text("#send") == "Send"
    tokenizer = golden_vl.tokenizer
    second = tokenizer.decode(engine.prompts[1])
    assert second.count("<|im_start|>user") == 2 and "框出苹果" in second and "这是什么" in second
    assert engine.prompts[1].count(tokenizer.img_start_id) == 1  # the first turn's image is still there


def test_error_is_shown_and_the_chat_goes_on(golden_vl, browser):
    with ui_server(golden_vl, ScriptedEngine("fine")) as url:
        page = browser.new_page()
        page.goto(url)
        page.fill("#max-tokens", "100000")  # beyond the context window: the server refuses with 400
        ask(page, "hello")
        assert "context window" in page.inner_text("#error")
        page.fill("#max-tokens", "16")
        ask(page, "hello again")
        assert page.is_hidden("#error")
        assert page.locator(".msg.assistant .text").last.inner_text() == "fine"


def test_real_model_streams_into_the_page(golden_vl, browser):
    with running(serve.make_app(golden_vl, serve_args())) as url:
        page = browser.new_page()
        page.goto(url)
        ask(page, "Describe the picture.", APPLE)
        text = page.locator(".msg.assistant .text").last.inner_text()
        assert text.strip()
        assert page.locator("#error").is_hidden()
