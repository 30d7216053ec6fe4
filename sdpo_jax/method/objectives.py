"""The training objectives of Visual-SDPO as pure functions on arrays.

    L = L_GRPO + λ · L_SD

L_SD distils the teacher (the same network shown the render, the defect list or the error) into
the student, token by token:

    L_SD = Σ_t mask_t · w_t · ρ_t · d_t / N

with d_t a divergence between the student π_θ(·|x, y_<t) and the teacher
sg(π_φ(·|c, y_<t)), w_t the credit weight (sdpo_jax/method/credit.py), ρ_t the clipped importance weight
against the sampler and N the token count (Σ mask unless a global `normalizer` is given, as
gradient accumulation needs). L_GRPO is the PPO-clipped policy gradient with group-relative
advantages. docs/objective.md states the equations with their conventions.

Full-vocabulary work runs in chunks of tokens with a hand-written backward pass that recomputes
each chunk (see `_in_chunks`), so neither pass holds a float32 [batch, length, vocab]
intermediate: at 151,936 tokens of vocabulary one such tensor for 8×2048 tokens is 10 GB. Only
the inputs and the gradient of the student logits have that size.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from sdpo_jax.method.choices import (
    AGGREGATIONS,
    DIVERGENCES,
    KL_ESTIMATORS,
    SUPPORTS,
    Aggregation,
    Divergence,
    KLEstimator,
    Support,
)

_LOGIT_FLOOR = -1e30


# ---------------------------------------------------------------------------------------------
# Divergences between two categorical distributions given as log-probabilities (last axis).


def _kl(logp: jax.Array, logq: jax.Array) -> jax.Array:
    """KL(p ‖ q) = Σ p (log p − log q) over the last axis."""
    return jnp.sum(jnp.exp(logp) * (logp - logq), axis=-1)


def divergence_from_logprobs(
    student_logp: jax.Array, teacher_logp: jax.Array, divergence: Divergence, alpha: float
) -> jax.Array:
    """d(π_θ, π_φ) over the last axis, from normalized log-probabilities.

    reverse_kl: KL(π_θ ‖ π_φ), mode-seeking, the SDPO default.
    forward_kl: KL(π_φ ‖ π_θ), mass-covering.
    jsd: the generalized Jensen-Shannon divergence, scaled so it is continuous in α with the two
        KLs as its limits. With the mixture M_α = (1 − α) π_θ + α π_φ,

            JSD_α = [α · KL(π_φ ‖ M_α) + (1 − α) · KL(π_θ ‖ M_α)] / (α (1 − α)),

        α → 0 gives forward KL(π_φ ‖ π_θ) and α → 1 gives reverse KL(π_θ ‖ π_φ) (both limits are
        exact values at α = 0 and α = 1). α = 0.5 is four times the usual symmetric JSD; the scale
        keeps gradients the size of a KL's for every α instead of vanishing at the ends.
    """
    if divergence == "reverse_kl" or (divergence == "jsd" and alpha == 1.0):
        return _kl(student_logp, teacher_logp)
    if divergence == "forward_kl" or (divergence == "jsd" and alpha == 0.0):
        return _kl(teacher_logp, student_logp)
    mixture_logp = jnp.logaddexp(student_logp + math.log1p(-alpha), teacher_logp + math.log(alpha))
    mixed = alpha * _kl(teacher_logp, mixture_logp) + (1.0 - alpha) * _kl(
        student_logp, mixture_logp
    )
    return mixed / (alpha * (1.0 - alpha))


# ---------------------------------------------------------------------------------------------
# Per-token terms of one chunk of tokens: log-softmax fused with the gathers it feeds.


def _chunk_terms(
    student_logits, teacher_logits, tokens, *, divergence, alpha, support, topk, tail_bucket
):
    """Per-token values for a chunk [n, vocab] of logits: the divergence d (or, for the sampled
    support, log π_θ(y) − log π_φ(y)), log π_θ(y), and the student entropy. Everything [n]."""
    # Models may mask padded vocabulary entries with −inf; a floor keeps 0 · (−inf) out of the
    # sums (their probability is still exactly 0).
    z_s = jnp.maximum(student_logits.astype(jnp.float32), _LOGIT_FLOOR)
    z_t = jax.lax.stop_gradient(jnp.maximum(teacher_logits.astype(jnp.float32), _LOGIT_FLOOR))
    lse_s = jax.nn.logsumexp(z_s, axis=-1, keepdims=True)
    lse_t = jax.nn.logsumexp(z_t, axis=-1, keepdims=True)
    logp_s = z_s - lse_s
    logp_t = z_t - lse_t

    take = lambda x, idx: jnp.take_along_axis(x, idx, axis=-1)
    lp_s_tok = take(logp_s, tokens[:, None])[:, 0]
    lp_t_tok = take(logp_t, tokens[:, None])[:, 0]
    entropy = -jnp.sum(jnp.exp(logp_s) * logp_s, axis=-1)

    if support == "full":
        d = divergence_from_logprobs(logp_s, logp_t, divergence, alpha)
    elif support == "topk":
        # The student's top-k tokens (indices carry no gradient), plus one bucket that holds the
        # remaining probability of each distribution; without the bucket both are renormalized
        # over the k tokens.
        idx = jax.lax.top_k(jax.lax.stop_gradient(z_s), topk)[1]
        sel_s, sel_t = take(logp_s, idx), take(logp_t, idx)
        if tail_bucket:
            rows = jnp.arange(z_s.shape[0])[:, None]
            in_topk = jnp.zeros(z_s.shape, bool).at[rows, idx].set(True)
            # log Σ_{v ∉ top-k} p(v), summed directly instead of as log(1 − Σ top-k), which
            # cancels catastrophically when the top-k hold nearly all of the mass.
            tail = lambda z, lse: jax.nn.logsumexp(jnp.where(in_topk, -jnp.inf, z), axis=-1) - lse
            sel_s = jnp.concatenate([sel_s, tail(z_s, lse_s[:, 0])[:, None]], axis=-1)
            sel_t = jnp.concatenate([sel_t, tail(z_t, lse_t[:, 0])[:, None]], axis=-1)
        else:
            sel_s = jax.nn.log_softmax(sel_s, axis=-1)
            sel_t = jax.nn.log_softmax(sel_t, axis=-1)
        d = divergence_from_logprobs(sel_s, sel_t, divergence, alpha)
    else:  # sampled
        d = lp_s_tok - lp_t_tok
    return d, lp_s_tok, jax.lax.stop_gradient(entropy)


def _per_token_terms(student_logits, teacher_logits, tokens, chunk_size, **options):
    """_chunk_terms over all [batch, length] tokens, about `chunk_size` tokens at a time (None:
    all at once). Chunks are runs of positions across every row: rows are what a mesh shards,
    and slicing a sharded axis would gather the whole batch's logits onto every device."""
    batch, length, vocab = student_logits.shape

    def body(s, t, y):
        flat = lambda x: x.reshape(-1, vocab)
        outs = _chunk_terms(flat(s), flat(t), y.reshape(-1), **options)
        return tuple(o.reshape(y.shape) for o in outs)

    teacher_logits = jax.lax.stop_gradient(teacher_logits)
    positions = length if chunk_size is None else max(1, chunk_size // batch)
    if positions >= length:
        return body(student_logits, teacher_logits, tokens)
    return _in_chunks(body, positions)(student_logits, teacher_logits, tokens)


def _in_chunks(body, chunk_size):
    """`body`, a function of [rows, positions, ...] arrays that treats each position on its
    own, run `chunk_size` positions at a time, with its backward pass written out.

    Plain autodiff of a loop over slices of the logits keeps every chunk's inputs for the backward
    pass and adds one zero-padded, full-size gradient per chunk. Here the forward pass keeps only
    the inputs it was given, and the backward pass recomputes one chunk at a time, takes its VJP
    and writes that chunk's positions of the gradient in place: memory beyond the inputs and the
    gradient stays one chunk's. Positions are never padded (that would copy the logits): the
    last chunk starts early enough to end at the last position and rewrites the positions it
    shares with the one before with the same values, forward and backward alike.
    """
    cut = lambda x, start: jax.lax.dynamic_slice_in_dim(x, start, chunk_size, axis=1)
    put = lambda buffer, x, start: jax.lax.dynamic_update_slice_in_dim(buffer, x, start, axis=1)

    def over_chunks(length, update, init):
        def step(carry, i):
            return update(carry, jnp.minimum(i * chunk_size, length - chunk_size)), None

        return jax.lax.scan(step, init, jnp.arange(-(-length // chunk_size)))[0]

    @jax.custom_vjp
    def run(s, t, y):
        s_bits, t_bits = _as_bits(s), _as_bits(t)

        def update(outs, start):
            s_c, t_c = (
                _from_bits(cut(s_bits, start), s.dtype),
                _from_bits(cut(t_bits, start), t.dtype),
            )
            return tuple(put(o, v, start) for o, v in zip(outs, body(s_c, t_c, cut(y, start))))

        # zeros_like(y) keeps y's sharding, which the in-place updates must match.
        zeros = jnp.zeros_like(y, dtype=jnp.float32)
        return over_chunks(s.shape[1], update, (zeros, zeros, zeros))

    def forward(s, t, y):
        return run(s, t, y), (s, t, y)

    def backward(saved, cotangents):
        s, t, y = saved
        s_bits, t_bits = _as_bits(s), _as_bits(t)

        def update(grad_bits, start):
            t_c, y_c = _from_bits(cut(t_bits, start), t.dtype), cut(y, start)
            _, vjp = jax.vjp(
                lambda s_c: body(s_c, t_c, y_c), _from_bits(cut(s_bits, start), s.dtype)
            )
            (grad,) = vjp(tuple(cut(c, start) for c in cotangents))
            return put(grad_bits, _as_bits(grad), start)

        grad = _from_bits(over_chunks(s.shape[1], update, jnp.zeros_like(s_bits)), s.dtype)
        # The teacher is under stop-gradient and the tokens are integers: no cotangents.
        return grad, None, None

    run.defvjp(forward, backward)
    return run


def _as_bits(x: jax.Array) -> jax.Array:
    """bfloat16 as the same bits in uint16 on XLA's CPU backend; anything else unchanged.

    XLA:CPU slices bfloat16 (not float16, not float32) in float32, upcasting the whole
    [tokens, vocab] operand before the loop: a float32 copy of the logits that defeats the
    chunking. Moved as uint16 the loop still gets a 16-bit copy of each input (XLA materializes
    the bitcast), half the cost; float32 and float16 inputs get no copy. Other backends handle
    bfloat16 natively, so they see the arrays as they are (measured on CPU only: check the
    benchmark on GPU and TPU).
    """
    if x.dtype == jnp.bfloat16 and jax.default_backend() == "cpu":
        return jax.lax.bitcast_convert_type(x, jnp.uint16)
    return x


def _from_bits(x: jax.Array, dtype) -> jax.Array:
    return x if x.dtype == dtype else jax.lax.bitcast_convert_type(x, dtype)


# ---------------------------------------------------------------------------------------------
# Input checks: one clear line instead of a NaN or a broadcasting error deep inside.


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {allowed}")


def _check_shape(fn: str, name: str, array, shape, hint: str = "") -> None:
    if array is not None and tuple(jnp.shape(array)) != tuple(shape):
        raise ValueError(
            f"{fn}: {name} has shape {tuple(jnp.shape(array))} but must be {tuple(shape)} "
            f"(one value per completion token){hint}"
        )


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _require_tokens(fn: str, mask: jax.Array) -> jax.Array:
    """Σ mask. An empty mask is an error where it can be seen (outside jit); inside jit the count
    is floored at 1, so the loss is 0, never NaN."""
    count = jnp.sum(mask)
    if not _is_traced(count) and float(count) == 0:
        raise ValueError(
            f"{fn}: the mask selects no tokens; drop empty rows from the batch, or pass the "
            "batch-wide count as normalizer= when accumulating microbatches"
        )
    return jnp.maximum(count, 1.0)


def _normalizer(fn: str, normalizer, default) -> jax.Array:
    """The caller's batch-wide normalizer (checked when concrete), else `default()`."""
    if normalizer is None:
        return default()
    if not _is_traced(normalizer) and float(normalizer) <= 0:
        raise ValueError(f"{fn}: normalizer={float(normalizer)} must be positive")
    return jnp.asarray(normalizer, jnp.float32)


def _masked_mean(x: jax.Array, mask: jax.Array) -> jax.Array:
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


# ---------------------------------------------------------------------------------------------
# Self-distillation.


def self_distillation_loss(
    student_logits: jax.Array,
    teacher_logits: jax.Array,
    tokens: jax.Array,
    mask: jax.Array,
    weights: jax.Array | None = None,
    *,
    divergence: Divergence = "reverse_kl",
    alpha: float = 0.5,
    support: Support = "full",
    topk: int = 100,
    tail_bucket: bool = True,
    sampler_logprobs: jax.Array | None = None,
    is_clip: float = 2.0,
    normalizer: jax.Array | float | None = None,
    chunk_size: int | None = 1024,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """L_SD = Σ mask · w · ρ · d / N, the teacher always under stop-gradient.

    Args:
      student_logits, teacher_logits: [batch, length, vocab], position t predicting tokens[:, t]
        (any float dtype; upcast to float32 one chunk at a time).
      tokens: [batch, length] int, the completion tokens y_t that were sampled.
      mask: [batch, length], 1 on completion tokens that count.
      weights: [batch, length] credit weights w_t (1 where None).
      divergence, alpha: see `divergence_from_logprobs`.
      support: "full" vocabulary; "topk": the student's `topk` most likely tokens, plus a tail
        bucket with the rest of the mass when `tail_bucket`; "sampled": only y_t, with the
        estimator d_t = sg(log π_θ(y_t) − log π_φ(y_t)) · log π_θ(y_t), whose gradient is the
        score-function gradient of reverse KL (reverse_kl only).
      sampler_logprobs: [batch, length] log-probs of y_t under the policy that sampled it; gives
        the importance weight ρ_t = sg(min(exp(log π_θ(y_t) − log π_sampler(y_t)), is_clip)).
      normalizer: N; defaults to Σ mask. Pass the count over the whole batch when microbatches
        are accumulated, so their losses add up to the full-batch loss.
      chunk_size: tokens per chunk of the full-vocabulary computation; None for one chunk.

    Returns:
      (loss, metrics): metrics are means over masked tokens: `divergence` (d, for "sampled" the
      log-ratio estimate of reverse KL), `entropy` of the student, `credited_share` (share of
      tokens with w > 1), and with sampler_logprobs `is_ratio_mean`, `is_ratio_max`,
      `is_clip_fraction` (the raw ratio exceeded is_clip).
    """
    fn = "self_distillation_loss"
    _check_choice("divergence", divergence, DIVERGENCES)
    _check_choice("support", support, SUPPORTS)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha} must lie in [0, 1] (0: forward KL, 1: reverse KL)")
    if support == "sampled" and divergence != "reverse_kl":
        raise ValueError(
            f"support='sampled' estimates reverse KL only (got divergence={divergence!r}); "
            "use support='topk' or 'full' for the other divergences"
        )
    if jnp.ndim(student_logits) != 3:
        raise ValueError(
            f"{fn}: student_logits has shape {jnp.shape(student_logits)}; "
            "expected [batch, length, vocab]"
        )
    batch, length, vocab = student_logits.shape
    if teacher_logits.shape != student_logits.shape:
        raise ValueError(
            f"{fn}: teacher_logits has shape {teacher_logits.shape} but student_logits has "
            f"{student_logits.shape}; score the same completion tokens with both"
        )
    if support == "topk" and not 0 < topk < vocab:
        raise ValueError(f"{fn}: topk={topk} must lie in [1, vocab={vocab}); or use support='full'")
    for name, value in (("tokens", tokens), ("mask", mask)):
        _check_shape(fn, name, value, (batch, length))
    _check_shape(fn, "weights", weights, (batch, length), "; credit.token_weights builds them")
    _check_shape(fn, "sampler_logprobs", sampler_logprobs, (batch, length))
    if not jnp.issubdtype(jnp.asarray(tokens).dtype, jnp.integer):
        raise ValueError(f"{fn}: tokens must be integer token ids, got {jnp.asarray(tokens).dtype}")

    mask = jnp.asarray(mask, jnp.float32)
    n = _normalizer(fn, normalizer, lambda: _require_tokens(fn, mask))
    options = dict(
        divergence=divergence, alpha=alpha, support=support, topk=topk, tail_bucket=tail_bucket
    )
    d, lp_s_tok, entropy = _per_token_terms(
        student_logits, teacher_logits, tokens, chunk_size, **options
    )
    per_token = jax.lax.stop_gradient(d) * lp_s_tok if support == "sampled" else d
    w = jnp.ones_like(mask) if weights is None else jnp.asarray(weights, jnp.float32)
    scale = mask * w
    metrics = {}
    if sampler_logprobs is not None:
        ratio = jnp.exp(jax.lax.stop_gradient(lp_s_tok) - sampler_logprobs)
        scale = scale * jnp.minimum(ratio, is_clip)
        metrics["is_ratio_mean"] = _masked_mean(ratio, mask)
        metrics["is_ratio_max"] = jnp.max(jnp.where(mask > 0, ratio, -jnp.inf))
        metrics["is_clip_fraction"] = _masked_mean((ratio > is_clip).astype(jnp.float32), mask)
    loss = jnp.sum(scale * per_token) / n
    metrics["loss"] = loss
    metrics["divergence"] = _masked_mean(jax.lax.stop_gradient(d), mask)
    metrics["entropy"] = _masked_mean(entropy, mask)
    metrics["credited_share"] = _masked_mean((w > 1.0).astype(jnp.float32), mask)
    # Where the teacher disagrees: a teacher that reads its feedback departs from the student
    # most on the statements the feedback implicates (credited tokens) than on the rest.
    credited = mask * (w > 1.0)
    rest = mask - credited
    metrics["divergence_credited"] = _masked_mean(jax.lax.stop_gradient(d), credited)
    metrics["divergence_rest"] = _masked_mean(jax.lax.stop_gradient(d), rest)
    metrics["credited_tokens"] = credited.sum()
    metrics["rest_tokens"] = rest.sum()
    return loss, metrics


# ---------------------------------------------------------------------------------------------
# GRPO.


def group_advantages(
    rewards: jax.Array, group_size: int, *, normalize_std: bool = True, eps: float = 1e-6
) -> jax.Array:
    """A_i = (R_i − mean_group) / (std_group + ε), or R_i − mean_group without the std (Dr. GRPO).

    `rewards` is [num_groups · group_size] with each group's rollouts contiguous. The std is the
    sample std (ddof=1), as in verl and TRL. Each group is first shifted by its first reward,
    which changes neither A nor the std: a group of equal rewards is then exactly zero, where
    in float32 their mean leaves a residue as large as their std, and A would be ±0.1.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    if rewards.ndim != 1 or group_size < 2 or rewards.shape[0] % group_size:
        raise ValueError(
            f"group_advantages: rewards of shape {rewards.shape} cannot be split into groups of "
            f"{group_size}; pass a flat vector of num_groups × group_size (≥ 2) rewards"
        )
    groups = rewards.reshape(-1, group_size)
    groups = groups - groups[:, :1]
    centred = groups - groups.mean(axis=1, keepdims=True)
    if normalize_std:
        centred = centred / (groups.std(axis=1, ddof=1, keepdims=True) + eps)
    return centred.reshape(-1)


def kl_penalty(logprobs: jax.Array, ref_logprobs: jax.Array, estimator: KLEstimator) -> jax.Array:
    """Per-token estimate of KL(π_θ ‖ π_ref) from the sampled token (Schulman's k1, k2, k3), with
    r = log π_ref − log π_θ: k1 = −r, k2 = r² / 2, k3 = exp(r) − 1 − r."""
    _check_choice("kl_estimator", estimator, KL_ESTIMATORS)
    r = ref_logprobs - logprobs
    if estimator == "k1":
        return -r
    if estimator == "k2":
        return 0.5 * r**2
    return jnp.expm1(r) - r


def _aggregate(fn, per_token, mask, aggregation, normalizer):
    """token_mean: Σ mask·l / N, N = Σ mask; seq_mean_token_mean: each sequence's token mean,
    summed and divided by N = the number of sequences with tokens; seq_sum_norm (Dr. GRPO):
    Σ mask·l / N with the constant N = rows × length, so no answer's tokens count more for being
    short."""
    if normalizer is None:
        _require_tokens(fn, mask)
    rows, length = mask.shape
    if aggregation == "seq_mean_token_mean":
        tokens_per_seq = jnp.sum(mask, 1)
        per_seq = jnp.sum(per_token * mask, 1) / jnp.maximum(tokens_per_seq, 1.0)
        sequences = lambda: jnp.maximum(jnp.sum(tokens_per_seq > 0), 1.0)
        return jnp.sum(per_seq) / _normalizer(fn, normalizer, sequences)
    default = {
        "token_mean": lambda: jnp.maximum(jnp.sum(mask), 1.0),
        "seq_sum_norm": lambda: rows * length,
    }[aggregation]
    return jnp.sum(per_token * mask) / _normalizer(fn, normalizer, default)


def grpo_loss(
    logprobs: jax.Array,
    old_logprobs: jax.Array,
    advantages: jax.Array,
    mask: jax.Array,
    *,
    eps_low: float = 0.2,
    eps_high: float = 0.28,
    ref_logprobs: jax.Array | None = None,
    beta: float = 0.0,
    kl_estimator: KLEstimator = "k3",
    aggregation: Aggregation = "token_mean",
    normalizer: jax.Array | float | None = None,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """L_GRPO = agg(−min(ρ A, clip(ρ, 1 − eps_low, 1 + eps_high) A) + β · KL(π_θ ‖ π_ref)).

    Args:
      logprobs: [batch, length] log π_θ(y_t) (differentiable).
      old_logprobs: [batch, length] log-probs under the policy that sampled (no gradient).
      advantages: [batch] per sequence (group_advantages) or [batch, length] per token.
      mask: [batch, length], 1 on completion tokens that count.
      ref_logprobs, beta, kl_estimator: the optional reference penalty (see `kl_penalty`).
      aggregation: "token_mean" (default), "seq_mean_token_mean", "seq_sum_norm" (Dr. GRPO);
        see `_aggregate`. `normalizer` replaces the aggregation's N (the token count, the row
        count, or rows × length) with the batch-wide value for gradient accumulation.

    Returns:
      (loss, metrics): `pg_loss`, `kl_loss` (β · KL, aggregated like the loss), `kl_ref` (mean
      per-token KL estimate), `clip_fraction` (tokens where the clipped term was taken),
      `ratio_mean`, `ratio_min`, `ratio_max`, and `logprob_gap` (mean |log π_θ − log π_old|).
    """
    fn = "grpo_loss"
    _check_choice("aggregation", aggregation, AGGREGATIONS)
    _check_choice("kl_estimator", kl_estimator, KL_ESTIMATORS)
    if jnp.ndim(logprobs) != 2:
        raise ValueError(
            f"{fn}: logprobs has shape {jnp.shape(logprobs)}; expected [batch, length]"
        )
    shape = logprobs.shape
    for name, value in (
        ("old_logprobs", old_logprobs),
        ("mask", mask),
        ("ref_logprobs", ref_logprobs),
    ):
        _check_shape(fn, name, value, shape)
    if jnp.shape(advantages) == shape[:1]:
        advantages = jnp.asarray(advantages)[:, None]
    elif jnp.shape(advantages) != shape:
        raise ValueError(
            f"{fn}: advantages has shape {jnp.shape(advantages)}; expected [{shape[0]}] (one per "
            f"sequence) or {tuple(shape)} (one per token)"
        )
    if beta > 0 and ref_logprobs is None:
        raise ValueError(f"{fn}: beta={beta} needs ref_logprobs (or set beta=0)")

    mask = jnp.asarray(mask, jnp.float32)
    old_logprobs = jax.lax.stop_gradient(old_logprobs)
    advantages = jax.lax.stop_gradient(advantages)
    ratio = jnp.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - eps_low, 1.0 + eps_high) * advantages
    pg = -jnp.minimum(unclipped, clipped)
    pg_loss = _aggregate(fn, pg, mask, aggregation, normalizer)
    metrics = {"pg_loss": pg_loss}
    loss = pg_loss
    if ref_logprobs is not None:
        kl = kl_penalty(logprobs, jax.lax.stop_gradient(ref_logprobs), kl_estimator)
        kl_loss = beta * _aggregate(fn, kl, mask, aggregation, normalizer)
        loss = loss + kl_loss
        metrics["kl_loss"] = kl_loss
        metrics["kl_ref"] = _masked_mean(jax.lax.stop_gradient(kl), mask)
    ratio = jax.lax.stop_gradient(ratio)
    metrics["loss"] = loss
    metrics["clip_fraction"] = _masked_mean((clipped < unclipped).astype(jnp.float32), mask)
    metrics["ratio_mean"] = _masked_mean(ratio, mask)
    metrics["ratio_min"] = jnp.min(jnp.where(mask > 0, ratio, jnp.inf))
    metrics["ratio_max"] = jnp.max(jnp.where(mask > 0, ratio, -jnp.inf))
    metrics["logprob_gap"] = _masked_mean(
        jnp.abs(jax.lax.stop_gradient(logprobs) - old_logprobs), mask
    )
    return loss, metrics
