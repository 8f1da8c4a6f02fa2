"""`--gpu-layers` reaches llama.cpp (default: all layers when the build can offload, else none), and the
transformers backend picks CUDA, then MPS, then the CPU. The model load is cut short by a stand-in for llama.cpp's
loader that records what it was given; only the `gpu` tests load a model on a GPU."""

from __future__ import annotations

import llama_cpp
import pytest
import torch
from llama_cpp import _internals
from typer.testing import CliRunner

from smolthink.backends import TransformersBackend, default_gpu_layers, load_backend, torch_device
from smolthink.cli import app


class Loaded(Exception):
    """Raised by the stand-in loaders once they have recorded their arguments."""


@pytest.fixture
def loads(monkeypatch):
    seen: list[int] = []

    def fake_llama(**kwargs):
        seen.append(kwargs["n_gpu_layers"])
        raise Loaded

    def fake_model(*, path_model, params, verbose):
        seen.append(params.n_gpu_layers)
        raise Loaded

    monkeypatch.setattr(llama_cpp, "Llama", fake_llama)
    monkeypatch.setattr(_internals, "LlamaModel", fake_model)
    return seen


@pytest.mark.parametrize("offload, expected", [(True, -1), (False, 0)])
def test_gpu_layers_default_to_all_only_when_the_build_can_offload(monkeypatch, loads, offload, expected):
    monkeypatch.setattr(llama_cpp, "llama_supports_gpu_offload", lambda: offload)
    assert default_gpu_layers() == expected
    for parallel in (None, 2):  # chat/ask (Llama) and serve/eval (the batched engine)
        with pytest.raises(Loaded):
            load_backend(None, "llama", parallel=parallel)
    assert loads == [expected, expected]


def test_the_cli_flag_reaches_llama_cpp(loads):
    runner = CliRunner()
    for command in (["ask", "hi"], ["chat"], ["serve"]):
        result = runner.invoke(app, [*command, "--gpu-layers", "7", "--backend", "llama"])
        assert result.exit_code == 1, result.output  # the stand-in's Loaded, reported as unexpected
    assert loads == [7, 7, 7]
    result = runner.invoke(app, ["ask", "hi", "--gpu-layers", "-2"])
    assert result.exit_code == 2 and loads == [7, 7, 7]  # refused before anything loads


@pytest.mark.parametrize("cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")])
def test_transformers_device_is_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert torch_device() == expected


@pytest.mark.gpu
def test_on_a_gpu_both_backends_use_it(tiny_model_dir):
    from smolthink.models import resolve_model

    backend = TransformersBackend(resolve_model(str(tiny_model_dir)))
    assert backend.device == "cuda" and next(backend.model.parameters()).is_cuda
    if not llama_cpp.llama_supports_gpu_offload():
        pytest.skip("this llama-cpp-python build has no GPU backend")
    assert load_backend(None, "llama").gpu_layers == -1
