"""Hugging Face checkpoint import and export for Qwen3-VL.

The NNX module tree mirrors transformers' attribute names, so a parameter's path gives its
tensor name: `lm_head.kernel` <-> `lm_head.weight` (a kernel is the transposed torch weight).
Decoder layers and vision blocks are stacked (a leading `layers` axis, see layers.py), so one
parameter holds one tensor per layer: row 3 of `language_model.layers.mlp.up_proj.kernel` <->
`model.language_model.layers.3.mlp.up_proj.weight`. The one reshaped tensor is the patch
embedding, a Conv3d weight [hidden, 3, 2, 16, 16] that is a [1536, hidden] matrix here.

safetensors files are read with the `safetensors` library one slice at a time (bf16 as ml_dtypes),
so with a mesh each device reads only its own slice of each tensor (of each layer's tensor, for a
stacked parameter) and no full copy is built on one device.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from safetensors import safe_open
from safetensors.numpy import save_file

from models import sharding
from models.qwen3_vl.config import ConfigError, Qwen3VLConfig
from models.qwen3_vl.model import Qwen3VL

# The dtypes a checkpoint's floating-point tensors may be stored in.
_FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})
# Files a transformers folder keeps beside the weights that save_hf copies from a source folder.
_COMPANION_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.json",
    "chat_template.jinja",
    "preprocessor_config.json",
    "video_preprocessor_config.json",
    "processor_config.json",
    "generation_config.json",
)


class CheckpointError(ValueError):
    """A model folder that cannot be loaded as it is."""


# -- names and layouts -------------------------------------------------------------------------


# The stacked module attributes, numbered per layer in transformers' names.
_STACKED = ("layers", "blocks")


def hf_name(path: tuple, layer: int | None = None) -> str:
    """transformers' tensor name for an NNX parameter path (and layer of a stacked one)."""
    *modules, leaf = (str(p) for p in path)
    if layer is not None:
        at = next(i for i, m in enumerate(modules) if m in _STACKED) + 1
        modules.insert(at, str(layer))
    prefix = "" if modules[0] == "lm_head" else "model."
    return prefix + ".".join(modules) + "." + ("bias" if leaf == "bias" else "weight")


def to_hf_layout(path: tuple, value: np.ndarray, config: Qwen3VLConfig) -> np.ndarray:
    if path[-1] != "kernel":
        return value
    if "patch_embed" in path:  # [C*T*P*P, hidden] -> Conv3d weight [hidden, C, T, P, P]
        v = config.vision
        return value.T.reshape(
            v.hidden_size, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size
        )
    return value.T


def parameter_paths(model: Qwen3VL) -> dict[str, tuple[tuple, int | None]]:
    """HF tensor name -> (NNX path, layer: the row of a stacked parameter, else None), for every
    tensor of the model (abstract or concrete)."""
    names = {}
    for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        if variable.get_metadata()["logical_axes"][:1] == ("layers",):
            names.update({hf_name(path, i): (path, i) for i in range(variable.shape[0])})
        else:
            names[hf_name(path)] = (path, None)
    return names


# -- safetensors -------------------------------------------------------------------------------


def _open_tensors(folder: Path, stack: contextlib.ExitStack) -> dict[str, Any]:
    """Tensor name -> the open safetensors file that holds it (kept open by `stack`); nothing
    is read until a slice is asked for."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (folder / "model.safetensors").is_file():
        files = ["model.safetensors"]
    else:
        raise CheckpointError(
            f"{folder}: no model.safetensors or model.safetensors.index.json found"
        )
    handles = {}
    for name in files:
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder}: the index lists {name}, which is missing")
        handle = stack.enter_context(safe_open(folder / name, framework="numpy"))
        handles.update(dict.fromkeys(handle.keys(), handle))
    return handles


# -- import ------------------------------------------------------------------------------------


def read_config(folder) -> Qwen3VLConfig:
    folder = Path(folder)
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"{folder}: no config.json; point at a folder written by transformers' save_pretrained"
        )
    try:
        return Qwen3VLConfig.from_hf_dict(json.loads(config_file.read_text()))
    except ConfigError as e:
        raise CheckpointError(f"{config_file}: {e}") from None


def load_hf(
    path,
    *,
    dtype=jnp.float32,
    compute_dtype=None,
    mesh=None,
    rules=None,
    remat=False,
    abstract=False,
) -> Qwen3VL:
    """Loads a transformers Qwen3-VL folder (config.json + model.safetensors or shards with an
    index; bf16 or fp32; tied or untied) as a `Qwen3VL` whose parameters are stored in `dtype`
    and computed in `compute_dtype` (default: `dtype`). With a `mesh`, each parameter is created
    directly with its sharding from `models.sharding` (`rules` overrides the default table).

    `abstract=True` checks every tensor's name, shape and dtype against the model but reads no
    values: parameters are `jax.ShapeDtypeStruct`s (with their shardings on a `mesh`), what
    ahead-of-time compilation takes, for a checkpoint of any size."""
    folder = Path(path)
    config = read_config(folder)
    with contextlib.ExitStack() as stack:
        tensors = _open_tensors(folder, stack)
        return _load(folder, config, tensors, dtype, compute_dtype, mesh, rules, remat, abstract)


def _load(folder, config, tensors, dtype, compute_dtype, mesh, rules, remat, abstract) -> Qwen3VL:
    shaped = nnx.eval_shape(
        lambda: Qwen3VL(
            config, rngs=nnx.Rngs(0), dtype=compute_dtype or dtype, param_dtype=dtype, remat=remat
        )
    )
    graphdef, state = nnx.split(shaped)
    names = parameter_paths(shaped)
    _check_names(folder, names, tensors, config.tie_word_embeddings)
    per_parameter: dict[tuple, list[str]] = {}
    for name, (param_path, _) in names.items():  # a stacked parameter's layers in order
        per_parameter.setdefault(param_path, []).append(name)
    flat = dict(nnx.to_flat_state(state))
    np_dtype = np.dtype(dtype)
    for param_path, tensor_names in per_parameter.items():
        variable = flat[param_path]
        stacked = names[tensor_names[0]][1] is not None
        shape = variable.shape[1:] if stacked else variable.shape
        readers = [
            _reader(param_path, tensors[name].get_slice(name), np_dtype, shape, folder, name)
            for name in tensor_names
        ]
        reader = _stacked_reader(readers, shape, np_dtype) if stacked else readers[0]
        placed = None
        if mesh is not None:
            spec = sharding.logical_to_spec(
                variable.get_metadata()["logical_axes"], variable.shape, mesh, rules
            )
            placed = jax.NamedSharding(mesh, spec)
        if abstract:
            value = jax.ShapeDtypeStruct(variable.shape, np_dtype, sharding=placed)
        elif placed is None:
            value = jnp.asarray(reader((slice(None),) * len(variable.shape)))
        else:
            value = jax.make_array_from_callback(variable.shape, placed, reader)
        variable.set_value(value)
    return nnx.merge(graphdef, state)


def _check_names(folder, names, tensors, tied):
    expected, found = set(names), set(tensors)
    if tied:
        found.discard("lm_head.weight")  # transformers may or may not write the tied copy
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing:
        raise CheckpointError(
            f"{folder}: {len(missing)} tensors missing, e.g. {missing[:3]}; the checkpoint does "
            "not match its config.json (incomplete download or wrong folder?)"
        )
    if extra:
        raise CheckpointError(
            f"{folder}: {len(extra)} unexpected tensors, e.g. {extra[:3]}; the checkpoint is not "
            "a plain Qwen3VLForConditionalGeneration (merge adapters before loading)"
        )


def _reader(param_path, source, np_dtype, shape, folder, name):
    """A function from an index (tuple of slices, in this port's layout) to that slice of the
    parameter as a numpy array of `np_dtype`, reading only that slice from the file."""
    if source.get_dtype() not in _FLOAT_DTYPES:
        raise CheckpointError(f"{folder}: tensor {name} has unsupported dtype {source.get_dtype()}")
    if param_path[-1] != "kernel":
        expected = shape
        read = lambda index: source[index]
    elif "patch_embed" in param_path:
        expected = (shape[1], *source.get_shape()[1:])
        read = lambda index: np.asarray(source[:]).reshape(shape[1], -1).T[index]
    else:
        expected = shape[::-1]
        read = lambda index: source[index[::-1]].T
    if tuple(source.get_shape()) != tuple(expected):
        raise CheckpointError(
            f"{folder}: tensor {name} has shape {tuple(source.get_shape())}, "
            f"config.json implies {tuple(expected)}"
        )
    return lambda index: np.asarray(read(tuple(index))).astype(np_dtype)


def _stacked_reader(readers, shape, np_dtype):
    """The reader of a stacked parameter from its layers' readers: each layer's slice is read
    in turn straight into its row of one buffer."""

    def read(index):
        rows = range(len(readers))[index[0]]
        sizes = tuple(len(range(n)[i]) for n, i in zip(shape, index[1:]))
        out = np.empty((len(rows), *sizes), np_dtype)
        for row, layer in enumerate(rows):
            out[row] = readers[layer](index[1:])
        return out

    return read


# -- export ------------------------------------------------------------------------------------


def save_hf(
    model: Qwen3VL, path, *, dtype=jnp.bfloat16, source=None, max_shard_bytes=2 * 1024**3
) -> None:
    """Writes a folder `transformers` loads with `from_pretrained`: config.json (with
    `architectures`), sharded safetensors in `dtype` with model.safetensors.index.json, and the
    tokenizer/processor files of `source` (a model folder) when given."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    np_dtype = np.dtype(dtype)
    flat = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    names = sorted(parameter_paths(model).items())

    shards, current, size = [], [], 0
    for name, (param_path, layer) in names:
        shape = flat[param_path].shape[1:] if layer is not None else flat[param_path].shape
        nbytes = int(np.prod(shape)) * np_dtype.itemsize
        if current and size + nbytes > max_shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((name, param_path, layer))
        size += nbytes
    shards.append(current)

    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for name, param_path, layer in shard:
            value = flat[param_path].get_value()
            value = value if layer is None else value[layer]  # one layer leaves the device
            value = np.asarray(jax.device_get(value)).astype(np_dtype)
            tensors[name] = np.ascontiguousarray(to_hf_layout(param_path, value, model.config))
            weight_map[name] = file
            total += value.nbytes
        save_file(tensors, folder / file, metadata={"format": "pt"})
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))

    config = model.config.to_hf_dict()
    config["dtype"] = config["text_config"]["dtype"] = np_dtype.name  # "float32", "bfloat16"
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    if source is not None:
        for name in _COMPANION_FILES:
            if (Path(source) / name).is_file():
                shutil.copy2(Path(source) / name, folder / name)
