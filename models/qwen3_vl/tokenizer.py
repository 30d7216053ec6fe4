"""Chats with images → Qwen3-VL model inputs: tokenizer, chat template, image-token expansion.

The tokenizer comes from a model folder through transformers' own tokenizer classes, offline,
so the built-in tiny folder (models/qwen3_vl/assets/tiny) and a real Qwen3-VL folder load the
same way. The chat template renders each image as `<|vision_start|><|image_pad|><|vision_end|>`;
after tokenizing, every `<|image_pad|>` grows to t·h·w / merge_size² copies, one per merged
patch the vision tower emits for that image, and `mm_token_type_ids` marks them with 1. The
result equals what transformers' Qwen3VLProcessor produces for the same text and images.
"""

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image

# Only transformers' tokenizers are used here, which need no torch: its advice that torch is
# missing would greet every run that installed no torch.
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from models.qwen3_vl.processor import ImageProcessor

IMAGE_PAD = "<|image_pad|>"
TINY_FOLDER = Path(__file__).parent / "assets" / "tiny"
# Tokens the chat format and the vision path cannot do without.
REQUIRED_TOKENS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", IMAGE_PAD)
# Chat templates a folder may carry besides tokenizer_config.json's, most authoritative first:
# transformers 5 writes chat_template.jinja; Qwen-VL releases ship the processor's
# chat_template.json, the one that knows about images.
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")

Message = dict  # {"role": str, "content": str | list[{"type": "text"|"image", ...}]}


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerBase:
    """The folder's tokenizer with its chat template, padding on the left (for generation)."""
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file() and not (folder / "vocab.json").is_file():
        raise FileNotFoundError(
            f"no tokenizer in {folder}: point at a Qwen3-VL model folder with tokenizer.json "
            "and tokenizer_config.json"
        )
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    for name in TEMPLATE_FILES:
        path = folder / name
        if path.is_file():
            text = path.read_text()
            tokenizer.chat_template = (
                json.loads(text)["chat_template"] if name.endswith("json") else text
            )
            break
    if not tokenizer.chat_template:
        raise ValueError(
            f"{folder} has no chat template: add chat_template.jinja, chat_template.json or a "
            "chat_template entry in tokenizer_config.json"
        )
    missing = [t for t in REQUIRED_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        raise ValueError(f"the tokenizer in {folder} lacks Qwen-VL tokens {missing}")
    tokenizer.padding_side = "left"
    return tokenizer


def expand_image_tokens(
    input_ids: Sequence[int], image_grid_thw: np.ndarray, merge_size: int, image_pad_id: int
) -> np.ndarray:
    """Repeat the k-th image pad token t·h·w / merge_size² times for the k-th grid."""
    ids = np.asarray(input_ids, np.int32)
    grids = np.asarray(image_grid_thw, np.int64).reshape(-1, 3)
    positions = np.flatnonzero(ids == image_pad_id)
    if len(positions) != len(grids):
        raise ValueError(
            f"the text has {len(positions)} {IMAGE_PAD} tokens but {len(grids)} images were "
            "given: put exactly one {'type': 'image'} item in the messages per image"
        )
    if np.any(grids[:, 1:] % merge_size):
        raise ValueError(
            f"image grids {grids.tolist()} are not multiples of merge_size={merge_size}; "
            "make them with ImageProcessor"
        )
    repeats = np.ones(len(ids), np.int64)
    repeats[positions] = grids.prod(axis=1) // merge_size**2
    return np.repeat(ids, repeats)


def left_pad(rows: Sequence[np.ndarray], value: int, length: int) -> np.ndarray:
    """Stack 1-D rows into (len(rows), length), right-aligned, filling on the left."""
    out = np.full((len(rows), length), value, np.int32)
    for i, row in enumerate(rows):
        if len(row):
            out[i, -len(row) :] = row
    return out


@dataclasses.dataclass(frozen=True)
class ChatEncoder:
    """Tokenizer plus image processor of one model folder: chats with images → model inputs.

    `ChatEncoder.from_folder(path)` loads both; `ChatEncoder.tiny()` is the built-in tiny model's.
    """

    tokenizer: PreTrainedTokenizerBase
    image_processor: ImageProcessor

    @classmethod
    def from_folder(cls, folder: str | Path) -> "ChatEncoder":
        return cls(load_tokenizer(folder), ImageProcessor.from_folder(folder))

    @classmethod
    def tiny(cls) -> "ChatEncoder":
        return cls.from_folder(TINY_FOLDER)

    @property
    def image_pad_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(IMAGE_PAD)

    def chat_text(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """The conversation in Qwen's chat format, one image placeholder per image item."""
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt
        )

    def encode_text(
        self, text: str, images: Sequence[PIL.Image.Image] = ()
    ) -> dict[str, np.ndarray]:
        """One already-templated text with its images, unpadded.

        Returns input_ids and mm_token_type_ids (int32, (L,)), pixel_values (float32,
        (Σ h·w, 1536)) and image_grid_thw (int64, (n, 3)).
        """
        vision = self.image_processor(images)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = expand_image_tokens(
            ids, vision["image_grid_thw"], self.image_processor.merge_size, self.image_pad_id
        )
        return {
            "input_ids": ids,
            "mm_token_type_ids": (ids == self.image_pad_id).astype(np.int32),
            **vision,
        }

    def encode(
        self,
        messages: Sequence[Message],
        images: Sequence[PIL.Image.Image] = (),
        add_generation_prompt: bool = True,
    ) -> dict[str, np.ndarray]:
        """One conversation; `images` fill its image items in order. See `encode_text`."""
        return self.encode_text(self.chat_text(messages, add_generation_prompt), images)

    def collate(
        self, examples: Sequence[dict[str, np.ndarray]], length: int | None = None
    ) -> dict[str, np.ndarray]:
        """Left-pad encoded examples into one batch (to `length` tokens, else the longest).

        Pads are the tokenizer's pad token with attention_mask 0 and mm_token_type_ids 0;
        pixel_values and image_grid_thw are concatenated in example order.
        """
        longest = max((len(e["input_ids"]) for e in examples), default=0)
        length = longest if length is None else length
        if longest > length:
            raise ValueError(
                f"an example has {longest} tokens, more than the batch length {length}: "
                "raise the length or shorten the prompt"
            )
        ids = [e["input_ids"] for e in examples]
        return {
            "input_ids": left_pad(ids, self.tokenizer.pad_token_id, length),
            "attention_mask": left_pad([np.ones(len(row), np.int32) for row in ids], 0, length),
            "mm_token_type_ids": left_pad([e["mm_token_type_ids"] for e in examples], 0, length),
            "pixel_values": np.concatenate(
                [e["pixel_values"] for e in examples]
                or [np.zeros((0, self.image_processor.patch_dim), np.float32)]
            ),
            "image_grid_thw": np.concatenate(
                [e["image_grid_thw"] for e in examples] or [np.zeros((0, 3), np.int64)]
            ),
        }

    def batch(
        self,
        conversations: Sequence[Sequence[Message]],
        images: Sequence[Sequence[PIL.Image.Image]],
        add_generation_prompt: bool = True,
        length: int | None = None,
    ) -> dict[str, np.ndarray]:
        """Model batch for several conversations, `images[i]` belonging to conversation i:
        input_ids, attention_mask, pixel_values, image_grid_thw, mm_token_type_ids."""
        if len(conversations) != len(images):
            raise ValueError(
                f"{len(conversations)} conversations but {len(images)} image lists: pass one "
                "list of images per conversation (empty for text-only)"
            )
        examples = []
        for index, (messages, own_images) in enumerate(zip(conversations, images)):
            try:
                examples.append(self.encode(messages, own_images, add_generation_prompt))
            except ValueError as error:
                raise ValueError(f"conversation {index}: {error}") from None
        return self.collate(examples, length)
