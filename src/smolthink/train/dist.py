"""Several processes (`accelerate launch`, `torchrun`): which one is the main process, and waiting for each other.

Every rank guard of `smolthink train` goes through this module. A launcher sets WORLD_SIZE/RANK; without them
everything here is a no-op, so single-process training never touches torch.distributed.

    use_cpu_group()         before any TrainingArguments exists: on a machine without CUDA the ranks talk gloo
    start(timeout_s)        join the process group (the recipe's ddp_timeout), before any other collective
    is_main(), barrier()    the main process writes; the others wait where they read what it wrote
    main_first(fn, what)    fn on the main process first (building the data); the others run it after, and fail
                            with the main process's message if it failed there
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Callable, TypeVar

from smolthink.errors import UserError

T = TypeVar("T")


class MainProcessFailed(UserError, RuntimeError):
    """Raised on the other ranks when the main process failed a step they wait on."""


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    return rank() == 0


def use_cpu_group() -> None:
    """Under a launcher on a machine without CUDA, tell accelerate the ranks are CPU processes (gloo).

    Without it accelerate reads a torchrun (or `accelerate launch --multi_gpu`) start on CPU as one process per
    rank, and every rank would train the whole run alone, each believing it is the main process. TrainingArguments
    sets up its devices as it is built (when the recipe is loaded), so this comes first.
    """
    if world_size() > 1:
        import torch

        if not torch.cuda.is_available():
            os.environ["ACCELERATE_USE_CPU"] = "true"  # what `accelerate launch --cpu` sets


def start(timeout_s: float) -> None:
    """Join the launcher's process group through accelerate's PartialState, as the Trainer will (a no-op if the
    recipe's TrainingArguments already did)."""
    if world_size() == 1:
        return
    import torch
    from accelerate import PartialState

    PartialState(cpu=not torch.cuda.is_available(), timeout=timedelta(seconds=timeout_s))


def barrier() -> None:
    if world_size() > 1:
        import torch.distributed as torch_dist

        torch_dist.barrier()


def main_first(fn: Callable[[], T], what: str) -> T:
    """Run `fn` on the main process, then on the others (which then only read what it made).

    The outcome travels with the wait: if the main process fails, the others raise MainProcessFailed with its
    message instead of waiting for a result that never comes.
    """
    if world_size() == 1:
        return fn()
    import torch.distributed as torch_dist

    outcome: list[str | None] = [None]
    if is_main():
        try:
            result = fn()
        except BaseException as e:
            outcome[0] = f"{type(e).__name__}: {e}"
            torch_dist.broadcast_object_list(outcome, src=0)
            raise
        torch_dist.broadcast_object_list(outcome, src=0)
        return result
    torch_dist.broadcast_object_list(outcome, src=0)
    if outcome[0] is not None:
        raise MainProcessFailed(f"the main process (rank 0) failed {what}: {outcome[0]}")
    return fn()


def sum_over_ranks(value: float) -> float:
    """`value` summed over every rank (a collective: every rank must call it at the same point)."""
    if world_size() == 1:
        return value
    import torch
    import torch.distributed as torch_dist

    device = torch.device("cuda", torch.cuda.current_device()) if torch_dist.get_backend() == "nccl" else "cpu"
    total = torch.tensor([float(value)], dtype=torch.float64, device=device)
    torch_dist.all_reduce(total)
    return float(total.item())
