"""Will a recipe fit a device? A memory plan from XLA's ahead-of-time compilation.

    python -m sdpo_jax plan chart model.preset=2b --device h100-80gb --devices 8
    python -m sdpo_jax plan chart --device tpu-v5p --devices 8 --image 1280x960

Compiles the recipe's train step and its sampler from abstract inputs (no weights are made or
read) on `--devices` simulated CPU devices, with the recipe's mesh and sharding rules, and prints
per device: parameters, optimizer state, gradients, activations and the KV cache, XLA's peak
(`compiled.memory_analysis()` of each program) and the largest microbatch that fits. The last
line says whether the recipe fits.

XLA:CPU assigns the buffers here, not the accelerator's compiler: fusion and rematerialisation
differ a little between backends, so treat a margin of a few GiB as none.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from collections.abc import Sequence

GIB = 1 << 30
# Memory per chip as the runtime reports it (nvidia-smi's MiB for GPUs; HBM for TPUs).
DEVICES = {
    "h100-80gb": 81559 / 1024,
    "h200-141gb": 143771 / 1024,
    "tpu-v5p": 95.0,
    "tpu-v5e": 16.0,
    "tpu-v4": 32.0,
}
TEXT_TOKENS = 256  # the task's words around the image: the prompt template and the request
FEEDBACK_TOKENS = 512  # the teacher's feedback text: defect list or error, and the framing


@dataclasses.dataclass(frozen=True)
class Shapes:
    """The shapes one train step sees, derived from the recipe and the image size."""

    rollouts: int  # prompts x samples
    microbatches: int
    prompt: int  # student tokens before the completion (bucketed)
    completion: int
    teacher: int  # teacher context tokens before the completion (bucketed)
    image_tokens: int
    patches: int  # per image


@dataclasses.dataclass
class Plan:
    """Bytes per device."""

    parameters: int
    optimizer: int
    gradients: int
    activations: int
    kv_cache: int
    train_peak: int
    sampling_peak: int
    capacity: int
    largest_microbatch: int | None  # None: no second microbatch size to compare with

    @property
    def peak(self) -> int:
        return max(self.train_peak, self.sampling_peak)

    @property
    def fits(self) -> bool:
        return self.peak <= self.capacity


def architecture(config):
    """The model's configuration: the `model.path` folder's config.json, else the preset."""
    from models.qwen3_vl import preset
    from models.qwen3_vl.hf import read_config

    return read_config(config.model.path) if config.model.path else preset(config.model.preset)


def step_shapes(config, image: tuple[int, int]) -> Shapes:
    """Token and patch counts of the recipe's step for images of `image` (width, height)."""
    from sdpo_jax.data.pipeline import bucket_length

    vision = architecture(config).vision
    unit = vision.patch_size * vision.spatial_merge_size
    grid = [math.ceil(side / unit) * vision.spatial_merge_size for side in image]
    patches = grid[0] * grid[1]
    image_tokens = patches // vision.spatial_merge_size**2
    prompt = max(config.data.max_prompt_tokens, image_tokens + TEXT_TOKENS)
    teacher = prompt + image_tokens + FEEDBACK_TOKENS  # the target, the render and the feedback
    if config.teacher.max_context_tokens:
        teacher = min(teacher, config.teacher.max_context_tokens)
    return Shapes(
        rollouts=config.train.batch_prompts * config.sampling.num_samples,
        microbatches=config.train.microbatches,
        prompt=bucket_length(prompt, prompt),
        completion=config.sampling.max_new_tokens,
        teacher=bucket_length(teacher, limit=1 << 30),
        image_tokens=image_tokens,
        patches=patches,
    )


def abstract_batch(shapes: Shapes, rows: int, patch_dim: int, group: int) -> dict:
    """ShapeDtypeStructs in the layout of `sdpo_jax.loop.batch.assemble`, `rows` rollouts per
    microbatch in groups of `group`: each rollout's student prompt shows its group's target
    image, its teacher context the target and its own render; each distinct image is encoded
    once."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from sdpo_jax.data.pipeline import bucket_length
    from sdpo_jax.loop.batch import vision_buckets

    m, t = shapes.rollouts // rows, shapes.completion
    spec = lambda *shape, dtype=jnp.float32: jax.ShapeDtypeStruct((m, *shape), dtype)

    def inputs(length: int, shown: int, distinct: int) -> dict:
        fake = {
            "pixel_values": np.empty((distinct * shapes.patches, 0)),
            "image_grid_thw": range(distinct),
        }
        patches, slots = vision_buckets([fake])
        return {
            "input_ids": spec(rows, length + t, dtype=jnp.int32),
            "attention_mask": spec(rows, length + t, dtype=jnp.int32),
            "mm_token_type_ids": spec(rows, length + t, dtype=jnp.int32),
            "pixel_values": spec(patches, patch_dim),
            "image_grid_thw": spec(slots, 3, dtype=jnp.int32),
            "image_index": spec(bucket_length(shown, 1 << 40, 1), dtype=jnp.int32),
        }

    prompts = rows // group
    return {
        "student": inputs(shapes.prompt, rows, prompts),
        "teacher": inputs(shapes.teacher, 2 * rows, prompts + rows),
        "tokens": spec(rows, t, dtype=jnp.int32),
        "mask": spec(rows, t),
        "sd_mask": spec(rows, t),
        "weights": spec(rows, t),
        "sampler_logprobs": spec(rows, t),
        "advantages": spec(rows),
    }


def _bytes(tree, shardings) -> int:
    import jax

    sizes = jax.tree.map(
        lambda x, s: math.prod(s.shard_shape(x.shape)) * x.dtype.itemsize, tree, shardings
    )
    return int(sum(jax.tree.leaves(sizes)))


def _peak(compiled) -> int:
    stats = compiled.memory_analysis()
    return int(
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )


def make_plan(config, device: str, image: tuple[int, int]) -> tuple[Plan, Shapes]:
    """Compiles the train step (at two microbatch sizes, to find the largest that fits) and the
    sampler for `config` on the visible devices; returns the plan and the step's shapes."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from jax.sharding import NamedSharding

    from models.qwen3_vl import Qwen3VL
    from models.sharding import logical_to_spec, state_shardings
    from sdpo_jax.loop.sampling import _compiled
    from sdpo_jax.loop.train_step import (
        init_state,
        jit_train_step,
        make_optimizer,
        make_train_step,
        state_sharding,
    )
    from sdpo_jax.runtime import make_mesh, sharding_rules

    mesh, rules = make_mesh(config.mesh), sharding_rules(config.mesh)
    model_cfg = architecture(config)
    shapes = step_shapes(config, image)
    build = lambda: Qwen3VL(
        model_cfg,
        rngs=nnx.Rngs(0),
        dtype=jnp.dtype(config.model.dtype),
        param_dtype=jnp.dtype(config.model.param_dtype),
        remat=config.model.remat,
    )
    model = nnx.eval_shape(build)
    optimizer = make_optimizer(config.optim, config.train.steps)
    graphdef, _ = nnx.split(model, nnx.Param)
    state = jax.eval_shape(
        lambda: init_state(build(), optimizer, config.teacher, config.objective)[1]
    )
    step = make_train_step(graphdef, optimizer, config.objective, config.teacher)
    if mesh is None:
        replicated = lambda tree: jax.tree.map(lambda _: _OneDevice(), tree)
        shardings = replicated(state)
    else:
        shardings = state_sharding(state, mesh, rules)

    def train_peak(rows: int) -> tuple[int, int]:
        batch = abstract_batch(shapes, rows, model_cfg.vision.patch_dim, group)
        compiled = jit_train_step(step, state, batch, mesh, rules).lower(state, batch).compile()
        return _peak(compiled), int(compiled.memory_analysis().temp_size_in_bytes)

    # A microbatch holds whole groups and splits evenly over the batch axes; the peak grows
    # linearly with its rows, so a second size gives the largest that fits.
    group = config.sampling.num_samples
    unit = math.lcm(group, 1 if mesh is None else mesh.shape["data"] * mesh.shape["fsdp"])
    rows = shapes.rollouts // shapes.microbatches
    sizes = [n for n in (rows // 2, rows * 2) if n and n % unit == 0 and shapes.rollouts % n == 0]
    peak, temp = train_peak(rows)
    capacity = int(DEVICES[device] * GIB)
    largest = None
    if sizes:
        per_row = (peak - train_peak(sizes[0])[0]) / (rows - sizes[0])
        room = (capacity - (peak - per_row * rows)) // per_row if per_row > 0 else shapes.rollouts
        # A size the step can take: whole groups on the batch axes, splitting the rollouts evenly.
        usable = [n for n in range(unit, shapes.rollouts + 1, unit) if shapes.rollouts % n == 0]
        largest = max([n for n in usable if n <= room], default=0)

    parameters = _bytes(state.params, shardings.params)
    optimizer_bytes = _bytes(state.opt_state, shardings.opt_state)
    if state.ema_params is not None:
        optimizer_bytes += _bytes(state.ema_params, shardings.ema_params)

    # The sampler: every prompt of the step at once, G samples each, while the optimizer state
    # (and an EMA teacher) stay resident.
    full_graphdef, full_state = nnx.split(model)
    sampler_state = full_state
    if mesh is not None:
        placed = state_shardings(full_state, mesh, rules)
        sampler_state = jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), full_state, placed
        )
    prompts = config.train.batch_prompts
    settings = (
        shapes.completion, group, config.sampling.temperature, config.sampling.top_k,
        config.sampling.top_p, (0,), (), 0, (),
    )  # fmt: skip
    length = shapes.prompt
    row = lambda *shape, dtype=jnp.int32: jax.ShapeDtypeStruct(shape, dtype)
    sampler = _compiled(full_graphdef, settings, mesh).lower(
        sampler_state,
        row(prompts, length),
        row(prompts, length),
        row(prompts * shapes.patches, model_cfg.vision.patch_dim, dtype=jnp.float32),
        row(prompts, 3),
        jax.eval_shape(lambda: jax.random.key(0)),
    )
    sampling_peak = _peak(sampler.compile()) + optimizer_bytes
    text = model_cfg.text
    rows_kv = (prompts * group, text.num_key_value_heads)
    if (
        mesh is not None
    ):  # rows over the batch axes, KV heads over tensor, as the sampler places them
        spec = logical_to_spec(("batch", "kv_heads"), rows_kv, mesh, rules)
        rows_kv = NamedSharding(mesh, spec).shard_shape(rows_kv)
    cache = 2 * text.num_hidden_layers * math.prod(rows_kv) * (length + shapes.completion)
    cache *= text.head_dim * jnp.dtype(config.model.dtype).itemsize
    gradients = parameters
    return (
        Plan(
            parameters=parameters,
            optimizer=optimizer_bytes,
            gradients=gradients,
            activations=max(0, temp - gradients),
            kv_cache=int(cache),
            train_peak=peak,
            sampling_peak=sampling_peak,
            capacity=capacity,
            largest_microbatch=largest,
        ),
        shapes,
    )


class _OneDevice:
    """A single device's 'sharding': every shard is the whole array."""

    @staticmethod
    def shard_shape(shape):
        return shape


def advice(plan: Plan, shapes: Shapes, config) -> list[str]:
    """What would make a recipe that does not fit, fit."""
    if plan.fits:
        return []
    lines = []
    resident = plan.parameters + plan.optimizer + plan.gradients
    if resident > plan.capacity * 0.6:
        lines.append(
            "parameters, gradients and AdamW state alone take "
            f"{resident / GIB:.1f} GiB per device: shard over more devices (--devices), or keep "
            "the optimizer state in bfloat16"
        )
    if plan.train_peak > plan.capacity:
        rows = shapes.rollouts // shapes.microbatches
        if plan.largest_microbatch is None:
            lines.append("lower the rollouts per microbatch (train.microbatches)")
        elif plan.largest_microbatch:
            need = shapes.rollouts // plan.largest_microbatch
            lines.append(
                f"the train step needs microbatches of at most {plan.largest_microbatch} rollouts "
                f"(now {rows}): train.microbatches={need}"
            )
        else:
            lines.append("no microbatch fits beside the resident state")
    if plan.sampling_peak > plan.capacity:
        lines.append(
            f"sampling all {shapes.rollouts} rollouts at once holds a "
            f"{plan.kv_cache / GIB:.1f} GiB KV cache per device: sample fewer prompts at a time "
            "or lower sampling.max_new_tokens"
        )
    return lines


def report(plan: Plan, shapes: Shapes, config, device: str, devices: int, image) -> str:
    mesh = config.mesh
    gib = lambda b: f"{b / GIB:8.2f}"
    rows = shapes.rollouts // shapes.microbatches
    lines = [
        f"plan: {config.name} ({config.model.path or 'model.preset=' + config.model.preset}, "
        f"compute {config.model.dtype}, "
        f"parameters {config.model.param_dtype}, remat {config.model.remat}) on {devices} x "
        f"{device} ({plan.capacity / GIB:.1f} GiB each), mesh data={mesh.data} fsdp={mesh.fsdp} "
        f"tensor={mesh.tensor}",
        f"step: {shapes.rollouts} rollouts in {shapes.microbatches} microbatches of {rows}; "
        f"prompt {shapes.prompt} tokens ({image[0]}x{image[1]} image: {shapes.image_tokens}), "
        f"completion {shapes.completion}, teacher context {shapes.teacher}",
        "per device                                   GiB",
        f"  parameters                            {gib(plan.parameters)}",
        f"  optimizer state                       {gib(plan.optimizer)}",
        f"  gradients                             {gib(plan.gradients)}",
        f"  activations (XLA temp - gradients)    {gib(plan.activations)}",
        f"  KV cache (sampling)                   {gib(plan.kv_cache)}",
        f"  XLA peak, train step                  {gib(plan.train_peak)}",
        f"  XLA peak, sampling + optimizer state  {gib(plan.sampling_peak)}",
        "largest microbatch that fits: "
        + ("n/a" if plan.largest_microbatch is None else f"{plan.largest_microbatch} rollouts"),
    ]
    lines += [f"to fit: {line}" for line in advice(plan, shapes, config)]
    lines.append(
        f"fits: {'yes' if plan.fits else 'no'}, peak {plan.peak / GIB:.1f} GiB of "
        f"{plan.capacity / GIB:.1f} GiB per device"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        prog="python -m sdpo_jax plan", description=__doc__.splitlines()[0]
    )
    parser.add_argument("config", help="recipe name, e.g. chart")
    parser.add_argument("overrides", nargs="*", help="key.sub=value")
    parser.add_argument("--device", required=True, choices=sorted(DEVICES))
    parser.add_argument("--devices", type=int, required=True, help="how many of them")
    parser.add_argument("--image", default="1280x960", help="WIDTHxHEIGHT of each image")
    args = parser.parse_intermixed_args(argv)
    try:
        image = tuple(int(side) for side in args.image.lower().split("x"))
        assert len(image) == 2 and min(image) > 0
    except (ValueError, AssertionError):
        sys.exit(f"error: --image {args.image!r} is not WIDTHxHEIGHT, e.g. 1280x960")

    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_num_cpu_devices", args.devices)
    from sdpo_jax.config import ConfigError, load_config

    try:
        config = load_config(args.config, args.overrides, weights=False)
    except ConfigError as err:
        sys.exit(f"config error: {err}")
    plan, shapes = make_plan(config, args.device, image)
    text = report(plan, shapes, config, args.device, args.devices, image)
    print(text)
    return text


if __name__ == "__main__":
    main()
