"""On a CUDA GPU (skipped elsewhere, see tests/conftest.py): bf16 training, the packed attention path CUDA runs (its
loss equals the unpacked loss), LoRA, fp16 with loss scaling, and inference in the transformers backend.

bench/gpu_check.sh runs these first on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from test_train import losses, quiet, write_recipe

pytestmark = pytest.mark.gpu


def test_bf16_training_on_cuda_learns_and_saves_fp32(tmp_path, tiny_model_dir, tiny_data):
    from smolthink.models import load_hf, resolve_model
    from smolthink.train.run import choose_precision, train

    if choose_precision("auto") != "bf16":
        pytest.skip("this GPU has no bf16 matmuls")
    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, precision="bf16",
                          phases=[{"name": "short", "max_steps": 6}])
    run = train(recipe, out=tmp_path / "run", console=quiet())
    seen = losses(run)
    assert all(v == v for v in seen.values()) and seen[("short", 6)] < seen[("short", 1)]
    assert (run / "short" / "checkpoint-6" / "master_weights.pt").is_file()
    model, _ = load_hf(resolve_model(str(run)))
    assert model.dtype == torch.float32


def test_auto_precision_trains_on_this_gpu(tmp_path, tiny_model_dir, tiny_data):
    """bf16 on Ampere and later; fp16 with loss scaling on older cards (T4, V100)."""
    from smolthink.train.run import train

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, precision="auto",
                          phases=[{"name": "short", "max_steps": 4}])
    seen = losses(train(recipe, out=tmp_path / "run", console=quiet()))
    assert len(seen) == 4 and all(v == v for v in seen.values())


@pytest.mark.parametrize("dtype, atol", [(torch.float32, 1e-4), (torch.bfloat16, 3e-2)])
def test_packed_loss_equals_unpacked_on_cuda(tiny_model_dir, tiny_data, dtype, atol):
    from datasets import load_from_disk
    from transformers import AutoModelForCausalLM

    from smolthink.train.packing import ATTENTION, PackedCollator, pack, use_packed_attention

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=dtype).cuda()
    use_packed_attention(model)
    assert model.config._attn_implementation == ATTENTION  # the path training takes on CUDA (no flash-attn here)
    windows = load_from_disk(str(tiny_data / "short"))["train"].select_columns(["input_ids", "assistant_masks"])
    row = next(r for r in pack(windows, 384, seed=0) if len(r["seq_lengths"]) >= 3)
    batch = {k: v.cuda() if torch.is_tensor(v) else v for k, v in PackedCollator()([row]).items()}
    cu = batch["cu_seq_lens_q"].tolist()
    with torch.no_grad():
        packed = model(input_ids=batch["input_ids"], position_ids=batch["position_ids"], use_cache=False,
                       cu_seq_lens_q=batch["cu_seq_lens_q"], cu_seq_lens_k=batch["cu_seq_lens_k"],
                       max_length_q=batch["max_length_q"], max_length_k=batch["max_length_k"]).logits[0].float()
        separate = torch.cat([model(input_ids=batch["input_ids"][:, s:e], use_cache=False).logits[0].float()
                              for s, e in zip(cu, cu[1:])])
    targets = batch["labels"][0]

    def per_token(logits):
        return torch.nn.functional.cross_entropy(logits[:-1], targets[1:], reduction="none", ignore_index=-100)

    assert torch.allclose(per_token(packed), per_token(separate), atol=atol)
    mask = targets[1:] != -100
    assert abs(per_token(packed)[mask].mean() - per_token(separate)[mask].mean()) < atol


def test_lora_on_cuda(tmp_path, tiny_model_dir, tiny_data):
    from smolthink.models import resolve_model
    from smolthink.train.run import train

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, method="lora",
                          lora={"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": ["q_proj", "v_proj"]},
                          phases=[{"name": "short", "max_steps": 4}])
    run = train(recipe, out=tmp_path / "lora", console=quiet())
    assert resolve_model(str(run)).kind == "adapter"
    assert all(v == v for v in losses(run).values())


def test_8bit_adamw_with_bitsandbytes(tmp_path, tiny_model_dir, tiny_data):
    pytest.importorskip("bitsandbytes", reason="the gpu extra (pip install 'smolthink[gpu]') is not installed")
    from smolthink.train.run import train

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, phases=[{"name": "short", "max_steps": 4}])
    run = train(recipe, out=tmp_path / "run", overrides=["defaults.optim=adamw_8bit"], console=quiet())
    assert all(v == v for v in losses(run).values())


def test_transformers_backend_generates_on_cuda(tiny_model_dir):
    from smolthink.backends import GenerationConfig, load_backend

    backend = load_backend(str(tiny_model_dir), "transformers")
    assert str(backend.device).startswith("cuda") and next(backend.model.parameters()).is_cuda
    gen = GenerationConfig(max_new_tokens=5)
    text = "".join(backend.stream("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", gen))
    assert isinstance(text, str)
    results = backend.generate_batch(["a b c", "hello there"], gen)
    assert len(results) == 2 and all(1 <= n <= 5 for _, _, n in results)


def test_fsdp_run_on_one_gpu_saves_the_gathered_model(tmp_path, tiny_model_dir, tiny_data):
    """FSDP through the recipe under torchrun (one process: the code path a multi-GPU FSDP run takes, without the
    second GPU): bf16 through FSDP's mixed precision, the final weights gathered from the shards."""
    import json

    from test_multiprocess import finish, free_port, start

    recipe = write_recipe(tmp_path / "r.yaml", tiny_model_dir, tiny_data, precision="auto",
                          defaults={"per_device_train_batch_size": 2, "logging_steps": 1, "save_steps": 2,
                                    "fsdp": "full_shard", "fsdp_config": {"transformer_layer_cls_to_wrap":
                                                                           ["LlamaDecoderLayer"]}},
                          phases=[{"name": "short", "max_steps": 4}])
    cmd = [__import__("sys").executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "--master_port",
           str(free_port()), "-m", "smolthink.cli", "train", str(recipe), "--out", "run"]
    code, output = finish(start(cmd, tmp_path))
    assert code == 0, output[-4000:]
    assert "fsdp's mixed precision" in output or "fp16" in output
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    from smolthink.models import load_hf, resolve_model

    model, _ = load_hf(resolve_model(str(run)))
    assert sum(p.numel() for p in model.parameters()) > 0 and model.dtype == torch.float32
