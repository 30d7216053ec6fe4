"""Train-step throughput and memory on the CPU, against the student's own forward + backward.

The Visual-SDPO step runs the student forward and backward, a teacher forward over the longer
feedback context, and both losses. The reference, measured in the same run on the same batch,
is the student's forward + backward with a plain next-token loss: the ratio is what the method
costs on top of ordinary training. Memory is XLA's compiled estimate (temporaries + arguments).
The chunked vs whole full-vocabulary divergence memory is in benchmarks/objectives.py.

    python benchmarks/train_step.py [--steps 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from model_step import bench_config  # the same small model as benchmarks/model_step.py

from models.qwen3_vl import Qwen3VL, preset
from sdpo_jax.config import ObjectiveConfig, OptimConfig, TeacherConfig
from sdpo_jax.loop.rundir import machine
from sdpo_jax.loop.train_step import (
    completion_logits,
    init_state,
    make_optimizer,
    make_train_step,
    token_logprobs,
)

PROMPT, TEACHER_PROMPT, COMPLETION = 96, 160, 128


def batch(rows: int, vocab: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)

    def side(length):
        ids = rng.integers(5, 3000, size=(1, rows, length + COMPLETION)).astype(np.int32)
        return {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    shape = (1, rows, COMPLETION)
    return {
        "student": side(PROMPT),
        "teacher": side(TEACHER_PROMPT),
        "tokens": rng.integers(5, 3000, size=shape).astype(np.int32),
        "mask": np.ones(shape, np.float32),
        "weights": 1 + rng.integers(0, 2, size=shape).astype(np.float32),
        "sampler_logprobs": -rng.uniform(5, 9, size=shape).astype(np.float32),
        "advantages": rng.normal(size=(1, rows)).astype(np.float32),
    }


def timed(fn, state, data, steps):
    compiled = fn.lower(state, data).compile()
    memory = compiled.memory_analysis()
    mib = (
        (memory.temp_size_in_bytes + memory.argument_size_in_bytes) / 2**20
        if memory
        else float("nan")
    )
    state, out = compiled(state, data)  # warm
    jax.block_until_ready(out)
    start = time.perf_counter()
    for _ in range(steps):
        state, out = compiled(state, data)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps, mib


def measure(name, config, rows, steps):
    model = Qwen3VL(config, rngs=nnx.Rngs(0))
    optimizer = make_optimizer(OptimConfig(lr=1e-5, warmup_steps=0), total_steps=100)
    graphdef, state = init_state(model, optimizer, TeacherConfig(), ObjectiveConfig())
    data = jax.tree.map(jnp.asarray, batch(rows, config.text.vocab_size))
    step = jax.jit(
        make_train_step(graphdef, optimizer, ObjectiveConfig(support="full"), TeacherConfig())
    )

    def reference(state, data):
        mb = jax.tree.map(lambda x: x[0], data)

        def loss(params):
            logits = completion_logits(nnx.merge(graphdef, params), mb["student"], COMPLETION)
            return -jnp.mean(token_logprobs(logits, mb["tokens"]))

        value, grads = jax.value_and_grad(loss)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        return dataclasses.replace(state, params=params, opt_state=opt_state), value

    sdpo_s, sdpo_mib = timed(step, state, data, steps)
    ref_s, ref_mib = timed(jax.jit(reference), state, data, steps)
    tokens = rows * (PROMPT + COMPLETION)
    return name, tokens / sdpo_s, sdpo_mib, tokens / ref_s, ref_mib


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    rows = [
        measure("tiny (h64, 4 layers)", preset("tiny"), 8, args.steps),
        measure("model_step (h512, 4 layers)", bench_config(), 8, args.steps),
    ]
    print(
        f"\n{machine()}\nbatch: 8 rollouts x ({PROMPT} prompt + {COMPLETION} completion) tokens; teacher context {TEACHER_PROMPT}"
    )
    print(
        f"{'config':<24} {'SDPO step tok/s':>16} {'MiB':>8} {'student f+b tok/s':>18} {'MiB':>8} {'cost x':>7}"
    )
    for name, sdpo, sdpo_mib, ref, ref_mib in rows:
        print(
            f"{name:<24} {sdpo:>16.0f} {sdpo_mib:>8.0f} {ref:>18.0f} {ref_mib:>8.0f} {ref / sdpo:>7.2f}"
        )


if __name__ == "__main__":
    main()
