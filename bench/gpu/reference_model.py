"""Llama 2 written out in plain PyTorch, the GPU benchmarks' reference model.

build_model(torch, info) gives the model of a `llama-run info --json`
config: RMSNorm (in f32), RoPE on adjacent pairs (as Meta and llama2.c
rotate them), grouped-query attention through scaled_dot_product_attention,
SwiGLU. It serves two scripts:

  * train_reference.py: model(tokens, targets=targets) is the mean
    cross-entropy of a causal forward over whole sequences (without
    targets, the logits of every position);
  * compare.py's torch.compile rows: after model.setup_caches(length), a
    static KV cache of `length` positions in the model's dtype,
    model(tokens, positions) writes the tokens' keys and values at
    `positions` and returns the last token's logits. A call of several
    tokens (prefill, from position 0) attends causally among them; a call
    of one (decode) attends to the cache up to its position through a mask,
    so that every step has the same shapes, which CUDA graphs need (the
    recipe of PyTorch's gpt-fast).

`python3 reference_model.py` checks the cache on the CPU (self_check).
"""


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
            h = x.float()
            h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)
            return h.type_as(x) * self.weight

    def rope(x, cos, sin):
        # Adjacent pairs (2i, 2i + 1); cos and sin are f32, x keeps its type.
        x1, x2 = x[..., 0::2].float(), x[..., 1::2].float()
        rotated = torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1)
        return rotated.flatten(-2).type_as(x)

    version = tuple(int(p) for p in torch.__version__.split(".")[:2])

    def attention(q, k, v, causal, mask=None):
        if version >= (2, 5):  # scaled_dot_product_attention's enable_gqa
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=causal,
                enable_gqa=kv != heads)
        # Older torch (CPU smoke runs): the same product, spelled out.
        k = k.repeat_interleave(heads // kv, 1)
        v = v.repeat_interleave(heads // kv, 1)
        scores = q @ k.transpose(-1, -2) / head_dim ** 0.5
        if causal:
            s = q.shape[2]
            mask = torch.ones(s, s, dtype=torch.bool, device=q.device).tril()
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1) @ v

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
            # Buffers, so that torch.compile treats their updates as state.
            self.register_buffer("k_cache", None, persistent=False)
            self.register_buffer("v_cache", None, persistent=False)

        def forward(self, x, cos, sin, positions=None, mask=None):
            b, s, _ = x.shape
            h = self.attention_norm(x)
            q = self.wq(h).view(b, s, heads, head_dim)
            k = self.wk(h).view(b, s, kv, head_dim)
            v = self.wv(h).view(b, s, kv, head_dim)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            q, k, v = (t.transpose(1, 2) for t in (q, k, v))
            if positions is not None:
                self.k_cache[:, :, positions] = k
                self.v_cache[:, :, positions] = v
                if s == 1:  # decode: the cache up to the position
                    k, v = self.k_cache, self.v_cache
            o = attention(q, k, v, causal=mask is None, mask=mask)
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
            freq = 1.0 / info["rope_theta"] ** (
                torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
            angle = torch.outer(
                torch.arange(info["max_seq_len"], dtype=torch.float32), freq)
            self.register_buffer("cos", angle.cos()[:, None, :], persistent=False)
            self.register_buffer("sin", angle.sin()[:, None, :], persistent=False)
            self.causal = None

        def setup_caches(self, length):
            """A static KV cache of `length` positions in each layer."""
            if length > info["max_seq_len"]:
                raise ValueError(f"a cache of {length} positions exceeds "
                                 f"max_seq_len {info['max_seq_len']}")
            weight = self.output.weight
            shape = (1, kv, length, head_dim)
            for layer in self.layers:
                layer.k_cache = torch.zeros(shape, dtype=weight.dtype,
                                            device=weight.device)
                layer.v_cache = torch.zeros_like(layer.k_cache)
            self.causal = torch.ones(length, length, dtype=torch.bool,
                                     device=weight.device).tril()

        def forward(self, tokens, positions=None, targets=None):
            s = tokens.shape[1]
            x = self.tok_embeddings(tokens)
            if positions is None:
                cos, sin, mask = self.cos[:s], self.sin[:s], None
            else:
                cos, sin = self.cos[positions], self.sin[positions]
                mask = self.causal[positions][None, None] if s == 1 else None
            for layer in self.layers:
                x = layer(x, cos, sin, positions, mask)
            if positions is not None:
                return self.output(self.norm(x[:, -1]))
            logits = self.output(self.norm(x))
            if targets is None:
                return logits
            logits = logits.float()
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                   targets.reshape(-1))

    return Llama()


def self_check():
    """Decode through the static cache must give the logits of a full
    causal forward at every position, after a prefill and from scratch; a
    cache written at the wrong positions must not. Runs on the CPU."""
    import torch
    info = dict(dim=64, n_heads=8, n_kv_heads=2, ffn_dim=128, n_layers=2,
                vocab_size=100, norm_eps=1e-5, rope_theta=10000.0,
                max_seq_len=64)
    torch.manual_seed(0)
    model = build_model(torch, info).eval()
    tokens = torch.randint(0, info["vocab_size"], (1, 20))

    def worst(prefill, shift=0):
        model.setup_caches(32)
        diffs = []
        if prefill:
            last = model(tokens[:, :prefill], torch.arange(prefill))
            diffs.append(float((last - full[:, prefill - 1]).abs().max()))
        for p in range(prefill, tokens.shape[1]):
            out = model(tokens[:, p:p + 1], torch.arange(p, p + 1) + shift)
            diffs.append(float((out - full[:, p]).abs().max()))
        return max(diffs)

    with torch.no_grad():
        full = model(tokens)
        scale = float(full.abs().max())
        results = {"prefill 12 then decode": worst(12),
                   "decode from position 0": worst(0)}
        shifted = worst(0, shift=1)
    failed = False
    for what, diff in results.items():
        ok = diff <= 1e-5 * scale
        failed |= not ok
        print(f"{what}: max |diff| {diff:.3g} ({'ok' if ok else 'FAIL'})")
    ok = shifted > 1e-2 * scale
    failed |= not ok
    print(f"positions shifted by one: max |diff| {shifted:.3g} "
          f"({'ok, differs' if ok else 'FAIL: the check cannot fail'})")
    print("reference_model self-check: " + ("FAIL" if failed else "PASS"))
    return 1 if failed else 0


if __name__ == "__main__":
    import sys
    sys.exit(self_check())
