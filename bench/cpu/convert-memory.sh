#!/usr/bin/env bash
# Peak memory of `llamac convert` on a Llama-2-7b-shaped checkpoint as Meta
# publishes it (params.json and a bf16 consolidated.00.pth), converted to a
# Hugging Face directory in bf16 and to one f32 .safetensors, beside the
# baseline of a converter that holds the model in memory as f32 (what
# llamac convert did before it read tensors one at a time): the f32 bytes
# of the weights. The heap (anonymous resident memory) is what a conversion
# needs; the input's mapped pages it read are shown apart, since the kernel
# drops them under pressure. No GPU is needed; PyTorch (the system
# python's) writes the input.
#
#   bench/cpu/convert-memory.sh [BUILD_DIR]
#
# LAYERS (default 2) sets the depth; the other dimensions are 7B's.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
layers=${LAYERS:-2}
llamac=$build/bin/llamac
[ -x "$llamac" ] || { echo "missing $llamac: run 'make build' first" >&2; exit 1; }
python=/usr/bin/python3
$python -c "import torch" 2>/dev/null ||
  { echo "needs PyTorch for $python (apt-get install python3-torch)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/meta"
echo "{\"dim\": 4096, \"multiple_of\": 256, \"n_heads\": 32, \"n_layers\": $layers, \"norm_eps\": 1e-05, \"vocab_size\": 32000}" \
  > "$work/meta/params.json"
$python - "$work/meta/consolidated.00.pth" "$layers" <<'PY'
import collections, sys, torch
path, layers = sys.argv[1], int(sys.argv[2])
dim, ffn, vocab = 4096, 11008, 32000
shapes = {"tok_embeddings.weight": (vocab, dim)}
for i in range(layers):
    p = f"layers.{i}."
    shapes.update({p + "attention.wq.weight": (dim, dim),
                   p + "attention.wk.weight": (dim, dim),
                   p + "attention.wv.weight": (dim, dim),
                   p + "attention.wo.weight": (dim, dim),
                   p + "feed_forward.w1.weight": (ffn, dim),
                   p + "feed_forward.w2.weight": (dim, ffn),
                   p + "feed_forward.w3.weight": (ffn, dim),
                   p + "attention_norm.weight": (dim,),
                   p + "ffn_norm.weight": (dim,)})
shapes.update({"norm.weight": (dim,), "output.weight": (vocab, dim)})
torch.manual_seed(0)
state = collections.OrderedDict(
    (name, (torch.randn(shape) * 0.02).to(torch.bfloat16))
    for name, shape in shapes.items())
torch.save(state, path)
PY

weights=$($python -c "
import sys
dim, ffn, vocab, layers = 4096, 11008, 32000, $layers
print(2 * vocab * dim + dim + layers * (4 * dim * dim + 3 * ffn * dim + 2 * dim))")
mib() { echo $(( $1 / 1048576 )); }
printf '%-40s %10s\n' "Llama-2-7b shapes, $layers layers" "MiB"
printf '%-40s %10s\n' "input (consolidated.00.pth, bf16)" "$(mib "$(stat -c %s "$work/meta/consolidated.00.pth")")"
printf '%-40s %10s\n' "baseline: the weights in f32" "$(mib $((weights * 4)))"

# run NAME ARGS...: prints the peak heap (anonymous) and mapped-file
# resident memory of one conversion, sampled from /proc every 20 ms, and its
# wall time.
run() {
  local name=$1 anon=0 file=0 start end a f
  shift
  start=$(date +%s.%N)
  "$llamac" convert "$work/meta" "$@" &
  local pid=$!
  while [ -e "/proc/$pid/status" ]; do
    a=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    f=$(awk '/^RssFile/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
    [ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
    sleep 0.02
  done
  wait "$pid"
  end=$(date +%s.%N)
  printf '%-40s %10s   (mapped input pages: %s MiB; %.1fs)\n' \
    "peak heap: $name" "$((anon / 1024))" "$((file / 1024))" \
    "$(echo "$end - $start" | bc)"
}
run "-> Hugging Face dir, bf16" -o "$work/hf/" --dtype bf16
run "-> one .safetensors, f32" -o "$work/out.safetensors"
