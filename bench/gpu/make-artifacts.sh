#!/usr/bin/env bash
# Compiles the artifacts bench/gpu/run.sh times, on a machine with llamac
# (MLIR and NVRTC; no GPU needed):
#
#   bench/gpu/make-artifacts.sh OUT_DIR
#
# Llama-2-7B, and Llama-2-70B's shapes (GQA, dim 8192, ffn 28672) with
# 8 of its 80 layers, both bf16, with a prefill entry planned for 4096
# tokens; and for bench/gpu/train.sh, train_steps of Llama-2-7B's shapes
# with 2 layers (TRAIN_LAYERS), batch 4 x 512 tokens, in f32 and in bf16
# (mixed precision). Weights are not needed: the benchmarks bind random ones.
# LLAMAC=path/to/llamac overrides the compiler (default: build/bin/llamac);
# CUDA_ARCHS=sm_90a limits the cubins; LAYERS_70B changes the 70B depth;
# INFERENCE_ONLY=1 skips the train_steps.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 OUT_DIR" >&2
  exit 2
fi
out=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
llamac=${LLAMAC:-$root/build/bin/llamac}
[[ -x $llamac ]] || { echo "error: llamac not found at $llamac (set LLAMAC)" >&2; exit 1; }
mkdir -p "$out"
common=("--entry=prefill,decode" --target=cuda --dtype bf16 --max-seq 4096
  --prefill-max 4096)
[[ -n ${CUDA_ARCHS:-} ]] && common+=(--cuda-arch="$CUDA_ARCHS")

echo "llamac: llama2-7b-bf16-cuda.art"
"$llamac" --model llama2-7b "${common[@]}" -o "$out/llama2-7b-bf16-cuda.art"
layers=${LAYERS_70B:-8}
echo "llamac: llama2-70b-${layers}l-bf16-cuda.art"
"$llamac" --model llama2-70b --n-layers "$layers" "${common[@]}" \
  -o "$out/llama2-70b-${layers}l-bf16-cuda.art"
if [[ -n ${INFERENCE_ONLY:-} ]]; then
  ls -l "$out"
  exit 0
fi
train_layers=${TRAIN_LAYERS:-2}
echo "llamac: llama2-7b-${train_layers}l-f32-train.art"
train=(--entry=train_step --target=cuda --batch 4 --seq-len 512)
[[ -n ${CUDA_ARCHS:-} ]] && train+=(--cuda-arch="$CUDA_ARCHS")
"$llamac" --model llama2-7b --n-layers "$train_layers" "${train[@]}" \
  -o "$out/llama2-7b-${train_layers}l-f32-train.art"
echo "llamac: llama2-7b-${train_layers}l-bf16-train.art"
"$llamac" --model llama2-7b --n-layers "$train_layers" "${train[@]}" \
  --dtype bf16 -o "$out/llama2-7b-${train_layers}l-bf16-train.art"
ls -l "$out"
