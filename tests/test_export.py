"""`smolthink export`: GGUF files (f16, q8_0) and merged transformers directories, checked against transformers.

The reference for every exported model is the model it came from, run in transformers fp32: an f16 GGUF must
produce the same greedy tokens in llama.cpp, a merged LoRA the same tokens as the PEFT model. The tiny-model
tests take seconds; the real SmolLM2-135M is in the `slow` test at the end.
"""

from __future__ import annotations

import contextlib
import json

import jinja2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from smolthink.cli import app
from smolthink.export import EXPORT_MARKER, ExportError, export_model, strip_generation_tags
from smolthink.formats import chat_template, normalize_message, render, tool_call
from smolthink.models import embedded_f16_gguf, embedded_gguf, load_hf, resolve_model

N = 32  # greedy tokens compared per prompt
QUESTIONS = ["What is the capital of France?", "Write a haiku about the sea.", "What is 12 + 7?", "Name three primary colors."]
# Both thinking modes: the prompts end differently ("<think>\n" vs an empty think block).
PROMPTS = [render([{"role": "user", "content": q}], enable_thinking=i % 2 == 0, add_generation_prompt=True) for i, q in enumerate(QUESTIONS)]

runner = CliRunner()


# ---------------------------------------------------------------------------------------------------- helpers


def hf_greedy(model, tokenizer, prompt: str) -> list[int]:
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=N, do_sample=False, temperature=None, top_p=None, top_k=None)
    return out[0, ids["input_ids"].shape[1] :].tolist()


@contextlib.contextmanager
def llama(path, **kwargs):
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=256, n_threads=2, verbose=False, **kwargs)
    try:
        yield llm
    finally:
        llm.close()


def logit_error(llm, model, tokenizer, prompt: str, tokens: list[int]) -> float:
    """The largest gap between llama.cpp's and transformers' logits along `prompt` + `tokens`, as a share of the
    largest logit at each position (llm must be opened with logits_all=True)."""
    sequence = tokenizer(prompt, add_special_tokens=False)["input_ids"] + tokens
    llm.reset()
    llm.eval(sequence)
    ours = np.array(llm.scores[: len(sequence)])
    with torch.inference_mode():
        reference = model(torch.tensor([sequence])).logits[0].numpy()
    return float((np.abs(ours - reference).max(axis=1) / np.abs(reference).max(axis=1)).max())


def llama_greedy(llm, prompt: str) -> list[int]:
    # SmolLM2 adds no BOS: the template starts with <|im_start|>; special=True parses the control tokens.
    tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
    llm.reset()
    out: list[int] = []
    for token in llm.generate(tokens, temp=0.0):
        out.append(token)
        if token == llm.token_eos() or len(out) >= N:
            break
    return out


def load(path):
    return load_hf(resolve_model(str(path)), dtype=torch.float32)


# --------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def probe_dir(tmp_path_factory, tiny_model_dir):
    """The tiny model, changed so that its greedy tokens are a meaningful and stable probe of the conversion.

    As it is, the random tiny model repeats the last prompt token forever: with tied embeddings and small
    random layers, the residual stream is mostly the current token's embedding, whose logit wins. Such tokens
    match even when attention is converted wrongly. And plain random logits are Gaussian, with near-ties that
    f16 rounding legitimately flips. So this copy:
    * unties the output layer and gives its rows heavy-tailed norms (as trained models have: a few tokens are
      far more likely), so the top logit usually wins by a clear margin;
    * scales each layer's output projections by 3, so attention and the MLP move the residual stream and the
      tokens depend on the whole prompt.
    Measured with these seeds: along the four greedy answers the top logit leads the second by at least 0.26 %
    (f16 moves logits by at most ~0.1 %; seeds with 0.02 % margins did flip a token), and exporting without the
    q/k rope permutation changes 2 of the 4 answers.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    generator = torch.Generator().manual_seed(1)
    vocab, hidden = model.config.vocab_size, model.config.hidden_size
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.mul_(3)
            layer.mlp.down_proj.weight.mul_(3)
        norms = torch.exp(1.5 * torch.randn(vocab, 1, generator=generator))
        head = 0.02 * torch.randn(vocab, hidden, generator=generator) * norms
    model.config.tie_word_embeddings = False
    model.lm_head.weight = torch.nn.Parameter(head)
    out = tmp_path_factory.mktemp("probe-model")
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def probe_ggufs(tmp_path_factory, probe_dir):
    folder = tmp_path_factory.mktemp("probe-gguf")
    return {quant: export_model(str(probe_dir), "gguf", quant, folder / f"probe-{quant}.gguf") for quant in ("f16", "q8_0")}


@pytest.fixture(scope="module")
def probe_reference(probe_dir):
    model, tokenizer = load(probe_dir)
    return model, tokenizer, [hf_greedy(model, tokenizer, p) for p in PROMPTS]


# ------------------------------------------------------------------------------------------------ conversions


def test_f16_gguf_matches_transformers(probe_ggufs, probe_reference):
    model, tokenizer, expected = probe_reference
    with llama(probe_ggufs["f16"], logits_all=True) as llm:
        for prompt, tokens in zip(PROMPTS, expected):
            # The tokenizer metadata: llama.cpp splits the prompt exactly as transformers does.
            assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == tokenizer(prompt, add_special_tokens=False)["input_ids"]
            assert len(set(tokens)) > 1, "the probe model should not just repeat one token"
            assert llama_greedy(llm, prompt) == tokens

        # The weights themselves: every logit along a prompt and its answer. f16 rounding moves them by ~0.1 % of
        # the largest logit; a conversion without the q/k rope permutation by ~2 %.
        assert logit_error(llm, model, tokenizer, PROMPTS[0], expected[0]) < 0.005


def test_q8_0_gguf_runs_and_mostly_agrees(probe_ggufs, probe_reference):
    import gguf

    kinds = {t.name: t.tensor_type for t in gguf.GGUFReader(probe_ggufs["q8_0"]).tensors}
    assert kinds["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert kinds["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32  # norms stay f32
    assert probe_ggufs["q8_0"].stat().st_size < 0.6 * probe_ggufs["f16"].stat().st_size

    _, _, expected = probe_reference
    with llama(probe_ggufs["q8_0"]) as llm:
        outputs = [llama_greedy(llm, prompt) for prompt in PROMPTS]
    assert all(len(tokens) == N for tokens in outputs)
    same = sum(ours == theirs for ours, theirs in zip(outputs, expected))
    print(f"tiny probe model, q8_0 GGUF vs transformers fp32: {same}/{len(PROMPTS)} prompts with equal {N} greedy tokens")


@pytest.mark.parametrize("quant", ["q5_k_m", "q4_k_m", "q4_0"])
def test_llama_cpp_quants_load_generate_and_leave_only_the_file_and_its_modelfile(tmp_path, probe_dir, probe_ggufs,
                                                                                  probe_reference, quant):
    import gguf

    path = export_model(str(probe_dir), "gguf", quant, tmp_path / f"probe-{quant}.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"probe-{quant}.Modelfile", f"probe-{quant}.gguf"]
    assert f"FROM ./probe-{quant}.gguf" in (tmp_path / f"probe-{quant}.Modelfile").read_text().splitlines()
    reader = gguf.GGUFReader(path)
    kinds = {t.name: t.tensor_type for t in reader.tensors}
    # The probe model's 64-wide rows do not split into k-quants' 256-value blocks: llama.cpp falls back to q5_0 /
    # q5_1 / q8_0 for them, as for SmolLM2-135M's 576-wide rows. Norms stay f32; the metadata travels.
    assert kinds["blk.0.attn_q.weight"] in {"q4_0": {gguf.GGMLQuantizationType.Q4_0}}.get(quant, {
        gguf.GGMLQuantizationType.Q5_0, gguf.GGMLQuantizationType.Q5_1, gguf.GGMLQuantizationType.Q8_0})
    assert kinds["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32
    assert path.stat().st_size < 0.6 * probe_ggufs["f16"].stat().st_size
    assert "tokenizer.chat_template" in reader.fields

    _, _, expected = probe_reference
    with llama(path) as llm:
        outputs = [llama_greedy(llm, prompt) for prompt in PROMPTS]
    assert all(len(tokens) == N for tokens in outputs)
    same = sum(ours == theirs for ours, theirs in zip(outputs, expected))
    print(f"tiny probe model, {quant} GGUF vs transformers fp32: {same}/{len(PROMPTS)} prompts with equal {N} greedy tokens")


def test_a_failed_or_missing_quantizer_leaves_nothing(tmp_path, probe_dir, monkeypatch):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "llama_model_quantize", lambda *args: 1)
    with pytest.raises(ExportError, match="could not quantize.*q4_0"):
        export_model(str(probe_dir), "gguf", "q4_0", tmp_path / "x.gguf")
    monkeypatch.delattr(llama_cpp, "LLAMA_FTYPE_MOSTLY_Q4_K_M")
    with pytest.raises(ExportError, match="no q4_k_m quantizer.*f16 or q8_0"):
        export_model(str(probe_dir), "gguf", "q4_k_m", tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []  # neither the f16 intermediate nor a partial file


def test_lora_adapter_is_merged_into_gguf_and_hf(tmp_path, probe_dir, probe_reference):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(probe_dir)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "up_proj"]))
    # lora_B starts at zero (a no-op adapter) and lora_A from the global RNG: set both from a seeded generator.
    # These values change every answer and still leave margins of >= 0.2 % between the top two logits.
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_A" in name:
                param.copy_(torch.randn(param.shape, generator=generator) / param.shape[1] ** 0.5)
            elif "lora_B" in name:
                param.copy_(0.05 * torch.randn(param.shape, generator=generator))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(probe_dir)

    adapted, tokenizer = load(adapter)  # what `smolthink chat --model adapter/` would run
    expected = [hf_greedy(adapted, tokenizer, p) for p in PROMPTS]
    assert expected != probe_reference[2], "the adapter should change the greedy tokens"

    gguf_path = export_model(str(adapter), "gguf", "f16", tmp_path / "merged.gguf")
    with llama(gguf_path) as llm:
        assert [llama_greedy(llm, p) for p in PROMPTS] == expected

    hf_dir = export_model(str(adapter), "hf", None, tmp_path / "merged-hf")
    assert resolve_model(str(hf_dir)).kind == "hf"  # a plain model directory now, no adapter
    merged, merged_tokenizer = load(hf_dir)
    assert [hf_greedy(merged, merged_tokenizer, p) for p in PROMPTS] == expected
    sequence = torch.tensor([tokenizer(PROMPTS[0], add_special_tokens=False)["input_ids"] + expected[0]])
    with torch.inference_mode():  # both fp32: the merged weights compute what base + adapter computed
        torch.testing.assert_close(merged(sequence).logits, adapted(sequence).logits, rtol=1e-4, atol=1e-4)
    assert merged_tokenizer.chat_template == chat_template()  # with {% generation %}: transformers knows it


# --------------------------------------------------------------------------------------------------- metadata


def test_gguf_metadata_matches_the_embedded_model(probe_ggufs):
    import gguf

    ours = gguf.GGUFReader(probe_ggufs["f16"]).fields
    shipped = gguf.GGUFReader(embedded_gguf()).fields
    for key in ("model", "pre", "tokens", "token_type", "merges", "bos_token_id", "eos_token_id", "unknown_token_id",
                "padding_token_id", "add_bos_token"):
        assert ours[f"tokenizer.ggml.{key}"].contents() == shipped[f"tokenizer.ggml.{key}"].contents(), key
    assert ours["tokenizer.ggml.add_bos_token"].contents() is False  # SmolLM2 prompts start with <|im_start|>

    template = ours["tokenizer.chat_template"].contents()
    assert template == strip_generation_tags(chat_template())
    assert "<tool_call>" in template
    jinja2.Environment().parse(template)  # no unknown {% generation %} tag left (a plain Jinja parser would fail)
    with llama(probe_ggufs["f16"]) as llm:
        assert llm.metadata["tokenizer.chat_template"] == template
        assert llm.metadata["general.architecture"] == "llama"


def test_a_smolthink_runs_gguf_says_it_was_trained_to_think(tmp_path, probe_dir, probe_ggufs):
    import shutil

    import gguf

    from smolthink.backends import trained_to_think
    from smolthink.models import resolve_model

    assert "smolthink.trained_to_think" not in gguf.GGUFReader(probe_ggufs["f16"]).fields  # not a training run
    run = tmp_path / "run"
    shutil.copytree(probe_dir, run)
    (run / "train_config.json").write_text("{}")
    exported = export_model(str(run), "gguf", "f16", tmp_path / "elsewhere.gguf")
    flag = gguf.GGUFReader(exported).fields["smolthink.trained_to_think"].contents()
    assert flag is True
    with llama(exported) as llm:  # what the server reads, away from the run folder
        assert trained_to_think(resolve_model(str(exported)), None, llm.metadata.get("smolthink.trained_to_think"))
    assert "smolthink.tool_style" not in gguf.GGUFReader(exported).fields  # xml, the default, is not written


def test_a_python_tools_runs_exports_say_how_its_tools_are_rendered(tmp_path, probe_dir):
    import shutil

    import gguf

    from smolthink.backends import load_backend, trained_tool_style
    from smolthink.errors import UserError
    from smolthink.models import resolve_model

    run = tmp_path / "run"
    shutil.copytree(probe_dir, run)
    (run / "train_config.json").write_text(json.dumps({"tool_style": "python"}))
    assert load_backend(str(run), "transformers").tool_style == "python"
    exported = export_model(str(run), "gguf", "f16", tmp_path / "elsewhere.gguf")
    assert gguf.GGUFReader(exported).fields["smolthink.tool_style"].contents() == "python"
    assert load_backend(str(exported)).tool_style == "python"  # the GGUF alone, away from the run folder
    hf = export_model(str(run), "hf", None, tmp_path / "hf")
    assert load_backend(str(hf), "transformers").tool_style == "python"
    assert load_backend(str(probe_dir), "transformers").tool_style == "xml"  # not a run: smolthink's <tool_call>
    with pytest.raises(UserError, match="smolthink.tool_style is 'ruby', expected one of xml, python"):
        trained_tool_style(resolve_model(str(exported)), "ruby")


def test_template_without_generation_markers_renders_the_same():
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    weather = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city.",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris & Rome?"},
        {"role": "assistant", "reasoning": "Two cities: two calls.", "content": "",
         "tool_calls": [tool_call("get_weather", {"city": "Paris"}), tool_call("get_weather", {"city": "Rome"})]},
        {"role": "tool", "content": "18 °C, sunny"},
        {"role": "tool", "content": "<21 °C>"},
        {"role": "assistant", "reasoning": "Both known.", "content": "Paris 18 °C, Rome 21 °C."},
        {"role": "user", "content": "Thanks!"},
    ]
    # A plain Jinja environment with the settings every chat runtime uses (transformers, llama-cpp-python):
    # block trimming, and tojson as json.dumps (Jinja's own sorts keys and escapes HTML characters).
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    with pytest.raises(TemplateSyntaxError):
        env.from_string(chat_template())  # why the markers must go: plain Jinja does not know the tag
    stripped = env.from_string(strip_generation_tags(chat_template()))
    for think in (True, False):
        expected = render(messages, [weather], enable_thinking=think, add_generation_prompt=True)  # with markers
        text = stripped.render(messages=[normalize_message(m) for m in messages], tools=[weather],
                               enable_thinking=think, add_generation_prompt=True)
        assert text == expected
        assert "<tool_call>" in text and ("Two cities" in text) == think


# ------------------------------------------------------------------------------------------------- bad input


def test_existing_output_is_refused_and_left_unchanged(tmp_path, probe_dir):
    out = tmp_path / "model.gguf"
    out.write_bytes(b"precious")
    with pytest.raises(ExportError, match="already exists.*--force"):
        export_model(str(probe_dir), "gguf", "f16", out)
    assert out.read_bytes() == b"precious"


def test_force_replaces_only_a_previous_export_of_the_same_kind(tmp_path, probe_dir):
    gguf_out = tmp_path / "model.gguf"
    export_model(str(probe_dir), "gguf", "f16", gguf_out)
    export_model(str(probe_dir), "gguf", "q8_0", gguf_out, force=True)
    assert gguf_out.read_bytes()[:4] == b"GGUF"

    hf_out = tmp_path / "model-hf"
    export_model(str(probe_dir), "hf", None, hf_out)
    (hf_out / "stale.txt").write_text("old")
    export_model(str(probe_dir), "hf", None, hf_out, force=True)
    assert (hf_out / "config.json").is_file() and (hf_out / EXPORT_MARKER).is_file() and not (hf_out / "stale.txt").exists()
    assert load(hf_out)[0].config.model_type == "llama"  # the marker does not get in the way of loading
    (tmp_path / "empty").mkdir()
    export_model(str(probe_dir), "hf", None, tmp_path / "empty", force=True)  # an empty folder holds nothing to lose
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "model-hf", "model.Modelfile", "model.gguf"]  # no temporaries left


def _tree(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_force_never_deletes_what_an_export_did_not_write(tmp_path, probe_dir):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"meow")
    notes = tmp_path / "notes.gguf"
    notes.write_text("not a model")
    for fmt, out in (("gguf", folder), ("hf", folder), ("gguf", notes), ("hf", notes)):
        with pytest.raises(ExportError, match="nothing was deleted"):
            export_model(str(probe_dir), fmt, None, out, force=True)
    assert _tree(folder) == {"cat.jpg": b"meow"} and notes.read_text() == "not a model"
    # a transformers directory that smolthink export did not write (a training run, a download) is not replaced
    import shutil

    run = shutil.copytree(probe_dir, tmp_path / "run")
    with pytest.raises(ExportError, match=f"no {EXPORT_MARKER}"):
        export_model(str(probe_dir), "hf", None, run, force=True)
    assert (run / "config.json").is_file()


def test_the_modelfile_beside_a_gguf_follows_the_same_rules(tmp_path, probe_dir):
    out = tmp_path / "m.gguf"
    export_model(str(probe_dir), "gguf", "f16", out)
    ours = (tmp_path / "m.Modelfile").read_text()
    out.unlink()
    with pytest.raises(ExportError, match="m.Modelfile already exists.*--force"):
        export_model(str(probe_dir), "gguf", "f16", out)
    (tmp_path / "m.Modelfile").write_text("FROM llama3\n")  # someone's own Modelfile
    with pytest.raises(ExportError, match="not a Modelfile written by smolthink.*nothing was deleted"):
        export_model(str(probe_dir), "gguf", "f16", out, force=True)
    assert (tmp_path / "m.Modelfile").read_text() == "FROM llama3\n" and not out.exists()
    (tmp_path / "m.Modelfile").write_text(ours)
    export_model(str(probe_dir), "gguf", "q8_0", out, force=True)
    with pytest.raises(ExportError, match="name of the Modelfile"):
        export_model(str(probe_dir), "gguf", "f16", tmp_path / "x.Modelfile")


def test_force_never_replaces_the_model_being_exported(tmp_path, probe_dir):
    gguf = export_model(str(probe_dir), "gguf", "f16", tmp_path / "probe.gguf")
    hf = export_model(str(probe_dir), "hf", None, tmp_path / "probe-hf")
    before = {"gguf": gguf.read_bytes(), "hf": _tree(hf)}
    with pytest.raises(ExportError, match="the model being exported"):
        export_model(str(gguf), "gguf", "f16", gguf, force=True)
    with pytest.raises(ExportError, match="the model being exported"):
        export_model(str(hf), "hf", None, hf, force=True)
    assert gguf.read_bytes() == before["gguf"] and _tree(hf) == before["hf"]


def test_an_export_removes_what_killed_exports_left_but_not_a_running_ones(tmp_path, probe_dir):
    import os
    import time

    stale_file, stale_dir, running = (tmp_path / n for n in (".m.gguf.tmp-0a1b", ".m.gguf.tmp-2c3d", ".m.gguf.tmp-4e5f"))
    stale_file.write_bytes(b"GGUF half")
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"half")
    running.write_bytes(b"GGUF being written")
    hours_ago = time.time() - 3 * 3600
    for path in (stale_file, stale_dir):
        os.utime(path, (hours_ago, hours_ago))
    export_model(str(probe_dir), "gguf", "f16", tmp_path / "m.gguf")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".m.gguf.tmp-4e5f", "m.Modelfile", "m.gguf"]


def test_unknown_format_and_quantization_list_the_valid_ones(tmp_path, probe_dir):
    with pytest.raises(ExportError, match="'onnx'.*gguf, hf"):
        export_model(str(probe_dir), "onnx", None, tmp_path / "x")
    with pytest.raises(ExportError, match="'q3_k'.*f16, q8_0, q5_k_m, q4_k_m, q4_0"):
        export_model(str(probe_dir), "gguf", "q3_k", tmp_path / "x.gguf")
    with pytest.raises(ExportError, match="gguf only"):
        export_model(str(probe_dir), "hf", "q8_0", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory, tiny_model_dir):
    """A tiny random GPT-2 model (an architecture the GGUF converter does not support) with SmolLM2's tokenizer."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=49152, n_embd=32, n_layer=1, n_head=2, n_positions=256)
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tiny-gpt2")
    GPT2LMHeadModel(config).save_pretrained(out)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(out)
    return out


def test_gguf_of_another_architecture_is_refused_but_hf_works(tmp_path, gpt2_dir):
    with pytest.raises(ExportError, match="'gpt2'.*supports only llama, qwen3.*--format hf"):
        export_model(str(gpt2_dir), "gguf", "f16", tmp_path / "gpt2.gguf")
    assert list(tmp_path.iterdir()) == []  # nothing half-written

    out = export_model(str(gpt2_dir), "hf", None, tmp_path / "gpt2-hf")
    model, _ = load(out)
    assert model.config.model_type == "gpt2"


def test_cli_exports_and_reports_errors_in_one_line(tmp_path, probe_dir, gpt2_dir):
    def invoke(*args):
        return runner.invoke(app, ["export", *map(str, args)], catch_exceptions=False)

    out = tmp_path / "probe.gguf"
    result = invoke(probe_dir, "--format", "gguf", "--quant", "q8_0", "--out", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:4] == b"GGUF" and str(out) in result.output.replace("\n", "")
    size = out.stat().st_size

    result = invoke(probe_dir, "--format", "gguf", "--out", out)
    assert result.exit_code == 2 and "already exists" in result.output and "--force" in result.output
    assert out.stat().st_size == size  # the q8_0 file is still there, not replaced by an f16 one

    result = invoke(probe_dir, "--quant", "q3", "--out", tmp_path / "x.gguf")
    assert result.exit_code == 2 and "q3" in result.output and "f16, q8_0" in result.output

    result = invoke(gpt2_dir, "--format", "gguf", "--out", tmp_path / "gpt2.gguf")
    assert result.exit_code == 2 and "gpt2" in result.output and "--format hf" in result.output.replace("\n", "")


# ----------------------------------------------------------------------------------------------- real model


@pytest.mark.slow
def test_real_model_f16_equals_transformers_and_q8_0_mostly(tmp_path):
    import gguf

    model, tokenizer = load_hf(resolve_model("smollm2-135m"), dtype=torch.float32)
    expected = [hf_greedy(model, tokenizer, p) for p in PROMPTS]
    agree = {}
    for quant in ("f16", "q8_0"):
        path = export_model("smollm2-135m", "gguf", quant, tmp_path / f"smollm2-{quant}.gguf")
        with llama(path) as llm:
            agree[quant] = sum(llama_greedy(llm, p) == tokens for p, tokens in zip(PROMPTS, expected))
    # The embedded model's weights are its shipped Q4_1 file dequantized; models.py writes them straight from
    # GGUF to GGUF as f16. Going through transformers and this converter must give the very same tensors.
    ours = {t.name: t for t in gguf.GGUFReader(tmp_path / "smollm2-f16.gguf").tensors}
    direct = {t.name: t for t in gguf.GGUFReader(embedded_f16_gguf()).tensors}
    assert ours.keys() == direct.keys()
    assert all(ours[n].tensor_type == direct[n].tensor_type and np.array_equal(ours[n].data, direct[n].data) for n in ours)

    print(f"SmolLM2-135M, prompts with {N} greedy tokens equal to transformers fp32: "
          f"f16 {agree['f16']}/{len(PROMPTS)}, q8_0 {agree['q8_0']}/{len(PROMPTS)}")
    assert agree["f16"] == len(PROMPTS)
    assert agree["q8_0"] >= len(PROMPTS) / 2  # q8_0 may flip near-ties (see baselines.md), but not most answers
