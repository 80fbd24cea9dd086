#!/usr/bin/env bash
# The GPU benchmark: llama-run against transformers (eager and torch.compile),
# Llama in plain PyTorch under torch.compile (bench/gpu/reference_model.py),
# cuBLAS and SDPA flash, on one GPU, printed side by side:
#
#   bench/gpu/run.sh ARTIFACTS_DIR [OUT_DIR]
#
# ARTIFACTS_DIR comes from bench/gpu/make-artifacts.sh (Llama-2-7B and an
# 8-layer Llama-2-70B-shaped model, bf16). Both run on random bf16 weights
# (--random-weights: generated on the GPU from a seed by the artifact's fill
# kernels, never written to disk). Per model: decode tokens/s at batch 1 over STEPS tokens,
# prefill tokens/s at 512, 2048 and 4096, the fraction of the measured
# copy bandwidth that decode uses, and per-kernel times (bench/gpu/
# compare.py), and llama-run's decode once more over the last STEPS
# positions of the cache (--context), where attention reads a long cache.
# OUT_DIR (default: a temporary directory) keeps the JSON.
#
# Needs what test/gpu/check.sh needs; LLAMA_RUN=path skips the runtime
# build, BUILD_DIR picks its directory (default build-gpu), PYTHON the
# interpreter, STEPS the decode length (default 128), NO_COMPILE=1 skips
# torch.compile (its compilations take minutes on 7B). MODELS=a,b keeps the
# artifacts whose names contain a or b. DECODE_ONLY=1 measures decode alone
# (llama-run once, transformers eager and compiled, plain PyTorch compiled;
# no prefill, no kernels), so that torch.compile's figures fit in a short
# run:
#
#   DECODE_ONLY=1 MODELS=llama2-7b bench/gpu/run.sh ARTIFACTS_DIR
#
# PTX=1 adds llama-run's decode and prefill on the artifact's PTX (--ptx:
# compute_80's portable mma.sync kernels, JIT-compiled by the driver), the
# baseline that the sm_90a cubin's wgmma and TMA kernels are measured
# against on a Hopper GPU.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
fi
artifacts=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${2:-$(mktemp -d "${TMPDIR:-/tmp}/llamac-bench.XXXXXX")}
mkdir -p "$out"
python=${PYTHON:-python3}
steps=${STEPS:-128}
lengths=512,2048,4096
decode_only=${DECODE_ONLY:-}
ptx_baseline=${PTX:-}
[[ -n $decode_only ]] && lengths=0

source "$root/bench/gpu/common.sh"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem \
  --format=csv,noheader

inference_artifacts "$artifacts"
[[ ${#models[@]} -gt 0 ]] ||
  { echo "error: no .art in $artifacts${MODELS:+ matching MODELS=$MODELS}" >&2; exit 1; }
for artifact in "${models[@]}"; do
  begin_model "$artifact"
  # llama-run first, alone on the GPU; then PyTorch in its own process.
  "$llama_run" bench --artifact "$artifact" --random-weights --device cuda \
    --steps "$steps" --prompt-len "$lengths" --repeats 3 \
    --json "$out/$name.json" | tee "$out/$name.bench.txt"
  if [[ -n $decode_only ]]; then
    "$python" "$root/bench/gpu/compare.py" --bench-json "$out/$name.json" \
      --info-json "$out/$name.info.json" --steps "$steps" --decode-only \
      "${compile_flag[@]}"
    continue
  fi
  # The same decode with every kernel launched by the CPU, for the CUDA
  # graphs' share of the figure above.
  echo -n "without CUDA graphs, "
  "$llama_run" bench --artifact "$artifact" --random-weights --device cuda \
    --steps "$steps" --prompt-len 0 --repeats 3 --no-cuda-graphs |
    grep '^decode:'
  # And with each kernel launched only after the previous one finished
  # (no programmatic dependent launch), for PDL's share (sm_90 and later).
  echo -n "without programmatic dependent launch, "
  "$llama_run" bench --artifact "$artifact" --random-weights --device cuda \
    --steps "$steps" --prompt-len 0 --repeats 3 --no-pdl |
    grep '^decode:'
  # And decode at the end of the cache (positions max_seq_len - STEPS on,
  # written by untimed prefill calls): attention then reads about as many
  # bytes of cached keys and values a token as a sixth of 7B's weights.
  context=$(long_context)
  echo -n "with a long context, "
  "$llama_run" bench --artifact "$artifact" --random-weights --device cuda \
    --steps "$steps" --prompt-len 0 --context "$context" --repeats 3 \
    --json "$out/$name.context.json" | grep '^decode:'
  # And prefill with sm_90a's GEMMs launched without clusters (each block
  # loads its whole weight tile instead of half of a pair's by multicast),
  # for the clusters' share of the prefill figures.
  echo "without clusters (--no-clusters):"
  "$llama_run" bench --artifact "$artifact" --random-weights --device cuda \
    --steps 1 --prompt-len "$lengths" --repeats 3 --no-clusters |
    grep -E '^prefill:'
  if [[ -n $ptx_baseline ]]; then
    echo "with the artifact's PTX (--ptx: mma.sync, no wgmma or TMA):"
    "$llama_run" bench --artifact "$artifact" --random-weights --device cuda \
      --steps "$steps" --prompt-len "$lengths" --repeats 3 --ptx |
      grep -E '^(backend|prefill|decode):'
  fi
  "$python" "$root/bench/gpu/compare.py" --bench-json "$out/$name.json" \
    --context-bench-json "$out/$name.context.json" \
    --info-json "$out/$name.info.json" --steps "$steps" \
    --prompt-lens "$lengths" "${compile_flag[@]}"
done
echo
echo "results kept in $out"
