"""Logits of the port equal transformers' Qwen3VLForConditionalGeneration (float32, 1e-4)."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
from flax import nnx

from tests.models.conftest import TINY, logits_of, make_batch, text

TOL = 1e-4

CASES = {
    "text_only": ([text(12)], []),
    "one_image_non_square": ([[*text(3), "img", *text(5, 1)]], [(1, 4, 6)]),
    "two_images_different_grids_one_with_two_frames": (
        [[*text(2), "img", *text(3, 2), "img", *text(4, 3)]],
        [(1, 6, 4), (2, 2, 8)],  # attention stays within each image and each frame
    ),
    "left_padded_batch": (
        [[*text(4), "img", *text(6, 4)], [*text(2, 5), "img", *text(1, 6)]],
        [(1, 4, 4), (1, 2, 4)],
    ),
}


def hf_forward(hf_model, ids, mask, pixels, grid):
    kwargs = dict(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask))
    kwargs["mm_token_type_ids"] = torch.tensor((ids == TINY.image_token_id).astype(np.int64))
    if pixels is not None:
        kwargs.update(pixel_values=torch.tensor(pixels), image_grid_thw=torch.tensor(grid))
    with torch.no_grad():
        return hf_model(**kwargs).logits.numpy()


@pytest.mark.parametrize("case", list(CASES))
def test_logits_match_transformers(case, hf_model, port):
    ids, mask, pixels, grid = make_batch(*CASES[case])
    expected = hf_forward(hf_model, ids, mask, pixels, grid)
    got = np.asarray(logits_of(port, ids, mask, pixels, grid))
    real = mask.astype(bool)
    assert np.abs(expected[real]).max() > 0.1  # logits far from zero, so the bound means something
    np.testing.assert_allclose(got[real], expected[real], atol=TOL, rtol=0)


@pytest.mark.parametrize(
    "grids",
    [
        [(1, 6, 4), (2, 2, 8)],
        [(1, 20, 28), (1, 12, 16)],  # 752 patches: attention runs in blocks across both images
    ],
)
def test_vision_tower_matches_transformers(grids, hf_model, port):
    """The tower alone (merged tokens and DeepStack features), where a wrong activation or
    interpolation cannot be diluted by the text decoder."""
    _, _, pixels, grid = make_batch([["img"] * len(grids)], grids)
    with torch.no_grad():
        out = hf_model.model.visual(torch.tensor(pixels), grid_thw=torch.tensor(grid))
    tokens, deepstack = vision_of(port, pixels, grid)
    assert np.abs(out.pooler_output.numpy()).max() > 0.1
    np.testing.assert_allclose(tokens, out.pooler_output.numpy(), atol=TOL, rtol=0)
    assert len(deepstack) == len(out.deepstack_features) == 2
    for ours, theirs in zip(deepstack, out.deepstack_features):
        np.testing.assert_allclose(ours, theirs.numpy(), atol=TOL, rtol=0)


@nnx.jit
def vision_of(model, pixels, grid):
    return model.visual(pixels, grid)


@pytest.mark.parametrize("part", ["blocks.0.mlp", "merger", "deepstack_merger_list.1"])
def test_vision_parts_with_wide_inputs(part, hf_model, port):
    """Inputs spread over [-6, 6] make the tanh and the exact GELU differ by far more than the
    tolerance, so each part is checked with the activation it must use."""
    x = np.random.default_rng(0).uniform(-6, 6, (32, TINY.vision.hidden_size)).astype(np.float32)
    ours, theirs = port.visual, hf_model.model.visual
    for name in part.split("."):
        ours = layer_of(ours, int(name)) if name.isdigit() else getattr(ours, name)
        theirs = theirs[int(name)] if name.isdigit() else getattr(theirs, name)
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(np.asarray(ours(x)), expected, atol=TOL, rtol=0)


def layer_of(module, i):
    """Layer `i` of stacked layers, or of a list of modules, on its own."""
    if isinstance(module, nnx.List):
        return module[i]
    graphdef, state = nnx.split(module)
    return nnx.merge(graphdef, jax.tree.map(lambda stack: stack[i], state))
