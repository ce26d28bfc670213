"""Prometheus text exposition (format 0.0.4) for the server, without a client library.

Request outcomes and latencies are recorded by the HTTP layer (one event loop, so no locks);
the engine's counters and gauges are read when /metrics is scraped.
"""

from __future__ import annotations

import bisect
from collections import Counter

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Histogram:
    def __init__(self, buckets=LATENCY_BUCKETS):
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value

    def lines(self, name: str) -> list[str]:
        out, total = [], 0
        for bound, count in zip([*map(_number, self.buckets), "+Inf"], self.counts):
            total += count
            out.append(f'{name}_bucket{{le="{bound}"}} {total}')
        return out + [f"{name}_sum {_number(self.sum)}", f"{name}_count {total}"]


class Metrics:
    def __init__(self):
        self.requests: Counter[tuple[str, int]] = Counter()  # (endpoint, HTTP status) → count
        self.cancelled = 0
        self.time_to_first_token = Histogram()
        self.request_seconds = Histogram()

    def request_done(self, endpoint: str, status: int, seconds: float | None = None) -> None:
        self.requests[(endpoint, status)] += 1
        if seconds is not None:
            self.request_seconds.observe(seconds)

    def render(self, engine_stats) -> str:
        lines = ["# HELP qwenvl_requests_total HTTP requests answered, by endpoint and status.",
                 "# TYPE qwenvl_requests_total counter"]
        lines += [f'qwenvl_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                  for (e, s), n in sorted(self.requests.items())]
        lines += _metric("qwenvl_requests_cancelled_total", "counter",
                         "Requests whose client went away before the answer ended.", self.cancelled)
        for name, kind, text, value in (
                ("running_sequences", "gauge", "Sequences in the decode batch.", engine_stats.running),
                ("waiting_sequences", "gauge", "Sequences queued for admission.", engine_stats.waiting),
                ("decode_steps_total", "counter", "Batched decode steps run.", engine_stats.steps),
                ("generated_tokens_total", "counter", "Tokens generated.", engine_stats.generated_tokens),
                ("prompt_tokens_total", "counter", "Prompt tokens of admitted requests.", engine_stats.prompt_tokens),
                ("prefix_cache_reused_tokens_total", "counter", "Prompt tokens taken from the prefix cache.",
                 engine_stats.reused_prompt_tokens),
                ("image_feature_cache_hits_total", "counter", "Images served from the feature cache.",
                 engine_stats.feature_hits),
                ("image_feature_cache_misses_total", "counter", "Images run through the vision tower.",
                 engine_stats.feature_misses)):
            lines += _metric(f"qwenvl_{name}", kind, text, value)
        for name, text, hist in (
                ("time_to_first_token_seconds", "Time from request to first generated text.", self.time_to_first_token),
                ("request_duration_seconds", "Time from request to the end of a chat completion.",
                 self.request_seconds)):
            lines += [f"# HELP qwenvl_{name} {text}", f"# TYPE qwenvl_{name} histogram"]
            lines += hist.lines(f"qwenvl_{name}")
        return "\n".join(lines) + "\n"


def _metric(name: str, kind: str, text: str, value) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {_number(value)}"]


def _number(value) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)
