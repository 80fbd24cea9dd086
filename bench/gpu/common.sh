# Sourced by the GPU benchmarks (needs root, the repository's root, and out,
# the results' directory):
#  * llama_run: $LLAMA_RUN, or else the runtime alone (no MLIR needed) built
#    in $BUILD_DIR (default build-gpu);
#  * compile_flag: --no-compile for the PyTorch scripts when NO_COMPILE is
#    set, so that they skip torch.compile;
#  * begin_model ARTIFACT: sets name, prints the model's header and writes
#    its `llama-run info` to $out/$name.info.json;
#  * inference_artifacts DIR: sets models to DIR's inference artifacts (not
#    *-train.art) whose names contain one of $MODELS (a,b; default all);
#  * long_context: after begin_model, the decode start that leaves the
#    cache's last $steps positions to decode (llama-run bench --context).
if [[ -n ${LLAMA_RUN:-} ]]; then
  llama_run=$LLAMA_RUN
else
  build=${BUILD_DIR:-$root/build-gpu}
  cmake -G Ninja -S "$root" -B "$build" -DLLAMAC_RUNTIME_ONLY=ON \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  ninja -C "$build" llama-run >/dev/null
  llama_run=$build/bin/llama-run
fi
compile_flag=()
if [[ -n ${NO_COMPILE:-} ]]; then
  compile_flag=(--no-compile)
fi
begin_model() {
  name=$(basename "$1" .art)
  echo
  echo "######## $name"
  "$llama_run" info --artifact "$1" --json >"$out/$name.info.json"
}
inference_artifacts() {
  local artifact w keep
  local -a wanted
  models=()
  IFS=, read -ra wanted <<<"${MODELS:-}"
  for artifact in "$1"/*.art; do
    # train_step artifacts are bench/gpu/train.sh's.
    [[ -e $artifact && $artifact != *-train.art ]] || continue
    keep=""
    [[ ${#wanted[@]} -eq 0 ]] && keep=1
    for w in "${wanted[@]}"; do
      [[ $(basename "$artifact") == *"$w"* ]] && keep=1
    done
    [[ -n $keep ]] && models+=("$artifact")
  done
  return 0
}
long_context() {
  "$python" -c 'import json, sys
info = json.load(open(sys.argv[1]))
print(max(0, info["max_seq_len"] - int(sys.argv[2])))' "$out/$name.info.json" "$steps"
}
