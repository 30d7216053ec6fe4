"""Qwen3-VL in Flax NNX with Hugging Face import/export. See docs/models.md."""

from models.qwen3_vl.config import Qwen3VLConfig, TextConfig, VisionConfig, preset
from models.qwen3_vl.hf import load_hf, save_hf
from models.qwen3_vl.model import KVCache, Qwen3VL, Qwen3VLOutput
from models.qwen3_vl.rope import get_rope_index

__all__ = [
    "KVCache",
    "Qwen3VL",
    "Qwen3VLConfig",
    "Qwen3VLOutput",
    "TextConfig",
    "VisionConfig",
    "get_rope_index",
    "load_hf",
    "preset",
    "save_hf",
]
