#!/usr/bin/env bash
# Decode (and prefill) tokens/s of llama-run on stories260K, fused against the
# unfused pipeline, with the per-kernel breakdown, in one run.
#
#   bench/cpu/decode.sh [BUILD_DIR] [MODELS_DIR]
#
# BUILD_DIR defaults to build (run `make build` first); MODELS_DIR to
# $LLAMAC_MODELS_DIR or ../shared/models. The peer figure for llama2.c's run.c
# (about 17,000 tokens/s on this 2-core machine, built -Ofast -march=native
# -fopenmp, 256 steps) is the one issue 4 quotes: run.c is not available on
# this machine, so it is printed as a reference, not measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
models=${2:-${LLAMAC_MODELS_DIR:-../shared/models}}
steps=${STEPS:-256}
repeats=${REPEATS:-5}
llamac=$build/bin/llamac
run=$build/bin/llama-run
for f in "$llamac" "$run"; do
  [ -x "$f" ] || { echo "missing $f: run 'make build' first" >&2; exit 1; }
done
[ -f "$models/stories260K.bin" ] || { echo "missing $models/stories260K.bin" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$llamac" --model "$models/stories260K.bin" --entry=prefill,decode --target=cpu -o "$work/fused.art"
"$llamac" --model "$models/stories260K.bin" --entry=prefill,decode --target=cpu --no-fusion -o "$work/unfused.art"

# Prints "decode_tok_s prefill_tok_s" of one configuration.
measure() {
  local art=$1 threads=$2
  "$run" bench --artifact "$art" --weights "$models/stories260K.bin" \
    --steps "$steps" --prompt-len 64 --threads "$threads" --repeats "$repeats" \
    > "$work/out.txt"
  local decode prefill
  decode=$(awk '/^decode:/ {print $(NF-5)}' "$work/out.txt")
  prefill=$(awk '/^prefill:/ {print $(NF-1)}' "$work/out.txt")
  echo "$decode $prefill"
}

printf '%-34s %8s %16s %16s\n' "stories260K, $steps decode steps" threads "decode tok/s" "prefill tok/s"
for threads in 1 2; do
  read -r fd fp < <(measure "$work/fused.art" "$threads")
  read -r ud up < <(measure "$work/unfused.art" "$threads")
  printf '%-34s %8s %16s %16s\n' "llamac, fused" "$threads" "$fd" "$fp"
  printf '%-34s %8s %16s %16s\n' "llamac, unfused (baseline)" "$threads" "$ud" "$up"
done
printf '%-34s %8s %16s %16s\n' "llama2.c run.c (issue's figure)" 2 "~17000" "-"
echo
echo "per-kernel breakdown (fused, 1 thread):"
"$run" bench --artifact "$work/fused.art" --weights "$models/stories260K.bin" \
  --steps "$steps" --prompt-len 64 --threads 1 --repeats "$repeats"
