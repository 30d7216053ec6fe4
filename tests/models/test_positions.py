"""MRoPE position ids and rope deltas equal transformers' get_rope_index, also under jax.jit."""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
import torch

from models.qwen3_vl.rope import get_rope_index
from tests.models.conftest import TINY, make_batch, text
from tests.models.test_parity import CASES

rope_index = functools.partial(
    get_rope_index,
    image_token_id=TINY.image_token_id,
    video_token_id=TINY.video_token_id,
    spatial_merge_size=TINY.vision.spatial_merge_size,
)


def hf_rope_index(hf_model, ids, mask, image_grid=None, video_grid=None):
    types = (ids == TINY.image_token_id) * 1 + (ids == TINY.video_token_id) * 2
    as_t = lambda x: None if x is None else torch.tensor(x)
    pos, deltas = hf_model.model.get_rope_index(
        torch.tensor(ids),
        mm_token_type_ids=torch.tensor(types),
        image_grid_thw=as_t(image_grid),
        video_grid_thw=as_t(video_grid),
        attention_mask=torch.tensor(mask),
    )
    return pos.numpy(), deltas.numpy()


@pytest.mark.parametrize("case", [c for c in CASES if c != "text_only"])
def test_image_positions_match_transformers(case, hf_model):
    ids, mask, _, grid = make_batch(*CASES[case])
    expected = hf_rope_index(hf_model, ids, mask, image_grid=grid)
    got = rope_index(ids, mask, grid)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    jitted = jax.jit(rope_index)(ids, mask, grid)  # traced ids and grids
    np.testing.assert_array_equal(jitted[0], expected[0])


def test_video_frames_and_images_match_transformers(hf_model):
    """A video's frames are separate runs, each between its own vision_start/end tokens."""
    frame = [TINY.vision_start_token_id] + [TINY.video_token_id] * 4 + [TINY.vision_end_token_id]
    seq = [*text(3), *frame, 7, *frame, 8, *frame, *text(2, 1)]
    image_ids, _, _, image_grid = make_batch([[*text(2), "img", *text(2)]], [(1, 2, 6)])
    seq = seq + list(image_ids[0])
    ids = np.array([seq])
    mask = np.ones_like(ids)
    video_grid = np.array([[3, 4, 4]])
    expected = hf_rope_index(hf_model, ids, mask, image_grid, video_grid)
    got = rope_index(ids, mask, image_grid, video_grid)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_text_only_positions_are_plain_and_skip_padding():
    ids = np.array([[0, 0, 5, 6, 7], [1, 2, 3, 4, 5]])
    mask = np.array([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    positions, deltas = rope_index(ids, mask)
    np.testing.assert_array_equal(positions[:, 0], [[0, 0, 0, 1, 2]] * 3)
    np.testing.assert_array_equal(positions[:, 1], [[0, 1, 2, 3, 4]] * 3)
    np.testing.assert_array_equal(deltas, [[0], [0]])
