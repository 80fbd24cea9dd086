#!/usr/bin/env python3
"""PyTorch CPU baseline of one llamac training step, in tokens/s.

The step is the one llamac's train_step compiles: forward and loss
(test/scripts/torch_llama.py, f32), backward, global-norm gradient clipping,
and AdamW with llamac's defaults (betas 0.9/0.95, eps 1e-5, decoupled weight
decay 0.1 on the matrices and none on the norm gains). The learning rate is
set each step, as a schedule would. Eager mode: torch 1.13 (Debian's) has no
torch.compile, and TorchScript does not speed up backward of a graph like
this one.

Weights are seeded random and tokens random: the time of a step does not
depend on their values. Debian's torch does its matmuls with the BLAS that
libblas.so.3 resolves to, by default netlib's reference BLAS (about 4
GFLOP/s a core here, against about 60 for OpenBLAS), so the library is
printed with the figure. Prints two lines:
    torch: B x S, T threads, N steps: X tok/s (loss L)
    blas: /path/of/the/library
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "test", "scripts"))
import torch_llama  # noqa: E402


def blas_library():
    """The BLAS shared object this process loaded, from /proc/self/maps."""
    torch.ones(2, 2) @ torch.ones(2, 2)
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.lower()
                 or "mkl" in line.lower()}
    paths = sorted(p for p in paths if p.startswith("/"))
    if not paths:
        return "built in"
    return os.path.realpath(paths[0])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None,
                   help="a llama2.c .bin to take the config from")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--n-layers", type=int, default=2)
    p.add_argument("--n-heads", type=int, default=8)
    p.add_argument("--n-kv-heads", type=int, default=4)
    p.add_argument("--ffn-dim", type=int, default=172)
    p.add_argument("--vocab-size", type=int, default=512)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--seq-len", type=int, required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed steps first (allocator, thread pool)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.model:
        config = torch_llama.read_llama2c_config(args.model)
    else:
        config = torch_llama.Config(
            dim=args.dim, n_layers=args.n_layers, n_heads=args.n_heads,
            n_kv_heads=args.n_kv_heads, ffn_dim=args.ffn_dim,
            vocab_size=args.vocab_size)

    weights = {name: torch.tensor(a, requires_grad=True) for name, a in
               torch_llama.random_weights(config, args.seed).items()}
    matrices = [w for w in weights.values() if w.dim() == 2]
    gains = [w for w in weights.values() if w.dim() == 1]
    optimizer = torch.optim.AdamW(
        [{"params": matrices, "weight_decay": 0.1},
         {"params": gains, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-5)

    shape = (args.batch, args.seq_len)
    loss_weights = torch.ones(shape)

    def step(i):
        # Next-token pairs from one random sequence, as a corpus gives them.
        ids = torch.randint(0, config.vocab_size, (args.batch, args.seq_len + 1))
        loss = torch_llama.loss(weights, config, ids[:, :-1], ids[:, 1:],
                                loss_weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(weights.values(), 1.0)
        for group in optimizer.param_groups:
            group["lr"] = args.lr  # a schedule's cost; the value is moot here
        optimizer.step()
        return loss.item()

    for i in range(args.warmup):
        step(i)
    start = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
    seconds = time.perf_counter() - start
    tok_s = args.batch * args.seq_len * args.steps / seconds
    print(f"torch: {args.batch} x {args.seq_len}, {args.threads} threads, "
          f"{args.steps} steps: {tok_s:.0f} tok/s (loss {loss:.3f})")
    print(f"blas: {blas_library()}")


if __name__ == "__main__":
    main()
