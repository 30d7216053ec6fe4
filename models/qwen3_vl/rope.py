"""Rotary position embeddings and multimodal position ids (Qwen3-VL's MRoPE).

Text tokens carry three position ids (time, height, width); for plain text all three are equal
and MRoPE reduces to ordinary RoPE. Image tokens get their grid coordinates. `get_rope_index`
reproduces transformers' `Qwen3VLModel.get_rope_index` with array operations only, so it runs
inside `jax.jit` with traced token ids and grids (only the number of images must be static).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def rotate_half(x):
    half = x.shape[-1] // 2
    return jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, cos, sin):
    """Rotates x [..., L, heads, head_dim] by angles given as cos/sin [..., L, head_dim] (fp32)."""
    x32 = x.astype(jnp.float32)
    out = x32 * cos[..., None, :] + rotate_half(x32) * sin[..., None, :]
    return out.astype(x.dtype)


def inverse_frequencies(dim: int, theta: float) -> np.ndarray:
    return (1.0 / (theta ** (np.arange(0, dim, 2, dtype=np.float32) / dim))).astype(np.float32)


def mrope_axis_of_frequency(head_dim: int, mrope_section) -> np.ndarray:
    """Which position row (0=t, 1=h, 2=w) drives each frequency in the interleaved layout:
    t by default, h at 1, 4, 7, ... and w at 2, 5, 8, ... up to 3 x their section size."""
    axis = np.zeros(head_dim // 2, dtype=np.int32)
    for row in (1, 2):
        axis[row : 3 * mrope_section[row] : 3] = row
    return axis


def text_cos_sin(position_ids, head_dim: int, theta: float, mrope_section):
    """cos/sin [B, L, head_dim] in fp32 for position_ids [3, B, L]."""
    inv_freq = jnp.asarray(inverse_frequencies(head_dim, theta))
    axis = mrope_axis_of_frequency(head_dim, mrope_section)
    positions = position_ids.astype(jnp.float32)[axis]  # [F, B, L]: the row each frequency uses
    angles = jnp.moveaxis(positions, 0, -1) * inv_freq
    angles = jnp.concatenate([angles, angles], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


def vision_cos_sin(rows, cols, head_dim: int, theta: float):
    """cos/sin [N, head_dim] for patches at (row, col): row frequencies, then column ones."""
    inv_freq = jnp.asarray(inverse_frequencies(head_dim // 2, theta))
    angles = jnp.concatenate(
        [
            rows.astype(jnp.float32)[:, None] * inv_freq,
            cols.astype(jnp.float32)[:, None] * inv_freq,
        ],
        axis=-1,
    )
    angles = jnp.concatenate([angles, angles], axis=-1)
    return jnp.cos(angles), jnp.sin(angles)


def get_rope_index(
    input_ids,
    attention_mask=None,
    image_grid_thw=None,
    video_grid_thw=None,
    *,
    image_token_id: int,
    video_token_id: int,
    spatial_merge_size: int = 2,
):
    """MRoPE position ids [3, B, L] and rope deltas [B, 1], equal to transformers'.

    Each maximal run of image (or video) tokens consumes the next grid, in batch-row order; a
    video's frames are separate runs (each frame sits between its own vision_start/end tokens).
    Padding (attention_mask 0) gets position 0 and is skipped when counting. The delta is
    max position + 1 - number of real tokens: decoding continues at `real length + delta`.
    """
    input_ids = jnp.asarray(input_ids)
    batch, length = input_ids.shape
    valid = (
        jnp.ones_like(input_ids, bool)
        if attention_mask is None
        else jnp.asarray(attention_mask) > 0
    )
    is_image = (input_ids == image_token_id) & valid
    is_video = (input_ids == video_token_id) & valid
    if image_grid_thw is None:
        is_image = jnp.zeros_like(is_image)
    if video_grid_thw is None:
        is_video = jnp.zeros_like(is_video)
    is_text = valid & ~is_image & ~is_video

    # The grid of every vision token: runs are numbered per modality across the whole batch.
    llm_h = jnp.ones((batch, length), jnp.int32)
    llm_w = jnp.ones((batch, length), jnp.int32)
    run_start = jnp.zeros((batch, length), bool)
    for is_kind, grids in ((is_image, image_grid_thw), (is_video, video_grid_thw)):
        if grids is None:
            continue
        if is_kind is is_video:  # one run per frame, so the frame counts must be concrete
            grids = np.repeat(np.asarray(grids), np.asarray(grids)[:, 0], axis=0)
            grids[:, 0] = 1
        grids = jnp.asarray(grids, jnp.int32)
        previous = jnp.pad(is_kind[:, :-1], ((0, 0), (1, 0)))
        starts = is_kind & ~previous
        run = jnp.clip(
            jnp.cumsum(starts.reshape(-1)).reshape(batch, length) - 1, 0, grids.shape[0] - 1
        )
        grid = grids[run]
        llm_h = jnp.where(is_kind, grid[..., 1] // spatial_merge_size, llm_h)
        llm_w = jnp.where(is_kind, grid[..., 2] // spatial_merge_size, llm_w)
        run_start = run_start | starts
    is_vision = is_image | is_video

    # Offset of each vision token inside its run, from the index of the run's first token.
    index = jnp.broadcast_to(jnp.arange(length), (batch, length))
    first = jax.lax.cummax(jnp.where(run_start, index, 0), axis=1)
    offset = index - first
    # A run advances the running position by max(h, w) (after merging); text by one.
    advance = jnp.where(run_start, jnp.maximum(llm_h, llm_w), 0)
    own_advance = jnp.take_along_axis(advance, first, axis=1) * is_vision
    text_before = jnp.cumsum(is_text, axis=1) - is_text
    base = text_before + jnp.cumsum(advance, axis=1) - own_advance

    per_frame = llm_h * llm_w
    t_off = offset // per_frame
    h_off = (offset // llm_w) % llm_h
    w_off = offset % llm_w
    position_ids = jnp.stack(
        [base + t_off * is_vision, base + h_off * is_vision, base + w_off * is_vision]
    )
    position_ids = jnp.where(valid, position_ids, 0)
    max_position = jnp.where(valid, position_ids, -1).max(axis=(0, 2))
    rope_deltas = (max_position + 1 - valid.sum(axis=1))[:, None]
    return position_ids.astype(jnp.int32), rope_deltas.astype(jnp.int32)
