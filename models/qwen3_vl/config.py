"""Qwen3-VL configuration: typed, frozen, and convertible to and from a Hugging Face config.json.

Two config.json layouts exist in the wild. transformers 4.57 (the released Qwen3-VL checkpoints)
keeps `rope_theta` and `rope_scaling` in `text_config` and reads the tie flag from
`text_config.tie_word_embeddings`; transformers 5.x has `text_config.rope_parameters` and a
top-level `tie_word_embeddings`. Both are read; the 5.x layout is written, with the tie flag in
both places so either version loads the folder the same way.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class ConfigError(ValueError):
    """A config.json that does not describe a Qwen3-VL model this port can run."""


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    depth: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    out_hidden_size: int
    num_position_embeddings: int
    deepstack_visual_indexes: tuple[int, ...]
    in_channels: int = 3
    patch_size: int = 16
    temporal_patch_size: int = 2
    spatial_merge_size: int = 2
    rope_theta: float = 10000.0

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def patch_dim(self) -> int:
        """Values per `pixel_values` row: channels x frames x patch x patch (1536 here)."""
        return self.in_channels * self.temporal_patch_size * self.patch_size**2


@dataclasses.dataclass(frozen=True)
class TextConfig:
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rope_theta: float
    mrope_section: tuple[int, int, int]
    rms_norm_eps: float = 1e-6
    max_position_embeddings: int = 262144


@dataclasses.dataclass(frozen=True)
class Qwen3VLConfig:
    text: TextConfig
    vision: VisionConfig
    tie_word_embeddings: bool
    image_token_id: int = 151655
    video_token_id: int = 151656
    vision_start_token_id: int = 151652
    vision_end_token_id: int = 151653

    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> Qwen3VLConfig:
        """Reads a Hugging Face `config.json` dict (transformers 4.57 or 5.x layout)."""
        if d.get("model_type") != "qwen3_vl":
            raise ConfigError(
                f"config.json has model_type {d.get('model_type')!r}; this port loads only "
                "'qwen3_vl' (Qwen3-VL dense) checkpoints"
            )
        t, v = d.get("text_config"), d.get("vision_config")
        if not isinstance(t, dict) or not isinstance(v, dict):
            raise ConfigError(
                "config.json lacks text_config or vision_config; is it a Qwen3-VL config?"
            )
        rope = t.get("rope_parameters") or {
            **(t.get("rope_scaling") or {}),
            "rope_theta": t.get("rope_theta"),
        }
        if rope.get("rope_type", "default") != "default" or not rope.get("mrope_interleaved", True):
            raise ConfigError(
                f"text_config rope {rope} is not supported: only interleaved MRoPE is ported"
            )
        if t.get("hidden_act", "silu") != "silu" or v.get("hidden_act", "gelu_pytorch_tanh") != (
            "gelu_pytorch_tanh"
        ):
            raise ConfigError(
                "config.json activations differ from Qwen3-VL's (silu / gelu_pytorch_tanh)"
            )
        if t.get("attention_bias", False):
            raise ConfigError("text_config.attention_bias=true is not supported by this port")
        vision_rope = v.get("rope_parameters") or {}
        text = TextConfig(
            vocab_size=t["vocab_size"],
            hidden_size=t["hidden_size"],
            intermediate_size=t["intermediate_size"],
            num_hidden_layers=t["num_hidden_layers"],
            num_attention_heads=t["num_attention_heads"],
            num_key_value_heads=t.get("num_key_value_heads") or t["num_attention_heads"],
            head_dim=t.get("head_dim") or t["hidden_size"] // t["num_attention_heads"],
            rope_theta=float(rope.get("rope_theta") or 5_000_000.0),
            mrope_section=tuple(rope.get("mrope_section", (24, 20, 20))),
            rms_norm_eps=t.get("rms_norm_eps", 1e-6),
            max_position_embeddings=t.get("max_position_embeddings", 262144),
        )
        vision = VisionConfig(
            depth=v["depth"],
            hidden_size=v["hidden_size"],
            intermediate_size=v["intermediate_size"],
            num_heads=v["num_heads"],
            out_hidden_size=v["out_hidden_size"],
            num_position_embeddings=v["num_position_embeddings"],
            deepstack_visual_indexes=tuple(v.get("deepstack_visual_indexes", ())),
            in_channels=v.get("in_channels", 3),
            patch_size=v.get("patch_size", 16),
            temporal_patch_size=v.get("temporal_patch_size", 2),
            spatial_merge_size=v.get("spatial_merge_size", 2),
            rope_theta=float(vision_rope.get("rope_theta", 10000.0)),
        )
        return cls(
            text=text,
            vision=vision,
            tie_word_embeddings=_tie_flag(d),
            image_token_id=d.get("image_token_id", 151655),
            video_token_id=d.get("video_token_id", 151656),
            vision_start_token_id=d.get("vision_start_token_id", 151652),
            vision_end_token_id=d.get("vision_end_token_id", 151653),
        )

    def to_hf_dict(self) -> dict[str, Any]:
        """The config.json content transformers writes for this model (5.x layout)."""
        t, v = self.text, self.vision
        return {
            "architectures": ["Qwen3VLForConditionalGeneration"],
            "model_type": "qwen3_vl",
            "image_token_id": self.image_token_id,
            "video_token_id": self.video_token_id,
            "vision_start_token_id": self.vision_start_token_id,
            "vision_end_token_id": self.vision_end_token_id,
            "tie_word_embeddings": self.tie_word_embeddings,
            "text_config": {
                "model_type": "qwen3_vl_text",
                "vocab_size": t.vocab_size,
                "hidden_size": t.hidden_size,
                "intermediate_size": t.intermediate_size,
                "num_hidden_layers": t.num_hidden_layers,
                "num_attention_heads": t.num_attention_heads,
                "num_key_value_heads": t.num_key_value_heads,
                "head_dim": t.head_dim,
                "hidden_act": "silu",
                "rms_norm_eps": t.rms_norm_eps,
                "max_position_embeddings": t.max_position_embeddings,
                "attention_bias": False,
                "rope_parameters": {
                    "rope_type": "default",
                    "rope_theta": t.rope_theta,
                    "mrope_section": list(t.mrope_section),
                    "mrope_interleaved": True,
                },
                "tie_word_embeddings": self.tie_word_embeddings,
            },
            "vision_config": {
                "model_type": "qwen3_vl_vision",
                "depth": v.depth,
                "hidden_size": v.hidden_size,
                "intermediate_size": v.intermediate_size,
                "num_heads": v.num_heads,
                "hidden_act": "gelu_pytorch_tanh",
                "in_channels": v.in_channels,
                "patch_size": v.patch_size,
                "temporal_patch_size": v.temporal_patch_size,
                "spatial_merge_size": v.spatial_merge_size,
                "out_hidden_size": v.out_hidden_size,
                "num_position_embeddings": v.num_position_embeddings,
                "deepstack_visual_indexes": list(v.deepstack_visual_indexes),
                "rope_parameters": {"rope_type": "axial", "rope_theta": v.rope_theta},
            },
        }


def _tie_flag(d: dict[str, Any]) -> bool:
    """4.57 honours text_config's flag, 5.x the top-level one (see module docstring)."""
    text_flag = d["text_config"].get("tie_word_embeddings")
    if str(d.get("transformers_version", "")).startswith("4.") and text_flag is not None:
        return bool(text_flag)
    top = d.get("tie_word_embeddings")
    return bool(top if top is not None else text_flag)


_SPECIAL_TOKENS_TINY = {
    # Qwen's special ids 151643.. sit at 4000.. in the tiny vocabulary (as in the tiny tokenizer).
    "image_token_id": 4012,
    "video_token_id": 4013,
    "vision_start_token_id": 4009,
    "vision_end_token_id": 4010,
}


def mrope_section(head_dim: int) -> tuple[int, int, int]:
    """(temporal, height, width) rotary frequencies for `head_dim`: Qwen3-VL's 24:20:20 split of
    64 frequencies (head_dim 128), scaled, height and width rounded down, temporal the rest.
    Derived, never written by hand: a preset that changes head_dim gets a matching split."""
    half = head_dim // 2
    spatial = max(1, half * 20 // 64)
    return half - 2 * spatial, spatial, spatial


def _tiny(hidden: int, layers: int, heads: int, head_dim: int, vision_hidden: int):
    """The tiny family: the tiny tokenizer's 4096-token vocabulary, a small vision tower."""
    return Qwen3VLConfig(
        text=TextConfig(
            vocab_size=4096,
            hidden_size=hidden,
            intermediate_size=3 * hidden if hidden > 64 else 2 * hidden,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads // 2,
            head_dim=head_dim,
            rope_theta=10000.0,
            mrope_section=mrope_section(head_dim),
            max_position_embeddings=4096,
        ),
        vision=VisionConfig(
            depth=3,
            hidden_size=vision_hidden,
            intermediate_size=2 * vision_hidden,
            num_heads=2,
            out_hidden_size=hidden,
            num_position_embeddings=64,
            deepstack_visual_indexes=(0, 1),
        ),
        tie_word_embeddings=True,
        **_SPECIAL_TOKENS_TINY,
    )


PRESETS = ("tiny", "mini", "2b", "4b", "8b")


def preset(name: str) -> Qwen3VLConfig:
    """Named configurations: `tiny` (tests), `mini` (the warm-started policies of the tiny
    recipes: hidden 128, 4 layers) and the released 2B / 4B / 8B sizes."""
    if name == "tiny":
        return _tiny(hidden=64, layers=4, heads=4, head_dim=16, vision_hidden=32)
    if name == "mini":
        return _tiny(hidden=128, layers=4, heads=4, head_dim=32, vision_hidden=64)
    sizes = {
        # (text hidden, layers, heads, intermediate, tied, vision depth, hidden, mlp, deepstack)
        "2b": (2048, 28, 16, 6144, True, 24, 1024, 4096, (5, 11, 17)),
        "4b": (2560, 36, 32, 9728, True, 24, 1024, 4096, (5, 11, 17)),
        "8b": (4096, 36, 32, 12288, False, 27, 1152, 4304, (8, 16, 24)),
    }
    if name not in sizes:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    hidden, layers, heads, mlp, tied, v_depth, v_hidden, v_mlp, deepstack = sizes[name]
    return Qwen3VLConfig(
        text=TextConfig(
            vocab_size=151936,
            hidden_size=hidden,
            intermediate_size=mlp,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=8,
            head_dim=128,
            rope_theta=5_000_000.0,
            mrope_section=mrope_section(128),
        ),
        vision=VisionConfig(
            depth=v_depth,
            hidden_size=v_hidden,
            intermediate_size=v_mlp,
            num_heads=16,
            out_hidden_size=hidden,
            num_position_embeddings=2304,
            deepstack_visual_indexes=deepstack,
        ),
        tie_word_embeddings=tied,
    )
