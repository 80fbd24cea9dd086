"""Writes a safetensors checkpoint again with torch.save, in the layouts
real Llama 2 checkpoints use, so that llamac's torch reader is tested on
files PyTorch itself wrote:

* one archive (a .pth or pytorch_model.bin);
* --ranks N: Meta's model-parallel consolidated.00.pth ... consolidated.0N-1.pth,
  each matrix split as Meta's fairscale layers split it (wq, wk, wv, w1, w3
  and the classifier by rows, wo and w2 and the embedding by columns, the
  norms whole on every rank), plus Meta's rope.freqs buffer;
* --shards N: transformers' pytorch_model-0000i-of-0000N.bin with
  pytorch_model.bin.index.json.

--dtype picks the element type; --strided saves every matrix as a
transposed view of a transposed copy (same values, non-row-major strides);
--parameters saves nn.Parameters rather than tensors, as
torch.save(model.state_dict()) of some models does.

Usage: make_torch_checkpoint.py IN.safetensors OUT [--ranks N | --shards N]
         [--dtype f32|f16|bf16] [--strided] [--parameters]
"""
import argparse
import collections
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from torch_llama import read_safetensors  # noqa: E402

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def meta_split_dim(name):
    """The dimension Meta's model-parallel ranks split `name` on, or None."""
    if name.endswith(("attention.wq.weight", "attention.wk.weight",
                      "attention.wv.weight", "feed_forward.w1.weight",
                      "feed_forward.w3.weight")) or name == "output.weight":
        return 0
    if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")) or \
            name == "tok_embeddings.weight":
        return 1
    return None


def stored(array, args):
    tensor = torch.from_numpy(np.array(array)).to(DTYPES[args.dtype])
    if args.strided and tensor.dim() == 2:
        tensor = tensor.t().contiguous().t()
        assert not tensor.is_contiguous()
    if args.parameters:
        tensor = torch.nn.Parameter(tensor, requires_grad=False)
    return tensor


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--ranks", type=int, default=0)
    parser.add_argument("--shards", type=int, default=0)
    parser.add_argument("--dtype", default="f32", choices=DTYPES)
    parser.add_argument("--strided", action="store_true")
    parser.add_argument("--parameters", action="store_true")
    args = parser.parse_args()
    tensors = read_safetensors(args.input)

    if args.ranks:
        os.makedirs(args.output, exist_ok=True)
        for rank in range(args.ranks):
            state = collections.OrderedDict()
            for name, array in tensors.items():
                dim = meta_split_dim(name)
                if dim is not None:
                    array = np.split(array, args.ranks, axis=dim)[rank]
                state[name] = stored(array, args)
            # Meta's checkpoints carry the rotary frequencies as a buffer.
            state["rope.freqs"] = torch.ones(8, dtype=DTYPES[args.dtype])
            torch.save(state, os.path.join(args.output,
                                           "consolidated.%02d.pth" % rank))
        return

    if args.shards:
        os.makedirs(args.output, exist_ok=True)
        names = list(tensors)
        groups = np.array_split(np.arange(len(names)), args.shards)
        weight_map = {}
        for i, group in enumerate(groups):
            shard = "pytorch_model-%05d-of-%05d.bin" % (i + 1, args.shards)
            state = collections.OrderedDict(
                (names[j], stored(tensors[names[j]], args)) for j in group)
            torch.save(state, os.path.join(args.output, shard))
            weight_map.update({names[j]: shard for j in group})
        with open(os.path.join(args.output, "pytorch_model.bin.index.json"),
                  "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
        return

    torch.save(collections.OrderedDict(
        (name, stored(array, args)) for name, array in tensors.items()),
        args.output)


if __name__ == "__main__":
    main()
