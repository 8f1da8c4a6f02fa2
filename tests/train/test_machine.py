"""What this machine or this launch cannot run is refused by name before any work; `precision: auto` per device."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from smolthink.config import ConfigError
from smolthink.train.config import load_train_recipe
from smolthink.train.run import check_machine, choose_precision

from test_train import write_recipe


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusals")
@pytest.mark.parametrize("override, message", [
    ("precision=fp16", r"precision fp16 .*needs a CUDA GPU"),
    ("defaults.optim=adamw_8bit", r"phases\[0\] \(short\): optim 'adamw_8bit' runs through bitsandbytes on a CUDA GPU"),
    ("phases.1.optim=paged_adamw_8bit", r"phases\[1\] \(long\): optim 'paged_adamw_8bit'"),
])
def test_gpu_only_options_on_cpu_are_refused_by_name(tmp_path, tiny_model_dir, tiny_data, override, message):
    resolved = load_train_recipe(write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data), [override],
                                 out=tmp_path / "o")
    with pytest.raises(ConfigError, match=message):
        check_machine(resolved)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusals")
@pytest.mark.parametrize("override, message", [
    ("defaults.tf32=true", r"phases\[0\]: --tf32 requires Ampere"),
    ("phases.1.ddp_backend=nccl", r"phases\[1\]: ddp_backend 'nccl' needs CUDA GPUs"),
])
def test_gpu_only_trainer_options_on_cpu_are_refused_as_the_recipe_loads(tmp_path, tiny_model_dir, tiny_data,
                                                                          override, message):
    with pytest.raises(ConfigError, match=message):
        load_train_recipe(write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data), [override], out=tmp_path / "o")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusals")
@pytest.mark.parametrize("override, message", [
    ("defaults.auto_find_batch_size=true", r"auto_find_batch_size cannot be honoured with 2 processes"),
    ("phases.0.accelerator_config.split_batches=true", r"accelerator_config.split_batches cannot be honoured"),
    ("phases.1.fsdp=full_shard", r"phases\[1\] \(long\): fsdp with 2 CPU processes cannot be honoured"),
])
def test_options_two_processes_cannot_honour_are_refused(tmp_path, tiny_model_dir, tiny_data, monkeypatch, override,
                                                         message):
    resolved = load_train_recipe(write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data), [override],
                                 out=tmp_path / "o")
    check_machine(resolved)  # one process: fine
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match=message):
        check_machine(resolved)


def test_accelerate_launch_with_an_option_it_cannot_honour_fails_before_any_work(tmp_path, tiny_model_dir, tiny_data):
    """`accelerate launch --multi_gpu` is how accelerate starts 2 processes without mpirun (on CPU: gloo)."""
    from test_multiprocess import finish, free_port, start

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, defaults={"auto_find_batch_size": True})
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "smolthink.cli", "train", str(recipe), "--out", "o"]
    code, output = finish(start(cmd, tmp_path))
    assert code != 0 and "Traceback (most recent call last):\n  File \"/" not in output.split("error:")[0]
    assert "error: " in output and "auto_find_batch_size cannot be honoured with 2 processes" in " ".join(output.split())
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("capability, expected", [((7, 5), "fp16"), ((8, 0), "bf16"), ((9, 0), "bf16")])
def test_auto_precision_on_gpus(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    assert choose_precision("auto") == expected
    assert choose_precision("fp32") == "fp32"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the choice on a CPU")
def test_auto_precision_on_this_cpu():
    expected = "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"
    assert choose_precision("auto") == expected


def test_bf16_on_a_gpu_without_bf16_is_refused(tmp_path, tiny_model_dir, tiny_data, monkeypatch):
    resolved = load_train_recipe(write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data), ["precision=bf16"],
                                 out=tmp_path / "o")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Tesla T4")
    with pytest.raises(ConfigError, match=r"precision bf16 needs a GPU with bf16.*Tesla T4 \(compute capability 7.5\)"):
        check_machine(resolved)
