"""Export a training checkpoint as a Hugging Face folder (what `make export` runs):

    python -m sdpo_jax export runs/chart_tiny exports/chart_tiny [--step N] [--dtype bfloat16]
    python -m sdpo_jax export runs/chart_tiny/checkpoints/20 exports/chart_tiny_20

The run directory says how its model was built (config.txt), so the export needs nothing else:
the checkpoint's parameters are restored into that model and written with `save_hf`, with the
tokenizer and image-processor files of the model folder (or the built-in tiny one) beside them.
`python -m models.qwen3_vl.verify --hf OUT` then checks the folder against transformers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

import jax.numpy as jnp
from flax import nnx
from jax.sharding import Mesh

from sdpo_jax.commands import one_line_errors
from sdpo_jax.config import Config, ConfigError, load_config
from sdpo_jax.errors import RunError
from sdpo_jax.loop.checkpoints import Checkpointer
from sdpo_jax.loop.train_step import init_state, make_optimizer, place_state
from sdpo_jax.runtime import load_model

# Keys renamed since runs were saved, so an older run's config.txt still loads.
RENAMED_KEYS = {
    f"render.{k}": f"render.limits.{k}" for k in ("wall_seconds", "cpu_seconds", "memory_mb")
}


def run_config(run_dir: Path) -> Config:
    """The config a run was started with, from its config.txt."""
    lines = (run_dir / "config.txt").read_text().splitlines()
    name = next(line.split("=", 1)[1] for line in lines if line.startswith("name="))
    renamed = [
        RENAMED_KEYS.get(key, key) + sep + value
        for key, sep, value in (line.partition("=") for line in lines)
    ]
    return load_config(name, renamed)


class Restored(NamedTuple):
    config: Config  # the config the run was started with
    model: nnx.Module  # with the checkpoint's parameters
    encoder: Any  # the model's ChatEncoder
    run_dir: Path
    step: int


def restore_run(
    run_dir: str | Path, step: int | None = None, *, mesh: Mesh | None = None, rules=None
) -> Restored:
    """The model of `step` (default: the newest) of a run directory, or of one of its
    `checkpoints/<N>` folders, as training left it, on `mesh` (default: one device)."""
    run_dir = Path(run_dir)
    if run_dir.parent.name == "checkpoints" and run_dir.name.isdigit():  # <run>/checkpoints/<N>
        run_dir, step = run_dir.parent.parent, int(run_dir.name)
    if not (run_dir / "config.txt").is_file():
        raise RunError(
            f"{run_dir} is not a run directory (no config.txt); pass the run_dir of a training run"
        )
    try:
        config = run_config(run_dir)
    except ConfigError as err:
        raise RunError(f"{run_dir / 'config.txt'}: {err}") from None
    model, encoder = load_model(config.model, seed=config.train.seed, mesh=mesh, rules=rules)
    graphdef, state = init_state(
        model, make_optimizer(config.optim, config.train.steps), config.teacher, config.objective
    )
    state = place_state(state, mesh, rules)
    with Checkpointer(
        run_dir / "checkpoints", save_every=1, keep=config.train.keep_checkpoints
    ) as ckpt:
        steps = ckpt.all_steps()
        if not steps:
            raise RunError(f"{run_dir / 'checkpoints'} holds no complete checkpoint; train first")
        step = steps[-1] if step is None else step
        if step not in steps:
            raise RunError(f"no checkpoint of step {step} in {run_dir}; there are steps {steps}")
        state, _, _ = ckpt.restore(step, like=state)
    return Restored(config, nnx.merge(graphdef, state.params), encoder, run_dir, step)


def export(
    run_dir: str | Path, out: str | Path, *, step: int | None = None, dtype=jnp.bfloat16
) -> Path:
    """Writes the parameters of `step` (default: the newest) of `run_dir` to `out`."""
    from models.qwen3_vl import save_hf
    from models.qwen3_vl.tokenizer import TINY_FOLDER

    restored = restore_run(run_dir, step)
    source = restored.config.model.path or TINY_FOLDER
    save_hf(restored.model, out, dtype=dtype, source=source)
    return Path(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out")
    parser.add_argument("--step", type=int, default=None)
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    args = parser.parse_args(argv)
    with one_line_errors():
        out = export(args.run_dir, args.out, step=args.step, dtype=jnp.dtype(args.dtype))
    print(
        f"exported {args.run_dir} to {out}; check it with: python -m models.qwen3_vl.verify --hf {out}"
    )


if __name__ == "__main__":
    main()
