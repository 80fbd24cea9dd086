#!/usr/bin/env python3
"""Checks llamac's loss and gradients against PyTorch autograd.

For each config (grouped-query and multi-head attention), it makes seeded
random f32 weights, writes them as a Meta-named .safetensors, compiles
`--entry=forward_loss --autodiff` for the CPU, and runs `llama-run grads` on
random tokens, targets and loss weights (a few of them 0, so that masking is
covered). With `--target cuda` it compiles the CUDA target instead and runs
its kernels either on a GPU or, given `--cuda-emu` and `--fake-libcuda`, in
the kernel emulator (llama-cuda-emu) through the fake driver. The reference is torch_llama.py under autograd in float64 from the
same f32 weights, so its own rounding is negligible and the difference is the
kernels' f32 error.

Every gradient must exist on both sides, and each tensor (the loss too)
must satisfy, relative to its largest reference entry,
    rel = max |llamac - torch| / max |torch| <= rtol    (default 1e-5).
The gradients span 4e-3 to 0.3 in magnitude, so an absolute bound would be
loose for the small ones (wq, wk). f32 kernels over these sizes give rel
about 1e-6 (summation order, f32 exp and RoPE angles). Prints one table row
per tensor and a summary line:
    torch-autograd: PASS (2 configs, N tensors, worst rel R, rtol T)
and exits 1 on any failure.
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_llama  # noqa: E402

BATCH, SEQ = 2, 16

CONFIGS = {
    "gqa": torch_llama.Config(dim=64, n_layers=2, n_heads=8, n_kv_heads=4,
                              ffn_dim=172, vocab_size=512),
    "mha": torch_llama.Config(dim=64, n_layers=2, n_heads=4, n_kv_heads=4,
                              ffn_dim=172, vocab_size=512),
    # Llama's head size, 128, in groups of 2: the CUDA kernels' lanes then
    # hold several elements of a head each.
    "h128": torch_llama.Config(dim=256, n_layers=1, n_heads=2, n_kv_heads=1,
                               ffn_dim=256, vocab_size=512),
}


def compile_artifact(args, config, path):
    c = config
    target = ["--target=cpu"]
    if args.target == "cuda":
        target = ["--target=cuda", "--cuda-arch=sm_80"]
    subprocess.run(
        [args.llamac, "--model", "tiny", "--dim", str(c.dim),
         "--n-layers", str(c.n_layers), "--n-heads", str(c.n_heads),
         "--n-kv-heads", str(c.n_kv_heads), "--ffn-dim", str(c.ffn_dim),
         "--vocab-size", str(c.vocab_size), "--entry=forward_loss",
         "--autodiff", "--batch", str(BATCH), "--seq-len", str(SEQ),
         *target, "-o", path], check=True, stdout=subprocess.DEVNULL)
    if args.cuda_emu:
        subprocess.run([args.cuda_emu, path, "-o", path], check=True,
                       stdout=subprocess.DEVNULL)


def comma(values):
    return ",".join(str(v) for v in np.asarray(values).reshape(-1).tolist())


def reference(weights, config, tokens, targets, loss_weights):
    """The loss and d(loss)/d(weight) of every weight, by autograd in f64."""
    w = {name: torch.tensor(a, dtype=torch.float64, requires_grad=True)
         for name, a in weights.items()}
    loss = torch_llama.loss(w, config, torch.tensor(tokens, dtype=torch.int64),
                            torch.tensor(targets, dtype=torch.int64),
                            torch.tensor(loss_weights, dtype=torch.float64))
    loss.backward()
    grads = {name: t.grad.numpy() for name, t in w.items()}
    grads["loss"] = np.array([loss.item()])
    return grads


def check(name, config, seed, args):
    """Prints one row per tensor; returns (tensors, worst rel, failures)."""
    rng = np.random.default_rng(seed)
    weights = torch_llama.random_weights(config, seed)
    tokens = rng.integers(0, config.vocab_size, size=(BATCH, SEQ))
    targets = rng.integers(0, config.vocab_size, size=(BATCH, SEQ))
    loss_weights = np.ones((BATCH, SEQ), dtype=np.float32)
    loss_weights.reshape(-1)[rng.choice(BATCH * SEQ, 5, replace=False)] = 0.0

    base = os.path.join(args.workdir, name)
    torch_llama.write_safetensors(base + ".weights.safetensors", weights)
    compile_artifact(args, config, base + ".art")
    env = dict(os.environ)
    if args.fake_libcuda:
        env["LLAMAC_LIBCUDA"] = args.fake_libcuda
    subprocess.run(
        [args.llama_run, "grads", "--device", args.target,
         "--artifact", base + ".art",
         "--weights", base + ".weights.safetensors",
         "--tokens", comma(tokens), "--targets", comma(targets),
         "--loss-weights", comma(loss_weights),
         "-o", base + ".grads.safetensors"], check=True,
        stdout=subprocess.DEVNULL, env=env)
    got = torch_llama.read_safetensors(base + ".grads.safetensors")
    want = reference(weights, config, tokens, targets, loss_weights)

    failures = []
    for missing in sorted(set(want) - set(got)):
        failures.append(f"{name}: llamac returned no '{missing}'")
    for extra in sorted(set(got) - set(want)):
        failures.append(f"{name}: llamac returned '{extra}', which torch "
                        "has no gradient for")
    worst = 0.0
    for tensor in [t for t in want if t in got]:
        g, r = got[tensor].astype(np.float64), want[tensor]
        if g.shape != r.shape:
            failures.append(f"{name}: {tensor} has shape {list(g.shape)}, "
                            f"torch {list(r.shape)}")
            continue
        diff = float(np.abs(g - r).max())
        ref = float(np.abs(r).max())
        rel = diff / ref if ref > 0 else (0.0 if diff == 0 else np.inf)
        # NaN never passes a comparison, so test for success.
        ok = rel <= args.rtol
        if not np.isnan(rel):
            worst = max(worst, rel)
        print(f"{name:4} {tensor:36} {diff:10.3e} {ref:10.3e} "
              f"{rel:10.3e}{'' if ok else '  FAIL'}")
        if not ok:
            failures.append(f"{name}: {tensor} rel {rel:.3e} > {args.rtol:.0e}")
    return len(want), worst, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llamac", required=True)
    parser.add_argument("--llama-run", required=True)
    parser.add_argument("--workdir", required=True,
                        help="where the artifacts and safetensors go")
    parser.add_argument("--rtol", type=float, default=1e-5,
                        help="bound on max|diff| / max|ref| of each tensor")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", choices=["cpu", "cuda"], default="cpu",
                        help="the kernels to check (default cpu)")
    parser.add_argument("--cuda-emu",
                        help="llama-cuda-emu: run the cuda kernels on the "
                        "CPU (needs --fake-libcuda)")
    parser.add_argument("--fake-libcuda",
                        help="the fake driver the emulated kernels run on")
    args = parser.parse_args()
    if bool(args.cuda_emu) != bool(args.fake_libcuda):
        parser.error("--cuda-emu and --fake-libcuda go together")
    if args.cuda_emu and args.target != "cuda":
        parser.error("--cuda-emu needs --target cuda")
    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(1)

    print(f"{'cfg':4} {'tensor':36} {'max|diff|':>10} {'max|ref|':>10} "
          f"{'rel':>10}")
    rows, worst, failures = 0, 0.0, []
    for i, (name, config) in enumerate(CONFIGS.items()):
        n, w, f = check(name, config, args.seed + i, args)
        rows, worst, failures = rows + n, max(worst, w), failures + f
    for failure in failures:
        print("error:", failure)
    verdict = "FAIL" if failures else "PASS"
    print(f"torch-autograd: {verdict} ({args.target} kernels, "
          f"{len(CONFIGS)} configs, {rows} tensors, "
          f"worst rel {worst:.1e}, rtol {args.rtol:.0e})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
