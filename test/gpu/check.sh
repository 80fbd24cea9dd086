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
#       and without CUDA graphs, and with --jit (compiled, then cached);
#   (b) cuda against cpu logits of the same artifacts and weights, and cuda
#       prefill (in one call, and in calls of 5 tokens that read the cache)
#       against cuda decode: f32 within 1e-3, bf16 within 5e-2 of the
#       largest logit (hf_compare.py states the bounds); on Hopper the
#       prefill GEMMs run on wgmma (sm_90a), and once more on mma.sync from
#       an sm_80-only artifact's PTX, with the persistent GEMMs in one
#       cluster (LLAMAC_CUDA_PERSISTENT_BLOCKS=1) that walks every tile,
#       and without clusters (--no-clusters); heads of 10 and 160 (the
#       scalar attention), a batch of 3 sequences, and 150 decode tokens
#       that run flash decoding's merge of 2 to 10 splits;
#   (c) tiny MHA and GQA configs (f32, bf16) and a 2-layer Llama-2-7B-shaped
#       bf16 model against transformers' LlamaForCausalLM with the same
#       weights (test/gpu/hf_compare.py), and stories260K as the sharded
#       Hugging Face directory `llamac convert` writes, loaded by
#       from_pretrained and by llama-run;
#   (d) training: f32 and bf16 loss_and_grads on cuda against cpu (f32
#       within 1e-4, 16 bits within 2e-2 of each tensor's largest entry, also
#       over 300-token rows in bf16 and f16, and in bf16 with the persistent
#       GEMMs in one cluster and without clusters; the cpu target's f32 gradients
#       match PyTorch autograd within 1e-5, torch-autograd.test), three AdamW
#       steps of stories260K (losses within 1e-4, the checkpoint within 1e-3),
#       a run stopped after step 2 and resumed ending on the same checkpoint
#       bytes as the uninterrupted one, and three mixed-precision steps (bf16
#       compute, f32 master weights: losses within 1e-2, each tensor's update
#       within 30% in L2 norm), and an evaluation loss on weights with
#       peaked attention within 3e-3 of cpu's (heads of 128: on sm_90a the
#       wgmma attention rotating its keys in its loader warps).
# Exits 1 when any check fails, 2 on bad usage or a missing prerequisite.
set -uo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
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
need_file "$artifacts/stories260K-init.safetensors" "run test/gpu/make-artifacts.sh"
for name in stories260K-f32-cuda stories260K-f32-cpu llama2-7b-2l-bf16-cuda \
  tiny-{mha,gqa}-{f32,bf16}-{cuda,cpu} tiny-gqa-bf16-sm80-cuda \
  tiny-{h10-bf16,h160-f32,batch3-bf16}-{cuda,cpu} stories260K-hf-{f32,bf16}-cuda \
  stories260K-train-{cuda,cpu} stories260K-mixed-train-{cuda,cpu} \
  grads-{f32,bf16}-{cuda,cpu} grads-long-{bf16,f16,h64-f16}-{cuda,cpu}; do
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
# greedy LABEL TARGET FLAGS...: stories260K's greedy text on TARGET, with
# FLAGS for llama-run generate, must be run.c's.
greedy() {
  local label=$1 target=$2
  shift 2
  if ! "$llama_run" generate --artifact "$artifacts/stories260K-f32-$target.art" \
    --weights "$models/stories260K.bin" --tokenizer "$models/tok512.bin" \
    --temperature 0 --steps 256 --device "$target" "$@" \
    >"$work/story.txt" 2>"$work/story.err"; then
    cat "$work/story.err"
    fail "$label: llama-run failed"
    return
  fi
  actual=$(sha256sum <"$work/story.txt" | cut -d' ' -f1)
  if [[ $actual == "$expected" ]]; then
    pass "$label: sha256 $actual ($(grep -o 'achieved tok/s: .*' "$work/story.err"))"
  else
    head -c 600 "$work/story.txt"
    fail "$label: sha256 $actual, expected $expected"
  fi
}
for variant in "" --no-prefill --no-cuda-graphs; do
  for target in cuda cpu; do
    greedy "stories260K $target greedy ${variant:-with prefill}" $target $variant
  done
done
# --jit: the embedded source compiled here by NVRTC, then loaded from the
# cache it went to.
export LLAMAC_CACHE_DIR=$work/jit
for run in compiled cached; do
  greedy "stories260K cuda greedy --jit ($run)" cuda --jit
done
cubins=$(ls "$work/jit/cubin" 2>/dev/null | grep -c '\.cubin$')
if [[ $cubins == 1 ]]; then
  pass "--jit: one cubin cached for both runs"
else
  fail "--jit: $cubins cubins cached, expected 1"
fi

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
for pair in stories260K-f32 tiny-mha-f32 tiny-gqa-f32 tiny-mha-bf16 tiny-gqa-bf16 \
  tiny-h10-bf16 tiny-h160-f32; do
  dtype=${pair##*-}
  if [[ $pair == stories260K-* ]]; then
    weights=(--weights "$models/stories260K.bin")
  else
    # From the seed: on the host for the cpu target, on the GPU for the
    # cuda one, to the same bits (runtime/RandomWeights.h).
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
# A batch of 3 sequences (decode's GEMVs over 3 rows, each row its own
# cache rows): every row's logits against the cpu target's, by decode and
# by prefill in calls of 5.
rows="$tokens;5,71,300,12,9,444,18,250,7,7,90,501;240,11,6,310,8,41,6,99,170,3,222,15"
batch3() {
  local name=$1 out=$2
  shift 2
  "$llama_run" logits --artifact "$artifacts/$name.art" --random-weights \
    --seed 7 --tokens "$rows" "$@" >"$out" 2>"$work/logits.err" ||
    { cat "$work/logits.err"; return 1; }
}
if batch3 tiny-batch3-bf16-cpu "$work/cpu.txt" &&
  batch3 tiny-batch3-bf16-cuda "$work/cuda.txt" &&
  batch3 tiny-batch3-bf16-cuda "$work/cuda-chunked.txt" --mode prefill --chunk 5; then
  tally "${compare[@]}" logits "$work/cpu.txt" "$work/cuda.txt" --dtype bf16 \
    --label "tiny-batch3-bf16 cuda decode vs cpu decode"
  tally "${compare[@]}" logits "$work/cpu.txt" "$work/cuda-chunked.txt" \
    --dtype bf16 --label "tiny-batch3-bf16 cuda prefill in calls of 5 vs cpu decode"
else
  fail "tiny-batch3-bf16: llama-run logits failed"
fi
# Flash decoding over 150 tokens of a 160-row cache in 10 splits: as the
# rows grow, 1 to 10 splits run and the last to finish merges the others'
# partials (a __threadfence and an atomic counter, which the kernel
# emulator runs but cannot check against the GPU's memory model).
splits=$(awk 'BEGIN { s = 11; for (i = 0; i < 150; i++) {
  s = (s * 75 + 74) % 65537; printf "%s%d", i ? "," : "", s % 512 } }')
for dtype in f32 bf16; do
  pair=tiny-splits-$dtype
  if "$llama_run" logits --artifact "$artifacts/$pair-cpu.art" --random-weights \
    --seed 7 --tokens "$splits" >"$work/cpu.txt" 2>"$work/logits.err" &&
    "$llama_run" logits --artifact "$artifacts/$pair-cuda.art" --random-weights \
      --seed 7 --tokens "$splits" >"$work/cuda.txt" 2>"$work/logits.err"; then
    tally "${compare[@]}" logits "$work/cpu.txt" "$work/cuda.txt" --dtype "$dtype" \
      --label "$pair cuda decode over 10 splits vs cpu decode"
  else
    cat "$work/logits.err"
    fail "$pair: llama-run logits failed"
  fi
done
# The other GEMM path: on Hopper the sm_80-only artifact runs its PTX, with
# mma.sync where the default artifact's sm_90a cubin has wgmma.
if logits tiny-gqa-bf16-cpu decode "$work/cpu.txt" --random-weights --seed 7 &&
  logits tiny-gqa-bf16-sm80-cuda prefill "$work/sm80.txt" --random-weights \
    --seed 7; then
  tally "${compare[@]}" logits "$work/cpu.txt" "$work/sm80.txt" --dtype bf16 \
    --label "tiny-gqa-bf16 cuda prefill, sm_80 build, vs cpu decode"
else
  fail "tiny-gqa-bf16-sm80: llama-run logits failed"
fi
# The persistent GEMMs (sm_90a) in one block, which walks every tile: the
# small configs have fewer tiles than a GPU has SMs, so their blocks never
# take a second tile otherwise.
if logits tiny-gqa-bf16-cpu decode "$work/cpu.txt" --random-weights --seed 7 &&
  LLAMAC_CUDA_PERSISTENT_BLOCKS=1 logits tiny-gqa-bf16-cuda prefill \
    "$work/one-block.txt" --random-weights --seed 7; then
  tally "${compare[@]}" logits "$work/cpu.txt" "$work/one-block.txt" \
    --dtype bf16 --label "tiny-gqa-bf16 cuda prefill, 1 persistent block, vs cpu decode"
else
  fail "tiny-gqa-bf16, 1 persistent block: llama-run logits failed"
fi
# The sm_90a GEMMs launched without clusters (--no-clusters): each block
# then loads its whole weight tile, where a cluster's two blocks load half
# each, for both (TMA multicast).
if logits tiny-gqa-bf16-cpu decode "$work/cpu.txt" --random-weights --seed 7 &&
  logits tiny-gqa-bf16-cuda prefill "$work/no-clusters.txt" --random-weights \
    --seed 7 --no-clusters; then
  tally "${compare[@]}" logits "$work/cpu.txt" "$work/no-clusters.txt" \
    --dtype bf16 --label "tiny-gqa-bf16 cuda prefill, no clusters, vs cpu decode"
else
  fail "tiny-gqa-bf16, no clusters: llama-run logits failed"
fi

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
# stories260K as the sharded model directory llamac convert writes:
# transformers loads it with from_pretrained, and llama-run reads it as
# --weights into artifacts compiled from its config.json and from the
# llama2.c checkpoint.
tally "${compare[@]}" pretrained --llama-run "$llama_run" \
  --dir "$artifacts/stories260K-hf" \
  --artifact "$artifacts/stories260K-hf-f32-cuda.art" \
  --artifact "$artifacts/stories260K-hf-bf16-cuda.art" \
  --artifact "$artifacts/stories260K-f32-cuda.art" \
  --artifact "$artifacts/stories260K-f32-cpu.art" --tokens 40

#-------------------------------------------------------------------------------
section "(d) training on cuda against cpu"
#-------------------------------------------------------------------------------
scripts=$root/test/scripts
# same EXPECTED ACTUAL RTOL LABEL [FLAGS...]: compare_safetensors.py's
# verdict.
same() {
  local output
  if output=$("$python" "$scripts/compare_safetensors.py" "$1" "$2" \
    --rtol "$3" --label "$4" "${@:5}" 2>&1); then
    pass "${output/: PASS (/ (}"
  else
    echo "$output"
    fail "$4"
  fi
}
# losses CPU_CSV CUDA_CSV BOUND LABEL: the three steps' losses agree.
losses() {
  local worst
  worst=$(paste -d, "$1" "$2" | awk -F, '
    NR > 1 { d = $2 - $6; if (d < 0) d = -d; if (d > w) w = d; n++ }
    END { if (n != 3) print "nan"; else printf "%.2g\n", w }')
  if awk -v w="$worst" -v b="$3" 'BEGIN { exit !(w != "nan" && w + 0 <= b + 0) }'; then
    pass "$4: cuda losses within $worst of cpu's"
  else
    paste -d, "$1" "$2"
    fail "$4: losses differ by $worst (bound $3)"
  fi
}
toks=5,71,300,12,9,444,18,250,7,7,90,501,33,2,61,128,400,3,77,19,240,11,6,310
toks=$toks,8,41,6,99,170,3,222,15,61,480,2,57,100,1,31,3,70,44,330,208,9,12,150,4
tgts=${toks#*,},5
# grads NAME TOKENS TARGETS RTOL [FLAGS...]: loss_and_grads of artifact
# NAME on both targets, within RTOL; FLAGS go to the cuda run.
grads() {
  local ok=1 target name=$1 toks=$2 tgts=$3 rtol=$4
  shift 4
  local label="$name${*:+ $*}"
  for target in cpu cuda; do
    local flags=()
    [[ $target == cuda ]] && flags=("$@")
    "$llama_run" grads --artifact "$artifacts/$name-$target.art" \
      --device $target --random-weights --seed 3 --tokens "$toks" \
      --targets "$tgts" -o "$work/grads-$target.safetensors" "${flags[@]}" \
      >/dev/null 2>"$work/grads.err" || { cat "$work/grads.err"; ok=0; }
  done
  if [[ $ok == 1 ]]; then
    same "$work/grads-cpu.safetensors" "$work/grads-cuda.safetensors" \
      "$rtol" "$label loss_and_grads, cuda vs cpu"
  else
    fail "$label loss_and_grads: llama-run grads failed"
  fi
}
grads grads-f32 "$toks" "$tgts" 1e-4
grads grads-bf16 "$toks" "$tgts" 2e-2
# 2 x 300 pseudo-random tokens for the long configs.
long=$(awk 'BEGIN { s = 7; for (i = 0; i < 600; i++) {
  s = (s * 75 + 74) % 65537; printf "%s%d", i ? "," : "", s % 512 } }')
grads grads-long-bf16 "$long" "${long#*,},1" 2e-2
grads grads-long-f16 "$long" "${long#*,},1" 2e-2
grads grads-long-h64-f16 "$long" "${long#*,},1" 2e-2
# The persistent matmul_grad in one cluster of 2 blocks, which walk dW's
# tiles and dx's; then launched without clusters, each block loading its
# tiles whole.
LLAMAC_CUDA_PERSISTENT_BLOCKS=1 grads grads-long-bf16 "$long" "${long#*,},1" 2e-2
grads grads-long-bf16 "$long" "${long#*,},1" 2e-2 --no-clusters

# train TARGET NAME FLAGS...: three steps of stories260K (ARTIFACT, default
# stories260K-train, the f32 train_step).
train() {
  local target=$1 name=$2
  shift 2
  "$llama_run" train \
    --artifact "$artifacts/${artifact:-stories260K-train}-$target.art" \
    --device "$target" --tokenizer "$models/tok512.bin" \
    --data "$root/test/runtime/Inputs/stories.txt" --lr 1e-3 --steps 3 \
    --eval-batches 1 --save "$work/$name.safetensors" "$@" \
    >"$work/$name.out" 2>&1 || { cat "$work/$name.out"; return 1; }
}
if train cpu train-cpu --weights "$models/stories260K.bin" \
  --loss-log "$work/cpu.csv" &&
  train cuda train-cuda --weights "$models/stories260K.bin" \
    --loss-log "$work/cuda.csv"; then
  losses "$work/cpu.csv" "$work/cuda.csv" 1e-4 "stories260K 3 training steps"
  same "$work/train-cpu.safetensors" "$work/train-cuda.safetensors" \
    1e-3 "stories260K checkpoint after 3 steps, cuda vs cpu"
  for target in cpu cuda; do
    echo "$target: $(grep 'tok/s' "$work/train-$target.out" | tail -1)"
  done
  if train cuda resumed --weights "$models/stories260K.bin" --stop-after 2 &&
    train cuda resumed --resume &&
    cmp "$work/train-cuda.safetensors" "$work/resumed.safetensors"; then
    pass "stories260K on cuda: stopped after step 2 and resumed, same bytes"
  else
    fail "stories260K on cuda: the resumed run's checkpoint differs"
  fi
else
  fail "stories260K training: llama-run train failed"
fi

# Mixed precision: the two targets round activations to bf16 at different
# points, so the bounds are bf16's (cuda-emulated-train.test measured 17%).
if artifact=stories260K-mixed-train train cpu mixed-cpu \
  --weights "$models/stories260K.bin" --loss-log "$work/mixed-cpu.csv" &&
  artifact=stories260K-mixed-train train cuda mixed-cuda \
    --weights "$models/stories260K.bin" --loss-log "$work/mixed-cuda.csv"; then
  losses "$work/mixed-cpu.csv" "$work/mixed-cuda.csv" 1e-2 \
    "stories260K 3 mixed-precision steps"
  same "$work/mixed-cpu.safetensors" "$work/mixed-cuda.safetensors" 0.3 \
    "stories260K mixed-precision updates, cuda vs cpu" --norm l2 \
    --baseline "$artifacts/stories260K-init.safetensors"
else
  fail "stories260K mixed-precision training: llama-run train failed"
fi

# Evaluation on weights whose attention is peaked, where a key rotated to a
# wrong position moves the loss by 4e-2 (cuda-emulated-train.test):
# forward_loss's cacheless fused_rope_attention, which on sm_90a rotates
# its keys in the wgmma kernel's loader warps. The loss before the first
# step within 3e-3 of the CPU target's.
eval_loss() { awk '/^eval  step 0:/ { print $5 }' "$1"; }
if "$python" "$root/test/scripts/make_peaked_checkpoint.py" \
  "$work/peak.safetensors" --dim 512 --n-layers 1 --n-heads 4 \
  --n-kv-heads 2 --ffn-dim 256 --vocab-size 512 --seed 3 &&
  artifact=peak-eval train cpu peak-cpu --weights "$work/peak.safetensors" &&
  artifact=peak-eval train cuda peak-cuda --weights "$work/peak.safetensors"; then
  cpu_loss=$(eval_loss "$work/peak-cpu.out")
  cuda_loss=$(eval_loss "$work/peak-cuda.out")
  if awk -v a="$cpu_loss" -v b="$cuda_loss" 'BEGIN { d = a - b; if (d < 0) d = -d
    exit !(a != "" && b != "" && d <= 3e-3) }'; then
    pass "peaked evaluation (heads of 128): cuda loss $cuda_loss, cpu $cpu_loss"
  else
    fail "peaked evaluation (heads of 128): cuda loss $cuda_loss, cpu $cpu_loss (bound 3e-3)"
  fi
else
  fail "peaked evaluation: llama-run train failed"
fi

echo
echo "== $passed passed, $failed failed"
[[ $failed -eq 0 ]]
