"""Build the tiny model's folder assets: tokenizer, chat template and image preprocessing config.

    python -m models.qwen3_vl.make_tiny_tokenizer [--out models/qwen3_vl/assets/tiny]

The tiny model loads through the same path as a real Qwen3-VL folder, so its tokenizer has the
real one's shape at a smaller size: byte-level BPE with Qwen's normalizer (NFC) and split regex,
4000 ordinary tokens (ids 0..3999) trained on `tiny_corpus`, then Qwen's 26 special and added
tokens in Qwen's order at 4000 + (qwen id − 151643). The model's vocab_size is 4096; ids
4026..4095 are unused rows of the embedding table. Training is deterministic, so running this
twice writes identical files (a test checks it against the committed assets).
"""

import argparse
import json
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    models,
    normalizers,
    processors,
    trainers,
)
from tokenizers import pre_tokenizers as pre

from models.qwen3_vl import tiny_corpus

ASSETS = Path(__file__).parent / "assets" / "tiny"
ORDINARY_TOKENS = 4000

# Qwen2/Qwen3 pre-tokenization: contractions, letter runs with one leading non-letter, single
# digits, punctuation runs, newlines, spaces. Published in Qwen's tokenizer.json.
QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Qwen's special tokens (ids 151643..151656 in Qwen), then its added non-special tokens.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
ADDED_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)

# Qwen chat format: <|im_start|>role\n ... <|im_end|>\n per message; each image becomes
# <|vision_start|><|image_pad|><|vision_end|>, which the processor later expands to one pad per
# merged patch; the generation prompt opens an assistant turn. Content is a string or a list of
# {"type": "text", "text": ...} / {"type": "image"} items.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' or 'image' in item or 'image_url' in item -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif 'text' in item -%}"
    "{{- item['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)

# Image bounds for a CPU-sized model: at most 64 merged tokens per image (a 1280×720 render
# becomes 320×192 pixels, 60 tokens), at least 4.
TINY_PREPROCESSOR = {
    "size": {"shortest_edge": 4 * 32 * 32, "longest_edge": 64 * 32 * 32},
    "patch_size": 16,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
    "do_resize": True,
    "do_rescale": True,
    "do_normalize": True,
    "do_convert_rgb": True,
    "resample": 3,
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen3VLProcessor",
}


def train_tokenizer() -> Tokenizer:
    """Byte-level BPE with Qwen's pre-tokenization, trained on the bundled corpus."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre.Sequence(
        [
            pre.Split(Regex(QWEN_SPLIT), behavior="isolated"),
            pre.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    # trim_offsets=False keeps a token's leading space inside its character span.
    tokenizer.post_processor = processors.ByteLevel(
        add_prefix_space=False, trim_offsets=False, use_regex=False
    )
    trainer = trainers.BpeTrainer(
        vocab_size=ORDINARY_TOKENS,
        min_frequency=2,
        initial_alphabet=pre.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(tiny_corpus.documents(), trainer)
    if tokenizer.get_vocab_size() != ORDINARY_TOKENS:
        raise RuntimeError(
            f"BPE learned {tokenizer.get_vocab_size()} tokens, not {ORDINARY_TOKENS}: "
            "enlarge tiny_corpus.documents()"
        )
    tokenizer.add_special_tokens([AddedToken(t, normalized=False) for t in SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, normalized=False, special=False) for t in ADDED_TOKENS])
    return tokenizer


def tokenizer_config() -> dict:
    """tokenizer_config.json in the layout of Qwen's own folders."""
    added = {
        str(ORDINARY_TOKENS + index): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": token in SPECIAL_TOKENS,
        }
        for index, token in enumerate(SPECIAL_TOKENS + ADDED_TOKENS)
    }
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "bos_token": None,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>",
        "errors": "replace",
        "model_max_length": 32768,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


def write_assets(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.json").write_text(train_tokenizer().to_str(pretty=True) + "\n")
    for name, content in (
        ("tokenizer_config.json", tokenizer_config()),
        ("preprocessor_config.json", TINY_PREPROCESSOR),
    ):
        (out / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder to write the assets to")
    write_assets(parser.parse_args().out)


if __name__ == "__main__":
    main()
