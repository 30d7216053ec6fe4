"""Rollout throughput of the jit KV-cache sampler against transformers' `generate` on CPU.

Both sample from the same small Qwen3-VL (the one of model_step.py: text hidden 512, 4 layers)
for 4 left-padded prompts, each with one 16x16-patch image (64 tokens), x 8 samples, float32,
temperature 1 without filters, every row running the full `--new` tokens (transformers with
`min_new_tokens`, the sampler with an EOS id outside the vocabulary). Each is timed for one new
token (the prefill), for `--new` and for twice `--new` tokens; decode tokens/s = rows x new /
(time for 2 x new - time for new), so the prefill cancels (subtracting the one-token time from
the total made the decode share vanish in the prefill's noise: a prefill per sample once gave a
negative rate). Runs alternate so that load from other processes hits all alike; compilation is
excluded by a warm-up run. The ratios are taken run by run: median (min-max).

Rows of the table:
- transformers `generate(num_return_sequences=8)`: the reference;
- the sampler with `num_samples=8`: one prefill per prompt, the cache repeated for the group;
- the sampler over the prompts copied 8 times (`num_samples=1`): a prefill per sample, which
  isolates the gain from sharing the group prefill.

    python benchmarks/sampling.py [--new 64] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import numpy as np
import torch
import transformers
from model_step import bench_config, reference_and_port  # same directory: shared model

from sdpo_jax.loop.rundir import machine
from sdpo_jax.loop.sampling import generate

PROMPTS, SAMPLES = 4, 8
GRID = (1, 16, 16)


def prompts(config):
    """Left-padded prompts of 180..240 tokens around one image each."""
    rng = np.random.default_rng(0)
    n_image = int(np.prod(GRID)) // config.vision.spatial_merge_size**2
    image = [
        config.vision_start_token_id,
        *[config.image_token_id] * n_image,
        config.vision_end_token_id,
    ]
    rows = [
        [*rng.integers(0, 4000, 20), *image, *rng.integers(0, 4000, n - 20 - len(image))]
        for n in (240, 220, 200, 180)
    ]
    ids = np.zeros((PROMPTS, 240), np.int64)
    mask = np.zeros_like(ids)
    for i, row in enumerate(rows):
        ids[i, -len(row) :], mask[i, -len(row) :] = row, 1
    pixels = rng.standard_normal((PROMPTS * int(np.prod(GRID)), config.vision.patch_dim))
    grid = np.array([GRID] * PROMPTS, np.int64)
    return ids, mask, pixels.astype(np.float32), grid


def torch_run(model, ids, mask, pixels, grid, new):
    kwargs = dict(
        input_ids=torch.from_numpy(ids),
        attention_mask=torch.from_numpy(mask),
        mm_token_type_ids=torch.from_numpy((ids == model.config.image_token_id).astype(np.int64)),
        pixel_values=torch.from_numpy(pixels),
        image_grid_thw=torch.from_numpy(grid),
    )

    def run():
        with torch.no_grad():
            out = model.generate(
                **kwargs,
                do_sample=True,
                temperature=1.0,
                top_k=0,
                top_p=1.0,
                num_return_sequences=SAMPLES,
                max_new_tokens=new,
                min_new_tokens=new,
                pad_token_id=0,
            )
        assert out.shape == (PROMPTS * SAMPLES, ids.shape[1] + new)

    return run


def jax_run(model, ids, mask, pixels, grid, new, *, share_prefill):
    samples = SAMPLES
    if not share_prefill:  # each sample's own copy of its prompt (and image)
        ids, mask = np.repeat(ids, SAMPLES, axis=0), np.repeat(mask, SAMPLES, axis=0)
        per_image = int(np.prod(GRID))
        pixels = np.repeat(pixels.reshape(PROMPTS, per_image, -1), SAMPLES, axis=0)
        pixels, grid, samples = pixels.reshape(-1, pixels.shape[-1]), np.repeat(grid, SAMPLES, 0), 1
    batch = dict(input_ids=ids, attention_mask=mask, pixel_values=pixels, image_grid_thw=grid)
    keys = iter(jax.random.split(jax.random.key(0), 1000))

    def run():
        out = generate(
            model,
            batch,
            max_new_tokens=new,
            num_samples=samples,
            temperature=1.0,
            eos_ids=[model.config.text.vocab_size],  # never sampled: every row runs to the end
            rng=next(keys),
        )
        assert jax.block_until_ready(out.tokens).shape == (PROMPTS * SAMPLES, new)

    return run


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--new", type=int, default=64, help="tokens generated per sample")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--folder", default="/tmp/qwen3vl_bench_sampler")
    args = parser.parse_args()

    config = bench_config()
    reference, port = reference_and_port(config, args.folder)
    reference.eval()
    inputs = prompts(config)

    makers = {
        "transformers generate": lambda new: torch_run(reference, *inputs, new),
        "sampler, shared prefill": lambda new: jax_run(port, *inputs, new, share_prefill=True),
        "sampler, prefill per sample": lambda new: jax_run(port, *inputs, new, share_prefill=False),
    }
    lengths = (1, args.new, 2 * args.new)
    runners = {(name, new): make(new) for name, make in makers.items() for new in lengths}
    times = {key: [] for key in runners}
    for run in runners.values():  # warm-up: compilation, allocator
        run()
    for _ in range(args.runs):
        for key, run in runners.items():
            start = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - start)

    rows = PROMPTS * SAMPLES
    decode = {  # tokens/s, run by run
        name: [
            rows * args.new / (long - short)
            for short, long in zip(times[name, args.new], times[name, 2 * args.new])
        ]
        for name in makers
    }
    base, shared = "transformers generate", "sampler, shared prefill"
    print(
        f"\n{machine()}; jax {jax.__version__}, torch {torch.__version__}, transformers "
        f"{transformers.__version__}\nsampling {PROMPTS} prompts (180-240 tokens, 1 image {GRID})"
        f" x {SAMPLES} samples x {args.new} new tokens, float32, CPU, {args.runs} runs, torch "
        f"threads {torch.get_num_threads()}; XLA_FLAGS '{os.environ.get('XLA_FLAGS', '')}'"
    )
    print(
        f"{'implementation':<29}{'prefill s':>10}{'total s':>9}{'decode tok/s':>13}"
        f"{'decode vs torch':>22}{'total vs torch':>22}"
    )
    for name in makers:
        totals = times[name, args.new]
        print(
            f"{name:<29}{statistics.median(times[name, 1]):>10.2f}"
            f"{statistics.median(totals):>9.2f}{statistics.median(decode[name]):>13.0f}"
            f"{_ratios(decode[name], decode[base]):>22}"
            f"{_ratios(times[base, args.new], totals):>22}"
        )
    print(
        f"(total vs the shared prefill: {_ratios(times[shared, args.new], totals)} for the last row)"
    )


def _ratios(numerators, denominators) -> str:
    """Median (min-max) of run-by-run ratios."""
    ratios = [n / d for n, d in zip(numerators, denominators)]
    return f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"


if __name__ == "__main__":
    main()
