#!/usr/bin/env python3
"""Sets llama-run's GPU numbers beside PyTorch's for the same model shapes.

  compare.py --bench-json NAME.json --info-json NAME.info.json [--steps 128]
             [--prompt-lens 512,2048,4096] [--no-compile] [--decode-only]
             [--context-bench-json NAME.context.json]

NAME.json is `llama-run bench --json` of an artifact bound to random
weights; NAME.info.json its `llama-run info --json`. On the same GPU this
script then measures, with random bf16 weights of the same config:

  * decode tokens/s at batch 1: transformers LlamaForCausalLM.generate (SDPA
    attention, eager mode, dynamic cache), and the same with a static cache
    and torch.compile(mode="reduce-overhead"), the recipe transformers
    documents;
  * prefill tokens/s at each prompt length (one forward, eager);
  * unless --no-compile, both again for Llama written out in plain PyTorch
    (reference_model.py) under torch.compile: decode one token a step with a
    static KV cache sized to the steps, in CUDA graphs
    (mode="reduce-overhead", the recipe of PyTorch's gpt-fast), and prefill
    compiled for each length, computing the last position's logits only
    (transformers and llama-run compute more). The decode's greedy tokens
    are checked against an uncompiled forward over the same tokens, so
    that a fast but wrong cache shows;
  * the device-to-device copy bandwidth (torch, 1 GiB copies), and for each
    decode speed the fraction of it used: weight bytes read per token times
    tokens/s over that bandwidth. The embedding table is left out of the
    bytes on both sides, since a token reads one row of it;
  * for every llama-run kernel, the same shape through torch.matmul (cuBLAS)
    for matmuls and SDPA with the flash backend for attention (grouped
    key and value heads through enable_gqa, as llama-run reads them). llama-run's
    matmuls also fuse RMSNorm and epilogues, so cuBLAS on the bare product
    is a lower bound, not the same work;
  * with --context-bench-json (`llama-run bench --context N --json`),
    llama-run's decode from position N, whose fraction of the bandwidth
    counts the cached keys and values each step reads beside the weights,
    and its attention kernel beside SDPA over as many keys.

Everything is printed side by side. It measures; it does not pass or fail.
--decode-only keeps the decode rows alone (no prefill, no kernels), for a
short run that still has torch.compile's figure.
"""
import argparse
import json
import math
import sys
import time


def gib(n):
    return n / 2**30


def cuda_time(fn, repeats, warmup=3):
    """Median seconds of fn() by CUDA events."""
    import torch
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


def copy_bandwidth(torch):
    """Bytes/s of device-to-device copies (each byte read and written)."""
    n = 2**30
    x = torch.empty(n, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    seconds = cuda_time(lambda: y.copy_(x), repeats=20)
    del x, y
    torch.cuda.empty_cache()
    return 2 * n / seconds


def hf_config(info):
    from transformers import LlamaConfig
    config = LlamaConfig(
        vocab_size=info["vocab_size"], hidden_size=info["dim"],
        intermediate_size=info["ffn_dim"],
        num_hidden_layers=info["n_layers"],
        num_attention_heads=info["n_heads"],
        num_key_value_heads=info["n_kv_heads"],
        head_dim=info["dim"] // info["n_heads"], hidden_act="silu",
        max_position_embeddings=info["max_seq_len"],
        rms_norm_eps=info["norm_eps"], rope_theta=info["rope_theta"],
        attention_bias=False, mlp_bias=False,
        tie_word_embeddings=info["shared_classifier"])
    config._attn_implementation = "sdpa"
    return config


def build_on_gpu(make, dtype, torch):
    """make()'s model, built in `dtype` on the GPU: an f32 copy of
    70B-shaped layers first would double the memory for nothing."""
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cuda"):
            return make().eval()
    finally:
        torch.set_default_dtype(default_dtype)


def non_embedding_bytes(model, embedding, tied):
    """The bytes of `model`'s parameters a decode token reads: all but the
    embedding table, of which a token reads one row, unless the classifier
    shares (`tied`) and so reads it whole."""
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    if tied:
        return total
    return total - embedding.numel() * embedding.element_size()


def best_decode_seconds(generate, torch, repeats=3):
    """Best wall seconds of generate(), after two calls that warm it up
    (and compile it)."""
    generate()
    generate()
    best = math.inf
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        generate()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def hf_decode_seconds(model, steps, vocab, torch):
    """Best seconds of generate() producing `steps` tokens from 1 token."""
    ids = torch.randint(3, vocab, (1, 1), device="cuda")
    kwargs = dict(max_new_tokens=steps, min_new_tokens=steps, do_sample=False,
                  pad_token_id=0)
    return best_decode_seconds(lambda: model.generate(ids, **kwargs), torch)


def hf_prefill_seconds(model, length, vocab, torch):
    ids = torch.randint(3, vocab, (1, length), device="cuda")

    def forward():
        with torch.no_grad():
            model(input_ids=ids, use_cache=True)
    return cuda_time(forward, repeats=5, warmup=2)


def matmul_reference(m, k, n, dtype, torch):
    x = torch.randn(m, k, dtype=dtype, device="cuda")
    w = torch.randn(n, k, dtype=dtype, device="cuda")
    return cuda_time(lambda: torch.matmul(x, w.t()), repeats=50)


def sdpa_reference(heads, kv_heads, head_dim, queries, keys, causal, dtype,
                   torch):
    """(seconds a call, name) of SDPA's flash backend on the shape, its
    kv_heads key and value heads shared by the query heads (enable_gqa) as
    llama-run reads them; where this torch cannot, every query head gets a
    copy of its KV head's, which reads more bytes, and the name says so."""
    import torch.nn.functional as F
    q = torch.randn(1, heads, queries, head_dim, dtype=dtype, device="cuda")
    k = torch.randn(1, kv_heads, keys, head_dim, dtype=dtype, device="cuda")
    v = torch.randn_like(k)

    def flash(attend):
        try:
            from torch.nn.attention import SDPBackend, sdpa_kernel
            with sdpa_kernel([SDPBackend.FLASH_ATTENTION]):
                return cuda_time(attend, repeats=50)
        except ImportError:
            with torch.backends.cuda.sdp_kernel(enable_flash=True,
                                                enable_math=False,
                                                enable_mem_efficient=False):
                return cuda_time(attend, repeats=50)

    if kv_heads == heads:
        return flash(lambda: F.scaled_dot_product_attention(
            q, k, v, is_causal=causal)), "SDPA flash"
    try:
        return flash(lambda: F.scaled_dot_product_attention(
            q, k, v, is_causal=causal, enable_gqa=True)), "SDPA flash"
    except (TypeError, RuntimeError):
        group = heads // kv_heads
        k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
        return flash(lambda: F.scaled_dot_product_attention(
            q, k, v, is_causal=causal)), "SDPA flash, K/V copied"


TORCH_TYPES = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}


def plain_torch_compiled(info, dtype, steps, lengths, torch):
    """reference_model.py's model under torch.compile: (decode tokens/s, weight
    bytes a decode token reads without the embedding table, {length: prefill
    tokens/s}, a note). Decode runs `steps` steps from one token, like
    hf_decode_seconds; the note says how many of its greedy tokens an
    uncompiled forward over the same tokens predicts too."""
    from reference_model import build_model
    torch._dynamo.reset()  # nothing left of transformers' compilation
    model = build_on_gpu(lambda: build_model(torch, info), dtype, torch)
    # Its classifier is a separate matrix, shared or not in the artifact.
    weight_bytes = non_embedding_bytes(model, model.tok_embeddings.weight,
                                       tied=False)
    vocab = info["vocab_size"]
    prefill = {}
    with torch.no_grad():
        # A cache of the steps' positions, rounded up to 16, as gpt-fast
        # sizes it: each step reads all of it.
        model.setup_caches(min(info["max_seq_len"], (steps + 15) // 16 * 16))

        def decode_one(token, position):
            return model(token, position).argmax(-1, keepdim=True)
        step = torch.compile(decode_one, mode="reduce-overhead", fullgraph=True)
        first = torch.randint(3, vocab, (1, 1), device="cuda")
        positions = torch.arange(steps, device="cuda")

        tokens = []

        def generate():
            token = first
            tokens.clear()
            for p in range(steps):
                # The graph's output buffer is overwritten by its next replay.
                token = step(token, positions[p:p + 1]).clone()
                tokens.append(token)
        # The warm-up compiles the step and records its CUDA graphs.
        best = best_decode_seconds(generate, torch)
        decoded = torch.cat(tokens, dim=1)
        inputs = torch.cat([first, decoded[:, :-1]], dim=1)
        agree = int((model(inputs).argmax(-1) == decoded).sum())
        note = (f"PyTorch compiled decode: {agree} of {steps} greedy tokens "
                f"agree with an uncompiled forward over the same tokens")

        if lengths:
            model.setup_caches(max(lengths))
            forward = torch.compile(model, fullgraph=True, dynamic=False)
            for length in lengths:
                ids = torch.randint(3, vocab, (1, length), device="cuda")
                at = torch.arange(length, device="cuda")
                try:
                    prefill[length] = length / cuda_time(
                        lambda: forward(ids, at), repeats=5, warmup=2)
                except Exception as error:  # Out of memory, most likely.
                    print(f"PyTorch compiled prefill {length}: "
                          f"{type(error).__name__}: {error}")
    del model
    torch.cuda.empty_cache()
    return steps / best, weight_bytes, prefill, note


def kv_bytes_per_token(info, context, steps):
    """Bytes of cached keys and values a decode step reads, on average over
    positions context .. context + steps - 1 (position p reads p + 1 rows a
    layer, keys and values, its KV heads' worth)."""
    element = {"f32": 4, "f16": 2, "bf16": 2}[info["dtype"]]
    row = info["n_kv_heads"] * (info["dim"] // info["n_heads"]) * element
    mean_rows = context + (steps + 1) / 2
    return info["n_layers"] * 2 * row * mean_rows


def kernel_rows(bench, info, steps, torch, only_attention=False):
    """(label, shape, calls, ours us, reference name, reference us) rows;
    only_attention keeps the attention kernels' alone."""
    heads = info["n_heads"]
    head_dim = info["dim"] // heads
    context = bench["decode"].get("context", 0)
    rows = []
    for profile in bench["profiles"]:
        seq = profile["seq"]
        phase = "decode" if profile["entry"] == "decode" else f"prefill {seq}"
        if profile["entry"] == "decode" and context:
            phase = f"decode at {context}"
        for kernel in profile["kernels"]:
            if only_attention and not kernel["op"].startswith(
                    "fused_rope_attention"):
                continue
            ours = kernel["ns"] / kernel["calls"] / 1e3
            label = f"{phase}: {kernel['symbol']} ({kernel['origin']})"
            buffers = kernel["buffers"]
            reference, ref_us, shape = "-", None, ""
            # A kernel that runs part of an op names it after a dot
            # (fused_rope_attention.flash, fused_rope_attention.cache_write).
            op, _, part = kernel["op"].partition(".")
            try:
                if op == "fused_matmul":
                    weight = next(b for b in buffers
                                  if b["kind"] in ("weight", "packed")
                                  and len(b["shape"]) == 2)
                    n, k = weight["shape"]
                    dtype = getattr(torch, TORCH_TYPES[weight["type"]])
                    shape = f"[{seq}x{k}] x [{k}x{n}]"
                    reference = "torch.matmul"
                    ref_us = matmul_reference(seq, k, n, dtype, torch) * 1e6
                elif op == "fused_rope_attention" and part == "cache_write":
                    # Prefill's first launch: the new rows, rotated, to the
                    # caches. SDPA has no counterpart; its row stands alone.
                    shape = f"{seq} new K/V rows to the caches"
                elif op == "fused_rope_attention":
                    dtype = getattr(torch, TORCH_TYPES[info["dtype"]])
                    # Decode ran positions context .. context + steps - 1:
                    # on average context + steps / 2 cached keys per query;
                    # prefill is causal over seq.
                    queries, keys = ((1, context + max(1, steps // 2))
                                     if seq == 1 else (seq, seq))
                    kv = info["n_kv_heads"]
                    grouped = f"{heads}/{kv}" if kv != heads else f"{heads}"
                    shape = (f"{grouped} heads x {head_dim}, {queries} "
                             f"queries, {keys} keys")
                    seconds, reference = sdpa_reference(
                        heads, info["n_kv_heads"], head_dim, queries, keys,
                        seq > 1, dtype, torch)
                    ref_us = seconds * 1e6
            except Exception as error:  # A reference that cannot run.
                reference = f"({type(error).__name__}: {error})"[:60]
            rows.append((label, shape, kernel["calls"], ours, reference, ref_us))
    return rows


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench-json", required=True)
    parser.add_argument("--info-json", required=True)
    parser.add_argument("--context-bench-json",
                        help="llama-run bench --context's JSON: its decode "
                        "and attention kernel go in the tables too")
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--prompt-lens", default="512,2048,4096")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip the torch.compile measurements")
    parser.add_argument("--decode-only", action="store_true",
                        help="measure decode alone: no prefill, no kernels")
    args = parser.parse_args()

    import torch
    import transformers
    from transformers import LlamaForCausalLM

    with open(args.bench_json) as f:
        bench = json.load(f)
    with open(args.info_json) as f:
        info = json.load(f)
    if bench.get("batch", 1) != 1:
        print(f"error: {args.bench_json}: llama-run ran a batch of "
              f"{bench['batch']}; the comparisons here are at batch 1 "
              f"(compile the artifact without --batch)", file=sys.stderr)
        return 2
    vocab = info["vocab_size"]
    lengths = [] if args.decode_only else [
        int(n) for n in args.prompt_lens.split(",") if n]
    print(f"== {info['name']}: dim {info['dim']}, {info['n_layers']} layers, "
          f"{info['n_heads']}/{info['n_kv_heads']} heads, ffn {info['ffn_dim']}, "
          f"vocab {vocab}, {info['dtype']}")
    print(f"GPU: {torch.cuda.get_device_name()}; torch {torch.__version__}, "
          f"transformers {transformers.__version__}")
    print(f"llama-run: {bench['backend']}")
    torch.backends.cuda.matmul.allow_tf32 = True

    bandwidth = copy_bandwidth(torch)
    print(f"device-to-device copy bandwidth: {bandwidth / 1e9:.0f} GB/s")

    # llama-run's bytes per decode token: the weights and packed weights the
    # decode entry reads, less the embedding table (one row per token).
    element_bytes = {"f32": 4, "i32": 4, "f16": 2, "bf16": 2}
    embedding_bytes = 0
    for profile in bench["profiles"]:
        for kernel in profile["kernels"]:
            if kernel["op"] == "embedding":
                embedding_bytes = max([embedding_bytes] + [
                    element_bytes[b["type"]] * math.prod(b["shape"])
                    for b in kernel["buffers"] if b["kind"] == "weight"])
    ours_bytes = bench["parameter_bytes"].get("decode", 0) - embedding_bytes

    dtype = getattr(torch, TORCH_TYPES[info["dtype"]])
    model = build_on_gpu(lambda: LlamaForCausalLM(hf_config(info)), dtype,
                         torch)
    hf_bytes = non_embedding_bytes(model, model.model.embed_tokens.weight,
                                   model.config.tie_word_embeddings)

    results = []  # (what, llama-run, transformers eager and compiled)
    ours_decode = bench["decode"]["tokens"] / bench["decode"]["seconds"] \
        if bench["decode"]["seconds"] else float("nan")
    eager_decode = args.steps / hf_decode_seconds(model, args.steps, vocab, torch)
    compiled_decode = float("nan")
    compile_note = ""
    if not args.no_compile:
        try:
            model.generation_config.cache_implementation = "static"
            model.forward = torch.compile(model.forward, mode="reduce-overhead",
                                          fullgraph=True)
            compiled_decode = args.steps / hf_decode_seconds(
                model, args.steps, vocab, torch)
        except Exception as error:
            compile_note = f"torch.compile failed: {type(error).__name__}: {error}"
        finally:
            model.forward = model.__class__.forward.__get__(model)
            model.generation_config.cache_implementation = None
    results.append(("decode tok/s (batch 1)", ours_decode, eager_decode,
                    compiled_decode))

    def fraction(tokens_per_second, bytes_per_token):
        return tokens_per_second * bytes_per_token / bandwidth

    results.append(("  HBM fraction", fraction(ours_decode, ours_bytes),
                    fraction(eager_decode, hf_bytes),
                    fraction(compiled_decode, hf_bytes)))
    long_bench = None
    if args.context_bench_json:
        with open(args.context_bench_json) as f:
            long_bench = json.load(f)
        timed = long_bench["decode"]
        context = timed.get("context", 0)
        tokens_per_second = (timed["tokens"] / timed["seconds"]
                             if timed["seconds"] else float("nan"))
        kv_bytes = kv_bytes_per_token(info, context, args.steps)
        nan = float("nan")
        results.append((f"decode tok/s at {context}", tokens_per_second,
                        nan, nan))
        results.append(("  HBM fraction (+ KV)",
                        fraction(tokens_per_second, ours_bytes + kv_bytes),
                        nan, nan))
        print(f"decode at {context}: {gib(kv_bytes):.2f} GiB of cached keys "
              f"and values a token on average, beside the weights")
    ours_prefill = {p["tokens"]: p["tokens"] / p["seconds"] for p in bench["prefill"]}
    for length in lengths:
        hf = float("nan")
        try:
            hf = length / hf_prefill_seconds(model, length, vocab, torch)
        except Exception as error:  # Out of memory, most likely.
            print(f"transformers prefill {length}: {type(error).__name__}: {error}")
        results.append((f"prefill {length} tok/s", ours_prefill.get(length, float("nan")),
                        hf, float("nan")))
    del model
    torch.cuda.empty_cache()

    # The plain PyTorch model under torch.compile: a fourth column.
    plain = {"decode tok/s (batch 1)": float("nan"),
             "  HBM fraction": float("nan")}
    plain_bytes = float("nan")
    if not args.no_compile:
        try:
            decode, plain_bytes, prefill, note = plain_torch_compiled(
                info, dtype, args.steps, lengths, torch)
            plain["decode tok/s (batch 1)"] = decode
            plain["  HBM fraction"] = fraction(decode, plain_bytes)
            for length, tokens_per_second in prefill.items():
                plain[f"prefill {length} tok/s"] = tokens_per_second
            compile_note = "\n".join(n for n in (compile_note, note) if n)
        except Exception as error:
            compile_note = "\n".join(n for n in (
                compile_note, f"PyTorch compile failed: "
                f"{type(error).__name__}: {error}") if n)

    print(f"\nweight bytes per decode token (no embedding table): llama-run "
          f"{gib(ours_bytes):.2f} GiB, transformers {gib(hf_bytes):.2f} GiB, "
          f"PyTorch {gib(plain_bytes):.2f} GiB")
    print(f"\n{'':28} {'llama-run':>12} {'HF eager':>12} {'HF compile':>12} "
          f"{'PT compile':>12}")
    for what, ours, eager, compiled in results:
        values = (ours, eager, compiled, plain.get(what, float("nan")))
        if "fraction" in what:
            cells = [f"{v * 100:11.1f}%" if v == v else f"{'-':>12}"
                     for v in values]
        else:
            cells = [f"{v:12.1f}" if v == v else f"{'-':>12}"
                     for v in values]
        print(f"{what:28} {' '.join(cells)}")
    print("PT compile: Llama in plain PyTorch (bench/gpu/reference_model.py), "
          "static cache, torch.compile")
    if compile_note:
        print(compile_note)
    if args.decode_only:
        return 0

    print(f"\nper kernel (llama-run's average per call; the reference on the "
          f"same shape):")
    print(f"{'kernel':60} {'shape':42} {'calls':>6} {'ours us':>9} "
          f"{'reference':>22} {'ref us':>9} {'ours/ref':>8}")
    rows = kernel_rows(bench, info, args.steps, torch)
    if long_bench:
        rows += kernel_rows(long_bench, info, args.steps, torch,
                            only_attention=True)
    for label, shape, calls, ours, reference, ref_us in rows:
        ref = f"{ref_us:9.1f}" if ref_us is not None else f"{'-':>9}"
        ratio = f"{ours / ref_us:8.2f}" if ref_us else f"{'-':>8}"
        print(f"{label[:60]:60} {shape[:42]:42} {calls:6d} {ours:9.1f} "
              f"{reference[:22]:>22} {ref} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
