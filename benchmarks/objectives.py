"""Memory and speed of the self-distillation loss, chunked against unchunked, in one run.

What is measured: the jitted value and gradient of `self_distillation_loss` with respect to the
student logits, from bfloat16 and float32 logits over Qwen3-VL's 151,936-token vocabulary, for
each support.
The reference is the same loss computed in one piece (chunk_size=None). Memory is XLA's compiled
temporary buffer size (`jax.jit(f).lower(...).compile().memory_analysis()`): what the step needs
beyond its inputs (two logits tensors) and outputs (the gradient). It is read at a small size
that is also timed here and at a training size (8 × 2048 tokens) that is only compiled. Times
are the best of --repeats runs after a warm-up (other work on a shared machine only adds time).

    PYTHONPATH=$PWD python benchmarks/objectives.py [--batch 1 --length 1024 --chunk 256]
"""

from __future__ import annotations

import argparse
import itertools
import time

import jax
import jax.numpy as jnp

from sdpo_jax.loop.rundir import machine
from sdpo_jax.method.objectives import SUPPORTS, self_distillation_loss

GIB = 1024**3


def loss_and_grad(support: str, chunk_size: int | None):
    def f(student, teacher, tokens, mask):
        loss = lambda s: self_distillation_loss(
            s, teacher, tokens, mask, support=support, chunk_size=chunk_size
        )[0]
        return jax.value_and_grad(loss)(student)

    return jax.jit(f)


def specs(batch: int, length: int, vocab: int, dtype):
    logits = jax.ShapeDtypeStruct((batch, length, vocab), dtype)
    per_token = jax.ShapeDtypeStruct((batch, length), jnp.int32)
    return logits, logits, per_token, jax.ShapeDtypeStruct((batch, length), jnp.float32)


def temp_bytes(fn, batch: int, length: int, vocab: int, dtype) -> int:
    compiled = fn.lower(*specs(batch, length, vocab, dtype)).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def seconds_per_step(fn, batch: int, length: int, vocab: int, dtype, repeats: int) -> float:
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    student = jax.random.normal(k1, (batch, length, vocab), dtype) * 3
    teacher = (student + jax.random.normal(k2, student.shape, dtype)).astype(dtype)
    tokens = jax.random.randint(k3, (batch, length), 0, vocab)
    mask = jnp.ones((batch, length), jnp.float32)
    compiled = fn.lower(student, teacher, tokens, mask).compile()
    jax.block_until_ready(compiled(student, teacher, tokens, mask))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(student, teacher, tokens, mask))
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--vocab", type=int, default=151_936)
    parser.add_argument("--chunk", type=int, default=256, help="tokens per chunk")
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-length", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtypes", default="bfloat16,float32", help="logits dtypes")
    args = parser.parse_args()

    rows = []
    timed_tokens = args.batch * args.length
    train_tokens = args.train_batch * args.train_length
    for dtype_name, support in itertools.product(args.dtypes.split(","), SUPPORTS):
        dtype = jnp.dtype(dtype_name)
        reference = {}
        for chunk in (None, args.chunk):
            fn = loss_and_grad(support, chunk)
            mem = temp_bytes(fn, args.batch, args.length, args.vocab, dtype)
            train_mem = temp_bytes(fn, args.train_batch, args.train_length, args.vocab, dtype)
            step = seconds_per_step(fn, args.batch, args.length, args.vocab, dtype, args.repeats)
            reference = reference or {"mem": mem, "train_mem": train_mem, "step": step}
            rows.append(
                (
                    dtype_name,
                    support,
                    "none" if chunk is None else str(chunk),
                    f"{mem / GIB:.2f}",
                    f"{mem / reference['mem']:.2f}",
                    f"{train_mem / GIB:.2f}",
                    f"{train_mem / reference['train_mem']:.3f}",
                    f"{step * 1e3:.0f}",
                    f"{timed_tokens / step:,.0f}",
                    f"{reference['step'] / step:.2f}",
                )
            )

    header = (
        "logits",
        "support",
        "chunk",
        f"temp GiB ({timed_tokens} tok)",
        "vs whole",
        f"temp GiB ({train_tokens} tok)",
        "vs whole",
        "ms/step",
        "tokens/s",
        "speed vs whole",
    )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda cells: " | ".join(c.rjust(w) for c, w in zip(cells, widths))
    device = jax.devices()[0].device_kind
    print(f"\n{machine()}\nself_distillation_loss value and gradient, vocab {args.vocab}, {device}")
    size = lambda tokens: f"{tokens * args.vocab * 4 / GIB:.2f} GiB at {tokens} tokens"
    print(f"one float32 [tokens, vocab] tensor: {size(timed_tokens)}, {size(train_tokens)}")
    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


if __name__ == "__main__":
    main()
