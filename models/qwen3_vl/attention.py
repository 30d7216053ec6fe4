"""Attention kernels of the port, written for what XLA makes of them: float32 logits and
softmax, probabilities cast to the values' dtype, masked with `jax.nn.dot_product_attention`'s
value, so that they agree with that function and with transformers."""

from __future__ import annotations

import jax
import jax.numpy as jnp

MASKED = -0.7 * float(jnp.finfo(jnp.float32).max)


def causal_attention(q, k, v, mask, block: int):
    """Grouped-query causal attention of a whole sequence: q [B, L, heads, head_dim] over k, v
    [B, kv_heads, L, head_dim], mask [B, 1, L, L] (causal and padding) -> [B, L, heads,
    head_dim].

    Queries go in blocks of `block`, and each block reads only the keys up to its last query,
    which skips most of the masked upper triangle. Each KV head's group of query heads is
    stacked into the block's rows, so K and V are never repeated and the probabilities never
    transposed: through `jax.nn.dot_product_attention`, XLA:CPU copied every layer's [group,
    kv_heads, L, L] probabilities into another layout, forward and backward. Numerics as that
    function: float32 logits and softmax, the probabilities cast to the values' dtype, the same
    mask value. A row that is all padding attends evenly to the keys of its block rather than to
    all keys; no real position reads it."""
    b, length, heads, dim = q.shape
    kv = k.shape[1]
    group = heads // kv
    grouped = q.reshape(b, length, kv, group, dim).transpose(0, 2, 3, 1, 4)
    outs = []
    for start in range(0, length, block):
        end = min(length, start + block)
        rows = grouped[:, :, :, start:end].reshape(b, kv, group * (end - start), dim)
        logits = jnp.einsum(
            "bktd,bksd->bkts", rows, k[:, :, :end], preferred_element_type=jnp.float32
        )
        allowed = jnp.tile(mask[:, :, start:end, :end], (1, 1, group, 1))
        logits = jnp.where(allowed, logits * dim**-0.5, MASKED)
        probs = jax.nn.softmax(logits, axis=-1).astype(v.dtype)
        out = jnp.einsum("bkts,bksd->bktd", probs, v[:, :, :end])
        outs.append(out.reshape(b, kv, group, end - start, dim))
    return jnp.concatenate(outs, axis=3).transpose(0, 3, 1, 2, 4).reshape(b, length, heads, dim)


def segment_attention(q, k, v, segment, block: int):
    """Softmax attention of q, k, v [patches, heads, head_dim] within equal `segment` ids.

    Up to `block` patches attend in one call. Beyond, query blocks run in a loop whose body is
    rematerialised, so neither the forward nor the backward holds more than one block's scores.
    Keys and values are laid out heads-first once for all blocks: through
    `jax.nn.dot_product_attention`, each block copied every key into that layout again."""
    n, _, dim = q.shape
    keys, values = k.transpose(1, 0, 2), v.transpose(1, 0, 2)

    def attend(q_block, q_segment):
        logits = jnp.einsum("qhd,hkd->hqk", q_block, keys, preferred_element_type=jnp.float32)
        allowed = q_segment[:, None] == segment[None, :]
        probs = jax.nn.softmax(jnp.where(allowed, logits * dim**-0.5, MASKED), axis=-1)
        return jnp.einsum("hqk,hkd->qhd", probs.astype(values.dtype), values)

    if n <= block:
        return attend(q, segment)
    pad = -n % block
    q_blocks = jnp.pad(q, ((0, pad), (0, 0), (0, 0))).reshape(-1, block, *q.shape[1:])
    s_blocks = jnp.pad(segment, (0, pad), mode="edge").reshape(-1, block)  # pad rows are dropped
    out = jax.lax.map(
        lambda args: jax.checkpoint(attend, prevent_cse=False)(*args), (q_blocks, s_blocks)
    )
    return out.reshape(-1, *q.shape[1:])[:n]
