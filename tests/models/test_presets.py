"""Presets: the 8B one, built abstractly, has Qwen3-VL-8B's parameter count and maps one-to-one
onto the tensor names and shapes transformers builds for the same config."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers
from flax import nnx

from models.qwen3_vl import Qwen3VL, Qwen3VLConfig, preset
from models.qwen3_vl.config import mrope_section
from models.qwen3_vl.hf import parameter_paths, to_hf_layout


def test_8b_parameter_count_and_hf_names():
    config = preset("8b")
    abstract = nnx.eval_shape(lambda: Qwen3VL(config, rngs=nnx.Rngs(0)))
    params = dict(nnx.to_flat_state(nnx.state(abstract, nnx.Param)))
    assert sum(int(np.prod(v.shape)) for v in params.values()) == 8_767_123_696

    with torch.device("meta"):
        hf = transformers.Qwen3VLForConditionalGeneration(
            transformers.Qwen3VLConfig.from_dict(config.to_hf_dict())
        )
    hf_shapes = {name: tuple(t.shape) for name, t in hf.state_dict().items()}
    assert len(hf_shapes) == 750
    ours = {}
    for name, (path, layer) in parameter_paths(abstract).items():
        shape = params[path].shape if layer is None else params[path].shape[1:]
        no_memory = np.broadcast_to(np.float32(0), shape)
        ours[name] = to_hf_layout(path, no_memory, config).shape
    assert ours == hf_shapes


@pytest.mark.parametrize(
    "name,tied", [("tiny", True), ("mini", True), ("2b", True), ("4b", True), ("8b", False)]
)
def test_presets_round_trip_through_hf_config(name, tied):
    config = preset(name)
    assert config.tie_word_embeddings == tied
    assert config.vision.out_hidden_size == config.text.hidden_size
    hf_config = transformers.Qwen3VLConfig.from_dict(config.to_hf_dict())
    assert Qwen3VLConfig.from_hf_dict(hf_config.to_dict()) == config


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="tiny, mini, 2b, 4b, 8b"):
        preset("70b")


def test_mrope_sections_are_derived_from_head_dim():
    """Qwen3-VL's (24, 20, 20) at head_dim 128, the tiny preset's (4, 2, 2) at 16; any preset's
    three sections fill exactly half the head (one frequency per rotated pair)."""
    assert mrope_section(128) == (24, 20, 20)
    assert mrope_section(16) == (4, 2, 2)
    for name in ("tiny", "mini", "8b"):
        text = preset(name).text
        assert text.mrope_section == mrope_section(text.head_dim)
        assert sum(text.mrope_section) == text.head_dim // 2
