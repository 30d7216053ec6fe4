"""Import and export against transformers: export -> from_pretrained gives the same logits,
HF-written bf16 sharded folders import, both config.json layouts read, bad folders give one line."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch
import transformers
from safetensors.torch import load_file, save_file

from models.qwen3_vl import Qwen3VLConfig, load_hf, save_hf
from models.qwen3_vl.hf import CheckpointError
from tests.models.conftest import TINY, build_hf_model, logits_of, make_batch, text
from tests.models.test_parity import hf_forward

TOL = 1e-4
BATCH = make_batch([[*text(3), "img", *text(4, 1)], [*text(5, 2)]], [(1, 4, 6)])


def assert_same_logits(port, hf_model):
    ids, mask, pixels, grid = BATCH
    real = mask.astype(bool)
    got = np.asarray(logits_of(port, ids, mask, pixels, grid))[real]
    np.testing.assert_allclose(got, hf_forward(hf_model, *BATCH)[real], atol=TOL, rtol=0)


@pytest.mark.parametrize("tied", [True, False])
def test_export_loads_in_transformers_with_same_logits(tied, tmp_path):
    config = dataclasses.replace(TINY, tie_word_embeddings=tied)
    source = tmp_path / "source"
    build_hf_model(config, seed=3).save_pretrained(source)
    (source / "preprocessor_config.json").write_text('{"patch_size": 16}')
    port = load_hf(source)

    out = tmp_path / "export"
    save_hf(port, out, dtype=np.float32, source=source, max_shard_bytes=200_000)
    written = json.loads((out / "config.json").read_text())
    assert written["architectures"] == ["Qwen3VLForConditionalGeneration"]
    assert (
        len(
            set(
                json.loads((out / "model.safetensors.index.json").read_text())[
                    "weight_map"
                ].values()
            )
        )
        > 1
    )
    assert (out / "preprocessor_config.json").read_text() == '{"patch_size": 16}'

    reloaded = transformers.Qwen3VLForConditionalGeneration.from_pretrained(
        out, local_files_only=True
    )
    reloaded.config._attn_implementation = "eager"
    assert reloaded.config.tie_word_embeddings == tied
    assert_same_logits(port, reloaded.eval())


def test_hf_written_bf16_sharded_folder_imports(tmp_path):
    build_hf_model().to(torch.bfloat16).save_pretrained(tmp_path, max_shard_size="100KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    reference = build_hf_model()  # fp32 with bf16-rounded weights (rotary tables stay fp32)
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    assert_same_logits(load_hf(tmp_path), reference)


def test_config_reads_both_layouts_and_round_trips():
    new = TINY.to_hf_dict()
    assert Qwen3VLConfig.from_hf_dict(new) == TINY
    old = json.loads(json.dumps(new))  # transformers 4.57: rope_theta + rope_scaling, tie in text
    text_cfg = old["text_config"]
    rope = text_cfg.pop("rope_parameters")
    text_cfg["rope_theta"] = rope.pop("rope_theta")
    text_cfg["rope_scaling"] = rope
    old["transformers_version"] = "4.57.0"
    old["tie_word_embeddings"] = False  # 4.57 ignores the top-level flag
    old["vision_config"]["model_type"] = "qwen3_vl"
    del old["vision_config"]["rope_parameters"]
    assert Qwen3VLConfig.from_hf_dict(old) == TINY


def _one_line_error(exc_info, *words):
    message = str(exc_info.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_folder_without_config(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_hf(tmp_path)
    _one_line_error(e, "config.json")


def test_wrong_model_type(hf_dir, tmp_path):
    shutil.copytree(hf_dir, tmp_path, dirs_exist_ok=True)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "qwen2_5_vl"
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as e:
        load_hf(tmp_path)
    _one_line_error(e, "model_type", "qwen2_5_vl")


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_missing_or_extra_tensors(change, hf_dir, tmp_path):
    shutil.copy(hf_dir / "config.json", tmp_path)
    tensors = load_file(hf_dir / "model.safetensors")
    if change == "missing":
        del tensors["model.language_model.layers.1.mlp.up_proj.weight"]
    else:
        tensors["model.visual.extra_adapter.weight"] = torch.zeros(2)
    save_file(tensors, tmp_path / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as e:
        load_hf(tmp_path)
    _one_line_error(e, change if change == "missing" else "unexpected")
