"""The official `openai` client against the server, unchanged: text, images, streaming, system prompts,
sampling settings, usage, grounding boxes; plus health, metrics, disconnects and back-pressure."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest
from PIL import Image

from serving_testing import APPLE, IMAGES, MENU, ScriptedEngine, data_url, running, serve_args
from qwenvl.cli import serve
from qwenvl.interface import make_context
from qwenvl.serving.app import create_app

SYSTEM = "You are a terse assistant."


@pytest.fixture(scope="module")
def url(golden_vl):
    with running(serve.make_app(golden_vl, serve_args(allowed_local_media_path=IMAGES))) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def greedy(vl, query, history=None, system=SYSTEM, max_new_tokens=12) -> str:
    """What QwenVL answers alone, for the same conversation."""
    return vl.chat(None, query, history, system, do_sample=False, max_new_tokens=max_new_tokens)[0]


def metric(http: httpx.Client, url: str, name: str) -> float:
    return float(http.get(f"{url}/metrics").text.split(f"\n{name} ")[1].split()[0])


def until_content(response: httpx.Response) -> None:
    """Read SSE lines until the first generated text: the request is then running in the engine."""
    for line in response.iter_lines():
        if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
            return
    raise AssertionError("the stream ended without any text")


def image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def test_models_health_and_metrics(client, url):
    assert [m.id for m in client.models.list()] == ["checkpoint"]
    assert client.models.retrieve("checkpoint").id == "checkpoint"
    health = httpx.get(f"{url}/health").json()
    assert health["status"] == "ok" and health["model"] == "checkpoint"
    client.chat.completions.create(model="checkpoint", messages=[{"role": "user", "content": "count me"}],
                                   max_tokens=2)
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert "# TYPE qwenvl_generated_tokens_total counter" in text
    assert 'qwenvl_requests_total{endpoint="/v1/chat/completions",status="200"}' in text
    assert "qwenvl_time_to_first_token_seconds_count" in text
    with httpx.Client() as http:
        assert metric(http, url, "qwenvl_prompt_tokens_total") > 0


def test_text_with_system_prompt_matches_qwenvl(client, golden_vl):
    reply = client.chat.completions.create(
        model="checkpoint", temperature=0, max_tokens=12,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": "What is an apple?"}])
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.finish_reason in ("stop", "length")
    assert choice.message.content.strip() == greedy(golden_vl, "What is an apple?")
    prompt = make_context(golden_vl.tokenizer, "What is an apple?", None, SYSTEM)[1]
    assert reply.usage.prompt_tokens == len(prompt) and 1 <= reply.usage.completion_tokens <= 12
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_one_image_matches_qwenvl(client, golden_vl):
    reply = client.chat.completions.create(
        model="checkpoint", temperature=0, max_tokens=12,
        messages=[{"role": "system", "content": SYSTEM},
                  {"role": "user", "content": [image_part(data_url(APPLE)), {"type": "text", "text": "What is it?"}]}])
    query = [{"image": str(APPLE)}, {"text": "What is it?"}]
    assert reply.choices[0].message.content.strip() == greedy(golden_vl, query)
    assert reply.usage.prompt_tokens > 256  # the image's span is counted
    width, height = Image.open(APPLE).size
    assert reply.choices[0].model_extra["grounding"]["image"] == {"index": 0, "width": width, "height": height}


def test_several_images_across_turns_match_qwenvl(client, golden_vl):
    first = [{"image": str(MENU)}, {"text": "Read the menu."}]
    earlier_answer = "It lists <ref>soup</ref><box>(10,20),(300,400)</box>."
    messages = [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": [image_part(f"file://{MENU}"), {"type": "text", "text": "Read the menu."}]},
                {"role": "assistant", "content": earlier_answer},
                {"role": "user", "content": [image_part(data_url(APPLE)), image_part(str(MENU)),
                                             {"type": "text", "text": "Compare the two pictures."}]}]
    reply = client.chat.completions.create(model="checkpoint", temperature=0, max_tokens=12, messages=messages)
    history = [(golden_vl.tokenizer.from_list_format(first), earlier_answer)]
    query = [{"image": str(APPLE)}, {"image": str(MENU)}, {"text": "Compare the two pictures."}]
    assert reply.choices[0].message.content.strip() == greedy(golden_vl, query, history)
    assert reply.usage.prompt_tokens > 3 * 256
    assert reply.choices[0].model_extra["grounding"]["image"]["index"] == 2  # boxes refer to the latest image


def test_streaming_gives_the_same_answer_with_usage_last(client):
    request = dict(model="checkpoint", temperature=0, max_tokens=16,
                   messages=[{"role": "user", "content": [image_part(data_url(MENU)), {"type": "text", "text": "Hi"}]}])
    whole = client.chat.completions.create(**request)
    chunks = list(client.chat.completions.create(stream=True, **request))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    final = [c for c in chunks if c.choices and c.choices[0].finish_reason][0]
    assert final.choices[0].finish_reason == whole.choices[0].finish_reason
    assert final.choices[0].model_extra["grounding"]["image"]["width"] == Image.open(MENU).width
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_n_seed_stop_and_temperature(client):
    request = dict(model="checkpoint", messages=[{"role": "user", "content": "Say many things."}],
                   temperature=1.0, top_p=0.9, max_tokens=10, n=2, seed=11, extra_body={"ignore_eos": True})
    a = client.chat.completions.create(**request)
    b = client.chat.completions.create(**request)
    texts = [c.message.content for c in a.choices]
    assert [c.index for c in a.choices] == [0, 1] and texts == [c.message.content for c in b.choices]
    assert texts[0] != texts[1] and a.usage.completion_tokens == 20
    # A stop string cuts the same seeded sample where it first appears. Compared at the same n:
    # a row's logits may differ in the last bit with the batch size (GEMM summation order), and a
    # random-weight model's flat distribution turns any such bit into another sample.
    alone = client.chat.completions.create(**{**request, "n": 1}).choices[0].message.content
    stop = alone[len(alone) // 2:][:2]
    cut = client.chat.completions.create(**{**request, "n": 1, "stop": [stop]})
    assert cut.choices[0].message.content == alone[:alone.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_grounding_is_returned_as_boxes(golden_vl):
    answer = "Here: <ref>the apple</ref><box>(100,200),(500,600)</box>"
    app = create_app(ScriptedEngine(answer), golden_vl.tokenizer, golden_vl.generation_config,
                     serve.settings(golden_vl, serve_args()))
    with running(app) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
        messages = [{"role": "user", "content": [image_part(data_url(APPLE)), {"type": "text", "text": "Box it"}]}]
        reply = client.chat.completions.create(model="checkpoint", messages=messages)
        streamed = list(client.chat.completions.create(model="checkpoint", messages=messages, stream=True))
    assert reply.choices[0].message.content == answer
    grounding = reply.choices[0].model_extra["grounding"]
    assert grounding["items"] == [{"type": "box", "ref": "the apple", "box": [100, 200, 500, 600],
                                   "pixel_box": [180, 261, 901, 785], "normalized_box": [0.1, 0.2, 0.5, 0.6]}]
    final = [c for c in streamed if c.choices and c.choices[0].finish_reason][0]
    assert final.choices[0].model_extra["grounding"] == grounding


@pytest.mark.parametrize("stream", [True, False])
def test_client_disconnect_cancels_the_request(url, stream):
    body = {"model": "checkpoint", "messages": [{"role": "user", "content": "go on"}], "max_tokens": 3000,
            "ignore_eos": True, "temperature": 0, "stream": stream}
    with httpx.Client(timeout=30) as http:
        cancelled = metric(http, url, "qwenvl_requests_cancelled_total")
        if stream:
            with http.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
                until_content(response)
            # leaving the block closes the connection mid-answer
        else:
            with pytest.raises(httpx.ReadTimeout):  # the client gives up and closes the connection
                http.post(f"{url}/v1/chat/completions", json=body, timeout=1.0)
        deadline = time.monotonic() + 10
        while metric(http, url, "qwenvl_requests_cancelled_total") == cancelled and time.monotonic() < deadline:
            time.sleep(0.02)
        assert metric(http, url, "qwenvl_requests_cancelled_total") == cancelled + 1
        while http.get(f"{url}/health").json()["running"] and time.monotonic() < deadline:
            time.sleep(0.02)
        health = http.get(f"{url}/health").json()
        assert health["running"] == health["waiting"] == 0
        tokens = metric(http, url, "qwenvl_generated_tokens_total")
        time.sleep(0.2)
        assert metric(http, url, "qwenvl_generated_tokens_total") == tokens  # nothing is generating any more


def test_full_queue_answers_429_then_serves_again(golden_vl):
    app = serve.make_app(golden_vl, serve_args(max_num_seqs=1, max_queue=1))
    long = {"model": "checkpoint", "messages": [{"role": "user", "content": "long"}], "max_tokens": 3000,
            "ignore_eos": True, "stream": True}
    with running(app) as base, httpx.Client(timeout=30) as http:
        with http.stream("POST", f"{base}/v1/chat/completions", json=long) as running_one:
            until_content(running_one)
            with http.stream("POST", f"{base}/v1/chat/completions", json=long) as waiting_one:
                assert waiting_one.status_code == 200
                refused = http.post(f"{base}/v1/chat/completions", json={**long, "stream": False})
                assert refused.status_code == 429
                assert refused.json()["error"]["code"] == "queue_full"
        again = http.post(f"{base}/v1/chat/completions",
                          json={**long, "stream": False, "max_tokens": 3, "ignore_eos": False})
        assert again.status_code == 200 and again.json()["usage"]["completion_tokens"] <= 3
