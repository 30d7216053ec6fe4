"""Qwen3-VL vision tower: patch embedding, learned position table resampled to each image's grid,
2-D rotary attention that stays within one image frame, a 2x2 patch merger, and DeepStack mergers
that hand features from intermediate blocks to the first text layers.

Attention runs over blocks of queries, each against every patch with a mask built from segment
ids for that block alone: memory grows with patches × block, not patches², so a microbatch of
several full-size images never holds a patch × patch mask or score matrix.

Patches arrive in the processor's order: image by image, frame by frame, and inside a frame in
2x2 merge-window order (window row, window column, row in window, column in window). All
per-patch bookkeeping is computed from `grid_thw` with array operations, so the tower runs under
`jax.jit`; only the number of patches (a shape) must be static.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from models.qwen3_vl.attention import segment_attention
from models.qwen3_vl.config import VisionConfig
from models.qwen3_vl.layers import Dense, Embed, LayerNorm, scan_layers, stacked
from models.qwen3_vl.rope import apply_rope, vision_cos_sin


def patch_layout(grid_thw, n_patches: int, merge: int):
    """Per patch: its row and column in the frame, the frame's height and width, and a segment id
    that is unique per (image, frame); attention never crosses segments."""
    grid = jnp.asarray(grid_thw, jnp.int32)
    counts = grid[:, 0] * grid[:, 1] * grid[:, 2]
    ends = jnp.cumsum(counts)
    patch = jnp.arange(n_patches)
    image = jnp.searchsorted(ends, patch, side="right")
    h, w = grid[image, 1], grid[image, 2]
    local = patch - (ends[image] - counts[image])
    frame, within = local // (h * w), local % (h * w)
    windows_w = w // merge
    row = (within // (merge * merge * windows_w)) * merge + (within // merge) % merge
    col = ((within // (merge * merge)) % windows_w) * merge + within % merge
    first_frame = jnp.cumsum(grid[:, 0]) - grid[:, 0]
    segment = first_frame[image] + frame
    return row, col, h, w, segment


def _bilinear_taps(index, size, side: int):
    """Two taps and weights per target index for align_corners=True resampling of `side` cells
    onto `size` cells (the torch `F.interpolate` arithmetic, in fp32)."""
    src = index.astype(jnp.float32) * (side - 1) / jnp.maximum(size - 1, 1).astype(jnp.float32)
    floor = jnp.floor(src)
    offsets = jnp.arange(2)
    taps = jnp.clip(floor.astype(jnp.int32)[:, None] + offsets, 0, side - 1)
    weights = jnp.maximum(1 - jnp.abs(src[:, None] - floor[:, None] - offsets), 0)
    return taps, weights


class PatchEmbed(nnx.Module):
    """Conv3d with kernel = stride = (2, 16, 16) is a matmul over flattened 1536-value patches."""

    def __init__(self, cfg: VisionConfig, **kw):
        self.proj = Dense(
            cfg.patch_dim, cfg.hidden_size, ("vision_patch", "vision_embed"), bias=True, **kw
        )

    def __call__(self, pixel_values):
        return self.proj(pixel_values)


# Queries per attention block: scores are [heads, block, patches]. Read when the tower is traced
# (benchmarks/vision_memory.py raises it to compare with one dense call).
ATTENTION_BLOCK = 512


class VisionAttention(nnx.Module):
    def __init__(self, cfg: VisionConfig, **kw):
        d = cfg.hidden_size
        self.num_heads, self.head_dim, self.rope_theta = cfg.num_heads, cfg.head_dim, cfg.rope_theta
        self.qkv = Dense(d, 3 * d, ("vision_embed", "vision_heads"), bias=True, **kw)
        self.proj = Dense(d, d, ("vision_heads", "vision_embed"), bias=True, **kw)

    def __call__(self, x, cos, sin, segment):
        n = x.shape[0]
        qkv = self.qkv(x).reshape(n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        out = segment_attention(q, k, v, segment, ATTENTION_BLOCK)
        return self.proj(out.reshape(n, -1))


class VisionMLP(nnx.Module):
    def __init__(self, cfg: VisionConfig, **kw):
        self.linear_fc1 = Dense(
            cfg.hidden_size, cfg.intermediate_size, ("vision_embed", "vision_mlp"), bias=True, **kw
        )
        self.linear_fc2 = Dense(
            cfg.intermediate_size, cfg.hidden_size, ("vision_mlp", "vision_embed"), bias=True, **kw
        )

    def __call__(self, x):
        return self.linear_fc2(jax.nn.gelu(self.linear_fc1(x), approximate=True))  # tanh GELU


class VisionBlock(nnx.Module):
    def __init__(self, cfg: VisionConfig, **kw):
        norm_kw = {k: kw[k] for k in ("dtype", "param_dtype")}
        self.norm1 = LayerNorm(cfg.hidden_size, "vision_embed", **norm_kw)
        self.norm2 = LayerNorm(cfg.hidden_size, "vision_embed", **norm_kw)
        self.attn = VisionAttention(cfg, **kw)
        self.mlp = VisionMLP(cfg, **kw)

    def __call__(self, x, cos, sin, segment):
        x = x + self.attn(self.norm1(x), cos, sin, segment)
        return x + self.mlp(self.norm2(x))


class PatchMerger(nnx.Module):
    """Merges each 2x2 window of patches into one token for the language model. The final merger
    normalises patches before merging; DeepStack mergers normalise the merged vector."""

    def __init__(self, cfg: VisionConfig, *, postshuffle_norm: bool, **kw):
        merged = cfg.hidden_size * cfg.spatial_merge_size**2
        self.merged, self.postshuffle_norm = merged, postshuffle_norm
        norm_kw = {k: kw[k] for k in ("dtype", "param_dtype")}
        if postshuffle_norm:
            self.norm = LayerNorm(merged, "vision_merge", **norm_kw)
        else:
            self.norm = LayerNorm(cfg.hidden_size, "vision_embed", **norm_kw)
        self.linear_fc1 = Dense(merged, merged, ("vision_merge", "vision_mlp"), bias=True, **kw)
        self.linear_fc2 = Dense(
            merged, cfg.out_hidden_size, ("vision_mlp", "embed"), bias=True, **kw
        )

    def __call__(self, x):
        if self.postshuffle_norm:
            x = self.norm(x.reshape(-1, self.merged))
        else:
            x = self.norm(x).reshape(-1, self.merged)
        return self.linear_fc2(jax.nn.gelu(self.linear_fc1(x), approximate=False))  # exact GELU


class VisionTower(nnx.Module):
    def __init__(self, cfg: VisionConfig, *, rngs, dtype, param_dtype, remat=False):
        kw = dict(rngs=rngs, dtype=dtype, param_dtype=param_dtype)
        self.cfg, self.remat = cfg, remat
        self.patch_embed = PatchEmbed(cfg, **kw)
        self.pos_embed = Embed(
            cfg.num_position_embeddings, cfg.hidden_size, ("vision_pos", "vision_embed"), **kw
        )
        self.blocks = stacked(
            lambda rngs: VisionBlock(cfg, rngs=rngs, dtype=dtype, param_dtype=param_dtype),
            cfg.depth,
            rngs,
        )
        self.merger = PatchMerger(cfg, postshuffle_norm=False, **kw)
        self.deepstack_merger_list = nnx.List(
            [PatchMerger(cfg, postshuffle_norm=True, **kw) for _ in cfg.deepstack_visual_indexes]
        )

    def position_embedding(self, rows, cols, heights, widths):
        """The learned square table bilinearly resampled to each frame's (h, w) grid."""
        side = int(self.cfg.num_position_embeddings**0.5)
        h_taps, h_weights = _bilinear_taps(rows, heights, side)
        w_taps, w_weights = _bilinear_taps(cols, widths, side)
        index = (h_taps[:, :, None] * side + w_taps[:, None, :]).reshape(-1, 4)
        weight = (h_weights[:, :, None] * w_weights[:, None, :]).reshape(-1, 4)
        table = self.pos_embed(index).astype(jnp.float32)
        return (table * weight[..., None]).sum(1)

    def __call__(self, pixel_values, grid_thw):
        """pixel_values [patches, 1536], grid_thw [images, 3] -> (tokens [patches / 4, out_hidden],
        one DeepStack feature of the same shape per `deepstack_visual_indexes` entry)."""
        cfg = self.cfg
        rows, cols, heights, widths, segment = patch_layout(
            grid_thw, pixel_values.shape[0], cfg.spatial_merge_size
        )
        x = self.patch_embed(pixel_values)
        x = x + self.position_embedding(rows, cols, heights, widths).astype(x.dtype)
        cos, sin = vision_cos_sin(rows, cols, cfg.head_dim, cfg.rope_theta)
        run = scan_layers(
            _block_step,
            remat=self.remat,
            in_axes=(nnx.Carry, 0, None),
            out_axes=(nnx.Carry, 0),
        )
        x, hidden = run(x, self.blocks, (cos, sin, segment))
        deepstack = [
            merger(hidden[i])
            for merger, i in zip(self.deepstack_merger_list, cfg.deepstack_visual_indexes)
        ]
        return self.merger(x), deepstack


def _block_step(x, block, shared):
    """One block; its output is both the carry and, stacked over blocks, what the DeepStack
    mergers pick their inputs from."""
    x = block(x, *shared)
    return x, x
