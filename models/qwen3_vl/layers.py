"""Building blocks shared by the vision tower and the text decoder.

Every parameter carries `logical_axes` metadata (names such as `embed`, `mlp`, `heads`);
`models/sharding.py` maps those names to mesh axes, so no sharding decision lives here.
Parameters are stored in `param_dtype` and cast to the compute `dtype` at use, so bf16 compute
over fp32 master weights works without copies in the checkpoint.

Repeated blocks (decoder layers, vision blocks) are built once with every parameter stacked on a
leading `layers` axis and run under `nnx.scan`, so tracing and XLA compile one block whatever the
depth.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

INIT_STD = 0.02  # transformers' initializer_range for Qwen3-VL
# Stacking names the new leading axis "layers" in each parameter's `logical_axes`.
LAYERS = {nnx.PARTITION_NAME: None, "logical_axes": "layers"}


def param(rngs: nnx.Rngs | None, shape, axes, dtype, init: str = "normal") -> nnx.Param:
    """A parameter initialised like transformers does (normal 0.02, ones, or zeros)."""
    if init == "normal":
        value = INIT_STD * jax.random.normal(rngs.params(), shape, dtype)
    else:
        value = (jnp.ones if init == "ones" else jnp.zeros)(shape, dtype)
    return nnx.Param(value, logical_axes=tuple(axes))


class Dense(nnx.Module):
    """y = x @ kernel (+ bias); kernel is [in, out], the transpose of a torch Linear weight."""

    def __init__(self, n_in, n_out, axes, *, bias, rngs, dtype, param_dtype):
        self.dtype = dtype
        self.kernel = param(rngs, (n_in, n_out), axes, param_dtype)
        self.bias = param(None, (n_out,), axes[1:], param_dtype, init="zeros") if bias else None

    def __call__(self, x):
        y = jnp.dot(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


class Embed(nnx.Module):
    """A lookup table [rows, dim]; `attend` is the tied output projection."""

    def __init__(self, rows, dim, axes, *, rngs, dtype, param_dtype):
        self.dtype = dtype
        self.weight = param(rngs, (rows, dim), axes, param_dtype)

    def __call__(self, ids):
        return jnp.take(self.weight[...], ids, axis=0).astype(self.dtype)

    def attend(self, x):
        return jnp.dot(x.astype(self.dtype), self.weight[...].astype(self.dtype).T)


class LayerNorm(nnx.Module):
    """torch.nn.LayerNorm (exact two-pass variance, statistics in fp32), eps 1e-6 as in Qwen3-VL."""

    def __init__(self, size, axis_name, *, dtype, param_dtype, eps=1e-6):
        self.dtype, self.eps = dtype, eps
        self.weight = param(None, (size,), (axis_name,), param_dtype, init="ones")
        self.bias = param(None, (size,), (axis_name,), param_dtype, init="zeros")

    def __call__(self, x):
        x = x.astype(jnp.float32)
        mean = x.mean(-1, keepdims=True)
        var = jnp.square(x - mean).mean(-1, keepdims=True)
        y = (x - mean) * jax.lax.rsqrt(var + self.eps)
        y = y * self.weight[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)
        return y.astype(self.dtype)


class RMSNorm(nnx.Module):
    """Qwen3 RMSNorm: normalise in fp32, cast back to the compute dtype, then scale."""

    def __init__(self, size, axis_name, *, dtype, param_dtype, eps):
        self.dtype, self.eps = dtype, eps
        self.weight = param(None, (size,), (axis_name,), param_dtype, init="ones")

    def __call__(self, x):
        x32 = x.astype(jnp.float32)
        x32 = x32 * jax.lax.rsqrt(jnp.square(x32).mean(-1, keepdims=True) + self.eps)
        return self.weight[...].astype(self.dtype) * x32.astype(self.dtype)


def stacked(make, n: int, rngs: nnx.Rngs):
    """`n` modules `make(rngs)` as one, each parameter stacked on a leading `layers` axis."""

    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=0, out_axes=0, transform_metadata=LAYERS)
    def build(rngs):
        return make(rngs)

    return build(rngs)


def scan_layers(body, *, remat: bool, in_axes, out_axes):
    """`nnx.scan` over stacked layers; `remat` recomputes each step's activations in the backward
    pass, so only the carry between layers is saved. Tree mode (`graph=False`): the model may be
    merged outside a `lax.while_loop` and decode inside it, which graph mode refuses (the
    parameters would come from another trace level)."""
    step = nnx.remat(body, graph=False) if remat else body
    return nnx.scan(step, in_axes=in_axes, out_axes=out_axes, graph=False)
