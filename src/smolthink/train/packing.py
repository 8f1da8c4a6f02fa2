"""Packing: several training windows share one row, and no token attends across a window boundary.

`pack(dataset, max_length, seed)` turns the built data (input_ids + assistant_masks per window) into rows of at most
`max_length` tokens with TRL's best-fit-decreasing packer; each row keeps its windows' lengths (`seq_lengths`).
`PackedCollator` gives every window its own `position_ids` starting at 0, with no attention mask: transformers
would read the window boundaries from the position ids and build a block-diagonal
causal mask; smolthink goes further and flattens a batch into one padding-free row whose attention runs window by
window (`packed_sdpa`), so packed rows compute exactly what the windows would compute one by one
(tests/train/test_packing.py checks the per-token loss).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


def labels_from_masks(input_ids: list[int], assistant_masks: list[int]) -> list[int]:
    """Loss on assistant tokens only (the template's generation spans, which end with <|im_end|>): -100 elsewhere."""
    return [tok if keep else -100 for tok, keep in zip(input_ids, assistant_masks, strict=True)]


def pack(dataset: Any, max_length: int, seed: int) -> Any:
    """Rows of at most `max_length` tokens (columns input_ids, labels, seq_lengths); windows are never cut."""
    from trl import pack_dataset

    longest = max(len(ids) for ids in dataset["input_ids"]) if len(dataset) else 0
    if longest > max_length:
        raise ValueError(
            f"a training window has {longest} tokens but the phase's max_length is {max_length}: "
            "raise max_length or build the data with a smaller window"
        )
    dataset = dataset.map(
        lambda ex: {"labels": labels_from_masks(ex["input_ids"], ex["assistant_masks"])},
        remove_columns=[c for c in dataset.column_names if c != "input_ids"],
        keep_in_memory=True,  # no cache files written into the user's data directory
    )
    # Shuffle first: the packer works on blocks of the dataset, and a row should mix sources and lengths.
    dataset = dataset.shuffle(seed=seed, keep_in_memory=True).flatten_indices(keep_in_memory=True)
    return pack_dataset(dataset, max_length, strategy="bfd", map_kwargs={"keep_in_memory": True})


@dataclass
class PackedCollator:
    """Flatten a batch of packed rows into one padding-free row, with window boundaries for the attention.

    Every window restarts its `position_ids` at 0 and is listed in `cu_seq_lens_q/k` (cumulative lengths, the varlen
    convention of flash attention), so no padding is computed at all. The first token of every window is never a
    target, so the last token of one window is not trained to predict the start of the next.
    """

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        lengths = [n for row in rows for n in row["seq_lengths"]]
        input_ids = torch.tensor([t for row in rows for t in row["input_ids"]])[None]
        labels = torch.tensor([t for row in rows for t in row["labels"]])[None]
        position_ids = torch.cat([torch.arange(n) for n in lengths])[None]
        labels[position_ids == 0] = -100
        cu = torch.tensor([0, *lengths], dtype=torch.int32).cumsum(0, dtype=torch.int32)
        return {
            "input_ids": input_ids,
            "labels": labels,
            "position_ids": position_ids,
            "cu_seq_lens_q": cu,
            "cu_seq_lens_k": cu,
            "max_length_q": max(lengths),
            "max_length_k": max(lengths),
            "num_real_tokens": input_ids.shape[1],
        }


# ---------------------------------------------------------------------------------------------- attention

ATTENTION = "smolthink_packed"


def packed_sdpa(module, query, key, value, attention_mask, cu_seq_lens_q=None, **kwargs):
    """SDPA run window by window (each with the fast causal kernel) when the batch is a packed row.

    A block-diagonal mask over the whole row would also be exact, but PyTorch's CPU kernels with an explicit mask are
    several times slower in bf16 than the `is_causal` path, and cost grows with the row length squared instead of
    the sum of the windows' squares. Without window boundaries (generation, evaluation of plain batches) this is
    ordinary SDPA.
    """
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if cu_seq_lens_q is None or query.shape[0] != 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    bounds = cu_seq_lens_q.tolist()
    outputs = [
        sdpa_attention_forward(module, query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], None, **kwargs)[0]
        for s, e in zip(bounds, bounds[1:])
    ]
    return torch.cat(outputs, dim=1), None  # (batch, tokens, heads, head_dim), like sdpa_attention_forward


def use_packed_attention(model: Any) -> None:
    """Route a model's SDPA/eager attention through `packed_sdpa` (flash-attention models read cu_seq_lens already)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

    AttentionInterface.register(ATTENTION, packed_sdpa)
    # Like flash attention, no dense mask is built: the boundaries travel as cu_seq_lens.
    ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION, flash_attention_mask)
    if model.config._attn_implementation in ("sdpa", "eager", None):
        model.set_attn_implementation(ATTENTION)


def restore_attention(model: Any) -> None:
    if model.config._attn_implementation == ATTENTION:
        model.set_attn_implementation("sdpa")
