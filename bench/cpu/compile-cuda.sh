#!/usr/bin/env bash
# How long llamac takes to build a CUDA artifact (lowering, kernel emission
# and NVRTC for sm_80, sm_86, sm_89, sm_90a and compute_80's PTX), with the
# archs compiled one after another (LLAMAC_NVRTC_THREADS=1, the baseline)
# beside the default (an arch a thread, up to the machine's cores), in one
# run. No GPU is needed.
#
#   bench/cpu/compile-cuda.sh [BUILD_DIR] [MODEL...]
#
# BUILD_DIR defaults to build (run `make build` first); the models to
# llama2-7b and llama2-70b, bf16, --entry=prefill,decode. REPEATS (default
# 3) runs each; the best wall time is printed, with the user CPU time of
# that run.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
shift || true
models=("$@")
[[ ${#models[@]} -gt 0 ]] || models=(llama2-7b llama2-70b)
repeats=${REPEATS:-3}
llamac=$build/bin/llamac
[ -x "$llamac" ] || { echo "missing $llamac: run 'make build' first" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# best THREADS MODEL: prints "wall user" (seconds) of the fastest of the
# repeats; THREADS empty means the default.
best() {
  local threads=$1 model=$2 wall=0 user=0 i
  local TIMEFORMAT='%R %U'
  for ((i = 0; i < repeats; i++)); do
    { time env ${threads:+LLAMAC_NVRTC_THREADS=$threads} "$llamac" \
      --model "$model" --dtype bf16 --entry=prefill,decode --target=cuda \
      -o "$work/m.art" 2>/dev/null; } 2>"$work/time"
    read -r w u <"$work/time"
    if [[ $i == 0 ]] || awk -v a="$w" -v b="$wall" 'BEGIN { exit !(a < b) }'; then
      wall=$w
      user=$u
    fi
  done
  echo "$wall $user"
}

echo "llamac --target=cuda, bf16 prefill and decode, $(nproc) cores, best of $repeats"
printf '%-12s %24s %24s %8s\n' model "one thread (wall/user s)" "default (wall/user s)" speedup
for model in "${models[@]}"; do
  # A first, untimed build: it reports a bad model, and warms the caches.
  "$llamac" --model "$model" --dtype bf16 --entry=prefill,decode \
    --target=cuda -o "$work/m.art"
  read -r w1 u1 < <(best 1 "$model")
  read -r wn un < <(best "" "$model")
  printf '%-12s %24s %24s %7.2fx\n' "$model" "$w1 / $u1" "$wn / $un" \
    "$(awk -v a="$w1" -v b="$wn" 'BEGIN { print a / b }')"
done
