"""Batch assembly: filler images, completions appended, microbatches of whole groups, and bad
input named."""

import numpy as np
import pytest

from sdpo_jax.batch import (
    append_completions,
    assemble,
    pad_vision,
    split_microbatches,
    vision_buckets,
)


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
