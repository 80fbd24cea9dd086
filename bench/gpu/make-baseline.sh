#!/usr/bin/env bash
# Compiles bench/gpu/make-artifacts.sh's inference artifacts with an earlier
# commit's kernels, for bench/gpu/ab.sh to time beside the current ones on
# a GPU (here, no GPU needed):
#
#   bench/gpu/make-baseline.sh REV OUT_DIR
#
# It checks out REV's codegen/ (the kernels, their plans and the NVRTC
# driver) over the working tree's, rebuilds llamac in build/ (with ccache,
# only codegen's files compile), compiles the artifacts, and then puts
# HEAD's codegen/ back and rebuilds llamac again, also when interrupted.
# Everything outside codegen/ stays as checked out, so the baseline is
# valid where REV and HEAD differ in codegen/ alone (`git diff --stat REV`
# says). It refuses to start while codegen/ has uncommitted changes, which
# the checkout would overwrite. CUDA_ARCHS (default sm_90a) and LAYERS_70B
# are make-artifacts.sh's.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
  exit 2
fi
rev=$1
out=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
git rev-parse --verify --quiet "$rev^{commit}" >/dev/null ||
  { echo "error: $rev: not a commit of $root" >&2; exit 1; }
if ! git diff --quiet HEAD -- codegen ||
  [[ -n $(git ls-files --others --exclude-standard codegen) ]]; then
  echo "error: codegen/ has changes not committed; commit or stash them" \
    "first (the baseline checks out $rev's codegen/ over it)" >&2
  exit 1
fi
[[ -d build ]] || { echo "error: no build/ in $root: run 'make build' first" >&2; exit 1; }

# Files of REV's codegen/ that HEAD lacks, to remove again afterwards.
only_in_rev=$(comm -23 <(git ls-tree -r --name-only "$rev" codegen | sort) \
  <(git ls-tree -r --name-only HEAD codegen | sort))
restore() {
  git checkout -q HEAD -- codegen
  for f in $only_in_rev; do rm -f "$f"; done
  ninja -C build llamac >/dev/null
}
trap restore EXIT
git checkout -q "$rev" -- codegen
echo "building llamac with $(git rev-parse --short "$rev")'s codegen/"
ninja -C build llamac >/dev/null
mkdir -p "$out"
CUDA_ARCHS=${CUDA_ARCHS:-sm_90a} LLAMAC=$root/build/bin/llamac \
  INFERENCE_ONLY=1 "$root/bench/gpu/make-artifacts.sh" "$out"
