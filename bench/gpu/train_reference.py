#!/usr/bin/env python3
"""PyTorch's training step on the shapes of a llamac train_step artifact.

  train_reference.py --info-json NAME.info.json [--steps 10] [--warmup 2]
                     [--device cuda] [--no-compile] [--json OUT]

NAME.info.json is `llama-run info --json` of the artifact: its config and
its train_step's batch and sequence length. The model is Llama 2 written
out in PyTorch (RMSNorm, RoPE on adjacent pairs, grouped-query attention
through scaled_dot_product_attention with is_causal, SwiGLU), with random
weights, trained on random tokens with what llamac's train_step does:
cross-entropy, global gradient-norm clipping at 1.0 and AdamW (betas 0.9,
0.95, eps 1e-5, weight decay 0.1; fused on CUDA). It times whole steps
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


def build_model(torch, info):
    nn = torch.nn
    F = torch.nn.functional
    dim, heads, kv = info["dim"], info["n_heads"], info["n_kv_heads"]
    head_dim = dim // heads
    eps = info["norm_eps"]

    class RMSNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * self.weight

    def rope(x, cos, sin):
        # Adjacent pairs (2i, 2i + 1), as Meta and llama2.c rotate them.
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).flatten(-2)

    def attention(q, k, v):
        if hasattr(F, "scaled_dot_product_attention"):  # torch >= 2.5
            return F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                                  enable_gqa=kv != heads)
        # Older torch (CPU smoke runs): the same product, spelled out.
        k = k.repeat_interleave(heads // kv, 1)
        v = v.repeat_interleave(heads // kv, 1)
        s = q.shape[2]
        scores = q @ k.transpose(-1, -2) / head_dim ** 0.5
        mask = torch.ones(s, s, dtype=torch.bool, device=q.device).triu(1)
        return scores.masked_fill(mask, float("-inf")).softmax(-1) @ v

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attention_norm = RMSNorm()
            self.wq = nn.Linear(dim, heads * head_dim, bias=False)
            self.wk = nn.Linear(dim, kv * head_dim, bias=False)
            self.wv = nn.Linear(dim, kv * head_dim, bias=False)
            self.wo = nn.Linear(heads * head_dim, dim, bias=False)
            self.ffn_norm = RMSNorm()
            self.w1 = nn.Linear(dim, info["ffn_dim"], bias=False)
            self.w2 = nn.Linear(info["ffn_dim"], dim, bias=False)
            self.w3 = nn.Linear(dim, info["ffn_dim"], bias=False)

        def forward(self, x, cos, sin):
            b, s, _ = x.shape
            h = self.attention_norm(x)
            q = self.wq(h).view(b, s, heads, head_dim)
            k = self.wk(h).view(b, s, kv, head_dim)
            v = self.wv(h).view(b, s, kv, head_dim)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
            o = attention(q, k, v)
            x = x + self.wo(o.transpose(1, 2).reshape(b, s, dim))
            h = self.ffn_norm(x)
            return x + self.w2(F.silu(self.w1(h)) * self.w3(h))

    class Llama(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok_embeddings = nn.Embedding(info["vocab_size"], dim)
            self.layers = nn.ModuleList(Block() for _ in range(info["n_layers"]))
            self.norm = RMSNorm()
            self.output = nn.Linear(dim, info["vocab_size"], bias=False)
            freq = 1.0 / info["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim)
            angle = torch.outer(torch.arange(info["max_seq_len"]).float(), freq)
            self.register_buffer("cos", angle.cos()[:, None, :], persistent=False)
            self.register_buffer("sin", angle.sin()[:, None, :], persistent=False)

        def forward(self, tokens, targets):
            s = tokens.shape[1]
            x = self.tok_embeddings(tokens)
            for layer in self.layers:
                x = layer(x, self.cos[:s], self.sin[:s])
            logits = self.output(self.norm(x)).float()
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    return Llama()


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
            loss = forward(inputs, targets)
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
