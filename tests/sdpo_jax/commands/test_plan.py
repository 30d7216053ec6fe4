"""The memory plan on the tiny model over 8 simulated devices: its figures against XLA's
memory_analysis and against a really sharded model, and its verdict both ways."""

import math

import jax
import pytest

from models.sharding import shard_model
from sdpo_jax.commands import plan as plan_module
from sdpo_jax.config import load_config
from sdpo_jax.runtime import load_model, make_mesh, sharding_rules

OVERRIDES = [
    "model.path=none",
    "mesh.fsdp=8",
    "train.batch_prompts=4",
    "train.microbatches=2",
    "sampling.max_new_tokens=64",
    "data.max_prompt_tokens=64",
    "teacher.max_context_tokens=256",
]


def xla_peak(stats) -> int:
    """A compiled program's peak: arguments + outputs - donated + temporaries."""
    return (
        stats.argument_size_in_bytes
        + stats.output_size_in_bytes
        - stats.alias_size_in_bytes
        + stats.temp_size_in_bytes
    )


@pytest.fixture(scope="module")
def planned():
    config = load_config("chart_tiny", OVERRIDES)
    return config, *plan_module.make_plan(config, "tpu-v5e", (128, 96))


def test_the_plan_reports_what_xla_reports(planned):
    from sdpo_jax.loop.train_step import init_state, jit_train_step, make_optimizer, make_train_step

    config, plan, shapes = planned
    assert (shapes.rollouts, shapes.microbatches, shapes.image_tokens) == (16, 2, 12)
    # The same program compiled here.
    mesh, rules = make_mesh(config.mesh), sharding_rules(config.mesh)
    model, _ = load_model(config.model, seed=0, mesh=mesh, rules=rules)
    optimizer = make_optimizer(config.optim, config.train.steps)
    graphdef, state = init_state(model, optimizer, config.teacher, config.objective)
    step = make_train_step(graphdef, optimizer, config.objective, config.teacher)
    batch = plan_module.abstract_batch(
        shapes, 8, model.config.vision.patch_dim, config.sampling.num_samples
    )
    stats = jit_train_step(step, state, batch, mesh, rules).lower(state, batch).compile()
    stats = stats.memory_analysis()
    assert plan.train_peak == xla_peak(stats)
    assert plan.activations == max(0, stats.temp_size_in_bytes - plan.gradients)


def test_parameter_bytes_are_those_of_a_sharded_model_on_one_device(planned):
    config, plan, shapes = planned
    mesh = make_mesh(config.mesh)
    model, _ = load_model(config.model, seed=0, mesh=None, rules=None)
    shard_model(model, mesh, sharding_rules(config.mesh))
    from flax import nnx

    first = jax.devices()[0]
    on_first = sum(
        shard.data.nbytes
        for leaf in jax.tree.leaves(nnx.state(model, nnx.Param))
        for shard in leaf.addressable_shards
        if shard.device == first
    )
    assert plan.parameters == on_first
    assert 0 <= plan.optimizer - 2 * on_first <= 64  # AdamW: two moments and a step count
    text = model.config.text
    total = (
        2
        * text.num_hidden_layers
        * 16
        * text.num_key_value_heads
        * (shapes.prompt + 64)
        * text.head_dim
        * 4
    )
    assert plan.kv_cache == total // 8  # 16 rows over fsdp=8


def test_the_verdict_and_the_advice(planned, monkeypatch):
    config, plan, shapes = planned
    text = plan_module.report(plan, shapes, config, "tpu-v5e", 8, (128, 96))
    gib = plan.peak / plan_module.GIB
    assert text.splitlines()[-1] == f"fits: yes, peak {gib:.1f} GiB of 16.0 GiB per device"
    small = plan_module.Plan(**{**plan.__dict__, "capacity": plan.peak // 2})
    text = plan_module.report(small, shapes, config, "tpu-v5e", 8, (128, 96))
    assert text.splitlines()[-1].startswith("fits: no, peak ")
    assert "to fit:" in text
    # Half the room fits fewer rollouts per microbatch, whole groups on the batch axes.
    assert plan.largest_microbatch == 16 and plan.largest_microbatch % math.lcm(4, 8) == 0


def test_the_command_line_refuses_a_bad_image_size():
    with pytest.raises(SystemExit, match="not WIDTHxHEIGHT"):
        plan_module.main(["chart_tiny", "--device", "tpu-v5e", "--devices", "8", "--image", "big"])


def test_the_2b_command_reports_what_xla_reports():
    """The documented paper-shaped command, run as users run it: its train-step peak is the
    one XLA reports for the same step compiled here from abstract inputs, and 2b fits."""
    import re
    import subprocess
    import sys

    import jax.numpy as jnp
    from flax import nnx

    from models.qwen3_vl import Qwen3VL
    from sdpo_jax.loop.train_step import init_state, jit_train_step, make_optimizer, make_train_step

    command = ["chart", "model.preset=2b", "--device", "h100-80gb", "--devices", "8"]
    done = subprocess.run(
        [sys.executable, "-m", "sdpo_jax", "plan", *command],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = lambda name: float(re.search(rf"{name}\s+([\d.]+)", done.stdout).group(1))
    assert re.search(r"^fits: yes, peak [\d.]+ GiB of 79.6 GiB per device$", done.stdout, re.M)

    config = load_config("chart", ["model.preset=2b"], weights=False)
    mesh, rules = make_mesh(config.mesh), sharding_rules(config.mesh)
    build = lambda: Qwen3VL(
        plan_module.architecture(config),
        rngs=nnx.Rngs(0),
        dtype=jnp.bfloat16,
        param_dtype=jnp.float32,
        remat=True,
    )
    optimizer = make_optimizer(config.optim, config.train.steps)
    graphdef, _ = nnx.split(nnx.eval_shape(build), nnx.Param)
    state = jax.eval_shape(
        lambda: init_state(build(), optimizer, config.teacher, config.objective)[1]
    )
    step = make_train_step(graphdef, optimizer, config.objective, config.teacher)
    shapes = plan_module.step_shapes(config, (1280, 960))
    rows = shapes.rollouts // shapes.microbatches
    batch = plan_module.abstract_batch(shapes, rows, 1536, config.sampling.num_samples)
    compiled = jit_train_step(step, state, batch, mesh, rules).lower(state, batch).compile()
    peak = xla_peak(compiled.memory_analysis()) / plan_module.GIB
    assert printed("XLA peak, train step") == pytest.approx(peak, abs=0.006)
