"""Fixtures for the Qwen3-VL port: a tiny random transformers reference with perturbed norms and
biases (HF's ones/zeros would hide transposition mistakes), saved as an HF folder, and helpers
that build token sequences with expanded image-pad tokens."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from flax import nnx

from models.qwen3_vl import preset

jax.config.update("jax_default_matmul_precision", "highest")

TINY = preset("tiny")


def build_hf_model(config=TINY, seed=0):
    import torch
    import transformers

    torch.manual_seed(seed)
    hf_config = transformers.Qwen3VLConfig.from_dict(config.to_hf_dict())
    model = transformers.Qwen3VLForConditionalGeneration(hf_config).eval()
    model.config._attn_implementation = "eager"
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.2 * noise)
            else:  # larger than HF's 0.02 init so that logits are far from zero
                p.copy_(noise / max(p.shape[-1], 1) ** 0.5 if p.ndim > 1 else noise)
    return model


@pytest.fixture(scope="session")
def hf_model():
    return build_hf_model()


@pytest.fixture(scope="session")
def hf_dir(hf_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("hf_tiny")
    hf_model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def port(hf_dir):
    from models.qwen3_vl import load_hf

    return load_hf(hf_dir)


def image_tokens(grid, config=TINY):
    """<|vision_start|> + image pads (t*h*w/4) + <|vision_end|> for one image grid."""
    t, h, w = grid
    n = t * h * w // config.vision.spatial_merge_size**2
    return (
        [config.vision_start_token_id] + [config.image_token_id] * n + [config.vision_end_token_id]
    )


def make_batch(rows, grids, seed=0, config=TINY):
    """rows: lists of int (text) or "img" markers (consumed in order from grids); returns
    left-padded input_ids, attention_mask, pixel_values [patches, 1536] and grid array."""
    rng = np.random.default_rng(seed)
    grid_iter = iter(grids)
    seqs = []
    for row in rows:
        seq = []
        for item in row:
            seq += image_tokens(next(grid_iter), config) if item == "img" else [item]
        seqs.append(seq)
    length = max(map(len, seqs))
    ids = np.zeros((len(seqs), length), np.int64)
    mask = np.zeros((len(seqs), length), np.int64)
    for i, seq in enumerate(seqs):
        ids[i, length - len(seq) :] = seq
        mask[i, length - len(seq) :] = 1
    if not grids:
        return ids, mask, None, None
    grid = np.array(grids, np.int64)
    patches = int(np.prod(grid, axis=1).sum())
    pixels = rng.standard_normal((patches, config.vision.patch_dim)).astype(np.float32)
    return ids, mask, pixels, grid


def text(n, seed=0):
    return list(np.random.default_rng(seed).integers(0, 3900, n))


@nnx.jit
def logits_of(model, ids, mask, pixels, grid):
    """The port's logits, compiled once per input shape (eager dispatch is slower in tests)."""
    return model(ids, mask, pixels, grid).logits
