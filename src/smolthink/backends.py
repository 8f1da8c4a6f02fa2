"""Inference backends: one small interface, two engines.

A backend turns prompt text into a stream of generated text. It does not know about messages, tools or
templates beyond two facts: which chat template renders prompts for its model (`template`: the model's own when
it is tool-aware, like SmolLM3's, else None for smolthink's SmolLM2 template) and how its tools are rendered
(`tool_style`: "xml", or "python" for a model trained on SmolLM3's python_tools); `render_prompt` uses both. Besides `stream` and
`count_tokens`, each says what bounds a prompt: `n_ctx` (the context window, in tokens) and `special_tokens`
(the strings its tokenizer turns into one token id wherever they appear in the text). `stream` takes an optional
`cancel` event: once it is set, generation stops within a token and `stream` returns (the server sets it when a
client goes away, so the model is free for the next request).

- `LlamaCppBackend`: llama-cpp-python on a GGUF file. The default for chat: ~2-3x faster decoding than
  transformers on a CPU, and it reuses the KV cache of a shared prompt prefix between tool-loop rounds.
- `TransformersBackend`: any HF model directory, LoRA adapter directory or hub id, via `generate` and
  `TextIteratorStreamer`.

Both enforce `GenerationConfig.grammar` (`supports_grammar`), the same GBNF string: llama.cpp with its grammar
sampler, transformers with xgrammar (whose EBNF reads GBNF) as a logits processor, so a constrained request
allows the same texts on either backend.
"""

from __future__ import annotations

import codecs
import collections
import ctypes
import json
import os
import queue
import threading
import time

import numpy as np
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smolthink.errors import UserError
from smolthink.formats import TOOL_STYLES, is_tool_aware, render

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
    grammar: str | None = None  # GBNF (llama.cpp's grammar format) the whole output must match; see supports_grammar


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


def default_gpu_layers() -> int:
    """Layers llama.cpp offloads by default: all (-1) when this llama-cpp-python build has a GPU backend (CUDA,
    Metal, Vulkan…), else none (0)."""
    try:
        import llama_cpp
    except ImportError:
        return 0
    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


def torch_device() -> str:
    """The device the transformers backend runs on: CUDA, then Apple's MPS, then the CPU."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class LlamaCppBackend:
    name = "llama"
    tool_style = "xml"  # load_backend sets what the model was trained with (trained_tool_style)
    supports_grammar = True  # constrained decoding: llama.cpp's grammar sampler

    def __init__(self, gguf_path: str | os.PathLike, *, n_ctx: int | None = None, n_threads: int | None = None,
                 thinks: bool = True, gpu_layers: int | None = None):
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
        self.gpu_layers = default_gpu_layers() if gpu_layers is None else gpu_layers
        self.llm = llama_cpp.Llama(model_path=self.path, n_ctx=n_ctx or 0, n_threads=n_threads or default_threads(),
                                   n_gpu_layers=self.gpu_layers, verbose=False)
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
        grammar = None
        if gen.grammar:
            from llama_cpp import LlamaGrammar

            grammar = LlamaGrammar.from_string(gen.grammar, verbose=False)
        chunks = self.llm.create_completion(
            tokens,
            max_tokens=min(gen.max_new_tokens, self.n_ctx - len(tokens)),
            temperature=gen.temperature,
            top_p=gen.top_p,
            stop=gen.stop or None,
            seed=gen.seed,
            grammar=grammar,
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


_TOKEN_DATA = [("id", "<i4"), ("logit", "<f4"), ("p", "<f4")]  # llama_token_data, as numpy sees it
_GRAMMAR_TOP = 64  # candidates a grammar is tried on before the whole vocabulary


@dataclass(eq=False)
class _Sequence:
    """One request inside `BatchedLlamaBackend`: its prompt still to read, its sampler, the text it has made."""

    pending: collections.deque[int]  # prompt tokens not yet in the KV cache
    gen: GenerationConfig
    max_new: int
    stats: GenerationStats
    cancel: threading.Event | None
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)  # ("text", str) … then ("done", None)
    left: threading.Event = field(default_factory=threading.Event)  # the consumer stopped reading
    seq_id: int = -1
    n_past: int = 0  # positions in the KV cache
    last: int | None = None  # the sampled token still to feed
    chain: Any = None
    grammar: Any = None
    held: str = ""  # text that might be the start of a stop string
    decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    def stopped(self) -> bool:
        return self.left.is_set() or (self.cancel is not None and self.cancel.is_set())


class BatchedLlamaBackend:
    """llama.cpp decoding several requests together, as llama-server's `--parallel` does.

    One scheduler thread owns the llama context; `stream` (thread-safe) submits a request and yields its text as
    the scheduler makes it. Each step puts into one batch the last sampled token of every decoding request and
    the next prompt chunk of requests still reading theirs; one `llama_decode` computes them all, reading the
    weights once for the whole batch, which is what makes it faster than one request at a time (a CPU decodes
    one sequence at the speed it reads the weights). Each request has its own sequence id in the unified KV
    cache (`parallel` × `n_ctx` cells: every request gets the whole window), its own sampler chain and
    grammar, and its cells are freed when it ends.

    Sampling mirrors `Llama.create_completion`: greedy at temperature 0, else top-k 40, top-p, min-p 0.05,
    temperature, seeded. A grammar is checked against the sampled token first and applied to the whole
    vocabulary only when it rejects that token (llama.cpp's common sampler does the same): constrained
    decoding then costs almost nothing while the model follows the grammar, where applying it to all 49k
    candidates every token costs ~0.5 s a token on two cores.
    """

    name = "llama"
    tool_style = "xml"  # load_backend sets what the model was trained with (trained_tool_style)
    supports_grammar = True

    def __init__(self, gguf_path: str | os.PathLike, *, n_ctx: int | None = None, parallel: int = 4,
                 n_threads: int | None = None, n_batch: int = 512, thinks: bool = True, gpu_layers: int | None = None):
        import llama_cpp
        from llama_cpp import _internals
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp logs every context and graph it builds otherwise
        self._ll = llama_cpp
        self.path = str(gguf_path)
        model_params = llama_cpp.llama_model_default_params()
        self.gpu_layers = model_params.n_gpu_layers = default_gpu_layers() if gpu_layers is None else gpu_layers
        self._model = _internals.LlamaModel(path_model=self.path, params=model_params, verbose=False)
        self.n_ctx = n_ctx or self._model.n_ctx_train()
        self.parallel = parallel
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = self.n_ctx * parallel
        params.n_batch = params.n_ubatch = n_batch
        params.n_seq_max = parallel
        params.kv_unified = True  # measured on BFCL prompts: 59 tok/s against 46 with a cache per sequence
        params.n_threads = params.n_threads_batch = n_threads or default_threads()
        self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._vocab = self._model.vocab
        self.n_batch = n_batch
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        n_vocab = self._model.n_vocab()
        parsed = (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
                  | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN)
        self.special_tokens = tuple(self._model.token_get_text(i) for i in range(n_vocab)
                                    if self._model.token_get_attr(i) & parsed)
        own = self._model.metadata().get("tokenizer.chat_template")
        self.template = own if is_tool_aware(own) else None
        self.thinks = thinks
        self._n_vocab = n_vocab
        self._local = threading.local()
        self._inbox: queue.Queue[_Sequence] = queue.Queue()
        threading.Thread(target=self._run, name="llama-batch", daemon=True).start()

    @property
    def stats(self) -> GenerationStats:
        """The stats of the calling thread's last `stream` (requests run side by side, each in its thread)."""
        return getattr(self._local, "stats", GenerationStats())

    def count_tokens(self, text: str) -> int:
        return len(self._tokenize(text))

    def _tokenize(self, text: str) -> list[int]:
        return self._model.tokenize(text.encode("utf-8"), add_bos=False, special=True)

    def stream(self, prompt: str, gen: GenerationConfig, cancel: threading.Event | None = None) -> Iterator[str]:
        start = time.perf_counter()
        tokens = self._tokenize(prompt)
        check_context(len(tokens), self.n_ctx)
        stats = self._local.stats = GenerationStats(prompt_tokens=len(tokens))
        max_new = min(gen.max_new_tokens, self.n_ctx - len(tokens))
        seq = _Sequence(collections.deque(tokens), gen, max_new, stats, cancel)
        self._inbox.put(seq)
        try:
            while True:
                kind, value = seq.out.get()
                if kind == "error":
                    raise value
                if kind == "done":
                    break
                if not stats.ttft_s:
                    stats.ttft_s = time.perf_counter() - start
                yield value
        finally:  # also when the caller stops reading: the scheduler ends the sequence at its next step
            seq.left.set()
            stats.total_s = time.perf_counter() - start

    def generate_batch(self, prompts: list[str], gen: GenerationConfig) -> list[tuple[str, str, int]]:
        """(text, finish_reason, new tokens) per prompt, all decoded together `parallel` at a time."""
        from concurrent.futures import ThreadPoolExecutor

        def one(prompt: str) -> tuple[str, str, int]:
            text = "".join(self.stream(prompt, gen))
            return text, self.stats.finish_reason, self.stats.completion_tokens

        with ThreadPoolExecutor(max_workers=len(prompts) or 1) as pool:
            return list(pool.map(one, prompts))

    # ------------------------------------------------------------------------------ the scheduler thread

    def _run(self) -> None:
        free = list(range(self.parallel - 1, -1, -1))
        active: list[_Sequence] = []
        while True:
            while free:  # admit waiting requests; sleep here when there is nothing to do
                try:
                    seq = self._inbox.get(block=not active)
                except queue.Empty:
                    break
                if seq.stopped():
                    self._finish(seq, "cancelled", free)
                    continue
                try:
                    self._open(seq, free.pop())
                except Exception as e:  # e.g. a grammar llama.cpp does not parse
                    seq.out.put(("error", e))
                    self._finish(seq, "error", free, notify=False)
                    continue
                active.append(seq)
            for seq in active:
                if seq.stopped():
                    self._finish(seq, "cancelled", free)
            active = [s for s in active if s.seq_id >= 0]
            if not active:
                continue
            try:
                self._step(active, free)
            except Exception as e:  # a failed decode fails the requests in it, not the server
                for seq in active:
                    seq.out.put(("error", e))
                    self._finish(seq, "error", free, notify=False)
            active = [s for s in active if s.seq_id >= 0]

    def _open(self, seq: _Sequence, seq_id: int) -> None:
        ll, gen = self._ll, seq.gen
        seq.seq_id = seq_id
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if gen.temperature > 0:
            for sampler in (ll.llama_sampler_init_top_k(40), ll.llama_sampler_init_top_p(gen.top_p, 1),
                            ll.llama_sampler_init_min_p(0.05, 1), ll.llama_sampler_init_temp(gen.temperature),
                            ll.llama_sampler_init_dist(gen.seed & 0xFFFFFFFF)):
                ll.llama_sampler_chain_add(chain, sampler)
        else:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
        seq.chain = chain
        if gen.grammar:
            seq.grammar = ll.llama_sampler_init_grammar(self._vocab, gen.grammar.encode("utf-8"), b"root")
            if not seq.grammar:
                raise ValueError("the grammar does not parse (llama.cpp rejected it)")

    def _step(self, active: list[_Sequence], free: list[int]) -> None:
        """One llama_decode for every active sequence, then one sampled token for each that is decoding."""
        batch, n, sample_at = self._batch, 0, []

        def add(seq: _Sequence, token: int, logits: bool) -> None:
            nonlocal n
            batch.token[n], batch.pos[n], batch.n_seq_id[n] = token, seq.n_past, 1
            batch.seq_id[n][0], batch.logits[n] = seq.seq_id, logits
            if logits:
                sample_at.append((seq, n))
            seq.n_past += 1
            n += 1

        for seq in active:  # decoding sequences first: one token each
            if not seq.pending and seq.last is not None:
                add(seq, seq.last, True)
        for seq in active:  # then prompt chunks in the room left
            while seq.pending and n < self.n_batch:
                token = seq.pending.popleft()
                add(seq, token, not seq.pending)  # logits for the prompt's last token only
        batch.n_tokens = n
        if n == 0:
            return
        rc = self._ll.llama_decode(self._ctx.ctx, batch)
        if rc != 0:
            raise RuntimeError(f"llama_decode failed ({rc})")
        for seq, i in sample_at:
            self._emit(seq, self._sample(seq, i), free)

    def _sample(self, seq: _Sequence, i: int) -> int:
        token = self._ll.llama_sampler_sample(seq.chain, self._ctx.ctx, i)
        if seq.grammar:
            if not self._allowed(seq, np.array([token])).size:
                # Rejected: constrain the likeliest candidates (the constrained argmax is the first allowed one
                # in logit order), and the whole vocabulary only when none of them is allowed.
                logits = np.ctypeslib.as_array(self._ll.llama_get_logits_ith(self._ctx.ctx, i), shape=(self._n_vocab,))
                top = np.argpartition(-logits, _GRAMMAR_TOP)[:_GRAMMAR_TOP]
                top = top[np.argsort(-logits[top], kind="stable")]
                token = self._constrained(seq, logits, top)
                if token is None:
                    token = self._constrained(seq, logits, np.argsort(-logits))
            self._ll.llama_sampler_accept(seq.grammar, int(token))
        return int(token)

    def _allowed(self, seq: _Sequence, ids: np.ndarray) -> np.ndarray:
        """The subset of `ids` (in order) that the grammar allows next."""
        cand = (self._ll.llama_token_data * len(ids))()
        view = np.frombuffer(cand, dtype=_TOKEN_DATA)
        view["id"], view["logit"], view["p"] = ids, 1.0, 0.0
        array = self._ll.llama_token_data_array(cand, len(ids), -1, False)
        self._ll.llama_sampler_apply(seq.grammar, ctypes.byref(array))
        return ids[np.isfinite(view["logit"])]

    def _constrained(self, seq: _Sequence, logits: np.ndarray, ids: np.ndarray) -> int | None:
        """Sample with the sequence's chain among the allowed tokens of `ids`; None if none is allowed."""
        allowed = self._allowed(seq, ids)
        if not allowed.size:
            return None
        if seq.gen.temperature <= 0:
            return int(allowed[0])  # `ids` are in logit order
        cand = (self._ll.llama_token_data * len(allowed))()
        view = np.frombuffer(cand, dtype=_TOKEN_DATA)
        view["id"], view["logit"], view["p"] = allowed, logits[allowed], 0.0
        array = self._ll.llama_token_data_array(cand, len(allowed), -1, False)
        self._ll.llama_sampler_apply(seq.chain, ctypes.byref(array))
        return int(cand[array.selected].id)

    def _emit(self, seq: _Sequence, token: int, free: list[int]) -> None:
        ll = self._ll
        if ll.llama_vocab_is_eog(self._vocab, token):
            self._finish(seq, "stop", free)
            return
        seq.stats.completion_tokens += 1
        seq.last = token
        buf = ctypes.create_string_buffer(64)
        size = ll.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        text = seq.held + seq.decoder.decode(buf.raw[: max(size, 0)])
        cut = _first_stop(text, seq.gen.stop)
        if cut is not None:
            seq.held = ""
            if cut:
                seq.out.put(("text", text[:cut]))
            self._finish(seq, "stop", free)
            return
        keep = max((k for s in seq.gen.stop for k in range(min(len(s) - 1, len(text)), 0, -1)
                    if text.endswith(s[:k])), default=0)
        seq.held = text[len(text) - keep :]
        if len(text) > keep:
            seq.out.put(("text", text[: len(text) - keep]))
        if seq.stats.completion_tokens >= seq.max_new:
            self._finish(seq, "length", free)

    def _finish(self, seq: _Sequence, reason: str, free: list[int], *, notify: bool = True) -> None:
        ll = self._ll
        if reason in ("stop", "length"):
            rest = seq.held + seq.decoder.decode(b"", final=True)
            if rest and not (reason == "stop" and seq.gen.stop and _first_stop(rest, seq.gen.stop) is not None):
                seq.out.put(("text", rest))
        seq.stats.finish_reason = reason
        if seq.seq_id >= 0:
            ll.llama_memory_seq_rm(ll.llama_get_memory(self._ctx.ctx), seq.seq_id, -1, -1)
            free.append(seq.seq_id)
            seq.seq_id = -1
        for sampler in (seq.chain, seq.grammar):
            if sampler:
                ll.llama_sampler_free(sampler)
        seq.chain = seq.grammar = None
        if notify:
            seq.out.put(("done", None))


class TransformersBackend:
    name = "transformers"
    tool_style = "xml"  # load_backend sets what the model was trained with (trained_tool_style)
    supports_grammar = True  # constrained decoding: xgrammar runs the GBNF grammar as a logits processor

    def __init__(self, ref: ModelRef, *, device: str | None = None, progress=None, n_ctx: int | None = None,
                 thinks: bool = True, trust_remote_code: bool = False):
        from smolthink.models import load_hf

        self.model, self.tokenizer = load_hf(ref, progress=progress, trust_remote_code=trust_remote_code)
        if getattr(self.model.config, "output_router_logits", False):
            # A Mixture-of-Experts checkpoint saved with router logits on would compute its load-balancing loss at
            # every decoding step, which serves no purpose here and fails on padded batches with a KV cache
            # (transformers masks the current step's router logits with the whole attention mask).
            self.model.config.output_router_logits = False
        self.device = device or torch_device()
        self.model.to(self.device)
        own = self.tokenizer.chat_template
        self.template = own if is_tool_aware(own) else None
        # Every config answers to this name (transformers maps it onto e.g. GPT-2's n_positions).
        self.n_ctx = n_ctx or int(self.model.config.max_position_embeddings)
        self.thinks = thinks
        # Added tokens (special or not) are matched as whole strings before the model's own tokenization.
        self.special_tokens = tuple(t.content for t in self.tokenizer.added_tokens_decoder.values())
        self.stats = GenerationStats()
        self._grammars: Any = None  # xgrammar's GrammarCompiler for this tokenizer, made on the first grammar
        self._grammars_lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_grammar(self, grammar: str) -> None:
        """Compile a GBNF grammar for this vocabulary, as `stream` will (xgrammar caches it, so the generation
        does not compile it again): ValueError when xgrammar rejects it, UserError when xgrammar is missing. The
        server calls it before queueing a constrained request, so either is a 400, not a failed generation."""
        self._compile(grammar)

    def _compile(self, grammar: str) -> Any:
        xgr = _xgrammar()
        with self._grammars_lock:
            if self._grammars is None:
                # The bitmask must cover the logits, which may be padded past the tokenizer's vocabulary; a
                # finished grammar allows only the tokens `generate` stops on, so it ends the turn there.
                head = self.model.get_output_embeddings()
                vocab = int(head.weight.shape[0]) if head is not None else int(self.model.config.vocab_size)
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=vocab,
                                                          stop_token_ids=self._eos_ids())
                self._grammars = xgr.GrammarCompiler(info, max_threads=1, cache_limit_bytes=GRAMMAR_CACHE_BYTES)
            try:
                return self._grammars.compile_grammar(grammar, root_rule_name="root")
            except Exception as e:  # xgrammar raises RuntimeError for a grammar it does not parse
                raise ValueError(f"the grammar does not parse (xgrammar rejected it: {e})") from None

    def _eos_ids(self) -> list[int]:
        eos = getattr(self.model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return [int(i) for i in (eos if isinstance(eos, list) else [eos]) if i is not None]

    def _constrain(self, kwargs: dict[str, Any], gen: GenerationConfig) -> None:
        """Add the logits processor that enforces `gen.grammar` (over the whole output) to `generate`'s arguments:
        before sampling, every token the grammar does not allow next gets -inf. One processor per generate call
        (it keeps the matcher state); a batch gets one matcher per row."""
        if gen.grammar:
            from transformers import LogitsProcessorList

            compiled = self._compile(gen.grammar)
            kwargs["logits_processor"] = LogitsProcessorList([_xgrammar().contrib.hf.LogitsProcessor(compiled)])

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
        self._constrain(kwargs, gen)
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
        self._constrain(kwargs, gen)
        with torch.inference_mode():
            out = self.model.generate(**kwargs)
        results = []
        eos = tok.eos_token_id
        for row in out[:, inputs["input_ids"].shape[1] :].tolist():
            ended = eos in row
            new = row[: row.index(eos)] if ended else row
            results.append((tok.decode(new, skip_special_tokens=True), "stop" if ended else "length", len(new) + int(ended)))
        return results


GRAMMAR_CACHE_BYTES = 64 << 20  # compiled grammars xgrammar keeps per backend (one per distinct request schema)


def _xgrammar() -> Any:
    """xgrammar, imported when a transformers generation is first constrained (the `serve` extra installs it)."""
    try:
        import xgrammar
    except ImportError as e:
        raise UserError("constrained decoding on the transformers backend (tool_choice \"required\" or a named "
                        "function, response_format json_object / json_schema) needs xgrammar, which is not "
                        f"installed ({e}): pip install 'smolthink[serve]', or serve with --backend llama") from None
    return xgrammar


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


def load_backend(model: str | None, backend: str = "auto", *, progress=None, n_ctx: int | None = None,
                 parallel: int | None = None, gpu_layers: int | None = None, trust_remote_code: bool = False):
    """Resolve a model reference and open it with the requested backend ("auto": llama.cpp for GGUF and the
    embedded model, transformers for HF directories, adapters and hub ids). `n_ctx` None: the context window the
    model was trained with (8192 for SmolLM2). `parallel` set: llama.cpp decodes up to that many requests
    together (`BatchedLlamaBackend`, what the server and the batched eval use). `gpu_layers`: layers llama.cpp
    offloads to the GPU (-1 all; None: `default_gpu_layers()`); the transformers backend uses `torch_device()`.
    `trust_remote_code`: a transformers model may run the Python code it ships (see `smolthink.models.load_hf`)."""
    from smolthink.models import resolve_model

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if n_ctx is not None and n_ctx < 1:
        raise ValueError(f"the context window must be at least 1 token, got {n_ctx}")
    ref = resolve_model(model)
    if backend == "auto":
        backend = "llama" if ref.kind in ("embedded", "gguf") else "transformers"
    if backend == "llama" and parallel:
        engine: Any = BatchedLlamaBackend(ref.gguf_path(progress=progress), n_ctx=n_ctx, parallel=parallel,
                                          gpu_layers=gpu_layers)
        metadata = engine._model.metadata()
    elif backend == "llama":
        engine = LlamaCppBackend(ref.gguf_path(progress=progress), n_ctx=n_ctx, gpu_layers=gpu_layers)
        metadata = engine.llm.metadata
    else:
        engine = TransformersBackend(ref, progress=progress, n_ctx=n_ctx, trust_remote_code=trust_remote_code)
        metadata = {"tokenizer.chat_template": engine.tokenizer.chat_template}
    engine.thinks = trained_to_think(ref, metadata.get("tokenizer.chat_template"),
                                     metadata.get(THINKING_METADATA_KEY))
    engine.tool_style = trained_tool_style(ref, metadata.get(TOOL_STYLE_METADATA_KEY))
    return engine


def render_prompt(backend: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None, *,
                  enable_thinking: bool = True) -> str:
    """The prompt `backend`'s model reads next for a conversation: rendered in the format it was trained in (its
    own tool-aware template and tool style, else smolthink's), ending with the assistant's generation prompt.
    Chat, the tasks, serve, eval and distill all render through here."""
    return render(messages, tools, enable_thinking=enable_thinking, add_generation_prompt=True,
                  template=backend.template, tool_style=backend.tool_style)


THINKING_METADATA_KEY = "smolthink.trained_to_think"  # a GGUF key an export may write (bool)
TOOL_STYLE_METADATA_KEY = "smolthink.tool_style"  # a GGUF key an export writes for a python_tools model


def trained_tool_style(ref: ModelRef, gguf_value: Any = None) -> str:
    """How the model's tools are rendered: "python" (SmolLM3's python_tools; calls `<code>f(x=1)</code>`) for a
    smolthink run trained on data built with `tool_style: python` (its `train_config.json` says so), a GGUF
    exported from one (`smolthink.tool_style`) or an hf export of one; else "xml" (`<tool_call>` JSON)."""
    if gguf_value is not None:
        style = str(gguf_value)
        if style not in TOOL_STYLES:
            raise UserError(f"{ref.path}: the GGUF key {TOOL_STYLE_METADATA_KEY} is {style!r}, expected one of "
                            f"{', '.join(TOOL_STYLES)}")
        return style
    if ref.path is None:
        return "xml"
    folder = ref.path if ref.path.is_dir() else ref.path.parent
    for name in ("train_config.json", ".smolthink-export.json"):  # a run; an hf export (export.EXPORT_MARKER)
        try:
            config = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        style = config.get("tool_style", "xml") if isinstance(config, dict) else "xml"
        return style if style in TOOL_STYLES else "xml"
    return "xml"


def trained_to_think(ref: ModelRef, own_template: str | None, gguf_flag: Any = None) -> bool:
    """Whether a model was trained to reason in `<think>` blocks, which decides the server's default mode.

    A model that was not (the embedded SmolLM2-135M-Instruct, any stock SmolLM2) never closes a pre-filled
    `<think>`, so its whole reply would be unterminated reasoning. Trained to think: a smolthink run (its
    folder, or the folder of a GGUF exported into it, holds `train_config.json`; a GGUF that carries
    `smolthink.trained_to_think`), or a model whose own template has a thinking switch (SmolLM3, Qwen3:
    `enable_thinking`). The embedded models are known untuned.
    """
    if ref.kind == "embedded":
        return False
    if gguf_flag is not None:  # llama.cpp reports metadata values as strings
        return str(gguf_flag).lower() in ("true", "1")
    if ref.path is not None:
        folder = ref.path if ref.path.is_dir() else ref.path.parent
        if (folder / "train_config.json").is_file():
            return True
    return bool(own_template) and "enable_thinking" in own_template
