"""Forward + backward throughput of the Flax port against transformers (PyTorch) on CPU.

Both run the same small Qwen3-VL (text hidden 512, 4 layers; vision hidden 256, 2 blocks) on one
image (16x16 patches -> 64 tokens) inside a 1024-token sequence, in float32, computing the
next-token loss and all parameter gradients. Steps of the two alternate so that load from other
processes hits both alike; the table reports median step time, tokens/s and the ratio.

    python benchmarks/model_step.py [--steps 6] [--batch 1] [--profile]

`--profile` then runs three more steps of each under its own profiler (jax.profiler,
torch.profiler) and prints where the time goes: XLA's ops by kind (the numbered fusions summed,
on both CPU threads) and torch's operators, per step.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import os
import re
import statistics
import tempfile
import time

import flax
import jax
import jax.numpy as jnp
import numpy as np
import torch
import transformers
from flax import nnx

from models.qwen3_vl import load_hf, preset
from sdpo_jax.loop.rundir import machine

SEQUENCE = 1024
GRID = (1, 16, 16)


def bench_config():
    tiny = preset("tiny")
    text = dataclasses.replace(
        tiny.text,
        hidden_size=512,
        intermediate_size=1536,
        num_hidden_layers=4,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=64,
        mrope_section=(16, 8, 8),
    )
    vision = dataclasses.replace(
        tiny.vision,
        depth=2,
        hidden_size=256,
        intermediate_size=1024,
        num_heads=4,
        out_hidden_size=512,
        deepstack_visual_indexes=(0,),
    )
    return dataclasses.replace(tiny, text=text, vision=vision)


def reference_and_port(config, folder: str):
    """A randomly initialised transformers model of `config` (seed 0), written to `folder` as an
    HF checkpoint and loaded into the Flax port: both hold the same weights."""
    torch.manual_seed(0)
    reference = transformers.Qwen3VLForConditionalGeneration(
        transformers.Qwen3VLConfig.from_dict(config.to_hf_dict())
    )
    reference.save_pretrained(folder)
    return reference, load_hf(folder)


def inputs(config, batch):
    rng = np.random.default_rng(0)
    n_image = int(np.prod(GRID)) // config.vision.spatial_merge_size**2
    image = [
        config.vision_start_token_id,
        *[config.image_token_id] * n_image,
        config.vision_end_token_id,
    ]
    row = [*rng.integers(0, 4000, 16), *image]
    row += list(rng.integers(0, 4000, SEQUENCE - len(row)))
    ids = np.array([row] * batch, np.int64)
    grid = np.array([GRID] * batch, np.int64)
    pixels = rng.standard_normal((int(np.prod(GRID)) * batch, config.vision.patch_dim)).astype(
        np.float32
    )
    return ids, np.ones_like(ids), pixels, grid


def jax_step(model):
    graphdef, state = nnx.split(model)

    @jax.jit
    def step(state, ids, mask, pixels, grid):
        def loss(state):
            logits = nnx.merge(graphdef, state)(ids, mask, pixels, grid).logits
            logp = jax.nn.log_softmax(logits[:, :-1].astype(jnp.float32))
            return -jnp.take_along_axis(logp, ids[:, 1:, None], axis=-1).mean()

        return jax.value_and_grad(loss)(state)

    return lambda batch: jax.block_until_ready(step(state, *batch))


def torch_step(model):
    def step(batch):
        ids, mask, pixels, grid = batch
        model.zero_grad(set_to_none=True)
        logits = model(
            input_ids=ids,
            attention_mask=mask,
            pixel_values=pixels,
            image_grid_thw=grid,
            mm_token_type_ids=(ids == model.config.image_token_id).long(),
        ).logits
        logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
        loss = -logp.gather(-1, ids[:, 1:, None]).mean()
        loss.backward()
        return loss

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--folder", default="/tmp/qwen3vl_bench_model")
    parser.add_argument("--profile", action="store_true", help="print where the time goes")
    args = parser.parse_args()

    config = bench_config()
    reference, port = reference_and_port(config, args.folder)
    reference.train()

    batch = inputs(config, args.batch)
    runners = {
        "flax port (jax.jit)": (jax_step(port), tuple(jnp.asarray(x) for x in batch)),
        "transformers (torch)": (torch_step(reference), tuple(torch.from_numpy(x) for x in batch)),
    }
    times = {name: [] for name in runners}
    for run, data in runners.values():  # warm-up: compilation, allocator
        run(data)
    for _ in range(args.steps):
        for name, (run, data) in runners.items():
            start = time.perf_counter()
            run(data)
            times[name].append(time.perf_counter() - start)

    tokens = args.batch * SEQUENCE
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["transformers (torch)"]
    print(
        f"\n{machine()}; jax {jax.__version__}, flax {flax.__version__}, torch "
        f"{torch.__version__}, transformers {transformers.__version__}\nforward+backward, batch "
        f"{args.batch} x {SEQUENCE} tokens, 1 image {GRID}, float32, {args.steps} steps, "
        f"torch threads {torch.get_num_threads()}; XLA_FLAGS '{os.environ.get('XLA_FLAGS', '')}'"
    )
    print(f"{'implementation':<24}{'step ms':>10}{'tokens/s':>12}{'vs torch':>10}")
    for name, median in medians.items():
        print(f"{name:<24}{median * 1e3:>10.1f}{tokens / median:>12.0f}{base / median:>9.2f}x")
    ratios = [t / j for t, j in zip(times["transformers (torch)"], times["flax port (jax.jit)"])]
    print(
        f"port vs torch, step by step: median {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)"
    )
    if args.profile:
        for name, (run, data) in runners.items():
            profiled = profile_jax if name.startswith("flax") else profile_torch
            print(f"\n{name}: time per step by operation (3 steps profiled)")
            for op, ms in profiled(run, data, steps=3):
                print(f"  {ms:>8.1f} ms  {op}")


def profile_jax(run, data, steps: int, top: int = 8) -> list[tuple[str, float]]:
    """XLA's executed ops, numbered fusions summed by kind (`copy_bitcast_fusion`: layout
    copies; `ynn_fusion`, `dot`: matmuls), over the CPU client's threads."""
    from jax._src.lib import _profile_data

    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder):
            for _ in range(steps):
                run(data)
        (path,) = glob.glob(f"{folder}/**/*.xplane.pb", recursive=True)
        profile = _profile_data.ProfileData.from_file(path)
    kinds = collections.Counter()
    for plane in profile.planes:
        for line in plane.lines:
            if line.name.startswith("tf_XLAEigen"):
                for event in line.events:
                    if not event.name.startswith("ThunkExecutor"):
                        kinds[re.sub(r"\.\d+$", "", event.name)] += event.duration_ns
    return [(kind, ns / steps / 1e6) for kind, ns in kinds.most_common(top)]


def profile_torch(run, data, steps: int, top: int = 8) -> list[tuple[str, float]]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            run(data)
    events = sorted(profiler.key_averages(), key=lambda e: -e.self_cpu_time_total)
    return [(e.key, e.self_cpu_time_total / steps / 1e3) for e in events[:top]]


if __name__ == "__main__":
    main()
