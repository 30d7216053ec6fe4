"""Qwen3-VL (`Qwen3VLForConditionalGeneration`) in Flax NNX: vision tower + text decoder + head.

Inputs follow transformers: `input_ids` [B, L] with `<|image_pad|>` expanded to t*h*w/4 tokens per
image, `attention_mask` [B, L] (left padding allowed), `pixel_values` [patches, 1536] and
`image_grid_thw` [images, 3]. One addition: `image_index` [shown] says which encoded image each
image in `input_ids` shows, so the rollouts of a group share one encoding of their prompt's image
instead of carrying a copy each. Besides the full forward there is a functional KV-cache path for
sampling: `prefill` encodes the prompt (and its images, once) into a `KVCache`, `decode` appends
one token per row. Both are plain methods, so a sampler can `nnx.split` the model once and call
`nnx.merge(graphdef, state).decode(...)` inside `jax.jit` / `lax.while_loop`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from models.qwen3_vl.config import Qwen3VLConfig
from models.qwen3_vl.layers import Dense
from models.qwen3_vl.rope import get_rope_index, text_cos_sin
from models.qwen3_vl.text import TextDecoder
from models.qwen3_vl.vision import VisionTower
from models.sharding import constrain


class InputError(ValueError):
    """Model inputs that do not fit together (image tokens vs grids, pixel row sizes)."""


class Qwen3VLOutput(NamedTuple):
    logits: jax.Array  # [B, L, vocab] in the compute dtype
    rope_deltas: jax.Array  # [B, 1]: decode position = tokens so far + delta


class KVCache(NamedTuple):
    """Everything decoding needs, as a pytree of arrays (jit- and while_loop-friendly).

    keys/values: per layer [B, kv_heads, max_len, head_dim]; mask [B, max_len]: which slots hold
    real tokens; index: the next slot to write (shared by all rows, prompts are left-padded);
    positions [B]: the next token's MRoPE position (rope delta included)."""

    keys: tuple[jax.Array, ...]
    values: tuple[jax.Array, ...]
    mask: jax.Array
    index: jax.Array
    positions: jax.Array

    def repeat(self, n: int) -> KVCache:
        """Row r becomes rows r*n .. r*n+n-1: G samples per prompt share one prefill."""
        rep = lambda x: jnp.repeat(x, n, axis=0)
        return self._replace(
            keys=tuple(map(rep, self.keys)),
            values=tuple(map(rep, self.values)),
            mask=rep(self.mask),
            positions=rep(self.positions),
        )


class _Prompt(NamedTuple):
    decoder_inputs: tuple  # (embeddings, cos, sin, causal+padding mask, DeepStack features)
    mask: jax.Array  # [B, L] real tokens
    rope_deltas: jax.Array  # [B, 1]


class Qwen3VL(nnx.Module):
    """Qwen3VLForConditionalGeneration. Attribute names mirror transformers' so that a
    parameter's path is its checkpoint tensor name (see hf.py)."""

    def __init__(
        self,
        config: Qwen3VLConfig,
        *,
        rngs: nnx.Rngs,
        dtype=jnp.float32,
        param_dtype=jnp.float32,
        remat: bool = False,
    ):
        """`dtype` is the compute dtype, `param_dtype` the storage dtype (bf16 over fp32 works);
        `remat` recomputes each block's activations in the backward pass to save memory."""
        self.config, self.dtype = config, dtype
        kw = dict(rngs=rngs, dtype=dtype, param_dtype=param_dtype, remat=remat)
        self.visual = VisionTower(config.vision, **kw)
        self.language_model = TextDecoder(config.text, **kw)
        # Tied models (2B, 4B) reuse the embedding table as the output projection.
        head = None
        if not config.tie_word_embeddings:
            t = config.text
            head_kw = dict(rngs=rngs, dtype=dtype, param_dtype=param_dtype)
            head = Dense(t.hidden_size, t.vocab_size, ("embed", "vocab"), bias=False, **head_kw)
        self.lm_head = nnx.data(head)

    def __call__(
        self,
        input_ids,
        attention_mask=None,
        pixel_values=None,
        image_grid_thw=None,
        image_index=None,
        logits_to_keep: int = 0,
    ) -> Qwen3VLOutput:
        """`logits_to_keep` > 0: logits of the last that many positions only (as in
        transformers), which spares the [B, L, vocab] projection of the prompt."""
        prompt = self._prompt(input_ids, attention_mask, pixel_values, image_grid_thw, image_index)
        hidden, _ = self.language_model(*prompt.decoder_inputs)
        return Qwen3VLOutput(self.logits(hidden[:, -logits_to_keep:]), prompt.rope_deltas)

    # -- pieces shared by the forward and the cached path ------------------------------------

    def _prompt(
        self, input_ids, attention_mask, pixel_values, image_grid_thw, image_index
    ) -> _Prompt:
        input_ids = jnp.asarray(input_ids)
        length = input_ids.shape[1]
        mask = _valid_mask(input_ids, attention_mask)
        x, deepstack = self.embed(input_ids, pixel_values, image_grid_thw, image_index)
        shown = image_grid_thw
        if image_index is not None and image_grid_thw is not None:
            shown = jnp.asarray(image_grid_thw)[jnp.asarray(image_index)]
        position_ids, deltas = self.position_ids(input_ids, mask, shown)
        cos, sin = self._cos_sin(position_ids)
        causal = jnp.tril(jnp.ones((length, length), bool))
        attend = causal[None, None] & mask[:, None, None, :]
        return _Prompt((x, cos, sin, attend, deepstack), mask, deltas)

    def embed(self, input_ids, pixel_values=None, image_grid_thw=None, image_index=None):
        """Token embeddings with image features scattered onto the image-pad tokens, and the
        DeepStack features laid out on the same positions (zeros elsewhere)."""
        x = self.language_model.embed_tokens(input_ids)
        if pixel_values is None:
            if image_grid_thw is not None:
                raise InputError(
                    "image_grid_thw was given without pixel_values; pass both or neither"
                )
            return x, ()
        if image_grid_thw is None:
            raise InputError(
                "pixel_values were given without image_grid_thw; pass the grid of each image"
            )
        self.check_images(input_ids, pixel_values, image_grid_thw, image_index)
        image_tokens, deepstack = self.visual(jnp.asarray(pixel_values, self.dtype), image_grid_thw)
        is_image = input_ids == self.config.image_token_id
        row = self.feature_rows(is_image, image_grid_thw, image_index)
        row = jnp.clip(row, 0, image_tokens.shape[0] - 1)
        place = lambda feats, other: jnp.where(
            is_image[..., None], feats[row].astype(x.dtype), other
        )
        return place(image_tokens, x), tuple(place(d, 0) for d in deepstack)

    def feature_rows(self, is_image, image_grid_thw, image_index=None):
        """For each token, the row of the vision tower's output it takes (meaningful on image
        tokens): the images in the tokens, in batch-row order, are `image_index`'s entries."""
        slot = (jnp.cumsum(is_image.reshape(-1)) - 1).reshape(is_image.shape)
        if image_index is None:
            return slot
        grid = jnp.asarray(image_grid_thw, jnp.int32)
        tokens = grid.prod(-1) // self.config.vision.spatial_merge_size**2
        first_row = jnp.cumsum(tokens) - tokens
        index = jnp.asarray(image_index, jnp.int32)
        shown_ends = jnp.cumsum(tokens[index])
        shown = jnp.clip(jnp.searchsorted(shown_ends, slot, side="right"), 0, len(index) - 1)
        offset = slot - (shown_ends[shown] - tokens[index[shown]])
        return first_row[index[shown]] + offset

    def position_ids(self, input_ids, attention_mask, image_grid_thw):
        """MRoPE position ids [3, B, L] and rope deltas [B, 1] (see rope.get_rope_index)."""
        return get_rope_index(
            input_ids,
            attention_mask,
            image_grid_thw,
            image_token_id=self.config.image_token_id,
            video_token_id=self.config.video_token_id,
            spatial_merge_size=self.config.vision.spatial_merge_size,
        )

    def logits(self, hidden):
        """Final hidden states -> vocabulary logits (the embedding table when tied)."""
        if self.lm_head is None:
            logits = self.language_model.embed_tokens.attend(hidden)
        else:
            logits = self.lm_head(hidden)
        return constrain(logits, ("batch", *[None] * (logits.ndim - 2), "vocab"))

    def _cos_sin(self, position_ids):
        t = self.config.text
        return text_cos_sin(position_ids, t.head_dim, t.rope_theta, t.mrope_section)

    def check_images(self, input_ids, pixel_values, image_grid_thw, image_index=None):
        """Raises InputError when pixel rows, grids, `image_index` and image-pad tokens do not
        fit together (the parts known outside jit; callers such as the sampler check before
        compiling)."""
        v = self.config.vision
        if pixel_values.ndim != 2 or pixel_values.shape[1] != v.patch_dim:
            raise InputError(
                f"pixel_values has shape {tuple(pixel_values.shape)}; expected [patches, "
                f"{v.patch_dim}] ({v.in_channels} channels x {v.temporal_patch_size} frames x "
                f"{v.patch_size}x{v.patch_size} pixels per row)"
            )
        if isinstance(image_grid_thw, jax.core.Tracer):
            return
        grid = np.asarray(image_grid_thw)
        patches = int(np.prod(grid, axis=-1).sum())
        if patches != pixel_values.shape[0]:
            raise InputError(
                f"image_grid_thw covers {patches} patches but pixel_values has "
                f"{pixel_values.shape[0]} rows; pass the grids of exactly these images"
            )
        shown = grid
        if image_index is not None:
            if isinstance(image_index, jax.core.Tracer):
                return
            index = np.asarray(image_index)
            if index.ndim != 1 or not ((index >= 0) & (index < len(grid))).all():
                raise InputError(
                    f"image_index must list, for each image in input_ids, one of the "
                    f"{len(grid)} encoded images (0..{len(grid) - 1}); got {index.tolist()}"
                )
            shown = grid[index]
        if isinstance(input_ids, jax.core.Tracer):
            return
        tokens = int((np.asarray(input_ids) == self.config.image_token_id).sum())
        needed = int(np.prod(shown, axis=-1).sum()) // v.spatial_merge_size**2
        if tokens != needed:
            raise InputError(
                f"input_ids hold {tokens} image-pad tokens (id {self.config.image_token_id}) but "
                f"the images need {needed} (t*h*w/{v.spatial_merge_size**2} per image); "
                "expand each image's pad token to match its grid"
            )

    # -- KV-cache path for sampling ------------------------------------------------------------

    def init_cache(self, batch: int, max_len: int) -> KVCache:
        """An empty cache; `max_len` bounds prompt plus generated tokens (writes past it are
        clamped by XLA onto the last slot, so the sampler must stop before)."""
        t = self.config.text
        shape = (batch, t.num_key_value_heads, max_len, t.head_dim)
        layers = range(t.num_hidden_layers)
        return KVCache(
            keys=tuple(jnp.zeros(shape, self.dtype) for _ in layers),
            values=tuple(jnp.zeros(shape, self.dtype) for _ in layers),
            mask=jnp.zeros((batch, max_len), bool),
            index=jnp.zeros((), jnp.int32),
            positions=jnp.zeros((batch,), jnp.int32),
        )

    def decoder_layers(self) -> tuple[nnx.Module, ...]:
        """The decoder's layers as separate modules, sliced from the stacked parameters. A
        decode loop takes them once, outside the loop: scanning over stacked layers, XLA:CPU
        copies each layer's weights and cache at every step (its matmuls cannot read a
        dynamically indexed slice in place), while separate arrays are read where they lie."""
        graphdef, state = nnx.split(self.language_model.layers)
        return tuple(
            nnx.merge(graphdef, jax.tree.map(lambda a, i=i: a[i], state))
            for i in range(self.config.text.num_hidden_layers)
        )

    def prefill(
        self,
        input_ids,
        attention_mask=None,
        pixel_values=None,
        image_grid_thw=None,
        image_index=None,
        *,
        max_len: int,
    ):
        """Runs the prompt, images encoded once -> (logits [B, L, vocab], cache to decode from)."""
        prompt = self._prompt(input_ids, attention_mask, pixel_values, image_grid_thw, image_index)
        batch, length = prompt.mask.shape
        cache = self.init_cache(batch, max_len)
        # The prompt runs under the layers' scan, which writes all layers' cache in one stack.
        hidden, (keys, values) = self.language_model(
            *prompt.decoder_inputs, (jnp.stack(cache.keys), jnp.stack(cache.values)), 0
        )
        cache = KVCache(
            keys=tuple(jnp.unstack(keys)),
            values=tuple(jnp.unstack(values)),
            mask=cache.mask.at[:, :length].set(prompt.mask),
            index=jnp.asarray(length, jnp.int32),
            positions=(prompt.mask.sum(axis=1) + prompt.rope_deltas[:, 0]).astype(jnp.int32),
        )
        return self.logits(hidden), cache

    def decode(self, tokens, cache: KVCache, layers: tuple[nnx.Module, ...] | None = None):
        """One new token per row (tokens [B]) -> (logits [B, vocab], cache advanced by one).
        `layers`: `decoder_layers()`, taken once before a decode loop (default: taken here)."""
        x = self.language_model.embed_tokens(jnp.asarray(tokens)[:, None])
        position_ids = jnp.broadcast_to(cache.positions[None, :, None], (3, x.shape[0], 1))
        cos, sin = self._cos_sin(position_ids)
        mask = cache.mask.at[:, cache.index].set(True)
        hidden, (keys, values) = self.language_model.decode(
            self.decoder_layers() if layers is None else layers,
            x,
            cos,
            sin,
            mask[:, None, None, :],
            (cache.keys, cache.values),
            cache.index,
        )
        cache = KVCache(
            keys=keys,
            values=values,
            mask=mask,
            index=cache.index + 1,
            positions=cache.positions + 1,
        )
        return self.logits(hidden)[:, 0], cache


def _valid_mask(input_ids, attention_mask):
    if attention_mask is None:
        return jnp.ones(input_ids.shape, bool)
    return jnp.asarray(attention_mask) > 0
