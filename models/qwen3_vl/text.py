"""Qwen3-VL text decoder: Qwen3 layers (RMSNorm, q/k norms over head_dim before MRoPE, grouped
query attention, SwiGLU, no biases) plus DeepStack, which adds visual features from intermediate
vision blocks to the image-token positions after the first decoder layers.

Attention over a whole sequence runs in causal query blocks (`causal_attention`). The layers
are stacked and run under `nnx.scan`. Attention optionally reads and writes a key/value cache:
during the prompt, the cache of all layers [layers, B, kv_heads, max_len, head_dim], carried
through the scan, each layer writing its new keys in place at (its layer, `index`); during
decoding, each layer's own [B, kv_heads, max_len, head_dim] arrays, with the layers unrolled
over parameters sliced once before the decode loop (`TextDecoder.decode`), since XLA:CPU copies
a scanned layer's weights and cache slice at every step. Queries attend to the first
`mask.shape[-1]` slots. Heads come before slots so that each head's keys are contiguous: in the
other order XLA copied the whole cache into that layout at every decoding step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from models.qwen3_vl.attention import MASKED, causal_attention
from models.qwen3_vl.config import TextConfig
from models.qwen3_vl.layers import Dense, Embed, RMSNorm, scan_layers, stacked
from models.qwen3_vl.rope import apply_rope
from models.sharding import constrain

HIDDEN = ("batch", None, None)  # hidden states: rows over the batch axes, the rest whole
# `causal_attention` splits a sequence into this many query blocks (read when a function is
# traced). Each block adds its own compiled kernels, and XLA:CPU maps each kernel's code
# separately: with blocks of 128 the warm start, which compiles a train step per length group,
# ran past the kernel's limit of 65,530 memory maps and crashed. Two halves skip a quarter of
# the masked triangle and add about 12% to a program's maps.
QUERY_BLOCKS = 2


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

    def __call__(self, x, cos, sin, mask, cache=None, slot=None):
        """`cache`: (keys, values) of all layers, with `slot` = (this layer, first cache slot to
        write); or this layer's own (keys, values), with `slot` = (first slot,)."""
        b, length, _ = x.shape
        q = self.q_norm(self.q_proj(x).reshape(b, length, self.num_heads, self.head_dim))
        k = self.k_norm(self.k_proj(x).reshape(b, length, self.num_kv_heads, self.head_dim))
        v = self.v_proj(x).reshape(b, length, self.num_kv_heads, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if cache is not None:
            *layer, index = slot  # layer: (i,) in the stack of all layers, () for a layer's own
            lead = (None,) * len(layer)
            cache = tuple(
                jax.lax.dynamic_update_slice(
                    stack, _heads_first(new, stack.dtype)[lead], (*layer, 0, 0, index, 0)
                )
                for stack, new in zip(cache, (k, v))
            )
            width = mask.shape[-1]
            keys, values = (
                (jax.lax.dynamic_index_in_dim(stack, layer[0], keepdims=False) if layer else stack)
                for stack in cache
            )
            keys, values = keys[:, :, :width], values[:, :, :width]
            if length == 1:  # decoding: attend to the cache where it lies
                return self.o_proj(_decode_attention(q, keys, values, mask)), cache
            k, v = keys.astype(q.dtype), values.astype(q.dtype)  # the prompt, from slot 0
        else:
            k, v = _heads_first(k, q.dtype), _heads_first(v, q.dtype)
        out = causal_attention(q, k, v, mask, -(-length // QUERY_BLOCKS))
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
    logits = jnp.where(mask, logits, MASKED)  # mask [B, 1, 1, slots]
    probs = jax.nn.softmax(logits, axis=-1)
    out = jnp.einsum("bkgs,bksd->bkgd", probs, values.astype(jnp.float32))
    return out.reshape(b, 1, heads * dim).astype(q.dtype)


def _heads_first(x, dtype):
    """[B, L, kv_heads, head_dim] -> [B, kv_heads, L, head_dim]: the cache's layout, and the
    one `causal_attention` reads."""
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

    def __call__(self, x, cos, sin, mask, cache=None, slot=None):
        attn, cache = self.self_attn(self.input_layernorm(x), cos, sin, mask, cache, slot)
        x = x + attn
        return x + self.mlp(self.post_attention_layernorm(x)), cache


class TextDecoder(nnx.Module):
    def __init__(self, cfg: TextConfig, *, rngs, dtype, param_dtype, remat=False):
        kw = dict(dtype=dtype, param_dtype=param_dtype)
        self.remat, self.num_layers = remat, cfg.num_hidden_layers
        self.embed_tokens = Embed(
            cfg.vocab_size, cfg.hidden_size, ("vocab", "embed"), rngs=rngs, **kw
        )
        self.layers = stacked(
            lambda rngs: DecoderLayer(cfg, rngs=rngs, **kw), cfg.num_hidden_layers, rngs
        )
        self.norm = RMSNorm(cfg.hidden_size, "norm", eps=cfg.rms_norm_eps, **kw)

    def __call__(self, x, cos, sin, mask, deepstack=(), cache=None, index=None):
        """x [B, L, hidden] embeddings -> (final normed hidden states, updated cache).

        `deepstack` holds one [B, L, hidden] tensor per early layer (zero away from image tokens);
        `cache` is None or (keys, values) of all layers, written from slot `index` on."""
        n = len(deepstack)
        # Layer i adds row min(i, n): its DeepStack feature for the first n layers, zeros after.
        extra = jnp.stack([*deepstack, jnp.zeros_like(x)]).astype(x.dtype) if n else None

        def step(carry, layer, i, shared):
            x, cache = carry
            cos, sin, mask, extra, index = shared
            x, cache = layer(x, cos, sin, mask, cache, (i, index))
            if extra is not None:
                x = x + extra[jnp.minimum(i, n)]
            return constrain(x, HIDDEN), cache

        run = scan_layers(
            step, remat=self.remat, in_axes=(nnx.Carry, 0, 0, None), out_axes=nnx.Carry
        )
        layers = jnp.arange(self.num_layers)
        x = constrain(x, HIDDEN)
        x, cache = run((x, cache), self.layers, layers, (cos, sin, mask, extra, index))
        return self.norm(x), cache

    def decode(self, layers, x, cos, sin, mask, cache, index):
        """One step of decoding over separate layer modules (`Qwen3VL.decoder_layers`) and
        per-layer caches: unrolled, so that each layer reads its own weights and cache in place.
        `cache` is (keys, values), each a tuple over layers."""
        keys, values = [], []
        for layer, k, v in zip(layers, *cache, strict=True):
            x, (k, v) = layer(x, cos, sin, mask, (k, v), (index,))
            x = constrain(x, HIDDEN)
            keys.append(k)
            values.append(v)
        return self.norm(x), (tuple(keys), tuple(values))
