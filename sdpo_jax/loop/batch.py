"""Assembly of one training batch in fixed shapes, on the host.

For R = prompts × G rollouts with completions of T tokens (the sampler's `max_new_tokens`):

    student   [R, P + T]: the left-padded prompt (P tokens), then the completion
    teacher   [R, Pt + T]: the left-padded teacher context (prompt + feedback), then the same
              completion token for token
    tokens, mask, sd_mask, weights, sampler_logprobs  [R, T];  advantages [R]

`sd_mask` is `mask` on the rows that are distilled and 0 on the rows the self-distillation
leaves out (SDPO's mask: feedback with nothing to teach).

so completion token t sits at index P + t (student) and Pt + t (teacher) in every row, and the
logits that predict it at P + t − 1 and Pt + t − 1.

Rows are split into `microbatches` groups of whole prompts and stacked on a leading axis, which
the train step scans over. A microbatch holds each distinct image once: the G rollouts of a
prompt show the same target image (and identical renders are identical images), so
`pixel_values` / `image_grid_thw` list the distinct images and `image_index` names the one each
image in the tokens shows. Images differ in number between rows (a failed render adds none to
the teacher's context), so each microbatch's vision inputs are padded to bucketed sizes with
filler images and index entries that no token refers to: the model encodes them and ignores the
result, and the compiled step sees a handful of shapes instead of one per batch.

With several processes each assembles its own rows (its block of every microbatch) at the
lengths of the longest rows of any process, and every microbatch's images are those of all
processes in row order (the train step sees them on every device, sdpo_jax/hosts.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from sdpo_jax import hosts
from sdpo_jax.data.pipeline import bucket_length

FILLER_FRAME = (1, 2, 2)  # the smallest merge-aligned image: 4 patches


def pad_vision(
    pixel_values: np.ndarray, grid: np.ndarray, *, patches: int, images: int
) -> tuple[np.ndarray, np.ndarray]:
    """Appends filler images (zeros) so that there are exactly `patches` rows and `images` grid
    entries. The fillers come last, after every real image, so the image-pad tokens still map to
    the real features in order."""
    n, k = len(pixel_values), len(grid)
    extra = patches - n
    if k >= images or extra < 4 * (images - k) or extra % 4:
        raise ValueError(
            f"cannot pad {n} patches / {k} images to {patches} / {images}: need room for at "
            "least one 4-patch filler per missing image"
        )
    fillers = [FILLER_FRAME] * (images - k - 1)
    rest = extra - 4 * len(fillers)
    fillers.append((1, 2, rest // 2))
    pad_grid = np.asarray(fillers, grid.dtype).reshape(-1, 3)
    pad_rows = np.zeros((extra, pixel_values.shape[1]), pixel_values.dtype)
    return np.concatenate([pixel_values, pad_rows]), np.concatenate([grid, pad_grid])


def encode_once(
    pixel_values: np.ndarray, grid: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixel rows, grids) of the distinct images among `grid`'s, in first-seen order, and for
    each original image the index of its distinct copy."""
    images = np.split(pixel_values, np.cumsum(np.prod(grid, axis=1))[:-1])
    first: dict[bytes, int] = {}
    kept, index = [], []
    for i, (rows, thw) in enumerate(zip(images, grid)):
        digest = hashlib.blake2b(np.ascontiguousarray(rows), digest_size=16)
        digest.update(np.asarray(thw, np.int64).tobytes())
        key = digest.digest()
        if key not in first:
            first[key] = len(kept)
            kept.append(i)
        index.append(first[key])
    pixels = np.concatenate([images[i] for i in kept] or [pixel_values[:0]])
    return pixels, grid[kept], np.asarray(index, np.int32)


def completion_mask(lengths: np.ndarray, length: int) -> np.ndarray:
    return (np.arange(length)[None, :] < np.asarray(lengths)[:, None]).astype(np.int32)


def append_completions(
    prompts: dict[str, np.ndarray], tokens: np.ndarray, lengths: np.ndarray
) -> dict[str, np.ndarray]:
    """Left-padded prompt inputs [R, P] extended by completion tokens [R, T]; attention covers
    each completion up to its length."""
    mask = completion_mask(lengths, tokens.shape[1])
    out = dict(prompts)
    out["input_ids"] = np.concatenate(
        [prompts["input_ids"], tokens.astype(prompts["input_ids"].dtype)], 1
    )
    out["attention_mask"] = np.concatenate([prompts["attention_mask"], mask], 1)
    if "mm_token_type_ids" in prompts:
        out["mm_token_type_ids"] = np.concatenate(
            [prompts["mm_token_type_ids"], np.zeros_like(mask)], 1
        )
    return out


def vision_buckets(batches: Sequence[dict[str, np.ndarray]]) -> tuple[int, int]:
    """(patches, images) every microbatch is padded to: the next power of two above the most
    images (room for at least one filler), and the next power of two (at least 64) that holds
    each microbatch's patches plus a 4-patch filler for each image it lacks."""
    images = bucket_length(max(len(b["image_grid_thw"]) for b in batches) + 1, 1 << 40, 2)
    needed = max(len(b["pixel_values"]) + 4 * (images - len(b["image_grid_thw"])) for b in batches)
    return bucket_length(needed, limit=1 << 40), images


def split_microbatches(rows: int, microbatches: int, group_size: int) -> list[np.ndarray]:
    """Row indices of each microbatch: consecutive, whole groups of `group_size` rows."""
    if rows % (microbatches * group_size):
        raise ValueError(
            f"{rows} rollouts cannot be split into {microbatches} microbatches of whole groups of "
            f"{group_size}; make train.microbatches divide train.batch_prompts"
        )
    return np.split(np.arange(rows), microbatches)


def stack_microbatches(
    examples: Sequence[dict[str, np.ndarray]],
    collate,
    parts: list[np.ndarray],
    length: int,
    tokens: np.ndarray,
    lengths: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per microbatch: collate its encoded prompts (left-padded to `length`), append its
    completions, pad its vision inputs to shared bucket sizes; then stack the microbatches on a
    new leading axis. Without any image in the batch the vision inputs are left out."""
    batches = [
        append_completions(
            collate([examples[i] for i in part], length), tokens[part], lengths[part]
        )
        for part in parts
    ]
    for b in batches:  # every process's images of the microbatch, in row order, each once
        b["pixel_values"], b["image_grid_thw"], b["image_index"] = encode_once(
            hosts.gather(b["pixel_values"]), hosts.gather(b["image_grid_thw"])
        )
    if max(len(b["image_grid_thw"]) for b in batches) == 0:
        for b in batches:
            del b["pixel_values"], b["image_grid_thw"], b["image_index"]
    else:
        patches, images = vision_buckets(batches)
        shown = bucket_length(max(len(b["image_index"]) for b in batches), 1 << 40, 1)
        for b in batches:
            b["pixel_values"], b["image_grid_thw"] = pad_vision(
                b["pixel_values"], b["image_grid_thw"], patches=patches, images=images
            )
            b["image_index"] = np.pad(b["image_index"], (0, shown - len(b["image_index"])))
    return {key: np.stack([b[key] for b in batches]) for key in batches[0]}


def assemble(
    collate,
    student_examples: Sequence[dict[str, np.ndarray]],
    teacher_examples: Sequence[dict[str, np.ndarray]],
    *,
    tokens: np.ndarray,
    lengths: np.ndarray,
    sampler_logprobs: np.ndarray,
    weights: np.ndarray,
    advantages: np.ndarray,
    distilled: np.ndarray | None = None,
    group_size: int,
    microbatches: int,
    max_prompt_tokens: int,
) -> dict[str, dict[str, np.ndarray] | np.ndarray]:
    """The train step's batch: `student` and `teacher` input dicts and the per-token arrays,
    every array with a leading microbatch axis. One encoded example per rollout on each side;
    `distilled` [R] marks the rows the self-distillation term sees (all when None)."""
    rows = len(tokens)
    if not len(student_examples) == len(teacher_examples) == rows == len(advantages):
        raise ValueError(
            f"batch parts disagree: {len(student_examples)} student prompts, "
            f"{len(teacher_examples)} teacher contexts, {rows} completions, "
            f"{len(advantages)} advantages; pass one of each per rollout"
        )
    if weights.shape != tokens.shape or sampler_logprobs.shape != tokens.shape:
        raise ValueError(
            f"weights {weights.shape} and sampler_logprobs {sampler_logprobs.shape} must match "
            f"the completion tokens {tokens.shape}"
        )
    parts = split_microbatches(rows, microbatches, group_size)
    mask = completion_mask(lengths, tokens.shape[1]).astype(np.float32)
    distilled = np.ones(rows, bool) if distilled is None else np.asarray(distilled, bool)
    longest = lambda examples: max(len(e["input_ids"]) for e in examples)
    student_longest, teacher_longest = hosts.largest(
        longest(student_examples), longest(teacher_examples)
    )
    student_len = bucket_length(student_longest, max_prompt_tokens)
    teacher_len = bucket_length(teacher_longest, limit=1 << 20)
    stack = lambda x: np.stack([x[part] for part in parts])
    return {
        "student": stack_microbatches(
            student_examples, collate, parts, student_len, tokens, lengths
        ),
        "teacher": stack_microbatches(
            teacher_examples, collate, parts, teacher_len, tokens, lengths
        ),
        "tokens": stack(tokens.astype(np.int32)),
        "mask": stack(mask),
        "sd_mask": stack(mask * distilled[:, None]),
        "weights": stack(weights.astype(np.float32)),
        "sampler_logprobs": stack(sampler_logprobs.astype(np.float32)),
        "advantages": stack(advantages.astype(np.float32)),
    }
