#!/usr/bin/env bash
# Compiles the artifacts test/gpu/check.sh runs, on a machine with llamac
# (MLIR and NVRTC; no GPU needed). Copy the output directory to the GPU
# machine, which builds only the runtime.
#
#   test/gpu/make-artifacts.sh OUT_DIR MODELS_DIR
#
# LLAMAC=path/to/llamac overrides the compiler (default: build/bin/llamac).
# CUDA_ARCHS=sm_90a limits the cubins (default: llamac's, sm_80, sm_86, sm_89,
# sm_90a + PTX).
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 OUT_DIR MODELS_DIR" >&2
  exit 2
fi
out=$1
models=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
llamac=${LLAMAC:-$root/build/bin/llamac}
[[ -x $llamac ]] || { echo "error: llamac not found at $llamac (set LLAMAC)" >&2; exit 1; }
[[ -f $models/stories260K.bin ]] || { echo "error: $models/stories260K.bin not found" >&2; exit 1; }
mkdir -p "$out"

cuda_flags=()
[[ -n ${CUDA_ARCHS:-} ]] && cuda_flags+=(--cuda-arch="$CUDA_ARCHS")

# compile NAME TARGET LLAMAC-FLAGS...: one artifact, reported as it goes;
# the flags name its entries.
compile() {
  local name=$1 target=$2
  shift 2
  local extra=()
  [[ $target == cuda ]] && extra=("${cuda_flags[@]}")
  echo "llamac: $name.art"
  "$llamac" "$@" --target="$target" "${extra[@]}" -o "$out/$name.art"
}
serve=--entry=prefill,decode

# (a) stories260K, f32: the greedy sha256 on cuda, and the cpu for reference.
for target in cuda cpu; do
  compile "stories260K-f32-$target" $target --model "$models/stories260K.bin" \
    $serve
done

# (b), (c) tiny random configs, compared with Hugging Face transformers and
# cuda against cpu. MHA with Meta's adjacent RoPE pairs; GQA (4 query heads
# per KV head) with Hugging Face's half-split pairs, so that both RoPE layouts
# and both weight-row orders are exercised.
tiny=(--model tiny --dim 256 --n-layers 2 --n-heads 8 --ffn-dim 768
  --vocab-size 512 --max-seq 256)
for dtype in f32 bf16; do
  for target in cuda cpu; do
    compile "tiny-mha-$dtype-$target" $target "${tiny[@]}" --n-kv-heads 8 \
      --rope-style adjacent --dtype $dtype $serve
    compile "tiny-gqa-$dtype-$target" $target "${tiny[@]}" --n-kv-heads 2 \
      --rope-style half --dtype $dtype $serve
  done
done

# (b) the GQA bf16 config again, for sm_80 only: on Hopper it runs from its
# PTX, whose GEMMs use mma.sync rather than sm_90a's wgmma.
echo "llamac: tiny-gqa-bf16-sm80-cuda.art"
"$llamac" "${tiny[@]}" --n-kv-heads 2 --rope-style half --dtype bf16 $serve \
  --target=cuda --cuda-arch=sm_80 -o "$out/tiny-gqa-bf16-sm80-cuda.art"

# (c) Llama-2-7B shapes (dim 4096, 32 heads, ffn 11008, vocab 32000) with
# two layers, bf16, against transformers with the same weights.
# Off the common shapes: heads of 10 (the scalar attention's last group of
# 4 elements a query half empty), heads of 160 (above the tensor-core
# kernels' 128: key tiles of 24 rows) and a batch of 3 sequences.
for target in cuda cpu; do
  compile "tiny-h10-bf16-$target" $target --model tiny --dim 60 --n-layers 2 \
    --n-heads 6 --n-kv-heads 2 --ffn-dim 100 --vocab-size 512 --max-seq 256 \
    --dtype bf16 $serve
  compile "tiny-h160-f32-$target" $target --model tiny --dim 320 --n-layers 1 \
    --n-heads 2 --n-kv-heads 1 --ffn-dim 256 --vocab-size 512 --max-seq 256 \
    --dtype f32 $serve
  compile "tiny-batch3-bf16-$target" $target "${tiny[@]}" --n-kv-heads 2 \
    --dtype bf16 --batch 3 $serve
done

# (b) flash decoding over many splits: head size 128 in 70B's groups of 8,
# whose 160-row cache splits into 10 of 16 rows, so that 150 decode tokens
# run 1 to 10 splits and merge them through global memory.
for dtype in f32 bf16; do
  for target in cuda cpu; do
    compile "tiny-splits-$dtype-$target" $target --model tiny --dim 1024 \
      --n-layers 1 --n-heads 8 --n-kv-heads 1 --ffn-dim 256 --vocab-size 512 \
      --max-seq 160 --dtype $dtype $serve
  done
done

compile llama2-7b-2l-bf16-cuda cuda --model llama2-7b --n-layers 2 \
  --max-seq 1024 --dtype bf16 $serve

# (d) training: stories260K's train_step (batch 4 x 32 tokens, AdamW) in
# f32 and in mixed precision (bf16 compute, f32 master weights), and a
# small GQA config's loss_and_grads in f32 and bf16, on both targets, and in
# 16 bits over several 64-row tiles (the tensor-core attention backward's
# masks and partial tiles) with heads of 128 (bf16), of 32 in groups of 4
# (f16) and of 64 in a group of 4 (f16; heads of 64 and 128 take the wgmma
# phases on sm_90a); and stories260K's weights as safetensors, to measure
# updates from.
grads=(--model tiny --dim 128 --n-layers 2 --n-heads 8 --n-kv-heads 2
  --ffn-dim 256 --vocab-size 512 --entry=forward_loss --autodiff --batch 2
  --seq-len 24)
long=(--model tiny --n-layers 1 --ffn-dim 256 --vocab-size 512
  --entry=forward_loss --autodiff --batch 2 --seq-len 300)
for target in cuda cpu; do
  compile "stories260K-train-$target" $target --model "$models/stories260K.bin" \
    --entry=train_step --batch 4 --seq-len 32
  compile "stories260K-mixed-train-$target" $target \
    --model "$models/stories260K.bin" --entry=train_step --batch 4 \
    --seq-len 32 --dtype bf16
  for dtype in f32 bf16; do
    compile "grads-$dtype-$target" $target "${grads[@]}" --dtype $dtype
  done
  compile "grads-long-bf16-$target" $target "${long[@]}" --dim 512 \
    --n-heads 4 --n-kv-heads 2 --dtype bf16
  compile "grads-long-f16-$target" $target "${long[@]}" --dim 256 \
    --n-heads 8 --n-kv-heads 2 --dtype f16
  compile "grads-long-h64-f16-$target" $target "${long[@]}" --dim 256 \
    --n-heads 4 --n-kv-heads 1 --dtype f16
  # Evaluation with heads of 128 (GQA, RoPE on halves), whose cacheless
  # fused_rope_attention takes the wgmma kernel on sm_90a; check.sh makes
  # its peaked weights.
  compile "peak-eval-$target" $target --model tiny --dim 512 --n-layers 1 \
    --n-heads 4 --n-kv-heads 2 --ffn-dim 256 --vocab-size 512 \
    --rope-style half --dtype bf16 --entry=train_step --batch 2 --seq-len 300
done

# (c) stories260K as a sharded Hugging Face model directory, which
# transformers' from_pretrained loads, and artifacts compiled from its
# config.json (half-split RoPE on the weights as stored), in f32 and bf16.
echo "llamac convert: stories260K-hf/"
rm -rf "$out/stories260K-hf"
"$llamac" convert "$models/stories260K.bin" -o "$out/stories260K-hf/" \
  --shard-size 300KB
for dtype in f32 bf16; do
  compile "stories260K-hf-$dtype-cuda" cuda --model "$out/stories260K-hf" \
    --dtype $dtype $serve
done

echo "llamac convert: stories260K-init.safetensors"
"$llamac" convert "$models/stories260K.bin" -o "$out/stories260K-init.safetensors"

echo "artifacts in $out:"
ls -l "$out"
