"""Attempts of the policy on a set of prompts, rendered and scored as the trainer scores rollouts:
the trainer's quick held-out check (before -> after) and the warm start's table of writing
without and with feedback.

    attempts = attempt(model, encoder, prompts, config, pool, references, rng=key)
    attempts.summary()   # reward, execution_rate, visual, defects_per_rollout, clean_rate,
                         # defects/<kind>
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from render_service.types import DEFECT_KINDS, RenderResult
from sdpo_jax import hosts
from sdpo_jax.config import Config
from sdpo_jax.data.pipeline import Prompt
from sdpo_jax.loop.policy import collate, sample
from sdpo_jax.loop.rollouts import References, Rollouts, decode, means, render_requests, score
from sdpo_jax.loop.sampling import SampleOutput
from sdpo_jax.method.rewards import Reward


@dataclasses.dataclass
class Attempts:
    rollouts: Rollouts
    results: list[RenderResult]
    parts: list[Reward]

    def summary(self) -> dict[str, float]:
        """Means over the attempts of every process; `defects/<kind>`: that kind's defects per
        attempt, for every kind (0 included, so curves of different runs line up)."""
        results = self.results
        columns = {
            "reward": [p.total for p in self.parts],
            "execution_rate": [r.ok for r in results],
            "visual": [p.visual for p in self.parts],
            "defects_per_rollout": [len(r.defects) for r in results],
            "clean_rate": [r.clean for r in results],
        }
        columns |= {
            f"defects/{kind}": [sum(d.kind == kind for d in r.defects) for r in results]
            for kind in DEFECT_KINDS
        }
        return means(columns)


def attempt(
    model,
    encoder,
    prompts: Sequence[Prompt],
    config: Config,
    pool,
    references: References,
    *,
    rng: jax.Array,
    num_samples: int | None = None,
    temperature: float | None = None,
    encodings: Sequence[dict[str, np.ndarray]] | None = None,
) -> Attempts:
    """`num_samples` completions (default: the config's G) of each prompt, sampled as in
    training (or at `temperature`), `train.batch_prompts` prompts at a time, rendered and
    scored. `encodings` replaces each prompt's own encoding (e.g. by its teacher context).

    With several processes every one passes all the prompts and attempts its own block of each
    batch, as the trainer does; the summary covers them all."""
    encodings = [p.encoded for p in prompts] if encodings is None else list(encodings)
    size, share = config.train.batch_prompts, hosts.share(config.train.batch_prompts)
    batches = [range(i, min(i + size, len(prompts))) for i in range(0, len(prompts), size)]
    blocks = [batch[jax.process_index() * share :][:share] for batch in batches]
    mine = [prompts[i] for own in blocks for i in own]
    references.submit([p.record for p in mine])
    parts, futures = [], []
    for batch, own in zip(batches, blocks):
        # A block past the end of a short batch still samples (its rows are dropped).
        chosen = [encodings[i] for i in own] or [encodings[batch[-1]]]
        out = sample(
            model,
            collate(encoder, chosen, size=share),
            encoder.tokenizer,
            config.sampling,
            rng=jax.random.fold_in(rng, batch.start),
            num_samples=num_samples,
            temperature=temperature,
        )
        rows = len(own) * (len(out.lengths) // share)  # drop the filler prompts' rows
        part = SampleOutput(*(np.asarray(x)[:rows] for x in out))
        parts.append(part)
        # Rendered while the next batch is sampled.
        rendered = decode([prompts[i] for i in own], part, encoder.tokenizer, step=0)
        futures += [pool.submit(r) for r in render_requests(rendered.requests, references)]
    joined = SampleOutput(*(np.concatenate(xs) for xs in zip(*parts)))
    rollouts = decode(mine, joined, encoder.tokenizer, step=0)
    results = [
        dataclasses.replace(f.result(), id=request.id)
        for f, request in zip(futures, rollouts.requests, strict=True)
    ]
    return Attempts(rollouts, results, score(config, rollouts, results, references))
