"""What every entry point (train, eval, export) builds from a config: the device mesh, the model
with its chat encoder, and the prompt records.

Errors a user can cause here (a model folder that does not load, a data folder in the wrong
layout, too few devices) are raised as `RunError` with one line saying what to change.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from sdpo_jax import hosts
from sdpo_jax.config import Config, MeshConfig, ModelConfig
from sdpo_jax.data import records as sources
from sdpo_jax.data.bundled import Render, ensure_bundled
from sdpo_jax.data.pipeline import LoadPrompt, Prompt, SkipCounter
from sdpo_jax.data.records import BadSource, PromptRecord
from sdpo_jax.errors import RunError


def join_processes() -> None:
    """Joins the other processes of a run launched as several, before JAX computes anything.

    From `JAX_COORDINATOR_ADDRESS` (host:port of process 0), `JAX_NUM_PROCESSES` and
    `JAX_PROCESS_ID` where they are set (GPU hosts; CPU hosts talk over gloo), and with no
    arguments on a TPU VM slice of several hosts, where JAX finds the others itself. A single
    process does nothing."""
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if address:
        try:
            count, index = int(os.environ["JAX_NUM_PROCESSES"]), int(os.environ["JAX_PROCESS_ID"])
        except (KeyError, ValueError):
            raise RunError(
                f"JAX_COORDINATOR_ADDRESS={address} is set: also set JAX_NUM_PROCESSES (how "
                "many processes) and JAX_PROCESS_ID (this one's, from 0) to integers"
            ) from None
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(address, count, index)
    elif "," in os.environ.get("TPU_WORKER_HOSTNAMES", ""):
        jax.distributed.initialize()


def mesh_shape(config: MeshConfig, devices: int) -> tuple[int, int, int]:
    """(data, fsdp, tensor) with the one -1 axis taking the devices the others leave."""
    shape = [config.data, config.fsdp, config.tensor]
    if shape.count(-1) > 1:
        raise RunError(f"mesh {shape}: at most one of mesh.data/fsdp/tensor may be -1")
    if -1 in shape:
        fixed = math.prod(size for size in shape if size != -1)
        if devices % fixed:
            raise RunError(
                f"{devices} devices cannot be split as mesh {shape}; choose sizes that divide them"
            )
        shape[shape.index(-1)] = devices // fixed
    return tuple(shape)


def make_mesh(config: MeshConfig) -> Mesh | None:
    """The run's mesh, or None for a single device (plain jit, no sharding annotations)."""
    from models.sharding import make_mesh as mesh_of

    shape = mesh_shape(config, jax.device_count())
    if jax.process_count() > 1 and math.prod(shape) != jax.device_count():
        raise RunError(
            f"mesh {list(shape)} covers {math.prod(shape)} of the {jax.device_count()} devices "
            f"of {jax.process_count()} processes: a run of several processes needs them all "
            "(set one of mesh.data/fsdp/tensor to -1)"
        )
    if shape == (1, 1, 1):
        return None
    try:
        return mesh_of(*shape)
    except ValueError as err:
        raise RunError(str(err)) from None


# Larger models are paper recipes: on a CPU one step takes hours, so a run there is a mistake
# (usually the CPU build of JAX on an accelerator host).
CPU_MAX_PARAMETERS = 1_000_000_000


def keep_compiled() -> None:
    """Compiled programs persist in the user's cache folder, next to the bundled data: a second
    run, or one resumed after preemption, loads the train step and the sampler of shapes it met
    before instead of compiling them again (seconds on the tiny model, minutes for 8B on an
    accelerator). A folder already chosen (JAX_COMPILATION_CACHE_DIR) is kept."""
    if jax.config.jax_compilation_cache_dir:
        return
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    jax.config.update("jax_compilation_cache_dir", os.path.join(cache, "visual_sdpo", "jax"))


def describe_devices() -> str:
    """One line naming what JAX computes on, printed when a run starts."""
    devices = jax.devices()
    kinds = ", ".join(sorted({d.device_kind for d in devices}))
    hosts = f" on {jax.process_count()} processes" if jax.process_count() > 1 else ""
    return (
        f"devices: {len(devices)} x {jax.default_backend()} ({kinds}){hosts}, jax {jax.__version__}"
    )


def refuse_paper_scale_on_cpu(path: str) -> None:
    """One line instead of a run that would take hours per step on the CPU."""
    from models.qwen3_vl import Qwen3VL
    from models.qwen3_vl.hf import read_config

    if jax.default_backend() != "cpu":
        return
    abstract = nnx.eval_shape(lambda: Qwen3VL(read_config(path), rngs=nnx.Rngs(0)))
    count = sum(math.prod(v.shape) for v in jax.tree.leaves(nnx.state(abstract, nnx.Param)))
    if count > CPU_MAX_PARAMETERS:
        raise RunError(
            f"model.path={path!r} has {count / 1e9:.1f}B parameters and JAX runs on the CPU "
            "(no GPU or TPU visible): on an accelerator host run `make setup ACCEL=cuda12` or "
            "`make setup ACCEL=tpu` so JAX finds it; the *_tiny configs run on a CPU"
        )


def check_rows_fit(mesh: Mesh | None, rules: dict | None, rows: int) -> None:
    """The train step splits each microbatch's rollouts over the mesh's batch axes, so their
    count must be a multiple of those axes' devices: one line at the start, not a sharding
    error at the first step."""
    from models.sharding import DEFAULT_RULES

    if mesh is None:
        return
    axes = (DEFAULT_RULES if rules is None else rules).get("batch") or ()
    axes = (axes,) if isinstance(axes, str) else axes
    ways = math.prod(mesh.shape[a] for a in axes if a in mesh.shape)
    if rows % ways:
        names = " x ".join(f"mesh.{a}" for a in axes)
        raise RunError(
            f"{rows} rollouts a microbatch (train.batch_prompts x sampling.num_samples / "
            f"train.microbatches) cannot be split over the {ways} devices of {names}; make "
            f"them a multiple of {ways}, or set {names} to sizes whose product divides {rows}"
        )


def sharding_rules(config: MeshConfig) -> dict | None:
    """The config's rules table, or None for the model's default table."""
    return {name: tuple(axes) or None for name, axes in config.rules} if config.rules else None


def load_model(config: ModelConfig, *, seed: int, mesh: Mesh | None, rules: dict | None):
    """(model, encoder): a local HF folder, or the built-in tiny preset with fresh weights."""
    from models.qwen3_vl import Qwen3VL, load_hf, preset
    from models.qwen3_vl.hf import CheckpointError
    from models.qwen3_vl.tokenizer import ChatEncoder
    from models.sharding import shard_model

    compute, params = jnp.dtype(config.dtype), jnp.dtype(config.param_dtype)
    if config.path is None:
        model = Qwen3VL(
            preset(config.preset),
            rngs=nnx.Rngs(seed),
            dtype=compute,
            param_dtype=params,
            remat=config.remat,
        )
        if mesh is not None:
            shard_model(model, mesh, rules)
        return model, ChatEncoder.tiny()
    try:
        refuse_paper_scale_on_cpu(config.path)
        model = load_hf(
            config.path,
            dtype=params,
            compute_dtype=compute,
            mesh=mesh,
            rules=rules,
            remat=config.remat,
        )
        return model, ChatEncoder.from_folder(config.path)
    except (CheckpointError, FileNotFoundError, ValueError) as err:
        raise RunError(f"model.path={config.path!r}: {err}") from None


def load_records(config: Config, render: Render) -> tuple[list[PromptRecord], list[str]]:
    """(records, problems) of the configured source and split; the bundled sets are built with
    `render` (the pool's `render`) the first time."""
    data = config.data
    try:
        if data.source == "bundled":
            folder = hosts.main_first(
                lambda: ensure_bundled(data.task, render=render, seed=data.seed)
            )
            return sources.read_jsonl(folder / f"{data.split}.jsonl", data.task)
        if data.source == "jsonl":
            records, problems = sources.read_jsonl(data.path, data.task)
            if not records:
                first = problems[0] if problems else f"{data.path}: the file is empty"
                raise RunError(f"data.path={data.path!r} holds no prompt record; first: {first}")
            return records, problems
        reader = (
            sources.read_chartmimic if data.source == "chartmimic" else sources.read_design2code
        )
        return reader(data.path), []
    except BadSource as err:
        raise RunError(str(err)) from None


def load_prompts(config: Config, encoder, records: Sequence[PromptRecord]) -> list[Prompt]:
    """The records that load, as model-ready prompts (the others are skipped)."""
    load = LoadPrompt(
        encoder,
        max_tokens=config.data.max_prompt_tokens,
        image_size=config.data.letterbox,
        skipped=SkipCounter(),
        records=len(records) + 1,  # never stop: what loads is used
    )
    return [p for p in map(load.map, records) if p is not None]


def split_records(config: Config, split: str, render: Render) -> list[PromptRecord]:
    """The records of another split of the configured (bundled) data."""
    data = dataclasses.replace(config.data, split=split)
    return load_records(dataclasses.replace(config, data=data), render)[0]


def heldout_prompts(config: Config, encoder, render: Render) -> list[Prompt]:
    """The first `eval.quick_items` prompts of the bundled data's `eval.quick_split`, for the
    trainer's before -> after check (other sources have no such split: none)."""
    quick = config.eval
    if not quick.quick_items or config.data.source != "bundled":
        return []
    records = split_records(config, quick.quick_split, render)[: quick.quick_items]
    return load_prompts(config, encoder, records)
