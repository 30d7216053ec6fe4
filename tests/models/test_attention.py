"""The attention kernels in query blocks equal dense attention in NumPy float64, and so do their
gradients: the vision tower's within segments, the text decoder's causal grouped-query one at
every real position. The port run in small text blocks still equals transformers."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from models.qwen3_vl import text
from models.qwen3_vl.attention import causal_attention, segment_attention
from tests.models.conftest import logits_of, make_batch
from tests.models.test_parity import CASES, hf_forward


def softmax_rows(scores):
    """Rows of -inf (all masked) come out NaN; the tests never compare them."""
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        return weights / weights.sum(-1, keepdims=True)


def assert_block_gradients_match(attend, q, k, v, weight, small: int, large: int):
    """Gradients of sum(attend(q, k, v, block) * weight) in blocks of `small` equal those in
    one block of `large`."""

    def grads(block):
        loss = lambda q, k, v: (attend(q, k, v, block) * weight).sum()
        return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(q, k, v)

    for got, expected in zip(grads(small), grads(large)):
        assert float(np.abs(expected).max()) > 0.1
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


# -- vision: within segments ------------------------------------------------------------------


def segment_reference(q, k, v, segment):
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1])
    scores = np.where(segment[None, :, None] == segment[None, None, :], scores, -np.inf)
    return np.einsum("hqk,khd->qhd", softmax_rows(scores), v)


def segment_inputs(n=45, heads=3, dim=8):
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((n, heads, dim)).astype(np.float32) for _ in range(3))
    segment = np.repeat(np.arange(4), [7, 20, 2, n - 29])  # uneven images, one split by blocks
    return q, k, v, segment


def test_blocks_equal_dense_attention_within_segments():
    q, k, v, segment = segment_inputs()
    expected = segment_reference(q, k, v, segment)
    for block in (8, 16, 45, 512):  # 45 patches: several blocks, a padded last one, one block
        got = jax.jit(segment_attention, static_argnums=4)(q, k, v, segment, block)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)


def test_segment_blocks_give_the_dense_gradients():
    q, k, v, segment = segment_inputs()
    weight = np.random.default_rng(1).standard_normal(q.shape).astype(np.float32)
    attend = lambda q, k, v, block: segment_attention(q, k, v, segment, block)
    assert_block_gradients_match(attend, q, k, v, weight, small=8, large=512)


# -- text: causal, grouped query heads --------------------------------------------------------


def causal_reference(q, k, v, mask):
    """q [B, L, heads, dim], k, v [B, kv_heads, L, dim], mask [B, 1, L, L]."""
    q, k, v = (np.asarray(x, np.float64) for x in (q, k, v))
    k, v = (np.repeat(x, q.shape[2] // x.shape[1], axis=1) for x in (k, v))
    scores = np.einsum("bthd,bhsd->bhts", q, k) / np.sqrt(q.shape[-1])
    return np.einsum("bhts,bhsd->bthd", softmax_rows(np.where(mask, scores, -np.inf)), v)


def causal_inputs(length=21, heads=6, kv_heads=2, dim=8):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((2, length, heads, dim)).astype(np.float32)
    k, v = (rng.standard_normal((2, kv_heads, length, dim)).astype(np.float32) for _ in range(2))
    real = np.ones((2, length), bool)
    real[1, :5] = False  # the second row is left-padded
    mask = np.tril(np.ones((length, length), bool))[None, None] & real[:, None, None, :]
    return q, k, v, mask, real


def test_causal_blocks_equal_dense_attention_at_real_positions():
    q, k, v, mask, real = causal_inputs()
    expected = causal_reference(q, k, v, mask)
    for block in (4, 8, 21, 128):  # several blocks with a short last one, one block
        got = np.asarray(jax.jit(causal_attention, static_argnums=4)(q, k, v, mask, block))
        np.testing.assert_allclose(got[real], expected[real], atol=1e-5, rtol=0)


def test_causal_blocks_give_the_dense_gradients():
    q, k, v, mask, real = causal_inputs()
    weight = np.random.default_rng(1).standard_normal(q.shape) * real[:, :, None, None]
    attend = lambda q, k, v, block: causal_attention(q, k, v, mask, block)
    assert_block_gradients_match(attend, q, k, v, weight, small=4, large=128)


@pytest.mark.parametrize(
    "case", ["left_padded_batch", "two_images_different_grids_one_with_two_frames"]
)
def test_the_port_in_small_blocks_matches_transformers(case, hf_model, port, monkeypatch):
    monkeypatch.setattr(text, "QUERY_BLOCKS", 5)  # read when traced: blocks of 2-4 tokens
    ids, mask, pixels, grid = make_batch(*CASES[case])
    expected = hf_forward(hf_model, ids, mask, pixels, grid)
    got = np.asarray(logits_of(port, ids, mask, pixels, grid))
    real = mask.astype(bool)
    np.testing.assert_allclose(got[real], expected[real], atol=1e-4, rtol=0)
