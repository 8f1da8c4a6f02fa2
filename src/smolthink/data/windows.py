"""Tokenize conversations with the chat template into `input_ids` + an assistant-token mask, and cut long
sequences into rolling windows for a training phase.

The mask comes from the template's `{% generation %}` spans (see `formats.render_spans`): a token is in the loss
when its characters lie inside a span, so exactly what the model generates is trained, including `<|im_end|>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from smolthink.formats import render_spans


def tokenize_conversation(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    enable_thinking: bool = True,
    template: str | None = None,
    tool_style: str = "xml",
) -> tuple[list[int], list[int]]:
    """(input_ids, assistant_mask) for one conversation, rendered with smolthink's template (or `template`)."""
    return next(tokenize_conversations(tokenizer, [(messages, tools)], enable_thinking=enable_thinking,
                                       template=template, tool_style=tool_style))


def tokenize_conversations(
    tokenizer: Any,
    conversations: Iterable[tuple[Any, ...]],
    *,
    enable_thinking: bool = True,
    template: str | None = None,
    tool_style: str = "xml",
    batch_size: int = 512,
) -> Iterator[tuple[list[int], list[int]]]:
    """(input_ids, assistant_mask) per (messages, tools) or (messages, tools, enable_thinking), in order. Texts are
    tokenized in batches: the Rust tokenizer encodes a batch several times faster than one text at a time."""
    batch: list[tuple[str, list[tuple[int, int]]]] = []
    for messages, tools, *mode in conversations:
        thinking = mode[0] if mode else enable_thinking
        batch.append(render_spans(messages, tools, enable_thinking=thinking, template=template, tool_style=tool_style))
        if len(batch) == batch_size:
            yield from _encode(tokenizer, batch)
            batch = []
    if batch:
        yield from _encode(tokenizer, batch)


def _encode(tokenizer: Any, batch: list[tuple[str, list[tuple[int, int]]]]) -> Iterator[tuple[list[int], list[int]]]:
    enc = tokenizer([text for text, _ in batch], add_special_tokens=False, return_offsets_mapping=True)
    for (_, spans), ids, offsets in zip(batch, enc["input_ids"], enc["offset_mapping"]):
        yield ids, _mask(offsets, spans)


def _mask(offsets: list[tuple[int, int]], spans: list[tuple[int, int]]) -> list[int]:
    """1 for tokens whose characters lie inside a generation span. Both lists are sorted: walk them together."""
    mask = [0] * len(offsets)
    span_i = 0
    for t, (start, end) in enumerate(offsets):
        while span_i < len(spans) and spans[span_i][1] <= start:
            span_i += 1
        if span_i < len(spans) and spans[span_i][0] <= start and end <= spans[span_i][1] and end > start:
            mask[t] = 1
    return mask


def rolling_windows(ids: list[int], mask: list[int], window: int, stride: int) -> list[tuple[list[int], list[int]]]:
    """Cut a sequence longer than `window` into windows of `window` tokens starting every `stride` tokens.

    Short sequences come back whole (packing fills rows later). The last window is aligned to the end so the
    tail is always covered. Each window keeps only the loss positions inside it; windows without any are dropped.
    """
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got window={window}, stride={stride}")
    if len(ids) != len(mask):
        raise ValueError(f"ids and mask differ in length: {len(ids)} vs {len(mask)}")
    if len(ids) <= window:
        return [(ids, mask)] if any(mask) else []
    starts = list(range(0, len(ids) - window + 1, stride))
    if starts[-1] != len(ids) - window:
        starts.append(len(ids) - window)
    out = []
    for s in starts:
        m = mask[s : s + window]
        if any(m):
            out.append((ids[s : s + window], m))
    return out
