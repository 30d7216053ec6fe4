"""Logical axis names -> mesh axes, in one table outside the model code.

Parameters carry `logical_axes` metadata (see models/qwen3_vl/layers.py). A rules table maps each
logical name to a mesh axis (or a tuple of them, or None); names missing from the table are
replicated, so the same model runs unsharded on one device. A dimension that the chosen mesh axes
do not divide evenly is replicated too, which keeps tiny test models valid on any mesh.
The mesh has the axes ("data", "fsdp", "tensor"); the trainer reuses these helpers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Mapping, Sequence

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

DEFAULT_RULES: Mapping[str, str | tuple[str, ...] | None] = {
    "batch": ("data", "fsdp"),
    "layers": None,  # the stacked-layer axis: each scan step reads one whole layer
    "vocab": "tensor",
    "embed": "fsdp",
    "mlp": "tensor",
    "heads": "tensor",
    "kv_heads": "tensor",
    "head_dim": None,
    "norm": None,
    "vision_embed": "fsdp",
    "vision_mlp": "tensor",
    "vision_heads": "tensor",
    "vision_merge": "fsdp",
    "vision_patch": None,
    "vision_pos": None,
}


def make_mesh(
    data: int = 1, fsdp: int = 1, tensor: int = 1, devices: Sequence | None = None
) -> Mesh:
    """A ("data", "fsdp", "tensor") mesh over the first data*fsdp*tensor devices."""
    devices = list(jax.devices() if devices is None else devices)
    n = data * fsdp * tensor
    if n > len(devices):
        raise ValueError(
            f"mesh data={data} x fsdp={fsdp} x tensor={tensor} needs {n} devices, "
            f"but only {len(devices)} are visible"
        )
    return Mesh(np.array(devices[:n]).reshape(data, fsdp, tensor), MESH_AXES)


def logical_to_spec(
    axes: Sequence[str | None], shape: Sequence[int], mesh: Mesh, rules=None
) -> PartitionSpec:
    """PartitionSpec for an array of `shape` whose dimensions have logical names `axes`."""
    rules = DEFAULT_RULES if rules is None else rules
    used: set[str] = set()
    spec = []
    for name, size in zip(axes, shape, strict=True):
        target = rules.get(name) if name is not None else None
        mesh_axes = (target,) if isinstance(target, str) else tuple(target or ())
        mesh_axes = tuple(a for a in mesh_axes if a in mesh.shape and a not in used)
        ways = int(np.prod([mesh.shape[a] for a in mesh_axes]))
        if not mesh_axes or size % ways:
            spec.append(None)
            continue
        used.update(mesh_axes)
        spec.append(mesh_axes[0] if len(mesh_axes) == 1 else mesh_axes)
    return PartitionSpec(*spec)


_ACTIVATIONS: contextvars.ContextVar = contextvars.ContextVar("activations", default=None)


@contextlib.contextmanager
def activation_sharding(mesh: Mesh | None, rules=None):
    """While a function is traced inside this context, `constrain` pins the model's activations
    to `mesh` by the logical rules. Without the pins XLA may keep parameters sharded and gather
    the activations instead: every device then computes the whole batch (with FSDP, the full
    [rows, length, vocab] logits on each device)."""
    token = _ACTIVATIONS.set(None if mesh is None else (mesh, rules))
    try:
        yield
    finally:
        _ACTIVATIONS.reset(token)


def constrain(x: jax.Array, axes: Sequence[str | None]) -> jax.Array:
    """`x` laid out by its logical `axes` on the active mesh; unchanged outside
    `activation_sharding`."""
    active = _ACTIVATIONS.get()
    if active is None:
        return x
    mesh, rules = active
    spec = logical_to_spec(axes, x.shape, mesh, rules)
    return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, spec))


def state_shardings(state: nnx.State, mesh: Mesh, rules=None):
    """NamedShardings for every variable of an NNX state (same tree structure)."""

    def sharding(variable):
        axes = variable.get_metadata().get("logical_axes") or (None,) * len(variable.shape)
        return variable.replace(
            NamedSharding(mesh, logical_to_spec(axes, variable.shape, mesh, rules))
        )

    return jax.tree.map(sharding, state, is_leaf=lambda x: isinstance(x, nnx.Variable))


def shard_model(model: nnx.Module, mesh: Mesh, rules=None) -> nnx.Module:
    """Moves every parameter of `model` onto its sharding (in place) and returns the model."""
    state = nnx.state(model)
    nnx.update(model, jax.device_put(state, state_shardings(state, mesh, rules)))
    return model


def batch_sharding(mesh: Mesh, ndim: int, rules=None) -> NamedSharding:
    """Sharding for a batch-major input of `ndim` dimensions (batch over data and fsdp)."""
    rules = DEFAULT_RULES if rules is None else rules
    return NamedSharding(mesh, PartitionSpec(rules.get("batch"), *([None] * (ndim - 1))))
