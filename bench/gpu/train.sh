#!/usr/bin/env bash
# The GPU training benchmark: llama-run's train_step against the same
# training step in PyTorch, on one GPU, printed side by side:
#
#   bench/gpu/train.sh ARTIFACTS_DIR MODELS_DIR [OUT_DIR]
#
# ARTIFACTS_DIR's *-train.art come from bench/gpu/make-artifacts.sh (train
# steps of Llama-2-7B's shapes with 2 layers, batch 4 x 512 tokens: one f32,
# one bf16 mixed precision); each is timed against PyTorch in its precision.
# MODELS_DIR holds llama2-tokenizer.model; the text is the repository's
# test/runtime/Inputs/stories.txt, repeated. Both sides start from random
# weights. llama-run's figure is the steady state: tokens/s over steps 2 to
# STEPS (default 10), the first step (module load, CUDA graph capture) left
# out; bench/gpu/train_reference.py then times PyTorch on the artifact's
# config, batch and length. OUT_DIR (default: a temporary directory) keeps
# the logs and JSON. LLAMA_RUN, BUILD_DIR, PYTHON, NO_COMPILE=1 and PTX=1
# (a row on the artifact's portable mma.sync PTX) as in bench/gpu/run.sh;
# on cuda a row without thread-block clusters (--no-clusters) follows
# llama-run's; PROFILE=1 adds where a step's time goes (llama-run train
# --profile over 4 steps: every kernel timed, summed by op); DEVICE=cpu
# times a cpu artifact instead (a smoke run).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
fi
artifacts=$(cd "$1" && pwd)
tokenizer=$2/llama2-tokenizer.model
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${3:-$(mktemp -d "${TMPDIR:-/tmp}/llamac-train-bench.XXXXXX")}
mkdir -p "$out"
python=${PYTHON:-python3}
steps=${STEPS:-10}
device=${DEVICE:-cuda}
[[ -f $tokenizer ]] || { echo "error: $tokenizer not found" >&2; exit 1; }
(( steps >= 2 )) || { echo "error: STEPS must be at least 2" >&2; exit 1; }

source "$root/bench/gpu/common.sh"
[[ $device == cuda ]] && nvidia-smi --query-gpu=name,memory.total \
  --format=csv,noheader

data=$out/stories-x40.txt
for _ in $(seq 40); do
  cat "$root/test/runtime/Inputs/stories.txt"
  echo
done >"$data"

shopt -s nullglob
models=("$artifacts"/*-train.art)
[[ ${#models[@]} -gt 0 ]] || { echo "error: no *-train.art in $artifacts" >&2; exit 1; }
# run_train [FLAGS...]: llama-run train on $artifact from random weights,
# on the benchmark's text, tokenizer and schedule.
run_train() {
  "$llama_run" train --artifact "$artifact" --random-weights --data "$data" \
    --tokenizer "$tokenizer" --eval-batches 0 --warmup 0 --lr 1e-4 \
    --device "$device" "$@"
}
# train LOG [FLAGS...]: runs STEPS steps of it into LOG, prints its first
# line and sets rate to its steady-state tokens/s (the last progress line
# covers steps 2 to STEPS).
train() {
  local log=$1
  shift
  run_train --steps "$steps" --log-every "$steps" "$@" >"$log"
  head -n 1 "$log"
  rate=$(grep '^step' "$log" | tail -n 1 |
    sed -n 's/.*| \([0-9]*\) tok\/s$/\1/p')
  [[ -n $rate ]] || { echo "error: no tok/s in $log" >&2; exit 1; }
}
for artifact in "${models[@]}"; do
  begin_model "$artifact"
  train "$out/$name.train.txt"
  precision=f32
  grep -q '"dtype": *"bf16"' "$out/$name.info.json" &&
    precision="bf16 compute, f32 master weights"
  printf '  %-52s %10s tok/s\n' "llama-run train_step, $precision" "$rate"
  if [[ $device == cuda ]]; then
    # The clusters' share: sm_90a's GEMMs (forward and backward) launched
    # without them, each block loading its shared operand whole.
    train "$out/$name.train-no-clusters.txt" --no-clusters
    printf '  %-52s %10s tok/s\n' "the same without clusters (--no-clusters)" \
      "$rate"
  fi
  if [[ -n ${PTX:-} && $device == cuda ]]; then
    train "$out/$name.train-ptx.txt" --ptx
    printf '  %-52s %10s tok/s\n' "the same on the artifact's PTX (--ptx)" "$rate"
  fi
  if [[ -n ${PROFILE:-} ]]; then
    run_train --steps 4 --log-every 4 --profile >"$out/$name.profile.txt"
    sed -n '/ kernels:$/,$p' "$out/$name.profile.txt"
  fi
  "$python" "$root/bench/gpu/train_reference.py" \
    --info-json "$out/$name.info.json" --steps "$steps" --device "$device" \
    --json "$out/$name.reference.json" "${compile_flag[@]}"
done
echo
echo "results kept in $out"
