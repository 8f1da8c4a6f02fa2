"""Packing: the collated batch trains on exactly the assistant tokens, and a packed row computes what the separate
windows compute (per-token loss equal), so packing never lets one example see another."""

from __future__ import annotations

import torch
from datasets import load_from_disk

from smolthink.train.packing import PackedCollator, labels_from_masks, pack, use_packed_attention


def windows(tiny_data, phase="short"):
    return load_from_disk(str(tiny_data / phase))["train"].select_columns(["input_ids", "assistant_masks"])


def test_collated_batch_trains_on_every_assistant_turn_end_and_nothing_across_windows(tiny_data, smollm2_tokenizer):
    rows = pack(windows(tiny_data), 384, seed=0)
    assert len(rows) < len(windows(tiny_data))  # several windows share a row
    assert all(sum(r["seq_lengths"]) <= 384 for r in rows)
    batch = PackedCollator()([rows[i] for i in range(3)])
    ids, labels, pos, cu = batch["input_ids"][0], batch["labels"][0], batch["position_ids"][0], batch["cu_seq_lens_q"]
    assert ids.shape == labels.shape == pos.shape and batch["num_real_tokens"] == ids.numel()
    assert cu[-1] == ids.numel() and (pos[cu[:-1].long()] == 0).all()  # every window restarts its positions
    assert (labels[pos == 0] == -100).all()  # no window's first token is a target
    im_end = smollm2_tokenizer.convert_tokens_to_ids("<|im_end|>")
    im_start = smollm2_tokenizer.convert_tokens_to_ids("<|im_start|>")
    for s, e in zip(cu[:-1].tolist(), cu[1:].tolist()):
        window_ids, window_labels = ids[s:e].tolist(), labels[s:e].tolist()
        # the end of every assistant turn (<|im_end|> after "<|im_start|>assistant") is in the loss: EOS is learned
        for i, tok in enumerate(window_ids):
            if tok == im_end and _in_assistant_turn(window_ids, i, im_start, smollm2_tokenizer):
                assert window_labels[i] == im_end
        trained = [t for t in window_labels if t != -100]
        assert trained and all(t != -100 for t in trained)


def _in_assistant_turn(ids, end, im_start, tokenizer):
    starts = [i for i in range(end) if ids[i] == im_start]
    if not starts:
        return False  # the window begins inside a turn: its role is unknown here
    role = tokenizer.decode(ids[starts[-1] + 1:starts[-1] + 3])
    return role.startswith("assistant")


def test_labels_follow_the_mask():
    assert labels_from_masks([5, 6, 7, 8], [0, 1, 1, 0]) == [-100, 6, 7, -100]


def test_packed_row_per_token_loss_equals_separate_windows(tiny_model_dir, tiny_data):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    use_packed_attention(model)
    rows = pack(windows(tiny_data), 384, seed=0)
    row = next(r for r in rows if len(r["seq_lengths"]) >= 3)
    batch = PackedCollator()([row])
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False,
                       cu_seq_lens_q=batch["cu_seq_lens_q"], cu_seq_lens_k=batch["cu_seq_lens_k"]).logits[0]
        cu = batch["cu_seq_lens_q"].tolist()
        separate = torch.cat([model(input_ids=batch["input_ids"][:, s:e], use_cache=False).logits[0]
                              for s, e in zip(cu, cu[1:])])
    targets = batch["labels"][0]

    def per_token(logits):
        # position t predicts token t+1; positions whose target is -100 give 0
        return torch.nn.functional.cross_entropy(logits[:-1], targets[1:], reduction="none", ignore_index=-100)

    assert torch.allclose(per_token(packed), per_token(separate), atol=1e-5)
    # and the same row without window boundaries (one long sequence) differs: the test can tell
    with torch.no_grad():
        leaky = model(input_ids=batch["input_ids"], use_cache=False).logits[0]
    assert not torch.allclose(per_token(leaky), per_token(separate), atol=1e-3)


def test_pack_refuses_windows_longer_than_a_row(tiny_data):
    import pytest

    with pytest.raises(ValueError, match="max_length"):
        pack(windows(tiny_data, "long"), 64, seed=0)
