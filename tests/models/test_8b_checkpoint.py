"""A folder shaped exactly like Qwen3-VL-8B-Instruct's (the 750 tensor names and shapes
transformers builds for the 8B config, bf16, four safetensors shards with an index) loads
abstractly on an 8-device mesh: every tensor maps one to one onto a sharded parameter and no
value is read. The shards are sparse files: their headers are real, their 17.5 GB of data are
holes, so the test needs neither the download nor the memory.

"No value is read" is measured on the files, not on the process: after the load, the page
cache holds no more of each shard than its header and the kernel's read-ahead around it
(`fincore`). A read of any tensor's values, by `read` or through a memory map, would bring its
pages in; nothing else touches these new files, so other tests' arrays cannot disturb it."""

from __future__ import annotations

import json
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers
from flax import nnx

from models.qwen3_vl import load_hf, preset
from models.sharding import make_mesh

SHARDS = 4
# The most of a shard's data the page cache may hold after an abstract load: the kernel's
# read-ahead around the header (128 KiB by default), with room to spare. Each shard's data is
# about 4.4 GB, and its first tensors alone are far larger.
READ_AHEAD_BOUND = 8 << 20


def resident_bytes(file) -> int:
    """Bytes of `file` in the page cache (util-linux's fincore)."""
    done = subprocess.run(
        ["fincore", "--bytes", "--noheadings", "--output", "RES", str(file)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def _write_sparse_folder(folder, config) -> int:
    """The 8B tensors (HF names, shapes, bf16) in SHARDS sparse safetensors files with an
    index; returns the number of values."""
    with torch.device("meta"):
        model = transformers.Qwen3VLForConditionalGeneration(
            transformers.Qwen3VLConfig.from_dict(config.to_hf_dict())
        )
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    names = sorted(shapes)
    weight_map = {}
    for shard in range(SHARDS):
        file = f"model-{shard + 1:05d}-of-{SHARDS:05d}.safetensors"
        header, offset = {"__metadata__": {"format": "pt"}}, 0
        for name in names[shard::SHARDS]:
            size = 2 * int(np.prod(shapes[name]))
            header[name] = {
                "dtype": "BF16",
                "shape": list(shapes[name]),
                "data_offsets": [offset, offset + size],
            }
            offset += size
            weight_map[name] = file
        raw = json.dumps(header).encode()
        raw += b" " * (-len(raw) % 8)
        with open(folder / file, "wb") as f:
            f.write(len(raw).to_bytes(8, "little") + raw)
            f.truncate(8 + len(raw) + offset)  # the data: a hole, no disk, no memory
    index = {"metadata": {"total_size": sum(2 * int(np.prod(s)) for s in shapes.values())}}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({**index, "weight_map": weight_map})
    )
    hf_config = config.to_hf_dict()
    hf_config["dtype"] = hf_config["text_config"]["dtype"] = "bfloat16"
    (folder / "config.json").write_text(json.dumps(hf_config))
    return sum(int(np.prod(s)) for s in shapes.values())


def test_the_8b_folder_maps_one_to_one_onto_a_sharded_abstract_model(tmp_path):
    config = preset("8b")
    values = _write_sparse_folder(tmp_path, config)
    assert (
        values == 8_767_123_696
        and len(json.loads((tmp_path / "model.safetensors.index.json").read_text())["weight_map"])
        == 750
    )

    headers = {}  # shard -> bytes before its data: the length field and the JSON header
    for shard in sorted(tmp_path.glob("model-*.safetensors")):
        with shard.open("rb") as f:
            headers[shard] = 8 + int.from_bytes(f.read(8), "little")
    mesh = make_mesh(data=1, fsdp=4, tensor=2)
    model = load_hf(tmp_path, dtype=jnp.bfloat16, mesh=mesh, abstract=True)
    for shard, header in headers.items():  # nothing was read beyond the headers
        assert resident_bytes(shard) <= header + READ_AHEAD_BOUND, shard.name

    params = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    structs = [p.get_value() for p in params.values()]
    assert all(isinstance(s, jax.ShapeDtypeStruct) for s in structs)
    assert sum(int(np.prod(s.shape)) for s in structs) == values
    assert {s.dtype for s in structs} == {jnp.dtype(jnp.bfloat16)}
    # The largest tensors are split over all 8 devices: no device holds a whole one.
    embed = model.language_model.embed_tokens.weight.get_value()
    assert embed.shape == (151_936, 4096)
    shard = embed.sharding.shard_shape(embed.shape)
    assert int(np.prod(shard)) * 8 == int(np.prod(embed.shape))
    largest = max(structs, key=lambda s: np.prod(s.shape))
    assert int(np.prod(largest.sharding.shard_shape(largest.shape))) * 8 == int(
        np.prod(largest.shape)
    )
