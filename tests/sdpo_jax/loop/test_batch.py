"""Batch assembly: filler images, completions appended, microbatches of whole groups, and bad
input named."""

import jax
import numpy as np
import pytest
from flax import nnx

from models.qwen3_vl import Qwen3VL, preset
from models.qwen3_vl.tokenizer import ChatEncoder
from sdpo_jax.loop.batch import (
    append_completions,
    assemble,
    encode_once,
    pad_vision,
    split_microbatches,
    vision_buckets,
)
from sdpo_jax.loop.train_step import completion_logits


def test_pad_vision_appends_unreferenced_fillers_to_fixed_sizes():
    pixels = np.ones((24, 1536), np.float32)
    grid = np.array([[1, 4, 6]])
    padded, padded_grid = pad_vision(pixels, grid, patches=64, images=3)
    assert padded.shape == (64, 1536) and np.all(padded[24:] == 0) and np.all(padded[:24] == 1)
    np.testing.assert_array_equal(padded_grid, [[1, 4, 6], [1, 2, 2], [1, 2, 18]])
    assert np.prod(padded_grid, axis=1).sum() == 64
    with pytest.raises(ValueError, match="cannot pad 24 patches / 1 images to 26 / 2"):
        pad_vision(pixels, grid, patches=26, images=2)


def test_vision_buckets_leave_room_for_a_filler_per_missing_image():
    """21 small images (48 patches each, 1008 in all) padded to 32 images need 11 fillers of 4
    patches: 1052 patches, so the bucket is 2048, not the 1024 the patches alone would fit."""
    many = {"pixel_values": np.zeros((21 * 48, 1536)), "image_grid_thw": np.ones((21, 3))}
    few = {"pixel_values": np.zeros((96, 1536)), "image_grid_thw": np.ones((2, 3))}
    patches, images = vision_buckets([many, few])
    assert (patches, images) == (2048, 32)
    for b in (many, few):
        pad_vision(b["pixel_values"], b["image_grid_thw"], patches=patches, images=images)


def test_completions_follow_left_padded_prompts():
    prompts = {
        "input_ids": np.array([[0, 5, 6], [7, 8, 9]]),
        "attention_mask": np.array([[0, 1, 1], [1, 1, 1]]),
    }
    out = append_completions(prompts, np.array([[1, 2, 3], [4, 5, 6]]), np.array([2, 3]))
    np.testing.assert_array_equal(out["input_ids"], [[0, 5, 6, 1, 2, 3], [7, 8, 9, 4, 5, 6]])
    np.testing.assert_array_equal(out["attention_mask"], [[0, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]])


def test_microbatches_hold_whole_groups():
    assert [p.tolist() for p in split_microbatches(8, 2, 2)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ValueError, match=r"make train\.microbatches divide train\.batch_prompts"):
        split_microbatches(6, 2, 2)


def test_parts_that_disagree_are_named():
    example = {"input_ids": np.array([1, 2], np.int32), "mm_token_type_ids": np.zeros(2, np.int32)}
    tokens = np.zeros((2, 4), np.int32)
    common = dict(
        lengths=np.array([4, 4]),
        sampler_logprobs=np.zeros((2, 4)),
        group_size=2,
        microbatches=1,
        max_prompt_tokens=64,
    )
    with pytest.raises(ValueError, match="2 student prompts, 1 teacher contexts, 2 completions"):
        assemble(
            None,
            [example] * 2,
            [example],
            tokens=tokens,
            weights=np.ones((2, 4)),
            advantages=np.zeros(2),
            **common,
        )
    with pytest.raises(
        ValueError, match=r"weights \(2, 3\) .* must match the completion tokens \(2, 4\)"
    ):
        assemble(
            None,
            [example] * 2,
            [example] * 2,
            tokens=tokens,
            weights=np.ones((2, 3)),
            advantages=np.zeros(2),
            **common,
        )


def test_encode_once_keeps_each_distinct_image_once():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(16, 1536)), rng.normal(size=(8, 1536))
    same_pixels_other_grid = a.copy()
    pixels = np.concatenate([a, b, a, same_pixels_other_grid, b])
    grid = np.array([[1, 4, 4], [1, 2, 4], [1, 4, 4], [1, 2, 8], [1, 2, 4]])
    kept, kept_grid, index = encode_once(pixels, grid)
    np.testing.assert_array_equal(index, [0, 1, 0, 2, 1])
    np.testing.assert_array_equal(kept_grid, [*grid[:2].tolist(), [1, 2, 8]])
    np.testing.assert_array_equal(kept, np.concatenate([a, b, a]))
    empty = encode_once(np.zeros((0, 1536)), np.zeros((0, 3), np.int64))
    assert [x.shape for x in empty] == [(0, 1536), (0, 3), (0,)]


@pytest.mark.slow
def test_rollouts_of_a_prompt_share_its_image_and_keep_their_logits():
    """Two prompts with one target image each, 4 rollouts each, and teacher contexts showing the
    target and a render (rollouts 0 and 1 drew the same render): the student's microbatch
    encodes 2 images instead of 8, the teacher's 5 instead of 16, and the logits equal those of
    every row carrying its own copies."""
    from PIL import Image

    encoder = ChatEncoder.tiny()
    rng = np.random.default_rng(0)
    picture = lambda: Image.fromarray(rng.integers(0, 255, (64, 96, 3), np.uint8))
    targets, renders = [picture(), picture()], [picture(), picture(), picture()]

    def encode(images, text):
        content = [{"type": "image"} for _ in images] + [{"type": "text", "text": text}]
        return encoder.encode([{"role": "user", "content": content}], images)

    shown = [renders[0], renders[0], renders[1], renders[2]] * 2
    student = [encode([targets[r // 4]], "Recreate this chart.") for r in range(8)]
    teacher = [encode([targets[r // 4], shown[r]], "Feedback: fix it.") for r in range(8)]
    tokens = rng.integers(5, 3000, size=(8, 5)).astype(np.int32)
    lengths = np.full(8, 5)
    batch = assemble(
        encoder.collate,
        student,
        teacher,
        tokens=tokens,
        lengths=lengths,
        sampler_logprobs=np.zeros((8, 5)),
        weights=np.ones((8, 5)),
        advantages=np.zeros(8),
        group_size=4,
        microbatches=1,
        max_prompt_tokens=512,
    )
    expected_index = {
        "student": [0, 0, 0, 0, 1, 1, 1, 1],
        "teacher": [0, 1, 0, 1, 0, 2, 0, 3, 4, 1, 4, 1, 4, 2, 4, 3],
    }
    image = np.prod(student[0]["image_grid_thw"][0])
    model = Qwen3VL(preset("tiny"), rngs=nnx.Rngs(0))
    logits = nnx.jit(completion_logits, static_argnums=2)
    for side, examples in (("student", student), ("teacher", teacher)):
        inputs = jax.tree.map(lambda x: x[0], batch[side])
        index = expected_index[side]
        np.testing.assert_array_equal(inputs["image_index"][: len(index)], index)
        distinct = max(index) + 1
        np.testing.assert_array_equal(inputs["pixel_values"][distinct * image :], 0)  # fillers
        copies = append_completions(
            encoder.collate(examples, inputs["input_ids"].shape[1] - 5), tokens, lengths
        )
        assert len(copies["pixel_values"]) == len(index) * image
        expected = logits(model, copies, 5)
        np.testing.assert_allclose(logits(model, inputs, 5), expected, atol=1e-5, rtol=0)
