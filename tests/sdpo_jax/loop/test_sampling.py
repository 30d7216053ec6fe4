"""The KV-cache sampler on the tiny model: log-probs equal a full forward, stopping rules,
determinism, sharding, and bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from models.qwen3_vl import Qwen3VL, preset
from sdpo_jax.loop.sampling import FINISH_EOS, FINISH_LENGTH, FINISH_STOP, SamplingError, generate

EOS = 4002


@pytest.fixture(scope="module")
def model():
    jax.config.update("jax_default_matmul_precision", "highest")
    return Qwen3VL(preset("tiny"), rngs=nnx.Rngs(0))


def text_batch():
    ids = np.array([[0, 0, 0, 5, 6, 7, 8], [11, 12, 13, 14, 15, 16, 17]], np.int32)
    mask = np.array([[0, 0, 0, 1, 1, 1, 1], [1] * 7], np.int32)
    return {"input_ids": ids, "attention_mask": mask}


def image_batch(config):
    """One prompt with a 4x6-patch image (6 merged tokens) between text."""
    rng = np.random.default_rng(0)
    grid = np.array([[1, 4, 6]])
    pad = [config.image_token_id] * 6
    ids = np.array(
        [[21, config.vision_start_token_id, *pad, config.vision_end_token_id, 22, 23]], np.int32
    )
    pixels = rng.normal(size=(24, config.vision.patch_dim)).astype(np.float32)
    return {
        "input_ids": ids,
        "attention_mask": np.ones_like(ids),
        "pixel_values": pixels,
        "image_grid_thw": grid,
    }


def full_forward_logprobs(model, batch, out, samples):
    """Log-probs of the generated tokens from one forward pass over prompt + completion."""
    rep = lambda x: np.repeat(np.asarray(x), samples, axis=0)
    ids = np.concatenate([rep(batch["input_ids"]), np.asarray(out.tokens)], axis=1)
    mask = np.concatenate([rep(batch["attention_mask"]), np.ones_like(out.tokens)], axis=1)
    images = {}
    if "pixel_values" in batch:
        images = {
            "pixel_values": np.concatenate([batch["pixel_values"]] * samples),
            "image_grid_thw": np.concatenate([batch["image_grid_thw"]] * samples),
        }
    logp = jax.nn.log_softmax(model(ids, mask, **images).logits.astype(jnp.float32), axis=-1)
    start = batch["input_ids"].shape[1]
    picked = jnp.take_along_axis(logp[:, start - 1 : -1], out.tokens[..., None], axis=-1)[..., 0]
    return np.asarray(picked)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["text", "image"])
def test_logprobs_equal_a_full_forward_pass(model, kind):
    batch = text_batch() if kind == "text" else image_batch(model.config)
    out = generate(
        model, batch, max_new_tokens=8, num_samples=3, eos_ids=[EOS], rng=jax.random.key(1)
    )
    want = full_forward_logprobs(model, batch, out, 3)
    np.testing.assert_allclose(np.asarray(out.model_logprobs), want, atol=1e-5)
    # temperature 1 and no filters: the sampling distribution is the model's
    np.testing.assert_allclose(np.asarray(out.logprobs), want, atol=1e-5)
    tempered = generate(
        model,
        batch,
        max_new_tokens=8,
        num_samples=3,
        temperature=0.5,
        top_k=50,
        eos_ids=[EOS],
        rng=jax.random.key(1),
    )
    np.testing.assert_allclose(
        np.asarray(tempered.model_logprobs),
        full_forward_logprobs(model, batch, tempered, 3),
        atol=1e-5,
    )
    assert np.all(np.asarray(tempered.logprobs) >= np.asarray(tempered.model_logprobs) - 1e-6)


def test_same_rng_same_output_and_group_samples_differ(model):
    run = lambda seed: generate(
        model,
        text_batch(),
        max_new_tokens=6,
        num_samples=4,
        eos_ids=[EOS],
        rng=jax.random.key(seed),
    )
    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(np.asarray(a.tokens), np.asarray(b.tokens))
    assert not np.array_equal(np.asarray(a.tokens), np.asarray(c.tokens))
    group = np.asarray(a.tokens)[:4]
    assert len({tuple(row) for row in group}) == 4


@pytest.mark.slow
def test_rows_stop_at_eos_at_stop_sequences_and_at_the_length_limit(model):
    greedy = generate(
        model,
        text_batch(),
        max_new_tokens=5,
        num_samples=1,
        temperature=0.0,
        eos_ids=[EOS],
        rng=jax.random.key(0),
    )
    first, second = (int(t) for t in np.asarray(greedy.tokens)[0, :2])
    assert list(np.asarray(greedy.finish_reason)) == [FINISH_LENGTH, FINISH_LENGTH]
    # the first greedy token of row 0 as EOS: row 0 ends after one token, row 1 runs on
    stopped = generate(
        model,
        text_batch(),
        max_new_tokens=5,
        temperature=0.0,
        eos_ids=[first],
        rng=jax.random.key(0),
        pad_id=-1,
    )
    assert int(stopped.lengths[0]) == 1 and int(stopped.finish_reason[0]) == FINISH_EOS
    assert list(np.asarray(stopped.tokens)[0, 1:]) == [-1] * 4
    np.testing.assert_array_equal(np.asarray(stopped.logprobs)[0, 1:], 0.0)
    # a two-token stop sequence
    seq = generate(
        model,
        text_batch(),
        max_new_tokens=5,
        temperature=0.0,
        eos_ids=[EOS],
        rng=jax.random.key(0),
        stop_sequences=[[first, second]],
    )
    assert int(seq.lengths[0]) == 2 and int(seq.finish_reason[0]) == FINISH_STOP


def test_greedy_is_independent_of_the_rng(model):
    runs = [
        generate(
            model,
            text_batch(),
            max_new_tokens=4,
            temperature=0.0,
            eos_ids=[EOS],
            rng=jax.random.key(s),
        )
        for s in (0, 1)
    ]
    np.testing.assert_array_equal(np.asarray(runs[0].tokens), np.asarray(runs[1].tokens))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: {
                **b,
                "input_ids": b["input_ids"][:, :0],
                "attention_mask": b["attention_mask"][:, :0],
            },
            "length > 0",
        ),
        (lambda b: {**b, "attention_mask": np.zeros_like(b["attention_mask"])}, "empty"),
        (lambda b: {**b, "attention_mask": b["attention_mask"][:, ::-1]}, "left-padded"),
        (lambda b: {**b, "pixel_values": np.zeros((4, 1536), np.float32)}, "together"),
    ],
)
def test_bad_batches_fail_with_a_clear_message(model, change, message):
    with pytest.raises(SamplingError, match=message):
        generate(
            model, change(text_batch()), max_new_tokens=2, eos_ids=[EOS], rng=jax.random.key(0)
        )


def test_prompt_longer_than_the_cache_and_mismatched_images_are_named(model):
    with pytest.raises(SamplingError, match="exceeds the model's"):
        generate(model, text_batch(), max_new_tokens=10**6, eos_ids=[EOS], rng=jax.random.key(0))
    batch = image_batch(model.config)
    batch["image_grid_thw"] = np.array([[1, 4, 4]])
    with pytest.raises(ValueError, match="image_grid_thw"):
        generate(model, batch, max_new_tokens=2, eos_ids=[EOS], rng=jax.random.key(0))
