"""GGUF export of Qwen3 dense models, checked against transformers as tests/test_export.py checks Llama.

Qwen3 differs from Llama where a converter can go wrong silently: no q/k rope permutation (llama.cpp's qwen3
rotates halves, as transformers does), per-head q_norm / k_norm weights, and a head size (32 here) that is not
hidden_size / heads (16). The tiny models carry the real SmolLM2 tokenizer, the only one GGUF export knows.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from test_export import PROMPTS, N, hf_greedy, llama, llama_greedy, load, logit_error

from smolthink.export import ExportError, export_model

HEAD_DIM = 32


@pytest.fixture(scope="module", params=[False, True], ids=["untied", "tied"])
def qwen3(request, tmp_path_factory, smollm2_tokenizer):
    """(model dir, f16 GGUF, q8_0 GGUF, greedy tokens of transformers fp32 on PROMPTS) for a tiny random Qwen3.

    Made a meaningful probe as test_export.probe_dir makes the Llama one: heavy-tailed output rows and layer outputs
    scaled by 3, so the top logit wins by a clear margin and the untied model's tokens depend on the prompt.
    Measured with these seeds: the top logit leads by >= 0.21 % of the largest one along the untied answers, and
    f16 moves logits by at most 0.3 % of it. The q/k norm weights are random, so a converter that
    dropped or misplaced them would change the logits (they start as ones). Exporting with the Llama permutation
    changes every logit by more than the largest one. The tied model still repeats one token: its logits are the
    check there, and that no output.weight is written.
    """
    from transformers import Qwen3Config, Qwen3ForCausalLM

    tied = request.param
    config = Qwen3Config(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=HEAD_DIM, max_position_embeddings=2048,
                         tie_word_embeddings=tied, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.mul_(3)
            layer.mlp.down_proj.weight.mul_(3)
            for norm in (layer.self_attn.q_norm, layer.self_attn.k_norm):
                norm.weight.copy_(1 + 0.5 * torch.randn(norm.weight.shape, generator=generator))
        norms = torch.exp(1.5 * torch.randn(config.vocab_size, 1, generator=generator))
        (model.model.embed_tokens if tied else model.lm_head).weight.copy_(
            0.02 * torch.randn(config.vocab_size, config.hidden_size, generator=generator) * norms)
    folder = tmp_path_factory.mktemp(f"qwen3-{request.param_index}")
    model.save_pretrained(folder / "model")
    smollm2_tokenizer.save_pretrained(folder / "model")

    reference, tokenizer = load(folder / "model")
    expected = [hf_greedy(reference, tokenizer, p) for p in PROMPTS]
    ggufs = {quant: export_model(str(folder / "model"), "gguf", quant, folder / f"qwen3-{quant}.gguf")
             for quant in ("f16", "q8_0")}
    return folder / "model", ggufs, (reference, tokenizer, expected)


def test_f16_gguf_of_qwen3_matches_transformers(qwen3):
    import gguf

    _, ggufs, (model, tokenizer, expected) = qwen3
    tensors = {t.name for t in gguf.GGUFReader(ggufs["f16"]).tensors}
    assert {"blk.0.attn_q_norm.weight", "blk.1.attn_k_norm.weight"} <= tensors
    assert ("output.weight" in tensors) == (not model.config.tie_word_embeddings)  # tied: llama.cpp reuses token_embd
    if not model.config.tie_word_embeddings:
        assert all(len(set(tokens)) > 1 for tokens in expected), "the probe model should not just repeat one token"

    with llama(ggufs["f16"], logits_all=True) as llm:
        assert [llama_greedy(llm, p) for p in PROMPTS] == expected
        # Every logit along each prompt and its answer, within f16 rounding of the largest one.
        for prompt, tokens in zip(PROMPTS, expected):
            assert logit_error(llm, model, tokenizer, prompt, tokens) < 0.005


def test_qwen3_gguf_metadata_and_q8_0(qwen3):
    import gguf

    _, ggufs, (model, _, expected) = qwen3
    reader = gguf.GGUFReader(ggufs["f16"])
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.ggml.")}
    config = model.config
    assert fields["general.architecture"] == "qwen3"
    assert fields["qwen3.attention.key_length"] == fields["qwen3.attention.value_length"] == HEAD_DIM
    assert HEAD_DIM != config.hidden_size // config.num_attention_heads  # the case llama.cpp must be told about
    assert fields["qwen3.rope.dimension_count"] == HEAD_DIM
    assert fields["qwen3.attention.head_count"] == 4 and fields["qwen3.attention.head_count_kv"] == 2
    assert fields["qwen3.rope.freq_base"] == config.rope_parameters["rope_theta"]
    assert fields["qwen3.attention.layer_norm_rms_epsilon"] == pytest.approx(config.rms_norm_eps)
    shapes = {t.name: list(t.shape) for t in reader.tensors}
    assert shapes["blk.0.attn_q_norm.weight"] == [HEAD_DIM]  # per head, shared by all heads
    assert shapes["blk.0.attn_q.weight"] == [config.hidden_size, 4 * HEAD_DIM]  # GGUF lists dimensions reversed

    kinds = {t.name: t.tensor_type for t in gguf.GGUFReader(ggufs["q8_0"]).tensors}
    assert kinds["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert kinds["blk.0.attn_q_norm.weight"] == kinds["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    with llama(ggufs["q8_0"]) as llm:
        assert llm.metadata["general.architecture"] == "qwen3"
        outputs = [llama_greedy(llm, prompt) for prompt in PROMPTS]
    assert all(len(tokens) == N for tokens in outputs)
    same = sum(ours == theirs for ours, theirs in zip(outputs, expected))
    print(f"tiny Qwen3, q8_0 GGUF vs transformers fp32: {same}/{len(PROMPTS)} prompts with equal {N} greedy tokens")


def test_qwen3_with_sliding_window_layers_is_refused(tmp_path, qwen3):
    model_dir = shutil.copytree(qwen3[0], tmp_path / "swa")
    config = json.loads((model_dir / "config.json").read_text())
    config.update(use_sliding_window=True, sliding_window=64, layer_types=["full_attention", "sliding_attention"])
    (model_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match="sliding-window.*--format hf"):
        export_model(str(model_dir), "gguf", "f16", tmp_path / "swa.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["swa"]  # nothing written
