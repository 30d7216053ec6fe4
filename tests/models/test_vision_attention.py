"""Vision attention in query blocks equals dense attention within segments (NumPy float64), and
so do its gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from models.qwen3_vl.attention import segment_attention


def dense_reference(q, k, v, segment):
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1])
    scores = np.where(segment[None, :, None] == segment[None, None, :], scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.einsum("hqk,khd->qhd", weights, v)


def inputs(n=45, heads=3, dim=8):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((n, heads, dim)).astype(np.float32) for _ in range(3))
    segment = np.repeat(np.arange(4), [7, 20, 2, n - 29])  # uneven images, one split by blocks
    return q, k, v, segment


def test_blocks_equal_dense_attention_within_segments():
    q, k, v, segment = inputs()
    expected = dense_reference(q, k, v, segment)
    for block in (8, 16, 45, 512):  # 45 patches: several blocks, a padded last one, one block
        got = jax.jit(segment_attention, static_argnums=4)(q, k, v, segment, block)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_blocks_give_the_dense_gradients():
    q, k, v, segment = inputs()
    weight = np.random.default_rng(1).standard_normal(q.shape).astype(np.float32)

    def grads(block):
        loss = lambda q, k, v: (segment_attention(q, k, v, segment, block) * weight).sum()
        return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)

    for got, expected in zip(grads(8), grads(512)):
        assert float(jnp.abs(expected).max()) > 0.1
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
