"""Model options and input checks: bf16 compute over fp32 parameters, remat, one-line errors."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models.qwen3_vl import Qwen3VL, load_hf
from models.qwen3_vl.model import InputError
from tests.models.conftest import TINY, logits_of, make_batch, text

TOL = 1e-4
BATCH = make_batch([[*text(3), "img", *text(4, 1)], [*text(5, 2)]], [(1, 4, 6)])


@nnx.jit
def loss_and_grads(model):
    ids, mask, pixels, grid = BATCH

    def loss(model):
        logits = model(ids, mask, pixels, grid).logits.astype(jnp.float32)
        logp = jax.nn.log_softmax(logits[:, :-1])
        picked = jnp.take_along_axis(logp, jnp.asarray(ids)[:, 1:, None], axis=-1)[..., 0]
        return -(picked * mask[:, 1:]).sum() / mask[:, 1:].sum()

    return nnx.value_and_grad(loss)(model)


@pytest.mark.slow
def test_bf16_compute_over_fp32_params(hf_dir, port):
    model = load_hf(hf_dir, dtype=jnp.float32, compute_dtype=jnp.bfloat16)
    kernel = model.language_model.layers.mlp.up_proj.kernel[...]
    assert kernel.dtype == jnp.float32
    ids, mask, pixels, grid = BATCH
    logits = logits_of(model, ids, mask, pixels, grid)
    assert logits.dtype == jnp.bfloat16
    reference = np.asarray(logits_of(port, ids, mask, pixels, grid))
    real = mask.astype(bool)
    # bf16 keeps 8 bits of mantissa: a few percent of the logit scale, nowhere near a wrong model.
    error = np.abs(np.asarray(logits, np.float32) - reference)[real].max()
    assert error < 0.05 * np.abs(reference[real]).max()
    value, grads = loss_and_grads(model)
    leaves = jax.tree.leaves(nnx.state(grads, nnx.Param))
    assert np.isfinite(float(value)) and all(g.dtype == jnp.float32 for g in leaves)


@pytest.mark.slow
def test_remat_gives_the_same_gradients(hf_dir, port):
    value, grads = loss_and_grads(port)
    value_r, grads_r = loss_and_grads(load_hf(hf_dir, remat=True))
    np.testing.assert_allclose(value_r, value, atol=TOL, rtol=0)
    for g_r, g in zip(jax.tree.leaves(nnx.state(grads_r)), jax.tree.leaves(nnx.state(grads))):
        np.testing.assert_allclose(g_r, g, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "problem,words",
    [
        ("too_few_image_tokens", ["image-pad tokens", "need 6"]),
        ("image_index_out_of_range", ["image_index", "0..0"]),
        ("grid_does_not_cover_pixels", ["covers", "rows"]),
        ("wrong_row_size", ["1536"]),
        ("grid_without_pixels", ["pixel_values"]),
    ],
)
def test_inputs_that_do_not_fit_give_one_line(problem, words, port):
    ids, mask, pixels, grid = BATCH
    if problem == "too_few_image_tokens":
        ids = ids.copy()
        ids[0, np.flatnonzero(ids[0] == port.config.image_token_id)[0]] = 5
    elif problem == "image_index_out_of_range":
        with pytest.raises(InputError) as e:
            port(ids, mask, pixels, grid, image_index=np.array([1]))
        assert "\n" not in str(e.value) and all(word in str(e.value) for word in words)
        return
    elif problem == "grid_does_not_cover_pixels":
        grid = np.array([[1, 4, 4]])
    elif problem == "wrong_row_size":
        pixels = pixels[:, :768]
    else:
        pixels = None
    with pytest.raises(InputError) as e:
        port(ids, mask, pixels, grid)
    assert "\n" not in str(e.value)
    for word in words:
        assert word in str(e.value)


def test_the_traced_program_does_not_grow_with_depth():
    """Layers run under a scan: a 2-layer and a 6-layer model (text and vision) trace to
    programs of the same size, so compile time does not grow with depth either."""

    def size(layers):
        config = dataclasses.replace(
            TINY,
            text=dataclasses.replace(TINY.text, num_hidden_layers=layers),
            vision=dataclasses.replace(TINY.vision, depth=layers),
        )
        graphdef, state = nnx.split(nnx.eval_shape(lambda: Qwen3VL(config, rngs=nnx.Rngs(0))))
        ids, mask, pixels, grid = BATCH
        forward = lambda state: nnx.merge(graphdef, state)(ids, mask, pixels, grid).logits
        return len(str(jax.make_jaxpr(forward)(state)).splitlines())

    assert size(2) == size(6)


@pytest.mark.slow
def test_rollouts_share_one_encoding_of_their_image(port):
    """Rows showing the same image, encoded once and named by `image_index`, give the logits
    of the rows each carrying their own copy; so do trailing filler images and index entries
    that no token refers to (the train batch's fixed shapes)."""
    rows = [[*text(3), "img", *text(4, 1)], [*text(2, 3), "img", *text(5, 2), "img", *text(2)]]
    a, b = (1, 4, 6), (1, 2, 4)
    ids, mask, copies, grid = make_batch(rows, [a, b, a])
    patches_a = int(np.prod(a))
    own = copies[:patches_a].copy()
    copies[-patches_a:] = own  # the third image is the first one again
    expected = np.asarray(logits_of(port, ids, mask, copies, grid))
    encoded = copies[:-patches_a]
    shared = jax.jit(lambda *x: port(*x).logits)
    got = shared(ids, mask, encoded, grid[:2], np.array([0, 1, 0]))
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)
    filler = np.zeros((4, encoded.shape[1]), np.float32)
    padded = np.concatenate([encoded, filler]), np.concatenate([grid[:2], [[1, 2, 2]]])
    got = shared(ids, mask, *padded, np.array([0, 1, 0, 2, 2]))
    np.testing.assert_allclose(got, expected, atol=TOL, rtol=0)


def test_logits_to_keep_gives_the_last_positions(port):
    ids, mask, pixels, grid = BATCH
    keep = jax.jit(lambda *x: port(*x, logits_to_keep=3).logits)(ids, mask, pixels, grid)
    full = np.asarray(logits_of(port, ids, mask, pixels, grid))
    assert keep.shape == (*ids.shape[:1], 3, full.shape[-1])
    np.testing.assert_allclose(keep, full[:, -3:], atol=1e-5, rtol=0)
