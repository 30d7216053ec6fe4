"""The teacher's lead, measured before any RL: what self-distillation has to pass on.

The teacher is the policy shown its feedback, so it can only teach what it does better with the
feedback than without. Three measures, on the validation split (settings are chosen there;
held-out items stay for the final scores):

- reading (`feedback_reading.costs`, charts): the cost of the gold tokens a content edit
  changed, with the departures that name the change, as a share of their cost from the prompt
  alone. 1 reads nothing; near 0 copies what the feedback says.
- writing (`feedback_gap.gap`): the policy's attempts against its revisions of them written
  from the teacher's context, on execution, defects and the task's visual score.
- disagreement: on the policy's own defective or failing attempts, the mean per-token
  divergence between teacher and student (the self-distillation term's d_t) on the tokens of
  the statements the feedback implicates, against the rest. A teacher that reads its feedback
  departs from the student where the feedback points.
"""

from __future__ import annotations

import jax
import numpy as np
from flax import nnx

from sdpo_jax.config import DEPARTED_SCORES, Config
from sdpo_jax.loop.heldout import attempt
from sdpo_jax.loop.rollouts import References, train_batch
from sdpo_jax.loop.train_step import combine_microbatches, make_loss
from sdpo_jax.warmstart import feedback_gap, feedback_reading


def disagreement(config: Config, model, encoder, prompts, pool, rng: jax.Array) -> dict:
    """{"implicated", "rest": mean divergence per token; "attempts": defective or failing
    attempts measured; "implicated_tokens", "rest_tokens"}."""
    references = References(pool, config.reward.visual)
    found = attempt(model, encoder, prompts, config, pool, references, rng=rng)
    batch, _ = train_batch(config, found.rollouts, found.results, found.parts, encoder, references)
    flawed = np.array([not r.clean for r in found.results], np.float32)
    microbatches = batch["sd_mask"].shape[0]
    batch["sd_mask"] = batch["sd_mask"] * flawed.reshape(microbatches, -1, 1)
    graphdef, params = nnx.split(model, nnx.Param)
    loss = jax.jit(make_loss(graphdef, config.objective))
    sd_norm = np.maximum(batch["sd_mask"].sum(), 1.0)
    pg_norm = np.maximum(batch["mask"].sum(), 1.0)
    per_mb = [
        loss(params, params, None, jax.tree.map(lambda x, m=m: x[m], batch), sd_norm, pg_norm)[1]
        for m in range(microbatches)
    ]
    stacked = {k: np.stack([np.asarray(mb[k]) for mb in per_mb]) for k in per_mb[0]}
    combined = combine_microbatches(stacked, batch["sd_mask"], batch["mask"])
    return {
        "implicated": float(combined["sd/divergence_credited"]),
        "rest": float(combined["sd/divergence_rest"]),
        "attempts": int(flawed.sum()),
        "implicated_tokens": int(combined["sd/credited_tokens"]),
        "rest_tokens": int(combined["sd/rest_tokens"]),
    }


def lead(config: Config, model, encoder, prompts, pool, rng: jax.Array) -> dict:
    """The three measures on `prompts` (reading where departures exist: charts, pages)."""
    teachers = {"with feedback": config.teacher}
    writing = feedback_gap.gap(
        config, model, encoder, prompts, pool, teachers=teachers, rng=rng, num_samples=1,
        temperature=1.0,
    )  # fmt: skip
    measured = {
        "writing": writing,
        "disagreement": disagreement(config, model, encoder, prompts, pool, rng),
    }
    if config.reward.visual in DEPARTED_SCORES and len(prompts) >= 2:
        measured["reading"] = feedback_reading.costs(config, model, encoder, prompts, pool)
    return measured


def report(measured: dict, visual: str) -> str:
    """Markdown: the three measures, each under its own heading."""
    parts = []
    if "reading" in measured:
        shares = feedback_reading.read_shares(measured["reading"])
        parts += [
            "### Reading: changed tokens' NLL with the departures / from the prompt alone",
            "",
            "| " + " | ".join(shares) + " |",
            "|---" * len(shares) + "|",
            "| " + " | ".join(f"{v:.2f}" for v in shares.values()) + " |",
            "",
            feedback_reading.table(measured["reading"]),
            "",
        ]
    parts += [
        "### Writing: attempts, then revisions from the teacher's context",
        "",
        feedback_gap.table(measured["writing"], visual),
        "",
    ]
    d = measured["disagreement"]
    parts += [
        "### Where the teacher disagrees (divergence per token, defective or failing attempts)",
        "",
        "| implicated statements | the rest | attempts | tokens (implicated / rest) |",
        "|---|---|---|---|",
        f"| {d['implicated']:.4f} | {d['rest']:.4f} | {d['attempts']} | "
        f"{d['implicated_tokens']} / {d['rest_tokens']} |",
    ]
    return "\n".join(parts)
