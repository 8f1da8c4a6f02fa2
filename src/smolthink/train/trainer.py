"""The training step: TRL's SFTTrainer with a faster loss and bf16 compute over fp32 master weights.

What differs from a stock `SFTTrainer`, and why (measured in bench/bench_train.py):

* **Loss only where it counts.** The LM head (49,152 × 576 for SmolLM2, a fifth of the model's FLOPs) runs only at
  the positions whose next token is an assistant token (`logits_to_keep`), about a quarter of them in the default
  data; the cross-entropy is taken in fp32 on those logits. Stock TRL projects every position.
* **bf16 compute, fp32 master weights.** The model runs forward and backward in bf16 (2.5–3× the fp32 matmul rate
  on a CPU with AVX512-BF16 or AMX, and on any recent GPU); the optimizer updates fp32 copies of the trainable
  weights (`MasterWeights`), into which every backward's bf16 gradient is accumulated in fp32 at once. Casting the
  weights to bf16 alone stalls the loss (bf16 cannot hold small updates); autocast alone re-casts every weight at
  every step and buys nothing on CPU.
* **Several processes.** Under DDP the loss is scaled as Trainer scales it (the token count is the global batch's,
  DDP averages), so a 2-process run computes the single-process loss and gradient of the same global batch. With
  the fp32 masters the model is not wrapped in DDP (its reducer would read bf16 gradients the masters' hooks have
  already taken and cleared); instead the masters' fp32 gradients are averaged across the ranks after the last
  micro-batch of every optimizer step (`MasterWeights.average_`), which is what DDP would have done, in fp32.
  Checkpoints are written by the main process; the completion marker only once every rank has written its part.
* **Mixture-of-Experts.** The router's load-balancing loss, `router_aux_loss_coef × aux_loss`, is added to the
  loss as transformers' MoE models add it when given labels (the forward that gets no labels here does not), and
  logged as `aux_loss`; TRL's SFTTrainer decides whether it applies (`aux_loss_enabled`: an MoE model and a non-zero
  coefficient, the phase's `router_aux_loss_coef` or else the model config's).
* A NaN/inf loss stops training with the step and the batch (saved for inspection); checkpoints carry the fp32
  master weights so `--resume` continues exactly, and a checkpoint is used only once it is complete.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from transformers import TrainerCallback
from trl import SFTTrainer

from smolthink.errors import UserError
from smolthink.atomic import write_atomic
from smolthink.train import dist

MASTER_FILE = "master_weights.pt"
COMPLETE_FILE = "smolthink_complete.json"


class TrainingError(UserError, RuntimeError):
    """Training cannot go on (NaN loss, bad data); the message says where and what to do."""


class MasterWeights:
    """fp32 copies of a bf16 model's trainable parameters; the optimizer steps these, the model computes with bf16.

    Each bf16 gradient is added into the fp32 master gradient as soon as backward produces it (a post-accumulate
    hook), and the bf16 gradient is freed, so gradient accumulation sums in fp32 and no bf16 gradients pile up.
    """

    def __init__(self, model: torch.nn.Module):
        self.pairs: list[tuple[str, torch.nn.Parameter, torch.Tensor]] = []
        for name, param in model.named_parameters():
            if param.requires_grad:
                master = param.detach().to(torch.float32).clone()
                self.pairs.append((name, param, master))
        model.to(torch.bfloat16)
        for _, param, master in self.pairs:
            param.register_post_accumulate_grad_hook(self._hook(master))

    @staticmethod
    def _hook(master: torch.Tensor):
        def accumulate(param: torch.Tensor) -> None:
            grad = param.grad.to(torch.float32)
            master.grad = grad if master.grad is None else master.grad.add_(grad)
            param.grad = None

        return accumulate

    def named_masters(self) -> list[tuple[str, torch.Tensor]]:
        return [(name, master) for name, _, master in self.pairs]

    def grads(self) -> list[torch.Tensor]:
        return [m.grad for _, _, m in self.pairs if m.grad is not None]

    @torch.no_grad()
    def average_(self, bucket_elements: int = 2**26) -> None:
        """Average the fp32 gradients over the ranks, in all-reduces of at most `bucket_elements` (256 MB) each.

        Every rank holds a gradient for every master afterwards (zeros where its micro-batches gave none), so the
        ranks' optimizers take the same step and the masters stay equal everywhere.
        """
        import torch.distributed as torch_dist
        from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

        masters = [m for _, _, m in self.pairs]
        for m in masters:
            if m.grad is None:
                m.grad = torch.zeros_like(m)
        buckets, current, size = [], [], 0
        for m in masters:
            if current and size + m.numel() > bucket_elements:
                buckets.append(current)
                current, size = [], 0
            current.append(m)
            size += m.numel()
        buckets.append(current)
        world = torch_dist.get_world_size()
        for bucket in buckets:
            grads = [m.grad for m in bucket]
            flat = _flatten_dense_tensors(grads)
            torch_dist.all_reduce(flat)
            flat.div_(world)
            for g, reduced in zip(grads, _unflatten_dense_tensors(flat, grads)):
                g.copy_(reduced)

    def clip_(self, max_norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_([m for _, _, m in self.pairs], max_norm)

    def norm(self) -> torch.Tensor:
        grads = self.grads()
        if not grads:
            return torch.tensor(0.0)
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))

    @torch.no_grad()
    def sync(self) -> None:
        """After an optimizer step: the model's bf16 weights follow the masters; gradients are cleared."""
        for _, param, master in self.pairs:
            param.copy_(master)
            master.grad = None

    @torch.no_grad()
    def write_fp32(self, model: torch.nn.Module) -> None:
        """Cast the model back to fp32 and give it the exact master values (for saving and for the next phase)."""
        model.to(torch.float32)
        for _, param, master in self.pairs:
            param.copy_(master)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {name: master for name, _, master in self.pairs}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = [name for name, _, _ in self.pairs if name not in state]
        if missing:
            raise TrainingError(f"the checkpoint's master weights lack {len(missing)} parameters, e.g. {missing[0]}")
        for name, param, master in self.pairs:
            master.copy_(state[name])
            param.copy_(master)


class SmolTrainer(SFTTrainer):
    """SFTTrainer with the loss above, optional bf16/fp32-master training, token counting and NaN checks."""

    # compute_loss returns the loss already divided by the number of target tokens of the whole accumulated batch
    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, master: MasterWeights | None = None, phase_name: str = "", **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.master = master
        self.phase_name = phase_name
        self.real_tokens = 0  # non-padding tokens seen in this process (for tokens/s)
        self.model_accepts_loss_kwargs = True  # so Trainer counts num_items_in_batch over the accumulated batch

    # ------------------------------------------------------------------------------------------------- loss
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = dict(inputs)
        real = inputs.pop("num_real_tokens", None)
        labels = inputs.pop("labels")
        targets = labels[:, 1:]
        # positions (shared by the rows of the batch) whose next token is trained on
        keep = (targets != -100).any(dim=0).nonzero().squeeze(1)
        kwargs: dict[str, Any] = {"use_cache": False, "logits_to_keep": keep}
        if self.aux_loss_enabled:  # set by SFTTrainer: an MoE model whose aux coefficient is not 0
            kwargs["output_router_logits"] = True
        outputs = model(**inputs, **kwargs)
        kept_targets = targets[:, keep]
        selected = kept_targets != -100
        loss_sum = F.cross_entropy(outputs.logits[selected].float(), kept_targets[selected], reduction="sum")
        global_count = num_items_in_batch is not None and self.args.average_tokens_across_devices
        if num_items_in_batch is None:  # evaluation, or a model Trainer could not count for
            num_items_in_batch = selected.sum() * (self.current_gradient_accumulation_steps if model.training else 1)
        loss = loss_sum / torch.as_tensor(num_items_in_batch, device=loss_sum.device).clamp(min=1)
        if model.training and global_count and self.accelerator.num_processes > 1:
            # num_items_in_batch counts every rank's tokens and DDP averages the gradients over the ranks: as
            # Trainer.compute_loss does, scale back up so the average is the global batch's per-token gradient (the
            # MoE term below is a mean already, which DDP's average keeps)
            loss = loss * self.accelerator.num_processes
        aux = getattr(outputs, "aux_loss", None) if self.aux_loss_enabled else None
        if aux is not None:  # MoE load balancing: a per-micro-batch mean, averaged over the accumulation steps
            steps = self.current_gradient_accumulation_steps if model.training else 1
            loss = loss + self.router_aux_loss_coef * aux / steps
            # logged as SFTTrainer logs it (its `log` averages `_metrics` into each line): the mean over the ranks,
            # and over the micro-batches since the last line, so `loss` = LM loss + coef × `aux_loss`
            mode = "train" if model.training else "eval"
            self._metrics[mode]["aux_loss"].append(self.accelerator.gather_for_metrics(aux.detach()).mean().item())
        if not torch.isfinite(loss):
            self._stop_on_nan(loss, inputs, labels)
        if model.training and real is not None:
            self.real_tokens += int(real)
        return (loss, outputs) if return_outputs else loss

    def _stop_on_nan(self, loss: torch.Tensor, inputs: dict[str, Any], labels: torch.Tensor) -> None:
        rank = f"-rank{dist.rank()}" if dist.world_size() > 1 else ""
        path = Path(self.args.output_dir) / f"nonfinite-batch-step{self.state.global_step + 1}{rank}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"input_ids": inputs["input_ids"].cpu(), "labels": labels.cpu(),
                    "position_ids": inputs["position_ids"].cpu()}, path)
        raise TrainingError(
            f"phase {self.phase_name}: the loss became {loss.item()} at step {self.state.global_step + 1}; "
            f"the batch is saved in {path}. Lower the learning rate, or check the data rows in that batch."
        )

    # -------------------------------------------------------------------------------- fp32 master weights
    def _wrap_model(self, model, training=True, dataloader=None):
        if self.master is not None and training and self.accelerator.num_processes > 1:
            return Unsynced(model)  # not DDP: the masters average their own fp32 gradients (training_step)
        return super()._wrap_model(model, training, dataloader)

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self.master is not None and self.accelerator.num_processes > 1 and self.accelerator.sync_gradients:
            self.master.average_()  # the last micro-batch of the step: as DDP would have, before clipping
        return loss

    def create_optimizer(self, model=None):
        if self.master is None:
            return super().create_optimizer(model)
        if self.optimizer is None:
            decay = set(self.get_decay_parameter_names(self.model))
            masters = self.master.named_masters()
            groups = [
                {"params": [m for n, m in masters if n in decay], "weight_decay": self.args.weight_decay},
                {"params": [m for n, m in masters if n not in decay], "weight_decay": 0.0},
            ]
            cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, self.model)
            self.optimizer = cls([g for g in groups if g["params"]], **kwargs)
        return self.optimizer

    def _clip_grad_norm(self, model):
        if self.master is None:
            return super()._clip_grad_norm(model)
        return self.master.clip_(self.args.max_grad_norm)

    def _get_grad_norm(self, model, grad_norm=None):
        if self.master is None:
            return super()._get_grad_norm(model, grad_norm)
        return float(self.master.norm() if grad_norm is None else grad_norm)

    # ---------------------------------------------------------------------------------------- checkpoints
    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        if self.master is not None and self.args.should_save:  # the masters are equal on every rank
            torch.save(self.master.state_dict(), os.path.join(output_dir, MASTER_FILE))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        if checkpoint is not None and self.master is not None:
            path = os.path.join(checkpoint, MASTER_FILE)
            if not os.path.isfile(path):
                raise TrainingError(f"{checkpoint} has no {MASTER_FILE}: it was not written by a bf16 smolthink run")
            self.master.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))

    def _save_checkpoint(self, model, trial) -> None:
        super()._save_checkpoint(model, trial)
        # The marker is written last, once every rank has written its part (its RNG state, its shard): a checkpoint
        # without it was interrupted and is never resumed from.
        dist.barrier()
        if self.args.should_save:
            folder = Path(self.args.output_dir) / f"checkpoint-{self.state.global_step}"
            write_atomic(folder / COMPLETE_FILE, json.dumps({"step": self.state.global_step}))


class Unsynced(torch.nn.Module):
    """The model as the training loop sees it under several processes with fp32 masters: not wrapped in DDP.

    Trainer hands its model to accelerate for DDP unless `_wrap_model` has wrapped it already; this wrapper says
    so and only forwards. Its parameters are the model's, so saving and the optimizer see the model itself.
    """

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)


class SyncMasters(TrainerCallback):
    """Copy the updated fp32 masters into the bf16 model right after each optimizer step."""

    def __init__(self, master: MasterWeights):
        self.master = master

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.master.sync()


def complete_checkpoints(phase_dir: Path) -> list[Path]:
    """The phase's complete checkpoints, oldest first."""
    found = [p for p in phase_dir.glob("checkpoint-*") if (p / COMPLETE_FILE).is_file()]
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))
