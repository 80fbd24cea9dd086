#!/usr/bin/env python3
"""PyTorch's training step on the shapes of a llamac train_step artifact.

  train_reference.py --info-json NAME.info.json [--steps 10] [--warmup 2]
                     [--device cuda] [--no-compile] [--json OUT]

NAME.info.json is `llama-run info --json` of the artifact: its config and
its train_step's batch and sequence length. The model is Llama 2 written
out in PyTorch (reference_model.py: RMSNorm, RoPE on adjacent pairs,
grouped-query attention through scaled_dot_product_attention with
is_causal, SwiGLU), with random weights, trained on random tokens with
what llamac's train_step does: cross-entropy, global gradient-norm
clipping at 1.0 and AdamW (betas 0.9, 0.95, eps 1e-5, weight decay 0.1;
fused on CUDA). It times whole steps
(forward, backward, clipping, update) and prints tokens/s in the
artifact's precision:

  * an f32 artifact: f32 with TF32 off, the arithmetic llamac's f32
    train_step does;
  * a bf16 artifact (llamac's mixed precision: bf16 compute, f32 master
    weights): f32 weights under bf16 autocast, PyTorch's mixed precision;

each in eager mode and, unless --no-compile, under torch.compile.

It measures; it does not pass or fail.
"""
import argparse
import json
import sys
import time

from reference_model import build_model


def time_training(torch, info, batch, seq, steps, warmup, device, mode):
    torch.manual_seed(0)
    model = build_model(torch, info).to(device)
    extra = {"fused": True} if device == "cuda" else {}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95),
                                  eps=1e-5, weight_decay=0.1, **extra)
    forward = torch.compile(model) if mode.endswith("compile") else model
    tokens = torch.randint(0, info["vocab_size"], (batch, seq + 1), device=device)
    inputs, targets = tokens[:, :-1], tokens[:, 1:]

    def step():
        with torch.autocast(device, dtype=torch.bfloat16,
                            enabled=mode.startswith("bf16")):
            loss = forward(inputs, targets=targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - start
    if not torch.isfinite(loss):
        raise RuntimeError(f"{mode}: the loss is {loss.item()}")
    del model, optimizer
    if device == "cuda":
        torch.cuda.empty_cache()
    return batch * seq * steps / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--info-json", required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    import torch

    with open(args.info_json) as f:
        info = json.load(f)
    entry = next((e for e in info["entries"] if e["name"] == "train_step"), None)
    if entry is None or entry["seq"] <= 0:
        sys.exit(f"{args.info_json}: no train_step with a fixed sequence length")
    batch, seq = entry["batch"], entry["seq"]
    if info["dtype"] not in ("f32", "bf16"):
        sys.exit(f"{args.info_json}: train_step is {info['dtype']}; expected f32 or bf16")
    if info["rope_style"] != "adjacent":
        sys.exit(f"{args.info_json}: rope_style {info['rope_style']}; the reference rotates adjacent pairs")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    eager = "f32" if info["dtype"] == "f32" else "bf16"
    modes = [eager] + ([] if args.no_compile else [eager + "-compile"])
    labels = {"f32": "PyTorch eager, f32 (TF32 off)",
              "f32-compile": "PyTorch torch.compile, f32 (TF32 off)",
              "bf16": "PyTorch eager, bf16 autocast (f32 master weights)",
              "bf16-compile": "PyTorch torch.compile, bf16 autocast"}
    results = {}
    for mode in modes:
        try:
            results[mode] = time_training(torch, info, batch, seq, args.steps,
                                          args.warmup, args.device, mode)
            print(f"  {labels[mode]:<52} {results[mode]:>10.0f} tok/s", flush=True)
        except Exception as error:  # report and go on with the other modes
            print(f"  {labels[mode]:<52} failed: {error}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"batch": batch, "seq": seq, "tokens_per_s": results}, f)


if __name__ == "__main__":
    main()
