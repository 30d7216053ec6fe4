"""The train step on the tiny model: it learns, microbatching is exact, the teacher gets no
gradient, and the sharded step equals the single-device step.

`setup` is cached: tests that take the same step share its function, so `jax.jit` of it traces
and compiles once per batch shape for the whole module (jit caches by function). Its state is
never donated here except through a copy."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from models.qwen3_vl import Qwen3VL, preset
from models.qwen3_vl.tokenizer import ChatEncoder
from models.sharding import make_mesh
from sdpo_jax.config import ObjectiveConfig, OptimConfig, TeacherConfig
from sdpo_jax.loop.batch import assemble
from sdpo_jax.loop.train_step import (
    CompiledSteps,
    init_state,
    jit_train_step,
    lr_schedule,
    make_optimizer,
    make_train_step,
)

G, T = 2, 6


@pytest.fixture(scope="module")
def encoder():
    return ChatEncoder.tiny()


def make_batch(encoder, microbatches, prompts=4, seed=0, renders=True):
    rng = np.random.default_rng(seed)
    config = preset("tiny")
    student, teacher = [], []
    for p in range(prompts):
        text = {"input_ids": rng.integers(5, 3000, size=10 + p).astype(np.int32)}
        for g in range(G):
            student.append(encoder.encode([{"role": "user", "content": f"prompt {p}"}]))
            # The teacher sees an image on odd rollouts (a render), none on even (a failure).
            n_img = (p + g) % 2 if renders else 0
            pad = [config.image_token_id] * (4 * n_img)
            ids = np.concatenate([text["input_ids"], np.asarray(pad, np.int32), [7, 8]])
            teacher.append(
                {
                    "input_ids": ids,
                    "mm_token_type_ids": (ids == config.image_token_id).astype(np.int32),
                    "pixel_values": rng.normal(size=(16 * n_img, 1536)).astype(np.float32),
                    "image_grid_thw": np.asarray([[1, 4, 4]] * n_img, np.int64).reshape(-1, 3),
                }
            )
    rows = prompts * G
    lengths = rng.integers(2, T + 1, size=rows)
    return assemble(
        encoder.collate,
        student,
        teacher,
        tokens=rng.integers(5, 3000, size=(rows, T)).astype(np.int32),
        lengths=lengths,
        sampler_logprobs=-rng.uniform(5, 9, size=(rows, T)).astype(np.float32),
        weights=1 + rng.integers(0, 2, size=(rows, T)).astype(np.float32),
        advantages=rng.normal(size=rows).astype(np.float32),
        group_size=G,
        microbatches=microbatches,
        max_prompt_tokens=256,
    )


@functools.cache
def setup(teacher="live", lr=1e-3, support="topk", sgd=False, beta=0.0):
    """The tiny model's train step. `sgd`: a plain gradient step (params − g) instead of AdamW,
    for tests that compare parameters: Adam divides each gradient by its own magnitude, so a
    near-zero gradient's float noise becomes a whole step of either sign."""
    jax.config.update("jax_default_matmul_precision", "highest")
    model = Qwen3VL(preset("tiny"), rngs=nnx.Rngs(0))
    if sgd:
        optimizer = optax.sgd(1.0)
    else:
        optimizer = make_optimizer(OptimConfig(lr=lr, warmup_steps=0, grad_clip=1.0), 10)
    teacher_cfg = TeacherConfig(weights=teacher)
    objective = ObjectiveConfig(support=support, topk=20, beta=beta)
    graphdef, state = init_state(model, optimizer, teacher_cfg, objective)
    return graphdef, state, make_train_step(graphdef, optimizer, objective, teacher_cfg)


def leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


@pytest.mark.slow
def test_step_lowers_the_loss_on_a_repeated_batch(encoder):
    _, state, step = setup()
    step = jax.jit(step)
    batch = make_batch(encoder, microbatches=1)
    losses = []
    for _ in range(4):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss/total"]))
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert int(state.step) == 4
    for key in ("loss/grpo", "loss/sd", "sd/divergence", "grpo/clip_fraction", "optim/grad_norm"):
        assert key in metrics


@pytest.mark.slow
def test_four_microbatches_of_one_prompt_equal_one_batch_of_four(encoder):
    """The accumulated gradient equals the full batch's: compared through a plain gradient
    step, params − g (see `setup`)."""
    _, state, step = setup(sgd=True)
    one = make_batch(encoder, microbatches=1)
    four = make_batch(encoder, microbatches=4)
    assert one["tokens"].shape == (1, 4 * G, T) and four["tokens"].shape == (4, G, T)
    s1, m1 = jax.jit(step)(state, one)
    s4, m4 = jax.jit(step)(state, four)
    # Every logged metric too: loss terms were averaged over microbatches (4x too small), the
    # extremes and token means were means of the microbatches' own.
    assert m1.keys() == m4.keys()
    for key in m1:
        np.testing.assert_allclose(
            float(m1[key]), float(m4[key]), rtol=1e-5, atol=1e-6, err_msg=key
        )
    for a, b in zip(leaves(s1.params), leaves(s4.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_no_gradient_flows_into_the_teacher(encoder):
    """With an EMA teacher, the gradient with respect to the teacher's parameters is zero."""
    from sdpo_jax.loop.train_step import make_loss

    graphdef, state, _ = setup(teacher="ema", support="full")
    loss = make_loss(graphdef, ObjectiveConfig(support="full", sd_weight=1.0))
    mb = jax.tree.map(lambda x: x[0], make_batch(encoder, microbatches=1))
    # jitted like the train step: filler images are only valid inside the compiled step
    grad_teacher = jax.jit(jax.grad(lambda t: loss(state.params, t, None, mb, 10.0, 10.0)[0]))(
        state.ema_params
    )
    assert all(np.all(g == 0) for g in leaves(grad_teacher))
    grad_student = jax.jit(jax.grad(lambda p: loss(p, state.ema_params, None, mb, 10.0, 10.0)[0]))(
        state.params
    )
    assert any(np.any(g != 0) for g in leaves(grad_student))


@pytest.mark.slow
def test_ema_teacher_moves_towards_the_student(encoder):
    _, state, step = setup(teacher="ema")
    before = leaves(state.ema_params)
    state, _ = jax.jit(step)(state, make_batch(encoder, microbatches=1))
    after, params = leaves(state.ema_params), leaves(state.params)
    moved = [np.abs(a - b).max() for a, b in zip(after, before, strict=True)]
    assert max(moved) > 0
    np.testing.assert_allclose(after[0], 0.95 * before[0] + 0.05 * params[0], rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_sharded_step_equals_the_single_device_step(encoder):
    batch = make_batch(encoder, microbatches=2)
    _, state, step = setup(sgd=True)
    single, m_single = jax.jit(step)(state, batch)
    mesh = make_mesh(data=2, fsdp=2, tensor=2)
    sharded_step = jit_train_step(step, state, batch, mesh)
    sharded, m_sharded = sharded_step(jax.tree.map(jnp.copy, state), batch)  # donated
    assert len(jax.tree.leaves(sharded.params)[0].sharding.device_set) == 8
    for key in ("loss/total", "loss/sd", "loss/grpo", "optim/grad_norm"):
        np.testing.assert_allclose(
            float(m_sharded[key]), float(m_single[key]), rtol=1e-5, atol=1e-6
        )
    # params − g: the sharded gradient equals the single-device one (see `setup`).
    for a, b in zip(leaves(sharded.params), leaves(single.params), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_on_a_mesh_a_batch_without_renders_follows_one_with_them(encoder):
    """A slide prompt has no image, so the teacher batch has vision inputs only when some
    rollout rendered: a step compiled with one batch's shardings refused the other's structure
    (pytree structure error) on several devices."""
    rendered = make_batch(encoder, microbatches=1)
    failed = make_batch(encoder, microbatches=1, renders=False)
    assert "pixel_values" in rendered["teacher"] and "pixel_values" not in failed["teacher"]
    _, state, step = setup()
    steps = CompiledSteps(step, make_mesh(data=8))
    state = jax.tree.map(jnp.copy, state)  # donated
    for batch in (rendered, failed, rendered):
        state, metrics = steps(state, batch)
        assert np.isfinite(float(metrics["loss/total"]))
    assert len(steps.jitted) == 2 and int(state.step) == 3


@pytest.mark.slow
def test_reference_kl_starts_at_zero_and_grows_as_the_policy_moves(encoder):
    """beta > 0 keeps the starting weights frozen as the reference: on the first step the
    policy is the reference (KL 0, the loss of beta = 0); after updates the KL is positive and
    enters the loss as beta * KL."""
    batch = make_batch(encoder, microbatches=1)
    _, state, step = setup(beta=0.5)
    _, plain_state, plain_step = setup(beta=0.0)
    assert plain_state.ref_params is None
    first, metrics = jax.jit(step)(state, batch)
    _, plain = jax.jit(plain_step)(plain_state, batch)
    assert abs(float(metrics["grpo/kl_ref"])) < 1e-6
    np.testing.assert_allclose(float(metrics["loss/total"]), float(plain["loss/total"]), rtol=1e-5)
    state = first
    for _ in range(3):
        state, metrics = jax.jit(step)(state, batch)
    assert float(metrics["grpo/kl_ref"]) > 1e-6
    np.testing.assert_allclose(
        float(metrics["grpo/kl_loss"]), 0.5 * float(metrics["grpo/kl_ref"]), rtol=1e-5
    )
    # the reference never moves
    for a, b in zip(leaves(state.ref_params), leaves(plain_state.params), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_rows_left_out_of_the_distillation_give_no_sd_loss(encoder):
    """SDPO's mask: rows marked not distilled add nothing to L_SD (all out: L_SD = 0), while the
    GRPO term still sees every row."""
    batch = make_batch(encoder, microbatches=2)
    _, state, step = setup()
    _, full = jax.jit(step)(state, batch)
    none = dict(batch, sd_mask=np.zeros_like(batch["sd_mask"]))
    _, masked = jax.jit(step)(state, none)
    assert float(full["loss/sd"]) > 0 and float(masked["loss/sd"]) == 0.0
    np.testing.assert_allclose(float(masked["loss/grpo"]), float(full["loss/grpo"]), rtol=1e-5)


def test_a_step_whose_loss_is_not_finite_leaves_the_state_unchanged(encoder):
    batch = make_batch(encoder, microbatches=1)
    batch["advantages"] = np.full_like(batch["advantages"], np.nan)
    _, state, step = setup()
    before = leaves(state)
    after, metrics = jax.jit(step)(state, batch)
    assert not bool(metrics["loss/finite"])
    for a, b in zip(leaves(after), before, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("grpo_weight", "sd_weight", "beta"),
    [(0.0, 1.0, 0.0), (1.0, 0.0, 0.0), (0.5, 2.0, 0.0), (0.0, 1.0, 0.5)],
)
def test_the_total_loss_weighs_the_two_terms(encoder, grpo_weight, sd_weight, beta):
    """L = grpo_weight · L_PG + β · KL + λ · L_SD: the SD-only and GRPO-only arms of the
    learning benchmark switch one term off without touching the other, and the SD-only arm
    keeps its KL to the reference (it was scaled by grpo_weight, so lost)."""
    from sdpo_jax.loop.train_step import make_loss

    graphdef, state, _ = setup()
    objective = ObjectiveConfig(grpo_weight=grpo_weight, sd_weight=sd_weight, beta=beta)
    mb = jax.tree.map(lambda x: x[0], make_batch(encoder, microbatches=1))
    # the reference a little off the policy, so the KL is not zero
    ref = jax.tree.map(lambda x: x * 1.01, state.params) if beta else None
    loss = jax.jit(lambda p, r: make_loss(graphdef, objective)(p, p, r, mb, 10.0, 10.0))
    total, metrics = loss(state.params, ref)
    kl = float(metrics.get("grpo/kl_loss", 0.0))
    pg = float(metrics["grpo/pg_loss"])
    expected = grpo_weight * pg + kl + sd_weight * float(metrics["loss/sd"])
    assert pg != 0 and float(metrics["loss/sd"]) != 0 and (kl > 0) == (beta > 0)
    np.testing.assert_allclose(float(total), expected, rtol=1e-6)


@pytest.mark.slow
def test_fsdp_splits_the_rows_across_devices(encoder):
    """On 8 devices with FSDP each device computes its own rows: the compiled step's
    temporaries per device are a fraction of the single-device step's (holding every row's
    logits on each device, as when XLA gathers activations instead of weights, is not)."""
    batch = make_batch(encoder, microbatches=1)
    _, state, step = setup(sgd=True)
    temp = lambda jitted: jitted.lower(state, batch).compile().memory_analysis().temp_size_in_bytes
    single = temp(jax.jit(step))
    sharded = temp(jit_train_step(step, state, batch, make_mesh(fsdp=8)))
    assert sharded < 0.3 * single, (sharded, single)


def test_the_first_update_learns_and_the_last_reaches_the_floor():
    """The warmup starts above zero: read at optax's count 0 it gave the first step of every
    run lr 0 (one of 60 steps in a tiny run did nothing)."""
    config = OptimConfig(lr=1e-3, warmup_steps=2, min_lr_ratio=0.1)
    rates = [float(lr_schedule(config, 10)(k)) for k in range(10)]
    assert rates[:2] == pytest.approx([5e-4, 1e-3])
    assert rates[-1] == pytest.approx(1e-4) and rates == sorted(rates[:2]) + sorted(rates[2:])[::-1]
    optimizer = make_optimizer(config, 10)
    params = {"w": jnp.ones(3)}
    updates, _ = optimizer.update({"w": jnp.ones(3)}, optimizer.init(params), params)
    assert float(jnp.abs(updates["w"]).min()) > 1e-4
