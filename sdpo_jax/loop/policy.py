"""The policy as the trainer, the evaluator and the warm start sample it: which tokens end a
completion, which are never drawn, and prompts collated into one fixed-shape batch.

    inputs = collate(encoder, [p.encoded for p in prompts], size=8)
    out = sample(model, inputs, encoder.tokenizer, sampling, rng=key)
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from sdpo_jax import hosts
from sdpo_jax.config import SamplingConfig
from sdpo_jax.data.pipeline import bucket_length
from sdpo_jax.loop.sampling import SampleOutput, generate

# Never sampled: a completion holding one would claim image features in the forward pass.
VISION_TOKENS = (
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)


# The chat's end of turn and the model's end of text: Qwen3-VL's generation config stops at both.
END_TOKENS = ("<|im_end|>", "<|endoftext|>")


def eos_ids(tokenizer) -> list[int]:
    """The ids that end a completion: `END_TOKENS` the vocabulary has, and the tokenizer's EOS."""
    vocab = tokenizer.get_vocab()
    ids = {vocab[token] for token in END_TOKENS if token in vocab} | {tokenizer.eos_token_id}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0)


def collate(
    encoder, encodings: Sequence[dict[str, np.ndarray]], *, size: int | None = None
) -> dict[str, np.ndarray]:
    """Encoded prompts left-padded to a length bucket (a power of two); with `size`, a short
    batch is filled with copies of its last prompt, so every batch reuses one compiled sampler
    (drop the extra rows' outputs)."""
    filled = list(encodings) + [encodings[-1]] * ((size or len(encodings)) - len(encodings))
    longest = max(len(e["input_ids"]) for e in filled)
    return encoder.collate(filled, bucket_length(longest, limit=1 << 20))


def sample(
    model,
    inputs: dict[str, np.ndarray],
    tokenizer,
    sampling: SamplingConfig,
    *,
    rng: jax.Array,
    num_samples: int | None = None,
    temperature: float | None = None,
    mesh=None,
) -> SampleOutput:
    """Completions of `inputs` as `sampling` configures them (`num_samples` and
    `temperature` override it: evaluation draws one, greedy by default).

    With several processes, all of them call it together, each with its own prompts (as many
    as the others): the sampler runs on all of them, in process order, so a row's randomness
    is that of its place in the global batch, and each process gets its own rows back."""
    pad_id = tokenizer.pad_token_id or 0
    out = generate(
        model,
        gather_prompts(inputs, pad_id),
        max_new_tokens=sampling.max_new_tokens,
        num_samples=sampling.num_samples if num_samples is None else num_samples,
        temperature=sampling.temperature if temperature is None else temperature,
        top_k=sampling.top_k,
        top_p=sampling.top_p,
        eos_ids=eos_ids(tokenizer),
        rng=rng,
        pad_id=pad_id,
        suppress_ids=tokenizer.convert_tokens_to_ids(list(VISION_TOKENS)),
        mesh=mesh,
    )
    return SampleOutput(*map(hosts.own_rows, out))


def gather_prompts(inputs: dict[str, np.ndarray], pad_id: int) -> dict[str, np.ndarray]:
    """Every process's prompts as one batch, in process order: left-padded to the longest
    length bucket of any process, with all of their images (the sampler's inputs are the same
    on every process)."""
    if jax.process_count() == 1:
        return inputs
    (length,) = hosts.largest(inputs["input_ids"].shape[1])
    left = lambda x, value: np.pad(x, ((0, 0), (length - x.shape[1], 0)), constant_values=value)
    gathered = {
        "input_ids": hosts.gather(left(inputs["input_ids"], pad_id)),
        "attention_mask": hosts.gather(left(inputs["attention_mask"], 0)),
    }
    for key in ("pixel_values", "image_grid_thw"):
        if key in inputs:
            gathered[key] = hosts.gather(inputs[key])
    return gathered
