"""The train step: a pure function `(state, batch) -> (state, metrics)`, jit-compiled with
explicit shardings over the ("data", "fsdp", "tensor") mesh.

    student forward on (prompt, completion)            -> log π_θ
    teacher forward on (prompt ⊕ feedback, completion) -> sg(log π_φ), φ = θ (live) or EMA(θ)
    reference forward on (prompt, completion), β > 0   -> sg(log π_ref), the starting weights
    L = L_GRPO (+ β · KL(π_θ ‖ π_ref)) + λ · L_SD     (L_GRPO scaled by objective.grpo_weight)

The batch carries a leading microbatch axis (sdpo_jax/loop/batch.py); gradients are accumulated over
it with `lax.scan`, and every loss is normalized by the token (or sequence) count of the whole
batch, so M microbatches of n rows give the gradient of one batch of M·n rows. Parameters stay
in fp32 (master weights) while the model computes in its own dtype (bf16 on accelerators);
AdamW with linear warmup and cosine decay, and global-norm clipping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from models.sharding import activation_sharding, state_shardings
from sdpo_jax.config import ObjectiveConfig, OptimConfig, TeacherConfig
from sdpo_jax.method.objectives import grpo_loss, self_distillation_loss


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any  # nnx.State of nnx.Param
    opt_state: Any
    ema_params: Any  # nnx.State, or None with a live teacher
    ref_params: Any = None  # the starting weights, frozen, when objective.beta > 0


def lr_schedule(config: OptimConfig, total_steps: int) -> optax.Schedule:
    """The rate of update k (0-based, as optax counts): linear warmup that reaches `lr` at
    update `warmup_steps` - 1, then cosine decay to `lr * min_lr_ratio` at the last update.
    Read one ahead of optax's count, so the first update learns (a warmup from 0 read at
    count 0 would make it a no-op)."""
    base = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=config.lr,
        warmup_steps=config.warmup_steps,
        decay_steps=max(total_steps, config.warmup_steps + 1),
        end_value=config.lr * config.min_lr_ratio,
    )
    return lambda count: base(count + 1)


def make_optimizer(config: OptimConfig, total_steps: int) -> optax.GradientTransformation:
    schedule = lr_schedule(config, total_steps)
    adamw = optax.adamw(schedule, b1=config.b1, b2=config.b2, weight_decay=config.weight_decay)
    return (
        optax.chain(optax.clip_by_global_norm(config.grad_clip), adamw)
        if config.grad_clip
        else adamw
    )


def init_state(
    model: nnx.Module,
    optimizer: optax.GradientTransformation,
    teacher: TeacherConfig,
    objective: ObjectiveConfig,
):
    """(graphdef, state) of a model; the state's params are the model's own arrays (no copy).
    An EMA teacher and a KL reference start as copies of them."""
    graphdef, params = nnx.split(model, nnx.Param)
    copy = lambda: jax.tree.map(jnp.copy, params)
    ema = copy() if teacher.weights == "ema" else None
    ref = copy() if objective.beta > 0 else None
    state = TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), ema, ref)
    return graphdef, state


def token_logprobs(logits: jax.Array, tokens: jax.Array) -> jax.Array:
    """log softmax(logits)[tokens] in float32, without a float32 [.., vocab] log-softmax."""
    picked = jnp.take_along_axis(logits, tokens[..., None], axis=-1)[..., 0].astype(jnp.float32)
    return picked - jax.nn.logsumexp(logits.astype(jnp.float32), axis=-1)


def completion_logits(model, inputs: dict[str, jax.Array], completion_len: int) -> jax.Array:
    """Logits that predict the last `completion_len` tokens of `inputs["input_ids"]`."""
    out = model(
        inputs["input_ids"],
        inputs["attention_mask"],
        inputs.get("pixel_values"),
        inputs.get("image_grid_thw"),
        inputs.get("image_index"),
        logits_to_keep=completion_len + 1,
    )
    return out.logits[:, :-1]


def _grpo_normalizer(mask: jax.Array, aggregation: str) -> jax.Array:
    """The whole batch's N for `aggregation` (see objectives._aggregate), mask [M, rows, T]."""
    if aggregation == "token_mean":
        return jnp.maximum(mask.sum(), 1.0)
    if aggregation == "seq_mean_token_mean":
        return jnp.maximum((mask.sum(-1) > 0).sum(), 1.0).astype(jnp.float32)
    return jnp.asarray(mask.shape[0] * mask.shape[1] * mask.shape[2], jnp.float32)


def make_loss(graphdef, objective: ObjectiveConfig) -> Callable:
    """loss(params, teacher_params, ref_params, microbatch, normalizers) -> (loss, metrics);
    `ref_params` is None without a reference KL."""

    def frozen_logits(params, inputs, completion_len):
        model = nnx.merge(graphdef, jax.lax.stop_gradient(params))
        return jax.lax.stop_gradient(completion_logits(model, inputs, completion_len))

    def loss_fn(params, teacher_params, ref_params, mb, sd_norm, pg_norm):
        completion_len = mb["tokens"].shape[1]
        student = completion_logits(nnx.merge(graphdef, params), mb["student"], completion_len)
        teacher = frozen_logits(teacher_params, mb["teacher"], completion_len)
        logprobs = token_logprobs(student, mb["tokens"])
        ref_logprobs = None
        if ref_params is not None:
            reference = frozen_logits(ref_params, mb["student"], completion_len)
            ref_logprobs = token_logprobs(reference, mb["tokens"])
        pg, pg_metrics = grpo_loss(
            logprobs,
            mb["sampler_logprobs"],
            mb["advantages"],
            mb["mask"],
            eps_low=objective.eps_low,
            eps_high=objective.eps_high,
            ref_logprobs=ref_logprobs,
            beta=objective.beta,
            kl_estimator=objective.kl_estimator,
            aggregation=objective.aggregation,
            normalizer=pg_norm,
        )
        sd, sd_metrics = self_distillation_loss(
            student,
            teacher,
            mb["tokens"],
            mb["sd_mask"],
            mb["weights"],
            divergence=objective.divergence,
            alpha=objective.jsd_alpha,
            support=objective.support,
            topk=objective.topk,
            tail_bucket=objective.tail_bucket,
            sampler_logprobs=mb["sampler_logprobs"],
            is_clip=objective.is_clip,
            normalizer=sd_norm,
        )
        # β·KL is its own term: an SD-only run (grpo_weight 0) keeps its reference penalty.
        kl = pg_metrics.get("kl_loss", 0.0)
        loss = objective.grpo_weight * (pg - kl) + kl + objective.sd_weight * sd
        metrics = {f"grpo/{k}": v for k, v in pg_metrics.items()}
        metrics |= {f"sd/{k}": v for k, v in sd_metrics.items()}
        metrics |= {"loss/total": loss, "loss/grpo": pg, "loss/sd": sd}
        return loss, metrics

    return loss_fn


def combine_microbatches(
    per_mb: dict[str, jax.Array], sd_mask: jax.Array, mask: jax.Array
) -> dict[str, jax.Array]:
    """Each metric over the whole batch from its microbatches' values [M], as one batch of
    them would give: loss terms (each a share of a batch-wide normaliser) and token counts add
    up; minima and maxima take the extreme; means weigh each microbatch by its tokens (`sd/`
    ones by those distilled, `*_credited` / `*_rest` by those counted for them, the rest by
    the completion tokens). A statistic of no token at all is NaN, not ±inf."""
    tokens = {"sd/": sd_mask.sum(axis=(1, 2)), "": mask.sum(axis=(1, 2))}
    combined = {}
    for name, values in per_mb.items():
        weight = tokens["sd/" if name.startswith("sd/") else ""]
        for part in ("credited", "rest"):  # means over those tokens only, counted alongside
            if name.endswith(f"_{part}"):
                weight = per_mb[f"sd/{part}_tokens"]
        seen = weight.sum() > 0
        if name.startswith("loss/") or name.endswith(("loss", "_tokens")):
            combined[name] = values.sum()
        elif name.endswith("_min"):
            combined[name] = jnp.where(
                seen, jnp.min(jnp.where(weight > 0, values, jnp.inf)), jnp.nan
            )
        elif name.endswith("_max"):
            combined[name] = jnp.where(
                seen, jnp.max(jnp.where(weight > 0, values, -jnp.inf)), jnp.nan
            )
        else:
            combined[name] = jnp.where(
                seen, (values * weight).sum() / jnp.maximum(weight.sum(), 1.0), jnp.nan
            )
    return combined


def make_train_step(
    graphdef, optimizer, objective: ObjectiveConfig, teacher: TeacherConfig
) -> Callable:
    """The pure step; jit it with `jit_train_step` (or plain `jax.jit`)."""
    grad_fn = jax.value_and_grad(make_loss(graphdef, objective), has_aux=True)

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict[str, jax.Array]]:
        sd_norm = jnp.maximum(batch["sd_mask"].sum(), 1.0)
        pg_norm = _grpo_normalizer(batch["mask"], objective.aggregation)
        teacher_params = state.params if state.ema_params is None else state.ema_params

        def accumulate(grads, mb):
            (_, metrics), g = grad_fn(
                state.params, teacher_params, state.ref_params, mb, sd_norm, pg_norm
            )
            return jax.tree.map(jnp.add, grads, g), metrics

        zeros = jax.tree.map(jnp.zeros_like, state.params)
        grads, per_mb = jax.lax.scan(accumulate, zeros, batch)
        metrics = combine_microbatches(per_mb, batch["sd_mask"], batch["mask"])
        metrics["optim/grad_norm"] = optax.tree.norm(grads)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = state.ema_params
        if ema is not None:
            ema = jax.tree.map(
                lambda e, p: (1 - teacher.ema_rate) * e + teacher.ema_rate * p, ema, params
            )
        metrics["optim/update_norm"] = optax.tree.norm(updates)
        updated = dataclasses.replace(
            state, step=state.step + 1, params=params, opt_state=opt_state, ema_params=ema
        )
        # A loss or gradient that is not finite must not reach the weights: the step is
        # skipped and says so; the trainer stops with the last good state.
        finite = jnp.isfinite(metrics["loss/total"]) & jnp.isfinite(metrics["optim/grad_norm"])
        metrics["loss/finite"] = finite
        keep = lambda new, old: jnp.where(finite, new, old)
        return jax.tree.map(keep, updated, state), metrics

    return step


def batch_shardings(batch: dict, mesh: Mesh, rules=None) -> dict:
    """Rows of the per-rollout arrays over the batch axes; vision inputs replicated."""
    from models.sharding import DEFAULT_RULES

    row_axes = (DEFAULT_RULES if rules is None else rules).get("batch")

    def spec(path, x):
        names = [getattr(p, "key", None) for p in path]
        if {"pixel_values", "image_grid_thw", "image_index"} & set(names):
            return NamedSharding(mesh, PartitionSpec())
        return NamedSharding(mesh, PartitionSpec(None, row_axes, *([None] * (x.ndim - 2))))

    return jax.tree_util.tree_map_with_path(spec, batch)


def state_sharding(state: TrainState, mesh: Mesh, rules=None) -> TrainState:
    """Parameters (and EMA, and the optimizer moments that mirror them) by the logical rules."""
    params = state_shardings(state.params, mesh, rules)
    replicated = NamedSharding(mesh, PartitionSpec())

    def like_params(tree):
        # optax moments are State trees with the params' structure; scalars (counts) replicate.
        if isinstance(tree, nnx.State) and jax.tree.structure(tree) == jax.tree.structure(
            state.params
        ):
            return params
        return jax.tree.map(lambda _: replicated, tree)

    opt = jax.tree.map(like_params, state.opt_state, is_leaf=lambda t: isinstance(t, nnx.State))
    like = lambda tree: None if tree is None else params
    return TrainState(replicated, params, opt, like(state.ema_params), like(state.ref_params))


def place_state(state: TrainState, mesh: Mesh | None, rules=None) -> TrainState:
    """The state on the shardings the jitted step takes and returns: a scalar left on one
    device (the step count) would make the second call compile the step again."""
    return state if mesh is None else jax.device_put(state, state_sharding(state, mesh, rules))


def jit_train_step(
    step: Callable, state: TrainState, example_batch: dict, mesh: Mesh | None, rules=None
):
    """`step` compiled with donated state and, given a mesh, explicit in/out shardings."""
    if mesh is None:
        return jax.jit(step, donate_argnums=0)
    shardings = state_sharding(state, mesh, rules)

    def sharded_step(state, batch):
        with activation_sharding(mesh, rules):
            return step(state, batch)

    return jax.jit(
        sharded_step,
        in_shardings=(shardings, batch_shardings(example_batch, mesh, rules)),
        out_shardings=(shardings, NamedSharding(mesh, PartitionSpec())),
        donate_argnums=0,
    )


class CompiledSteps:
    """The jitted step of each batch structure that comes, compiled when first met. A teacher
    batch holds vision inputs only when some rollout rendered (a slide prompt has no image of
    its own), and a step compiled with one structure's shardings refuses the other."""

    def __init__(self, step: Callable, mesh: Mesh | None, rules=None):
        self.step, self.mesh, self.rules = step, mesh, rules
        self.jitted: dict[Any, Callable] = {}

    def __call__(self, state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        structure = jax.tree.structure(batch)
        if structure not in self.jitted:
            self.jitted[structure] = jit_train_step(self.step, state, batch, self.mesh, self.rules)
        return self.jitted[structure](state, batch)
