"""Compile time of a train-step-like function against decoder depth.

Builds the tiny preset with 8 and 32 text layers (abstract parameters, nothing materialised),
jits the text-only next-token loss with its parameter gradients, and times `.lower()` (tracing)
and `.compile()` (XLA) separately, the fastest of `--repeats` tries (other processes on the
machine only ever add time); the compile's CPU time (all threads) is printed too, as it moves
less with load than the wall time. With the layers run under a scan both stay nearly flat in depth;
unrolled layers make them grow linearly.

    python benchmarks/compile_depth.py [--depths 8 32] [--remat] [--repeats 3] [--batch 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import flax
import jax
import jax.numpy as jnp
from flax import nnx

from models.qwen3_vl import Qwen3VL, preset
from sdpo_jax.loop.rundir import machine


def lowered(depth: int, *, remat: bool, batch: int, length: int):
    """The jitted loss-and-gradients of a tiny-width model of `depth` layers, lowered."""
    tiny = preset("tiny")
    config = dataclasses.replace(tiny, text=dataclasses.replace(tiny.text, num_hidden_layers=depth))
    abstract = nnx.eval_shape(lambda: Qwen3VL(config, rngs=nnx.Rngs(0), remat=remat))
    graphdef, state = nnx.split(abstract)

    @jax.jit
    def step(state, ids, mask):
        def loss(state):
            logits = nnx.merge(graphdef, state)(ids, mask).logits.astype(jnp.float32)
            logp = jax.nn.log_softmax(logits[:, :-1])
            picked = jnp.take_along_axis(logp, ids[:, 1:, None], axis=-1)[..., 0]
            return -(picked * mask[:, 1:]).sum() / mask[:, 1:].sum()

        return jax.value_and_grad(loss)(state)

    tokens = jax.ShapeDtypeStruct((batch, length), jnp.int32)
    return step.lower(state, tokens, tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--remat", action="store_true", help="recompute each layer (nnx.remat)")
    parser.add_argument("--repeats", type=int, default=3, help="report the fastest of these")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--length", type=int, default=64)
    args = parser.parse_args()

    print(
        f"{machine()}; jax {jax.__version__}, jaxlib {jax.lib.__version__}, flax "
        f"{flax.__version__}, backend {jax.default_backend()}"
    )
    print(
        f"tiny preset (hidden 64), text only, loss + gradients, batch {args.batch} x "
        f"{args.length} tokens, remat {args.remat}"
    )
    # A first compile absorbs one-time costs (backend start, caches) that would land on row one.
    lowered(1, remat=args.remat, batch=args.batch, length=args.length).compile()
    print(f"{'depth':>6}{'lower s':>10}{'compile s':>12}{'compile CPU s':>15}")
    for depth in args.depths:
        traced = compiled = cpu = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            low = lowered(depth, remat=args.remat, batch=args.batch, length=args.length)
            middle, cpu_start = time.perf_counter(), time.process_time()
            low.compile()
            end, cpu_end = time.perf_counter(), time.process_time()
            traced, compiled = min(traced, middle - start), min(compiled, end - middle)
            cpu = min(cpu, cpu_end - cpu_start)
        print(f"{depth:>6}{traced:>10.2f}{compiled:>12.2f}{cpu:>15.2f}", flush=True)


if __name__ == "__main__":
    main()
