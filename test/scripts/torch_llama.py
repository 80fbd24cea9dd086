"""A small PyTorch reference of llamac's Llama 2 forward pass and loss.

It follows the arithmetic of the llama IR (frontend/ModelBuilder.cpp) and of
the CPU kernels (codegen/cpu/), so that it can check their results:

* weights are Meta-named tensors, matrices stored [out, in]: y = x @ W.T;
* RMSNorm: x * rsqrt(mean(x^2) + eps) * gain;
* RoPE on adjacent pairs (Meta, llama2.c): elements (2i, 2i + 1) of a head
  are rotated by pos * theta^(-2i / head_dim), at positions 0 .. S-1;
* causal attention scaled by 1 / sqrt(head_dim); query head h reads KV head
  h // (n_heads // n_kv_heads) (grouped-query attention);
* SwiGLU feed-forward: w2(silu(w1 x) * w3 x), residual adds around both;
* the classifier is output.weight, or tok_embeddings.weight when the config
  shares it (llama2.c's stories models);
* loss: cross entropy of each token's logits against its target, averaged
  with the loss weights: sum_i w_i CE_i / sum_i w_i (0 when all are 0).

Everything is functional over a dict of tensors, so the same code serves
autograd checks (leaf tensors with requires_grad) and training (an
optimizer over the dict's values). The dtype is the weights' dtype: float32
as the kernels, or float64 for a reference with no rounding of its own.
"""
import dataclasses
import json
import struct

import numpy as np
import torch
import torch.nn.functional as F


@dataclasses.dataclass
class Config:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn_dim: int
    vocab_size: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    shared_classifier: bool = False

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    @property
    def kv_dim(self):
        return self.n_kv_heads * self.head_dim


def weight_shapes(config):
    """The Meta name and shape of every weight, in llamac's binding order."""
    c = config
    shapes = {"tok_embeddings.weight": (c.vocab_size, c.dim)}
    for layer in range(c.n_layers):
        p = f"layers.{layer}."
        shapes.update({
            p + "attention_norm.weight": (c.dim,),
            p + "attention.wq.weight": (c.dim, c.dim),
            p + "attention.wk.weight": (c.kv_dim, c.dim),
            p + "attention.wv.weight": (c.kv_dim, c.dim),
            p + "attention.wo.weight": (c.dim, c.dim),
            p + "ffn_norm.weight": (c.dim,),
            p + "feed_forward.w1.weight": (c.ffn_dim, c.dim),
            p + "feed_forward.w2.weight": (c.dim, c.ffn_dim),
            p + "feed_forward.w3.weight": (c.ffn_dim, c.dim),
        })
    shapes["norm.weight"] = (c.dim,)
    if not c.shared_classifier:
        shapes["output.weight"] = (c.vocab_size, c.dim)
    return shapes


def random_weights(config, seed, scale=0.05):
    """Seeded f32 numpy weights: gains near 1, matrices ~ N(0, scale^2)."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in weight_shapes(config).items():
        if len(shape) == 1:
            w = 1.0 + 0.1 * rng.standard_normal(shape)
        else:
            w = scale * rng.standard_normal(shape)
        weights[name] = w.astype(np.float32)
    return weights


def rmsnorm(x, gain, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * gain


def rope(x, n_heads, theta):
    """Rotates adjacent pairs of every head of x [B, S, n_heads * D]."""
    b, s, features = x.shape
    d = features // n_heads
    i = torch.arange(d // 2, dtype=x.dtype)
    freq = theta ** (-2.0 * i / d)
    angle = torch.arange(s, dtype=x.dtype)[:, None] * freq[None, :]  # [S, D/2]
    cos, sin = torch.cos(angle)[:, None, :], torch.sin(angle)[:, None, :]
    pairs = x.view(b, s, n_heads, d // 2, 2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    rotated = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return rotated.reshape(b, s, features)


def attention(q, k, v, n_heads, n_kv_heads):
    """Causal attention; q [B, S, H*D], k and v [B, S, KVH*D]."""
    b, s, features = q.shape
    d = features // n_heads
    q = q.view(b, s, n_heads, d).transpose(1, 2)  # [B, H, S, D]
    k = k.view(b, s, n_kv_heads, d).transpose(1, 2)
    v = v.view(b, s, n_kv_heads, d).transpose(1, 2)
    # repeat_interleave maps query head h to KV head h // group.
    group = n_heads // n_kv_heads
    k = k.repeat_interleave(group, dim=1)
    v = v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2) / (d ** 0.5)
    causal = torch.ones(s, s, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    return out.transpose(1, 2).reshape(b, s, features)


def forward(w, config, tokens):
    """The logits [B, S, vocab] of tokens [B, S] (int64)."""
    c = config
    x = F.embedding(tokens, w["tok_embeddings.weight"])
    for layer in range(c.n_layers):
        p = f"layers.{layer}."
        xn = rmsnorm(x, w[p + "attention_norm.weight"], c.norm_eps)
        q = rope(xn @ w[p + "attention.wq.weight"].T, c.n_heads, c.rope_theta)
        k = rope(xn @ w[p + "attention.wk.weight"].T, c.n_kv_heads,
                 c.rope_theta)
        v = xn @ w[p + "attention.wv.weight"].T
        att = attention(q, k, v, c.n_heads, c.n_kv_heads)
        x = x + att @ w[p + "attention.wo.weight"].T
        hn = rmsnorm(x, w[p + "ffn_norm.weight"], c.norm_eps)
        gate = F.silu(hn @ w[p + "feed_forward.w1.weight"].T)
        up = hn @ w[p + "feed_forward.w3.weight"].T
        x = x + (gate * up) @ w[p + "feed_forward.w2.weight"].T
    xn = rmsnorm(x, w["norm.weight"], c.norm_eps)
    classifier = w["tok_embeddings.weight" if c.shared_classifier
                   else "output.weight"]
    return xn @ classifier.T


def loss(w, config, tokens, targets, loss_weights):
    """The loss-weighted mean cross entropy, a scalar."""
    logits = forward(w, config, tokens)
    ce = F.cross_entropy(logits.reshape(-1, config.vocab_size),
                         targets.reshape(-1), reduction="none")
    lw = loss_weights.reshape(-1).to(ce.dtype)
    total = lw.sum()
    if total == 0:
        return (ce * 0).sum()
    return (ce * lw).sum() / total


def read_llama2c_config(path):
    """The config in a llama2.c checkpoint's header (7 int32s); a negative
    vocabulary size means a separate classifier, as run.c reads it."""
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, _ = struct.unpack(
            "<7i", f.read(28))
    return Config(dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv_heads,
                  ffn_dim=hidden, vocab_size=abs(vocab),
                  shared_classifier=vocab > 0)


def write_safetensors(path, tensors):
    """Writes f32 numpy arrays as safetensors: an 8-byte little-endian
    header length, the JSON header, then the raw bytes in header order."""
    header, offset, blobs = {}, 0, []
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    """Reads an F32 safetensors file into a dict of numpy arrays."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}, not F32")
        begin, end = info["data_offsets"]
        tensors[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(
            info["shape"])
    return tensors
