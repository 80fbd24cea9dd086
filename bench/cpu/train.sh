#!/usr/bin/env bash
# Training tokens/s of llama-run train beside PyTorch on the CPU doing the
# same step (forward, loss, backward, gradient clipping, AdamW), same batch,
# sequence length and thread count, in one run.
#
#   bench/cpu/train.sh [BUILD_DIR] [MODELS_DIR]
#
# BUILD_DIR defaults to build (run `make build` first); MODELS_DIR to
# $LLAMAC_MODELS_DIR or ../shared/models (tok512.bin is needed; stories260K.bin
# adds its config). PyTorch is the system python's (Debian python3-torch 1.13,
# $TORCH_PYTHON overrides), in eager mode: 1.13 has no torch.compile. Both
# sides time steps 2..N, the first being warm-up; llamac trains on text the
# model generates, PyTorch on random tokens (a step's time does not depend on
# them). STEPS (default 20) sets N.
#
# Debian's torch multiplies matrices with whatever libblas.so.3 is, by default
# netlib's reference BLAS, which is some 15 times slower than OpenBLAS. For a
# fair baseline, install libopenblas0-pthread, or point TORCH_BLAS_DIR at a
# directory holding OpenBLAS's libblas.so.3 (e.g. unpacked with
# `apt-get download libopenblas0-pthread && dpkg -x *.deb DIR`); the BLAS in
# use is printed. BIG=1 adds a stories15M-shaped config (dim 288, 6 layers,
# vocab 32000, random weights, BIG_STEPS steps, default 5), where the matmuls
# dominate; it needs llama2-tokenizer.model.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
models=${2:-${LLAMAC_MODELS_DIR:-../shared/models}}
steps=${STEPS:-20}
python=${TORCH_PYTHON:-/usr/bin/python3}
llamac=$build/bin/llamac
run=$build/bin/llama-run
for f in "$llamac" "$run"; do
  [ -x "$f" ] || { echo "missing $f: run 'make build' first" >&2; exit 1; }
done
[ -f "$models/tok512.bin" ] || { echo "missing $models/tok512.bin" >&2; exit 1; }
"$python" -c "import torch" 2>/dev/null ||
  { echo "$python cannot import torch (set TORCH_PYTHON)" >&2; exit 1; }

tokenizer=$models/tok512.bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The corpus: stories260K's own samples when it is here, else a fixed text;
# either way documents separated by blank lines, as llama-run train reads.
if [ -f "$models/stories260K.bin" ]; then
  "$llamac" --model "$models/stories260K.bin" --entry=prefill,decode --target=cpu -o "$work/gen.art"
  for seed in $(seq 1 20); do
    "$run" generate --artifact "$work/gen.art" --weights "$models/stories260K.bin" \
      --tokenizer "$models/tok512.bin" --temperature 1 --seed "$seed" --steps 256 2>/dev/null
    echo
  done > "$work/corpus.txt"
else
  for i in $(seq 1 50); do
    printf 'Once upon a time, there was a little girl named Lily. She liked to play in the park with her friend Tom. One day they found a big red ball under a tree.\n\n'
  done > "$work/corpus.txt"
fi

# Prints llamac's tok/s over steps 2..N: with --log-every N, the last
# progress line covers exactly those steps.
llamac_tok_s() {
  local art=$1 weights=$2 threads=$3
  "$run" train --artifact "$art" $weights --data "$work/corpus.txt" \
    --tokenizer "$tokenizer" --steps "$steps" --log-every "$steps" \
    --eval-batches 0 --threads "$threads" > "$work/train.txt"
  awk '/^step/ {v = $(NF-1)} END {print v}' "$work/train.txt"
}

# Prints PyTorch's tok/s over the same steps; $@ is the config. OpenBLAS
# gets one thread (TORCH_BLAS_THREADS): its pthread pool beside torch's OpenMP
# pool oversubscribes the cores, and stories260K at 2 threads measured 6300
# tok/s with 1 BLAS thread, 1900 to 2500 with 2 (the OpenMP build: 5500).
torch_tok_s() {
  local batch=$1 seq=$2 threads=$3
  shift 3
  local blas=()
  [ -z "${TORCH_BLAS_DIR:-}" ] ||
    blas=("LD_LIBRARY_PATH=$TORCH_BLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
  env "${blas[@]}" OPENBLAS_NUM_THREADS="${TORCH_BLAS_THREADS:-1}" \
    "$python" bench/cpu/train_torch.py "$@" --batch "$batch" --seq-len "$seq" \
    --threads "$threads" --warmup 1 --steps $((steps - 1)) > "$work/torch.txt"
  awk '/^blas:/ {print $2}' "$work/torch.txt" > "$work/blas.txt"
  awk '/^torch:/ {print $(NF-3)}' "$work/torch.txt"
}

row() {
  printf '%-16s %6s %6s %8s %14s %14s %13s\n' "$@"
}

# One configuration: name, batch, seq, the llamac model flags, the llama-run
# weight flags, then -- and the train_torch.py config flags.
bench() {
  local name=$1 batch=$2 seq=$3 model=$4 weights=$5
  shift 6
  "$llamac" $model --entry=train_step --batch "$batch" --seq-len "$seq" \
    --target=cpu -o "$work/$name.art"
  for threads in 1 2; do
    local ours theirs
    ours=$(llamac_tok_s "$work/$name.art" "$weights" "$threads")
    theirs=$(torch_tok_s "$batch" "$seq" "$threads" "$@")
    row "$name" "$batch" "$seq" "$threads" "$ours" "$theirs" \
      "$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.1fx", a / b}')"
  done
}

row config batch seq threads "llamac tok/s" "torch tok/s" llamac/torch
# tiny: the test preset (dim 64, 2 layers, 8 heads, 4 KV heads), from random
# weights on both sides.
bench tiny 8 64 "--model tiny" "--random-weights" -- \
  --dim 64 --n-layers 2 --n-heads 8 --n-kv-heads 4 --ffn-dim 172 --vocab-size 512
if [ -f "$models/stories260K.bin" ]; then
  # stories260K fine-tuned from its checkpoint; PyTorch takes its config only.
  bench stories260K 8 256 "--model $models/stories260K.bin" \
    "--weights $models/stories260K.bin" -- --model "$models/stories260K.bin"
else
  echo "(stories260K skipped: $models/stories260K.bin is missing)"
fi
if [ "${BIG:-0}" = 1 ]; then
  # Few steps: torch with the reference BLAS takes about 40 s a step here.
  steps=${BIG_STEPS:-5}
  tokenizer=$models/llama2-tokenizer.model
  bench stories15M-like 4 256 \
    "--model tiny --dim 288 --n-layers 6 --n-heads 6 --n-kv-heads 6 --ffn-dim 768 --vocab-size 32000" \
    "--random-weights" -- \
    --dim 288 --n-layers 6 --n-heads 6 --n-kv-heads 6 --ffn-dim 768 --vocab-size 32000
fi
echo "torch: $("$python" -c 'import torch; print(torch.__version__)'), eager, BLAS $(cat "$work/blas.txt")"
