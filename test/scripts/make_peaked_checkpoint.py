"""Writes seeded random f32 weights (Meta names, safetensors) whose attention
is peaked: wq and wk are drawn --qk-scale times wider than the other
matrices, so that scores spread over several units instead of a fraction of
one and each query attends to a few keys. With llama-run's
--random-weights every softmax is close to uniform, so an attention that
reads a wrong key (or rotates one to a wrong position) still averages
nearly the same values and moves the loss by little more than rounding;
with these weights it moves the loss by far more.

Usage: make_peaked_checkpoint.py OUT.safetensors --dim D --n-layers N
         --n-heads H --n-kv-heads K --ffn-dim F --vocab-size V
         [--seed S] [--scale 0.05] [--qk-scale 4]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from torch_llama import Config, random_weights, write_safetensors  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    for flag in ["dim", "n-layers", "n-heads", "n-kv-heads", "ffn-dim",
                 "vocab-size"]:
        parser.add_argument("--" + flag, type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--qk-scale", type=float, default=4.0)
    args = parser.parse_args()
    config = Config(args.dim, args.n_layers, args.n_heads, args.n_kv_heads,
                    args.ffn_dim, args.vocab_size)
    weights = random_weights(config, args.seed, args.scale)
    for name in weights:
        if name.endswith(("attention.wq.weight", "attention.wk.weight")):
            weights[name] *= args.qk_scale
    write_safetensors(args.out, weights)


if __name__ == "__main__":
    main()
