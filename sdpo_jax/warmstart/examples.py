"""Supervised examples and their batches: a prompt (or teacher context) and the answer the loss
is taken on, as the warm start trains them and the reading probe scores them."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from PIL import Image

from sdpo_jax.loop.batch import completion_mask, stack_microbatches
from sdpo_jax.method.credit import DOMAIN_LANGUAGES


@dataclasses.dataclass(frozen=True)
class Example:
    """One supervised sequence: an encoded prompt and its images, and the answer's token ids
    (end of turn included) that the loss is taken on. The images' pixel values are computed
    when a batch is made (a millisecond each): kept for thousands of examples they would take
    gigabytes. `weights` puts the loss on some answer tokens (None: all alike)."""

    prompt: dict[str, np.ndarray]  # input_ids, mm_token_type_ids, image_grid_thw
    images: tuple[Image.Image, ...]
    answer: np.ndarray
    weights: np.ndarray | None = None

    @classmethod
    def of(
        cls, encoded: dict[str, np.ndarray], images, answer: np.ndarray, weights=None
    ) -> Example:
        """From an encoding whose images are the first of `images` (a teacher context holds the
        prompt's images, then the render unless the cap dropped it)."""
        kept = tuple(images[: len(encoded["image_grid_thw"])])
        prompt = {k: v for k, v in encoded.items() if k != "pixel_values"}
        return cls(prompt, kept, answer, weights)


def answer_text(code: str, domain: str) -> str:
    """A program as the policy writes it: one fenced block in the domain's language."""
    return f"```{DOMAIN_LANGUAGES[domain][0]}\n{code.rstrip()}\n```"


def answer_ids(tokenizer, code: str, domain: str) -> np.ndarray:
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = tokenizer.encode(answer_text(code, domain), add_special_tokens=False)
    return np.asarray([*ids, end], np.int32)


# Padded lengths: powers of two and the midpoints between them, so a batch wastes at most a
# third on padding while the step compiles for a few dozen shapes (fewer live at once where
# the kernel's memory-map limit is near: see `memory_maps`).
LADDER = tuple(sorted({b for k in range(6, 13) for b in (1 << k, 3 << (k - 1))}))


def padded(length: int) -> int:
    return next(b for b in LADDER if b >= length)


def length_groups(examples: Sequence[Example]) -> dict[tuple[int, int], list[Example]]:
    """Examples by padded (prompt, answer) lengths: a batch drawn from one group is padded
    little, and the step compiles once per group."""
    groups: dict[tuple[int, int], list[Example]] = {}
    for e in examples:
        key = (padded(len(e.prompt["input_ids"])), padded(len(e.answer)))
        groups.setdefault(key, []).append(e)
    return groups


def make_batch(encoder, examples: Sequence[Example]) -> dict:
    """Prompts left-padded and answers right-padded to `padded` lengths, vision inputs padded
    to bucket sizes as in the train batch."""
    lengths = np.array([len(e.answer) for e in examples])
    width = padded(int(lengths.max()))
    tokens = np.zeros((len(examples), width), np.int32)
    for row, e in enumerate(examples):
        tokens[row, : len(e.answer)] = e.answer
    prompt_len = padded(max(len(e.prompt["input_ids"]) for e in examples))
    pixels = lambda e: encoder.image_processor(e.images)["pixel_values"]
    inputs = stack_microbatches(
        [e.prompt | {"pixel_values": pixels(e)} for e in examples],
        encoder.collate,
        [np.arange(len(examples))],
        prompt_len,
        tokens,
        lengths,
    )
    mask = completion_mask(lengths, width).astype(np.float32)
    for row, e in enumerate(examples):
        if e.weights is not None:
            mask[row, : len(e.answer)] *= e.weights
    return {"inputs": {k: v[0] for k, v in inputs.items()}, "tokens": tokens, "mask": mask}
