"""Qwen3-VL text decoder: Qwen3 layers (RMSNorm, q/k norms over head_dim before MRoPE, grouped
query attention, SwiGLU, no biases) plus DeepStack, which adds visual features from intermediate
vision blocks to the image-token positions after the first decoder layers.

Attention optionally reads and writes a per-layer key/value cache [B, kv_heads, max_len,
head_dim]: the new keys are written at `index`, and queries attend to the first
`mask.shape[-1]` cache slots (the prompt during prefill, the whole cache during decoding). Heads
come before slots so that each head's keys are contiguous: in the other order XLA copied the
whole cache into that layout at every decoding step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from models.qwen3_vl.config import TextConfig
from models.qwen3_vl.layers import Dense, Embed, RMSNorm
from models.qwen3_vl.rope import apply_rope


class TextAttention(nnx.Module):
    def __init__(self, cfg: TextConfig, **kw):
        norm_kw = dict(dtype=kw["dtype"], param_dtype=kw["param_dtype"], eps=cfg.rms_norm_eps)
        self.num_heads, self.num_kv_heads, self.head_dim = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim,
        )
        q_size, kv_size = (
            cfg.num_attention_heads * cfg.head_dim,
            cfg.num_key_value_heads * cfg.head_dim,
        )
        self.q_proj = Dense(cfg.hidden_size, q_size, ("embed", "heads"), bias=False, **kw)
        self.k_proj = Dense(cfg.hidden_size, kv_size, ("embed", "kv_heads"), bias=False, **kw)
        self.v_proj = Dense(cfg.hidden_size, kv_size, ("embed", "kv_heads"), bias=False, **kw)
        self.o_proj = Dense(q_size, cfg.hidden_size, ("heads", "embed"), bias=False, **kw)
        self.q_norm = RMSNorm(cfg.head_dim, "head_dim", **norm_kw)
        self.k_norm = RMSNorm(cfg.head_dim, "head_dim", **norm_kw)

    def __call__(self, x, cos, sin, mask, cache=None, index=None):
        b, length, _ = x.shape
        q = self.q_norm(self.q_proj(x).reshape(b, length, self.num_heads, self.head_dim))
        k = self.k_norm(self.k_proj(x).reshape(b, length, self.num_kv_heads, self.head_dim))
        v = self.v_proj(x).reshape(b, length, self.num_kv_heads, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            keys, values = cache
            keys = jax.lax.dynamic_update_slice(keys, _heads_first(k, keys.dtype), (0, 0, index, 0))
            values = jax.lax.dynamic_update_slice(
                values, _heads_first(v, values.dtype), (0, 0, index, 0)
            )
            cache = (keys, values)
            width = mask.shape[-1]
            if length == 1:  # decoding: attend to the cache where it lies
                out = _decode_attention(q, keys[:, :, :width], values[:, :, :width], mask)
                return self.o_proj(out), cache
            # Prefill: back to [B, slots, kv_heads, head_dim], which XLA folds into the dot.
            k = keys[:, :, :width].transpose(0, 2, 1, 3).astype(q.dtype)
            v = values[:, :, :width].transpose(0, 2, 1, 3).astype(q.dtype)
        out = jax.nn.dot_product_attention(q, k, v, mask=mask)
        return self.o_proj(out.reshape(b, length, -1)), cache


def _decode_attention(q, keys, values, mask):
    """One query per row [B, 1, heads, head_dim] over the cache [B, kv_heads, slots, head_dim]
    -> [B, 1, heads * head_dim]. The cache is read in its own layout: through
    `jax.nn.dot_product_attention` XLA:CPU first copied every slot into a [B, slots, ...]
    layout and then ran one tiny matmul per (row, head), which took most of each step. Logits
    and softmax in float32, masked with the same large negative number as that function."""
    b, _, heads, dim = q.shape
    kv = keys.shape[1]
    grouped = q.reshape(b, kv, heads // kv, dim).astype(jnp.float32)
    logits = jnp.einsum("bkgd,bksd->bkgs", grouped, keys.astype(jnp.float32)) * dim**-0.5
    logits = jnp.where(mask, logits, -0.7 * jnp.finfo(jnp.float32).max)  # mask [B, 1, 1, slots]
    probs = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bkgs,bksd->bkgd", probs, values.astype(jnp.float32))
    return out.reshape(b, 1, heads * dim).astype(q.dtype)


def _heads_first(x, dtype):
    """[B, L, kv_heads, head_dim] -> the cache's [B, kv_heads, L, head_dim]."""
    return x.transpose(0, 2, 1, 3).astype(dtype)


class TextMLP(nnx.Module):
    def __init__(self, cfg: TextConfig, **kw):
        self.gate_proj = Dense(
            cfg.hidden_size, cfg.intermediate_size, ("embed", "mlp"), bias=False, **kw
        )
        self.up_proj = Dense(
            cfg.hidden_size, cfg.intermediate_size, ("embed", "mlp"), bias=False, **kw
        )
        self.down_proj = Dense(
            cfg.intermediate_size, cfg.hidden_size, ("mlp", "embed"), bias=False, **kw
        )

    def __call__(self, x):
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nnx.Module):
    def __init__(self, cfg: TextConfig, **kw):
        norm_kw = dict(dtype=kw["dtype"], param_dtype=kw["param_dtype"], eps=cfg.rms_norm_eps)
        self.input_layernorm = RMSNorm(cfg.hidden_size, "norm", **norm_kw)
        self.self_attn = TextAttention(cfg, **kw)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, "norm", **norm_kw)
        self.mlp = TextMLP(cfg, **kw)

    def __call__(self, x, cos, sin, mask, cache=None, index=None):
        attn, cache = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, index)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), cache


class TextDecoder(nnx.Module):
    def __init__(self, cfg: TextConfig, *, rngs, dtype, param_dtype, remat=False):
        kw = dict(rngs=rngs, dtype=dtype, param_dtype=param_dtype)
        self.remat = remat
        self.embed_tokens = Embed(cfg.vocab_size, cfg.hidden_size, ("vocab", "embed"), **kw)
        self.layers = nnx.List([DecoderLayer(cfg, **kw) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(
            cfg.hidden_size, "norm", dtype=dtype, param_dtype=param_dtype, eps=cfg.rms_norm_eps
        )

    def __call__(self, x, cos, sin, mask, deepstack=(), caches=None, index=None):
        """x [B, L, hidden] embeddings -> (final normed hidden states, updated caches).

        `deepstack` holds one [B, L, hidden] tensor per early layer (zero away from image tokens);
        `caches` is a tuple of per-layer (keys, values) or None."""
        run_layer = nnx.remat(_run_layer) if self.remat else _run_layer
        new_caches = []
        for i, layer in enumerate(self.layers):
            x, cache = run_layer(
                layer, x, cos, sin, mask, None if caches is None else caches[i], index
            )
            new_caches.append(cache)
            if i < len(deepstack):
                x = x + deepstack[i].astype(x.dtype)
        return self.norm(x), (None if caches is None else tuple(new_caches))


def _run_layer(layer, x, cos, sin, mask, cache, index):
    return layer(x, cos, sin, mask, cache, index)
