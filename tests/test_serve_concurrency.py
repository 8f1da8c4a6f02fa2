"""Requests decode together (issue #19): the server runs up to `backend.parallel` generations at once, and
llama.cpp's batched engine (`BatchedLlamaBackend`, `serve --parallel N`) keeps each request's sequence, sampler
and grammar apart. Scripted backends for the scheduling, the embedded model (slow) for the engine."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_serve import TIME, WEATHER, ScriptedBackend, client, serving

from smolthink.backends import BatchedLlamaBackend, GenerationConfig
from smolthink.formats import render
from smolthink.models import embedded_f16_gguf
from smolthink.serve import create_app


class CountingBackend(ScriptedBackend):
    """Counts how many generations run at the same time."""

    def __init__(self, parallel: int | None) -> None:
        super().__init__(delay_s=0.02)
        if parallel is not None:
            self.parallel = parallel
        self.running = self.most = 0
        self.guard = threading.Lock()

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        with self.guard:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            yield from super().stream(prompt, gen, cancel)
        finally:
            with self.guard:
                self.running -= 1


@pytest.mark.parametrize("parallel, most", [(None, 1), (1, 1), (4, 4)])
def test_the_server_runs_as_many_generations_as_the_backend_takes(parallel, most):
    backend = CountingBackend(parallel)
    with serving(create_app(backend, model_name="m")) as url:
        c = client(url)

        def one(i: int) -> str:
            out = c.chat.completions.create(model="m", messages=[{"role": "user", "content": f"q{i}"}])
            return out.choices[0].finish_reason

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(one, range(8))) == ["stop"] * 8
    assert backend.most == most and len(backend.prompts) == 8


# ------------------------------------------------------------------------------------------ the batched engine


@pytest.fixture(scope="module")
def engine() -> BatchedLlamaBackend:
    return BatchedLlamaBackend(embedded_f16_gguf(), n_ctx=1024, parallel=4, n_threads=1, thinks=False)


def _prompt(text: str) -> str:
    return render([{"role": "user", "content": text}], enable_thinking=False, add_generation_prompt=True)


QUESTIONS = ["Name three rivers.", "What is 2 + 2?", "Write a haiku about snow.", "Who wrote Hamlet?",
             "Describe a cat.", "What is the capital of Japan?"]


@pytest.mark.slow
def test_batched_requests_keep_their_own_sequences(engine):
    """Six prompts, four slots: each reply, decoded beside the others, starts like the same request decoded alone
    (a reply built from another sequence's cache would not). Exact equality is not asserted: batched kernels
    round differently and may flip a near-tie late in a reply; bench/bench_serve.py measures how often."""
    gen = GenerationConfig(max_new_tokens=24)
    alone = ["".join(engine.stream(_prompt(q), gen)) for q in QUESTIONS]
    together = [text for text, _, _ in engine.generate_batch([_prompt(q) for q in QUESTIONS], gen)]
    for q, a, t in zip(QUESTIONS, alone, together):
        assert a[:20] == t[:20], (q, a, t)
    assert sum(a == t for a, t in zip(alone, together)) >= len(QUESTIONS) // 2


@pytest.mark.slow
def test_batched_engine_stops_at_stop_strings_lengths_and_cancels(engine):
    whole = "".join(engine.stream(_prompt("Count from one to ten in words."), GenerationConfig(max_new_tokens=40)))
    assert engine.stats.finish_reason == "length" and engine.stats.completion_tokens == 40
    word = whole.split()[2]
    cut = "".join(engine.stream(_prompt("Count from one to ten in words."),
                                GenerationConfig(max_new_tokens=40, stop=[word])))
    assert cut == whole[: whole.index(word)] and engine.stats.finish_reason == "stop"
    cancel = threading.Event()
    pieces = engine.stream(_prompt("Tell me a long story."), GenerationConfig(max_new_tokens=500), cancel)
    next(pieces)
    cancel.set()
    list(pieces)
    assert engine.stats.finish_reason == "cancelled" and engine.stats.completion_tokens < 500
    # a reader that walks away frees its slot too: four abandoned streams, then four more requests still run
    for _ in range(4):
        abandoned = engine.stream(_prompt("Tell me a long story."), GenerationConfig(max_new_tokens=500))
        next(abandoned)
        abandoned.close()
    outs = engine.generate_batch([_prompt(q) for q in QUESTIONS[:4]], GenerationConfig(max_new_tokens=4))
    assert [n for _, _, n in outs] == [4, 4, 4, 4]


@pytest.mark.slow
def test_concurrent_constrained_requests_keep_their_own_grammars(engine):
    with serving(create_app(engine, model_name="m")) as url:
        c = client(url).with_options(timeout=300)

        def one(name: str):
            out = c.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Paris, please."}], tools=[WEATHER, TIME],
                tool_choice={"type": "function", "function": {"name": name}}, max_tokens=80)
            (call,) = out.choices[0].message.tool_calls
            return call.function.name, json.loads(call.function.arguments)

        names = ["get_weather", "get_time"] * 3
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, names))
    assert [n for n, _ in results] == names
    assert all(set(args) >= ({"city"} if n == "get_weather" else {"tz", "hours24"}) for n, args in results)
