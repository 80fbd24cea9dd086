#!/usr/bin/env bash
# Times two builds of the same artifacts in one run on one GPU, side by side:
# a baseline (an earlier commit's kernels, from bench/gpu/make-baseline.sh)
# and the current ones (bench/gpu/make-artifacts.sh):
#
#   bench/gpu/ab.sh BASE_DIR NEW_DIR [OUT_DIR]
#
# For every inference artifact in NEW_DIR with a namesake in BASE_DIR:
# llama-run's decode over STEPS tokens from position 0 and over the last
# STEPS positions of the cache (--context), prefill at LENGTHS, and every
# kernel's time (bench/gpu/ab.py), base and new runs alternating, each the
# fastest of 3. Only llama-run runs (no PyTorch), so a model takes a minute
# or two. LLAMA_RUN, BUILD_DIR and MODELS are bench/gpu/run.sh's; STEPS
# (default 128), LENGTHS (default 512,4096; 0 skips prefill); DEVICE
# (default cuda) and PYTHON (default python3). OUT_DIR (default: a
# temporary directory) keeps the JSON.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
fi
base_dir=$(cd "$1" && pwd)
new_dir=$(cd "$2" && pwd)
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${3:-$(mktemp -d "${TMPDIR:-/tmp}/llamac-ab.XXXXXX")}
mkdir -p "$out"
python=${PYTHON:-python3}
steps=${STEPS:-128}
lengths=${LENGTHS:-512,4096}
device=${DEVICE:-cuda}

source "$root/bench/gpu/common.sh"

inference_artifacts "$new_dir"
compared=0
for artifact in "${models[@]}"; do
  base=$base_dir/$(basename "$artifact")
  if [[ ! -f $base ]]; then
    echo "skipping $(basename "$artifact"): no namesake in $base_dir" >&2
    continue
  fi
  begin_model "$artifact"
  context=$(long_context)
  bench() { # ARTIFACT JSON [FLAGS...]
    local art=$1 json=$2
    shift 2
    "$llama_run" bench --artifact "$art" --random-weights --device "$device" \
      --steps "$steps" --repeats 3 --json "$json" "$@" >/dev/null
  }
  # Alternating, so that a clock or thermal drift touches both alike.
  for side in base new; do
    art=$artifact
    [[ $side == base ]] && art=$base
    bench "$art" "$out/$name.$side.json" --prompt-len "$lengths"
  done
  for side in base new; do
    art=$artifact
    [[ $side == base ]] && art=$base
    bench "$art" "$out/$name.$side.context.json" --prompt-len 0 \
      --context "$context"
  done
  "$python" "$root/bench/gpu/ab.py" --base "$out/$name.base.json" \
    --new "$out/$name.new.json" \
    --base-context "$out/$name.base.context.json" \
    --new-context "$out/$name.new.context.json"
  compared=$((compared + 1))
done
[[ $compared -gt 0 ]] ||
  { echo "error: no artifact of $new_dir has a namesake in $base_dir${MODELS:+ among MODELS=$MODELS}" >&2; exit 1; }
echo
echo "results kept in $out"
