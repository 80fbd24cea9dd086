#!/usr/bin/env bash
# Packs everything a GPU machine without MLIR, FlatBuffers or SentencePiece
# needs for test/gpu/check.sh and bench/gpu/run.sh into one folder: llama-run
# built here with the one non-system library it links, the artifacts, and the
# test models (which must not be committed: the folder is git-ignored).
#
#   test/gpu/make-kit.sh [KIT_DIR] [MODELS_DIR]     (default: gpu-kit, ../shared/models)
#
# Then, on the GPU machine, in the repository root:
#   export LD_LIBRARY_PATH=$PWD/gpu-kit/lib LLAMA_RUN=$PWD/gpu-kit/bin/llama-run
#   test/gpu/check.sh gpu-kit/artifacts gpu-kit/models
#   bench/gpu/run.sh gpu-kit/bench-artifacts /tmp/bench
#   bench/gpu/train.sh gpu-kit/bench-artifacts gpu-kit/models /tmp/train-bench
# BASELINE=REV adds gpu-kit/bench-base, the inference artifacts compiled with
# commit REV's kernels (bench/gpu/make-baseline.sh), for
#   bench/gpu/ab.sh gpu-kit/bench-base gpu-kit/bench-artifacts /tmp/ab
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
kit=${1:-$root/gpu-kit}
models=${2:-${LLAMAC_MODELS_DIR:-$root/../shared/models}}
run=$root/build/bin/llama-run
[[ -x $run ]] || { echo "error: $run not found: run 'make build' first" >&2; exit 1; }

rm -rf "$kit"
mkdir -p "$kit/bin" "$kit/lib" "$kit/models"
cp "$run" "$kit/bin/"
# Everything llama-run links that a stock distribution does not have.
ldd "$run" | awk '/=> \// {print $3}' | grep -v -E '/(libc|libm|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$kit/lib/"; done
cp "$models"/stories260K.bin "$models"/tok512.bin \
  "$models"/llama2-tokenizer.model "$kit/models/"
"$root/test/gpu/make-artifacts.sh" "$kit/artifacts" "$kit/models"
"$root/bench/gpu/make-artifacts.sh" "$kit/bench-artifacts"
if [[ -n ${BASELINE:-} ]]; then
  "$root/bench/gpu/make-baseline.sh" "$BASELINE" "$kit/bench-base"
fi
du -sh "$kit"
