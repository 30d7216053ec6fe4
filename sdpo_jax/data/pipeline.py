"""The grain prompt pipeline: records -> shuffled, host-sharded batches of model-ready prompts.

    records -> shuffle(seed), reshuffled every epoch -> repeat -> this host's block of each
      global batch -> load images + chat template + tokenize (bad records become None and are counted)
      -> drop the bad -> batch -> left-pad to a length bucket

Fixed shapes keep the compiled sampler and train step to a handful of variants: prompts are
left-padded to the next power of two (at least 64, at most `data.max_prompt_tokens`), and with
`data.image_size` set, every image is letterboxed onto that canvas so its patch grid is the same
for every prompt. The iterator's position (`get_state` / `set_state`) goes into checkpoints, so
a resumed run sees exactly the prompts an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from typing import Any

import grain
import numpy as np
from PIL import Image

from sdpo_jax.data.records import PromptRecord

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Prompt:
    """One loaded record: its images (kept for the teacher's context) and its encoding."""

    record: PromptRecord
    images: list[Image.Image]
    encoded: dict[str, np.ndarray]


@dataclasses.dataclass
class PromptBatch:
    prompts: list[Prompt]
    inputs: dict[str, np.ndarray]  # input_ids, attention_mask, pixel_values, image_grid_thw, ...

    @property
    def records(self) -> list[PromptRecord]:
        return [p.record for p in self.prompts]


@dataclasses.dataclass
class SkipCounter:
    """Bad records seen by this process, by reason; the trainer logs it."""

    count: int = 0
    reasons: list[str] = dataclasses.field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        self.reasons.append(reason)
        log.warning("skipped a bad data record: %s", reason)


def letterbox(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` scaled to fit `size` (width, height) keeping its aspect, centered on white."""
    image = image.convert("RGB")
    scale = min(size[0] / image.width, size[1] / image.height)
    fitted = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BICUBIC
    )
    canvas = Image.new("RGB", size, (255, 255, 255))
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    return canvas


def bucket_length(length: int, limit: int, smallest: int = 64) -> int:
    bucket = smallest
    while bucket < length:
        bucket *= 2
    return min(bucket, limit)


class LoadPrompt(grain.transforms.Map):
    """Record -> Prompt, or None (counted in `skipped`) when an image is missing or unreadable,
    or the prompt does not fit `max_tokens`."""

    def __init__(
        self,
        encoder,
        *,
        max_tokens: int,
        image_size: tuple[int, int] | None,
        skipped: SkipCounter,
        records: int,
    ):
        self.encoder, self.max_tokens, self.image_size, self.skipped = (
            encoder,
            max_tokens,
            image_size,
            skipped,
        )
        self.records, self.failures, self.loaded_any = records, 0, False
        self._lock = threading.Lock()  # grain maps on prefetch threads, out of order

    def map(self, record: PromptRecord) -> Prompt | None:
        prompt = self._load(record)
        with self._lock:
            self.loaded_any |= prompt is not None
            self.failures += prompt is None
            hopeless = not self.loaded_any and self.failures >= self.records
        if hopeless:
            # As many failures as records and not one success: stop rather than loop forever.
            raise ValueError(
                f"none of the {self.records} data records loads; last problem: {self.skipped.reasons[-1]}"
            )
        return prompt

    def _load(self, record: PromptRecord) -> Prompt | None:
        try:
            images = []
            for path in record.image_paths():
                with Image.open(path) as raw:
                    raw.load()
                    images.append(
                        letterbox(raw, self.image_size) if self.image_size else raw.convert("RGB")
                    )
            encoded = self.encoder.encode(template_messages(record.messages), images)
            if record.target is not None:  # rewards compare every rollout with it
                with Image.open(record.target) as target:
                    target.verify()
        except (OSError, ValueError) as err:
            self.skipped.add(f"{record.id}: {type(err).__name__}: {err}")
            return None
        if len(encoded["input_ids"]) > self.max_tokens:
            self.skipped.add(
                f"{record.id}: prompt of {len(encoded['input_ids'])} tokens exceeds "
                f"data.max_prompt_tokens={self.max_tokens}"
            )
            return None
        return Prompt(record, images, encoded)


def template_messages(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the chat template takes them: image parts become bare placeholders."""
    return [
        {
            "role": m["role"],
            "content": m["content"]
            if isinstance(m["content"], str)
            else [{"type": "image"} if p["type"] == "image" else p for p in m["content"]],
        }
        for m in messages
    ]


def prompt_batches(
    records: Sequence[PromptRecord],
    encoder,
    *,
    batch_size: int,
    seed: int,
    max_prompt_tokens: int,
    image_size: tuple[int, int] | None = None,
    shard: tuple[int, int] = (0, 1),
    skipped: SkipCounter | None = None,
) -> grain.DatasetIterator:
    """An endless, checkpointable iterator of `PromptBatch`es of `batch_size` prompts: this
    host's block (`shard` = (process index, process count)) of each global batch.

    Every host walks the same shuffled order of all records, and global batch k is the next
    `batch_size` x count of them: host i loads only block i. So the global batch holds the same
    prompts in the same order for any number of hosts. A record that does not load is replaced
    by the host's next one, which shifts that host's later blocks by one record."""
    index, count = shard
    order = grain.MapDataset.source(list(records)).shuffle(seed=seed).repeat(None)

    def slot(position: int) -> PromptRecord:
        """The record at this host's `position`: its block of the global batch it falls in."""
        batch, row = divmod(position, batch_size)
        return order[(batch * count + index) * batch_size + row]

    skipped = skipped if skipped is not None else SkipCounter()
    load = LoadPrompt(
        encoder,
        max_tokens=max_prompt_tokens,
        image_size=image_size,
        skipped=skipped,
        records=len(records),
    )

    def collate(prompts: Sequence[Prompt]) -> PromptBatch:
        longest = max(len(p.encoded["input_ids"]) for p in prompts)
        length = bucket_length(longest, max_prompt_tokens)
        return PromptBatch(list(prompts), encoder.collate([p.encoded for p in prompts], length))

    dataset = (
        grain.MapDataset.range(len(order) // count)
        .map(slot)
        .map(load)
        .filter(lambda prompt: prompt is not None)
        .to_iter_dataset()
        .batch(batch_size, batch_fn=collate)
    )
    return iter(dataset)
