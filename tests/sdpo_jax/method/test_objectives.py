"""The objectives against plain NumPy float64 versions written from the equations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding, PartitionSpec

from sdpo_jax.method import objectives as obj

RTOL = 1e-5
B, T, V, K = 2, 7, 64, 8


# --- NumPy float64 references -----------------------------------------------------------------


def np_log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def np_kl(p, q):
    return (p * (np.log(p) - np.log(q))).sum(-1)


def np_divergence(p_s, p_t, divergence, alpha):
    if divergence == "reverse_kl":
        return np_kl(p_s, p_t)
    if divergence == "forward_kl":
        return np_kl(p_t, p_s)
    m = (1 - alpha) * p_s + alpha * p_t
    return (alpha * np_kl(p_t, m) + (1 - alpha) * np_kl(p_s, m)) / (alpha * (1 - alpha))


def tail_mass(p, idx):
    """Σ of p outside idx, summed directly (1 − Σ inside cancels when idx holds nearly all)."""
    rest = p.copy()
    np.put_along_axis(rest, idx, 0.0, -1)
    return rest.sum(-1, keepdims=True)


def np_self_distillation(s, t, y, mask, w, divergence, alpha, support, topk, tail, sampler, clip):
    p_s, p_t = np.exp(np_log_softmax(s)), np.exp(np_log_softmax(t))
    lp_s_y = np.log(np.take_along_axis(p_s, y[..., None], -1)[..., 0])
    lp_t_y = np.log(np.take_along_axis(p_t, y[..., None], -1)[..., 0])
    if support == "full":
        d = np_divergence(p_s, p_t, divergence, alpha)
    elif support == "topk":
        idx = np.argsort(-s, axis=-1)[..., :topk]
        q_s, q_t = np.take_along_axis(p_s, idx, -1), np.take_along_axis(p_t, idx, -1)
        if tail:
            q_s = np.concatenate([q_s, tail_mass(p_s, idx)], -1)
            q_t = np.concatenate([q_t, tail_mass(p_t, idx)], -1)
        else:
            q_s, q_t = q_s / q_s.sum(-1, keepdims=True), q_t / q_t.sum(-1, keepdims=True)
        d = np_divergence(q_s, q_t, divergence, alpha)
    else:
        d = (lp_s_y - lp_t_y) * lp_s_y
    rho = 1.0 if sampler is None else np.minimum(np.exp(lp_s_y - sampler), clip)
    return (mask * w * rho * d).sum() / mask.sum()


def np_grpo(lp, old, adv, mask, eps_low, eps_high, ref, beta, estimator, aggregation):
    adv = adv[:, None] if adv.ndim == 1 else adv
    ratio = np.exp(lp - old)
    per_token = -np.minimum(ratio * adv, np.clip(ratio, 1 - eps_low, 1 + eps_high) * adv)
    if ref is not None:
        r = ref - lp
        per_token = (
            per_token + beta * {"k1": -r, "k2": r**2 / 2, "k3": np.exp(r) - 1 - r}[estimator]
        )
    if aggregation == "token_mean":
        return (per_token * mask).sum() / mask.sum()
    if aggregation == "seq_sum_norm":
        return (per_token * mask).sum() / mask.size
    rows = [(p * m).sum() / m.sum() for p, m in zip(per_token, mask) if m.sum() > 0]
    return np.mean(rows)


# --- inputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    s = rng.normal(size=(B, T, V)) * 2
    t = s + rng.normal(size=(B, T, V))
    y = rng.integers(0, V, size=(B, T))
    mask = (rng.random((B, T)) > 0.25).astype(np.float64)
    mask[:, 0] = 1
    w = 1 + 2 * (rng.random((B, T)) > 0.5)
    lp_s_y = np.take_along_axis(np_log_softmax(s), y[..., None], -1)[..., 0]
    sampler = lp_s_y + rng.normal(size=(B, T))  # ratios on both sides of is_clip = 2
    return dict(s=s, t=t, y=y, mask=mask, w=w.astype(np.float64), sampler=sampler)


def f32(x):
    return jnp.asarray(x, jnp.float32)


def assert_close_to_scale(actual, expected, tol):
    """Elementwise agreement within tol × the largest |expected| entry: gradient entries near
    zero carry float32 cancellation, so a per-entry relative test would measure rounding."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual / scale, expected / scale, rtol=0, atol=tol)


def sd(batch, chunk_size=4, **kw):
    return obj.self_distillation_loss(
        f32(batch["s"]),
        f32(batch["t"]),
        jnp.asarray(batch["y"]),
        f32(batch["mask"]),
        f32(batch["w"]),
        chunk_size=chunk_size,
        **kw,
    )


CASES = [
    ("reverse_kl", 0.5, "full", True),
    ("forward_kl", 0.5, "full", True),
    ("jsd", 0.5, "full", True),
    ("jsd", 0.1, "full", True),
    ("reverse_kl", 0.5, "topk", True),
    ("forward_kl", 0.5, "topk", True),
    ("jsd", 0.3, "topk", True),
    ("reverse_kl", 0.5, "topk", False),
    ("jsd", 0.7, "topk", False),
    ("reverse_kl", 0.5, "sampled", True),
]


# --- self-distillation ------------------------------------------------------------------------


@pytest.mark.parametrize("divergence,alpha,support,tail", CASES)
@pytest.mark.parametrize("with_sampler", [False, True])
def test_self_distillation_matches_numpy(batch, divergence, alpha, support, tail, with_sampler):
    sampler = batch["sampler"] if with_sampler else None
    loss, metrics = sd(
        batch,
        divergence=divergence,
        alpha=alpha,
        support=support,
        topk=K,
        tail_bucket=tail,
        sampler_logprobs=None if sampler is None else f32(sampler),
    )
    expected = np_self_distillation(
        batch["s"], batch["t"], batch["y"], batch["mask"], batch["w"],
        divergence, alpha, support, K, tail, sampler, 2.0,
    )  # fmt: skip
    np.testing.assert_allclose(float(loss), expected, rtol=RTOL)
    assert float(metrics["loss"]) == float(loss)


def test_metrics_match_numpy(batch):
    _, m = sd(batch, sampler_logprobs=f32(batch["sampler"]))
    mask = batch["mask"]
    mean = lambda x: (x * mask).sum() / mask.sum()
    masked = lambda x, where: (x * where).sum() / where.sum()
    credited = mask * (batch["w"] > 1)
    assert 0 < credited.sum() < mask.sum()  # the fixture credits some tokens, not all
    lp_s = np_log_softmax(batch["s"])
    p_s, p_t = np.exp(lp_s), np.exp(np_log_softmax(batch["t"]))
    ratio = np.exp(np.take_along_axis(lp_s, batch["y"][..., None], -1)[..., 0] - batch["sampler"])
    expected = {
        "divergence": mean(np_kl(p_s, p_t)),
        "entropy": mean(-(p_s * lp_s).sum(-1)),
        "credited_share": mean(batch["w"] > 1),
        "divergence_credited": masked(np_kl(p_s, p_t), credited),
        "divergence_rest": masked(np_kl(p_s, p_t), mask * (batch["w"] <= 1)),
        "credited_tokens": credited.sum(),
        "rest_tokens": (mask * (batch["w"] <= 1)).sum(),
        "is_ratio_mean": mean(ratio),
        "is_ratio_max": ratio[mask > 0].max(),
        "is_clip_fraction": mean(ratio > 2.0),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(float(m[name]), value, rtol=RTOL, err_msg=name)
    assert 0 < float(m["is_clip_fraction"]) < 1  # the fixture exercises the clip


@pytest.mark.parametrize("divergence", ["reverse_kl", "forward_kl"])
def test_tail_bucket_when_top_k_hold_almost_all_mass(batch, divergence):
    """A student with one token 25 nats above the rest leaves ~1e-9 of its mass in the tail,
    which 1 − Σ top-k in float32 rounds to 0; forward KL then needs log of it (−inf)."""
    peaked = {**batch, "s": batch["s"].copy()}
    peaked["s"][..., 0] += 25
    loss, _ = sd(peaked, divergence=divergence, support="topk", topk=K)
    expected = np_self_distillation(
        peaked["s"], batch["t"], batch["y"], batch["mask"], batch["w"],
        divergence, 0.5, "topk", K, True, None, 2.0,
    )  # fmt: skip
    np.testing.assert_allclose(float(loss), expected, rtol=RTOL)


def test_jsd_limits(batch):
    """α = 0 is forward KL and α = 1 reverse KL exactly; nearby α approach them at rate O(α)."""
    value = lambda **kw: float(sd(batch, **kw)[0])
    forward, reverse = value(divergence="forward_kl"), value(divergence="reverse_kl")
    assert value(divergence="jsd", alpha=0.0) == forward
    assert value(divergence="jsd", alpha=1.0) == reverse
    for alpha, limit, other in ((1e-3, forward, reverse), (1 - 1e-3, reverse, forward)):
        near = value(divergence="jsd", alpha=alpha)
        assert abs(near - limit) < 1e-2 * limit < abs(near - other)


@pytest.mark.parametrize("support", ["full", "topk", "sampled"])
def test_chunked_equals_unchunked(batch, support):
    """B·T = 14 tokens in chunks of 4: the last chunk overlaps the one before it."""

    def loss_and_grad(chunk_size):
        f = lambda s: sd({**batch, "s": s}, chunk_size=chunk_size, support=support, topk=K)[0]
        return jax.value_and_grad(f)(f32(batch["s"]))

    (chunked, g_chunked), (whole, g_whole) = loss_and_grad(4), loss_and_grad(None)
    np.testing.assert_allclose(float(chunked), float(whole), rtol=1e-6)
    assert_close_to_scale(g_chunked, g_whole, 1e-6)


def test_gradient_matches_analytic_form(batch):
    """∂L/∂z_s for the three estimators, with c_t = mask·w·ρ/N and ρ held constant:
    reverse KL: c p (log p − log q − d); forward KL: c (p − q); sampled: c (log p_y − log q_y)
    (onehot_y − p)."""
    s, t, y, mask, w, sampler = (batch[k] for k in ("s", "t", "y", "mask", "w", "sampler"))
    lp_s, lp_t = np_log_softmax(s), np_log_softmax(t)
    p, q = np.exp(lp_s), np.exp(lp_t)
    lp_s_y = np.take_along_axis(lp_s, y[..., None], -1)[..., 0]
    lp_t_y = np.take_along_axis(lp_t, y[..., None], -1)[..., 0]
    c = (mask * w * np.minimum(np.exp(lp_s_y - sampler), 2.0) / mask.sum())[..., None]
    onehot = np.eye(V)[y]
    expected = {
        ("reverse_kl", "full"): c * p * (lp_s - lp_t - np_kl(p, q)[..., None]),
        ("forward_kl", "full"): c * (p - q),
        ("reverse_kl", "sampled"): c * (lp_s_y - lp_t_y)[..., None] * (onehot - p),
    }
    for (divergence, support), grad in expected.items():
        options = dict(divergence=divergence, support=support, sampler_logprobs=f32(sampler))
        got = np.asarray(jax.grad(lambda z, o=options: sd({**batch, "s": z}, **o)[0])(f32(s)))
        assert_close_to_scale(got, grad, RTOL)


@pytest.mark.parametrize("divergence,alpha,support,tail", CASES)
def test_no_gradient_into_teacher(batch, divergence, alpha, support, tail):
    f = lambda t: sd(
        {**batch, "t": t}, divergence=divergence, alpha=alpha, support=support, topk=K
    )[0]
    grad = np.asarray(jax.grad(f)(f32(batch["t"])))
    assert not np.any(grad)


def test_microbatches_with_global_normalizer_add_up(batch):
    full, _ = sd(batch)
    n = batch["mask"].sum()
    parts = [sd({k: v[i : i + 1] for k, v in batch.items()}, normalizer=n)[0] for i in range(B)]
    np.testing.assert_allclose(float(sum(parts)), float(full), rtol=RTOL)


def test_bfloat16_logits_are_accepted(batch):
    """Model logits may arrive in bfloat16: the loss runs in float32, chunked or not, and the
    gradient comes back in bfloat16."""
    s, t = (np.asarray(batch[k], jnp.bfloat16) for k in ("s", "t"))
    y, mask = jnp.asarray(batch["y"]), f32(batch["mask"])

    def loss_and_grad(chunk_size):
        f = lambda z: obj.self_distillation_loss(z, jnp.asarray(t), y, mask, chunk_size=chunk_size)[
            0
        ]
        return jax.value_and_grad(f)(jnp.asarray(s))

    (loss, grad), (whole, g_whole) = loss_and_grad(4), loss_and_grad(None)
    expected = np_self_distillation(
        s.astype(np.float64), t.astype(np.float64), batch["y"], batch["mask"],
        np.ones((B, T)), "reverse_kl", 0.5, "full", K, True, None, 2.0,
    )  # fmt: skip
    assert loss.dtype == jnp.float32 and grad.dtype == jnp.bfloat16
    np.testing.assert_allclose(float(loss), expected, rtol=RTOL)
    np.testing.assert_allclose(float(whole), expected, rtol=RTOL)
    assert_close_to_scale(grad.astype(jnp.float32), g_whole.astype(jnp.float32), 2**-7)
    # (one bfloat16 step, 8 significant bits, at the largest entry)


@pytest.mark.parametrize("support", ["full", "topk"])
def test_masked_vocabulary_entries_are_safe(batch, support):
    """Logits of −inf (padded vocabulary) give the loss and gradient of the smaller vocabulary."""
    real = V - 3
    y = np.minimum(batch["y"], real - 1)
    padded = {k: batch[k].copy() for k in ("s", "t")}
    for x in padded.values():
        x[..., real:] = -np.inf
    f = lambda s, t: sd({**batch, "s": s, "t": t, "y": y}, support=support, topk=K)[0]
    loss, grad = jax.value_and_grad(f)(f32(padded["s"]), f32(padded["t"]))
    small, g_small = jax.value_and_grad(f)(f32(batch["s"][..., :real]), f32(batch["t"][..., :real]))
    np.testing.assert_allclose(float(loss), float(small), rtol=RTOL)
    assert np.all(np.asarray(grad)[..., real:] == 0)
    assert_close_to_scale(np.asarray(grad)[..., :real], g_small, 1e-6)


@pytest.mark.parametrize("axis_type", [AxisType.Explicit, AxisType.Auto])
def test_sharded_batch_equals_unsharded(axis_type):
    """Loss and gradient under jit with the batch split over 8 devices, 16-token chunks that do
    not divide the 40 tokens, equal the single-device values."""
    rng = np.random.default_rng(1)
    s, t = f32(rng.normal(size=(8, 5, 32))), f32(rng.normal(size=(8, 5, 32)))
    y, mask = jnp.asarray(rng.integers(0, 32, (8, 5))), jnp.ones((8, 5))
    mesh = jax.make_mesh((8,), ("data",), axis_types=(axis_type,))
    shard = lambda x: jax.device_put(x, NamedSharding(mesh, PartitionSpec("data")))
    loss = lambda s, t, y, m: obj.self_distillation_loss(s, t, y, m, chunk_size=16)[0]
    f = jax.jit(jax.value_and_grad(loss))
    (sharded, g_sharded), (single, g_single) = f(*map(shard, (s, t, y, mask))), f(s, t, y, mask)
    assert len(g_sharded.sharding.device_set) == 8
    np.testing.assert_allclose(float(sharded), float(single), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(g_sharded), np.asarray(g_single), rtol=1e-6, atol=1e-9)


# --- GRPO -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rollouts():
    rng = np.random.default_rng(2)
    old = -rng.random((4, 6)) * 3
    lp = old + rng.normal(size=(4, 6)) * 0.3  # ratios inside and outside the clip range
    ref = old + rng.normal(size=(4, 6)) * 0.2
    mask = (rng.random((4, 6)) > 0.3).astype(np.float64)
    mask[:, 0] = 1
    mask[3] = 0  # one row with no tokens (a filtered rollout)
    adv = rng.normal(size=4)
    return dict(lp=lp, old=old, ref=ref, mask=mask, adv=adv)


@pytest.mark.parametrize("aggregation", obj.AGGREGATIONS)
@pytest.mark.parametrize("estimator", obj.KL_ESTIMATORS)
def test_grpo_matches_numpy(rollouts, aggregation, estimator):
    r = rollouts
    loss, metrics = obj.grpo_loss(
        f32(r["lp"]), f32(r["old"]), f32(r["adv"]), f32(r["mask"]),
        ref_logprobs=f32(r["ref"]), beta=0.1, kl_estimator=estimator, aggregation=aggregation,
    )  # fmt: skip
    expected = np_grpo(
        r["lp"], r["old"], r["adv"], r["mask"], 0.2, 0.28, r["ref"], 0.1, estimator, aggregation
    )
    np.testing.assert_allclose(float(loss), expected, rtol=RTOL)
    pg_only = np_grpo(r["lp"], r["old"], r["adv"], r["mask"], 0.2, 0.28, None, 0, "", aggregation)
    np.testing.assert_allclose(float(metrics["pg_loss"]), pg_only, rtol=RTOL)


def test_grpo_per_token_advantages_and_metrics(rollouts):
    r = rollouts
    adv = np.random.default_rng(3).normal(size=r["lp"].shape)
    loss, m = obj.grpo_loss(f32(r["lp"]), f32(r["old"]), f32(adv), f32(r["mask"]))
    mask = r["mask"]
    np.testing.assert_allclose(
        float(loss),
        np_grpo(r["lp"], r["old"], adv, mask, 0.2, 0.28, None, 0, "", "token_mean"),
        rtol=RTOL,
    )
    ratio = np.exp(r["lp"] - r["old"])
    clipped = np.clip(ratio, 0.8, 1.28) * adv < ratio * adv
    mean = lambda x: (x * mask).sum() / mask.sum()
    np.testing.assert_allclose(float(m["clip_fraction"]), mean(clipped), rtol=RTOL)
    np.testing.assert_allclose(float(m["ratio_mean"]), mean(ratio), rtol=RTOL)
    np.testing.assert_allclose(float(m["ratio_max"]), ratio[mask > 0].max(), rtol=RTOL)
    np.testing.assert_allclose(float(m["ratio_min"]), ratio[mask > 0].min(), rtol=RTOL)
    assert 0 < float(m["clip_fraction"]) < 1


def test_grpo_gradient_stops_at_old_and_reference(rollouts):
    r = rollouts
    f = lambda old, ref: obj.grpo_loss(
        f32(r["lp"]), old, f32(r["adv"]), f32(r["mask"]), ref_logprobs=ref, beta=0.1
    )[0]
    g_old, g_ref = jax.grad(f, argnums=(0, 1))(f32(r["old"]), f32(r["ref"]))
    assert not np.any(np.asarray(g_old)) and not np.any(np.asarray(g_ref))


@pytest.mark.parametrize("normalize_std", [True, False])
def test_group_advantages_match_numpy(normalize_std):
    rewards = np.random.default_rng(4).random(12)
    groups = rewards.reshape(3, 4)
    expected = groups - groups.mean(1, keepdims=True)
    if normalize_std:
        expected = expected / (groups.std(1, ddof=1, keepdims=True) + 1e-6)
    got = obj.group_advantages(f32(rewards), 4, normalize_std=normalize_std)
    np.testing.assert_allclose(np.asarray(got), expected.reshape(-1), rtol=RTOL, atol=1e-6)


@pytest.mark.parametrize("value", [1.0, 1.7, 1.3, 0.1, 1234.5678])
@pytest.mark.parametrize("group_size", [4, 8])
def test_group_of_equal_rewards_gets_zero_advantage(value, group_size):
    """In float32 the mean of 8 copies of 1.7 is not exactly 1.7, and the std of the residue
    is as small as the residue: dividing one by the other gave +-0.106 to every rollout."""
    rewards = jnp.full(2 * group_size, value, jnp.float32)
    assert not np.any(np.asarray(obj.group_advantages(rewards, group_size)))


def test_equal_groups_among_random_rewards_get_zero_advantage():
    """Over 2,000 reward values (a paper step's scale), no group of equal rewards moves."""
    rng = np.random.default_rng(0)
    values = rng.choice(rng.random(50) * 3, size=250)  # 250 groups, each of one repeated value
    rewards = np.repeat(values, 8).astype(np.float32)
    assert np.abs(np.asarray(obj.group_advantages(jnp.asarray(rewards), 8))).max() == 0.0


# --- bad input --------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors(batch):
    s, t, y, mask = f32(batch["s"]), f32(batch["t"]), jnp.asarray(batch["y"]), f32(batch["mask"])
    cases = [
        (lambda: obj.self_distillation_loss(s, t[:, :-1], y, mask), "teacher_logits has shape"),
        (lambda: obj.self_distillation_loss(s, t, y[:, :-1], mask), "tokens has shape"),
        (lambda: obj.self_distillation_loss(s, t, y, mask, jnp.ones((B, T + 1))), "weights"),
        (lambda: obj.self_distillation_loss(s, t, y, jnp.zeros((B, T))), "selects no tokens"),
        (lambda: obj.self_distillation_loss(s, t, f32(y), mask), "integer token ids"),
        (lambda: obj.self_distillation_loss(s, t, y, mask, support="topk", topk=V), "topk="),
        (lambda: obj.self_distillation_loss(s, t, y, mask, divergence="kl"), "divergence="),
        (lambda: obj.self_distillation_loss(s, t, y, mask, alpha=1.5), "alpha="),
        (
            lambda: obj.self_distillation_loss(
                s, t, y, mask, support="sampled", divergence="forward_kl"
            ),
            "reverse KL only",
        ),
        (lambda: obj.grpo_loss(s[..., 0], s[..., 0], jnp.ones(B + 1), mask), "advantages"),
        (lambda: obj.grpo_loss(s[..., 0], s[..., 0], jnp.ones(B), 0 * mask), "no tokens"),
        (lambda: obj.grpo_loss(s[..., 0], s[..., 0], jnp.ones(B), mask, beta=0.1), "ref_logprobs"),
        (lambda: obj.group_advantages(jnp.ones(10), 4), "groups of 4"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


def test_empty_mask_under_jit_is_zero_not_nan(batch):
    f = jax.jit(obj.self_distillation_loss)
    loss, metrics = f(f32(batch["s"]), f32(batch["t"]), jnp.asarray(batch["y"]), jnp.zeros((B, T)))
    assert float(loss) == 0.0
    assert all(np.isfinite(float(v)) for k, v in metrics.items() if k != "is_ratio_max")
