"""The KV-cache path (prefill, then one token at a time) gives the logits of the full forward."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.models.conftest import logits_of, make_batch, text

TOL = 1e-4
STEPS = 8


@nnx.jit(static_argnames="max_len")
def prefill(model, ids, mask, pixels, grid, max_len):
    return model.prefill(ids, mask, pixels, grid, max_len=max_len)


@nnx.jit
def decode(model, tokens, cache):
    return model.decode(tokens, cache)


@pytest.mark.slow
def test_prefill_then_decode_matches_full_forward(port):
    ids, mask, pixels, grid = make_batch(
        [[*text(4), "img", *text(3, 1)], [*text(2, 2), "img", *text(2, 3)]], [(1, 4, 6), (1, 2, 4)]
    )
    new_tokens = np.random.default_rng(0).integers(0, 3900, (ids.shape[0], STEPS))
    full_ids = np.concatenate([ids, new_tokens], axis=1)
    full_mask = np.concatenate([mask, np.ones_like(new_tokens)], axis=1)
    expected = np.asarray(logits_of(port, full_ids, full_mask, pixels, grid))

    logits, cache = prefill(port, ids, mask, pixels, grid, max_len=ids.shape[1] + STEPS)
    real = mask.astype(bool)
    np.testing.assert_allclose(
        np.asarray(logits)[real], expected[:, : ids.shape[1]][real], atol=TOL, rtol=0
    )

    # The sampler's pattern: split once, merge inside a jitted loop that carries the cache.
    graphdef, state = nnx.split(port)

    @jax.jit
    def decode_all(state, cache, tokens):
        def step(cache, token):
            logits, cache = nnx.merge(graphdef, state).decode(token, cache)
            return cache, logits

        return jax.lax.scan(step, cache, tokens.T)[1]

    step_logits = np.asarray(decode_all(state, cache, jnp.asarray(new_tokens)))
    for step in range(STEPS):
        np.testing.assert_allclose(
            step_logits[step], expected[:, ids.shape[1] + step], atol=TOL, rtol=0
        )


def test_repeated_cache_decodes_like_each_prompt(port):
    ids, mask, pixels, grid = make_batch(
        [[*text(3), "img", *text(2, 1)], [*text(5, 2)]], [(1, 2, 4)]
    )
    _, cache = prefill(port, ids, mask, pixels, grid, max_len=ids.shape[1] + 2)
    repeated = cache.repeat(3)
    tokens = jnp.array([11, 12])
    single, _ = decode(port, tokens, cache)
    grouped, _ = decode(port, jnp.repeat(tokens, 3), repeated)
    np.testing.assert_allclose(grouped, np.repeat(np.asarray(single), 3, axis=0), atol=TOL, rtol=0)
