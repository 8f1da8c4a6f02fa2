"""Two training processes on this CPU (torchrun, gloo) on the tiny model: the run is the single-process run of the
same global batch, written once; a killed rank fails the launch, and --resume finishes the run.

Each launch runs in its own process group with a timeout; on any failure the whole group is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from smolthink.llama_server import free_port
from test_train import losses, quiet

# The two runs compute the same sums in another order (one process accumulates two micro-batches; two processes
# all-reduce one each): equal to float rounding. Measured: 0.0 in fp32 and bf16 on this machine.
LOSS_TOLERANCE = 1e-4

LAUNCH_TIMEOUT = 180


def torchrun(cwd: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
            "--master_port", str(free_port()), "-m", "smolthink.cli", "train", *args]


def start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
           "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = LAUNCH_TIMEOUT) -> tuple[int, str]:
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"the launch ran past {timeout} s:\n{output[-4000:]}")
    return proc.returncode, output


def run_launch(cwd: Path, *args: str) -> str:
    proc = start(torchrun(cwd, *args), cwd)
    code, output = finish(proc)
    assert code == 0, output[-4000:]
    return output


@pytest.fixture
def workdir(tmp_path, tiny_model_dir):
    """A working directory with a data *recipe* (so the launch builds the data) and a training recipe."""
    (tmp_path / "data.yaml").write_text(
        "name: mini\nseed: 0\nvalidation: 0.1\ntokenizer: smollm2-135m\n"
        "sources: [{name: r, type: synthetic-reasoning, n: 24, seed: 5}, {name: t, type: synthetic-tools, n: 16, seed: 6}]\n"
        "phases: [{name: short, window: 384, stride: 96}]\n")
    recipe = {"name": "t", "model": str(tiny_model_dir), "data": "data.yaml", "precision": "fp32",
              "defaults": {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "learning_rate": 1e-3,
                           "logging_steps": 1, "save_steps": 2, "warmup_steps": 0, "seed": 3},
              "phases": [{"name": "short", "max_steps": 4}]}
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe))
    return tmp_path


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_two_processes_train_the_single_process_run_once(workdir, monkeypatch, precision):
    output = run_launch(workdir, "r.yaml", "--out", "ddp", "--set", f"precision={precision}")
    run = workdir / "ddp"
    # the data was built once, by the main process, where the recipe says; one bar, one set of messages
    assert output.count("building the data") == 1 and output.count("trained ddp") == 1
    assert (workdir / "runs/data/mini/manifest.json").is_file()
    # one run directory: every step logged once, one checkpoint set holding both ranks' RNG states, one model
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2, 3, 4]
    checkpoints = sorted(p.name for p in (run / "short").glob("checkpoint-*"))
    assert checkpoints == ["checkpoint-2", "checkpoint-4"]
    for name in checkpoints:
        files = {p.name for p in (run / "short" / name).iterdir()}
        assert {"smolthink_complete.json", "rng_state_0.pth", "rng_state_1.pth", "optimizer.pt"} <= files
        assert ("master_weights.pt" in files) == (precision == "bf16")
    assert (run / "model.safetensors").is_file() and (run / "loss_curve.png").is_file()
    assert json.loads((run / "train_config.json").read_text())["processes"] == 2
    # the same global batch in one process (2 rows x 2 accumulation steps = 2 rows x 2 processes)
    from smolthink.train.run import train

    monkeypatch.chdir(workdir)
    single = train(workdir / "r.yaml", out=workdir / "single", console=quiet(),
                   overrides=[f"precision={precision}", "defaults.gradient_accumulation_steps=2"])
    a, b = losses(single), losses(run)
    assert a.keys() == b.keys()
    for key in a:
        assert abs(a[key] - b[key]) <= LOSS_TOLERANCE, (key, a[key], b[key])


def _rank_pids(launcher: int) -> dict[int, int]:
    """rank -> pid of the launcher's worker processes (read from /proc: their RANK environment variable)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != launcher:
                continue
            env = (stat.parent / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
        for item in env:
            if item.startswith(b"RANK="):
                found[int(item[5:])] = int(stat.parent.name)
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")
def test_a_killed_rank_fails_the_launch_and_resume_finishes(workdir):
    args = ["r.yaml", "--out", "cut", "--set", "phases.0.max_steps=12"]
    proc = start(torchrun(workdir, *args), workdir)
    marker = workdir / "cut/short/checkpoint-2/smolthink_complete.json"
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT
        while not marker.is_file():
            assert proc.poll() is None, proc.communicate()[0][-4000:]
            assert time.monotonic() < deadline, "no checkpoint within the timeout"
            time.sleep(0.05)
        os.kill(_rank_pids(proc.pid)[1], signal.SIGKILL)
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    code, output = finish(proc)
    # the launcher fails and says which rank died and how
    assert code != 0
    assert "rank      : 1" in output and "Signal 9 (SIGKILL)" in output, output[-4000:]
    assert not (workdir / "cut/model.safetensors").exists()
    output = run_launch(workdir, *args, "--resume")
    assert "resuming from cut/short/checkpoint-" in " ".join(output.split())
    steps = [json.loads(line)["step"] for line in (workdir / "cut/metrics.jsonl").read_text().splitlines()
             if "loss" in json.loads(line)]
    assert steps[-1] == 12 and (workdir / "cut/model.safetensors").is_file()
