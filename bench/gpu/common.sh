# Sourced by the GPU benchmarks (needs root, the repository's root, and out,
# the results' directory):
#  * llama_run: $LLAMA_RUN, or else the runtime alone (no MLIR needed) built
#    in $BUILD_DIR (default build-gpu);
#  * compile_flag: --no-compile for the PyTorch scripts when NO_COMPILE is
#    set, so that they skip torch.compile;
#  * begin_model ARTIFACT: sets name, prints the model's header and writes
#    its `llama-run info` to $out/$name.info.json.
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
