"""The sampler's token choice draws from exactly the temperature / top-k / top-p distribution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from sdpo_jax.loop.sampling import choose, filter_logits, sampling_logprobs

LOGITS = np.array([2.0, 1.5, 1.2, 0.3, -0.5, -1.0, 0.9, 1.4])
DRAWS = 200_000


def target(logits, temperature, top_k, top_p):
    """The intended distribution, in float64 NumPy."""
    p = np.exp((logits - logits.max()) / temperature)
    p /= p.sum()
    order = np.argsort(-p, kind="stable")
    keep = np.zeros(len(p), bool)
    keep[order[: top_k or len(p)]] = True
    if top_p < 1.0:
        kept_sorted = p[order] * keep[order]
        mass_before = np.cumsum(kept_sorted / kept_sorted.sum()) - kept_sorted / kept_sorted.sum()
        nucleus = np.zeros(len(p), bool)
        nucleus[order[mass_before < top_p]] = True
        keep &= nucleus
    q = np.where(keep, p, 0.0)
    return q / q.sum()


def draw(temperature, top_k, top_p, seed=0):
    logp = sampling_logprobs(
        jnp.broadcast_to(jnp.asarray(LOGITS, jnp.float32), (DRAWS, len(LOGITS))),
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
    )
    tokens = choose(jax.random.key(seed), logp, temperature)
    return np.bincount(np.asarray(tokens), minlength=len(LOGITS)), np.exp(
        np.asarray(logp[0], np.float64)
    )


def chi2_pvalue(counts, probs):
    support = probs > 0
    expected = probs[support] * counts.sum()
    return stats.chisquare(counts[support], expected).pvalue


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p"),
    [(1.0, 0, 1.0), (0.7, 0, 1.0), (1.0, 4, 1.0), (1.0, 0, 0.8), (1.3, 5, 0.9)],
)
def test_draws_match_the_target_distribution(temperature, top_k, top_p):
    counts, returned = draw(temperature, top_k, top_p)
    want = target(LOGITS, temperature, top_k, top_p)
    # The returned log-probs are the target's; nothing outside the support is ever drawn.
    np.testing.assert_allclose(returned, want, atol=1e-6)
    assert counts[want == 0].sum() == 0
    assert chi2_pvalue(counts, want) > 1e-3
    # The test has the power to see a 5% error: move 5% of the largest token's mass elsewhere.
    wrong = want.copy()
    top, other = np.argmax(want), np.flatnonzero(want > 0)[-1]
    shift = 0.05 * want[top] if other != top else 0.0
    wrong[top] -= shift
    wrong[other] += shift
    if shift:
        assert chi2_pvalue(counts, wrong) < 1e-6


def test_greedy_takes_the_argmax_and_reports_model_logprobs():
    logp = sampling_logprobs(jnp.asarray(LOGITS[None]), temperature=0.0, top_k=3, top_p=0.5)
    assert int(choose(jax.random.key(0), logp, 0.0)[0]) == int(np.argmax(LOGITS))
    np.testing.assert_allclose(np.exp(np.asarray(logp[0])), target(LOGITS, 1.0, 0, 1.0), atol=1e-6)


def test_filters_keep_at_least_the_best_token():
    logits = jnp.asarray([[5.0, 1.0, 0.0]])
    kept = np.asarray(filter_logits(logits, top_p=0.01))
    assert kept[0, 0] == 5.0 and np.all(kept[0, 1:] < -1e30)
