"""Inference backends: one small interface, two engines.

A backend turns prompt text into a stream of generated text. It does not know about messages, tools or
templates beyond one fact: which chat template renders prompts for its model (`template`: the model's own when
it is tool-aware, like SmolLM3's, else None for smolthink's SmolLM2 template). Besides `stream` and
`count_tokens`, each says what bounds a prompt: `n_ctx` (the context window, in tokens) and `special_tokens`
(the strings its tokenizer turns into one token id wherever they appear in the text). `stream` takes an optional
`cancel` event: once it is set, generation stops within a token and `stream` returns (the server sets it when a
client goes away, so the model is free for the next request).

- `LlamaCppBackend`: llama-cpp-python on a GGUF file. The default for chat: ~2-3x faster decoding than
  transformers on a CPU, and it reuses the KV cache of a shared prompt prefix between tool-loop rounds.
- `TransformersBackend`: any HF model directory, LoRA adapter directory or hub id, via `generate` and
  `TextIteratorStreamer`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smolthink.formats import is_tool_aware

if TYPE_CHECKING:
    from smolthink.models import ModelRef

BACKENDS = ("auto", "llama", "transformers")


@dataclass
class GenerationConfig:
    """Sampling settings shared by both backends. temperature 0 means greedy."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: list[str] = field(default_factory=list)


@dataclass
class GenerationStats:
    """Measured on the last `stream` call: what the benchmark and `--json` report."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float = 0.0  # time from the call to the first generated text
    total_s: float = 0.0
    finish_reason: str = ""  # "stop" (end of turn or stop string), "length", or "cancelled" (the cancel event)

    @property
    def decode_tokens_per_s(self) -> float:
        decode_s = self.total_s - self.ttft_s
        return (self.completion_tokens - 1) / decode_s if self.completion_tokens > 1 and decode_s > 0 else 0.0


def check_context(prompt_tokens: int, n_ctx: int) -> None:
    """Raise ValueError when a prompt leaves no room for even one generated token in the context window."""
    if prompt_tokens + 1 > n_ctx:
        raise ValueError(f"prompt is {prompt_tokens} tokens, the context window is {n_ctx}")


def default_threads() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


class LlamaCppBackend:
    name = "llama"

    def __init__(self, gguf_path: str | os.PathLike, *, n_ctx: int | None = None, n_threads: int | None = None,
                 thinks: bool = True):
        try:
            import llama_cpp
        except ImportError as e:
            from smolthink.models import ModelError

            raise ModelError(
                f"the llama.cpp backend needs llama-cpp-python, which is not installed ({e}); in a checkout run "
                "`make setup`, or install it with: CMAKE_ARGS=\"$(sh scripts/llama-cmake-args)\" "
                "pip install llama-cpp-python==0.3.36 (or use --backend transformers)"
            ) from None

        self.path = str(gguf_path)
        # n_ctx 0 is llama.cpp's "the context the model was trained with" (8192 for SmolLM2).
        self.llm = llama_cpp.Llama(model_path=self.path, n_ctx=n_ctx or 0, n_threads=n_threads or default_threads(),
                                   verbose=False)
        self.n_ctx = self.llm.n_ctx()
        # The tokens llama.cpp matches as whole strings when tokenizing with special=True (its "special token
        # cache": control, user-defined and unknown tokens).
        parsed = (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
                  | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN)
        vocab = self.llm._model  # llama-cpp-python's model wrapper: the only place it exposes token attributes
        self.special_tokens = tuple(vocab.token_get_text(i) for i in range(self.llm.n_vocab())
                                    if vocab.token_get_attr(i) & parsed)
        own = self.llm.metadata.get("tokenizer.chat_template")
        self.template = own if is_tool_aware(own) else None
        self.thinks = thinks
        self.stats = GenerationStats()

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        start = time.perf_counter()
        # The rendered prompt already holds every control token; llama.cpp must not add a BOS of its own.
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
        check_context(len(tokens), self.n_ctx)
        stats = self.stats = GenerationStats(prompt_tokens=len(tokens))
        chunks = self.llm.create_completion(
            tokens,
            max_tokens=min(gen.max_new_tokens, self.n_ctx - len(tokens)),
            temperature=gen.temperature,
            top_p=gen.top_p,
            stop=gen.stop or None,
            seed=gen.seed,
            stream=True,
        )
        for chunk in chunks:  # lazy: each step decodes one token, so leaving the loop stops generation
            if cancel is not None and cancel.is_set():
                stats.finish_reason = "cancelled"
                chunks.close()
                break
            choice = chunk["choices"][0]
            if choice.get("finish_reason"):
                stats.finish_reason = choice["finish_reason"]
                if not choice["text"]:
                    continue  # the closing chunk usually carries only the reason, no new token
            stats.completion_tokens += 1  # otherwise llama-cpp-python yields once per sampled token
            if choice["text"]:
                if not stats.ttft_s:
                    stats.ttft_s = time.perf_counter() - start
                yield choice["text"]
        stats.total_s = time.perf_counter() - start


class TransformersBackend:
    name = "transformers"

    def __init__(self, ref: ModelRef, *, device: str | None = None, progress=None, n_ctx: int | None = None,
                 thinks: bool = True):
        import torch

        from smolthink.models import load_hf

        self.model, self.tokenizer = load_hf(ref, progress=progress)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device)
        own = self.tokenizer.chat_template
        self.template = own if is_tool_aware(own) else None
        # Every config answers to this name (transformers maps it onto e.g. GPT-2's n_positions).
        self.n_ctx = n_ctx or int(self.model.config.max_position_embeddings)
        self.thinks = thinks
        # Added tokens (special or not) are matched as whole strings before the model's own tokenization.
        self.special_tokens = tuple(t.content for t in self.tokenizer.added_tokens_decoder.values())
        self.stats = GenerationStats()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        start = time.perf_counter()
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        stats = self.stats = GenerationStats(prompt_tokens=int(inputs["input_ids"].shape[1]))
        check_context(stats.prompt_tokens, self.n_ctx)
        max_new = min(gen.max_new_tokens, self.n_ctx - stats.prompt_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=max_new,
            streamer=streamer,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        # generate checks `halt` and `cancel` after every token, so `thread.join()` below returns within a token of
        # either. Stop strings are found in the streamed text, which then sets `halt` (the streamer releases text
        # at word boundaries, so a few tokens past the stop string are generated and cut): generate's own
        # `stop_strings` would first index the whole vocabulary against each string, under the model lock, in
        # time that grows with the string (17 s for a 1000-character one on SmolLM2's vocabulary).
        halt = threading.Event()
        events = (halt,) if cancel is None else (halt, cancel)
        kwargs["stopping_criteria"] = StoppingCriteriaList([_stop_when_set(*events)])
        kwargs.update(_sampling(gen))
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    result["ids"] = self.model.generate(**kwargs)
            except BaseException as e:  # surfaced in the caller's thread below
                result["error"] = e
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        text = ""
        try:
            for piece in streamer:
                if cancel is not None and cancel.is_set():
                    stats.finish_reason = "cancelled"
                    break
                if not piece:
                    continue
                if not stats.ttft_s:
                    stats.ttft_s = time.perf_counter() - start
                text += piece
                cut = _first_stop(text, gen.stop)
                if cut is not None:
                    emitted = len(text) - len(piece)
                    if cut > emitted:
                        yield text[emitted:cut]
                    stats.finish_reason = "stop"
                    break
                yield piece
        finally:  # also when the caller closes this generator early: generate must not outlive the call
            halt.set()
            thread.join()
        if "error" in result:
            raise result["error"]
        new = result["ids"].shape[1] - stats.prompt_tokens
        stats.completion_tokens = int(new)
        if not stats.finish_reason:
            stats.finish_reason = "length" if new >= max_new else "stop"
        stats.total_s = time.perf_counter() - start

    def generate_batch(self, prompts: list[str], gen: GenerationConfig) -> list[tuple[str, str, int]]:
        """Greedy/sampled generation for many prompts at once (left padding): (text, finish_reason, new tokens)
        per prompt. On a CPU, batching amortizes reading the weights over the whole batch."""
        import torch

        tok = self.tokenizer
        side = tok.padding_side
        tok.padding_side = "left"
        try:
            inputs = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        finally:
            tok.padding_side = side
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        kwargs: dict[str, Any] = dict(**inputs, max_new_tokens=gen.max_new_tokens, pad_token_id=pad)
        kwargs.update(_sampling(gen))
        with torch.inference_mode():
            out = self.model.generate(**kwargs)
        results = []
        eos = tok.eos_token_id
        for row in out[:, inputs["input_ids"].shape[1] :].tolist():
            ended = eos in row
            new = row[: row.index(eos)] if ended else row
            results.append((tok.decode(new, skip_special_tokens=True), "stop" if ended else "length", len(new) + int(ended)))
        return results


def _stop_when_set(*events: threading.Event):
    """A transformers StoppingCriteria that ends `generate` once any of `events` is set (built here because
    transformers is imported only when that backend is used)."""
    import torch
    from transformers import StoppingCriteria

    class StopWhenSet(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> torch.BoolTensor:
            stop = any(e.is_set() for e in events)
            return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

    return StopWhenSet()


def _sampling(gen: GenerationConfig) -> dict[str, Any]:
    """`generate` arguments for the sampling settings; seeds torch when sampling. Greedy clears the model's own
    generation_config defaults (temperature/top_p/top_k) so transformers does not warn about unused ones."""
    if gen.temperature > 0:
        import torch

        torch.manual_seed(gen.seed)
        return dict(do_sample=True, temperature=gen.temperature, top_p=gen.top_p)
    return dict(do_sample=False, temperature=None, top_p=None, top_k=None)


def _first_stop(text: str, stops: list[str]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else None


def load_backend(model: str | None, backend: str = "auto", *, progress=None, n_ctx: int | None = None):
    """Resolve a model reference and open it with the requested backend ("auto": llama.cpp for GGUF and the
    embedded model, transformers for HF directories, adapters and hub ids). `n_ctx` None: the context window the
    model was trained with (8192 for SmolLM2)."""
    from smolthink.models import resolve_model

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if n_ctx is not None and n_ctx < 1:
        raise ValueError(f"the context window must be at least 1 token, got {n_ctx}")
    ref = resolve_model(model)
    if backend == "auto":
        backend = "llama" if ref.kind in ("embedded", "gguf") else "transformers"
    if backend == "llama":
        engine: Any = LlamaCppBackend(ref.gguf_path(progress=progress), n_ctx=n_ctx)
        own_template = engine.llm.metadata.get("tokenizer.chat_template")
    else:
        engine = TransformersBackend(ref, progress=progress, n_ctx=n_ctx)
        own_template = engine.tokenizer.chat_template
    engine.thinks = trained_to_think(ref, own_template)
    return engine


def trained_to_think(ref: ModelRef, own_template: str | None) -> bool:
    """Whether a model was trained to reason in `<think>` blocks, which decides the server's default mode.

    A model that was not (the embedded SmolLM2-135M-Instruct, any stock SmolLM2) never closes a pre-filled
    `<think>`, so its whole reply would be unterminated reasoning. Trained to think: a smolthink run (its
    folder, or the folder of a GGUF exported into it, holds `train_config.json`), or a model whose own template
    has a thinking switch (SmolLM3, Qwen3: `enable_thinking`). The embedded models are known untuned.
    """
    if ref.kind == "embedded":
        return False
    if ref.path is not None:
        folder = ref.path if ref.path.is_dir() else ref.path.parent
        if (folder / "train_config.json").is_file():
            return True
    return bool(own_template) and "enable_thinking" in own_template
