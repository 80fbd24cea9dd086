#!/usr/bin/env python3
"""Compares llama-run's logits with Hugging Face transformers, or two dumps.

  hf_compare.py hf --llama-run BIN --workdir DIR --name NAME --artifact A.art
                   [--artifact B.art ...] [--tokens N] [--seed S]
      Builds a transformers LlamaConfig from the first artifact's config
      (`llama-run info --json`; every artifact must have the same config),
      generates random weights with torch, writes them to
      DIR/NAME.safetensors under Hugging Face's names (the file llama-run
      reads too), and runs the same random tokens through LlamaForCausalLM
      (float32, eager attention, TF32 off) and through each artifact with
      `llama-run logits`, by decode calls and, where the artifact has a
      dynamic prefill entry, by one prefill call. Each comparison prints one
      PASS or FAIL line.

  hf_compare.py pretrained --llama-run BIN --dir MODEL_DIR --artifact A.art
                           [--artifact B.art ...] [--tokens N] [--seed S]
      Loads a Hugging Face model directory that `llamac convert -o DIR/`
      wrote with transformers' own LlamaForCausalLM.from_pretrained
      (float32, eager attention), and compares its logits for random tokens
      with each artifact's, given the same directory as --weights: the
      directory is what transformers expects, and both read the same
      numbers from it.

  hf_compare.py logits EXPECTED.txt ACTUAL.txt --label L --dtype f32|bf16
      Compares two `llama-run logits` dumps (no torch needed).

A comparison passes when, over all tokens, the largest absolute difference
divided by the largest absolute reference logit is at most REL_TOL[dtype],
and every row's cosine similarity is at least MIN_COSINE[dtype]. The
reference for a bf16 artifact is computed in float32 from the same
bf16-rounded weights, so the bound covers bf16 activations and accumulation
order, not weight rounding. Exits 1 when any comparison fails.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys

# Relative to the largest reference logit. f32 differs from the reference
# only by summation order (typically ~1e-6); bf16 keeps activations in bf16
# between kernels (8 significant bits), typically ~1e-2 after a few layers.
REL_TOL = {"f32": 1e-3, "f16": 2e-2, "bf16": 5e-2}
MIN_COSINE = {"f32": 0.99999, "f16": 0.999, "bf16": 0.995}

failures = 0


def report(ok, label, detail):
    global failures
    if not ok:
        failures += 1
    print(f"{'PASS' if ok else 'FAIL'}: {label}: {detail}", flush=True)


def compare_rows(expected, actual, dtype):
    """(ok, detail) for two lists of equal-length rows of floats."""
    if len(expected) != len(actual):
        return False, f"{len(actual)} rows, expected {len(expected)}"
    for i, (e, a) in enumerate(zip(expected, actual)):
        if len(e) != len(a):
            return False, f"row {i} has {len(a)} values, expected {len(e)}"
        if not all(math.isfinite(v) for v in a):
            return False, f"row {i} has a NaN or infinity"
    if not expected:
        return False, "no rows"
    scale = max(abs(v) for row in expected for v in row) or 1.0
    worst = max(abs(x - y) for e, a in zip(expected, actual) for x, y in zip(e, a))
    cosines = []
    argmax_same = 0
    for e, a in zip(expected, actual):
        dot = sum(x * y for x, y in zip(e, a))
        norm = math.sqrt(sum(x * x for x in e)) * math.sqrt(sum(y * y for y in a))
        cosines.append(dot / norm if norm else 1.0)
        argmax_same += max(range(len(e)), key=e.__getitem__) == max(
            range(len(a)), key=a.__getitem__)
    rel = worst / scale
    ok = rel <= REL_TOL[dtype] and min(cosines) >= MIN_COSINE[dtype]
    detail = (f"{len(expected)} tokens, max-abs-diff {worst:.3e} "
              f"(rel {rel:.2e}, tol {REL_TOL[dtype]:.0e}), min cosine "
              f"{min(cosines):.6f} (min {MIN_COSINE[dtype]}), argmax agrees "
              f"on {argmax_same}/{len(expected)}")
    return ok, detail


def read_dump(path):
    with open(path) as f:
        return [[float(v) for v in line.split()] for line in f if line.strip()]


def run(command):
    """stdout of a command; on failure, prints its stderr and returns None."""
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        print(f"  command failed ({result.returncode}): {' '.join(command)}\n"
              f"  {result.stderr.strip()}", flush=True)
        return None
    return result.stdout


def llama_run_logits(llama_run, artifact, weights, tokens, mode):
    out = run([llama_run, "logits", "--artifact", artifact, "--weights",
               weights, "--tokens", ",".join(map(str, tokens)), "--mode",
               mode])
    if out is None:
        return None
    return [[float(v) for v in line.split()] for line in out.splitlines()
            if line.strip()]


def artifact_info(llama_run, artifact):
    out = run([llama_run, "info", "--artifact", artifact, "--json"])
    return json.loads(out) if out is not None else None


CONFIG_FIELDS = ("dim", "n_layers", "n_heads", "n_kv_heads", "ffn_dim",
                 "vocab_size", "max_seq_len", "rope_theta", "norm_eps",
                 "shared_classifier", "dtype")


def hf_state(info, seed, torch):
    """Random weights under HF names, as the dtype the file will hold.

    Matrices are uniform in +-1/sqrt(fan_in) so activations stay O(1) through
    the layers, and the RMSNorm gains are uniform in [0.5, 1.5] rather than 1,
    so that the gain folding into packed weights is really checked. q_proj
    and k_proj are random, so their row order is HF's by definition; the
    runtime converts it to the artifact's RoPE layout on load.
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    dim, ffn, vocab = info["dim"], info["ffn_dim"], info["vocab_size"]
    head = dim // info["n_heads"]
    kv = info["n_kv_heads"] * head

    def matrix(rows, cols):
        bound = 1.0 / math.sqrt(cols)
        return (torch.rand(rows, cols, generator=gen) * 2 - 1) * bound

    def gain():
        return torch.rand(dim, generator=gen) + 0.5

    state = {"model.embed_tokens.weight": torch.randn(vocab, dim, generator=gen)}
    for i in range(info["n_layers"]):
        p = f"model.layers.{i}."
        state[p + "input_layernorm.weight"] = gain()
        state[p + "self_attn.q_proj.weight"] = matrix(dim, dim)
        state[p + "self_attn.k_proj.weight"] = matrix(kv, dim)
        state[p + "self_attn.v_proj.weight"] = matrix(kv, dim)
        state[p + "self_attn.o_proj.weight"] = matrix(dim, dim)
        state[p + "post_attention_layernorm.weight"] = gain()
        state[p + "mlp.gate_proj.weight"] = matrix(ffn, dim)
        state[p + "mlp.up_proj.weight"] = matrix(ffn, dim)
        state[p + "mlp.down_proj.weight"] = matrix(dim, ffn)
    state["model.norm.weight"] = gain()
    if not info["shared_classifier"]:
        state["lm_head.weight"] = matrix(vocab, dim)
    stored = {"f32": torch.float32, "f16": torch.float16,
              "bf16": torch.bfloat16}[info["dtype"]]
    return {name: t.to(stored).contiguous() for name, t in state.items()}


def hf_logits(info, state, tokens, torch):
    """float32 logits of LlamaForCausalLM, [tokens][vocab], as lists."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=info["vocab_size"],
        hidden_size=info["dim"],
        intermediate_size=info["ffn_dim"],
        num_hidden_layers=info["n_layers"],
        num_attention_heads=info["n_heads"],
        num_key_value_heads=info["n_kv_heads"],
        head_dim=info["dim"] // info["n_heads"],
        hidden_act="silu",
        max_position_embeddings=info["max_seq_len"],
        rms_norm_eps=info["norm_eps"],
        rope_theta=info["rope_theta"],
        rope_scaling=None,
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=info["shared_classifier"],
    )
    config._attn_implementation = "eager"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    # Built on the device directly: initializing a 7B-shaped layer on the CPU
    # takes long, and every parameter is overwritten below anyway.
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model = model.to(torch.float32).eval()
    weights = {k: v.to(device=device, dtype=torch.float32) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    allowed_missing = {"lm_head.weight"} if info["shared_classifier"] else set()
    if set(missing) - allowed_missing or unexpected:
        raise RuntimeError(f"state mismatch: missing {missing}, unexpected "
                           f"{unexpected}")
    if info["shared_classifier"]:
        model.tie_weights()
    ids = torch.tensor([tokens], dtype=torch.long, device=device)
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0]
    return logits.float().cpu().tolist()


def hf_command(args):
    import torch
    from safetensors.torch import save_file

    infos = []
    for artifact in args.artifact:
        info = artifact_info(args.llama_run, artifact)
        if info is None:
            report(False, f"{args.name}: {artifact}", "llama-run info failed")
            return
        infos.append(info)
    info = infos[0]
    for artifact, other in zip(args.artifact[1:], infos[1:]):
        different = [f for f in CONFIG_FIELDS if other[f] != info[f]]
        if different:
            report(False, f"{args.name}: {artifact}",
                   f"config differs from {args.artifact[0]} in {different}")
            return
    print(f"{args.name}: dim {info['dim']}, {info['n_layers']} layers, "
          f"{info['n_heads']} heads / {info['n_kv_heads']} KV heads, ffn "
          f"{info['ffn_dim']}, vocab {info['vocab_size']}, {info['dtype']}, "
          f"rope {info['rope_style']}", flush=True)

    count = min(args.tokens, info["max_seq_len"])
    rng = random.Random(args.seed)
    tokens = [rng.randrange(info["vocab_size"]) for _ in range(count)]
    state = hf_state(info, args.seed, torch)
    os.makedirs(args.workdir, exist_ok=True)
    weights = os.path.join(args.workdir, args.name + ".safetensors")
    save_file(state, weights)
    reference = hf_logits(info, state, tokens, torch)
    del state

    for artifact, this in zip(args.artifact, infos):
        targets = sorted({b["target"] for b in this["binaries"]})
        label = f"{args.name} {os.path.basename(artifact)} ({'+'.join(targets)})"
        modes = ["decode"]
        if any(e["name"] == "prefill" and e["seq"] == -1 and
               e["max_seq"] >= count for e in this["entries"]):
            modes.append("prefill")
        for mode in modes:
            rows = llama_run_logits(args.llama_run, artifact, weights, tokens,
                                    mode)
            if rows is None:
                report(False, f"{label} {mode} vs transformers",
                       "llama-run failed")
                continue
            ok, detail = compare_rows(reference, rows, info["dtype"])
            report(ok, f"{label} {mode} vs transformers", detail)
    if not args.keep_weights:
        os.remove(weights)


def pretrained_command(args):
    import torch
    from transformers import LlamaForCausalLM

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    model = LlamaForCausalLM.from_pretrained(
        args.dir, torch_dtype=torch.float32, attn_implementation="eager")
    model = model.to(device).eval()
    config = model.config
    print(f"{args.dir}: from_pretrained: hidden {config.hidden_size}, "
          f"{config.num_hidden_layers} layers, {config.num_attention_heads} "
          f"heads / {config.num_key_value_heads} KV heads, tied "
          f"{config.tie_word_embeddings}", flush=True)
    rng = random.Random(args.seed)
    tokens = [rng.randrange(config.vocab_size) for _ in range(args.tokens)]
    ids = torch.tensor([tokens], dtype=torch.long, device=device)
    with torch.no_grad():
        reference = model(input_ids=ids, use_cache=False).logits[0]
    reference = reference.float().cpu().tolist()
    for artifact in args.artifact:
        info = artifact_info(args.llama_run, artifact)
        label = (f"{os.path.basename(args.dir)} from_pretrained vs "
                 f"{os.path.basename(artifact)}")
        if info is None:
            report(False, label, "llama-run info failed")
            continue
        rows = llama_run_logits(args.llama_run, artifact, args.dir, tokens,
                                "decode")
        if rows is None:
            report(False, label, "llama-run failed")
            continue
        ok, detail = compare_rows(reference, rows, info["dtype"])
        report(ok, f"{label} (rope {info['rope_style']})", detail)


def logits_command(args):
    ok, detail = compare_rows(read_dump(args.expected), read_dump(args.actual),
                              args.dtype)
    report(ok, args.label, detail)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    hf = commands.add_parser("hf", help="compare artifacts with transformers")
    hf.add_argument("--llama-run", required=True)
    hf.add_argument("--workdir", required=True,
                    help="where the safetensors file is written")
    hf.add_argument("--name", required=True, help="label and file name")
    hf.add_argument("--artifact", action="append", required=True)
    hf.add_argument("--tokens", type=int, default=24)
    hf.add_argument("--seed", type=int, default=1234)
    hf.add_argument("--keep-weights", action="store_true")
    hf.set_defaults(run=hf_command)
    pretrained = commands.add_parser(
        "pretrained", help="compare artifacts with from_pretrained(DIR)")
    pretrained.add_argument("--llama-run", required=True)
    pretrained.add_argument("--dir", required=True,
                            help="a model directory from llamac convert")
    pretrained.add_argument("--artifact", action="append", required=True)
    pretrained.add_argument("--tokens", type=int, default=24)
    pretrained.add_argument("--seed", type=int, default=1234)
    pretrained.set_defaults(run=pretrained_command)
    logits = commands.add_parser("logits", help="compare two logits dumps")
    logits.add_argument("expected")
    logits.add_argument("actual")
    logits.add_argument("--label", required=True)
    logits.add_argument("--dtype", choices=sorted(REL_TOL), required=True)
    logits.set_defaults(run=logits_command)
    args = parser.parse_args()
    try:
        args.run(args)
    except Exception as error:  # Any crash is a failure with its reason.
        report(False, getattr(args, "name", None) or
               getattr(args, "dir", None) or args.label,
               f"{type(error).__name__}: {error}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
