"""Export a model for other runtimes: a merged transformers directory, or a GGUF file for llama.cpp.

This module owns `smolthink export`:

* loading any model reference (`smolthink.models.resolve_model`) in fp32 and merging a LoRA adapter into its base;
* the transformers → GGUF conversion for the architectures in `GGUF_ARCHITECTURES` (Llama: the SmolLM2 family
  that smolthink trains; Qwen3 dense), following llama.cpp's `convert_hf_to_gguf.py` and written with the `gguf`
  package: hyper-parameters, tensor names, the q/k rotary permutation (Llama only), the GPT-2 BPE tokenizer
  metadata, and the chat template without the transformers-only `{% generation %}` markers; weights as f16 or
  q8_0 (norms stay f32), or q5_k_m / q4_k_m / q4_0 by llama.cpp's own quantizer from an f16 intermediate;
* an Ollama Modelfile beside each GGUF (`NAME.gguf` → `NAME.Modelfile`): FROM, a TEMPLATE in Ollama's Go template
  syntax that renders smolthink's chat format (checked against the jinja template by tests/test_modelfile.py),
  stop tokens and smolthink's decoding defaults;
* writing outputs safely: an existing output is refused unless `force`, and the new one is built beside it,
  fsynced and moved into place with `os.replace`, so a failed export never leaves a half-written model (and what
  killed exports left beside it is removed by the next one). `force` replaces only an output of the same kind: a
  GGUF file, or a directory that an hf export wrote (it carries `EXPORT_MARKER`) or an empty one; never the model
  being exported, nor a folder that holds it.

Heavy imports (torch, transformers, gguf, numpy) happen inside functions so that `smolthink --help` stays instant.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path
from typing import Any

from smolthink.backends import TOOL_STYLE_METADATA_KEY, trained_tool_style
from smolthink.formats import chat_template, is_tool_aware
# The cache's fsync/temporary-name helpers: exports follow the same write-then-rename rules.
from smolthink.errors import UserError
from smolthink.atomic import atomic_output, remove_leftovers, temp_name, write_atomic
from smolthink.models import ModelError, Progress, load_hf, resolve_model

# Output format → quantizations it accepts (the first is the default). An hf export is always lossless fp32.
FORMATS: dict[str, tuple[str, ...]] = {"gguf": ("f16", "q8_0", "q5_k_m", "q4_k_m", "q4_0"), "hf": ()}
# Quantizations written by llama.cpp's own quantizer (llama_model_quantize, as llama-quantize runs it) from an
# f16 file: the name of their llama_ftype constant in llama-cpp-python. f16 and q8_0 are written directly.
LLAMA_QUANTS = {"q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
                "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M"}
# Ollama's TEMPLATE for smolthink's chat format (templates/smollm2.jinja), in Go template syntax over the values
# Ollama passes: .System (the system messages), .Messages (.Role, .Content, .Thinking, .ToolCalls[].Function.Name
# and .Arguments), .Tools, .Think / .IsThinkSet (the request's `think`). `__THINK__` is the default thinking
# mode when a request does not set `think`. tests/test_export.py renders it against the jinja template.
OLLAMA_TEMPLATE = (
    '{{- $think := __THINK__ }}{{- $prev := "" }}<|im_start|>system\n'
    '{{ if .System }}{{ .System }}{{ else }}You are a helpful AI assistant named SmolLM, trained by Hugging Face{{ end }}'
    '{{ if .Tools }}\n\nYou may call one or more functions to assist with the user query. You are provided with '
    'function signatures within <tools></tools> XML tags:\n<tools>'
    '{{ range .Tools }}\n{"type": "function", "function": {{ .Function }}}{{ end }}'
    '\n</tools>\nIf a function fits the query, call it: for each function call, return a JSON object with the '
    'function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": '
    '<function-name>, "arguments": <args-json-object>}\n</tool_call>\nIf no function fits, answer directly '
    'without calling one.{{ end }}<|im_end|>\n'
    '{{ range $i, $m := .Messages }}{{ $rest := slice $.Messages $i }}{{ $last := eq (len $rest) 1 }}'
    '{{ if eq $m.Role "user" }}<|im_start|>user\n{{ $m.Content }}<|im_end|>\n'
    '{{ else if eq $m.Role "assistant" }}<|im_start|>assistant\n<think>\n{{ if $think }}{{ $m.Thinking }}{{ end }}'
    '\n</think>\n\n{{ $m.Content }}'
    '{{ range $j, $c := $m.ToolCalls }}{{ if or $m.Content $j }}\n{{ end }}<tool_call>\n{"name": '
    '"{{ $c.Function.Name }}", "arguments": {{ $c.Function.Arguments }}}\n</tool_call>{{ end }}'
    '{{ if not $last }}<|im_end|>\n{{ end }}'
    '{{ else if eq $m.Role "tool" }}{{ if ne $prev "tool" }}<|im_start|>user{{ end }}'
    '\n<tool_response>\n{{ $m.Content }}\n</tool_response>'
    '{{ if or $last (ne (index $rest 1).Role "tool") }}<|im_end|>\n{{ end }}{{ end }}'
    '{{ if and $last (ne $m.Role "assistant") }}<|im_start|>assistant\n<think>\n'
    '{{ if not $think }}\n</think>\n\n{{ end }}{{ end }}{{ $prev = $m.Role }}{{ end }}'
)
# Decoding defaults a Modelfile carries: smolthink's own (greedy), stop at the end of a turn.
OLLAMA_STOPS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")

# transformers model_type → (llama.cpp architecture, as a gguf.MODEL_ARCH member; whether q/k rows are permuted),
# as convert_hf_to_gguf.py's LlamaModel and Qwen3Model write them. Both write the same hyper-parameter keys, and
# the gguf package's tensor map of the architecture names the tensors (Qwen3's per-head q_norm / k_norm become
# attn_q_norm / attn_k_norm). transformers rotates q/k with rotate_half (dimension i with i + d/2): so does
# llama.cpp's qwen3 ("NEOX" rope), while its llama pairs neighbours (2i, 2i+1), hence the permutation.
GGUF_ARCHITECTURES = {"llama": ("LLAMA", True), "qwen3": ("QWEN3", False)}

# Written into every hf export: `--force` replaces a directory only when it carries this file (ours to replace).
EXPORT_MARKER = ".smolthink-export.json"

# llama.cpp picks its pre-tokenizer (the regex that splits text before BPE) by the name in `tokenizer.ggml.pre`.
# convert_hf_to_gguf.py recognises a tokenizer by the hash of the token ids it gives for this text; a wrong
# name would make llama.cpp tokenize differently from transformers, so unknown tokenizers are refused.
_PRE_TOKENIZER_CHECK_TEXT = (
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 "
    "333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= "
    "нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've been 'told he's there, 'RE you sure? 'M not sure "
    "I'll make it, 'D you like some tea? We'Ve a'lL"
)
_PRE_TOKENIZERS = {
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",  # SmolLM, SmolLM2
}

# `{% generation %}` / `{% endgeneration %}` with optional whitespace control: transformers-only tags that mark
# the trained text; plain Jinja runtimes (llama.cpp's among them) fail on an unknown tag. Jinja comments are
# matched first and kept as they are, so a comment that mentions the tags is not edited.
_GENERATION_TAG = re.compile(r"(\{#.*?#\})|(?:\s*\{%-|\{%)\s*(?:end)?generation\s*(?:-%\}\s*|%\})", re.DOTALL)


class ExportError(UserError):
    """An export that cannot be done; the message is meant for the user."""


# --------------------------------------------------------------------------------------------------- entry


def export_model(
    ref: str,
    fmt: str,
    quant: str | None = None,
    out: Path | None = None,
    force: bool = False,
    progress: Progress = None,
    trust_remote_code: bool = False,
) -> Path:
    """Export the model `ref` (merging a LoRA adapter into its base) and return the written path.

    fmt "gguf": one GGUF file for llama.cpp, `quant` f16 (default), q8_0, or q5_k_m / q4_k_m / q4_0 (an f16 file
    quantized by llama.cpp's own quantizer), with an Ollama Modelfile beside it (`modelfile_path`). fmt "hf": a transformers directory
    (fp32 safetensors, config, tokenizer with its chat template); `quant` must be None.
    `out` defaults to `default_output(ref, fmt, quant)`; an existing `out` is replaced only when `force`.
    `trust_remote_code`: a model that ships its own Python code may run it (see `smolthink.models.load_hf`).
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "gguf":
        quant = quant or FORMATS["gguf"][0]
        if quant not in FORMATS["gguf"]:
            raise ExportError(f"unknown quantization {quant!r} for gguf: choose one of {', '.join(FORMATS['gguf'])}")
    elif quant is not None:
        raise ExportError(f"--quant applies to --format gguf only; an {fmt} export is always fp32")
    out = Path(out) if out is not None else default_output(ref, fmt, quant)
    # Output mistakes are caught before the slow part, so they cost nothing.
    inputs = _model_paths(ref)
    _check_out(out, fmt, force, inputs)
    if not out.parent.is_dir():
        raise ExportError(f"the output folder {out.parent} does not exist")
    remove_leftovers(out)  # what killed exports to this output left beside it
    if fmt == "gguf":
        remove_leftovers(modelfile_path(out))

    started = time.perf_counter()
    model, tokenizer = _load_merged(ref, progress, trust_remote_code)
    template = export_chat_template(tokenizer.chat_template)
    tool_style = trained_tool_style(resolve_model(ref))  # python_tools travels with the file, as thinking does
    if fmt == "gguf":
        _check_gguf_support(ref, model.config)

    f16_tmp = temp_name(out)  # the f16 file that llama.cpp quantizes into the output (LLAMA_QUANTS only)
    try:
        # _check_out again right before the move: something may have appeared there while we converted
        with atomic_output(out, directory=fmt == "hf", check=lambda: _check_out(out, fmt, force, inputs)) as tmp:
            if fmt == "gguf":
                # A smolthink run (its folder holds train_config.json) was trained to think: the flag travels with
                # the file, so `smolthink serve` on the GGUF alone defaults to thinking, as it does on the run folder.
                trained = any((path / "train_config.json").is_file() for path in inputs[:1] if path.is_dir())
                run_dir = inputs[0] if trained else None
                if quant in LLAMA_QUANTS:
                    _write_gguf(model, tokenizer, strip_generation_tags(template), f16_tmp, "f16", name=_model_name(ref),
                                trained_to_think=trained, run_dir=run_dir, tool_style=tool_style, progress=progress)
                    _llama_quantize(f16_tmp, tmp, quant, progress)
                else:
                    _write_gguf(model, tokenizer, strip_generation_tags(template), tmp, quant, name=_model_name(ref),
                                trained_to_think=trained, run_dir=run_dir, tool_style=tool_style, progress=progress)
            else:
                _say(progress, f"writing the merged transformers directory → {out}")
                tokenizer.chat_template = template  # transformers knows {% generation %}: keep it for further training
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                marker = {"model": ref, "format": "hf", **({"tool_style": tool_style} if tool_style != "xml" else {})}
                (tmp / EXPORT_MARKER).write_text(json.dumps(marker) + "\n", encoding="utf-8")
        if fmt == "gguf":
            text = ollama_modelfile(out.name, template, trained_to_think=trained,
                                    n_ctx=int(model.config.max_position_embeddings))
            write_atomic(modelfile_path(out), text)
    finally:
        f16_tmp.unlink(missing_ok=True)
    _say(progress, f"exported in {time.perf_counter() - started:.0f} s")
    return out


def modelfile_path(gguf_path: Path) -> Path:
    """The Ollama Modelfile written beside a GGUF export: `name.gguf` → `name.Modelfile` (one per file, so several
    quantizations can share a folder)."""
    return gguf_path.with_suffix(".Modelfile")


def ollama_modelfile(gguf_name: str, template: str, *, trained_to_think: bool, n_ctx: int) -> str:
    """An Ollama Modelfile for the GGUF file `gguf_name` in the same folder (`ollama create NAME -f X.Modelfile`).

    With smolthink's chat format (`template` is chat_template()), TEMPLATE renders it in Ollama's Go template
    syntax; thinking is on by default only for a model trained to think (as `smolthink serve` decides), and a
    request's `think` switches it. Another template is left to Ollama, which reads the GGUF's own.
    """
    lines = [f"# Ollama Modelfile written by smolthink export: ollama create {Path(gguf_name).stem} -f "
             f"{Path(gguf_name).stem}.Modelfile", f"FROM ./{gguf_name}"]
    if strip_generation_tags(template) == strip_generation_tags(chat_template()):
        think = "or (not .IsThinkSet) .Think" if trained_to_think else "and .IsThinkSet .Think"
        lines.append(f'TEMPLATE """{OLLAMA_TEMPLATE.replace("__THINK__", think)}"""')
    lines += [f'PARAMETER stop "{stop}"' for stop in OLLAMA_STOPS]
    lines += ["PARAMETER temperature 0", f"PARAMETER num_ctx {n_ctx}"]
    return "\n".join(lines) + "\n"


def default_output(ref: str, fmt: str, quant: str | None) -> Path:
    """Beside a local model (`runs/sft` → `runs/sft-f16.gguf`, `runs/sft-hf`), else in the current folder."""
    suffix = f"-{quant}.gguf" if fmt == "gguf" else "-hf"
    path = Path(ref).expanduser()
    if path.exists():
        return path.resolve().parent / (path.resolve().name + suffix)
    return Path(ref.replace("/", "--") + suffix)  # the embedded model's name, or a Hub id "owner/name"


def export_chat_template(own: str | None) -> str:
    """The chat template an export carries: the model's own when it is tool-aware (as the chat backends decide),
    else smolthink's. An hf export keeps it as it is; a GGUF gets it through `strip_generation_tags`."""
    return own if is_tool_aware(own) else chat_template()


def strip_generation_tags(template: str) -> str:
    """`template` without {% generation %} / {% endgeneration %}, so that plain Jinja runtimes can render it.

    Removing a tag with whitespace control (`{%- generation -%}`) also removes the whitespace it would have
    stripped, so the text renders exactly as before.
    """
    return _GENERATION_TAG.sub(lambda match: match.group(1) or "", template)


# -------------------------------------------------------------------------------------------------- loading


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _model_name(ref: str) -> str:
    return Path(ref).name or ref


def _model_paths(ref: str) -> list[Path]:
    """The local files and folders an export of `ref` reads: the model, and a LoRA adapter's local base."""
    try:
        resolved = resolve_model(ref)
        paths = [resolved.path] if resolved.path is not None else []
        if resolved.kind == "adapter":
            base = json.loads((resolved.path / "adapter_config.json").read_text(encoding="utf-8"))
            base_path = resolve_model(base.get("base_model_name_or_path") or "").path
            paths += [base_path] if base_path is not None else []
    except (ModelError, ValueError, AttributeError) as e:  # AttributeError: an adapter config that is not an object
        raise ExportError(f"{ref}: {e}") from e
    return [p.resolve() for p in paths]


def _check_out(out: Path, fmt: str, force: bool, inputs: list[Path]) -> None:
    """Refuse an output that is or holds the model being exported, and any existing one that is not ours to replace."""
    target = out.expanduser().resolve()
    for path in inputs:
        if path == target or target in path.parents:
            raise ExportError(f"--out {out} is or holds {path}, the model being exported: choose another --out")
    if out.exists() or out.is_symlink():
        _check_existing(out, fmt, force)
    if fmt == "gguf":
        if modelfile_path(out) == out:
            raise ExportError(f"--out {out}: that is the name of the Modelfile written beside the GGUF; name the "
                              "GGUF file …/name.gguf")
        _check_modelfile(modelfile_path(out), force)


def _check_existing(out: Path, fmt: str, force: bool) -> None:
    if not force:
        raise ExportError(f"{out} already exists: choose another --out, or pass --force to replace it")
    if fmt == "gguf":
        if not (out.is_file() and _is_gguf(out)):
            raise ExportError(f"{out} is not a GGUF file: --force replaces only a previous GGUF export, so nothing "
                              "was deleted; choose another --out or remove it yourself")
    elif not (out.is_dir() and not out.is_symlink() and ((out / EXPORT_MARKER).is_file() or not any(out.iterdir()))):
        raise ExportError(f"{out} is not a directory written by smolthink export --format hf (it has no "
                          f"{EXPORT_MARKER}): --force replaces only a previous hf export, so nothing was deleted; "
                          "choose another --out or remove it yourself")


def _check_modelfile(path: Path, force: bool) -> None:
    """The Modelfile beside a GGUF export follows the GGUF's rules: replaced only with `force`, and only ours."""
    if not path.exists() and not path.is_symlink():
        return
    if not force:
        raise ExportError(f"{path} already exists: choose another --out, or pass --force to replace it")
    ours = path.is_file() and path.read_bytes()[:64].startswith(b"# Ollama Modelfile written by smolthink export")
    if not ours:
        raise ExportError(f"{path} is not a Modelfile written by smolthink export: --force replaces only its own, so "
                          "nothing was deleted; choose another --out or remove it yourself")


def _is_gguf(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(4) == b"GGUF"


def _load_merged(ref: str, progress: Progress, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(fp32 model with any LoRA adapter merged into its weights, tokenizer)."""
    import torch

    try:
        resolved = resolve_model(ref)
        _say(progress, f"loading {ref} (fp32)")
        model, tokenizer = load_hf(resolved, dtype=torch.float32, progress=progress,
                                   trust_remote_code=trust_remote_code)
    except ModelError as e:
        raise ExportError(str(e)) from e
    if resolved.kind == "adapter":
        _say(progress, "merging the LoRA adapter into the base weights")
        # merge_and_unload adds B·A·scale to each adapted weight and returns the plain base-model class.
        model = model.merge_and_unload()
    model.eval()
    return model, tokenizer


def _check_gguf_support(ref: str, config: Any) -> None:
    """Refuse what this converter would write wrongly, before writing anything."""
    if config.model_type not in GGUF_ARCHITECTURES:
        raise ExportError(
            f"{ref!r} has the {config.model_type!r} architecture; GGUF export supports only "
            f"{', '.join(GGUF_ARCHITECTURES)}. Export it with --format hf instead (any architecture)."
        )
    if any(kind != "full_attention" for kind in getattr(config, "layer_types", None) or ()):
        # Qwen3's use_sliding_window: llama.cpp's qwen3 attends to the whole context, so it would compute otherwise.
        raise ExportError(f"{ref!r} has sliding-window attention layers; GGUF export supports only full attention. "
                          "Export it with --format hf instead.")
    rope = getattr(config, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        # llama3/yarn/linear scaling need extra GGUF keys or tensors that this converter does not write.
        raise ExportError(f"{ref!r} uses {rope['rope_type']!r} RoPE scaling; GGUF export supports only default RoPE")


# ------------------------------------------------------------------------------------------------------ gguf


def _write_gguf(model: Any, tokenizer: Any, template: str, path: Path, quant: str, *, name: str,
                trained_to_think: bool = False, run_dir: Path | None = None, tool_style: str = "xml",
                progress: Progress) -> None:
    import gguf

    config = model.config
    arch = gguf.MODEL_ARCH[GGUF_ARCHITECTURES[config.model_type][0]]
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[arch])
    writer.add_name(name)
    file_type = {"f16": gguf.LlamaFileType.MOSTLY_F16, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[quant]
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _add_hyperparameters(writer, config)
    _add_tokenizer(writer, tokenizer, config.vocab_size)
    writer.add_chat_template(template)
    if trained_to_think:
        writer.add_bool("smolthink.trained_to_think", True)  # read by backends.trained_to_think
    if tool_style != "xml":
        writer.add_string(TOOL_STYLE_METADATA_KEY, tool_style)  # read by backends.trained_tool_style
    if run_dir is not None:  # eval decontaminates against the run's training prompts (data/decontam.py)
        writer.add_string("smolthink.run_dir", str(Path(run_dir).resolve()))

    weight_type = {"f16": gguf.GGMLQuantizationType.F16, "q8_0": gguf.GGMLQuantizationType.Q8_0}[quant]
    tensors = list(_gguf_tensors(model))
    for done, (tensor_name, values) in enumerate(tensors, 1):
        _say(progress, f"converting tensors to {quant}: {done}/{len(tensors)}")
        # As convert_hf_to_gguf.py: 1-D tensors (norms) stay F32, they are tiny and precision-sensitive.
        qtype = gguf.GGMLQuantizationType.F32 if values.ndim == 1 else weight_type
        try:
            data = gguf.quants.quantize(values, qtype)
        except gguf.quants.QuantError:
            # Q8_0 packs rows in blocks of 32 values; a row length that is not a multiple of 32 cannot be packed.
            # convert_hf_to_gguf.py falls back to F16 for such tensors; so do we.
            qtype = gguf.GGMLQuantizationType.F16
            data = gguf.quants.quantize(values, qtype)
        writer.add_tensor(tensor_name, data, raw_dtype=qtype)

    _say(progress, f"writing {path.name}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _llama_quantize(source: Path, target: Path, quant: str, progress: Progress) -> None:
    """Quantize the f16 GGUF `source` into `target` with llama.cpp's quantizer, as `llama-quantize` does.

    Tensors whose rows do not split into the format's blocks (256 values for k-quants: SmolLM2-135M's 576-wide
    rows) get llama.cpp's own fallback type (q5_0 / q5_1 / q8_0 for k-quants; f16 when not even 32 divide them).
    """
    try:
        import llama_cpp
    except ImportError as e:
        raise ExportError(f"--quant {quant} quantizes with llama.cpp, which needs llama-cpp-python ({e}); in a "
                          "checkout run `make setup`, or export f16 / q8_0") from None
    ftype = getattr(llama_cpp, LLAMA_QUANTS[quant], None)
    if ftype is None or not hasattr(llama_cpp, "llama_model_quantize"):
        raise ExportError(f"this llama-cpp-python build has no {quant} quantizer ({LLAMA_QUANTS[quant]}): "
                          f"export f16 or q8_0, or upgrade llama-cpp-python")
    from llama_cpp._logger import set_verbose

    from smolthink.backends import default_threads

    set_verbose(False)  # llama.cpp logs every tensor, and each k-quant fallback, otherwise
    _say(progress, f"quantizing to {quant} with llama.cpp")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = default_threads()
    # The quantizer also prints a line per k-quant fallback straight to stderr: kept aside, shown only on failure.
    with tempfile.TemporaryFile() as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        said = log.read().decode(errors="replace").strip().splitlines()
    if status != 0 or not target.is_file():
        detail = f": {said[-1].strip()}" if said else ""
        raise ExportError(f"llama.cpp could not quantize the model to {quant} (status {status}){detail}")


def _add_hyperparameters(writer: Any, config: Any) -> None:
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    writer.add_vocab_size(config.vocab_size)
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_rope_dimension_count(head_dim)
    if head_dim != config.hidden_size // config.num_attention_heads:
        # llama.cpp derives the head size from hidden_size / heads unless told otherwise.
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)


def _gguf_tensors(model: Any) -> Iterator[tuple[str, Any]]:
    """(GGUF tensor name, fp32 numpy array in transformers' [out, in] layout) for every weight."""
    import gguf
    import numpy as np

    config = model.config
    arch, permute = GGUF_ARCHITECTURES[config.model_type]
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch], config.num_hidden_layers)
    for hf_name, tensor in model.state_dict().items():
        if hf_name == "lm_head.weight" and config.tie_word_embeddings:
            continue  # tied: the same matrix as token_embd; llama.cpp uses token_embd when output.weight is absent
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"no GGUF name for the tensor {hf_name!r}: this {config.model_type} variant is not "
                              "supported; export it with --format hf instead")
        values = tensor.detach().to("cpu").float().numpy()
        # Llama: reorder each head's q/k rows so that llama.cpp rotates the same pairs (see GGUF_ARCHITECTURES).
        if permute and hf_name.endswith(("self_attn.q_proj.weight", "self_attn.q_proj.bias")):
            values = _permute_for_rope(values, config.num_attention_heads)
        elif permute and hf_name.endswith(("self_attn.k_proj.weight", "self_attn.k_proj.bias")):
            values = _permute_for_rope(values, config.num_key_value_heads)
        yield gguf_name, np.ascontiguousarray(values)


def _permute_for_rope(weights: Any, n_head: int) -> Any:
    """convert_hf_to_gguf.py's LlamaModel.permute: rows of each head from [half 1, half 2] to interleaved."""
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _add_tokenizer(writer: Any, tokenizer: Any, n_vocab: int) -> None:
    """GPT-2 style BPE metadata, as convert_hf_to_gguf.py's get_vocab_base / _set_vocab_gpt2 write it."""
    import gguf

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ExportError("GGUF export needs a fast (tokenizers) tokenizer with a tokenizer.json")
    spec = json.loads(backend.to_str())
    if spec["model"]["type"] != "BPE":
        raise ExportError(f"GGUF export supports BPE tokenizers only, not {spec['model']['type']}")
    token_hash = sha256(str(tokenizer.encode(_PRE_TOKENIZER_CHECK_TEXT)).encode()).hexdigest()
    if token_hash not in _PRE_TOKENIZERS:
        raise ExportError(
            "GGUF export knows the SmolLM2 tokenizer only, and this tokenizer splits text differently "
            "(llama.cpp would tokenize it wrongly): export with --format hf instead"
        )

    vocab = tokenizer.get_vocab()  # token text (byte-level alphabet, 'Ġ' for a space) → id, added tokens included
    if max(vocab.values()) >= n_vocab:
        raise ExportError(f"the tokenizer has ids up to {max(vocab.values())} but the model only {n_vocab} embeddings")
    by_id = {i: token for token, i in vocab.items()}
    added = tokenizer.added_tokens_decoder
    tokens: list[str] = []
    types: list[int] = []
    for i in range(n_vocab):
        if i not in by_id:  # embedding rows without a token (a vocabulary padded to a round size)
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = by_id[i]
        tokens.append(token)
        if i not in added:
            types.append(gguf.TokenType.NORMAL)
        elif added[i].special or (token.startswith("<|") and token.endswith("|>")):
            types.append(gguf.TokenType.CONTROL)  # never produced from text, rendered only with special=True
        else:
            types.append(gguf.TokenType.USER_DEFINED)

    # tokenizers stores merges as pairs; GGUF as "left right" with any space inside a part written as
    # chr(ord(" ") + 256), as gguf.SpecialVocab does (byte-level BPE tokens contain no spaces, so usually a no-op).
    merges = [
        pair if isinstance(pair, str) else " ".join(part.replace(" ", chr(ord(" ") + 256)) for part in pair)
        for pair in spec["model"]["merges"]
    ]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(_PRE_TOKENIZERS[token_hash])
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for kind in ("bos", "eos", "unk", "pad"):
        token_id = getattr(tokenizer, f"{kind}_token_id")
        if token_id is not None:
            getattr(writer, f"add_{kind}_token_id")(token_id)
    # Whether encoding adds BOS/EOS is the tokenizer's behaviour (its post-processor); ask it rather than
    # reading config flags. SmolLM2 adds neither.
    probe = tokenizer("a")["input_ids"]
    writer.add_add_bos_token(tokenizer.bos_token_id is not None and probe[0] == tokenizer.bos_token_id)
    writer.add_add_eos_token(tokenizer.eos_token_id is not None and probe[-1] == tokenizer.eos_token_id)

