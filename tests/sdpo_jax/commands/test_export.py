"""`make export` as users run it: the two commands its recipe runs, in their own processes, on a
real run directory with orbax checkpoints of two steps; the bfloat16 folder it writes holds the
chosen step's weights and passes `models.qwen3_vl.verify`; what a user can get wrong is one
line each."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors import safe_open

from models.qwen3_vl import load_hf
from sdpo_jax.commands import export
from sdpo_jax.config import load_config
from sdpo_jax.loop import rundir
from sdpo_jax.loop.checkpoints import Checkpointer
from sdpo_jax.loop.train_step import init_state, make_optimizer
from sdpo_jax.runtime import load_model

ROOT = Path(__file__).parents[3]
STEPS = {1: 0.25, 3: -0.5}  # step -> what was added to every fresh parameter


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A chart_tiny run directory (fresh tiny weights) with checkpoints of steps 1 and 3, each
    its own shift of the parameters; returns it and each step's parameters."""
    root = tmp_path_factory.mktemp("runs")
    config = load_config("chart_tiny", ["model.path=none", f"run_dir={root / 'chart_tiny'}"])
    folder, _ = rundir.prepare(config, ["test"])
    model, _ = load_model(config.model, seed=config.train.seed, mesh=None, rules=None)
    _, state = init_state(model, make_optimizer(config.optim, 3), config.teacher, config.objective)
    params = {}
    with Checkpointer(folder / "checkpoints", save_every=1, keep=5) as ckpt:
        for step, shift in STEPS.items():
            params[step] = jax.tree.map(lambda x, s=shift: x + s, state.params)
            ckpt.save(
                step, dataclasses.replace(state, params=params[step]), data={}, meta={}, force=True
            )
    return folder, params


def recipe(ckpt, out) -> list[list[str]]:
    """The commands `make export CKPT=.. OUT=..` runs (make -n prints them without running)."""
    printed = subprocess.run(
        ["make", "-n", "export", f"CKPT={ckpt}", f"OUT={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    commands = [line.split() for line in printed if " -m sdpo_jax export " in line]
    commands += [line.split() for line in printed if " -m models.qwen3_vl.verify " in line]
    assert [c[1:4] for c in commands] == [
        ["-m", "sdpo_jax", "export"],
        ["-m", "models.qwen3_vl.verify", "--hf"],
    ], printed
    return [[sys.executable, *c[1:]] for c in commands]


@pytest.mark.slow
def test_a_checkpoint_folder_exports_as_bfloat16_and_verifies(run_dir, tmp_path):
    folder, params = run_dir
    out = tmp_path / "export"
    exported, verified = [
        subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
        for command in recipe(folder / "checkpoints" / "1", out)
    ]
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert f"exported {folder / 'checkpoints' / '1'} to {out}" in exported.stdout
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert verified.stdout.strip().endswith(": OK")

    assert json.loads((out / "config.json").read_text())["text_config"]["dtype"] == "bfloat16"
    for file in out.glob("*.safetensors"):
        with safe_open(file, framework="numpy") as tensors:
            dtypes = {tensors.get_slice(name).get_dtype() for name in tensors.keys()}  # noqa: SIM118
        assert dtypes == {"BF16"}, file.name
    # The folder holds step 1 (not the newest, 3), rounded to bfloat16.
    loaded = nnx.state(load_hf(out, dtype=jnp.float32), nnx.Param)
    for got, want in zip(jax.tree.leaves(loaded), jax.tree.leaves(params[1]), strict=True):
        rounded = np.asarray(want.astype(jnp.bfloat16).astype(jnp.float32))
        np.testing.assert_array_equal(np.asarray(got), rounded)


def one_line_error(*argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        export.main([str(a) for a in argv])
    message = str(exit_info.value.code)
    assert message.startswith("error: ") and "\n" not in message, message
    return message


def test_a_step_that_was_not_saved_is_one_line(run_dir, tmp_path):
    folder, _ = run_dir
    message = one_line_error(folder / "checkpoints" / "2", tmp_path / "out")
    assert message == f"error: no checkpoint of step 2 in {folder}; there are steps [1, 3]"
    assert not (tmp_path / "out").exists()


def test_a_run_without_checkpoints_is_one_line(tmp_path):
    config = load_config("chart_tiny", ["model.path=none", f"run_dir={tmp_path / 'run'}"])
    folder, _ = rundir.prepare(config, ["test"])
    message = one_line_error(folder, tmp_path / "out")
    assert message == (f"error: {folder / 'checkpoints'} holds no complete checkpoint; train first")


def test_a_folder_that_is_not_a_run_is_one_line(tmp_path):
    message = one_line_error(tmp_path, tmp_path / "out")
    assert message == (
        f"error: {tmp_path} is not a run directory (no config.txt); pass the run_dir of a "
        "training run"
    )
