"""A jit-compiled KV-cache sampler for Qwen3-VL rollouts.

`generate` runs the prompt once (images encoded once) into a preallocated cache, repeats that
cache for the `num_samples` completions of each prompt (G samples share one prefill), and
decodes all rows inside one `lax.while_loop` that ends when every row has finished. Each chosen
token comes with two log-probabilities: under the distribution actually sampled from
(temperature, top-k, top-p applied: what importance ratios against the sampler need) and under
the untempered model (what the trainer's own forward pass recomputes).

Compiled functions are cached per shape bucket (batch, prompt length, image patches, samples,
new tokens, sampling settings), so a training run that pads prompts to a few bucket lengths
compiles a handful of times, not every step.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from models.sharding import activation_sharding, logical_to_spec

FINISH_EOS, FINISH_STOP, FINISH_LENGTH = 0, 1, 2
FINISH_NAMES = ("eos", "stop", "length")


class SampleOutput(NamedTuple):
    """Rows are prompt-major: row r*G + g is sample g of prompt r."""

    tokens: jax.Array  # [B*G, max_new_tokens] int32; `pad_id` after a row's end
    logprobs: jax.Array  # [B*G, max_new_tokens] f32 under the sampling distribution; 0 after end
    model_logprobs: jax.Array  # [B*G, max_new_tokens] f32 under the untempered model; 0 after end
    lengths: jax.Array  # [B*G] int32 tokens generated, the EOS / stop tokens included
    finish_reason: jax.Array  # [B*G] int32: FINISH_EOS, FINISH_STOP or FINISH_LENGTH


class SamplingError(ValueError):
    """A batch or setting the sampler cannot run; the message names it."""


def filter_logits(logits: jax.Array, *, top_k: int = 0, top_p: float = 1.0) -> jax.Array:
    """Logits with everything outside the top-k and outside the top-p nucleus set to -inf.

    The nucleus keeps the smallest prefix of tokens, by descending probability, whose mass
    reaches `top_p` (the most likely token always stays)."""
    neg_inf = jnp.finfo(logits.dtype).min
    if top_k > 0:
        kth = jax.lax.top_k(logits, top_k)[0][..., -1:]
        logits = jnp.where(logits < kth, neg_inf, logits)
    if top_p < 1.0:
        ordered = jnp.sort(logits, axis=-1)[..., ::-1]
        probs = jax.nn.softmax(ordered, axis=-1)
        mass_before = jnp.cumsum(probs, axis=-1) - probs
        kept = mass_before < top_p
        threshold = jnp.min(jnp.where(kept, ordered, jnp.inf), axis=-1, keepdims=True)
        logits = jnp.where(logits < threshold, neg_inf, logits)
    return logits


def sampling_logprobs(
    logits: jax.Array,
    *,
    temperature: float,
    top_k: int,
    top_p: float,
    suppress: tuple[int, ...] = (),
) -> jax.Array:
    """Log-probabilities of the distribution tokens are drawn from (greedy: the model's), with
    the `suppress` ids never drawn."""
    logits = logits.astype(jnp.float32)
    if suppress:
        logits = logits.at[..., jnp.asarray(suppress)].set(jnp.finfo(jnp.float32).min)
    if temperature == 0.0:
        return jax.nn.log_softmax(logits, axis=-1)
    return jax.nn.log_softmax(
        filter_logits(logits / temperature, top_k=top_k, top_p=top_p), axis=-1
    )


def choose(key: jax.Array, logprobs: jax.Array, temperature: float) -> jax.Array:
    if temperature == 0.0:
        return jnp.argmax(logprobs, axis=-1).astype(jnp.int32)
    return jax.random.categorical(key, logprobs, axis=-1).astype(jnp.int32)


def _ends_with(
    history: jax.Array, length: jax.Array, stops: tuple[tuple[int, ...], ...]
) -> jax.Array:
    """Per row: do the generated tokens so far (`history` [N, T], `length` [N]) end with any
    stop sequence?"""
    hit = jnp.zeros(history.shape[0], bool)
    rows = jnp.arange(history.shape[0])
    for stop in stops:
        n = len(stop)
        idx = length[:, None] - n + jnp.arange(n)[None, :]
        tail = history[rows[:, None], jnp.clip(idx, 0, history.shape[1] - 1)]
        hit |= (length >= n) & jnp.all(tail == jnp.asarray(stop, history.dtype), axis=-1)
    return hit


def _place_rows(tree, mesh: Mesh | None):
    """Pins row-major arrays onto `mesh`: rows over the batch axes (data x fsdp), and the
    cache's KV heads (dim 1 of each layer's [rows, kv_heads, slots, head_dim] keys and values)
    over tensor. Without it XLA may keep the loop state replicated on every device. Scalars and
    dimensions the mesh does not divide stay replicated; no mesh, no change."""
    if mesh is None:
        return tree

    def place(x):
        if x.ndim == 0:
            return x
        axes = ("batch", "kv_heads", None, None) if x.ndim == 4 else ("batch",)
        axes += (None,) * (x.ndim - len(axes))
        spec = logical_to_spec(axes, x.shape, mesh)
        return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))

    return jax.tree.map(place, tree)


class _Decoding(NamedTuple):
    """The decode loop's state: step `t`, the last logits [rows, vocab], the KV cache, and per
    row the tokens, their sampling and model log-probs so far [rows, max_new], whether it has
    finished, its length and why it finished."""

    t: jax.Array
    logits: jax.Array
    cache: Any
    tokens: jax.Array
    logprobs: jax.Array
    model_logprobs: jax.Array
    done: jax.Array
    length: jax.Array
    reason: jax.Array


@functools.lru_cache(maxsize=64)
def _compiled(graphdef, settings: tuple, mesh: Mesh | None):
    """The whole prefill + decode loop, jitted once per (model structure, settings, mesh); jax
    then compiles it once per shape bucket."""
    max_new, samples, temperature, top_k, top_p, eos_ids, stops, pad_id, suppress = settings

    def run(state, input_ids, attention_mask, pixel_values, image_grid_thw, rng):
        model = nnx.merge(graphdef, state)
        input_ids, attention_mask = _place_rows((input_ids, attention_mask), mesh)
        prompt_len = input_ids.shape[1]
        logits, cache = model.prefill(
            input_ids, attention_mask, pixel_values, image_grid_thw, max_len=prompt_len + max_new
        )
        last = jnp.repeat(logits[:, -1], samples, axis=0)
        cache = cache.repeat(samples)
        layers = model.decoder_layers()  # sliced once: the loop reads them in place
        rows = last.shape[0]
        eos = jnp.asarray(eos_ids, jnp.int32)

        def step(state: _Decoding) -> _Decoding:
            sample_lp = sampling_logprobs(
                state.logits, temperature=temperature, top_k=top_k, top_p=top_p, suppress=suppress
            )
            token = choose(jax.random.fold_in(rng, state.t), sample_lp, temperature)
            model_lp = jax.nn.log_softmax(state.logits.astype(jnp.float32), axis=-1)
            pick = lambda lp: jnp.take_along_axis(lp, token[:, None], axis=-1)[:, 0]
            live = ~state.done
            token = jnp.where(live, token, pad_id)
            tokens = state.tokens.at[:, state.t].set(token)
            length = state.length + live
            at_eos = live & jnp.isin(token, eos)
            at_stop = live & ~at_eos & _ends_with(tokens, length, stops)
            logits, cache = model.decode(token, state.cache, layers)
            moved = _Decoding(
                t=state.t + 1,
                logits=logits,
                cache=cache,
                tokens=tokens,
                logprobs=state.logprobs.at[:, state.t].set(jnp.where(live, pick(sample_lp), 0.0)),
                model_logprobs=state.model_logprobs.at[:, state.t].set(
                    jnp.where(live, pick(model_lp), 0.0)
                ),
                done=state.done | at_eos | at_stop,
                length=length,
                reason=jnp.where(at_eos, FINISH_EOS, jnp.where(at_stop, FINISH_STOP, state.reason)),
            )
            return _place_rows(moved, mesh)

        def more(state: _Decoding):
            return (state.t < max_new) & ~jnp.all(state.done)

        init = _Decoding(
            t=jnp.zeros((), jnp.int32),
            logits=last,
            cache=cache,
            tokens=jnp.full((rows, max_new), pad_id, jnp.int32),
            logprobs=jnp.zeros((rows, max_new), jnp.float32),
            model_logprobs=jnp.zeros((rows, max_new), jnp.float32),
            done=jnp.zeros(rows, bool),
            length=jnp.zeros(rows, jnp.int32),
            reason=jnp.full(rows, FINISH_LENGTH, jnp.int32),
        )
        end = jax.lax.while_loop(more, step, _place_rows(init, mesh))
        return SampleOutput(end.tokens, end.logprobs, end.model_logprobs, end.length, end.reason)

    def pinned(*args):
        with activation_sharding(mesh):
            return run(*args)

    return jax.jit(pinned)


def generate(
    model: nnx.Module,
    batch: Mapping[str, Any],
    *,
    max_new_tokens: int,
    num_samples: int = 1,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    eos_ids: Sequence[int],
    rng: jax.Array,
    stop_sequences: Sequence[Sequence[int]] = (),
    pad_id: int = 0,
    suppress_ids: Sequence[int] = (),
    mesh: Mesh | None = None,
) -> SampleOutput:
    """G = `num_samples` completions for each (left-padded) prompt of `batch`.

    `batch` holds `input_ids` [B, L], optional `attention_mask` [B, L] (1 = real token; padding
    on the left), and optional `pixel_values` [patches, 1536] with `image_grid_thw` [images, 3]
    in the model's conventions. A row stops at any id of `eos_ids`, at the end of any token
    sequence of `stop_sequences` (stop strings tokenized, see `stop_sequences_for`), or after
    `max_new_tokens`. `temperature=0` is greedy. The same `rng` gives the same output.
    `suppress_ids` are never sampled (the vision placeholders: a completion holding an image-pad
    token would claim image features in the trainer's forward pass); `model_logprobs` stay
    those of the unrestricted model, as the trainer recomputes them. With a `mesh` (the
    model's, see models/sharding.py) prompts, cache and outputs are split by row over data x
    fsdp and the cache's KV heads over tensor; without one, XLA places them from the
    parameters' shardings alone (the prompt is read back to the host for its checks, so its own
    sharding is not kept), which on (2, 2, 2) left the loop state replicated."""
    input_ids = np.asarray(batch["input_ids"])
    mask = batch.get("attention_mask")
    mask = np.ones_like(input_ids) if mask is None else np.asarray(mask)
    pixel_values, grid = batch.get("pixel_values"), batch.get("image_grid_thw")
    if pixel_values is not None and grid is not None and len(grid) == 0:
        pixel_values = grid = None  # a batch without images (collated to empty arrays)
    _check(
        model,
        input_ids,
        mask,
        pixel_values,
        grid,
        max_new_tokens,
        num_samples,
        eos_ids,
        temperature,
        top_p,
    )
    graphdef, state = nnx.split(model)
    settings = (
        int(max_new_tokens),
        int(num_samples),
        float(temperature),
        int(top_k),
        float(top_p),
        tuple(int(e) for e in eos_ids),
        tuple(tuple(int(t) for t in s) for s in stop_sequences if len(s)),
        int(pad_id),
        tuple(sorted(int(i) for i in suppress_ids)),
    )
    run = _compiled(graphdef, settings, mesh)
    return run(state, jnp.asarray(input_ids), jnp.asarray(mask), pixel_values, grid, rng)


def _check(
    model, input_ids, mask, pixel_values, grid, max_new, samples, eos_ids, temperature, top_p
):
    if input_ids.ndim != 2 or input_ids.shape[1] == 0:
        raise SamplingError(
            f"input_ids must be [batch, length] with length > 0; got shape {input_ids.shape}"
        )
    if mask.shape != input_ids.shape:
        raise SamplingError(
            f"attention_mask has shape {mask.shape}, input_ids {input_ids.shape}; they must match"
        )
    empty = np.flatnonzero(mask.sum(axis=1) == 0)
    if empty.size:
        raise SamplingError(
            f"prompt rows {empty.tolist()} are empty (attention_mask all 0); drop them"
        )
    if np.any(mask[:, -1] == 0):
        raise SamplingError(
            "prompts must be left-padded: attention_mask[:, -1] must be 1 on every row"
        )
    if max_new < 1 or samples < 1:
        raise SamplingError(f"max_new_tokens={max_new} and num_samples={samples} must both be >= 1")
    limit = model.config.text.max_position_embeddings
    if input_ids.shape[1] + max_new > limit:
        raise SamplingError(
            f"prompt length {input_ids.shape[1]} + max_new_tokens {max_new} exceeds the model's "
            f"{limit} positions; shorten the prompt or lower max_new_tokens"
        )
    if not len(eos_ids):
        raise SamplingError("eos_ids is empty; pass the tokenizer's end-of-turn id(s)")
    if temperature < 0 or not 0 < top_p <= 1:
        raise SamplingError(f"temperature={temperature} must be >= 0 and top_p={top_p} in (0, 1]")
    if (pixel_values is None) != (grid is None):
        raise SamplingError("pass pixel_values and image_grid_thw together, or neither")
    if pixel_values is not None:
        model.check_images(input_ids, np.asarray(pixel_values), grid)


def stop_sequences_for(tokenizer, strings: Sequence[str]) -> list[list[int]]:
    """Token sequences of `strings` as the tokenizer writes them on their own. A stop string
    that the model spells with other tokens in context is not caught: prefer EOS ids."""
    return [tokenizer.encode(s, add_special_tokens=False) for s in strings]
