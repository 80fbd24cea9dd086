#!/usr/bin/env bash
# The GPU check: one command on a machine with an NVIDIA GPU, the NVIDIA
# driver, nvcc 13, cmake, ninja, PyTorch and transformers (no MLIR, no
# network needed). It builds only the runtime and runs artifacts compiled
# elsewhere by test/gpu/make-artifacts.sh:
#
#   test/gpu/check.sh ARTIFACTS_DIR MODELS_DIR [BUILD_DIR]
#
# MODELS_DIR holds stories260K.bin and tok512.bin (see its README.md). The
# runtime build needs cmake, ninja, a C++17 compiler, flatc with the
# FlatBuffers headers, SentencePiece and GoogleTest; LLAMA_RUN=path/to/
# llama-run skips the build and uses that binary instead. PYTHON picks the
# interpreter (default python3).
#
# Checks, each printing PASS or FAIL:
#   (0) the runtime's unit tests, and `llama-run info` naming the binary
#       this GPU runs;
#   (a) stories260K f32 greedy generation on cuda is byte-identical to
#       llama2.c's run.c (sha256 a3213f9e...), with prefill, decode-only
#       and without CUDA graphs;
#   (b) cuda against cpu logits of the same artifacts and weights, and cuda
#       prefill (in one call, and in calls of 5 tokens that read the cache)
#       against cuda decode: f32 within 1e-3, bf16 within 5e-2 of the
#       largest logit (hf_compare.py states the bounds);
#   (c) tiny MHA and GQA configs (f32, bf16) and a 2-layer Llama-2-7B-shaped
#       bf16 model against transformers' LlamaForCausalLM with the same
#       weights (test/gpu/hf_compare.py).
# Exits 1 when any check fails, 2 on bad usage or a missing prerequisite.
set -uo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
artifacts=$(cd "$1" && pwd) || exit 2
models=$(cd "$2" && pwd) || exit 2
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${3:-$root/build-gpu}
python=${PYTHON:-python3}
compare=("$python" "$root/test/gpu/hf_compare.py")
work=$(mktemp -d "${TMPDIR:-/tmp}/llamac-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
section() { echo; echo "== $*"; }
# Counts the PASS/FAIL lines of a command's output (hf_compare.py), echoing
# them, and fails once more if the command failed without saying why.
tally() {
  local output status
  output=$("$@" 2>&1)
  status=$?
  echo "$output"
  passed=$((passed + $(grep -c '^PASS' <<<"$output")))
  local failures
  failures=$(grep -c '^FAIL' <<<"$output")
  failed=$((failed + failures))
  if [[ $status -ne 0 && $failures -eq 0 ]]; then
    fail "$* exited $status"
  fi
}
need_file() {
  [[ -f $1 ]] || { echo "error: $1 not found${2:+ ($2)}" >&2; exit 2; }
}

#-------------------------------------------------------------------------------
section "prerequisites"
#-------------------------------------------------------------------------------
if ! nvidia-smi -L; then
  echo "error: nvidia-smi failed: no NVIDIA driver or GPU" >&2
  exit 2
fi
nvcc --version | tail -1 || echo "warning: nvcc not found (not needed to run)"
if ! $python - <<'EOF'
import sys, torch, transformers, safetensors
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, "
      f"transformers {transformers.__version__}, "
      f"safetensors {safetensors.__version__}, "
      f"cuda available: {torch.cuda.is_available()}")
sys.exit(0 if torch.cuda.is_available() else 1)
EOF
then
  echo "error: $python needs torch (with CUDA), transformers and safetensors" >&2
  exit 2
fi
need_file "$models/stories260K.bin"
need_file "$models/tok512.bin"
for name in stories260K-f32-cuda stories260K-f32-cpu llama2-7b-2l-bf16-cuda \
  tiny-{mha,gqa}-{f32,bf16}-{cuda,cpu}; do
  need_file "$artifacts/$name.art" "run test/gpu/make-artifacts.sh"
done

#-------------------------------------------------------------------------------
section "(0) runtime build and unit tests"
#-------------------------------------------------------------------------------
if [[ -n ${LLAMA_RUN:-} ]]; then
  llama_run=$LLAMA_RUN
  echo "using prebuilt $llama_run"
else
  missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v ninja >/dev/null || missing+=(ninja-build)
  command -v flatc >/dev/null || missing+=(flatbuffers-compiler)
  if ! echo '#include <flatbuffers/flatbuffers.h>' | c++ -E -x c++ - >/dev/null 2>&1; then
    missing+=(libflatbuffers-dev)
  fi
  if ! echo '#include <sentencepiece_processor.h>' | c++ -E -x c++ - >/dev/null 2>&1; then
    missing+=(libsentencepiece-dev)
  fi
  if ! echo '#include <gtest/gtest.h>' | c++ -E -x c++ - >/dev/null 2>&1; then
    missing+=(libgtest-dev libgmock-dev)
  fi
  if [[ ${#missing[@]} -gt 0 ]]; then
    echo "error: the runtime build needs: ${missing[*]} (Debian packages);" \
      "install them, or build llama-run elsewhere and pass LLAMA_RUN=" >&2
    exit 2
  fi
  if cmake -G Ninja -S "$root" -B "$build" -DLLAMAC_RUNTIME_ONLY=ON \
    -DCMAKE_BUILD_TYPE=Release >"$work/cmake.log" 2>&1 &&
    ninja -C "$build" >"$work/build.log" 2>&1; then
    pass "runtime builds (-DLLAMAC_RUNTIME_ONLY=ON, $build)"
  else
    cat "$work/cmake.log" "$work/build.log" 2>/dev/null | tail -40
    fail "runtime build"
    echo "cannot go on without llama-run"
    exit 1
  fi
  if ctest --test-dir "$build" --output-on-failure >"$work/ctest.log" 2>&1; then
    pass "runtime unit tests ($(grep -o '[0-9]* tests passed' "$work/ctest.log" ||
      grep -o 'tests passed.*' "$work/ctest.log"))"
  else
    tail -40 "$work/ctest.log"
    fail "runtime unit tests"
  fi
  llama_run=$build/bin/llama-run
fi

info=$("$llama_run" info --artifact "$artifacts/stories260K-f32-cuda.art" 2>&1)
choice=$(grep 'this machine:' <<<"$info")
echo "$choice"
if grep -q 'this machine: .*: runs ' <<<"$choice"; then
  pass "llama-run info finds a binary for this GPU"
else
  fail "llama-run info: no binary for this GPU"
fi

#-------------------------------------------------------------------------------
section "(a) stories260K f32 greedy on cuda matches run.c"
#-------------------------------------------------------------------------------
expected=a3213f9ea026d75bf2993355ae334822d7c9d34328964c711ab030d3148e6cef
for variant in "" --no-prefill --no-cuda-graphs; do
  for target in cuda cpu; do
    label="stories260K $target greedy ${variant:-with prefill}"
    if ! "$llama_run" generate --artifact "$artifacts/stories260K-f32-$target.art" \
      --weights "$models/stories260K.bin" --tokenizer "$models/tok512.bin" \
      --temperature 0 --steps 256 --device "$target" $variant \
      >"$work/story.txt" 2>"$work/story.err"; then
      cat "$work/story.err"
      fail "$label: llama-run failed"
      continue
    fi
    actual=$(sha256sum <"$work/story.txt" | cut -d' ' -f1)
    if [[ $actual == "$expected" ]]; then
      pass "$label: sha256 $actual ($(grep -o 'achieved tok/s: .*' "$work/story.err"))"
    else
      head -c 600 "$work/story.txt"
      fail "$label: sha256 $actual, expected $expected"
    fi
  done
done

#-------------------------------------------------------------------------------
section "(b) cuda against cpu, and cuda prefill against cuda decode"
#-------------------------------------------------------------------------------
tokens=1,7,3,200,45,9,311,2,17,88,5,64
# logits NAME MODE FILE WEIGHT-FLAGS...: one llama-run logits dump.
logits() {
  local name=$1 mode=$2 out=$3
  shift 3
  if ! "$llama_run" logits --artifact "$artifacts/$name.art" "$@" \
    --tokens "$tokens" --mode "$mode" >"$out" 2>"$work/logits.err"; then
    cat "$work/logits.err"
    return 1
  fi
}
for pair in stories260K-f32 tiny-mha-f32 tiny-gqa-f32 tiny-mha-bf16 tiny-gqa-bf16; do
  dtype=${pair##*-}
  if [[ $pair == stories260K-* ]]; then
    weights=(--weights "$models/stories260K.bin")
  else
    # Generated on the host from the seed, identically for both targets.
    weights=(--random-weights --seed 7)
  fi
  if logits "$pair-cpu" decode "$work/cpu.txt" "${weights[@]}" &&
    logits "$pair-cuda" decode "$work/cuda.txt" "${weights[@]}" &&
    logits "$pair-cuda" prefill "$work/cuda-prefill.txt" "${weights[@]}" &&
    logits "$pair-cuda" prefill "$work/cuda-chunked.txt" "${weights[@]}" \
      --chunk 5; then
    tally "${compare[@]}" logits "$work/cpu.txt" "$work/cuda.txt" --dtype "$dtype" \
      --label "$pair cuda decode vs cpu decode"
    tally "${compare[@]}" logits "$work/cuda.txt" "$work/cuda-prefill.txt" \
      --dtype "$dtype" --label "$pair cuda prefill vs cuda decode"
    tally "${compare[@]}" logits "$work/cuda.txt" "$work/cuda-chunked.txt" \
      --dtype "$dtype" --label "$pair cuda prefill in calls of 5 vs cuda decode"
  else
    fail "$pair: llama-run logits failed"
  fi
done

#-------------------------------------------------------------------------------
section "(c) against Hugging Face transformers with the same weights"
#-------------------------------------------------------------------------------
for config in tiny-mha-f32 tiny-gqa-f32 tiny-mha-bf16 tiny-gqa-bf16; do
  tally "${compare[@]}" hf --llama-run "$llama_run" --workdir "$work" --name "$config" \
    --artifact "$artifacts/$config-cuda.art" \
    --artifact "$artifacts/$config-cpu.art" --tokens 24
done
tally "${compare[@]}" hf --llama-run "$llama_run" --workdir "$work" \
  --name llama2-7b-2l-bf16 --artifact "$artifacts/llama2-7b-2l-bf16-cuda.art" \
  --tokens 16

echo
echo "== $passed passed, $failed failed"
[[ $failed -eq 0 ]]
