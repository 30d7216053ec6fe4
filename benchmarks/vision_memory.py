"""Vision memory of one training microbatch: 8 rollouts of one prompt with one 1280x960 image.

Compiles, from abstract inputs (nothing is materialised), the image features of the student's
microbatch with their gradient for the vision tower's parameters, and prints XLA's temporary
memory (`compiled.memory_analysis()`) in four layouts:

    copies, dense    each rollout carries its own copy of the image, one patch x patch mask over
                     the whole microbatch (the layout before images were shared)
    copies, blocks   the same images, attention in query blocks within each image
    shared, dense    the image encoded once and named by `image_index` by every rollout
    shared, blocks   both: what the train step runs

The forward alone (the teacher's pass and the sampler's prefill) is printed beside it.

    python benchmarks/vision_memory.py [--preset 2b] [--image 1280x960] [--rollouts 8]
"""

from __future__ import annotations

import argparse
import math
from unittest import mock

import flax
import jax
import jax.numpy as jnp
from flax import nnx

from models.qwen3_vl import Qwen3VL, preset, vision
from sdpo_jax.loop.rundir import machine

GIB = 1 << 30
TEXT_TOKENS = 64  # the prompt's words around the image


def image_grid(config, width: int, height: int) -> tuple[int, int, int]:
    unit = config.vision.patch_size * config.vision.spatial_merge_size
    merge = config.vision.spatial_merge_size
    return 1, math.ceil(height / unit) * merge, math.ceil(width / unit) * merge


def compiled_memory(model, rollouts: int, grid, *, shared: bool, grad: bool) -> int:
    """Temporary bytes of the image features of `rollouts` rows (and their gradient)."""
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    copies = 1 if shared else rollouts
    patches = copies * math.prod(grid)
    tokens = math.prod(grid) // model.config.vision.spatial_merge_size**2 + TEXT_TOKENS
    spec = jax.ShapeDtypeStruct
    inputs = (  # as the train step sees them: all traced
        spec((rollouts, tokens), jnp.int32),
        spec((patches, model.config.vision.patch_dim), jnp.float32),
        spec((copies, 3), jnp.int32),
        spec((rollouts,), jnp.int32) if shared else None,
    )

    def features(params, ids, pixels, grid, index):
        x, deepstack = nnx.merge(graphdef, params, rest).embed(ids, pixels, grid, index)
        return sum(f.astype(jnp.float32).mean() for f in (x, *deepstack))

    fn = jax.grad(features) if grad else features
    compiled = jax.jit(fn).lower(params, *inputs).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="2b")
    parser.add_argument("--image", default="1280x960", help="WIDTHxHEIGHT")
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--dtype", default="bfloat16", help="compute dtype")
    args = parser.parse_args()
    width, height = map(int, args.image.split("x"))
    config = preset(args.preset)
    grid = image_grid(config, width, height)
    model = nnx.eval_shape(
        lambda: Qwen3VL(config, rngs=nnx.Rngs(0), dtype=jnp.dtype(args.dtype), remat=True)
    )
    print(
        f"{machine()}; jax {jax.__version__}, flax {flax.__version__}, backend "
        f"{jax.default_backend()}\nQwen3-VL {args.preset} vision tower ({config.vision.depth} "
        f"blocks, {args.dtype} compute, remat), {args.rollouts} rollouts of one {width}x{height} "
        f"image: grid {grid}, {math.prod(grid)} patches per image; attention block "
        f"{vision.ATTENTION_BLOCK} queries\n"
    )
    print(f"{'layout':<16} {'forward GiB':>12} {'fwd+grad GiB':>13}")
    results = {}
    for shared in (False, True):
        for blocks in (False, True):
            block = vision.ATTENTION_BLOCK if blocks else 1 << 40
            with mock.patch.object(vision, "ATTENTION_BLOCK", block):
                row = [
                    compiled_memory(model, args.rollouts, grid, shared=shared, grad=grad)
                    for grad in (False, True)
                ]
            name = f"{'shared' if shared else 'copies'}, {'blocks' if blocks else 'dense'}"
            results[name] = row
            print(f"{name:<16} {row[0] / GIB:>12.2f} {row[1] / GIB:>13.2f}", flush=True)
    before, after = results["copies, dense"], results["shared, blocks"]
    print(
        f"\nshared + blocks against copies + dense: forward {before[0] / after[0]:.1f}x less, "
        f"forward + gradient {before[1] / after[1]:.1f}x less"
    )


if __name__ == "__main__":
    main()
