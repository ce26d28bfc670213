"""The continuous-batching engine: batched answers equal one-at-a-time ones, joins, leaves, cancels, bounds."""

from __future__ import annotations

import queue
import time

import pytest
import torch

from serving_testing import APPLE, IMAGES, MENU
from qwenvl.data.images import ImageLimits
from qwenvl.generation.sampling import top_k_filter, top_p_filter
from qwenvl.interface import make_context
from qwenvl.serving import media
from qwenvl.serving.engine import Engine, QueueFull, ShuttingDown, Work
from qwenvl.serving.events import Delta, Done, Failed, Handle
from qwenvl.model.kv_cache import KVCache
from qwenvl.serving.feature_cache import FeatureCache
from qwenvl.serving.sampler import RowSampling, choose_tokens
from qwenvl.serving.slot_cache import SlotCache


class Collector:
    """A request's events, gathered on a plain queue."""

    def __init__(self, choices: int = 1):
        self.events: queue.Queue = queue.Queue()
        self.handle = Handle(self.events.put)
        self.choices = choices
        self.texts = [""] * choices
        self.done: dict[int, Done] = {}

    def wait(self, timeout: float = 120) -> "Collector":
        deadline = time.monotonic() + timeout
        while len(self.done) < self.choices:
            event = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            assert not isinstance(event, Failed), event.message
            if isinstance(event, Delta):
                self.texts[event.choice] += event.text
            else:
                self.done[event.choice] = event
        return self

    def first_delta(self, timeout: float = 60) -> None:
        event = self.events.get(timeout=timeout)
        assert isinstance(event, Delta)
        self.texts[event.choice] += event.text


@pytest.fixture
def start_engine(golden_vl):
    """Engines on the golden model, always shut down after the test."""
    engines = []

    def start(**kwargs) -> Engine:
        engines.append(Engine(golden_vl.model, golden_vl.tokenizer, **kwargs).start())
        return engines[-1]
    yield start
    for engine in engines:
        engine.shutdown(timeout=60)


@pytest.fixture(scope="module")
def policy(golden_vl):
    return media.MediaPolicy(ImageLimits(allowed_local_root=IMAGES), golden_vl.cfg.vision.image_size)


def chat_prompt(vl, text: str, n_images: int = 0) -> list[int]:
    query = [{"image": f"image-{i + 1}"} for i in range(n_images)] + [{"text": text}]  # labels as the server writes
    return make_context(vl.tokenizer, vl.tokenizer.from_list_format(query), None, "You are a helpful assistant.")[1]


def test_batched_greedy_equals_one_at_a_time(golden_vl, policy, start_engine):
    """Requests joining and leaving a running batch decode the tokens they decode alone.

    The prompts straddle the model's seq_length (256), so rows with different dynamic-NTK
    factors share the batch; lengths and max_new_tokens differ so rows join and leave at
    different steps.
    """
    vl = golden_vl
    cases = [("Describe it.", [APPLE], 30), ("hi", [], 12), ("Compare. " + "more " * 150, [APPLE, MENU], 20),
             ("What is on the menu?", [MENU], 25), ("short", [], 3), ("Tell me a story. " + "x " * 120, [], 18)]
    prompts = [chat_prompt(vl, text, len(images)) for text, images, _ in cases]
    lengths = [len(p) for p in prompts]
    assert min(lengths) < vl.cfg.llm.seq_length < max(lengths)
    configs = [vl.generation_config.updated(do_sample=False, max_new_tokens=n, ignore_eos=True) for *_, n in cases]
    alone = [vl.generate_batch([p], [str(i) for i in images] or None, c)[0]
             for p, (_, images, _), c in zip(prompts, cases, configs)]

    engine = start_engine(max_seqs=4)
    collectors = [Collector() for _ in cases]
    for k, ((_, images, _), prompt, cfg, col) in enumerate(zip(cases, prompts, configs, collectors)):
        engine.submit(Work(prompt, [media.load(str(i), policy) for i in images], [cfg], col.handle))
        if k == 1:
            collectors[0].first_delta()  # the rest join a batch that is already decoding
    assert [c.wait().done[0].token_ids for c in collectors] == alone
    stats = engine.stats()
    assert stats.generated_tokens == sum(n for *_, n in cases)
    assert stats.steps < stats.generated_tokens - len(cases)  # several rows per step: it did batch
    assert stats.feature_misses == 2 and stats.feature_hits == 2  # APPLE and MENU each encoded once


def test_prefix_cache_reuses_shared_prefixes_and_keeps_the_answers(golden_vl, policy, start_engine):
    """Later turns and same-picture questions prefill only their new tokens, and decode what QwenVL decodes.

    The golden model's seq_length is 256, so these prompts use dynamic NTK: a prompt whose factor
    differs from the cached one's must not reuse it.
    """
    vl, tok = golden_vl, golden_vl.tokenizer
    first = [{"image": "image-1"}, {"text": "What is this?"}]
    turn1 = tok.from_list_format(first)
    prompts = {
        "A": (make_context(tok, turn1, None, "You are a helpful assistant.")[1], [APPLE]),
        "B: next turn": (make_context(tok, "And the colour?", [(turn1, "An apple.")], "You are a helpful assistant.")[1],
                         [APPLE]),
        "C: same picture": (chat_prompt(vl, "Describe it in detail.", 1), [APPLE]),
        "D: other picture": (chat_prompt(vl, "Describe it in detail.", 1), [MENU]),
        "E: longer, other NTK factor": (chat_prompt(vl, "Describe it. " + "more " * 300, 1), [APPLE]),
    }
    cfg = vl.generation_config.updated(do_sample=False, max_new_tokens=12, ignore_eos=True)
    engine = start_engine()
    reused = {}
    for name, (prompt, images) in prompts.items():
        before = engine.stats().reused_prompt_tokens
        col = Collector()
        engine.submit(Work(prompt, [media.load(str(i), policy) for i in images], [cfg], col.handle))
        assert col.wait().done[0].token_ids == vl.generate_batch([prompt], [str(i) for i in images], cfg)[0], name
        reused[name] = engine.stats().reused_prompt_tokens - before
    image_start = prompts["A"][0].index(tok.img_start_id)
    assert reused["A"] == 0
    assert reused["B: next turn"] == len(prompts["A"][0])  # the whole first prompt
    assert reused["C: same picture"] > image_start + 256  # the system prompt and the picture
    assert reused["D: other picture"] == 0  # cut at the picture's span: too short a prefix to reuse
    assert image_start < engine.prefixes.min_tokens
    assert reused["E: longer, other NTK factor"] == 0


def test_prefix_cache_cuts_at_spans_and_keeps_its_budget():
    from qwenvl.serving.prefix_cache import PrefixCache

    def kv(n):
        cache = KVCache.allocate(layers=1, batch=1, heads=1, capacity=n, head_dim=2, dtype=torch.float32)
        cache.length = n
        return cache
    cache = PrefixCache(max_bytes=2 * kv(100).k[0].nbytes * 2, min_tokens=4)  # room for 200 tokens of k and v
    ids = list(range(100))
    cache.add(ids, [(10, 20, "x")], 1.0, kv(100))
    assert cache.longest(ids[:50] + [-1] * 10, [(10, 20, "x")], 1.0)[1] == 50
    assert cache.longest(ids[:50] + [-1] * 10, [(10, 20, "y")], 1.0)[1] == 10  # another picture in the span
    assert cache.longest(ids[:15] + [-1] * 10, [(10, 20, "x")], 1.0)[1] == 10  # never ends inside a span
    assert cache.longest(ids, [(10, 20, "x")], 1.0)[1] == 99  # one token is always left to prefill
    assert cache.longest(ids, [(10, 20, "x")], 3.0) == (None, 0)  # another NTK factor
    assert cache.longest(ids[:3] + [-1] * 10, [], 1.0) == (None, 0)  # too short to be worth it
    cache.add([7] * 100, [], 1.0, kv(100))
    cache.add([8] * 100, [], 1.0, kv(100))  # over budget: the oldest entry leaves
    assert cache.longest(ids, [(10, 20, "x")], 1.0) == (None, 0)
    assert cache.longest([8] * 50, [], 1.0)[1] == 49


def test_text_deltas_add_up_and_stop_at_stop_strings(golden_vl, start_engine):
    vl = golden_vl
    prompt = chat_prompt(vl, "hello there")
    cfg = vl.generation_config.updated(do_sample=False, max_new_tokens=16, ignore_eos=True)
    engine = start_engine()
    full = Collector()
    engine.submit(Work(prompt, [], [cfg], full.handle))
    full.wait()
    text = full.texts[0]
    assert text == vl.tokenizer.decode(full.done[0].token_ids) and full.done[0].reason == "length"
    stop = text[len(text) // 2:len(text) // 2 + 3]
    cut = Collector()
    engine.submit(Work(prompt, [], [cfg.updated(stop_strings=(stop,))], cut.handle))
    cut.wait()
    assert cut.texts[0] == text[:text.index(stop)] and cut.done[0].reason == "stop"


def test_choices_share_a_prefill_and_seeds_reproduce_in_any_batch(golden_vl, start_engine):
    vl = golden_vl
    prompt = chat_prompt(vl, "pick some words")
    cfg = vl.generation_config.updated(do_sample=True, temperature=1.0, top_p=0.9, max_new_tokens=10, ignore_eos=True)
    engine = start_engine()
    three = Collector(3)
    engine.submit(Work(prompt, [], [cfg.updated(seed=s) for s in (5, 6, 7)], three.handle))
    three.wait()
    assert engine.stats().prompt_tokens == len(prompt)  # one prefill for the three choices
    alone = Collector()
    engine.submit(Work(prompt, [], [cfg.updated(seed=6)], alone.handle))
    alone.wait()
    tokens = [three.done[i].token_ids for i in range(3)]
    assert alone.done[0].token_ids == tokens[1]
    assert tokens[0] != tokens[1] != tokens[2]


def test_cancelled_request_leaves_and_others_go_on(golden_vl, start_engine):
    vl = golden_vl
    long = vl.generation_config.updated(do_sample=False, max_new_tokens=3000, ignore_eos=True)
    short = long.updated(max_new_tokens=5)
    engine = start_engine()
    gone = Collector()
    engine.submit(Work(chat_prompt(vl, "go on forever"), [], [long], gone.handle))
    gone.first_delta()
    gone.handle.cancel()
    other = Collector()
    engine.submit(Work(chat_prompt(vl, "still there?"), [], [short], other.handle))
    assert len(other.wait().done[0].token_ids) == 5
    deadline = time.monotonic() + 10
    while engine.stats().running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.stats().running == 0
    assert engine.stats().generated_tokens < 1000  # the cancelled one stopped early


def test_bounded_queue_and_graceful_shutdown(golden_vl, start_engine):
    vl = golden_vl
    cfg = vl.generation_config.updated(do_sample=False, max_new_tokens=40, ignore_eos=True)
    prompt = chat_prompt(vl, "queue me")
    engine = start_engine(max_seqs=2, max_waiting=2)
    first, second = Collector(2), Collector(2)
    engine.submit(Work(prompt, [], [cfg, cfg], first.handle))
    first.first_delta()  # running: both seats are taken
    engine.submit(Work(prompt, [], [cfg, cfg], second.handle))  # two sequences wait: the queue is full
    with pytest.raises(QueueFull, match="2 sequences are already waiting"):
        engine.submit(Work(prompt, [], [cfg], Collector().handle))
    assert engine.shutdown(timeout=120)  # finishes everything it accepted
    assert [len(first.wait(1).done[i].token_ids) for i in range(2)] == [40, 40]
    assert [len(second.wait(1).done[i].token_ids) for i in range(2)] == [40, 40]
    with pytest.raises(ShuttingDown):
        engine.submit(Work(prompt, [], [cfg], Collector().handle))


def test_requests_that_cannot_fit_are_refused(golden_vl):
    engine = Engine(golden_vl.model, golden_vl.tokenizer, max_seqs=2, max_context=100)
    cfg = golden_vl.generation_config.updated(max_new_tokens=50)
    with pytest.raises(ValueError, match="exceeds the context of 100"):
        engine.submit(Work(list(range(60)), [], [cfg], Collector().handle))
    with pytest.raises(ValueError, match="1 to 2 choices"):
        engine.submit(Work([1, 2], [], [cfg] * 3, Collector().handle))


def test_slot_cache_rows_move_with_their_sequences():
    cache = SlotCache(layers=1, max_rows=3, heads=1, head_dim=2, max_capacity=64, dtype=torch.float32,
                      initial_capacity=4)

    class Prefill:  # an unpadded prefill cache of n tokens whose keys all equal `tag`
        def __init__(self, tag: float, n: int):
            self.k = [torch.full((1, 1, n, 2), tag)]
            self.v = [torch.full((1, 1, n, 2), -tag)]
            self.length, self.ntk_alphas = n, [tag]

    for tag, n in ((1.0, 3), (2.0, 6), (3.0, 2)):
        cache.add(Prefill(tag, n))
    assert cache.capacity >= 7 and cache.lengths[:3].tolist() == [3, 6, 2]
    keys, _ = cache.write(0, torch.full((3, 1, 1, 2), 9.0), torch.zeros(3, 1, 1, 2))
    cache.advance(1)
    assert keys.shape == (3, 1, 7, 2)
    assert keys[0, 0, :, 0].tolist() == [1, 1, 1, 9, 0, 0, 0] and keys[2, 0, 2, 0] == 9.0
    assert cache.step_mask()[:, 0, 0].sum(-1).tolist() == [5, 8, 4]
    cache.remove(0)  # row 2 moves into row 0
    assert cache.rows == 2 and cache.ntk_alphas == [3.0, 2.0] and cache.lengths[:2].tolist() == [3, 7]
    assert cache.k[0][0, 0, :3, 0].tolist() == [3, 3, 9] and cache.positions().tolist() == [[3], [7]]


def core_support(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    return torch.isfinite(top_p_filter(top_k_filter(logits / temperature, top_k), top_p))[0]


@pytest.mark.parametrize("vocab, scale, temperature, top_k, top_p", [
    (50, 3.0, 1.0, 0, 0.8), (50, 3.0, 0.7, 5, 1.0), (50, 3.0, 1.3, 8, 0.6), (1000, 0.01, 1.0, 0, 0.5)])
def test_sampler_follows_the_core_filters(vocab, scale, temperature, top_k, top_p):
    """Same support and probabilities as generation.sampling, also where the nucleus outgrows the candidates."""
    torch.manual_seed(0)
    logits = torch.randn(1, vocab) * scale
    support = core_support(logits, temperature, top_k, top_p)
    rows = [RowSampling(True, temperature, top_k, top_p, generator=torch.Generator().manual_seed(i))
            for i in range(4000)]
    drawn = torch.tensor(choose_tokens(logits.expand(len(rows), -1), rows, [None] * len(rows)))
    assert bool(support[drawn].all())
    expected = (logits / temperature).masked_fill(~support, float("-inf")).softmax(-1)[0]
    observed = torch.bincount(drawn, minlength=vocab).float() / len(rows)
    assert (observed - expected).abs().max() < 0.03
    likely = (expected > 0.005).nonzero()[:, 0].tolist()
    assert set(likely) <= set(drawn.tolist())


def test_sampler_rows_keep_their_own_generators_and_greedy_rows_argmax():
    torch.manual_seed(1)
    logits = torch.randn(3, 100)
    seeded = lambda: RowSampling(True, 1.0, 0, 1.0, generator=torch.Generator().manual_seed(42))  # noqa: E731
    alone = choose_tokens(logits[1:2], [seeded()], [None])[0]
    mixed = choose_tokens(logits, [RowSampling(False), seeded(), RowSampling(True, 0.5, 10, 0.9)], [None] * 3)
    assert mixed[1] == alone and mixed[0] == int(logits[0].argmax())


@pytest.mark.parametrize("top_p", [1.0, 0.9])
def test_seeded_draws_survive_last_bit_changes_in_near_flat_logits(top_p):
    """Another batch shape changes logits in the last bits; on a random checkpoint's near-flat
    150k-token distribution that must not change which token a seed picks."""
    torch.manual_seed(2)
    logits = torch.randn(1, 151936) * 0.05
    nudged = logits * (1 + 1e-6 * torch.randn_like(logits))
    seeded = lambda s: RowSampling(True, 1.0, 0, top_p, generator=torch.Generator().manual_seed(s))  # noqa: E731
    seeds = range(200)
    before = [choose_tokens(logits, [seeded(s)], [None])[0] for s in seeds]
    after = [choose_tokens(nudged, [seeded(s)], [None])[0] for s in seeds]
    assert sum(a != b for a, b in zip(before, after)) <= 1


def test_feature_cache_encodes_each_image_once():
    calls = []

    def encode(pixels):
        calls.append(len(pixels))
        return pixels.mean(dim=(2, 3))[:, None, :].expand(-1, 4, -1)

    cache = FeatureCache(capacity=1)
    a, b = torch.ones(3, 8, 8), torch.zeros(3, 8, 8)
    out = cache.features(["a", "b", "a"], [lambda: a, lambda: b, lambda: a], encode)
    assert calls == [2] and out.shape == (3, 4, 3) and torch.equal(out[0], out[2])
    assert "a" in cache and "b" not in cache
    cache.features(["a"], [lambda: a], encode)  # the most recently used entry is kept: a hit
    cache.features(["b"], [lambda: b], encode)  # capacity 1: "b" was evicted, and now evicts "a"
    assert calls == [2, 1] and (cache.hits, cache.misses) == (2, 3)
